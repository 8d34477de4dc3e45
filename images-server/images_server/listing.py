"""Folder listings: an HTML page for browsers, JSON when asked (`?format=json`, `Accept`)."""

import html
import json
import urllib.parse
from typing import Any

from images_server.conditional import http_date


def render(
    name: str, entries: list[dict[str, Any]], *, query: dict[str, str], accept: str
) -> tuple[bytes, str]:
    """The body and Content-Type listing the folder `name` (`""` for the root)."""
    if query.get("format") == "json" or (
        "application/json" in accept and "text/html" not in accept
    ):
        return json.dumps({"path": name, "entries": entries}).encode(), "application/json"
    return _html(name, entries).encode(), "text/html; charset=utf-8"


def _html(name: str, entries: list[dict[str, Any]]) -> str:
    title = html.escape("/" + name)
    rows = [] if not name else ['<tr><td><a href="../">../</a></td><td></td><td></td></tr>']
    for entry in entries:
        href = urllib.parse.quote(entry["name"])
        size = f"{entry['size']:,}" if entry["type"] == "file" else ""
        modified = http_date(entry["modified"])
        rows.append(
            f'<tr><td><a href="{html.escape(href)}">{html.escape(entry["name"])}</a></td>'
            f'<td class="n">{size}</td><td>{modified}</td></tr>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{title}</title><style>body{{font-family:sans-serif}}"
        "td{padding:0 1em}.n{text-align:right}</style></head>"
        f"<body><h1>{title}</h1><table>{''.join(rows)}</table></body></html>"
    )
