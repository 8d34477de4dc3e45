"""The self-maintaining scenarios of a local deployment (`./run-local.sh --scenario NAME`,
docs/deployment.md): an image refresh asked for by a task line, and a product test run
with an unmerged revision of this project's tooling.

Each drives pull requests through the mock GitHub as people would, follows the statuses
(`drive.follow`) and checks what the bot and the worker did to the repositories: the
commit pushed, the task line ticked, the logs. It returns the outcomes and the checks,
which `drive.summary` prints.
"""

import re
import subprocess
import time
from typing import Any

import requests

from mock_github.control import MockGitHubControl
from ouro.config import ConfigError
from ouro.deploy import drive, podman, vmimage
from ouro.deploy.local import SAMPLE_REPO, Deployment
from ouro.deploy.progress import say

USER = "ouro-demo"
INFRA = "ouro-demo/ouroboros"
REFRESH = f"image-refresh/{vmimage.NAME}"
TASK = f"- [ ] image-refresh {vmimage.NAME}"
# A recipe that builds a different image: one setup step more than the sample's.
RECIPE_CHANGE = '\nsetup:\n  - "echo refreshed > /etc/ouro-refreshed"\n'
BROKEN_RECIPE = "suite: bookworm\nsuit: a typo that the recipe check refuses\n"
# What `ouro vm` says when it runs from a tooling checkout (tasks/worker/runner.py, TOOLING).
TOOLING_LINE = "ouro vm from /tooling/vm"
_REFERENCE = re.compile(rf"{vmimage.NAME}-[0-9a-f]{{64}}\.qcow2")

Checks = list[tuple[str, bool]]


def _get(deploy: Deployment, path: str) -> Any:
    with drive.mock_session(deploy) as session:
        response = session.get(f"{deploy.url('mock-github')}{path}", timeout=30)
    response.raise_for_status()
    return response.json()


def _follow(
    deploy: Deployment, outcomes: list[drive.Outcome], *, timeout: float, started: float
) -> None:
    with drive.mock_session(deploy) as session:
        drive.follow(
            deploy.url("mock-github"), outcomes, timeout=timeout, started=started, session=session
        )


def _clone_url(deploy: Deployment, repo: str) -> str:
    return f"{deploy.url('mock-github')}/{repo}.git"


def job_log(outcome: drive.Outcome) -> str:
    """The log of the outcome's last run (its final status links to the log page)."""
    url = str(outcome.statuses[-1].get("target_url") or "")
    if not url:
        return ""
    response = requests.get(url.rsplit("/", 1)[0] + "/log", timeout=30)
    return response.text if response.ok else ""


def image_refresh(
    deploy: Deployment, *, timeout: float = 900
) -> tuple[list[drive.Outcome], Checks]:
    """A PR that changes the sample's recipe and asks for a refresh, and one whose recipe is
    broken: the first gets the new reference pushed and its box ticked, and the VM test of
    the new head boots the new image; the second gets a failure and a `FAIL:` note."""
    started = time.monotonic()
    api = deploy.url("mock-github")
    recipe = (SAMPLE_REPO / vmimage.RECIPE).read_text()
    with MockGitHubControl(api) as control:
        drive.ensure_sample(control, deploy)
        good = control.open_pr(
            drive.REPO, "refresh-sample", title="Refresh the sample image",
            body=f"The image gets one more setup step.\n\n{TASK}\n", user=USER,
            files={str(vmimage.RECIPE): recipe + RECIPE_CHANGE},
        )  # fmt: skip
        broken = control.open_pr(
            drive.REPO, "broken-recipe", title="[no-test] A recipe with a typo",
            body=f"{TASK}\n", user=USER, files={str(vmimage.RECIPE): BROKEN_RECIPE},
        )  # fmt: skip
    heads = {int(pr["number"]): str(pr["head"]["sha"]) for pr in (good, broken)}
    say(f"PRs #{good['number']} (a new recipe) and #{broken['number']} (a broken one) opened")
    refreshes = [
        drive.Outcome(drive.REPO, int(good["number"]), heads[good["number"]], REFRESH,
                      good["title"], "success"),
        drive.Outcome(drive.REPO, int(broken["number"]), heads[broken["number"]], REFRESH,
                      broken["title"], "failure"),
    ]  # fmt: skip
    _follow(deploy, refreshes, timeout=timeout, started=started)
    good_pr = _get(deploy, f"/repos/{drive.REPO}/pulls/{good['number']}")
    broken_pr = _get(deploy, f"/repos/{drive.REPO}/pulls/{broken['number']}")
    new_head = str(good_pr["head"]["sha"])
    commit = _get(deploy, f"/repos/{drive.REPO}/commits/{new_head}")
    new_ref = _REFERENCE.findall(job_log(refreshes[0]))
    old_head = heads[good["number"]]
    parents = [p["sha"] for p in commit["parents"]]
    changed = [f["filename"] for f in commit["files"]]
    message = f"images: Update {vmimage.NAME} image"
    checks: Checks = [
        ("the refresh pushed a new head", new_head != old_head),
        ("... on top of the old one", parents == [old_head]),
        ("... changing only the reference", changed == [vmimage.REFERENCE]),
        (f"... as {message!r}", commit["commit"]["message"].startswith(message)),
        ("the task line is ticked with the log link",
         f"- [x] image-refresh {vmimage.NAME} log: http" in (good_pr["body"] or "")),
        ("the broken recipe pushed nothing", broken_pr["head"]["sha"] == heads[broken["number"]]),
        ("... and its task line says FAIL:",
         f"- [ ] image-refresh {vmimage.NAME} FAIL:" in (broken_pr["body"] or "")),
    ]  # fmt: skip
    vm = drive.Outcome(drive.REPO, int(good["number"]), new_head, "vm", good["title"], "success")
    _follow(deploy, [vm], timeout=timeout, started=started)
    checks.append(
        ("the VM test of the new head booted the new image",
         bool(new_ref) and new_ref[-1].split("-")[1][:64] in job_log(vm))
    )  # fmt: skip
    return [*refreshes, vm], checks


