"""Worker settings from the environment and the command line."""

from pathlib import Path

import pytest

from ouro.config import ConfigError
from tasks.worker.config import WorkerConfig, from_environment


def test_defaults_and_queues(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OURO_WORKER_CAPABILITIES", "OURO_WORKER_MODE", "CONTAINERS_CONF"):
        monkeypatch.delenv(name, raising=False)
    config = from_environment(name="w1")
    assert config.mode == "podman"
    assert config.queues == ["tasks"]
    assert config.rebase
    assert config.requeue_delay == 10.0


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OURO_WORKER_NAME", "host-3")
    monkeypatch.setenv("OURO_WORKER_CAPABILITIES", "kvm, big-disk,kvm")
    monkeypatch.setenv("OURO_WORKER_MEMORY", "8g")
    monkeypatch.setenv("OURO_WORKER_PIDS_LIMIT", "100")
    monkeypatch.setenv("OURO_WORKER_PODMAN_ARGS", "--network none --label 'a b'")
    monkeypatch.setenv("OURO_WORKER_SECRETS_DIR", str(tmp_path))
    monkeypatch.setenv("OURO_WORKER_GRACE", "30")
    monkeypatch.setenv("OURO_WORKER_REBASE", "no")
    monkeypatch.setenv("OURO_WORKER_REQUEUE_DELAY", "2.5")
    config = from_environment()
    assert config.name == "host-3"
    assert config.capabilities == ("kvm", "big-disk")
    assert config.queues == ["tasks", "tasks.kvm", "tasks.big-disk"]
    assert config.memory == "8g"
    assert config.pids_limit == 100
    assert config.podman_args == ("--network", "none", "--label", "a b")
    assert config.secrets_dir == tmp_path
    assert config.grace == 30.0
    assert not config.rebase
    assert config.requeue_delay == 2.5


def test_command_line_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OURO_WORKER_NAME", "from-env")
    monkeypatch.setenv("OURO_WORKER_CAPABILITIES", "kvm")
    monkeypatch.setenv("OURO_WORKER_MODE", "podman")
    config = from_environment(name="cli", capabilities=["gpu"], direct=True)
    assert (config.name, config.capabilities, config.mode) == ("cli", ("gpu",), "direct")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("OURO_WORKER_MODE", "docker", "worker mode must be one of podman, direct"),
        ("OURO_WORKER_CAPABILITIES", "KVM!", "invalid capability"),
        ("OURO_WORKER_GRACE", "soon", "OURO_WORKER_GRACE must be a number"),
        ("OURO_WORKER_REBASE", "maybe", "OURO_WORKER_REBASE must be true or false"),
        ("OURO_WORKER_PODMAN_ARGS", "'unterminated", "OURO_WORKER_PODMAN_ARGS"),
        ("CONTAINERS_CONF", "/nonexistent/containers.conf", "CONTAINERS_CONF names"),
        ("OURO_WORKER_NAME", "bad name", "worker name"),
    ],
)
def test_bad_settings_are_one_line_errors(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message):
        from_environment()


def test_negative_limits_refused() -> None:
    with pytest.raises(ConfigError):
        WorkerConfig(name="w", pids_limit=0)
    with pytest.raises(ConfigError, match="requeue delay"):
        WorkerConfig(name="w", requeue_delay=-1)
