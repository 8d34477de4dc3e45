"""Which VM queues a worker serves: `kvm` only after a probe boot under KVM succeeded,
`vm` always (TCG runs anywhere), and its jobs are told which accelerator to use."""

import subprocess
from dataclasses import replace

import pytest

from ouro import amqp, queues
from tasks.worker import vmhost
from tasks.worker.config import WorkerConfig
from tests.worker import test_acceptance
from tests.worker.helpers import queue_depth
from tests.worker.test_acceptance import OURO, Stack

# The acceptance tests' fixture: worker processes with a real broker, GitHub and store.
stack = test_acceptance.stack
DIRECT = WorkerConfig(name="w", mode="direct", capabilities=("kvm", "vm"))


def kvm_works_here() -> bool:
    return subprocess.run([OURO, "vm", "probe"], capture_output=True, check=False).returncode == 0


def test_without_an_image_to_probe_in_kvm_is_not_served() -> None:
    podman = replace(DIRECT, mode="podman", vm_image="")
    settled = vmhost.settle(podman)
    assert settled.capabilities == ("vm",)
    assert settled.vm_accel == "tcg"
    assert "tasks.kvm" not in settled.queues
    assert "tasks.vm" in settled.queues


def test_a_worker_without_vm_capabilities_is_left_as_it_is() -> None:
    plain = replace(DIRECT, capabilities=("big-disk",))
    assert vmhost.settle(plain) == plain


def test_the_probe_decides_in_direct_mode(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("INFO", logger="tasks.worker.vmhost")
    settled = vmhost.settle(DIRECT)
    if kvm_works_here():
        assert settled.capabilities == ("kvm", "vm")
        assert settled.vm_accel == "kvm"
        assert "KVM probe: usable" in caplog.text
    else:
        assert settled.capabilities == ("vm",)
        assert settled.vm_accel == "tcg"
        assert "KVM probe: not usable" in caplog.text


def test_a_kvm_job_never_lands_on_a_worker_whose_probe_failed(stack: Stack) -> None:
    if kvm_works_here():
        pytest.skip("KVM works on this host, so its worker rightly serves kvm jobs")
    # Route both capabilities' queues before the worker (which declares only its own) runs.
    connection = amqp.connect(stack.rabbitmq.url)
    queues.declare(connection.channel(), (None, "kvm", "vm"))
    connection.close()
    stack.worker("vm-host", "--direct", "--capability", "kvm", "--capability", "vm")
    kvm_job = stack.job(capability="kvm", command=["sh", "-c", "echo ran"])
    vm_job = stack.job(capability="vm", command=["sh", "-c", "echo accel=$OURO_VM_ACCEL"])
    assert stack.final(vm_job)[0] == "success"
    assert b"accel=tcg" in stack.file(vm_job, "log")
    # Served after the kvm job was queued: had the worker consumed tasks.kvm, it would
    # have taken that job too. It is still waiting for a worker whose probe succeeded.
    assert queue_depth(stack.rabbitmq, "tasks.kvm") == (1, 0)
    assert stack.statuses(kvm_job) == []
    log = (stack.logs / "vm-host.log").read_text()
    assert "KVM probe: not usable" in log
