"""`ouro vm`'s command line, through `vm.cli.register` as `ouro` wires it."""

import argparse
from pathlib import Path

import pytest

from vm.__main__ import main
from vm.cli import _split_run, register
from vm.errors import VmError


def parse(*words: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ouro")
    register(parser.add_subparsers(required=True))
    return parser.parse_args(["vm", *words])


def test_run_options_after_the_image_and_a_command_with_its_own_dashes() -> None:
    args = parse("run", "img.qcow2", "--memory", "1024", "-e", "A=1", "--", "echo", "--", "-x")
    assert _split_run(args) == ["echo", "--", "-x"]
    assert (args.image, args.memory, args.cpus, args.env) == ("img.qcow2", 1024, 1, ["A=1"])
    assert args.func is not None


def test_run_options_before_the_image_and_no_double_dash() -> None:
    args = parse("run", "--cpus", "2", "--timeout", "60", "img.qcow2", "true")
    assert _split_run(args) == ["true"]
    assert (args.image, args.cpus, args.timeout, args.memory) == ("img.qcow2", 2, 60.0, 512)


def test_run_needs_a_command() -> None:
    with pytest.raises(VmError, match="no command"):
        _split_run(parse("run", "img.qcow2", "--"))


def test_every_action_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    for action in ("build", "run", "probe", "upload", "fetch", "refresh"):
        with pytest.raises(SystemExit) as exited:
            main([action, "--help"])
        assert exited.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: ouro vm {action} ")


def test_errors_are_one_line_with_their_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OURO_VM_CACHE", str(tmp_path / "cache"))
    assert main(["fetch", "debian-latest"]) == 1
    assert capsys.readouterr().err == (
        "ouro vm fetch: 'debian-latest': no such image file, and not a reference "
        "NAME-<sha256>.qcow2\n"
    )
    assert main(["run", str(tmp_path / "absent.qcow2"), "--", "true"]) == 1
    assert "absent.qcow2': no such image file" in capsys.readouterr().err
    assert main(["run", "x.qcow2", "-e", "novalue", "--", "true"]) == 1
    assert capsys.readouterr().err == "ouro vm run: --env 'novalue': expected NAME=VALUE\n"
    assert main(["upload", str(tmp_path / "absent.qcow2"), "--name", "x"]) == 1
    assert capsys.readouterr().err.startswith("ouro vm upload: ")


def test_an_invalid_recipe_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("packages: [make]\n")
    assert main(["build", str(recipe), "-o", str(tmp_path / "x.qcow2")]) == 2
    err = capsys.readouterr().err
    assert err == f"ouro vm build: {recipe}: suite: required (a Debian suite such as bookworm)\n"
    assert not list(tmp_path.glob(".ouro-vm-build-*"))
