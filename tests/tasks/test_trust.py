"""Trust rules and the membership cache."""

from tasks.testmap import Trusted
from tasks.trust import CachedMembership, is_trusted

TRUSTED = Trusted(users=frozenset({"Carol"}), orgs=frozenset({"t"}), bots=frozenset({"ci[bot]"}))


def never(org: str, login: str) -> bool:
    raise AssertionError("no API call expected")


def test_allowlists_and_associations_need_no_api_call() -> None:
    assert is_trusted("carol", "NONE", {"o"}, TRUSTED, never)
    assert is_trusted("ci[bot]", "NONE", {"o"}, TRUSTED, never)
    for association in ("OWNER", "MEMBER", "COLLABORATOR"):
        assert is_trusted("x", association, {"o"}, TRUSTED, never)


def test_others_are_checked_against_each_org() -> None:
    calls: list[tuple[str, str]] = []

    def member_of_t(org: str, login: str) -> bool:
        calls.append((org, login))
        return org == "t"

    assert is_trusted("x", "CONTRIBUTOR", {"t", "Owner"}, TRUSTED, member_of_t)
    assert calls == [("owner", "x"), ("t", "x")]
    calls.clear()
    assert not is_trusted("x", "FIRST_TIME_CONTRIBUTOR", {"owner"}, TRUSTED, member_of_t)
    assert calls == [("owner", "x")]


def test_cache_remembers_both_answers_until_the_ttl() -> None:
    now = [0.0]
    calls: list[tuple[str, str]] = []

    def lookup(org: str, login: str) -> bool:
        calls.append((org, login))
        return login == "in"

    cached = CachedMembership(lookup, ttl=60, clock=lambda: now[0])
    assert cached("o", "in")
    assert not cached("o", "out")
    assert cached("O", "IN")
    assert not cached("o", "out")
    assert len(calls) == 2
    now[0] = 61
    assert cached("o", "in")
    assert len(calls) == 3
