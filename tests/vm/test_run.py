"""`ouro vm run` on the session's image under TCG: output, exit codes, and every way a run
ends leaving no QEMU and no file behind."""

import signal
import subprocess
import time
from pathlib import Path

import pytest

from ouro.store import file_sha256
from tests.vm.conftest import BuiltImage, Console, alive, qemu_children, start_vm, vm_env
from vm.probe import probe
from vm.run import EXIT_TIMEOUT, EXIT_VM_FAILED, RunSpec, run

# Generous for a loaded machine: a boot takes 5-12 s under TCG here.
BOOT = 60


def _run(image: BuiltImage, argv: list[str], accel: str = "tcg") -> tuple[int, list[str]]:
    console: list[str] = []
    result = run(RunSpec(image=image.files, argv=argv, accel=accel), console=console.append)
    return result.exit_code, console


def test_output_exit_code_copy_in_and_out(
    vm_image: BuiltImage, tmp_path: Path, run_dir: Path
) -> None:
    job = tmp_path / "job"
    (job / "sub").mkdir(parents=True)
    (job / "sub" / "hello.txt").write_text("hello from the host\n")
    out = tmp_path / "out"
    script = (
        'echo "in $PWD"; cat sub/hello.txt; cat /etc/ouro-test /etc/ouro-test-argv; '
        'echo "V=$V"; echo "made in the guest" > "$OURO_RESULTS/report.txt"; exit 0'
    )
    process = start_vm(
        "run",
        str(vm_image.files.qcow2),
        "--copy-in",
        str(job),
        "--copy-out",
        str(out),
        "--env",
        "V=two words",
        "--",
        "sh",
        "-c",
        script,
        env=vm_env(OURO_VM_TMPDIR=str(run_dir)),
    )
    stdout, stderr = process.communicate(timeout=BOOT)
    assert process.returncode == 0, stderr
    lines = stdout.splitlines()
    expected = [
        "in /job",
        "hello from the host",
        "made by the recipe",
        "an argv, quoted: $x",
        "V=two words",
        "ouro-vm: exit code 0",
    ]
    assert [line for line in lines if line in expected] == expected
    assert (out / "report.txt").read_text() == "made in the guest\n"
    # One line saying which accelerator and why, one for the result.
    assert "accelerator: tcg (OURO_VM_ACCEL=tcg)" in stderr
    assert "exit code 0 after" in stderr
    assert list(run_dir.iterdir()) == []


def test_a_failing_command_gives_its_exit_code(vm_image: BuiltImage) -> None:
    code, console = _run(vm_image, ["sh", "-c", "echo about to fail >&2; exit 7"])
    assert code == 7
    assert "about to fail" in console
    code, console = _run(vm_image, ["no-such-command"])
    assert code == 127
    assert any("no-such-command: not found" in line for line in console)


def test_a_guest_that_ends_without_a_result(vm_image: BuiltImage) -> None:
    code, console = _run(vm_image, ["sh", "-c", "echo o > /proc/sysrq-trigger; sleep 30"])
    assert code == EXIT_VM_FAILED
    assert not any(line.startswith("ouro-vm: exit code") for line in console)


def test_the_base_image_is_never_written(vm_image: BuiltImage) -> None:
    before = vm_image.files.qcow2.stat().st_mtime_ns
    code, _ = _run(
        vm_image,
        ["sh", "-c", "dd if=/dev/zero of=/var/tmp/big bs=1M count=32 && rm -rf /usr/share && sync"],
    )
    assert code == 0
    assert file_sha256(vm_image.files.qcow2) == vm_image.sha256
    assert vm_image.files.qcow2.stat().st_mtime_ns == before


def _start_sleeper(
    image: BuiltImage, run_dir: Path, *options: str
) -> tuple["subprocess.Popen[str]", Console, list[int]]:
    process = start_vm(
        "run",
        str(image.files.qcow2),
        *options,
        "--",
        "sh",
        "-c",
        "echo started; sleep 1000",
        env=vm_env(OURO_VM_TMPDIR=str(run_dir)),
    )
    console = Console(process)
    console.wait_for("started", BOOT)
    qemus = qemu_children(process.pid)
    assert len(qemus) == 1
    return process, console, qemus


def _gone(pids: list[int], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not any(alive(pid) for pid in pids):
            return True
        time.sleep(0.05)
    return False


def test_a_hanging_guest_is_killed_at_the_timeout(vm_image: BuiltImage, run_dir: Path) -> None:
    started = time.monotonic()
    process, console, qemus = _start_sleeper(vm_image, run_dir, "--timeout", "30")
    log = console.finish(BOOT)
    elapsed = time.monotonic() - started
    assert process.returncode == EXIT_TIMEOUT
    assert 30 <= elapsed < 40
    assert "timeout: no result after 30 s; QEMU killed" in log
    assert _gone(qemus, 1)
    assert list(run_dir.iterdir()) == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_cancel_kills_qemu_within_seconds(
    vm_image: BuiltImage, run_dir: Path, signum: signal.Signals
) -> None:
    process, console, qemus = _start_sleeper(vm_image, run_dir)
    sent = time.monotonic()
    process.send_signal(signum)
    log = console.finish(10)
    assert process.returncode == 128 + signum
    assert _gone(qemus, 1)
    assert time.monotonic() - sent < 3
    assert list(run_dir.iterdir()) == []
    assert "cancelled; QEMU killed" in log


def test_sigkill_of_ouro_vm_run_takes_qemu_along(vm_image: BuiltImage, run_dir: Path) -> None:
    process, console, qemus = _start_sleeper(vm_image, run_dir)
    process.kill()
    console.finish(10)
    # PR_SET_PDEATHSIG: the kernel kills QEMU; its disks were deleted before it started.
    assert _gone(qemus, 2)
    assert list(run_dir.iterdir()) == []


def test_under_kvm_when_it_works(vm_image: BuiltImage) -> None:
    verdict = probe(vm_image.files.kernel)
    if not verdict.usable:
        pytest.skip(f"KVM does not work here, so nothing to run under it: {verdict}")
    code, console = _run(vm_image, ["sh", "-c", "echo under kvm"], accel="kvm")
    assert code == 0
    assert "under kvm" in console
