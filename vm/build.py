"""`ouro vm build`: a recipe → a bootable Debian image, without loop mounts.

mmdebstrap installs the system into a directory (minbase, no recommends, no docs, man
pages or locales: vm/slim.py) with the cloud kernel and an initrd that holds just the
virtio and ext4 modules (vm/initramfs.py); the recipe's setup commands run in the image
through a mmdebstrap hook; `mkfs.ext4 -d` makes the file system from the directory and
`qemu-img convert` a compressed qcow2 of it. The kernel and initrd are copied out beside
it (direct kernel boot needs no boot loader), with the manifest (vm/manifest.py).

mmdebstrap runs in root mode, so setup commands run as root in a chroot on the build
host: build recipes only from trusted branches, in a throw-away container (docs/vm.md).
"""

import collections
import fcntl
import logging
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from vm import initramfs, manifest, slim
from vm.errors import VmError
from vm.guest import INIT, INIT_PATH
from vm.imagefiles import ImageFiles
from vm.proc import die_with_parent, require, run_tool
from vm.recipe import Recipe, load
from vm.units import human

log = logging.getLogger(__name__)

DEFAULT_MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("linux-image-cloud-amd64", "initramfs-tools")
_MIRROR = re.compile(r"(?:https?|file)://[^\s'\"\\]+")
MMDEBSTRAP_TIMEOUT = 3600
# apt's and dpkg's line per package: hundreds per build, shown only when it fails.
_CHATTY = re.compile(
    rb"Get:\d|Selecting previously|Preparing to unpack|Unpacking |Setting up |Processing trigger"
    rb"|\(Reading database|Reading package lists|Building dependency tree|Reading state inf"
)
# Without CAP_SYS_ADMIN (an ordinary container) mmdebstrap skips mounting /proc, /sys and
# /dev into the image: enough for most packages, not for those whose scripts need /proc.
_CANNOT_MOUNT = re.compile(rb"W: cannot mount because ")
NO_MOUNTS_HINT = (
    "mmdebstrap could not mount /proc, /sys and /dev in the image (no CAP_SYS_ADMIN here), "
    "and some package may need them (a container: --cap-add SYS_ADMIN; docs/vm.md)"
)


def build(
    recipe_path: Path, output: Path, *, apt_cache: Path | None = None, mirror: str = DEFAULT_MIRROR
) -> ImageFiles:
    """Build the image the recipe describes as `output` (+ kernel, initrd, manifest)."""
    recipe = load(recipe_path)
    if not _MIRROR.fullmatch(mirror):
        raise VmError(f"--mirror {mirror!r:.80}: expected an http://, https:// or file:// URL")
    if output.suffix != ".qcow2":
        raise VmError(f"{output}: the image's name must end in .qcow2")
    require("mmdebstrap", "mkfs.ext4", "qemu-img")
    if os.geteuid() != 0:
        raise VmError("ouro vm build needs root (mmdebstrap's root mode keeps file owners)")
    output = output.resolve()
    output.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    log.info(
        "build %s: %s, %d extra packages, %d setup commands, %s file system",
        output.name,
        recipe.suite,
        len(recipe.packages),
        len(recipe.setup),
        human(recipe.size),
    )
    # Beside the output, so the finished files are renamed into place, never copied.
    work = Path(tempfile.mkdtemp(prefix=".ouro-vm-build-", dir=output.parent))
    try:
        rootfs = work / "rootfs"
        phase = time.monotonic()
        with _locked(apt_cache):
            _mmdebstrap(recipe, rootfs, work, mirror, apt_cache)
            packages = manifest.dpkg_packages(rootfs)
            if apt_cache is not None:
                _prune_cache(apt_cache, packages)
        log.info(
            "mmdebstrap: %d packages installed in %.1f s", len(packages), time.monotonic() - phase
        )
        result = _finish(
            recipe,
            rootfs,
            work=work,
            output=output,
            packages=packages,
            mirror=mirror,
            started=started,
        )
    finally:
        remove_tree(work)
    log.info(
        "built %s (%s) in %.1f s", output, human(output.stat().st_size), time.monotonic() - started
    )
    return result


