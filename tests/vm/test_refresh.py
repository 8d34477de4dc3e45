"""`ouro vm refresh NAME`: the checks on a checkout's paths, the job's upload token, the
flow with a stand-in build, and one real build uploaded to a real images-server."""

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from ouro.secretfile import SecretFile
from ouro.store import StoreError, file_sha256
from tests.fixtures_images import ImagesServerFixture
from tests.vm.conftest import require_build_tools, vm_env
from vm import build as build_module
from vm import remote
from vm.__main__ import main
from vm.errors import InputError
from vm.imagefiles import QCOW2_MAGIC, ImageFiles, ImageRef
from vm.manifest import FORMAT
from vm.refresh import UPLOAD_SECRET, Paths, open_upload_store, paths, upload_secret

RECIPE = "suite: bookworm\n"
OLD = ImageRef("demo", "0" * 64)
# Generous for a loaded machine: mmdebstrap alone takes 40-60 s here, a TCG boot 5-12 s.
BUILD_TIMEOUT = 900
BOOT_TIMEOUT = 120


def checkout(folder: Path, name: str = "demo", recipe: str = RECIPE) -> Path:
    (folder / "images").mkdir(parents=True)
    (folder / "images" / f"{name}.yaml").write_text(recipe)
    return folder


# The checks on NAME and the checkout: bad input, exit code 2, nothing built.


def test_the_paths_of_an_image(tmp_path: Path) -> None:
    source = checkout(tmp_path / "repo")
    assert paths(source, "demo") == Paths(
        source / "images" / "demo.yaml", source / "images" / "demo"
    )


@pytest.mark.parametrize("name", ["", "-x", "..", "../demo", "a/b", "demo.yaml/..", "x" * 101])
def test_invalid_names_are_refused(tmp_path: Path, name: str) -> None:
    source = checkout(tmp_path / "repo")
    with pytest.raises(InputError, match="invalid image name"):
        paths(source, name)


def test_a_recipe_that_is_a_symlink_is_refused_even_inside_the_checkout(tmp_path: Path) -> None:
    source = checkout(tmp_path / "repo", name="real")
    (source / "images" / "demo.yaml").symlink_to("real.yaml")
    with pytest.raises(InputError, match=r"demo.yaml: a symbolic link; refused"):
        paths(source, "demo")


def test_a_recipe_outside_the_checkout_is_refused(tmp_path: Path) -> None:
    outside = checkout(tmp_path / "outside")
    source = tmp_path / "repo"
    source.mkdir()
    (source / "images").symlink_to(outside / "images")
    with pytest.raises(InputError, match=r"repo/images: a symbolic link; refused"):
        paths(source, "demo")
    (source / "images").unlink()
    (source / "images").mkdir()
    (source / "images" / "demo.yaml").symlink_to(outside / "images" / "demo.yaml")
    with pytest.raises(InputError, match="a symbolic link; refused"):
        paths(source, "demo")


def test_a_reference_file_that_is_a_symlink_or_a_folder_is_refused(tmp_path: Path) -> None:
    source = checkout(tmp_path / "repo")
    target = tmp_path / "elsewhere"
    target.write_text("keep me\n")
    (source / "images" / "demo").symlink_to(target)
    with pytest.raises(InputError, match=r"images/demo: a symbolic link; refused"):
        paths(source, "demo")
    (source / "images" / "demo").unlink()
    (source / "images" / "demo").mkdir()
    with pytest.raises(InputError, match=r"images/demo: not a regular file"):
        paths(source, "demo")


def test_a_missing_recipe_or_one_that_is_not_a_file(tmp_path: Path) -> None:
    source = checkout(tmp_path / "repo")
    with pytest.raises(InputError, match=r"images/absent.yaml: no such recipe"):
        paths(source, "absent")
    os.mkfifo(source / "images" / "fifo.yaml")  # reading it would hang
    with pytest.raises(InputError, match=r"images/fifo.yaml: no such recipe \(a regular file\)"):
        paths(source, "fifo")
    with pytest.raises(InputError, match="not a folder"):
        paths(tmp_path / "no-checkout", "demo")


