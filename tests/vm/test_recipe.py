"""Recipes: what a valid one gives, and one clear line for each way one can be wrong."""

import hashlib
import shlex
import subprocess
from pathlib import Path

import pytest

from vm.build import setup_script
from vm.errors import RecipeError
from vm.recipe import DEFAULT_SIZE, load, parse


def test_a_full_recipe() -> None:
    text = b"""
suite: bookworm
packages: [python3, make, "gcc-12=12.2.0-14"]
setup:
  - useradd --create-home tester
  - [mkdir, -p, /srv/data dir]
size: 3G
"""
    recipe = parse(text, "r.yaml")
    assert recipe.suite == "bookworm"
    assert recipe.packages == ("python3", "make", "gcc-12=12.2.0-14")
    assert recipe.setup == ("useradd --create-home tester", ("mkdir", "-p", "/srv/data dir"))
    assert recipe.size == 3 << 30
    assert recipe.sha256 == hashlib.sha256(text).hexdigest()


def test_only_the_suite_is_required() -> None:
    recipe = parse(b"suite: trixie\n")
    assert (recipe.packages, recipe.setup, recipe.size) == ((), (), DEFAULT_SIZE)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (b"", "r.yaml: expected a mapping with at least `suite:`"),
        (b"- a\n- b\n", "r.yaml: expected a mapping with at least `suite:`"),
        (b"suite: [unclosed\n", "r.yaml: not valid YAML (line 2)"),
        (b"packages: [make]\n", "r.yaml: suite: required (a Debian suite such as bookworm)"),
        (b"suite: Bookworm\n", "r.yaml: suite: 'Bookworm' is not a Debian suite name"),
        (b"suite: '../x'\n", "r.yaml: suite: '../x' is not a Debian suite name"),
        (
            b"suite: bookworm\nsuit: x\n",
            "r.yaml: unknown field 'suit'; known: packages, setup, size, suite",
        ),
        (b"suite: bookworm\npackages: make\n", "r.yaml: packages: expected a list"),
        (
            b"suite: bookworm\npackages: [make, '--allow-unauthenticated']\n",
            "r.yaml: packages[1]: '--allow-unauthenticated' is not a Debian package name",
        ),
        (
            b"suite: bookworm\npackages: ['a,b']\n",
            "r.yaml: packages[0]: 'a,b' is not a Debian package name",
        ),
        (
            b"suite: bookworm\npackages: ['make=1 2']\n",
            "r.yaml: packages[0]: 'make=1 2' is not a Debian package name",
        ),
        (b"suite: bookworm\npackages: [3]\n", "r.yaml: packages[0]: 3 is not"),
        (b"suite: bookworm\nsetup: ls\n", "r.yaml: setup: expected a list of commands"),
        (b"suite: bookworm\nsetup: ['  ']\n", "r.yaml: setup[0]: empty command"),
        (b"suite: bookworm\nsetup: [[]]\n", "r.yaml: setup[0]: expected a shell line or a non"),
        (b"suite: bookworm\nsetup: [{a: b}]\n", "r.yaml: setup[0]: expected a shell line"),
        (b"suite: bookworm\nsetup: [[ls, 3]]\n", "r.yaml: setup[0]: expected a shell line"),
        (b'suite: bookworm\nsetup: ["a\\0b"]\n', "r.yaml: setup[0]: NUL character"),
        (b"suite: bookworm\nsize: 100M\n", "r.yaml: size: '100M' is outside 512M..256G"),
        (b"suite: bookworm\nsize: lots\n", "r.yaml: size: expected a size such as 512M or 2G"),
        (b"suite: bookworm\nsize: [1]\n", "r.yaml: size: expected a size such as 2G"),
        (b"suite: bookworm\nsize: true\n", "r.yaml: size: expected a size such as 2G"),
    ],
)
def test_invalid_recipes_are_one_line(text: bytes, message: str) -> None:
    with pytest.raises(RecipeError) as caught:
        parse(text, "r.yaml")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"absent.yaml: cannot read the recipe: No such file"):
        load(tmp_path / "absent.yaml")


def test_setup_commands_reach_only_the_images_shell(tmp_path: Path) -> None:
    """The script quotes argv commands and shows each step; run here with sh to prove it."""
    recipe = parse(
        b"suite: bookworm\nsetup:\n"
        b'  - echo "$((1 + 2))" >> out\n'
        b'  - [sh, -c, \'printf %s "$0" >> out\', "it\'s; $(not run) `here`"]\n'
    )
    script = setup_script(recipe)
    # The script cds to /root (in the image); here it runs in a scratch folder instead.
    script = script.replace("cd /root", f"cd {shlex.quote(str(tmp_path))}")
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    assert (tmp_path / "out").read_text() == "3\nit's; $(not run) `here`"
    assert result.stdout.splitlines() == [
        'ouro vm build: setup 1/2: echo "$((1 + 2))" >> out',
        "ouro vm build: setup 2/2: sh -c 'printf %s \"$0\" >> out' 'it'\"'\"'s; $(not run) `here`'",
    ]


def test_a_failing_setup_command_fails_the_script(tmp_path: Path) -> None:
    script = setup_script(parse(b"suite: bookworm\nsetup: ['test 1 = 2', 'echo never > x']\n"))
    script = script.replace("cd /root", f"cd {shlex.quote(str(tmp_path))}")
    assert subprocess.run(["sh", "-c", script], capture_output=True, check=False).returncode == 1
    assert not (tmp_path / "x").exists()
