"""`ouro images-server`: run the server until SIGTERM."""

import argparse
import logging
from pathlib import Path

from images_server.server import make_server
from ouro.serving import serve_until_terminated

log = logging.getLogger("images_server")


def run(args: argparse.Namespace) -> int:
    server = make_server(
        args.port,
        Path(args.dir),
        bind=args.host,
        public_reads=not args.private_reads,
        fsync=args.fsync,
        capabilities=tuple(args.capability or ()),
    )

    log.info("images-server serving %s on %s", server.root, server.url)
    serve_until_terminated(server, server.server_close)
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "images-server",
        description="Serve VM images and job logs from a directory; uploads need the "
        "bearer token from IMAGES_TOKEN_FILE.",
    )
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (%(default)s)")  # noqa: S104
    parser.add_argument("--port", type=int, default=8080, help="TCP port (%(default)s)")
    parser.add_argument("--dir", required=True, help="the store directory")
    parser.add_argument(
        "--private-reads", action="store_true", help="require the token for reads too"
    )
    parser.add_argument(
        "--fsync", action="store_true", help="fsync each upload before it becomes visible"
    )
    parser.add_argument(
        "--capability", action="append", metavar="CAPABILITY",
        help="show tasks.CAPABILITY on the status page before any of its jobs ran (repeatable)",
    )  # fmt: skip
    parser.set_defaults(func=run)
