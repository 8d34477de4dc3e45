"""Typed access to untrusted JSON (webhook payloads, job messages).

Every accessor takes a dotted path and raises `PayloadError` naming it, so a
malformed event is a one-line error rather than a `KeyError` three frames deep.
`parse_object` is total: whatever the bytes, it returns a JSON object of text that can
be written anywhere (logs, headers, argv) or raises `PayloadError` — never another
exception, which a consumer would take for a bug and retry.
"""

import json
import math
from typing import Any, NoReturn

JsonDict = dict[str, Any]

# No message or GitHub payload comes near this; Python's parser would recurse until it
# raised RecursionError near 1,000 levels, and whatever walks the document later might too.
MAX_DEPTH = 64


class PayloadError(ValueError):
    """A value in a JSON document is missing or has the wrong type."""


def _no_constant(name: str) -> NoReturn:
    # NaN and Infinity are Python's extension, not JSON; they break every comparison.
    raise ValueError(f"{name} is not a JSON value")


def parse_object(body: bytes, what: str) -> JsonDict:
    """`body` parsed as a JSON object; `PayloadError` naming `what` otherwise.

    Refused too: non-standard constants (NaN, Infinity), nesting deeper than `MAX_DEPTH`,
    and strings with lone surrogates (`"\\ud800"` is valid JSON but no text: it cannot be
    encoded, so it would fail in whatever writes it out, far from here).
    """
    try:
        data: Any = json.loads(body, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise PayloadError(f"{what} is not JSON: {error}") from None
    except RecursionError:
        raise PayloadError(f"{what} is nested too deeply") from None
    if not isinstance(data, dict):
        raise PayloadError(f"{what} is not a JSON object")
    _check_tree(data, what)
    return data


def _check_tree(data: JsonDict, what: str) -> None:
    """Depth and text of every value, walked without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise PayloadError(f"{what} is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, what)
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str):
            _check_text(value, what)
        elif isinstance(value, float) and not math.isfinite(value):
            # 1e999 parses as infinity.
            raise PayloadError(f"{what} holds a number out of range")


def _check_text(text: str, what: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise PayloadError(f"{what} holds a string that is not valid Unicode") from None


def _lookup(obj: JsonDict, path: str) -> Any:
    value: Any = obj
    walked: list[str] = []
    for key in path.split("."):
        if not isinstance(value, dict):
            where = ".".join(walked) or "document"
            raise PayloadError(f"{where} is not an object")
        walked.append(key)
        if key not in value:
            raise PayloadError(f"missing field {'.'.join(walked)}")
        value = value[key]
    return value


def get_str(obj: JsonDict, path: str) -> str:
    value = _lookup(obj, path)
    if not isinstance(value, str):
        raise PayloadError(f"{path} must be a string, not {type(value).__name__}")
    return value


def get_int(obj: JsonDict, path: str) -> int:
    value = _lookup(obj, path)
    # bool is an int subclass; a `true` where a number belongs is still malformed.
    if not isinstance(value, int) or isinstance(value, bool):
        raise PayloadError(f"{path} must be an integer, not {type(value).__name__}")
    return value


def get_bool(obj: JsonDict, path: str, default: bool | None = None) -> bool:
    if default is not None and not has(obj, path):
        return default
    value = _lookup(obj, path)
    if not isinstance(value, bool):
        raise PayloadError(f"{path} must be a boolean, not {type(value).__name__}")
    return value


def get_dict(obj: JsonDict, path: str) -> JsonDict:
    value = _lookup(obj, path)
    if not isinstance(value, dict):
        raise PayloadError(f"{path} must be an object, not {type(value).__name__}")
    return value


def get_number(obj: JsonDict, path: str) -> float:
    """An integer or a fraction (finite: `parse_object` refuses the rest)."""
    value = _lookup(obj, path)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise PayloadError(f"{path} must be a number, not {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise PayloadError(f"{path} is out of range") from None


def get_str_list(obj: JsonDict, path: str) -> list[str]:
    values = get_list(obj, path)
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise PayloadError(f"{path}[{i}] must be a string, not {type(value).__name__}")
    return values


def get_list(obj: JsonDict, path: str) -> list[Any]:
    value = _lookup(obj, path)
    if not isinstance(value, list):
        raise PayloadError(f"{path} must be a list, not {type(value).__name__}")
    return value


def get_optional_str(obj: JsonDict, path: str) -> str | None:
    """A string that may be absent or null."""
    if not has(obj, path) or _lookup(obj, path) is None:
        return None
    return get_str(obj, path)


def has(obj: JsonDict, path: str) -> bool:
    try:
        _lookup(obj, path)
    except PayloadError:
        return False
    return True
