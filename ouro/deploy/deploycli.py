"""`ouro deploy`: publish a release, apply it, roll back, say what runs (docs/deployment.md,
"Releases")."""

import argparse
import os
import shlex
import time
from pathlib import Path

from ouro.deploy import canary, containers, manifests, podman, publish, release, rollout
from ouro.deploy.local import Deployment


def _target(args: argparse.Namespace) -> rollout.Target:
    if args.kubectl:
        return rollout.Cluster(shlex.split(args.kubectl))
    return rollout.SingleHost(Deployment(args.deployment))


def _cmd_publish(args: argparse.Namespace) -> int:
    start = time.monotonic()
    built = containers.build_all()
    published = publish.publish(
        {name: built[name].ref for name in containers.IMAGES},
        args.registry,
        folder=args.releases,
        name=args.name,
        commit=args.commit,
        epoch=os.environ.get("OURO_IMAGE_EPOCH", ""),
    )
    print(f"release {published.name} in {args.releases / published.name}.yaml", end="")
    print(f" ({time.monotonic() - start:.0f}s)")
    for name, image in published.images.items():
        print(f"  {name:7} {image.ref}")
    if args.pin:
        for path in release.pin(published, args.kube):
            print(f"  pinned in {path}")
    return 0


def _cmd_epoch(args: argparse.Namespace) -> int:
    newest = release.latest(args.releases)
    print(newest.epoch if newest else "")
    return 0


def _cmd_pin(args: argparse.Namespace) -> int:
    for path in release.pin(release.load(args.release, args.releases), args.kube):
        print(f"pinned in {path}")
    return 0


def _cmd_apply(args: argparse.Namespace) -> int:
    start = time.monotonic()
    chosen = release.load(args.release, args.releases)
    rollout.apply(_target(args), chosen, args.timeout)
    print(f"release {chosen.name} applied ({time.monotonic() - start:.0f}s)")
    return 0


def _cmd_rollback(args: argparse.Namespace) -> int:
    start = time.monotonic()
    previous = rollout.rollback(_target(args), args.timeout)
    print(f"rolled back to release {previous.name} ({time.monotonic() - start:.0f}s)")
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    current, running, ok = rollout.status(_target(args))
    if current is None:
        print("release: none applied")
    else:
        print(f"release: {current.name} (commit {current.commit[:12]}, {current.date})")
        for name, image in current.images.items():
            print(f"  {name:7} {image.ref}")
    digests = {i.digest: n for n, i in current.images.items()} if current else {}
    for r in running:
        known = [d for d in r.digests if d in digests]
        which = f"{digests[known[0]]} {known[0]}" if known else f"NOT OF THIS RELEASE {r.image}"
        state = "ready" if r.ready else "NOT READY"
        print(f"{r.workload}/{r.container}: {state}, runs {which}")
    return 0 if ok else 1


def _target_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubectl", metavar="COMMAND",
        help="a cluster: the kubectl command to use, e.g. 'kubectl --context prod' "
        "(default: the local deployment, podman)",
    )  # fmt: skip
    parser.add_argument(
        "--deployment", type=Path, default=podman.STATE / "deploy",
        help="the local deployment's folder (default: the one `ouro local up` makes)",
    )  # fmt: skip


def _wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout", type=float, default=300, help="seconds to wait for the pods to be ready"
    )


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "deploy", description="publish releases, apply them, roll back, say what runs"
    )
    sub = parser.add_subparsers(metavar="ACTION", required=True)
    releases = argparse.ArgumentParser(add_help=False)
    releases.add_argument(
        "--releases", type=Path, default=release.RELEASES,
        help=f"the folder of release files (default {release.RELEASES})",
    )  # fmt: skip
    kube = argparse.ArgumentParser(add_help=False)
    kube.add_argument("--kube", type=Path, default=manifests.KUBE, help="the kustomization")

    pub = sub.add_parser(
        "publish", parents=[releases, kube],
        help="build the images whose inputs changed, push them, write a release file",
    )  # fmt: skip
    pub.add_argument(
        "--registry", required=True, help="HOST[:PORT]/PREFIX, e.g. ghcr.io/ouroboros-ci"
    )
    pub.add_argument("--name", help="the release's name (default: DATE-TIME-COMMIT)")
    pub.add_argument("--commit", help="the commit the images are built from (default: HEAD)")
    pub.add_argument(
        "--pin", action="store_true", help="also write its digests into the kustomization"
    )
    pub.set_defaults(func=_cmd_publish)

    epoch = sub.add_parser(
        "epoch", parents=[releases],
        help="print the OURO_IMAGE_EPOCH of the newest release (empty: none), to build with",
    )  # fmt: skip
    epoch.set_defaults(func=_cmd_epoch)

    pin = sub.add_parser(
        "pin", parents=[releases, kube], help="write a release's digests into the kustomization"
    )
    pin.add_argument("--release", required=True, help="a release's name or file")
    pin.set_defaults(func=_cmd_pin)

    apply = sub.add_parser(
        "apply", parents=[releases], help="render the manifests with a release and apply them"
    )
    apply.add_argument("--release", required=True, help="a release's name or file")
    _target_options(apply)
    _wait_option(apply)
    apply.set_defaults(func=_cmd_apply)

    back = sub.add_parser("rollback", help="apply the release applied before the current one")
    _target_options(back)
    _wait_option(back)
    back.set_defaults(func=_cmd_rollback)

    show = sub.add_parser(
        "status", help="the release, its digests, each container's readiness (exit 1: not all)"
    )
    _target_options(show)
    show.set_defaults(func=_cmd_status)

    canary.register(sub)
