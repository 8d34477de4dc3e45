"""Dataclass records to JSON and back, led by their type hints, for the durable state.

`dump` writes a record's fields as JSON values (tuples and sets as lists, dict keys as
strings), leaving out the fields `skip` names per class (kept elsewhere, or rebuilt);
`load` builds the record again from its hints: an `int` key comes back an int, a
`tuple[bool, str]` a tuple, a nested record a record. A field missing from the JSON gets
its default, so records may grow fields without breaking what an older run saved.
"""

import dataclasses
import types
import typing
from collections.abc import Collection, Mapping
from typing import Any, TypeVar

T = TypeVar("T")
Skip = Mapping[type, Collection[str]]


def dump(value: Any, skip: Skip | None = None) -> Any:
    """`value` as JSON values, without the fields `skip` names for each record class."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        omitted = (skip or {}).get(type(value), ())
        return {
            f.name: dump(getattr(value, f.name), skip)
            for f in dataclasses.fields(value)
            if f.name not in omitted
        }
    if isinstance(value, dict):
        return {str(key): dump(item, skip) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [dump(item, skip) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(dump(item, skip) for item in value)
    return value


def load(cls: type[T], data: Mapping[str, Any], **given: Any) -> T:
    """The record of class `cls` that `dump` wrote as `data`; `given` sets fields outright
    (those left out by `skip`, which have no default)."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = typing.get_type_hints(cls)
    values = dict(given)
    for f in dataclasses.fields(cls):
        if f.init and f.name in data and f.name not in given:
            values[f.name] = _convert(hints[f.name], data[f.name])
    return cls(**values)


def _convert(hint: Any, value: Any) -> Any:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if value is None:
        return None
    if origin in (typing.Union, types.UnionType):
        kinds = [a for a in args if a is not type(None)]
        return _convert(kinds[0], value) if len(kinds) == 1 else value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return load(hint, value)
    if origin in (list, set, frozenset, tuple, dict):
        return _container(origin, args, value)
    if hint in (int, float) and isinstance(value, str | int):
        return hint(value)  # a dict key, written as a string; or a whole float
    return value


def _container(origin: type, args: tuple[Any, ...], value: Any) -> Any:
    if origin is dict:
        return {_convert(args[0], k): _convert(args[1], v) for k, v in value.items()}
    if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
        return tuple(_convert(a, item) for a, item in zip(args, value, strict=True))
    return origin(_convert(args[0], item) for item in value)
