"""Running commands: direct mode as processes; podman mode in a real container when possible."""

import re
import signal
import subprocess
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tasks.job import Job
from tasks.worker import vmhost
from tasks.worker.config import WorkerConfig
from tasks.worker.runner import (
    CommandNotFound,
    Control,
    DirectRunner,
    JobSpec,
    PodmanRunner,
    Runner,
    Stop,
    check_command,
)

SHA = "a" * 40
DIRECT = WorkerConfig(name="w", mode="direct")


def job(command: list[str], timeout: int = 60, **extra: object) -> Job:
    return Job(
        id="job-1",
        repo="owner/project",
        sha=SHA,
        context="unit-tests",
        command=command,
        image="localhost/ouro-test-job:latest",
        clone_url="http://127.0.0.1/owner/project.git",
        timeout=timeout,
        **extra,  # type: ignore[arg-type]
    )


def spec(tmp_path: Path, the_job: Job, secrets: dict[str, Path] | None = None) -> JobSpec:
    scratch = tmp_path / "scratch"
    for folder in ("source", "attachments"):
        (scratch / folder).mkdir(parents=True)
    return JobSpec(the_job, scratch / "source", scratch / "attachments", scratch, secrets or {})


class Collect:
    def __init__(self) -> None:
        self.data = b""
        self.lock = threading.Lock()

    def __call__(self, chunk: bytes) -> None:
        with self.lock:
            self.data += chunk

    def wait_for(self, text: bytes) -> None:
        for _ in range(600):
            with self.lock:
                if text in self.data:
                    return
            time.sleep(0.05)
        raise AssertionError(f"{text!r} never appeared in {self.data!r}")


def test_direct_streams_output_and_exit_code(tmp_path: Path) -> None:
    out = Collect()
    result = DirectRunner(DIRECT).run(
        spec(tmp_path, job(["sh", "-c", "echo out; echo err >&2; exit 3"])), out, Control()
    )
    assert result.exit_code == 3
    assert out.data == b"out\nerr\n"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        ([".ci/run"], "No .ci/run in the repository"),
        (["./run.sh"], "./run.sh is not executable"),
        (["dir/"], "No dir/ in the repository"),
    ],
)
def test_command_the_checkout_lacks_is_refused(
    tmp_path: Path, command: list[str], message: str
) -> None:
    the_spec = spec(tmp_path, job(command))
    (the_spec.source / "run.sh").write_text("#!/bin/sh\n")
    (the_spec.source / "dir").mkdir()
    with pytest.raises(CommandNotFound, match=f"^{re.escape(message)}$"):
        check_command(the_spec)


def test_commands_the_checkout_cannot_vouch_for_are_left_to_the_runner(tmp_path: Path) -> None:
    the_spec = spec(tmp_path, job(["sh", "-c", "true"]))
    check_command(the_spec)
    check_command(replace(the_spec, job=job(["/usr/bin/make"])))
    # A link may point at a file of the job's image that the worker's host lacks.
    (the_spec.source / "run").symlink_to("/opt/only-in-the-image/run")
    check_command(replace(the_spec, job=job(["./run"])))
    executable = the_spec.source / "ok.sh"
    executable.write_text("#!/bin/sh\n")
    executable.chmod(0o755)
    check_command(replace(the_spec, job=job(["./ok.sh"])))


def test_direct_command_not_found_is_the_changes_fault(tmp_path: Path) -> None:
    with pytest.raises(CommandNotFound, match=r"^Cannot run no-such-program: No such file"):
        DirectRunner(DIRECT).run(spec(tmp_path, job(["no-such-program"])), Collect(), Control())


def test_direct_environment_is_the_jobs_not_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "worker-only")
    secret = tmp_path / "token"
    secret.write_text("value")
    out = Collect()
    the_spec = spec(
        tmp_path,
        job(["sh", "-c", "env; cat $OURO_SECRETS/token"], env={"A": "1"}),
        {"token": secret},
    )
    result = DirectRunner(DIRECT).run(the_spec, out, Control())
    assert result.exit_code == 0
    assert b"GITHUB_TOKEN" not in out.data
    assert b"A=1\n" in out.data
    assert f"TEST_ATTACHMENTS={the_spec.attachments}\n".encode() in out.data
    assert out.data.endswith(b"value")


def test_direct_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    marker = tmp_path / "survivor"
    command = ["sh", "-c", f"(sleep 3; touch {marker}) & echo started; sleep 60"]
    out = Collect()
    result = DirectRunner(DIRECT).run(spec(tmp_path, job(command, timeout=1)), out, Control())
    assert result.exit_code is None
    assert result.timed_out
    time.sleep(3.5)
    assert not marker.exists()


def stop_after(out: Collect, control: Control, text: bytes, reason: Stop) -> threading.Thread:
    def stop() -> None:
        out.wait_for(text)
        control.stop(reason)

    thread = threading.Thread(target=stop)
    thread.start()
    return thread


def test_direct_stop_ends_a_job_that_ignores_sigterm(tmp_path: Path) -> None:
    out, control = Collect(), Control()
    stopper = stop_after(out, control, b"ready", Stop.CANCELLED)
    command = ["sh", "-c", "trap '' TERM; echo ready; sleep 60"]
    result = DirectRunner(DIRECT).run(spec(tmp_path, job(command)), out, control)
    stopper.join()
    assert result.exit_code is None
    assert result.stopped is Stop.CANCELLED
    assert not result.timed_out