def project_files() -> dict[str, str | None]:
    """This project's tracked text files, as the infrastructure repository of the mock."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z"], cwd=podman.PROJECT, capture_output=True, text=True,
            check=True, timeout=60,
        ).stdout.split("\0")  # fmt: skip
    except (OSError, subprocess.CalledProcessError) as error:
        raise ConfigError(f"{podman.PROJECT} is not a git checkout: {error}") from None
    files: dict[str, str | None] = {}
    for name in filter(None, listed):
        path = podman.PROJECT / name
        try:
            files[name] = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, FileNotFoundError, IsADirectoryError):
            continue
    return files


def infra_revision(
    deploy: Deployment, *, timeout: float = 600
) -> tuple[list[drive.Outcome], Checks]:
    """This project pushed as `ouro-demo/ouroboros` with an open PR; the sample's `vm`
    context runs with that PR's tooling, asked for by `/test vm@infra#N` on a product PR,
    and tried by the infrastructure PR itself (`infra.tries`) as `vm@ouro-demo/sample`."""
    started = time.monotonic()
    api = deploy.url("mock-github")
    with MockGitHubControl(api) as control:
        drive.ensure_sample(control, deploy)
        control.create_repo(INFRA, files=project_files(), user=USER)
        infra = control.open_pr(
            INFRA, "tooling-change", title="A change to the tooling", user=USER,
            files={"NEWS.md": "The tooling changed on this branch.\n"},
        )  # fmt: skip
        infra_sha = str(infra["head"]["sha"])
        product = control.open_pr(
            drive.REPO, "try-infra", title="[no-test] Try the tooling of an infra PR",
            user=USER, files={"NOTES.md": "Tried with the infra PR.\n"},
        )  # fmt: skip
        control.comment(
            drive.REPO, int(product["number"]), f"/test vm@infra#{infra['number']}", user=USER
        )
    say(f"{INFRA}#{infra['number']} at {infra_sha[:10]}; /test vm@infra#{infra['number']} "
        f"on {drive.REPO}#{product['number']}")  # fmt: skip
    context = f"vm@infra#{infra['number']}"
    asked = drive.Outcome(drive.REPO, int(product["number"]), str(product["head"]["sha"]),
                          context, product["title"], "success")  # fmt: skip
    tried = drive.Outcome(INFRA, int(infra["number"]), infra_sha, f"vm@{drive.REPO}",
                          infra["title"], "success")  # fmt: skip
    _follow(deploy, [asked, tried], timeout=timeout, started=started)
    asked_log, tried_log = job_log(asked), job_log(tried)
    checks: Checks = [
        (f"the {context} log names the infra revision",
         f"Tooling: {_clone_url(deploy, INFRA)} at {infra_sha}" in asked_log),
        ("... and ouro vm ran from it", TOOLING_LINE in asked_log),
        ("the infra PR's try tested the sample's default branch",
         f"Testing: {_clone_url(deploy, drive.REPO)}" in tried_log),
        ("... with the infra PR's tooling", infra_sha in tried_log and TOOLING_LINE in tried_log),
    ]  # fmt: skip
    return [asked, tried], checks


SCENARIOS = {"image-refresh": image_refresh, "infra-revision": infra_revision}
