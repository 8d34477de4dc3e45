"""Sizes as people write them: `512M`, `2G`, `20GiB`, or plain bytes."""

import re

from vm.errors import VmError

_SIZE = re.compile(r"(\d+)\s*([KMGT]?)(?:i?B)?", re.IGNORECASE)
_FACTOR = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value: str | int, what: str) -> int:
    """Bytes for `value`; K, M, G, T are powers of 1024 (disk tools mean the same)."""
    if isinstance(value, bool):
        raise VmError(f"{what}: expected a size such as 2G, not {value!r}")
    if isinstance(value, int):
        return value
    match = _SIZE.fullmatch(value.strip())
    if not match:
        raise VmError(f"{what}: expected a size such as 512M or 2G, not {value!r:.40}")
    return int(match[1]) * _FACTOR[match[2].upper()]


def human(size: float) -> str:
    """`95.3 MiB`: sizes in log lines and figures."""
    if size < 1024:
        return f"{size:.0f} B"
    for unit in ("KiB", "MiB"):
        size /= 1024
        if size < 1024:
            return f"{size:.1f} {unit}"
    return f"{size / 1024:.1f} GiB"