def test_podman_command_line(tmp_path: Path) -> None:
    config = WorkerConfig(name="w", memory="2g", pids_limit=99, podman_args=("--network", "none"))
    secret = tmp_path / "token"
    the_job = job([".ci/run", "--fast"], env={"X": "y z"}, secrets=["token"])
    argv = PodmanRunner(config).command(spec(tmp_path, the_job, {"token": secret}))
    assert argv[:6] == ["podman", "run", "--init", "--rm", "--name", "ouro-job-job-1"]
    joined = " ".join(argv)
    assert "--memory 2g --pids-limit 99" in joined
    assert f"--volume {secret}:/run/secrets/token:ro,z" in joined
    assert "--env X=y z" in joined
    assert "--env TEST_ATTACHMENTS=/attachments" in joined
    assert argv[-5:] == ["--network", "none", "localhost/ouro-test-job:latest", ".ci/run", "--fast"]
    from_repository = replace(spec(tmp_path / "2", the_job), image="localhost/from-repo:1")
    assert PodmanRunner(config).command(from_repository)[-3] == "localhost/from-repo:1"


def test_jobs_are_told_about_the_host_in_both_modes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    config = WorkerConfig(
        name="w", mode="direct", images_url="http://images.test", image_cache=cache, vm_accel="tcg"
    )
    script = "echo $IMAGES_SERVER_URL $OURO_VM_ACCEL $OURO_VM_CACHE"
    out = Collect()
    result = DirectRunner(config).run(spec(tmp_path, job(["sh", "-c", script])), out, Control())
    assert result.exit_code == 0
    assert out.data == f"http://images.test tcg {cache}\n".encode()
    argv = PodmanRunner(replace(config, mode="podman")).command(spec(tmp_path / "2", job(["x"])))
    joined = " ".join(argv)
    assert f"--volume {cache}:{vmhost.CACHE_IN_JOB}:z" in joined
    assert f"--env OURO_VM_CACHE={vmhost.CACHE_IN_JOB}" in joined
    assert "--env IMAGES_SERVER_URL=http://images.test --env OURO_VM_ACCEL=tcg" in joined


def containers(env: dict[str, str]) -> list[str]:
    return subprocess.run(
        ["podman", "ps", "--all", "--format", "{{.Names}}"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()


@pytest.fixture
def podman_runner(podman_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Runner:
    for name in ("CONTAINERS_CONF",):
        if name in podman_env:
            monkeypatch.setenv(name, podman_env[name])
    return PodmanRunner(WorkerConfig(name="w", memory="256m"))


def test_podman_runs_in_a_container_and_removes_it(
    podman_runner: Runner, podman_env: dict[str, str], tmp_path: Path
) -> None:
    secret = tmp_path / "token"
    secret.write_text("container-secret")
    script = "cat /run/secrets/token; echo; pwd; echo x > $TEST_ATTACHMENTS/a; exit 4"
    the_spec = spec(tmp_path, job(["sh", "-c", script]), {"token": secret})
    out = Collect()
    result = podman_runner.run(the_spec, out, Control())
    assert out.data == b"container-secret\n/source\n"
    assert result.exit_code == 4
    assert (the_spec.attachments / "a").read_text() == "x\n"
    assert "ouro-job-job-1" not in containers(podman_env)


def test_podman_passes_the_kvm_device_into_the_job(podman_runner: Runner, tmp_path: Path) -> None:
    if not vmhost.KVM.exists():
        pytest.skip("this host has no /dev/kvm, so there is no device to pass to a job")
    out = Collect()
    command = ["sh", "-c", "test -c /dev/kvm && echo character device"]
    result = podman_runner.run(spec(tmp_path, job(command)), out, Control())
    assert out.data == b"character device\n"
    assert result.exit_code == 0


def test_podman_stop_removes_the_container(
    podman_runner: Runner, podman_env: dict[str, str], tmp_path: Path
) -> None:
    out, control = Collect(), Control()
    stopper = stop_after(out, control, b"ready", Stop.CANCELLED)
    command = ["sh", "-c", "trap '' TERM; echo ready; sleep 60"]
    result = podman_runner.run(spec(tmp_path, job(command)), out, control)
    stopper.join()
    assert result.stopped is Stop.CANCELLED
    assert "ouro-job-job-1" not in containers(podman_env)


def test_podman_timeout(podman_runner: Runner, podman_env: dict[str, str], tmp_path: Path) -> None:
    result = podman_runner.run(
        spec(tmp_path, job(["sleep", "60"], timeout=2)), Collect(), Control()
    )
    assert result.timed_out
    assert "ouro-job-job-1" not in containers(podman_env)


def test_direct_job_gets_default_signal_dispositions_under_the_guard(tmp_path: Path) -> None:
    """Python ignores SIGPIPE; the guard (tasks/worker/guard.py) must not pass that on, or
    `producer | head` in a job would never end its producer."""
    out = Collect()
    command = ["sh", "-c", "grep -E '^Sig(Ign|Cgt)' /proc/$$/status; yes | head -n 1"]
    result = DirectRunner(DIRECT).run(spec(tmp_path, job(command, timeout=20)), out, Control())
    assert result.exit_code == 0
    ignored = int(re.search(rb"SigIgn:\t([0-9a-f]+)", out.data).group(1), 16)  # type: ignore[union-attr]
    assert not ignored & (1 << (signal.SIGPIPE - 1))
    assert out.data.endswith(b"y\n")
