"""The receiver's JSON checks: the nesting walk against a recursive depth, and bodies built
to fool a bracket count (brackets, quotes and backslashes inside strings)."""

import json
import random
from typing import Any

import pytest

from ouro.jsonutil import nests_deeper
from webhook.payload import MAX_NESTING, check_json
from webhook.wire import Refused

TRICKY = ['"', "\\", "[", "]", "{", "}", '\\"', "\\\\", "a", "é", "\n"]


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


def tricky_string(rng: random.Random) -> str:
    return "".join(rng.choice(TRICKY) for _ in range(rng.randrange(12)))


def nested(rng: random.Random, levels: int) -> Any:
    """A value `levels` deep, with tricky strings and siblings along the way."""
    if levels == 0:
        return tricky_string(rng)
    inner = nested(rng, levels - 1)
    if rng.random() < 0.5:
        return [tricky_string(rng), inner, {tricky_string(rng): tricky_string(rng)}]
    return {tricky_string(rng): tricky_string(rng), "k" + tricky_string(rng): inner}


@pytest.mark.parametrize("seed", range(200))
def test_the_nesting_found_is_the_parsers(seed: int) -> None:
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    value = {"s": tricky_string(rng), "v": nested(rng, rng.randrange(1, 12))}
    body = json.dumps(value, ensure_ascii=rng.random() < 0.5).encode()
    limit = rng.randrange(1, 14)
    value = json.loads(body)
    assert nests_deeper(body, value, limit) == (depth(value) > limit)


def deep_body(levels: int, before: bytes) -> bytes:
    return b'{"s": ' + before + b', "a": ' + b"[" * (levels - 1) + b"]" * (levels - 1) + b"}"


@pytest.mark.parametrize(
    "string",
    [b'"]]]]]]]]"', b'"\\\\"', b'"\\"]]]]"', b'"' + b"[" * 100 + b'"'],
    ids=["closing-brackets", "escaped-backslash", "escaped-quote", "opening-brackets"],
)
def test_brackets_in_strings_neither_hide_nor_add_depth(string: bytes) -> None:
    check_json(deep_body(MAX_NESTING, string))
    with pytest.raises(Refused, match=f"nested too deeply \\(deeper than {MAX_NESTING} levels"):
        check_json(deep_body(MAX_NESTING + 1, string))
