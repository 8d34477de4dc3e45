"""Building the deployment's images, each only when its inputs changed.

Images: `base` (Debian from the mirror via debootstrap, or `BASE_IMAGE` from a registry),
`broker`, `app` (every `ouro` component) and `job` (the default job image), from
`containers/<name>.Containerfile`. Each image's inputs — its Containerfile, its parent's
tag, and for `app` the project's source and the pinned versions of its dependencies —
are hashed into its tag (`localhost/ouro-<name>:<hash>`), so an unchanged image is
found by name and never rebuilt.

The app image installs wheels built here on the host (`pip wheel`) for exactly the
versions installed in the environment running this code — the ones the tests used —
because builds cannot reach PyPI on every host (docs/deployment.md).
"""

import argparse
import hashlib
import importlib.metadata
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ouro.config import ConfigError
from ouro.deploy import podman

log = logging.getLogger(__name__)

CONTAINERS = podman.PROJECT / "containers"
DIST = "ouroboros-ci"
# What the app image is built from: the packages and the metadata that setuptools reads.
SOURCES = (
    "ouro",
    "webhook",
    "tasks",
    "images-server",
    "mock-github",
    "vm",
    "pyproject.toml",
    "README.md",
)
SKIP_PARTS = {"__pycache__", ".mypy_cache", "build"}
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = os.environ.get("DEBIAN_MIRROR", "http://deb.debian.org/debian")
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
LABEL = "org.ouroboros.inputs"
IMAGES = ("broker", "app", "job")
# The images that install this project: every component (app), and `ouro vm` for jobs (job).
WITH_OURO = ("app", "job")


@dataclass(frozen=True)
class Built:
    name: str
    ref: str
    built: bool
    seconds: float


def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()[:16]


def source_files(root: Path = podman.PROJECT) -> list[Path]:
    files: list[Path] = []
    for name in SOURCES:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(
                p
                for p in sorted(path.rglob("*"))
                if p.is_file()
                and not SKIP_PARTS & set(p.relative_to(root).parts)
                and not any(part.endswith(".egg-info") for part in p.parts)
                and p.suffix != ".pyc"
            )
    return files