def _mmdebstrap(
    recipe: Recipe, rootfs: Path, work: Path, mirror: str, apt_cache: Path | None
) -> None:
    files = work / "files"
    files.mkdir()
    argv = [
        "mmdebstrap",
        "--mode=root",
        "--format=directory",
        "--variant=minbase",
        "--include=" + ",".join((*BASE_PACKAGES, *recipe.packages)),
        '--aptopt=APT::Install-Recommends "false"',
        # A throw-away build directory needs no fsync per file (halves the install time).
        "--dpkgopt=force-unsafe-io",
        # Before the kernel is installed, so that its initrd is made once, already small.
        *_essential_files(
            files, [*initramfs.FILES, (slim.DPKG_CFG_D, slim.NAME, slim.DPKG_EXCLUDES, 0o644)]
        ),
    ]
    if recipe.setup:
        # The commands reach the image's shell as a file; the hook lines are constant.
        (files / "setup").write_text(setup_script(recipe))
        argv += [
            f"--customize-hook=upload {_q(files / 'setup')} /ouro-setup",
            '--customize-hook=chroot "$1" /bin/sh /ouro-setup',
            '--customize-hook=rm -f "$1/ouro-setup"',
        ]
    if apt_cache is not None:
        # mmdebstrap's documented recipe for keeping the downloaded .debs between builds.
        argv += [
            "--skip=download/empty",
            "--skip=essential/unlink",
            '--setup-hook=mkdir -p "$1/var/cache/apt/archives"',
            f"--setup-hook=sync-in {_q(apt_cache)} /var/cache/apt/archives/",
            f"--customize-hook=sync-out /var/cache/apt/archives {_q(apt_cache)}",
        ]
    argv += ["--", recipe.suite, str(rootfs), mirror]
    log.info(
        "mmdebstrap %s from %s%s", recipe.suite, mirror, " with an apt cache" if apt_cache else ""
    )
    _run_mmdebstrap(argv)


def _run_mmdebstrap(argv: list[str]) -> None:
    """mmdebstrap with its output on our stderr: its phase lines, warnings and the setup
    commands' own output as they come; apt's and dpkg's line per package only if it fails."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # SIGTERM, not SIGKILL: mmdebstrap then unmounts what it mounted in the chroot.
        preexec_fn=die_with_parent(signal.SIGTERM),  # noqa: PLW1509 (from the main thread)
    )
    assert process.stdout is not None  # noqa: S101 (stdout=PIPE above)
    watchdog = threading.Timer(MMDEBSTRAP_TIMEOUT, process.terminate)
    watchdog.start()
    hidden: collections.deque[bytes] = collections.deque(maxlen=40)
    unmounted = False
    try:
        for line in process.stdout:
            unmounted = unmounted or bool(_CANNOT_MOUNT.match(line))
            if _CHATTY.match(line):
                hidden.append(line)
            else:
                sys.stderr.buffer.write(line)
                sys.stderr.flush()
        code = process.wait()
    except BaseException:
        process.terminate()
        process.wait()
        raise
    finally:
        watchdog.cancel()
        process.stdout.close()
    if code != 0:
        sys.stderr.buffer.write(b"".join(hidden))
        hint = f"; {NO_MOUNTS_HINT}" if unmounted else ""
        raise VmError(f"mmdebstrap failed (exit code {code}); its output is above{hint}")


def _essential_files(work: Path, files: list[tuple[str, str, str, int]]) -> list[str]:
    """mmdebstrap options that put (folder, name, content, mode) files into the image right
    after the essential packages, before the others are installed."""
    folders = " ".join(f'"$1{folder}"' for folder in sorted({folder for folder, *_ in files}))
    options = [f"--essential-hook=mkdir -p {folders}"]
    for number, (folder, name, text, mode) in enumerate(files):
        # One host folder per file: copy-in keeps the name and the mode.
        source = work / f"essential-{number}" / name
        source.parent.mkdir(parents=True)
        source.write_text(text)
        source.chmod(mode)
        options.append(f"--essential-hook=copy-in {_q(source)} {folder}")
    return options


def setup_script(recipe: Recipe) -> str:
    """The recipe's setup commands as one script for /bin/sh in the image."""
    lines = [
        "# The recipe's setup commands (vm/build.py), run in the image by mmdebstrap.",
        "set -e",
        "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "export DEBIAN_FRONTEND=noninteractive HOME=/root LC_ALL=C.UTF-8",
        "cd /root",
    ]
    for number, command in enumerate(recipe.setup, 1):
        text = command if isinstance(command, str) else shlex.join(command)
        shown = f"ouro vm build: setup {number}/{len(recipe.setup)}: {text.splitlines()[0][:200]}"
        lines.append(f"printf '%s\\n' {shlex.quote(shown)}")
        lines.append(text)
    return "\n".join(lines) + "\n"


