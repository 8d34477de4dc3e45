"""What a tenant (ouro/deploy/tenant.py) renders: its name checked at the boundary, its test
map with suffixed contexts that the bot accepts and `/test` finds by name, and its pods with
names, volumes and host ports of their own and no broker or images-server. No podman, no
ports: no deployment lock needed."""

import argparse
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ouro.config import ConfigError
from ouro.deploy import localpod, localrun, manifests, tenant
from ouro.deploy.local import Deployment, available_components
from tasks import tasklines, testmap


@pytest.mark.parametrize("name", ["", "Alice", "al-ice", "1alice", "a" * 17, "al ice", "../x"])
def test_a_tenant_name_is_a_short_lowercase_identifier(name: str) -> None:
    with pytest.raises(ConfigError):
        tenant.tenant_name(name)
    with pytest.raises(argparse.ArgumentTypeError):
        localrun.tenant_name(name)


def test_the_tenants_test_map_suffixes_every_context_and_stays_valid(tmp_path: Path) -> None:
    deploy = Deployment(tmp_path)
    deploy.state.images["job"] = "localhost/ouro-job:0123"
    rendered = testmap.parse(tenant.suffixed_testmap(deploy.local_testmap(), "alice"))
    names = [c.name for c in rendered.contexts("ouro-demo/sample", "main")]
    assert names == ["unit-tests@alice", "vm@alice", "browser@alice"]
    assert rendered.infra is not None
    assert rendered.infra.tries == {"ouro-demo/sample": ("vm@alice",)}
    # `/test unit-tests@alice` names a context, not a revision; a revision still parses.
    assert tasklines.context_request("unit-tests@alice").target is None
    request = tasklines.context_request("vm@alice@infra#3")
    assert (request.context, request.target) == ("vm@alice", tasklines.InfraPull(3))


@pytest.fixture
def rendered(tmp_path: Path) -> tuple[tenant.Tenant, list[dict[str, Any]]]:
    shared = Deployment(tmp_path / "deploy")
    shared.state.host = "192.0.2.7"
    shared.state.images = {"app": "localhost/ouro-app:1", "job": "localhost/ouro-job:2"}
    shared.state.components = available_components()
    own = tenant.Tenant("alice", shared)
    own.state = shared.state
    own.host_ports = {8081: 41001, 9101: 41002, 9102: 41003, 8090: 41004}
    own.root.mkdir(parents=True)
    docs = own._pod_documents() + localpod.load(tenant.MOCK_GITHUB)
    return own, own._owned(localpod.localize(own, docs, "repos: {}\n"))


def test_the_tenants_pods_are_its_own(rendered: tuple[tenant.Tenant, list[Any]]) -> None:
    own, docs = rendered
    assert own.root == own.shared.root.parent / "tenants" / "alice"
    pods = {d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Pod"}
    assert list(pods) == ["tenant-alice", "tenant-alice-mock-github"]
    containers = {c["name"]: c for spec in pods.values() for c in spec["containers"]}
    assert sorted(containers) == ["mock-github", "tasks", "webhook", "worker"]
    assert sorted(p["hostPort"] for c in containers.values() for p in c["ports"]) == [
        41001, 41002, 41003, 41004
    ]  # fmt: skip
    # Every config map and claim (podman makes volumes of them) carries the tenant's name.
    named = [d["metadata"]["name"] for d in docs if d["kind"] != "Pod"]
    assert sorted(named) == [
        "tenant-alice-bot-state",
        "tenant-alice-config",
        "tenant-alice-testmap",
    ]
    refs = yaml.safe_dump(docs)
    assert "ouro-config" not in refs
    assert "ouro-bot-state" not in refs
    config = next(d["data"] for d in docs if d["metadata"]["name"] == "tenant-alice-config")
    assert config["AMQP_URL"] == "amqps://192.0.2.7:5671/tenant-alice"
    assert config["IMAGES_SERVER_URL"] == "http://192.0.2.7:8080"
    assert config["GITHUB_API_URL"] == "http://192.0.2.7:41004"
    args = containers["mock-github"]["args"]
    assert args[args.index("--webhook-url") + 1] == "http://192.0.2.7:41001/"
    # Secrets and same-path folders are the tenant's, never the shared deployment's.
    paths = [v["hostPath"]["path"] for s in pods.values() for v in s["volumes"] if "hostPath" in v]
    assert all(p.startswith(str(own.root)) or p == "/dev/kvm" for p in paths), paths
    assert manifests.POD not in pods


def test_a_tenant_needs_the_shared_deployment_up(tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "ouro", "local", "run", "--tenant", "carol",
            "--deployment", str(tmp_path / "deploy")]  # fmt: skip
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert "is not up: start it first with `./run-local.sh -i`" in result.stderr + result.stdout
