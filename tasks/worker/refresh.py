"""After an image refresh job (docs/worker.md, "Image refresh"): commit the new reference,
push it to the PR's branch, and tell the person who asked.

The job (`ouro vm refresh NAME`, run on the PR's head without a rebase) built and uploaded
the image and wrote its reference into `images/NAME`; it never sees a GitHub credential.
The worker then checks that the reference file is *all* the job changed, commits it as
"images: Update NAME image" and pushes to the PR's branch with the repository's own push
token (`<secrets>/push-tokens/OWNER/NAME`), or in App mode the installation's, sent as an
HTTP header through git's environment (`gitauth`): never on a command line, never in the
log. A push that is not a fast-forward
(someone pushed meanwhile) is refused by the server and fails the job; nothing is forced.

The task line in the PR's description is ticked with the log link, or left unticked with a
`FAIL:` note; a refresh asked for by a comment gets a reply instead. A refresh asked for on
an issue pushes a new branch; the worker opens a PR from it and names it on the issue.
"""

import logging
from pathlib import Path

from tasks import tasklines
from tasks.forge import Conversation, Status
from tasks.job import Job
from tasks.worker.checkout import IDENTITY, ChangeError, Output, git, git_text
from tasks.worker.gitauth import GitToken, header_env
from tasks.worker.outcome import JobFailedToStart

log = logging.getLogger(__name__)

PUSH_TIMEOUT = 300.0


class RefreshFailed(ChangeError):
    """The refresh did not produce a reference to push: the change's (or recipe's) fault."""


def reference_path(name: str) -> str:
    return f"images/{name}"


def token_file(secrets_dir: Path, repo: str) -> Path:
    """The push token of `repo` (validated OWNER/NAME: two safe path segments)."""
    owner, name = repo.split("/")
    return secrets_dir / "push-tokens" / owner / name


def _changed(source: Path) -> list[str]:
    """Paths the job changed or added in the checkout (`git status --porcelain` lines)."""
    status = git_text(["status", "--porcelain", "--untracked-files=all"], source)
    return [line[3:] for line in status.splitlines() if line.strip()]


def publish(
    job: Job, source: Path, secrets_dir: Path, output: Output, git_token: GitToken | None = None
) -> str | None:
    """Commit and push the refreshed reference; the new head's sha, or None if the image
    did not change. `RefreshFailed` if the job changed anything else or nothing sensible,
    `JobFailedToStart` without a push token. In App mode (`git_token`) the installation's
    token pushes, and no push token file is needed."""
    if job.refresh is None or job.push_branch is None:
        raise ValueError(f"job {job.id} is not an image refresh")
    path = reference_path(job.refresh)
    changed = _changed(source)
    others = [c for c in changed if c != path]
    if others:
        raise RefreshFailed(f"The refresh changed more than {path}: {', '.join(others[:3])}")
    if not changed:
        output(f"{path} is unchanged: nothing to push\n".encode())
        return None
    token = git_token() if git_token is not None else None
    if token is None:
        try:
            token = token_file(secrets_dir, job.repo).read_text().strip()
        except OSError:
            raise JobFailedToStart(f"No push token for {job.repo}") from None
    message = f"images: Update {job.refresh} image"
    git(["add", "--", path], source, output, 60)
    git([*IDENTITY, "commit", "--quiet", "-m", message], source, output, 60)
    secret_env = header_env(token)
    target = f"HEAD:refs/heads/{job.push_branch}"
    pushed = git(
        ["push", "--porcelain", "origin", target], source, output, PUSH_TIMEOUT,
        check=False, env=secret_env,
    )  # fmt: skip
    if not pushed:
        raise RefreshFailed(f"Push to {job.push_branch} refused (did the branch move?)")
    sha = git_text(["rev-parse", "HEAD"], source).strip()
    output(f"Pushed {sha} to {job.push_branch}\n".encode())
    log.info("job %s: pushed %s to %s of %s", job.id, sha[:12], job.push_branch, job.repo)
    return sha


def open_pull(conversation: Conversation, job: Job, log_url: str) -> int:
    """For a refresh asked for on an issue: the PR of its pushed branch."""
    if job.refresh is None or job.push_branch is None or job.issue is None or not job.base_ref:
        raise ValueError(f"job {job.id} is not an image refresh of an issue")
    body = f"- [x] {tasklines.TASK} {job.refresh} log: {log_url}\n\nAsked for in #{job.issue}."
    title = f"images: Update {job.refresh} image"
    return conversation.create_pull(job.repo, job.push_branch, job.base_ref, title, body)


def report(
    conversation: Conversation, job: Job, status: Status, log_url: str, pull: int | None = None
) -> None:
    """Tick the task line (success) or mark it `FAIL:`; a reply if there is no line. `pull`:
    the PR opened for a refresh asked for on an issue."""
    number = job.pr if job.pr is not None else job.issue
    if job.refresh is None or number is None:
        raise ValueError(f"job {job.id} is not an image refresh of a PR or an issue")
    done = status.state == "success"
    opened = f" PR #{pull}" if pull is not None else ""
    note = f"log: {log_url}{opened}" if done else f"FAIL: {status.description} log: {log_url}"
    body = conversation.body(job.repo, number)
    if any(t.name == job.refresh for t in tasklines.task_lines(body)):
        conversation.set_body(
            job.repo, number, tasklines.mark(body, job.refresh, done=done, note=note)
        )
    else:
        outcome = "done" if done else "failed"
        text = (
            f"image-refresh {job.refresh} {outcome}: {status.description} (log: {log_url}{opened})"
        )
        conversation.comment(job.repo, number, text)


def tell(
    conversation: Conversation | None, job: Job, status: Status, log_url: str, pushed: bool
) -> None:
    """Open the PR of a refresh asked for on an issue, then tick (or mark FAIL:) the task
    line; best effort: the status says it all too."""
    if conversation is None:
        log.warning("job %s: no GitHub conversation configured: task line not updated", job.id)
        return
    try:
        pull = None
        if pushed and job.issue is not None and status.state == "success":
            pull = open_pull(conversation, job, log_url)
        report(conversation, job, status, log_url, pull)
    except Exception as error:
        log.warning("job %s: cannot update the task line (%r)", job.id, error)
