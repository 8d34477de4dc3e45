"""The objects the kind job applies (ouro/deploy/kind.py): valid for every Kubernetes
version we support, strictly, and the production objects but for what kind must change.
The job itself runs only on GitHub's runners (docs/deployment.md, "Workflows")."""

from ouro.deploy import kind, kubecheck, manifests

IMAGES = {
    "app": "localhost/ouro-app:0123456789abcdef",
    "broker": "localhost/ouro-broker:0123456789abcdef",
    "job": "localhost/ouro-job:0123456789abcdef",
}


def test_the_kind_objects_validate_strictly() -> None:
    docs = kind.overlay(IMAGES)
    assert kubecheck.problems([("kind", d) for d in docs]) == []


def test_the_kind_objects_are_production_with_local_images_and_the_mock() -> None:
    production = {(d["kind"], d["metadata"]["name"]): d for d in manifests.production()}
    docs = {(d["kind"], d["metadata"]["name"]): d for d in kind.overlay(IMAGES)}
    assert set(docs) - set(production) == {
        ("Deployment", "ouro-mock-github"), ("Service", "ouro-mock-github"),
    }  # fmt: skip
    text = str(docs)
    assert "ghcr.io" not in text
    for (what, name), doc in docs.items():
        if what in manifests.WORKLOADS:
            for container in manifests.pod_spec(doc)["containers"]:
                assert container["image"] in IMAGES.values()
                before = production.get((what, name))
                if before is not None:  # probes and resources as in production
                    (same,) = [
                        c for c in manifests.pod_spec(before)["containers"]
                        if c["name"] == container["name"]
                    ]  # fmt: skip
                    for key in ("readinessProbe", "livenessProbe", "resources"):
                        assert container.get(key) == same.get(key)
    assert docs["Deployment", "ouro-webhook"]["spec"]["replicas"] >= 2
    config = docs["ConfigMap", "ouro-config"]["data"]
    assert config["GITHUB_API_URL"] == "http://ouro-mock-github:8090"
    assert IMAGES["job"] in docs["ConfigMap", "ouro-testmap"]["data"]["testmap.yaml"]
