"""Workflow jobs run here as on GitHub (ouro/deploy/workflow.py): act in a fresh runner
container, on a clean clone at HEAD. A small workflow shows the order of the steps, their
`env:` and expressions, the runner's user, and that a failing step ends the job with its
exit code; then the real `changes` job of pr.yml decides both ways. Real containers are the
point here; building the runner's base needs root (debootstrap), so these are deployment
tests: `make check` as root runs them, and in CI the `deployment` job (under sudo), not
`unit-tests` (as the runner user). No fixed ports."""

import io
from pathlib import Path

import pytest

from ouro.deploy import podman, workflow
from ouro.deploy.workflow import git

pytestmark = pytest.mark.deployment

WORKFLOW = """\
name: fixture
on: pull_request
jobs:
  steps:
    runs-on: ubuntu-24.04
    steps:
      - uses: actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683
      - name: First
        run: |
          echo "first ran as $(id -un), sudo as $(sudo id -un)"
          cat tracked.txt
          test ! -e untracked.txt && echo "a clean clone"
      - name: Second
        env:
          GREETING: hello from the step's env
          BASE: ${{ github.event.pull_request.base.sha }}
        run: |
          echo "second ran: $GREETING, base $BASE, PR ${{ github.event.pull_request.number }}"
      - name: Third fails
        run: |
          echo "third ran until its exit"
          exit 3
      - name: Never
        run: echo "the fourth step ran"
"""


def test_steps_run_in_order_with_their_env_and_a_failure_stops_the_job(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / ".github/workflows").mkdir(parents=True)
    (repo / ".github/workflows/fixture.yml").write_text(WORKFLOW)
    (repo / "tracked.txt").write_text("a tracked file\n")
    git("init", "--quiet", "--initial-branch=main", ".", cwd=repo)
    git("add", ".", cwd=repo)
    git("-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-qm", "x", cwd=repo)
    # Not committed: a clean clone, as GitHub checks out, does not have it.
    (repo / "untracked.txt").write_text("only in the working tree\n")
    out = io.StringIO()

    code = workflow.run_job(
        repo, ".github/workflows/fixture.yml", "steps", base_sha="b" * 40, pr=7, out=out
    )

    log = out.getvalue()
    assert code != 0, log
    first = log.index("first ran as runner, sudo as root")
    tracked = log.index("a tracked file")
    clean = log.index("a clean clone")
    second = log.index(f"second ran: hello from the step's env, base {'b' * 40}, PR 7")
    third = log.index("third ran until its exit")
    assert first < tracked < clean < second < third, log
    assert "exitcode '3': failure" in log, log
    assert "the fourth step ran" not in log
    assert "Run Main Never" not in log


def test_the_changes_job_of_pr_yml_tells_whether_images_change() -> None:
    head = git("rev-parse", "HEAD", cwd=podman.PROJECT)
    # The last commit that changed something that goes into an image, and the one before it.
    changed = git("log", "-1", "--format=%H", "--", "ouro/", cwd=podman.PROJECT)
    outputs = {}
    for base in (head, f"{changed}~1"):
        out = io.StringIO()
        code = workflow.run_job(
            podman.PROJECT, ".github/workflows/pr.yml", "changes", base_sha=base, out=out
        )
        assert code == 0, out.getvalue()
        outputs[base] = [line for line in out.getvalue().splitlines() if "::set-output::" in line]
    assert [line.split("::set-output::")[1].strip() for line in outputs[head]] == ["images=false"]
    assert "images=true" in outputs[f"{changed}~1"][0]
