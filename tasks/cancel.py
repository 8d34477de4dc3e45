"""The cancel message, published on the `cancel` fanout exchange by the bot.

A worker running a job of `repo` PR `pr` stops it unless the job tests `keep_sha`
(the PR's new head after a push); a closed PR sends `keep_sha` None: stop all.
"""

from dataclasses import dataclass

from ouro import validate
from ouro.jsonutil import dump, get_int, get_optional_str, get_str, parse_object


@dataclass(frozen=True)
class Cancel:
    repo: str
    pr: int
    keep_sha: str | None
    reason: str

    def __post_init__(self) -> None:
        validate.repo(self.repo)
        validate.pr_number(self.pr)
        if self.keep_sha is not None:
            validate.sha(self.keep_sha)

    def applies_to(self, repo: str, pr: int | None, sha: str) -> bool:
        return repo == self.repo and pr == self.pr and sha != self.keep_sha

    def to_json(self) -> bytes:
        return dump(self)

    @classmethod
    def from_json(cls, body: bytes) -> "Cancel":
        data = parse_object(body, "cancel message")
        return cls(
            repo=get_str(data, "repo"),
            pr=get_int(data, "pr"),
            keep_sha=get_optional_str(data, "keep_sha"),
            reason=get_str(data, "reason"),
        )
