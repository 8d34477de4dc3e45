"""`ouro image upload|download|list|prune`: VM images in the store, for operators.

Images are `images/<name>`; an alias `images/refs/<alias>` names the image that
workers should use (`upload --ref fedora-41`). Prune deletes images older than a
number of days unless an alias (or a `--keep` file) still names them.
"""

import argparse
import logging
import sys
import time
from collections import defaultdict
from collections.abc import Set as AbstractSet
from pathlib import Path

from ouro.store import REFS, NotFound, Store, StoreError, check_path, open_store

log = logging.getLogger(__name__)

DAY = 24 * 3600


def image_path(name: str) -> str:
    return check_path(f"images/{name}")


def resolve(store: Store, name: str) -> str:
    """The image an alias names, else `name` itself."""
    try:
        return store.get(REFS + name).decode().strip()
    except NotFound:
        return name


def referenced(store: Store) -> set[str]:
    return {store.get(path).decode().strip() for path in store.list(REFS)}


def prune(
    store: Store,
    *,
    days: float,
    keep: AbstractSet[str] = frozenset(),
    log_days: float | None = None,
    now: float | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Delete unreferenced images older than `days` (and job logs older than `log_days`).

    Returns the deleted paths (images, and job folders ending in `/`).
    """
    now = time.time() if now is None else now
    kept = referenced(store) | keep
    doomed = [
        entry.path
        for entry in store.entries("images/")
        if not entry.path.startswith(REFS)
        and entry.path.removeprefix("images/") not in kept
        and now - entry.modified > days * DAY
    ]
    if log_days is not None:
        newest: dict[str, float] = defaultdict(float)
        for entry in store.entries("logs/"):
            job_dir = "/".join(entry.path.split("/")[:2]) + "/"
            newest[job_dir] = max(newest[job_dir], entry.modified)
        doomed += [job for job, modified in newest.items() if now - modified > log_days * DAY]
    for path in sorted(doomed):
        if not dry_run:
            store.delete(path)
        log.info("%s %s", "would delete" if dry_run else "deleted", path)
    return sorted(doomed)


def _upload(store: Store, args: argparse.Namespace) -> int:
    source = Path(args.file)
    name = args.name or source.name
    store.put_file(image_path(name), source)
    if args.ref:
        store.put(image_path("refs/" + args.ref), name.encode() + b"\n")
    print(store.url(image_path(name)))
    return 0


def _download(store: Store, args: argparse.Namespace) -> int:
    name = resolve(store, args.name)
    target = Path(args.output or name.rsplit("/", 1)[-1])
    store.get_to(image_path(name), target)
    print(target)
    return 0


def _list(store: Store, args: argparse.Namespace) -> int:
    aliases: dict[str, list[str]] = defaultdict(list)
    for path in store.list(REFS):
        aliases[store.get(path).decode().strip()].append(path.removeprefix(REFS))
    for entry in sorted(store.entries("images/"), key=lambda entry: entry.path):
        if entry.path.startswith(REFS):
            continue
        name = entry.path.removeprefix("images/")
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(entry.modified))
        refs = f"  ← {', '.join(sorted(aliases[name]))}" if aliases[name] else ""
        print(f"{name}\t{entry.size}\t{when}{refs}")
    return 0


def _prune(store: Store, args: argparse.Namespace) -> int:
    keep: set[str] = set()
    for keep_file in args.keep:
        keep |= {line.strip() for line in Path(keep_file).read_text().splitlines() if line.strip()}
    prune(store, days=args.days, keep=keep, log_days=args.log_days, dry_run=args.dry_run)
    return 0


COMMANDS = {"upload": _upload, "download": _download, "list": _list, "prune": _prune}


def run(args: argparse.Namespace) -> int:
    store = open_store()
    try:
        return COMMANDS[args.action](store, args)
    except StoreError as error:
        print(f"ouro image {args.action}: {error}", file=sys.stderr)
        return 1
    finally:
        store.close()


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "image",
        description="VM images in the store that OURO_STORE names (images-server or S3).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    upload = actions.add_parser("upload", help="upload a local image file")
    upload.add_argument("file")
    upload.add_argument("--name", help="name in the store (default: the file's name)")
    upload.add_argument("--ref", metavar="ALIAS", help="point images/refs/ALIAS at the image")
    download = actions.add_parser("download", help="download an image (or the one an alias names)")
    download.add_argument("name")
    download.add_argument("-o", "--output", help="local file (default: the image's name)")
    actions.add_parser("list", help="list images with size, date and aliases")
    prune_parser = actions.add_parser("prune", help="delete old images no alias names")
    prune_parser.add_argument("--days", type=float, required=True, help="minimum age in days")
    prune_parser.add_argument(
        "--keep", action="append", default=[], metavar="FILE", help="file of image names to keep"
    )
    prune_parser.add_argument(
        "--log-days", type=float, help="also delete job logs older than this many days"
    )
    prune_parser.add_argument("--dry-run", action="store_true", help="only say what would go")
    parser.set_defaults(func=run)
