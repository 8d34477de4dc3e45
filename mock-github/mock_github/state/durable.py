"""What of `State` outlives a restart, in the data directory beside the git repositories.

Every kind of record is a row per key (persist.py): accounts (with org memberships), teams,
GitHub Apps with their installations and unexpired installation tokens,
repositories (labels, collaborators, hooks and their settings), issues and pull requests
(with comments, labels and reviews), check suites with their runs, statuses and webhook
deliveries (written once), and the settings (the id sequence, the default hook). Issue
numbers continue from the restored issues. Users' tokens are not kept: they come from
the token file at each start, so a token taken out of it stops working.

A new kind joins by a `Kind` in `KINDS`: a function listing `(key, record)`, one putting
a row back. A new field of a record kept here (a dataclass field, say `Repo.x: dict[int,
X]` with `X` a dataclass) needs nothing: `codec` follows the type hints.
"""

import logging
import time
from collections.abc import Iterator
from typing import Any

from mock_github.codec import dump, load
from mock_github.delivery import Delivery
from mock_github.gitstore import BareRepo
from mock_github.persist import Kind, Store
from mock_github.records import Account, Hook, Issue, Repo, Status
from mock_github.state import State
from mock_github.state.apps import App, Installation, InstallationToken
from mock_github.state.checks import CheckSuite
from mock_github.state.teams import Team

log = logging.getLogger(__name__)

# Fields kept as rows of their own (or, for `git`, on disk), not inside their owner's row.
APART = {Repo: ("git", "issues", "statuses"), Hook: ("deliveries",)}


def _encode(record: Any) -> Any:
    return dump(record, APART)


def _accounts(state: State) -> Iterator[tuple[str, Any]]:
    return iter(state.accounts.items())


def _restore_account(state: State, key: str, value: Any) -> None:
    state.accounts[key] = load(Account, value)


def _repos(state: State) -> Iterator[tuple[str, Any]]:
    for key, repo in state.repos.items():
        yield key, (repo, repo.git.path.relative_to(state.repos_dir).as_posix())


def _encode_repo(record: tuple[Repo, str]) -> Any:
    repo, path = record
    return {**_encode(repo), "path": path}


def _restore_repo(state: State, key: str, value: Any) -> None:
    path = state.repos_dir / value["path"]
    if not (path / "HEAD").is_file():
        log.warning("%s: its git repository %s is gone; not served", key, path)
        return
    state.repos[key] = load(Repo, value, git=BareRepo(path))


def _issues(state: State) -> Iterator[tuple[str, Any]]:
    for key, repo in state.repos.items():
        for number, issue in repo.issues.items():
            yield f"{key}#{number}", issue


def _restore_issue(state: State, key: str, value: Any) -> None:
    repo = state.repos.get(key.rpartition("#")[0])
    if repo is not None:
        issue = load(Issue, value)
        repo.issues[issue.number] = issue


def _statuses(state: State) -> Iterator[tuple[str, Any]]:
    for key, repo in state.repos.items():
        for sha, statuses in repo.statuses.items():
            for status in statuses:
                yield f"{key}@{status.id}", (sha, status)


def _encode_status(record: tuple[str, Status]) -> Any:
    sha, status = record
    return {**_encode(status), "sha": sha}


def _restore_status(state: State, key: str, value: Any) -> None:
    repo = state.repos.get(key.rpartition("@")[0])
    if repo is not None:
        repo.statuses.setdefault(value["sha"], []).append(load(Status, value))


def _deliveries(state: State) -> Iterator[tuple[str, Any]]:
    for key, repo in state.repos.items():
        for hook in repo.hooks.values():
            for record in hook.deliveries:
                yield f"{key}/{hook.id}/{record.id}", record


def _restore_delivery(state: State, key: str, value: Any) -> None:
    repo_key, hook_id, _ = key.rsplit("/", 2)
    repo = state.repos.get(repo_key)
    hook = repo.hooks.get(int(hook_id)) if repo else None
    if hook is not None:
        hook.deliveries.append(load(Delivery, value))


def _apps(state: State) -> Iterator[tuple[str, Any]]:
    return iter(state.apps.items())


def _restore_app(state: State, key: str, value: Any) -> None:
    state.apps[key] = load(App, value)


def _installations(state: State) -> Iterator[tuple[str, Any]]:
    for number, installation in state.installations.items():
        yield str(number), installation


def _encode_installation(installation: Installation) -> Any:
    """By its App's slug: the App is a row of its own."""
    return {**dump(installation, {Installation: ("app",)}), "app": installation.app.slug.lower()}


def _restore_installation(state: State, key: str, value: Any) -> None:
    app = state.apps.get(value["app"])
    if app is not None:
        state.installations[int(key)] = load(Installation, value, app=app)


def _installation_tokens(state: State) -> Iterator[tuple[str, Any]]:
    return iter(state.installation_tokens.items())


def _encode_installation_token(held: InstallationToken) -> Any:
    return {"installation": held.installation.id, "expires_at": held.expires_at}


def _restore_installation_token(state: State, key: str, value: Any) -> None:
    # A token outlives a restart, as on GitHub, until it expires.
    installation = state.installations.get(int(value["installation"]))
    if installation is not None and value["expires_at"] > time.time():
        state.installation_tokens[key] = InstallationToken(installation, value["expires_at"])


def _check_suites(state: State) -> Iterator[tuple[str, Any]]:
    """A suite with its runs: one row, written again as a run changes."""
    for number, suite in state.check_suites.items():
        yield str(number), suite


def _restore_check_suite(state: State, key: str, value: Any) -> None:
    suite = load(CheckSuite, value)
    state.check_suites[suite.id] = suite
    state.check_runs.update((run.id, run) for run in suite.runs)


def _teams(state: State) -> Iterator[tuple[str, Any]]:
    return iter(state.teams.items())


def _restore_team(state: State, key: str, value: Any) -> None:
    state.teams[key] = load(Team, value)


def _settings(state: State) -> Iterator[tuple[str, Any]]:
    yield "last_id", state.last_id
    yield "default_hook", state.default_hook


def _restore_setting(state: State, key: str, value: Any) -> None:
    if key == "last_id":
        state.last_id = value
    elif key == "default_hook" and value is not None:
        state.default_hook = (value[0], value[1])


KINDS: tuple[Kind[State], ...] = (
    Kind("account", _accounts, _encode, _restore_account),
    Kind("repo", _repos, _encode_repo, _restore_repo),
    Kind("issue", _issues, _encode, _restore_issue),
    Kind("status", _statuses, _encode_status, _restore_status, write_once=True),
    Kind("delivery", _deliveries, _encode, _restore_delivery, write_once=True),
    Kind("setting", _settings, lambda value: value, _restore_setting),
    Kind("check_suite", _check_suites, _encode, _restore_check_suite),
    Kind("team", _teams, _encode, _restore_team),
    # Apps before their installations, installations before their tokens.
    Kind("app", _apps, _encode, _restore_app),
    Kind("installation", _installations, _encode_installation, _restore_installation),
    Kind(
        "installation_token",
        _installation_tokens,
        _encode_installation_token,
        _restore_installation_token,
        write_once=True,
    ),
)


def open_store(state: State) -> Store[State]:
    """The store in `state`'s data directory, its records put back into `state`; then the
    repositories on disk that no record names are served too (git data only)."""
    store = Store(state.data_dir, KINDS)
    count = store.restore(state)
    state.adopt_repositories()
    if count:
        log.info("restored %d records from %s", count, store.path)
    return store
