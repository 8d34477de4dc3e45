"""The production manifests (containers/kube/): valid for every Kubernetes version we
support, as Kubernetes gets them and as the local pod; what an operator relies on in them;
and a broken manifest fails the check. No podman, no ports: no deployment lock needed."""

import shutil
from pathlib import Path

import pytest

from ouro.deploy import kubecheck, manifests


def test_every_manifest_validates_strictly(capsys: pytest.CaptureFixture[str]) -> None:
    assert kubecheck.main([]) == 0
    assert "0 problems" in capsys.readouterr().out


@pytest.mark.parametrize(
    "case",
    [
        ("webhook.yaml", "replicas: 2", 'replicas: "two"', "spec/replicas: 'two' is not of type"),
        # Strict: a misspelt field is an error, not silently dropped by the API server.
        ("bot.yaml", "readinessProbe:", "readynessProbe:", "readynessProbe"),
        ("config.yaml", "kind: ConfigMap", "kind: ConfigMapp", "no such kind in v1"),
    ],
)
def test_a_broken_manifest_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: tuple[str, str, str, str]
) -> None:
    file, old, new, reported = case
    kube = tmp_path / "kube"
    shutil.copytree(manifests.KUBE, kube)
    text = (kube / file).read_text()
    assert old in text
    (kube / file).write_text(text.replace(old, new, 1))
    assert kubecheck.main(["--kube", str(kube)]) == 1
    assert reported in capsys.readouterr().err


def workloads() -> dict[str, manifests.Manifest]:
    return {
        d["metadata"]["name"]: d for d in manifests.production() if d["kind"] in manifests.WORKLOADS
    }


def test_what_an_operator_relies_on() -> None:
    found = workloads()
    assert found["ouro-webhook"]["spec"]["replicas"] >= 2
    assert found["ouro-bot"]["spec"]["replicas"] == 1
    assert found["ouro-bot"]["spec"]["strategy"] == {"type": "Recreate"}
    assert found["ouro-broker"]["kind"] == "StatefulSet"
    for name, workload in found.items():
        for container in manifests.pod_spec(workload)["containers"]:
            assert {"readinessProbe", "livenessProbe"} <= set(container), name
            assert set(container["resources"]) == {"requests", "limits"}, name
            # By digest (filled in by the kustomization), never by a moving tag.
            assert "@sha256:" in container["image"], container["image"]
    text = "".join(p.read_text() for p in manifests.KUBE.glob("*.yaml"))
    assert ":latest" not in text


def test_the_local_pod_has_every_container_port_published_and_no_probes() -> None:
    *_, pod = manifests.local_pod(manifests.production())
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    assert list(containers) == ["broker", "webhook", "tasks", "worker", "images-server"]
    ports = {p["hostPort"] for c in containers.values() for p in c["ports"]}
    assert ports == {5671, 8081, 9101, 9102, 8080}
    assert not any(
        {"readinessProbe", "livenessProbe", "resources"} & set(c) for c in containers.values()
    )


def test_the_renderer_refuses_what_it_does_not_do(tmp_path: Path) -> None:
    kube = tmp_path / "kube"
    shutil.copytree(manifests.KUBE, kube)
    with (kube / "kustomization.yaml").open("a") as file:
        file.write("namePrefix: staging-\n")
    with pytest.raises(manifests.ManifestError, match="namePrefix"):
        manifests.production(kube)


def test_image_names_by_digest_tag_or_both() -> None:
    for image in (
        "ghcr.io/ouroboros-ci/ouro-app@sha256:" + "0" * 64,
        "ghcr.io/ouroboros-ci/ouro-app:v1",
        "localhost/ouro-app:abc@sha256:" + "1" * 64,
    ):
        assert manifests.image_name(image) == "app"
