"""The `ouro` command: one subcommand per component, loaded only when it is asked for.

Each component's CLI module exposes `register(subparsers)`, which adds its subcommand(s)
and sets `func` on the parsed namespace to a callable that takes the namespace and
returns the exit code. `ouro webhook` thus starts without importing the bot, PyGithub or
the mock GitHub (tests/base/test_cli.py checks it): the table below names each command's
module as a string, and only the chosen one is imported.
"""

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module

from ouro.config import ConfigError


@dataclass(frozen=True)
class Command:
    name: str
    module: str
    help: str


# In the order `ouro --help` lists them: services first, then tools.
COMMANDS: tuple[Command, ...] = (
    Command("webhook", "webhook.cli", "receive GitHub webhooks and put them on the webhook queue"),
    Command("bot", "tasks.cli", "the tasks bot: webhook events → jobs (scan, redeliver)"),
    Command("worker", "tasks.worker.cli", "take jobs from the tasks queues and run them"),
    Command("images-server", "images_server.cli", "serve VM images and job logs over HTTP"),
    Command("mock-github", "mock_github.cli", "a fake GitHub for local runs and tests"),
    Command("testmap", "tasks.cli", "check a test map"),
    Command("queue", "tasks.cli", "look at the broker's queues, replay dead letters"),
    Command("shadow", "tasks.shadow_report", "compare a shadow bot's decisions with production's"),
    Command("image", "ouro.store.cli", "upload, download, list and prune images in the store"),
    Command("vm", "vm.cli", "build VM images and run commands in throw-away VMs"),
    Command("containers", "ouro.deploy.containers", "build the deployment's container images"),
    Command("secrets", "ouro.deploy.secrets", "make fake secrets, or Kubernetes Secrets"),
    Command("local", "ouro.deploy.localrun", "the whole deployment on this machine (podman)"),
    Command("deploy", "ouro.deploy.deploycli", "publish a release, apply it, roll back, status"),
)

# Spellings of the previous release, still accepted for one release: the command's first
# words, and options, each with what replaces it. `main` rewrites them before parsing.
RENAMED_WORDS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("tasks", "run"), ("bot",)),
    (("tasks", "scan"), ("bot", "scan")),
    (("tasks", "redeliver"), ("bot", "redeliver")),
    (("mock-github", "serve"), ("mock-github",)),
)
RENAMED_OPTIONS: dict[str, dict[str, str]] = {"images-server": {"--bind": "--host"}}


def command_names() -> list[str]:
    return [c.name for c in COMMANDS]


def _chosen(argv: list[str]) -> Command | None:
    # The top level has flags only (no option takes a value), so the first word is the command.
    first = next((a for a in argv if not a.startswith("-")), None)
    return next((c for c in COMMANDS if c.name == first), None)


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    """The parser for `argv`: the chosen command's module is imported, the others are
    named with their help only."""
    parser = argparse.ArgumentParser(
        prog="ouro",
        description="Ouroboros CI: receive GitHub webhooks, turn them into jobs, run them.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages as well")
    subparsers = parser.add_subparsers(title="components", metavar="COMMAND", required=True)
    chosen = _chosen(argv)
    if chosen is not None:
        register: Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]
        register = import_module(chosen.module).register
        register(subparsers)
    for command in COMMANDS:
        if command.name not in subparsers.choices:
            subparsers.add_parser(command.name, help=command.help)
    return parser


def _deprecated(old: str, new: str) -> None:
    print(f"ouro: `{old}` is deprecated; use `{new}`", file=sys.stderr)


def respell(argv: list[str]) -> list[str]:
    """`argv` in this release's spelling, saying on stderr what was renamed."""
    start = next((i for i, a in enumerate(argv) if not a.startswith("-")), len(argv))
    flags, words = argv[:start], argv[start:]
    for old, new in RENAMED_WORDS:
        if tuple(words[: len(old)]) == old:
            _deprecated(" ".join(("ouro", *old)), " ".join(("ouro", *new)))
            words = [*new, *words[len(old) :]]
            break
    options = RENAMED_OPTIONS.get(words[0], {}) if words else {}
    for i, word in enumerate(words):
        name, equals, value = word.partition("=")
        if name in options:
            _deprecated(f"ouro {words[0]} {name}", options[name])
            words[i] = options[name] + equals + value
    return [*flags, *words]


def main(argv: list[str] | None = None) -> int:
    argv = respell(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
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
