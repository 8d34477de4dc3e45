"""How a job gets into the guest and its result comes back, without a network.

The guest sees three virtio disks, told apart by their serial numbers:

- `ouro-root`: a throw-away overlay of the image, mounted as `/`;
- `ouro-job` (read-only): a tar archive holding `job/` (the `--copy-in` directory, or
  nothing) and `run/ouro/command`, a script that enters `/job` and `exec`s the command;
- `ouro-result`: empty; the guest writes a tar archive onto it: `exit-code` first, then
  `results/` (whatever the command left in `$OURO_RESULTS`).

`INIT`, installed in every image at `INIT_PATH` and started as `init=`, does the guest's
part: mount the API file systems, unpack the job, run it, write the result, `sync`, print
`ouro-vm: exit code N` on the console and power off. The root is a throw-away overlay and
the result is synced on its own disk, so the forced power-off loses nothing.
"""

import io
import logging
import os
import re
import shlex
import shutil
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from vm.errors import VmError

log = logging.getLogger(__name__)

INIT_PATH = "/usr/local/sbin/ouro-init"
GUEST_JOB = "/job"
GUEST_RESULTS = "/results"
ROOT_SERIAL, JOB_SERIAL, RESULT_SERIAL = "ouro-root", "ouro-job", "ouro-result"
COMMAND_MEMBER = "run/ouro/command"
EXIT_MEMBER = "exit-code"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

INIT = f"""#!/bin/sh
# ouro-init: process 1 of an `ouro vm run` guest (written by vm/guest.py; docs/vm.md).
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH HOME=/root LANG=C.UTF-8
say() {{ echo "ouro-vm: $*"; }}
off() {{ echo o >/proc/sysrq-trigger; sleep 60; exit 1; }}
# Shell builtins where a program would do: under TCG each program started costs ~50 ms.
mounted() {{
    while read -r _ point _; do [ "$point" = "$1" ] && return 0; done </proc/mounts
    return 1
}}
# The initramfs has moved /proc, /sys, /dev and /run over; mount what is missing.
[ -e /proc/mounts ] || mount -t proc proc /proc
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
mounted /run || mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm {GUEST_RESULTS} /run/ouro/out
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /tmp
echo ouro-vm >/proc/sys/kernel/hostname
if command -v ip >/dev/null; then ip link set lo up; fi
disk() {{
    for d in /sys/block/vd*; do
        serial=
        read -r serial <"$d/serial" 2>/dev/null
        if [ "$serial" = "$1" ]; then echo "/dev/${{d##*/}}"; return 0; fi
    done
    return 1
}}
job=$(disk {JOB_SERIAL}) && result=$(disk {RESULT_SERIAL}) || {{ say "no job/result disk"; off; }}
if tar -x -f "$job" -C /; then
    sh /{COMMAND_MEMBER} </dev/null
    code=$?
else
    say "cannot unpack the job"; code=125
fi
echo "$code" >/run/ouro/out/{EXIT_MEMBER}
tar -c -f "$result" -C /run/ouro/out {EXIT_MEMBER} -C / {GUEST_RESULTS.lstrip("/")} \\
    || say "results did not fit on the result disk"
sync
say "exit code $code"
off
"""


def command_script(argv: Sequence[str], env: Mapping[str, str]) -> str:
    """The guest's `/run/ouro/command`: every value quoted for the guest's /bin/sh."""
    if not argv:
        raise VmError("no command to run in the guest")
    lines = [f"cd {GUEST_JOB} || exit 125", f"export OURO_RESULTS={GUEST_RESULTS}"]
    for name, value in env.items():
        if not _ENV_NAME.fullmatch(name):
            raise VmError(f"invalid environment variable name {name!r:.40}")
        lines.append(f"export {name}={shlex.quote(value)}")
    lines.append("exec " + " ".join(shlex.quote(arg) for arg in argv))
    return "\n".join(lines) + "\n"


