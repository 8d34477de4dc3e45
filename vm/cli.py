"""`ouro vm build|run|probe|upload|fetch|refresh`: VM images and jobs in VMs (docs/vm.md)."""

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from ouro.store import StoreError, open_store
from vm import build as build_module
from vm import probe as probe_module
from vm import refresh as refresh_module
from vm import remote
from vm import run as run_module
from vm.errors import InputError, VmError
from vm.imagefiles import read_reference
from vm.units import parse_size

log = logging.getLogger(__name__)


def _build(args: argparse.Namespace) -> int:
    files = build_module.build(
        Path(args.recipe), Path(args.output), apt_cache=args.apt_cache, mirror=args.mirror
    )
    print(files.qcow2)
    return 0


def _probe(args: argparse.Namespace) -> int:
    kernel = args.kernel or probe_module.host_kernel()
    result = probe_module.probe(kernel, timeout=args.timeout)
    print(result)
    return 0 if result.usable else 1


def _upload(args: argparse.Namespace) -> int:
    store = open_store()
    try:
        ref = remote.upload(store, Path(args.image), args.name)
    finally:
        store.close()
    if args.ref_file:
        remote.write_reference(args.ref_file, ref)
    print(ref.file_name)
    return 0


def _fetch(args: argparse.Namespace) -> int:
    read_reference(args.reference)  # a clear error before anything is opened
    cache = remote.cache_from(args.cache, args.cache_size)
    with remote.resolve(args.reference, cache) as files:
        print(files.qcow2)
    return 0


def _refresh(args: argparse.Namespace) -> int:
    # The name and the checkout first: bad input is refused before the store is opened.
    refresh_module.paths(args.source, args.name)
    store = refresh_module.open_upload_store()
    try:
        result = refresh_module.refresh(
            args.name, args.source, store, apt_cache=args.apt_cache, mirror=args.mirror
        )
    finally:
        store.close()
    print(result.line())
    return 0


def _split_run(args: argparse.Namespace) -> list[str]:
    """Parse `IMAGE [options] -- COMMAND…` into `args`; the command.

    argparse cannot put options after a positional and before a remainder, so the words
    after `run` are parsed again here; options given before IMAGE stay as parsed.
    """
    rest = list(args.rest)
    if "--" in rest:
        head, command = rest[: rest.index("--")], rest[rest.index("--") + 1 :]
    else:
        head, command = rest[:1], rest[1:]
    inner = argparse.ArgumentParser(prog="ouro vm run", add_help=False)
    _run_options(inner)
    inner.add_argument("image")
    inner.parse_args(head, namespace=args)
    if not command:
        raise VmError("no command: ouro vm run IMAGE [options] -- COMMAND [ARG...]")
    return command


def _run(args: argparse.Namespace) -> int:
    command = _split_run(args)
    env = dict(_assignment(item) for item in args.env)
    cache = remote.cache_from(args.cache, args.cache_size)
    stop = threading.Event()
    received: list[int] = []
    booting = False

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        stop.set()
        # Before the boot (a download, a probe) there is nothing to stop gently.
        if not booting:
            raise _Cancelled

    # SIGTERM and SIGINT end the run (QEMU killed at once), not us halfway through it.
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with remote.resolve(args.image, cache) as files:
            accel, why = probe_module.choose_accelerator(files.kernel)
            log.info("accelerator: %s (%s)", accel, why)
            spec = run_module.RunSpec(
                image=files,
                argv=command,
                accel=accel,
                memory_mib=args.memory,
                cpus=args.cpus,
                timeout=args.timeout,
                copy_in=args.copy_in,
                copy_out=args.copy_out,
                env=env,
            )
            booting = True
            result = run_module.run(spec, console=_print_line, stop=stop)
    except _Cancelled:
        log.warning("cancelled before the boot")
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    if received:
        return 128 + received[0]
    return result.exit_code


class _Cancelled(Exception):
    """A signal arrived before the VM booted."""


def _print_line(line: str) -> None:
    # As bytes: a guest may print anything, and stdout's encoding may be ASCII.
    sys.stdout.buffer.write(line.encode("utf-8", "replace") + b"\n")
    sys.stdout.buffer.flush()


def _assignment(item: str) -> tuple[str, str]:
    name, equals, value = item.partition("=")
    if not equals:
        raise VmError(f"--env {item!r:.40}: expected NAME=VALUE")
    return name, value


def _size(value: str) -> int:
    try:
        return parse_size(value, "size")
    except VmError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "build": _build,
    "run": _run,
    "probe": _probe,
    "upload": _upload,
    "fetch": _fetch,
    "refresh": _refresh,
}


