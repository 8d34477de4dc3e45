"""`python -m ouro.deploy.kubecheck`: every manifest we ship, checked against the
Kubernetes API schemas of each version we support (kubernetes-validate, strict: an unknown
field is an error, not ignored). `make lint` runs it.

Checked: the production objects as the kustomization makes them, the same folded into the
local run's pod, and the mock GitHub's pod.
"""

import argparse
import sys
from pathlib import Path

import kubernetes_validate
import yaml

from ouro.deploy import containers, manifests

# The Kubernetes versions the manifests are meant for (docs/deployment.md).
VERSIONS = ("1.30.0", "1.31.0", "1.32.0", "1.33.0", "1.34.0", "1.35.0")
MOCK_GITHUB = containers.CONTAINERS / "mock-github.yaml"


def documents(kube: Path = manifests.KUBE) -> list[tuple[str, manifests.Manifest]]:
    """(where it comes from, object) for every object checked."""
    production = manifests.production(kube)
    local = manifests.local_pod(manifests.production(kube))
    mock = [d for d in yaml.safe_load_all(MOCK_GITHUB.read_text()) if d]
    return [
        *((f"{kube.name}/", d) for d in production),
        *((f"{kube.name}/ as the local pod", d) for d in local),
        *((MOCK_GITHUB.name, d) for d in mock),
    ]


def problems(
    docs: list[tuple[str, manifests.Manifest]], versions: tuple[str, ...] = VERSIONS
) -> list[str]:
    found = []
    for where, doc in docs:
        name = f"{where} {doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = "/".join(str(p) for p in error.path)
                found.append(f"{name} (Kubernetes {version}): {path}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError:
                found.append(
                    f"{name} (Kubernetes {version}): no such kind in {doc.get('apiVersion')}"
                )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kube", type=Path, default=manifests.KUBE, help="the kustomization")
    args = parser.parse_args(argv)
    docs = documents(args.kube)
    found = problems(docs)
    for line in found:
        print(line, file=sys.stderr)
    print(f"{len(docs)} objects, Kubernetes {', '.join(VERSIONS)}: {len(found)} problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