def runtime_requirements(dist: str = DIST) -> list[str]:
    """`name==version` for every runtime dependency of `dist`, transitively, as installed
    in this environment (extras followed, test extras left out)."""
    # Only the host that builds images needs packaging (pip's and pytest's dependency).
    from packaging.requirements import Requirement  # noqa: PLC0415
    from packaging.utils import canonicalize_name  # noqa: PLC0415

    pins: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(dist, frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            raise ConfigError(
                f"{name} is not installed here: run `make .venv/.installed`"
            ) from None
        for text in requires:
            req = Requirement(text)
            wanted = ({"extra": e} for e in (extras or {""}))
            if req.marker is not None and not any(req.marker.evaluate(env) for env in wanted):
                continue
            key = canonicalize_name(req.name)
            pins[key] = importlib.metadata.version(req.name)
            todo.append((req.name, frozenset(req.extras)))
    return [f"{name}=={version}" for name, version in sorted(pins.items())]


def _pip(*args: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigError(f"pip {args[0]} failed: {result.stderr.strip()[-2000:]}")


def build_wheels(into: Path, requirements: list[str]) -> None:
    """The project's wheel and its dependencies' wheels in `into`, with requirements.txt."""
    deps = podman.STATE / "wheels" / _digest(r.encode() for r in requirements)
    if not (deps / ".complete").exists():
        log.info("building dependency wheels (%d packages)", len(requirements))
        deps.mkdir(parents=True, exist_ok=True)
        (deps / "requirements.txt").write_text("\n".join(requirements) + "\n")
        _pip("wheel", "--quiet", "--wheel-dir", str(deps), "-r", str(deps / "requirements.txt"))
        (deps / ".complete").touch()
    into.mkdir(parents=True)
    for wheel in deps.glob("*.whl"):
        os.link(wheel, into / wheel.name)
    _pip("wheel", "--quiet", "--no-deps", "--wheel-dir", str(into), str(podman.PROJECT))
    version = importlib.metadata.version(DIST)
    (into / "requirements.txt").write_text("\n".join([f"{DIST}=={version}", *requirements]) + "\n")


def _base_tag() -> tuple[str, list[bytes]]:
    base = os.environ.get("BASE_IMAGE")
    if base:
        return base, [b"pulled", base.encode()]
    # OURO_IMAGE_EPOCH (e.g. the week) forces fresh packages into every image: the
    # scheduled refresh sets it, since Debian's updates change no input we can hash.
    epoch = os.environ.get("OURO_IMAGE_EPOCH", "")
    recipe = [b"debootstrap", DEBIAN_SUITE.encode(), b"minbase", PATH_ENV.encode(), b"policy-rc.d"]
    if epoch:
        recipe.append(epoch.encode())
    return f"localhost/ouro-base:{_digest(recipe)}", recipe


def build_base() -> Built:
    """The parent of every image: `BASE_IMAGE` when set (pulled), else Debian from the
    mirror, made with debootstrap and imported."""
    start = time.monotonic()
    ref, _ = _base_tag()
    if podman.image_exists(ref):
        return Built("base", ref, False, time.monotonic() - start)
    if os.environ.get("BASE_IMAGE"):
        log.info("pulling %s", ref)
        podman.run(["pull", "--quiet", ref], timeout=1800)
        return Built("base", ref, True, time.monotonic() - start)
    if not shutil.which("debootstrap"):
        raise ConfigError("debootstrap is missing: apt-get install debootstrap, or set BASE_IMAGE")
    log.info("making %s with debootstrap from %s (a minute or two)", ref, DEBIAN_MIRROR)
    podman.STATE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=podman.STATE, prefix="rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        result = subprocess.run(
            ["debootstrap", "--variant=minbase", DEBIAN_SUITE, str(rootfs), DEBIAN_MIRROR],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise ConfigError(f"debootstrap failed: {result.stdout[-1500:]}{result.stderr[-500:]}")
        # As in Debian's official images: packages never try to start services while building.
        policy = rootfs / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        shutil.rmtree(rootfs / "var/cache/apt/archives", ignore_errors=True)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(
            ["podman", "import", "--change", f"ENV {PATH_ENV}", "--change", 'CMD ["/bin/bash"]',
             "-", ref],
            stdin=tar.stdout,
            env=podman.env(),
            capture_output=True,
            text=True,
            check=False,
        )  # fmt: skip
        if tar.stdout is not None:
            tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise ConfigError(f"importing the base image failed: {imported.stderr.strip()}")
    return Built("base", ref, True, time.monotonic() - start)


def image_ref(name: str, base: str) -> str:
    """The tag that `name` has when built from the current inputs."""
    containerfile = CONTAINERS / f"{name}.Containerfile"
    parts = [name.encode(), base.encode(), containerfile.read_bytes()]
    if name in WITH_OURO:
        parts += [r.encode() for r in runtime_requirements()]
        for path in source_files():
            parts += [str(path.relative_to(podman.PROJECT)).encode(), path.read_bytes()]
    return f"localhost/ouro-{name}:{_digest(parts)}"


def build(name: str, base: str) -> Built:
    start = time.monotonic()
    ref = image_ref(name, base)
    if podman.image_exists(ref):
        return Built(name, ref, False, time.monotonic() - start)
    log.info("building %s", ref)
    podman.STATE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=podman.STATE, prefix=f"build-{name}-") as tmp:
        context = Path(tmp)
        shutil.copy(CONTAINERS / f"{name}.Containerfile", context / "Containerfile")
        if name in WITH_OURO:
            build_wheels(context / "wheels", runtime_requirements())
        podman.run(
            ["build", "--quiet", "--layers", "--build-arg", f"BASE={base}",
             "--label", f"{LABEL}={ref.rsplit(':', 1)[1]}", "--tag", ref, str(context)],
            timeout=1800,
        )  # fmt: skip
    return Built(name, ref, True, time.monotonic() - start)


def build_all(names: Iterable[str] = IMAGES) -> dict[str, Built]:
    """Build the base and the named images as needed; returns each image's result."""
    base = build_base()
    podman.probe(base.ref)
    results = {"base": base}
    for name in names:
        results[name] = build(name, base.ref)
    return results


def _cmd_build(args: argparse.Namespace) -> int:
    for result in build_all(args.image or IMAGES).values():
        verb = "built" if result.built else "up to date"
        print(f"{result.name:7} {result.ref}  {verb} ({result.seconds:.1f}s)")
    return 0


def _cmd_refs(args: argparse.Namespace) -> int:
    base, _ = _base_tag()
    print(f"base {base}")
    for name in args.image or IMAGES:
        print(f"{name} {image_ref(name, base)}")
    return 0


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "containers", description="build the deployment's container images"
    )
    sub = parser.add_subparsers(metavar="ACTION", required=True)
    build_parser = sub.add_parser("build", help="build the images whose inputs changed")
    build_parser.add_argument("image", nargs="*", choices=[*IMAGES, []], help="default: all")
    build_parser.set_defaults(func=_cmd_build)
    refs = sub.add_parser("refs", help="print the tag each image has for the current inputs")
    refs.add_argument("image", nargs="*", choices=[*IMAGES, []], help="default: all")
    refs.set_defaults(func=_cmd_refs)
