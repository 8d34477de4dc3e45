import pytest

from ouro.jsonutil import (
    PayloadError,
    get_bool,
    get_dict,
    get_int,
    get_list,
    get_number,
    get_optional_str,
    get_str,
    get_str_list,
    has,
    parse_object,
)

EVENT = {
    "number": 5,
    "pull_request": {"head": {"sha": "abc"}, "draft": False, "labels": [], "body": None},
}


def test_reads_nested_values() -> None:
    assert get_str(EVENT, "pull_request.head.sha") == "abc"
    assert get_int(EVENT, "number") == 5
    assert get_bool(EVENT, "pull_request.draft") is False
    assert get_list(EVENT, "pull_request.labels") == []
    assert get_dict(EVENT, "pull_request.head") == {"sha": "abc"}
    assert get_optional_str(EVENT, "pull_request.body") is None
    assert get_optional_str(EVENT, "pull_request.title") is None
    assert get_bool(EVENT, "pull_request.locked", default=True) is True
    assert has(EVENT, "pull_request.head.sha")
    assert not has(EVENT, "pull_request.base.sha")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: get_str(EVENT, "pull_request.base.sha"), "missing field pull_request.base"),
        (lambda: get_str(EVENT, "number"), "number must be a string, not int"),
        (lambda: get_int(EVENT, "pull_request.draft"), "must be an integer, not bool"),
        (lambda: get_str(EVENT, "number.x"), "number is not an object"),
        (lambda: get_dict(EVENT, "number"), "must be an object"),
        (lambda: get_list(EVENT, "number"), "must be a list"),
        (lambda: get_bool(EVENT, "number"), "must be a boolean"),
    ],
)
def test_errors_name_the_path(call: object, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        call()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"[" * 1000 + b"]" * 1000, "not a JSON object"),
        (b'{"a": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested too deeply"),
        (b'{"a": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b'{"a": ' + b"[" * 64 + b"]" * 64 + b"}", r"nested too deeply \(deeper than 64 levels"),
        (b'{"a": "\\ud800"}', "not valid Unicode"),
        (b'{"\\udfff": 1}', "not valid Unicode"),
        (b'{"a": NaN}', "not JSON"),
        (b'{"a": -Infinity}', "not JSON"),
        (b'{"a": 1e999}', "out of range"),
        (b'{"a": "\xff"}', "not JSON"),
        (b"\xfe\xff\x00{", "not JSON"),
        (b'{"a": ' + b"9" * 5000 + b"}", "out of range"),
    ],
)
def test_parse_object_is_total(body: bytes, reason: str) -> None:
    """Whatever the bytes: a JSON object, or PayloadError (never RecursionError, never a
    string that cannot be written out)."""
    with pytest.raises(PayloadError, match=reason):
        parse_object(body, "message")


def test_parse_object_takes_ordinary_text() -> None:
    body = '{"a": [[["ok"]]], "b": "caf\u00e9 \U0001f600", "c": 1.5}'.encode()
    assert parse_object(body, "message")["b"] == "caf\u00e9 \U0001f600"


def test_numbers_and_string_lists() -> None:
    data = {"t": 1.5, "i": 2, "b": True, "s": "x", "l": ["a", 5]}
    assert get_number(data, "t") == 1.5
    assert get_number(data, "i") == 2.0
    for path in ("b", "s"):
        with pytest.raises(PayloadError, match="must be a number"):
            get_number(data, path)
    with pytest.raises(PayloadError, match=r"l\[1\] must be a string"):
        get_str_list(data, "l")
