"""The grammar of tasks a person asks of the bot in text (docs/tasks-bot.md, "Image refresh"):

- a task line in a pull request's (or an issue's) description, a GitHub task-list item:

      - [ ] image-refresh NAME

  unticked, it asks for the task; the bot ticks it (`- [x] … log: URL`) once done, or
  leaves it unticked with a `FAIL:` note;
- a command line in a comment: `/image-refresh NAME`;
- a context with a revision suffix in `/test`: `vm@infra#12` (the `vm` context with the
  tooling of the infrastructure repository's PR 12), `vm@owner/product` (on an
  infrastructure PR: the product's `vm` context, run with that PR's tooling).

Everything here is pure text processing. Image names are checked
(`ouro.validate.image_name`), so nothing else of a body (which its author controls) ever
reaches a job; hostile text is skipped.
"""

import re
from dataclasses import dataclass

from ouro import validate

TASK = "image-refresh"
# More than this many task lines in one body is not a request, it is noise.
MAX_TASKS = 20

# `- [ ] image-refresh NAME` (also `*`, and `[x]`/`[X]` when ticked), anything after NAME
# (a log link, a FAIL: note) kept as the line's note.
_LINE = re.compile(
    r"(?P<lead>[ \t]{0,3}[-*][ \t]+)\[(?P<mark>[ xX])\][ \t]+"
    + TASK
    + r"[ \t]+(?P<name>\S+)(?P<note>[^\r\n]*)"
)
_COMMAND = re.compile(r"[ \t]*/" + TASK + r"[ \t]+(?P<name>\S+)[ \t]*")
FAIL = "FAIL:"


@dataclass(frozen=True)
class TaskLine:
    name: str
    ticked: bool
    # The text after the name: empty for a fresh request.
    note: str

    @property
    def wanted(self) -> bool:
        """Unticked and not marked failed: the bot should do it (a person removes a
        `FAIL:` note, or unticks a done task, to ask again)."""
        return not self.ticked and FAIL not in self.note


def task_lines(body: str) -> list[TaskLine]:
    """Every image-refresh task line of `body` whose name is an image name, in order, once
    per name (the first line for a name counts)."""
    found: dict[str, TaskLine] = {}
    for line in body.splitlines():
        match = _LINE.fullmatch(line)
        if match is None or not _is_image_name(match["name"]):
            continue
        name = match["name"]
        if name not in found:
            found[name] = TaskLine(name, match["mark"] != " ", match["note"].strip())
        if len(found) == MAX_TASKS:
            break
    return list(found.values())


def wanted(body: str) -> list[str]:
    """The names of images the body asks to refresh now."""
    return [task.name for task in task_lines(body) if task.wanted]


def mark(body: str, name: str, *, done: bool, note: str) -> str:
    """`body` with the task line of `name` ticked (`done`) or unticked, its note replaced by
    `note`; other lines, and the line endings, as they were. Unchanged if there is none."""
    lines = body.splitlines(keepends=True)
    for i, line in enumerate(lines):
        text = line.rstrip("\r\n")
        match = _LINE.fullmatch(text)
        if match is None or match["name"] != name:
            continue
        box = "x" if done else " "
        new = f"{match['lead']}[{box}] {TASK} {name}" + (f" {note}" if note else "")
        lines[i] = new + line[len(text) :]
        return "".join(lines)
    return body


def command(body: str) -> str | None:
    """The image named by the first `/image-refresh NAME` line of a comment, if valid."""
    for line in body.splitlines():
        match = _COMMAND.fullmatch(line)
        if match is not None:
            return match["name"] if _is_image_name(match["name"]) else None
    return None


def _is_image_name(text: str) -> bool:
    try:
        validate.image_name(text)
    except validate.InvalidValue:
        return False
    return True


@dataclass(frozen=True)
class InfraPull:
    """`CONTEXT@infra#N`: the tooling of the infrastructure repository's PR `number`."""

    number: int


@dataclass(frozen=True)
class Product:
    """`CONTEXT@owner/name`: the product repository's context, on an infrastructure PR."""

    repo: str


Target = InfraPull | Product


@dataclass(frozen=True)
class ContextRequest:
    context: str
    target: Target | None = None


_INFRA = re.compile(r"infra#(?P<number>[1-9][0-9]{0,9})")


def context_request(arg: str) -> ContextRequest:
    """`vm`, `vm@infra#12` or `vm@owner/product`; `InvalidValue` for anything else.

    Contexts may contain `@` themselves, so the suffix is what follows the *last* `@`,
    and only if it has one of the two shapes; otherwise the whole argument is a context.
    """
    base, at, suffix = arg.rpartition("@")
    if at:
        infra = _INFRA.fullmatch(suffix)
        if infra is not None:
            number = validate.pr_number(int(infra["number"]))
            return ContextRequest(validate.context(base), InfraPull(number))
        if suffix.startswith("infra#"):
            raise validate.InvalidValue(f"invalid revision {suffix!r:.40}: expected infra#N")
        if suffix.count("/") == 1:
            return ContextRequest(validate.context(base), Product(validate.repo(suffix)))
    return ContextRequest(validate.context(arg))


def suffixed(context: str, target: Target) -> str:
    """The context a run against `target` is reported as: `vm@infra#12`, `vm@owner/name`."""
    suffix = f"infra#{target.number}" if isinstance(target, InfraPull) else target.repo
    return validate.context(f"{context}@{suffix}")
