"""The image recipe: a small YAML file in the product repository (docs/vm.md, "Recipes").

    suite: bookworm                  # required: the Debian suite
    packages: [python3, make]        # optional: installed on top of the minimal system
    setup:                           # optional: run in the image as root, in order
      - useradd --create-home tester #   a string is one line for /bin/sh in the image
      - [mkdir, -p, /srv/data]       #   a list is an argv, run without a shell
    size: 2G                         # optional: the root file system (default 2G)

A recipe comes from a pull request, so every value is checked against a narrow shape
before anything reaches mmdebstrap, and the setup commands only ever reach a shell
inside the image, as a file (vm/build.py), never a command line on the host.
"""

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from vm.errors import RecipeError, VmError
from vm.units import parse_size

DEFAULT_SIZE = 2 << 30
MIN_SIZE = 512 << 20
MAX_SIZE = 256 << 30
MAX_PACKAGES = 500
MAX_SETUP = 200
MAX_COMMAND = 8192

# Debian's own rules for names (policy 5.6.1) and versions (5.6.12), without the
# characters a shell or apt's option syntax would give a meaning to.
_SUITE = re.compile(r"[a-z][a-z0-9-]{1,31}")
_PACKAGE = re.compile(r"[a-z0-9][a-z0-9+.-]{1,99}")
_VERSION = re.compile(r"[0-9A-Za-z.+~:-]{1,100}")
_KEYS = {"suite", "packages", "setup", "size"}


@dataclass(frozen=True)
class Recipe:
    suite: str
    packages: tuple[str, ...]
    # Each command is an argv (a tuple) or a line for /bin/sh in the image (a str).
    setup: tuple[str | tuple[str, ...], ...]
    size: int
    # Of the file's bytes, for the manifest: which recipe made an image.
    sha256: str


def load(path: Path) -> Recipe:
    """The recipe in `path`; `RecipeError` naming the file and field if it is not valid."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise RecipeError(f"{path}: cannot read the recipe: {error.strerror}") from None
    return parse(data, str(path))


def parse(data: bytes, where: str = "recipe") -> Recipe:
    try:
        document = yaml.safe_load(data)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        raise RecipeError(f"{where}: not valid YAML{line}") from None
    if not isinstance(document, dict):
        raise RecipeError(f"{where}: expected a mapping with at least `suite:`")
    unknown = sorted(str(key) for key in document if key not in _KEYS)
    if unknown:
        raise RecipeError(
            f"{where}: unknown field {unknown[0]!r:.40}; known: {', '.join(sorted(_KEYS))}"
        )
    return Recipe(
        suite=_suite(document.get("suite"), where),
        packages=_packages(document.get("packages", []), where),
        setup=_setup(document.get("setup", []), where),
        size=_size(document.get("size", DEFAULT_SIZE), where),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _suite(value: Any, where: str) -> str:
    if value is None:
        raise RecipeError(f"{where}: suite: required (a Debian suite such as bookworm)")
    if not isinstance(value, str) or not _SUITE.fullmatch(value):
        raise RecipeError(f"{where}: suite: {value!r:.40} is not a Debian suite name")
    return value


def _packages(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise RecipeError(f"{where}: packages: expected a list of package names")
    if len(value) > MAX_PACKAGES:
        raise RecipeError(f"{where}: packages: more than {MAX_PACKAGES}")
    for index, item in enumerate(value):
        name, _, version = item.partition("=") if isinstance(item, str) else ("", "", "")
        if not _PACKAGE.fullmatch(name) or ("=" in item and not _VERSION.fullmatch(version)):
            raise RecipeError(
                f"{where}: packages[{index}]: {item!r:.60} is not a Debian package name "
                "(optionally NAME=VERSION)"
            )
    return tuple(value)


def _setup(value: Any, where: str) -> tuple[str | tuple[str, ...], ...]:
    if not isinstance(value, list):
        raise RecipeError(f"{where}: setup: expected a list of commands")
    if len(value) > MAX_SETUP:
        raise RecipeError(f"{where}: setup: more than {MAX_SETUP} commands")
    commands: list[str | tuple[str, ...]] = []
    for index, item in enumerate(value):
        field = f"{where}: setup[{index}]"
        if isinstance(item, str):
            _text(item, field)
            commands.append(item)
        elif isinstance(item, list) and item and all(isinstance(arg, str) for arg in item):
            for arg in item:
                _text(arg, field, allow_empty=True)
            commands.append(tuple(item))
        else:
            raise RecipeError(f"{field}: expected a shell line or a non-empty list of strings")
    return tuple(commands)


def _text(value: str, field: str, *, allow_empty: bool = False) -> None:
    if not value.strip() and not allow_empty:
        raise RecipeError(f"{field}: empty command")
    if "\x00" in value or len(value) > MAX_COMMAND:
        raise RecipeError(f"{field}: NUL character or longer than {MAX_COMMAND} characters")


def _size(value: Any, where: str) -> int:
    if not isinstance(value, str | int):
        raise RecipeError(f"{where}: size: expected a size such as 2G")
    try:
        size = parse_size(value, f"{where}: size")
    except VmError as error:
        raise RecipeError(str(error)) from None
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise RecipeError(f"{where}: size: {value!r:.20} is outside 512M..256G")
    return size
