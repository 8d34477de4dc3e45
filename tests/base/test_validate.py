"""Every value that enters a job is checked; payload text of any other shape is refused."""

import pytest

from ouro import validate

HOSTILE = [
    "",
    "a; rm -rf /",
    "$(id)",
    "`id`",
    "x\ny",
    "-rf",
    "../etc",
    "a" * 300,
    "a\x00b",
]


@pytest.mark.parametrize("value", ["cockpit-project/cockpit", "o/r.js", "a-b/c_d.e"])
def test_good_repos(value: str) -> None:
    assert validate.repo(value) == value


@pytest.mark.parametrize(
    "value", [*HOSTILE, "owner", "owner/", "/name", "o/r/x", "-o/r", "o/..", "o/r.git", "o/.r"]
)
def test_bad_repos(value: str) -> None:
    with pytest.raises(validate.InvalidValue, match="invalid repository"):
        validate.repo(value)


def test_sha_is_40_lowercase_hex() -> None:
    assert validate.sha("a" * 40) == "a" * 40
    for bad in [*HOSTILE, "A" * 40, "a" * 39, "a" * 41, "g" * 40]:
        with pytest.raises(validate.InvalidValue, match="sha"):
            validate.sha(bad)


@pytest.mark.parametrize("value", ["main", "feature/x-1", "release-1.0", "user@host"])
def test_good_refs(value: str) -> None:
    assert validate.ref(value) == value


@pytest.mark.parametrize(
    "value",
    [
        *HOSTILE,
        "a..b",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "a\\b",
        "x.lock",
        "/a",
        "a/",
        "a//b",
        "@",
        "a@{1}",
        ".hidden",
        "a/.b",
    ],
)
def test_bad_refs(value: str) -> None:
    with pytest.raises(validate.InvalidValue, match="invalid ref"):
        validate.ref(value)


def test_pr_numbers() -> None:
    assert validate.pr_number(1) == 1
    for bad in [0, -1, 2**31, True]:
        with pytest.raises(validate.InvalidValue):
            validate.pr_number(bad)


@pytest.mark.parametrize("value", ["unit-tests", "fedora-41/networking", "rhel-9.4@x/y"])
def test_good_contexts(value: str) -> None:
    assert validate.context(value) == value


@pytest.mark.parametrize("value", [*HOSTILE, "a//b", "a/", "/a", "a/../b"])
def test_bad_contexts(value: str) -> None:
    with pytest.raises(validate.InvalidValue, match="context"):
        validate.context(value)


def test_job_ids_and_capabilities() -> None:
    assert validate.job_id("unit-tests-0123abcd-x1") == "unit-tests-0123abcd-x1"
    assert validate.capability("kvm") == "kvm"
    for bad in HOSTILE:
        with pytest.raises(validate.InvalidValue):
            validate.job_id(bad)
        with pytest.raises(validate.InvalidValue):
            validate.capability(bad)


@pytest.mark.parametrize("value", ["dave", "Dave-2", "a" * 39, "dependabot[bot]", "0"])
def test_good_logins(value: str) -> None:
    assert validate.login(value) == value


# Each was a member of acme for the membership check built without quoting (issue 15).
HOSTILE_LOGINS = [
    "../../../orgs/acme/members/dave",
    "dave?x=",
    "dave#frag",
    "dave\ud800",
    "dave/",
    "-dave",
    "a" * 40,
    "dave[bot]x",
    "dav\u0435",  # a Cyrillic e
    "dave\n",
]


@pytest.mark.parametrize("value", [*HOSTILE, *HOSTILE_LOGINS, 5, None])
def test_bad_logins(value: object) -> None:
    with pytest.raises(validate.InvalidValue, match="invalid GitHub login"):
        validate.login(value)  # type: ignore[arg-type]
