"""Typed access to untrusted JSON (webhook payloads, job messages).

Every accessor takes a dotted path and raises `PayloadError` naming it, so a
malformed event is a one-line error rather than a `KeyError` three frames deep.
"""

import json
from typing import Any

JsonDict = dict[str, Any]


class PayloadError(ValueError):
    """A value in a JSON document is missing or has the wrong type."""


def parse_object(body: bytes, what: str) -> JsonDict:
    """`body` parsed as a JSON object; `PayloadError` naming `what` otherwise."""
    try:
        data: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PayloadError(f"{what} is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise PayloadError(f"{what} is not a JSON object")
    return data


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
