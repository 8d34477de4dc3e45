"""What an image leaves out: documentation, man pages, info pages and translations.

mmdebstrap's own `--dpkgopt=path-exclude=…` would do it, but then it pipes every essential
package through `mmtarfilter`, a Python process per package: 40 s instead of 5 s of a
build. So the essential packages are unpacked whole, a dpkg configuration installed by
the essential hook keeps the rest out (and stays in the image, for packages installed
later), and `strip` removes what the essential packages brought. The copyright files
stay: they are the licences of what the image ships.
"""

import os
from pathlib import Path

EXCLUDED = ("/usr/share/man", "/usr/share/doc", "/usr/share/locale", "/usr/share/info")
KEPT = "copyright"
DPKG_CFG_D = "/etc/dpkg/dpkg.cfg.d"
NAME = "ouro-vm-excludes"

DPKG_EXCLUDES = (
    "# ouro vm (vm/slim.py): no documentation, man pages or translations in VM images.\n"
    + "".join(f"path-exclude={folder}/*\n" for folder in EXCLUDED)
    + f"path-include=/usr/share/doc/*/{KEPT}\n"
)


def strip(rootfs: Path) -> int:
    """Remove the excluded files under `rootfs` (symbolic links are removed, never
    followed); the number of files removed."""
    removed = 0
    for folder in EXCLUDED:
        top = rootfs / folder.lstrip("/")
        if not top.is_dir() or top.is_symlink():
            continue
        for parent, dirs, names in os.walk(top, topdown=False):
            for name in names:
                path = Path(parent, name)
                if name == KEPT and folder == "/usr/share/doc" and not path.is_symlink():
                    continue
                path.unlink()
                removed += 1
            for name in dirs:
                path = Path(parent, name)
                if path.is_symlink():
                    path.unlink()
                elif not any(path.iterdir()):
                    path.rmdir()
    return removed
