"""The job and result disks, without a VM: what the guest reads and what we read back."""

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from vm.errors import VmError
from vm.guest import COMMAND_MEMBER, command_script, read_result, write_job


def test_the_command_script_quotes_every_value(tmp_path: Path) -> None:
    values = ["two words", "it's", "$(touch pwned)", "`x`", "a\nb", ""]
    show = 'printf "%s|" "$PWD" "$NAME" "$OURO_RESULTS" "$@"'
    script = command_script(["sh", "-c", show, "sh", *values], {"NAME": "va'lue $HOME"})
    # The guest runs it with /bin/sh and enters /job; here a scratch folder stands in.
    script = script.replace("cd /job", f"cd {tmp_path}")
    result = subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True)
    fields = result.stdout.split("|")
    assert fields == [str(tmp_path), "va'lue $HOME", "/results", *values, ""]
    assert not (tmp_path / "pwned").exists()


def test_bad_commands_and_names_are_refused() -> None:
    with pytest.raises(VmError, match="no command"):
        command_script([], {})
    with pytest.raises(VmError, match="invalid environment variable name 'A B'"):
        command_script(["true"], {"A B": "x"})


def test_the_job_disk_holds_the_folder_as_root_and_the_command(tmp_path: Path) -> None:
    source = tmp_path / "source"
    (source / "deep").mkdir(parents=True)
    (source / "deep" / "file.txt").write_text("content")
    (source / "link").symlink_to("deep/file.txt")
    os.mkfifo(source / "fifo")
    disk = io.BytesIO()
    write_job(disk, ["make", "test"], {}, source)
    assert len(disk.getvalue()) % 512 == 0
    disk.seek(0)
    with tarfile.open(fileobj=disk) as archive:
        members = {member.name: member for member in archive}
        command = archive.extractfile(COMMAND_MEMBER)
        assert command is not None
        assert command.read().decode().endswith("exec make test\n")
    assert set(members) == {"job", "job/deep", "job/deep/file.txt", "job/link", COMMAND_MEMBER}
    assert {(member.uid, member.gid, member.uname) for member in members.values()} == {
        (0, 0, "root")
    }
    assert members["job/link"].linkname == "deep/file.txt"


def test_without_copy_in_the_job_folder_is_empty() -> None:
    disk = io.BytesIO()
    write_job(disk, ["true"], {}, None)
    disk.seek(0)
    with tarfile.open(fileobj=disk) as archive:
        assert [member.name for member in archive] == ["job", COMMAND_MEMBER]


def test_copy_in_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(VmError, match="not a directory"):
        write_job(io.BytesIO(), ["true"], {}, tmp_path / "absent")


def _result_disk(members: list[tuple[tarfile.TarInfo, bytes]], size: int = 1 << 20) -> io.BytesIO:
    """What the guest's `tar -c -f /dev/vdX` leaves on a zeroed disk."""
    disk = io.BytesIO()
    with tarfile.open(fileobj=disk, mode="w", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)
    disk.write(bytes(size - disk.tell()))
    return disk


def _file(name: str, data: bytes = b"") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def test_the_exit_code_and_results_come_back(tmp_path: Path) -> None:
    symlink = tarfile.TarInfo("results/escape")
    symlink.type, symlink.linkname = tarfile.SYMTYPE, "/etc/passwd"
    disk = _result_disk(
        [
            _file("exit-code", b"3\n"),
            _file("results/report.txt", b"all good"),
            _file("results/../../outside", b"no"),
            (symlink, b""),
        ]
    )
    out = tmp_path / "out"
    assert read_result(disk, out) == 3
    assert (out / "report.txt").read_text() == "all good"
    # The guest is not trusted: nothing lands outside the folder, no link leads out.
    assert sorted(path.name for path in tmp_path.rglob("*")) == ["out", "report.txt"]


def test_no_result_and_a_cut_short_result() -> None:
    assert read_result(io.BytesIO(bytes(1 << 20)), None) is None
    assert read_result(io.BytesIO(b""), None) is None
    full = _result_disk([_file("exit-code", b"0\n"), _file("results/big", os.urandom(100_000))])
    cut = io.BytesIO(full.getvalue()[:20_000])
    assert read_result(cut, None) == 0
    assert read_result(_result_disk([_file("exit-code", b"x\n")]), None) is None
