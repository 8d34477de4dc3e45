"""The initrd of an image: just what finds the root disk, made once, during mmdebstrap.

The cloud kernel builds virtio_pci and virtio_blk as modules, so an initrd is needed.
initramfs-tools makes it with three files that mmdebstrap's essential hook puts in place
before the kernel package is installed (none is a package's conffile, so dpkg asks
nothing), and the kernel's own postinst builds the initrd once, already small:

- `MODULES=list` with the modules named below: ~5 MiB instead of ~15 MiB for
  `MODULES=most` (`MODULES=dep` cannot see the guest's hardware from a chroot);
- a hook that leaves udev out: the kernel creates the guest's few device nodes in
  devtmpfs itself, while starting udev and waiting for it to settle costs 3-4 s of a
  5-12 s boot under TCG. Only udev's part in moving /dev to the root file system stays.

The hook relies on the layout of initramfs-tools 0.142 (bookworm) and later: udev's
scripts are `scripts/init-top/udev` and `scripts/init-bottom/udev`.
"""

MODULES = ("virtio_pci", "virtio_blk", "ext4")
NAME = "ouro-vm"
CONF_D = "/etc/initramfs-tools/conf.d"
HOOKS_D = "/etc/initramfs-tools/hooks"
MODULES_D = "/usr/share/initramfs-tools/modules.d"

NO_UDEV_HOOK = r"""#!/bin/sh
# ouro vm (vm/initramfs.py): no udev in the initrd; the kernel's devtmpfs suffices.
[ "$1" = prereqs ] && exit 0
rm -f "$DESTDIR/scripts/init-top/udev"
find "$DESTDIR" \( -name udevadm -o -name systemd-udevd \) -exec rm -f {} +
cat >"$DESTDIR/scripts/init-bottom/udev" <<'EOF'
#!/bin/sh
[ "$1" = prereqs ] && exit 0
mount -n -o move /dev "${rootmnt:?}/dev"
EOF
chmod 0755 "$DESTDIR/scripts/init-bottom/udev"
"""

# (folder in the image, file name, content, mode): vm/build.py puts them in place.
FILES = (
    (CONF_D, NAME, "MODULES=list\n", 0o644),
    (HOOKS_D, NAME, NO_UDEV_HOOK, 0o755),
    (MODULES_D, NAME, "".join(f"{module}\n" for module in MODULES), 0o644),
)
