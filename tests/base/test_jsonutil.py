import pytest

from ouro.jsonutil import (
    PayloadError,
    get_bool,
    get_dict,
    get_int,
    get_list,
    get_optional_str,
    get_str,
    has,
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
