"""`python -m ouro.deploy.kind render|scenario`: the production manifests on a kind cluster
(.ci/kind-scenario, the `kind` job of .github/workflows/pr.yml), and the PR scenario there.

`render` prints the objects `kubectl apply -k containers/kube` makes (manifests.production),
changed only where a cluster without GitHub or a registry must differ: the images are the
ones built here and loaded into kind, GitHub is the mock (a Deployment and Service of its
own, from containers/mock-github.yaml), the test map runs the sample's `unit-tests`, and
one worker. Probes, resources, replicas of the receiver, volumes and Secrets' names stay as
in production. `scenario` opens the sample's two pull requests in the mock (through a
port-forward) and follows the `unit-tests` statuses the deployment posts until both are
final: the passing PR must end `success`, the breaking one `failure`.
"""

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from mock_github.control import MockGitHubControl
from ouro.deploy import containers, drive, local, localpod, manifests

MOCK = "ouro-mock-github"
MOCK_GITHUB = containers.CONTAINERS / "mock-github.yaml"
MOCK_PORT = 8090
CONTEXT = "unit-tests"
# In-cluster addresses, by the Services' names (the broker's certificate names ouro-broker).
VALUES = {
    "GITHUB_API_URL": f"http://{MOCK}:{MOCK_PORT}",
    "IMAGES_SERVER_URL": "http://ouro-images-server:8080",
}
WORKERS = 1
LABELS = {"app.kubernetes.io/name": MOCK, "app.kubernetes.io/part-of": "ouroboros"}


def _testmap(job_image: str) -> str:
    """The local run's test map with only the sample's `unit-tests` context."""
    testmap = yaml.safe_load(local.LOCAL_TESTMAP.read_text())
    testmap["defaults"]["image"] = job_image
    testmap["repos"] = {drive.REPO: {"main": {CONTEXT: {}}}}
    for section in ("images", "infra"):
        testmap.pop(section, None)
    return yaml.safe_dump(testmap, sort_keys=False)


def _mock_github(app_image: str) -> list[manifests.Manifest]:
    """containers/mock-github.yaml's pod as a Deployment and a Service, in-cluster URLs."""
    (pod,) = [d for d in yaml.safe_load_all(MOCK_GITHUB.read_text()) if d]
    spec = copy.deepcopy(pod["spec"])
    spec.pop("restartPolicy", None)  # a Deployment's pods always restart
    (container,) = spec["containers"]
    container["image"] = app_image
    args: list[str] = container["args"]
    args[args.index("--public-url") + 1] = VALUES["GITHUB_API_URL"]
    args[args.index("--webhook-url") + 1] = "http://ouro-webhook:8081/"
    for port in container["ports"]:
        port.pop("hostPort", None)
    meta = {"name": MOCK, "labels": LABELS}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": MOCK}},
                "template": {"metadata": {"labels": LABELS}, "spec": spec},
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "selector": {"app.kubernetes.io/name": MOCK},
                "ports": [{"name": "http", "port": MOCK_PORT, "targetPort": MOCK_PORT}],
            },
        },
    ]


def overlay(images: dict[str, str], kube: Path = manifests.KUBE) -> list[manifests.Manifest]:
    """The production objects for kind, `images` mapping `app`, `broker`, `job` to the
    references built here."""
    docs = manifests.production(kube)
    for doc in docs:
        name = doc["metadata"]["name"]
        if doc["kind"] == "ConfigMap" and name == "ouro-config":
            doc["data"].update(VALUES)
        elif doc["kind"] == "ConfigMap" and name == "ouro-testmap":
            doc["data"]["testmap.yaml"] = _testmap(images["job"])
        elif doc["kind"] in manifests.WORKLOADS:
            if name == "ouro-worker":
                doc["spec"]["replicas"] = WORKERS
            for container in manifests.pod_spec(doc)["containers"]:
                container["image"] = images[manifests.image_name(container["image"])]
                _set_job_image(container, images["job"])
    return [*docs, *_mock_github(images["app"])]


def _set_job_image(container: dict[str, Any], job_image: str) -> None:
    for variable in container.get("env", []):
        if variable.get("value", "").startswith(localpod.PRODUCTION_IMAGES + "job"):
            variable["value"] = job_image


def scenario(api: str, token: str, timeout: float) -> bool:
    """The sample's PRs through the deployment; True if each ended as expected."""
    started = time.monotonic()
    with MockGitHubControl(api) as control:
        control.create_repo(drive.REPO, files=drive.sample_files(), user="ouro-demo")
        outcomes = drive.open_sample_prs(control, contexts={CONTEXT})
    with drive.github_session(token) as session:
        try:
            drive.follow(api, outcomes, timeout=timeout, started=started, session=session)
        except TimeoutError as error:
            print(error, file=sys.stderr)
    return drive.summary(outcomes, started)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    render = sub.add_parser("render", help="print the objects to apply (YAML)")
    render.add_argument(
        "--image", action="append", default=[], metavar="NAME=REF",
        help="the built image for app, broker and job (as `ouro containers refs` prints)",
    )  # fmt: skip
    run = sub.add_parser("scenario", help="the sample's PRs through the deployment")
    run.add_argument("--api", default=f"http://127.0.0.1:{MOCK_PORT}", help="the mock GitHub")
    run.add_argument("--token-file", type=Path, required=True, help="its token (secrets DIR)")
    run.add_argument("--timeout", type=float, default=900, help="seconds to wait for statuses")
    args = parser.parse_args(argv)
    if args.action == "render":
        images = dict(item.split("=", 1) for item in args.image)
        missing = {"app", "broker", "job"} - set(images)
        if missing:
            parser.error(f"--image missing for {', '.join(sorted(missing))}")
        yaml.safe_dump_all(overlay(images), sys.stdout, sort_keys=False)
        return 0
    token = args.token_file.read_text().strip()
    return 0 if scenario(args.api, token, args.timeout) else 1


if __name__ == "__main__":
    sys.exit(main())
