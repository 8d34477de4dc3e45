"""The forge port's `Reader` over PyGithub (part of the adapter `tasks.github`, whose
client, quoting and retry policy it shares): pull requests, branches, files, org
membership and hook deliveries, for the bot and its recovery commands."""

import base64
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

import github

from ouro import jsonutil, validate
from ouro.retry import Sleep
from tasks import github_conditional
from tasks.forge import ForgeRefused, HookDelivery, PullInfo, Reader
from tasks.github import (
    Credentials,
    answer,
    file_path,
    repo_path,
    retried,
    segment,
    segments,
)
from tasks.interpret import pull_from_payload

log = logging.getLogger(__name__)

T = TypeVar("T")

# A Link header that never ends must not keep the bot listing forever (10,000 open PRs).
MAX_PAGES = 100


class GitHubReader:
    """Reads for the bot and its recovery commands, each retried by the shared policy;
    failures leave as forge errors.

    Without a token, `redeliver` only logs "would redeliver" (posting is opt-in).
    """

    def __init__(
        self,
        client: github.Github,
        *,
        can_write: bool,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.time,
    ):
        self._client = client
        self._can_write = can_write
        # Injected so that tests check the backoff sequence without waiting, and the wait a
        # rate limit's reset time asks for without depending on the time of day.
        self._sleep = sleep
        self._clock = clock

    def _retry(self, call: Callable[[], T], what: str) -> T:
        return retried(call, what, sleep=self._sleep, clock=self._clock)

    def pull(self, repo: str, number: int) -> PullInfo:
        path = repo_path(repo)
        validate.pr_number(number)

        url = f"/repos/{path}/pulls/{segment(str(number))}"

        def read(data: object) -> PullInfo:
            return answer(functools.partial(_pull_info, data), f"for {repo}#{number}")

        def call() -> PullInfo:
            return github_conditional.get(self._client.requester, url, read)[0]

        return self._retry(call, f"reading {repo}#{number}")

    def open_pulls(self, repo: str) -> list[PullInfo]:
        """Page by page, each a conditional read: a listing that did not change is free."""
        path = repo_path(repo)

        def read(data: object) -> list[PullInfo]:
            return answer(functools.partial(_pulls, data), f"listing {repo}'s pulls")

        def call() -> list[PullInfo]:
            found: list[PullInfo] = []
            url = f"/repos/{path}/pulls"
            parameters: dict[str, object] | None = {"state": "open", "per_page": 100}
            for _ in range(MAX_PAGES):
                pulls, following = github_conditional.get(
                    self._client.requester, url, read, parameters
                )
                found += pulls
                if following is None:
                    return found
                url, parameters = following, None
            log.warning(
                "%s has over %d pages of open pull requests: only those read", repo, MAX_PAGES
            )
            return found

        return self._retry(call, f"listing open pull requests of {repo}")

    def is_member(self, org: str, login: str) -> bool:
        """Membership as the token sees it: with a member's token, private members count.

        Raises `InvalidValue` for a login or org that is not a GitHub name: built into the
        path unchecked, `../../../orgs/acme/members/dave` or `dave?x=` asked about someone
        else, and GitHub's 204 for them made an outsider a member."""
        org_path, user = segment(validate.login(org)), segment(validate.login(login))

        def ask(path: str) -> int:
            status, _, _ = self._client.requester.requestJson("GET", path)
            if status >= 500:
                raise github.GithubException(status, None, None)
            return status

        def call() -> bool:
            status = ask(f"/orgs/{org_path}/members/{user}")
            if status == 302:
                # Our token is not in the org: GitHub sends us to its public members.
                status = ask(f"/orgs/{org_path}/public_members/{user}")
            # 204 member; 404 not a member (or no such org).
            return status == 204

        return self._retry(call, f"checking {login} in {org}")

    def hook_deliveries(self, repo: str) -> list[HookDelivery]:
        """Recent deliveries of every hook of `repo`, newest first per hook."""

        path = repo_path(repo)

        def call() -> list[HookDelivery]:
            gh_repo = self._client.get_repo(path)
            found = []
            for hook in gh_repo.get_hooks():
                for d in gh_repo.get_hook_deliveries(hook.id):
                    if d.id is None or d.delivered_at is None:
                        continue
                    found.append(
                        HookDelivery(
                            id=d.id,
                            hook_id=hook.id,
                            guid=d.guid or "",
                            delivered_at=d.delivered_at,
                            status_code=d.status_code or 0,
                            event=d.event or "",
                            redelivery=bool(d.redelivery),
                        )
                    )
            return found

        return self._retry(call, f"listing hook deliveries of {repo}")

    def redeliver(self, repo: str, delivery: HookDelivery) -> None:
        what = f"delivery {delivery.guid} ({delivery.event}) of {repo}"
        if not self._can_write:
            log.info("would redeliver %s", what)
            return

        hook, attempt = segment(str(int(delivery.hook_id))), segment(str(int(delivery.id)))
        path = f"/repos/{repo_path(repo)}/hooks/{hook}/deliveries/{attempt}/attempts"

        def call() -> None:
            self._client.requester.requestJsonAndCheck("POST", path)

        # Not idempotent in theory, but a second attempt of a failed delivery is harmless:
        # the bot drops a delivery id it has already processed.
        self._retry(call, f"redelivering {what}")
        log.info("redelivered %s", what)

    def _read_str(self, path: str, field: str, what: str) -> str:
        """The string at `field` (dotted) of GitHub's answer to `GET path`."""

        def read(data: Any) -> str:
            return answer(functools.partial(jsonutil.get_str, data, field), f"for {what}")

        def call() -> str:
            return github_conditional.get(self._client.requester, path, read)[0]

        return self._retry(call, f"reading {what}")

    def default_branch(self, repo: str) -> str:
        path = f"/repos/{repo_path(repo)}"
        return self._read_str(path, "default_branch", f"the default branch of {repo}")

    def branch_head(self, repo: str, branch: str) -> str:
        path = f"/repos/{repo_path(repo)}/branches/{segments(validate.ref(branch))}"
        return self._read_str(path, "commit.sha", f"branch {branch} of {repo}")

    def file_text(self, repo: str, ref: str, path: str) -> str | None:
        """The file's text (UTF-8, undecodable bytes replaced); None when GitHub answers 404
        (no such file, ref or repository) or the path is not a file (a directory, a
        submodule). A file over 1 MB is refused: the contents API leaves those out."""
        url = f"/repos/{repo_path(repo)}/contents/{file_path(path)}"
        where = f"{repo}@{validate.ref(ref)}:{path}"

        def read(data: object) -> str | None:
            if not isinstance(data, dict) or data.get("type") != "file":
                return None
            if data.get("encoding") != "base64":  # "none": over 1 MB
                raise ForgeRefused(403, f"{where} is too large for the contents API")
            content = answer(lambda: jsonutil.get_str(data, "content"), f"about {where}")
            return base64.b64decode(content).decode("utf-8", errors="replace")

        def call() -> str | None:
            try:
                return github_conditional.get(self._client.requester, url, read, {"ref": ref})[0]
            except github.GithubException as error:
                if error.status == 404:
                    return None
                raise

        return self._retry(call, f"reading {where}")


def _pull_info(data: object) -> PullInfo:
    """A pull request of GitHub's API (read as its event's payload would be: the base
    repository is the event's `repository`); `PayloadError` for anything else."""
    pull = jsonutil.get_dict({"pull": data}, "pull")
    return pull_from_payload(
        {"pull_request": pull, "repository": jsonutil.get_dict(pull, "base.repo")}
    )


def _pulls(data: object) -> list[PullInfo]:
    return [_pull_info(item) for item in jsonutil.get_list({"page": data}, "page")]


def open_reader(sleep: Sleep = time.sleep, credentials: Credentials | None = None) -> Reader:
    credentials = credentials or Credentials()
    return GitHubReader(credentials.client(), can_write=credentials.can_write, sleep=sleep)
