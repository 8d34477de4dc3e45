"""GitHub's connections: `first`/`after`/`last`/`before` over a list, with opaque cursors."""

import base64
from typing import Any

from graphql import GraphQLError

MAX_PAGE = 100  # GitHub refuses `first`/`last` above 100


def cursor(offset: int) -> str:
    return base64.b64encode(f"cursor:v2:{offset}".encode()).decode()


def _offset(value: str, name: str) -> int:
    try:
        prefix, _, number = base64.b64decode(value, validate=True).decode().rpartition(":")
        if prefix == "cursor:v2":
            return int(number)
    except (ValueError, UnicodeDecodeError):
        pass
    raise GraphQLError(
        f"`{value}` does not appear to be a valid cursor.", extensions={"argument": name}
    )


def connection(
    items: list[Any],
    *,
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
    field: str = "nodes",
) -> dict[str, Any]:
    """One page of `items` as GitHub's `…Connection`: totalCount, nodes and pageInfo."""
    for name, value in (("first", first), ("last", last)):
        if value is not None and not 0 <= value <= MAX_PAGE:
            raise GraphQLError(
                f"Requesting {value} records on the `{field}` connection exceeds the `{name}`"
                f" limit of {MAX_PAGE} records."
                if value > MAX_PAGE
                else f"`{name}` on the `{field}` connection cannot be less than zero."
            )
    start = _offset(after, "after") + 1 if after else 0
    end = _offset(before, "before") if before else len(items)
    window = list(range(len(items)))[start:end]
    if first is not None:
        window = window[:first]
    if last is not None:
        window = window[len(window) - last :] if last else []
    return {
        "totalCount": len(items),
        "nodes": [items[i] for i in window],
        "pageInfo": {
            "hasNextPage": bool(window) and window[-1] < len(items) - 1,
            "hasPreviousPage": bool(window) and window[0] > 0,
            "startCursor": cursor(window[0]) if window else None,
            "endCursor": cursor(window[-1]) if window else None,
        },
    }
