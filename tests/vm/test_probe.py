"""The KVM probe: bounded, with a reason, and right about TCG, where we can check it."""

import os
import time
from pathlib import Path

import pytest

from ouro.config import ConfigError
from tests.vm.conftest import BuiltImage, require_qemu, start_vm, vm_env
from vm.probe import TIMEOUT, choose_accelerator, probe


def test_the_probe_answers_within_its_bound(vm_image: BuiltImage) -> None:
    started = time.monotonic()
    result = probe(vm_image.files.kernel)
    elapsed = time.monotonic() - started
    print(f"KVM probe here: {result}")
    assert elapsed < TIMEOUT + 1
    assert result.reason
    if os.path.exists("/dev/kvm") and not result.usable:
        # These machines' /dev/kvm is broken nested emulation: the "no" comes fast.
        assert "QEMU" in result.reason or "within" in result.reason


def test_a_kernel_that_boots_is_a_yes(vm_image: BuiltImage) -> None:
    """The "yes" path, proven under TCG: the kernel reaches its root-fs panic."""
    result = probe(vm_image.files.kernel, accel="tcg", timeout=60)
    assert result.usable, result
    assert result.reason == "a kernel booted under tcg"


def test_a_guest_that_does_not_get_there_in_time_is_a_no(vm_image: BuiltImage) -> None:
    started = time.monotonic()
    result = probe(vm_image.files.kernel, accel="tcg", timeout=0.5)
    assert not result.usable
    assert result.reason == "no kernel panic within 0.5 s"
    assert time.monotonic() - started < 2


def test_no_device_no_permission_no_kernel_are_an_instant_no(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kernel = tmp_path / "vmlinuz"
    kernel.write_bytes(b"not really")
    result = probe(kernel, device=str(tmp_path / "kvm"))
    assert (result.usable, result.reason) == (False, f"{tmp_path}/kvm does not exist")
    assert result.seconds < 0.1
    device = tmp_path / "fake-kvm"
    device.touch()
    monkeypatch.setattr(os, "access", lambda path, mode: str(path) != str(device))
    result = probe(kernel, device=str(device))
    assert "no permission to open" in result.reason
    monkeypatch.undo()
    assert "no kernel to boot" in probe(None, device=str(device)).reason


def test_the_accelerator_for_a_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OURO_VM_ACCEL", "kvm")
    assert choose_accelerator(None) == ("kvm", "OURO_VM_ACCEL=kvm")
    monkeypatch.setenv("OURO_VM_ACCEL", "tcg")
    assert choose_accelerator(None) == ("tcg", "OURO_VM_ACCEL=tcg")
    monkeypatch.setenv("OURO_VM_ACCEL", "fast")
    with pytest.raises(ConfigError, match="OURO_VM_ACCEL must be kvm or tcg"):
        choose_accelerator(None)
    monkeypatch.delenv("OURO_VM_ACCEL")
    accel, why = choose_accelerator(None)
    assert (accel, why.startswith("KVM probe: no: ")) == ("tcg", True)


def test_the_probe_command(vm_image: BuiltImage) -> None:
    require_qemu()
    verdict = probe(vm_image.files.kernel)
    process = start_vm("probe", "--kernel", str(vm_image.files.kernel), env=vm_env())
    stdout, _ = process.communicate(timeout=30)
    assert process.returncode == (0 if verdict.usable else 1)
    assert stdout.startswith("yes: " if verdict.usable else "no: ")
    assert stdout.count("\n") == 1