def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def _copied_in(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
    # The command runs as root in the guest: its files should be root's, whoever owns
    # them here. Sockets, FIFOs and devices mean nothing in another machine.
    if not (info.isreg() or info.isdir() or info.issym() or info.islnk()):
        log.warning("copy-in: skipping %s (not a file, directory or link)", info.name)
        return None
    return _as_root(info)


def write_job(
    target: BinaryIO, argv: Sequence[str], env: Mapping[str, str], copy_in: Path | None
) -> None:
    """The job disk's content: `job/` and the command script, as a tar archive.

    A tar archive is a whole number of 512-byte blocks, so the file is a raw disk as is.
    """
    script = command_script(argv, env).encode()
    with tarfile.open(fileobj=target, mode="w", format=tarfile.GNU_FORMAT) as archive:
        if copy_in is None:
            folder = tarfile.TarInfo("job")
            folder.type, folder.mode = tarfile.DIRTYPE, 0o755
            archive.addfile(_as_root(folder))
        else:
            if not copy_in.is_dir():
                raise VmError(f"--copy-in {copy_in}: not a directory")
            archive.add(copy_in, arcname="job", filter=_copied_in)
        info = tarfile.TarInfo(COMMAND_MEMBER)
        info.size, info.mode = len(script), 0o755
        archive.addfile(_as_root(info), io.BytesIO(script))


def read_result(source: BinaryIO, copy_out: Path | None) -> int | None:
    """The command's exit code from the result disk (None if the guest wrote none).

    With `copy_out`, the files under `results/` are extracted there with tarfile's `data`
    filter: the guest is not trusted, so entries with absolute paths or `..`, links that
    leave the folder, and devices are refused (and logged); set-uid bits are dropped.
    """
    code: int | None = None
    copied = 0
    source.seek(0)
    try:
        with tarfile.open(fileobj=source, mode="r:") as archive:
            for member in archive:
                if member.name == EXIT_MEMBER and member.isreg() and member.size < 64:
                    extracted = archive.extractfile(member)
                    text = extracted.read().decode(errors="replace").strip() if extracted else ""
                    code = int(text) if text.isdigit() else None
                elif copy_out is not None and member.name.startswith("results/"):
                    copied += _copy_out(archive, member, copy_out)
    except (tarfile.TarError, EOFError, OSError) as error:
        # An empty disk (no result at all) is no archive; one that was too small is cut short.
        if code is not None:
            log.warning("the result disk is cut short (%s): results may be missing", error)
    if copied:
        log.info("copied %d entries from the guest's %s to %s", copied, GUEST_RESULTS, copy_out)
    return code


def _copy_out(archive: tarfile.TarFile, member: tarfile.TarInfo, copy_out: Path) -> int:
    """Copy one entry of the untrusted result tar: folders and regular files only, at a path
    that stays inside `copy_out`, never through a link. (Done by hand rather than with
    tarfile's `data` filter, which Python 3.11 has only from 3.11.4 on.)"""
    relative = PurePosixPath(member.name.removeprefix("results/"))
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        log.warning("not copied out: %r leaves the results folder", member.name[:80])
        return 0
    if not (member.isdir() or member.isreg()):
        log.warning("not copied out: %r is not a file or folder", member.name[:80])
        return 0
    target = copy_out.joinpath(*relative.parts)
    if member.isdir():
        target.mkdir(parents=True, exist_ok=True)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    extracted = archive.extractfile(member)
    if extracted is None:
        return 0
    # O_NOFOLLOW: an earlier entry cannot have made a link here (links are never created),
    # but a folder given as --copy-out may hold one already.
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
    try:
        with os.fdopen(os.open(target, flags, 0o644), "wb") as out:
            shutil.copyfileobj(extracted, out)
    except OSError as error:
        log.warning("not copied out: %r (%s)", member.name[:80], error.strerror)
        return 0
    return 1
