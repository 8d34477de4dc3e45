"""Validation of every value that enters a job.

Values come from webhook payloads, which anyone who can open a PR controls in
part. Each check is strict on purpose: a job carries only values of these
shapes, and never passes any of them through a shell.
"""

import re

_REPO = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")
_SHA = re.compile(r"[0-9a-f]{40}")
# Contexts appear in status names and log headers: `fedora-41/networking`, `unit-tests`,
# `vm@infra#12` (a run against another revision of the tooling). Job ids and log folders
# are slugs of them, never the context itself.
_CONTEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+#-]*(?:/[A-Za-z0-9._@+#-]+)*")
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CAPABILITY = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
# GitHub logins and organisation names: ASCII letters, digits and hyphens, no leading
# hyphen, at most 39; a GitHub App's bot account adds `[bot]`. They are path segments of
# API calls, so nothing else may pass (`..`, `/`, `?`, `#`, or text that is not ASCII).
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}(?:\[bot\])?")


class InvalidValue(ValueError):
    """A value does not have the shape a job may carry."""


def repo(value: str) -> str:
    if not _REPO.fullmatch(value) or value.endswith((".", ".git")) or "/." in value:
        raise InvalidValue(f"invalid repository {value!r:.80}: expected OWNER/NAME")
    return value


def sha(value: str) -> str:
    if not _SHA.fullmatch(value):
        raise InvalidValue(f"invalid commit sha {value!r:.80}: expected 40 hex digits")
    return value


def login(value: str) -> str:
    """A GitHub user, bot or organisation name."""
    # The value may come straight from JSON: anything but a string is refused too.
    if not isinstance(value, str) or not _LOGIN.fullmatch(value):
        raise InvalidValue(f"invalid GitHub login {value!r:.80}")
    return value


def pr_number(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**31:
        raise InvalidValue(f"invalid pull request number {value!r:.80}")
    return value


# Narrower than git allows: refs appear in log headers and status texts, and real
# branch names need nothing beyond these characters.
_REF_CHARS = re.compile(r"[A-Za-z0-9._/@+-]+")


def ref(value: str) -> str:
    """A branch name, checked by git's own rules (git-check-ref-format) and a safe alphabet."""
    bad = (
        not _REF_CHARS.fullmatch(value)
        or len(value) > 255
        or value.startswith(("-", "/", "."))
        or value.endswith(("/", ".", ".lock"))
        or any(part.startswith(".") or part.endswith(".lock") for part in value.split("/"))
        or ".." in value
        or "//" in value
        or "@{" in value
        or value == "@"
    )
    if bad:
        raise InvalidValue(f"invalid ref {value!r:.80}")
    return value


def context(value: str) -> str:
    if len(value) > 100 or not _CONTEXT.fullmatch(value) or ".." in value:
        raise InvalidValue(f"invalid test context {value!r:.80}")
    return value


# VM image names (`images/NAME.yaml`, `images/NAME`), as `ouro vm` takes them.
_IMAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def image_name(value: str) -> str:
    if not isinstance(value, str) or not _IMAGE_NAME.fullmatch(value) or ".." in value:
        raise InvalidValue(f"invalid image name {value!r:.80}")
    return value


# Release names (`ouro deploy publish --name`, `ouro worker --release`): a file name in
# containers/releases/, and a word in statuses and logs.
_RELEASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def release_name(value: str) -> str:
    if not isinstance(value, str) or not _RELEASE_NAME.fullmatch(value):
        raise InvalidValue(
            f"invalid release name {value!r:.80}: letters, digits, . _ - (64 at most)"
        )
    return value


def job_id(value: str) -> str:
    if not _JOB_ID.fullmatch(value) or ".." in value:
        raise InvalidValue(f"invalid job id {value!r:.80}")
    return value


def capability(value: str) -> str:
    if not _CAPABILITY.fullmatch(value):
        raise InvalidValue(f"invalid capability {value!r:.80}")
    return value
