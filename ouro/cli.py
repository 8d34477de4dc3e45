"""The `ouro` command: one subcommand per component.

Each component module exposes `register(subparsers)`, which adds its
subcommand(s) and sets `func` on the parsed namespace to a callable that takes
the namespace and returns the exit code.
"""

import argparse
import logging
import sys
from collections.abc import Callable
from importlib import import_module

from ouro.config import ConfigError

# Modules that contribute subcommands, in the order `ouro --help` lists them.
COMPONENTS: list[str] = [
    "webhook.cli",
    "tasks.cli",
    "images_server.cli",
    "ouro.store.cli",
    "mock_github.cli",
    "tasks.worker.cli",
    "ouro.deploy.containers",
    "ouro.deploy.secrets",
    "ouro.deploy.drive",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ouro",
        description="Ouroboros CI: receive GitHub webhooks, turn them into jobs, run them.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages as well")
    subparsers = parser.add_subparsers(title="components", metavar="COMMAND", required=True)
    for name in COMPONENTS:
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]
        register = import_module(name).register
        register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    # pika logs every connection attempt at INFO; operators need its warnings only.
    logging.getLogger("pika").setLevel(logging.WARNING)
    try:
        code: int = args.func(args)
    except ConfigError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return code