# Actions whose logs a job shows; `probe` prints one answer line that the worker reads.
ANNOUNCED = ("build", "run", "refresh")


def dispatch(args: argparse.Namespace) -> int:
    if args.vm_command in ANNOUNCED:
        # Which revision of the tooling ran: a job with another revision (`CONTEXT@infra#N`)
        # gets it first on PYTHONPATH, and its log shows that it was used.
        log.info("ouro vm from %s", Path(__file__).resolve().parent)
    try:
        return COMMANDS[args.vm_command](args)
    except InputError as error:
        print(f"ouro vm {args.vm_command}: {error}", file=sys.stderr)
        return 2
    except (VmError, StoreError) as error:
        print(f"ouro vm {args.vm_command}: {error}", file=sys.stderr)
        return 1


def register(subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = subparsers.add_parser(
        "vm",
        help="build Debian VM images, run commands in throw-away VMs, probe KVM",
        description="VM images for jobs that need a real machine, and one command per "
        "throw-away VM (KVM when it works, TCG otherwise). See docs/vm.md.",
    )
    actions = parser.add_subparsers(dest="vm_command", required=True, metavar="ACTION")
    build = actions.add_parser("build", help="build an image from a recipe (needs root)")
    build.add_argument("recipe", help="the recipe YAML (suite, packages, setup, size)")
    build.add_argument("-o", "--output", required=True, help="the image, IMAGE.qcow2")
    build.add_argument("--apt-cache", type=Path, help="keep downloaded .debs in this folder")
    build.add_argument("--mirror", default=build_module.DEFAULT_MIRROR, help="(%(default)s)")

    run = actions.add_parser(
        "run",
        help="run a command in a throw-away VM of an image",
        usage="%(prog)s IMAGE [options] -- COMMAND [ARG...]",
    )
    _run_options(run)
    run.add_argument(
        "rest",
        nargs=argparse.REMAINDER,
        metavar="IMAGE [options] -- COMMAND [ARG...]",
        help="IMAGE is IMAGE.qcow2, a reference NAME-<sha256>.qcow2, or a file holding one",
    )

    probe = actions.add_parser("probe", help="does KVM work here? (exit 0 yes, 1 no)")
    probe.add_argument("--kernel", type=Path, help="kernel to boot (default: the host's newest)")
    probe.add_argument("--timeout", type=float, default=probe_module.TIMEOUT, metavar="S")

    upload = actions.add_parser("upload", help="store an image under its content address")
    upload.add_argument("image", help="IMAGE.qcow2 (its kernel, initrd and manifest beside it)")
    upload.add_argument("--name", required=True, help="the image's name, e.g. debian-bookworm")
    upload.add_argument("--ref-file", type=Path, metavar="PATH", help="write the reference here")

    fetch = actions.add_parser("fetch", help="download an image into the host's cache")
    fetch.add_argument("reference", help="NAME-<sha256>.qcow2, or a file holding it")
    _cache_options(fetch)

    refresh = actions.add_parser(
        "refresh",
        help="in a product repository: build images/NAME.yaml, store it, update images/NAME",
    )
    refresh.add_argument("name", help="the image: recipe images/NAME.yaml, reference images/NAME")
    refresh.add_argument(
        "--source",
        type=Path,
        default=Path(),
        metavar="DIR",
        help="the repository's checkout (default: the current folder)",
    )
    refresh.add_argument("--apt-cache", type=Path, help="keep downloaded .debs in this folder")
    refresh.add_argument("--mirror", default=build_module.DEFAULT_MIRROR, help="(%(default)s)")
    parser.set_defaults(func=dispatch)


def _run_options(run: argparse.ArgumentParser) -> None:
    run.add_argument("--memory", type=int, default=512, metavar="MiB", help="(%(default)s)")
    run.add_argument("--cpus", type=int, default=1, metavar="N", help="(%(default)s)")
    run.add_argument(
        "--timeout", type=float, default=3600, metavar="S", help="then exit 124 (%(default)s)"
    )
    run.add_argument("--copy-in", type=Path, metavar="DIR", help="visible in the guest as /job")
    run.add_argument(
        "--copy-out", type=Path, metavar="DIR", help="receives what the command left in /results"
    )
    run.add_argument(
        "-e", "--env", action="append", default=[], metavar="NAME=VALUE", help="for the command"
    )
    _cache_options(run)


def _cache_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cache", type=Path, metavar="DIR", help="the image cache folder")
    parser.add_argument("--cache-size", type=_size, metavar="SIZE", help="its bound, e.g. 20G")