def _finish(
    recipe: Recipe,
    rootfs: Path,
    *,
    work: Path,
    output: Path,
    packages: list[dict[str, str]],
    mirror: str,
    started: float,
) -> ImageFiles:
    phase = time.monotonic()
    removed = slim.strip(rootfs)
    log.info("removed %d documentation files in %.1f s", removed, time.monotonic() - phase)
    init = rootfs / INIT_PATH.lstrip("/")
    init.parent.mkdir(parents=True, exist_ok=True)
    init.write_text(INIT)
    init.chmod(0o755)
    kernel, initrd, release = _boot_files(rootfs)
    phase = time.monotonic()
    digests, rootfs_bytes = manifest.rootfs_files(rootfs)
    log.info(
        "hashed %d files (%s) in %.1f s",
        len(digests),
        human(rootfs_bytes),
        time.monotonic() - phase,
    )

    phase = time.monotonic()
    raw = work / "root.raw"
    with raw.open("wb") as file:
        file.truncate(recipe.size)
    run_tool(
        ["mkfs.ext4", "-q", "-F", "-L", "ouro-root", "-m", "0", "-d", str(rootfs), str(raw)],
        "mkfs.ext4",
    )
    log.info("mkfs.ext4 -d: %s file system in %.1f s", human(recipe.size), time.monotonic() - phase)

    phase = time.monotonic()
    staged = ImageFiles(work / output.name)
    run_tool(
        [
            "qemu-img",
            "convert",
            "-c",
            "-o",
            "compression_type=zstd",
            "-O",
            "qcow2",
            str(raw),
            str(staged.qcow2),
        ],
        "qemu-img convert",
    )
    raw.unlink()
    log.info(
        "qemu-img convert: %s qcow2 in %.1f s",
        human(staged.qcow2.stat().st_size),
        time.monotonic() - phase,
    )

    shutil.copyfile(kernel, staged.kernel)
    shutil.copyfile(initrd, staged.initrd)
    for path in (staged.qcow2, staged.kernel, staged.initrd):
        path.chmod(0o644)
    files = {"qcow2": staged.qcow2, "kernel": staged.kernel, "initrd": staged.initrd}
    manifest.write(
        staged.manifest,
        {
            "format": manifest.FORMAT,
            "recipe": {
                "sha256": recipe.sha256,
                "suite": recipe.suite,
                "packages": list(recipe.packages),
                "setup_commands": len(recipe.setup),
            },
            "mirror": mirror,
            "built_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "build_seconds": round(time.monotonic() - started, 1),
            "kernel_release": release,
            "init": INIT_PATH,
            "files": {kind: manifest.file_entry(path) for kind, path in files.items()},
            "sizes": {
                "rootfs_bytes": rootfs_bytes,
                "rootfs_files": len(digests),
                "filesystem_bytes": recipe.size,
                "qcow2_bytes": staged.qcow2.stat().st_size,
            },
            "packages": packages,
            "rootfs": digests,
        },
    )
    result = ImageFiles(output)
    # The qcow2 last: whoever sees it finds its kernel, initrd and manifest already there.
    for kind in ("kernel", "initrd", "manifest", "qcow2"):
        os.replace(getattr(staged, kind), getattr(result, kind))
    return result


def _boot_files(rootfs: Path) -> tuple[Path, Path, str]:
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise VmError(f"expected one kernel in the image's /boot, found {len(kernels)}")
    release = kernels[0].name.removeprefix("vmlinuz-")
    initrd = rootfs / "boot" / f"initrd.img-{release}"
    if not initrd.is_file():
        raise VmError(f"the image has no initrd for kernel {release}")
    return kernels[0], initrd, release


def _q(path: Path) -> str:
    # mmdebstrap splits special hooks with shellwords, so paths are quoted as for a shell.
    return shlex.quote(str(path))


@contextmanager
def _locked(apt_cache: Path | None) -> Iterator[None]:
    """Builds that share a .deb cache take turns: sync-out and pruning are not atomic."""
    if apt_cache is None:
        yield
        return
    apt_cache.mkdir(parents=True, exist_ok=True)
    with (apt_cache / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _prune_cache(apt_cache: Path, packages: list[dict[str, str]]) -> None:
    """Keep only the .debs of what this build installed, so the cache does not grow forever."""
    keep = {
        f"{p['name']}_{p['version'].replace(':', '%3a')}_{p['architecture']}.deb" for p in packages
    }
    stale = [deb for deb in apt_cache.glob("*.deb") if deb.name not in keep]
    for deb in stale:
        deb.unlink()
    log.info("apt cache %s: %d .debs kept, %d dropped", apt_cache, len(keep), len(stale))


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as mountinfo:
        points = [line.split()[4] for line in mountinfo]
    return [point for point in points if point.startswith(prefix)]


def remove_tree(path: Path) -> None:
    # In root mode mmdebstrap bind-mounts the host's /dev and /sys into the chroot; if one
    # were left mounted, deleting the tree would delete the host's device files.
    mounts = _mounts_under(path)
    if mounts:
        log.error("not removing %s: still mounted there: %s", path, ", ".join(mounts))
        return
    shutil.rmtree(path, ignore_errors=True)
