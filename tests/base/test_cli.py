"""The `ouro` command: each subcommand loads only its own component; old spellings still work."""

import argparse
import json
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

from ouro import cli
from ouro.cli import main

ROOT = Path(__file__).resolve().parents[2]

# What `ouro webhook` must not load: the bot and worker (and PyGithub through them), the
# images-server, the mock GitHub and the deployment tooling.
NOT_IN_THE_RECEIVER = ("github", "tasks", "images_server", "mock_github", "ouro.deploy", "vm")


def loaded_by(argv: list[str]) -> set[str]:
    """The modules a fresh interpreter holds after `ouro ARGV` (argparse exits on --help)."""
    script = (
        "import contextlib, json, sys\n"
        "from ouro.cli import main\n"
        "with contextlib.suppress(SystemExit):\n"
        f"    main({argv!r})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_webhook_loads_no_other_component() -> None:
    modules = loaded_by(["webhook", "--help"])
    assert "webhook.server" in modules
    assert "webhook.publisher" in modules
    forbidden = sorted(
        m for m in modules for f in NOT_IN_THE_RECEIVER if m == f or m.startswith(f"{f}.")
    )
    assert forbidden == []


def test_top_level_help_loads_no_component() -> None:
    modules = loaded_by(["--help"])
    components = ("webhook", "tasks", "images_server", "mock_github", "ouro.deploy", "vm")
    assert sorted(m for m in modules if m.split(".")[0] in components) == []


@pytest.mark.parametrize("command", cli.COMMANDS, ids=lambda c: c.name)
def test_every_listed_command_is_registered_by_its_module(command: cli.Command) -> None:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers()
    import_module(command.module).register(subparsers)
    assert command.name in subparsers.choices


def test_tasks_is_the_old_spelling_of_bot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OURO_STATE_DIR", str(tmp_path))
    assert main(["tasks", "scan", "--repo", "nobody/nothing"]) == 1
    err = capsys.readouterr().err
    assert "`ouro tasks scan` is deprecated; use `ouro bot scan`" in err
    assert "not in the test map: nobody/nothing" in err
    assert main(["bot", "scan", "--repo", "nobody/nothing"]) == 1
    assert "deprecated" not in capsys.readouterr().err


def test_mock_github_serve_is_the_old_spelling(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["mock-github", "serve", "--port=0"]) == 2
    err = capsys.readouterr().err
    assert "`ouro mock-github serve` is deprecated; use `ouro mock-github`" in err
    assert "serving needs --data DIR" in err


def test_images_server_bind_is_the_old_spelling_of_host(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = cli.build_parser(["images-server"])
    old = cli.respell(["images-server", "--bind", "127.0.0.2", "--dir", "/nowhere"])
    assert parser.parse_args(old).host == "127.0.0.2"
    assert "`ouro images-server --bind` is deprecated; use `--host`" in capsys.readouterr().err
    joined = cli.respell(["images-server", "--bind=127.0.0.4", "--dir", "/nowhere"])
    assert parser.parse_args(joined).host == "127.0.0.4"
    capsys.readouterr()
    new = cli.respell(["images-server", "--host", "127.0.0.3", "--dir", "/nowhere"])
    assert parser.parse_args(new).host == "127.0.0.3"
    assert "deprecated" not in capsys.readouterr().err
