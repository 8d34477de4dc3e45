"""GitHub's own descriptions of its API, fetched once from npm and cached under `.local/`.

`@octokit/openapi` (the REST API's OpenAPI description) and `@octokit/webhooks-schemas`
(a JSON schema per webhook event and action) are pinned below with the sha512 integrity
the registry published for them. A tarball is downloaded only when `.local/npm/` lacks it;
its integrity is checked against the pin (and the pin against the registry's metadata)
before one file is extracted from it. Without network and without a cached copy the tests
that need them fail, saying so: npm is reachable where the checks run, and a skipped check
would let a shape go unchecked.
"""

import base64
import hashlib
import json
import tarfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests

REGISTRY = "https://registry.npmjs.org"
CACHE = Path(__file__).resolve().parents[2] / ".local" / "npm"


@dataclass(frozen=True)
class NpmPackage:
    name: str
    version: str
    integrity: str  # the registry's dist.integrity: sha512-BASE64

    @property
    def tarball(self) -> Path:
        return CACHE / f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def url(self) -> str:
        short = self.name.rsplit("/", 1)[-1]
        return f"{REGISTRY}/{self.name}/-/{short}-{self.version}.tgz"


OPENAPI = NpmPackage(
    "@octokit/openapi",
    "23.0.2",
    "sha512-pV8M7L9GY23AybNvTmo2nyjmpmnt6+2sRE/tqr0ZLQcPS4lnw7u5eZGNmwRNkBC3D7gZXbFx5AHzLUVRBXGDhg==",
)
WEBHOOKS = NpmPackage(
    "@octokit/webhooks-schemas",
    "7.6.1",
    "sha512-qW0Bwtb76r4m2WzVhKDyfEeEnt1GEQoRjkCqmq2ZeB0nNVDJ+Z2LBDS9FDPyduuMXf/ZTWiCJp9PFFHgRfBe3A==",
)


def _integrity(path: Path) -> str:
    digest = hashlib.sha512()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return "sha512-" + base64.b64encode(digest.digest()).decode()


def _download(package: NpmPackage) -> None:
    try:
        meta = requests.get(
            f"{REGISTRY}/{package.name.replace('/', '%2f')}/{package.version}", timeout=60
        )
        meta.raise_for_status()
        published = meta.json()["dist"]["integrity"]
        if published != package.integrity:
            pytest.fail(f"{package.name}@{package.version}: the registry says {published}")
        partial = package.tarball.with_suffix(".part")
        CACHE.mkdir(parents=True, exist_ok=True)
        with requests.get(package.url, timeout=300, stream=True) as answer:
            answer.raise_for_status()
            with partial.open("wb") as f:
                for block in answer.iter_content(1 << 20):
                    f.write(block)
    except requests.ConnectionError as error:
        pytest.fail(
            f"{package.name}@{package.version} is not cached and npm is unreachable: {error}"
        )
    got = _integrity(partial)
    if got != package.integrity:
        partial.unlink()
        pytest.fail(f"{package.url}: integrity {got}, expected {package.integrity}")
    partial.rename(package.tarball)


def package_file(package: NpmPackage, member: str) -> Path:
    """`member` (e.g. `schema.json`) of the package, extracted from the verified tarball."""
    target = CACHE / f"{package.tarball.name.removesuffix('.tgz')}" / member
    if target.exists():
        return target
    if not package.tarball.exists():
        _download(package)
    got = _integrity(package.tarball)
    if got != package.integrity:
        pytest.fail(f"{package.tarball}: integrity {got}, expected {package.integrity}")
    with tarfile.open(package.tarball) as archive:
        source = archive.extractfile(f"package/{member}")
        assert source is not None, member
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        partial.write_bytes(source.read())
        partial.rename(target)
    return target


@cache
def openapi() -> dict[str, Any]:
    """The description of api.github.com (OpenAPI 3.0), `$ref`s unresolved."""
    data: dict[str, Any] = json.loads(
        package_file(OPENAPI, "generated/api.github.com.json").read_text()
    )
    return data


@cache
def webhook_schemas() -> dict[str, Any]:
    """One JSON schema (draft 7) with a definition per `event$action` (or `event$event`)."""
    data: dict[str, Any] = json.loads(package_file(WEBHOOKS, "schema.json").read_text())
    return data
