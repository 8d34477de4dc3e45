"""`ouro vm build` with real mmdebstrap: the session's image, and what its manifest says."""

import json
import stat

import pytest

from ouro.store import file_sha256
from tests.vm.conftest import BuiltImage
from vm.build import NO_MOUNTS_HINT, _run_mmdebstrap
from vm.errors import VmError
from vm.guest import INIT_PATH
from vm.manifest import FORMAT


def test_the_image_and_its_boot_files(vm_image: BuiltImage) -> None:
    files = vm_image.files
    print(f"built in {vm_image.build_seconds:.1f} s")
    assert files.qcow2.read_bytes()[:4] == b"QFI\xfb"
    for path in (files.qcow2, files.kernel, files.initrd, files.manifest):
        # Readable by all: a worker that is not root boots it.
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    assert files.qcow2.stat().st_size < 200 << 20
    # MODULES=list and no udev: a few MiB, not the 15+ of a default initrd.
    assert files.initrd.stat().st_size < 8 << 20
    # No build leftovers beside the image.
    assert sorted(path.name for path in files.qcow2.parent.iterdir()) == [
        "recipe.yaml",
        "test.initrd",
        "test.manifest.json",
        "test.qcow2",
        "test.vmlinuz",
    ]


def test_the_manifest(vm_image: BuiltImage) -> None:
    files = vm_image.files
    manifest = json.loads(files.manifest.read_text())
    assert manifest["format"] == FORMAT
    assert manifest["recipe"]["sha256"] == file_sha256(vm_image.recipe)
    assert manifest["recipe"]["suite"] == "bookworm"
    assert manifest["recipe"]["setup_commands"] == 2
    for kind, path in (("qcow2", files.qcow2), ("kernel", files.kernel), ("initrd", files.initrd)):
        assert manifest["files"][kind] == {
            "size": path.stat().st_size,
            "sha256": file_sha256(path),
        }
    packages = {package["name"]: package for package in manifest["packages"]}
    assert "linux-image-cloud-amd64" in packages
    assert packages["linux-image-cloud-amd64"]["version"]
    assert "initramfs-tools" in packages
    assert manifest["kernel_release"].endswith("-cloud-amd64")
    assert f"linux-image-{manifest['kernel_release']}" in packages
    rootfs = manifest["rootfs"]
    assert INIT_PATH in rootfs
    assert "/etc/ouro-test" in rootfs
    assert not [path for path in rootfs if path.startswith("/usr/share/man/")]
    assert not [path for path in rootfs if path.endswith(".deb")]
    doc = [path for path in rootfs if path.startswith("/usr/share/doc/")]
    assert doc
    assert all(path.endswith("/copyright") for path in doc)
    assert manifest["sizes"]["filesystem_bytes"] == 1 << 30
    assert manifest["sizes"]["rootfs_files"] == len(rootfs)
    assert 100 << 20 < manifest["sizes"]["rootfs_bytes"] < 600 << 20


def test_the_apt_cache_keeps_the_debs(vm_image: BuiltImage) -> None:
    debs = sorted(path.name for path in vm_image.apt_cache.glob("*.deb"))
    assert any(name.startswith("linux-image-") for name in debs)
    assert len(debs) > 50


# What mmdebstrap 1.3.5 prints in a container without CAP_SYS_ADMIN (podman's default), then
# what a package whose script needs /proc prints (openjdk-17-jre-headless in bookworm).
NO_MOUNTS = """\
W: cannot mount because CAP_SYS_ADMIN is not in the effective set
W: skipping mount proc
Setting up openjdk-17-jre-headless:amd64 (17.0.17+10-1~deb12u1) ...
the java command requires a mounted proc fs (/proc).
"""


def test_a_failure_without_mounts_says_why(capfdbinary: pytest.CaptureFixture[bytes]) -> None:
    script = f"printf '%s' '{NO_MOUNTS}'; exit 25"
    with pytest.raises(VmError) as caught:
        _run_mmdebstrap(["sh", "-c", script])
    assert str(caught.value) == (
        f"mmdebstrap failed (exit code 25); its output is above; {NO_MOUNTS_HINT}"
    )
    # Its lines on stderr, the hidden per-package line after them.
    assert capfdbinary.readouterr().err.decode().splitlines() == [
        "W: cannot mount because CAP_SYS_ADMIN is not in the effective set",
        "W: skipping mount proc",
        "the java command requires a mounted proc fs (/proc).",
        "Setting up openjdk-17-jre-headless:amd64 (17.0.17+10-1~deb12u1) ...",
    ]
    with pytest.raises(VmError) as caught:
        _run_mmdebstrap(["sh", "-c", "echo 'E: some other failure'; exit 1"])
    assert str(caught.value) == "mmdebstrap failed (exit code 1); its output is above"
