"""Who may run tests on our machines (docs/tasks-bot.md, "Trust").

A pull request runs at once when its author is on an allowlist, when GitHub
says they are OWNER/MEMBER/COLLABORATOR, or — because `author_association`
reports members with *private* membership as CONTRIBUTOR — when an API check
finds them in the repository's organisation or a trusted org. The check is
injected (`MembershipCheck`) so that interpretation stays pure; `CachedMembership`
wraps the API lookup so a busy PR costs one call per org and author per TTL.
"""

import threading
import time
from collections.abc import Callable, Iterable

from tasks.testmap import Trusted

TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})

# (org, login) → is the login a member of the org?
MembershipCheck = Callable[[str, str], bool]


def is_trusted(
    login: str,
    association: str,
    orgs: Iterable[str],
    trusted: Trusted,
    is_member: MembershipCheck,
) -> bool:
    """Whether `login` (with GitHub's `association` to the repository) is trusted.

    `orgs` are the organisations whose members count: the trusted orgs of the map
    and the repository's owner when that is an organisation. Cheap checks come
    first; the API is asked only when they all fail.
    """
    # GitHub logins are case-insensitive.
    allowed = {name.lower() for name in trusted.users | trusted.bots}
    if login.lower() in allowed:
        return True
    if association in TRUSTED_ASSOCIATIONS:
        return True
    # Sorted: a deterministic order of API calls (and of the calls tests observe).
    return any(is_member(org, login) for org in sorted({o.lower() for o in orgs}))


class CachedMembership:
    """A membership check that remembers answers for `ttl` seconds.

    Negative answers are cached too: a flood of events from one untrusted author
    must not turn into a flood of API calls.
    """

    def __init__(
        self,
        lookup: MembershipCheck,
        ttl: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self._lookup = lookup
        self._ttl = ttl
        self._clock = clock
        self._cache: dict[tuple[str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def __call__(self, org: str, login: str) -> bool:
        key = (org.lower(), login.lower())
        now = self._clock()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and now - hit[0] < self._ttl:
            return hit[1]
        answer = self._lookup(org, login)
        with self._lock:
            self._cache[key] = (now, answer)
        return answer