def test_bad_input_exits_2_with_one_line_before_the_store_is_opened(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A store that cannot be opened: bad input must be reported first.
    monkeypatch.setenv("OURO_STORE", "nonsense")
    source = checkout(tmp_path / "repo")
    (source / "images" / "link.yaml").symlink_to("demo.yaml")
    assert main(["refresh", "link", "--source", str(source)]) == 2
    assert capsys.readouterr().err == (
        f"ouro vm refresh: {source}/images/link.yaml: a symbolic link; refused "
        "(the checkout is a PR's content)\n"
    )
    assert main(["refresh", "no/such", "--source", str(source)]) == 2
    assert capsys.readouterr().err.startswith("ouro vm refresh: invalid image name 'no/such'")
    monkeypatch.chdir(source)
    assert main(["refresh", "absent"]) == 2
    assert capsys.readouterr().err == (
        "ouro vm refresh: images/absent.yaml: no such recipe (a regular file) in the checkout\n"
    )
    # An invalid recipe is bad input too; it is read before anything is built.
    (source / "images" / "bad.yaml").write_text("suit: bookworm\n")
    monkeypatch.setenv("OURO_STORE", "http")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert main(["refresh", "bad"]) == 2
    assert "images/bad.yaml: unknown field 'suit'" in capsys.readouterr().err
    assert not list(tmp_path.glob("ouro-vm-refresh-*"))


def test_write_reference_does_not_follow_a_planted_link(tmp_path: Path) -> None:
    folder = tmp_path / "repo" / "images"
    folder.mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("untouched\n")
    # The temporary name write_reference once used, and a few others a PR might guess.
    for planted in (".demo.tmp", ".demo", ".demo.0"):
        (folder / planted).symlink_to(victim)
    remote.write_reference(folder / "demo", OLD)
    assert (folder / "demo").read_text() == OLD.file_name + "\n"
    assert victim.read_text() == "untouched\n"
    assert sorted(path.name for path in folder.iterdir()) == [
        ".demo",
        ".demo.0",
        ".demo.tmp",
        "demo",
    ]


# The job's upload token: $OURO_SECRETS/images-upload.


def test_the_job_secret_is_the_token_when_no_token_file_is_set(
    images_server: ImagesServerFixture, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    monkeypatch.setenv("OURO_SECRETS", str(secrets))
    monkeypatch.delenv("IMAGES_TOKEN_FILE")
    # No such secret: no token, and the images-server refuses the upload.
    assert upload_secret() is None
    store = open_upload_store()
    with pytest.raises(StoreError, match="401"):
        store.put("images/probe", b"x")
    store.close()

    # The image-only token a job gets (docs/images-server.md, "job tokens").
    job_tokens = tmp_path / "job-tokens"
    job_tokens.write_text("job-token-1\n")
    images_server.server.image_tokens = SecretFile(job_tokens, "image upload token")
    (secrets / UPLOAD_SECRET).write_text("job-token-1\n")
    assert upload_secret() == secrets / UPLOAD_SECRET
    store = open_upload_store()
    store.put("images/probe", b"x")
    store.close()
    assert (images_server.dir / "images" / "probe").read_bytes() == b"x"
    assert "IMAGES_TOKEN_FILE" not in os.environ

    # A token file that is set wins over the secret.
    monkeypatch.setenv("IMAGES_TOKEN_FILE", str(images_server.token_file))
    assert upload_secret() is None


# The flow, with a stand-in for the (slow, root-only) build.


def fake_build(
    recipe: Path, output: Path, *, apt_cache: Path | None = None, mirror: str = ""
) -> ImageFiles:
    """Four files like a build's, the same for the same recipe."""
    seed = hashlib.sha256(recipe.read_bytes()).digest()
    files = ImageFiles(output)
    files.qcow2.write_bytes(QCOW2_MAGIC + seed * 1000)
    files.kernel.write_bytes(b"kernel" + seed)
    files.initrd.write_bytes(b"initrd" + seed)
    entries = {
        kind: {"size": path.stat().st_size, "sha256": file_sha256(path)}
        for kind, path in (
            ("qcow2", files.qcow2),
            ("kernel", files.kernel),
            ("initrd", files.initrd),
        )
    }
    files.manifest.write_text(json.dumps({"format": FORMAT, "files": entries}))
    BUILDS.append((recipe, output, apt_cache))
    return files


BUILDS: list[tuple[Path, Path, Path | None]] = []


def test_refresh_uploads_writes_the_reference_and_says_unchanged(
    images_server: ImagesServerFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(build_module, "build", fake_build)
    BUILDS.clear()
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    source = checkout(tmp_path / "repo")
    reference = source / "images" / "demo"
    reference.write_text(OLD.file_name + "\n")
    apt_cache = tmp_path / "debs"

    assert main(["refresh", "demo", "--source", str(source), "--apt-cache", str(apt_cache)]) == 0
    new = ImageRef.parse(reference.read_text())
    assert new.name == "demo"
    out = capsys.readouterr().out
    assert out == f"refreshed demo: {OLD.file_name} -> {new.file_name}\n"
    recipe, output, cache = BUILDS[0]
    assert (recipe, cache) == (source / "images" / "demo.yaml", apt_cache)
    assert output.parent.parent == temporary
    assert sorted(path.name for path in (images_server.dir / "images").iterdir()) == [
        f"demo-{new.sha256}{suffix}"
        for suffix in (".initrd", ".manifest.json", ".qcow2", ".vmlinuz")
    ]
    # The temporary build folder is gone.
    assert list(temporary.iterdir()) == []

    # Same recipe, same image here: exit 0, "unchanged", the file as it was.
    assert main(["refresh", "demo", "--source", str(source)]) == 0
    assert capsys.readouterr().out == (
        f"refreshed demo: {new.file_name} -> {new.file_name} (unchanged)\n"
    )
    assert reference.read_text() == new.file_name + "\n"

    # No reference file yet, or one that holds no reference: "(none)".
    reference.write_text("garbage\n")
    assert main(["refresh", "demo", "--source", str(source)]) == 0
    assert capsys.readouterr().out == f"refreshed demo: (none) -> {new.file_name}\n"
    reference.unlink()
    assert main(["refresh", "demo", "--source", str(source)]) == 0
    assert capsys.readouterr().out == f"refreshed demo: (none) -> {new.file_name}\n"
    assert list(temporary.iterdir()) == []


def test_a_failed_upload_leaves_the_reference_alone(
    images_server: ImagesServerFixture,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(build_module, "build", fake_build)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token\n")
    monkeypatch.setenv("IMAGES_TOKEN_FILE", str(wrong))
    source = checkout(tmp_path / "repo")
    reference = source / "images" / "demo"
    reference.write_text(OLD.file_name + "\n")
    assert main(["refresh", "demo", "--source", str(source)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("ouro vm refresh: upload of demo-")
    assert reference.read_text() == OLD.file_name + "\n"
    assert list(temporary.iterdir()) == []


# One real build, as in a default job container (root without CAP_SYS_ADMIN, so mmdebstrap
# cannot mount /proc, /sys and /dev in the image), uploaded with a job's image-only token,
# then booted from the store.

WITHOUT_SYS_ADMIN = ["setpriv", "--bounding-set=-sys_admin", "--"]
TINY = """\
suite: bookworm
setup:
  - echo "refreshed by ouro vm refresh" > /etc/ouro-refresh
size: 1G
"""


def test_a_real_refresh_builds_uploads_and_the_image_boots(
    images_server: ImagesServerFixture, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    require_build_tools()
    source = checkout(tmp_path / "product", name="tiny", recipe=TINY)
    old = ImageRef("tiny", "1" * 64)
    (source / "images" / "tiny").write_text(old.file_name + "\n")
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / UPLOAD_SECRET).write_text("job-image-token\n")
    job_tokens = tmp_path / "job-tokens"
    job_tokens.write_text("job-image-token\n")
    images_server.server.image_tokens = SecretFile(job_tokens, "image upload token")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = vm_env(OURO_SECRETS=str(secrets), TMPDIR=str(temporary))
    del env["IMAGES_TOKEN_FILE"]
    # The session's .deb cache (tests/vm/conftest.py), shared under its lock.
    apt_cache = tmp_path_factory.getbasetemp().parent / "ouro-vm-apt-cache"

    done = subprocess.run(
        [
            *WITHOUT_SYS_ADMIN,
            *[sys.executable, "-m", "vm", "refresh", "tiny", "--apt-cache", str(apt_cache)],
        ],
        cwd=source,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    new = ImageRef.parse((source / "images" / "tiny").read_text())
    assert done.stdout == f"refreshed tiny: {old.file_name} -> {new.file_name}\n"
    assert "W: cannot mount because CAP_SYS_ADMIN is not in the effective set" in done.stderr
    for progress in ("refresh tiny: building images/tiny.yaml", "mmdebstrap: ", "mkfs.ext4 -d: ",
                     "built ", "upload token from ", f"uploaded {new.file_name}"):  # fmt: skip
        assert progress in done.stderr
    stored = images_server.dir / "images" / new.file_name
    assert file_sha256(stored) == new.sha256
    assert list(temporary.iterdir()) == []

    booted = subprocess.run(
        [sys.executable, "-m", "vm", "run", "images/tiny", "--", "cat", "/etc/ouro-refresh"],
        cwd=source,
        env={**env, "OURO_VM_CACHE": str(tmp_path / "cache")},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BOOT_TIMEOUT,
        check=False,
    )
    assert booted.returncode == 0, booted.stderr
    assert "refreshed by ouro vm refresh" in booted.stdout.splitlines()
