"""Watch a QEMU process: pass on its output line by line, and end it when it must end.

One thread, one `select` loop over QEMU's stdout (the guest console) and stderr (QEMU's
own messages). QEMU is killed when the deadline passes, when `stop` is set (a cancel, a
SIGTERM), or when stderr says the guest cannot go on (a KVM internal error leaves QEMU
paused forever instead of exiting).
"""

import os
import re
import selectors
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from vm import qemu

# QEMU's words for "the guest is stopped and will never run again".
FATAL = re.compile(r"KVM internal error|emulation failure|KVM: entry failed|Assertion .* failed")
POLL = 0.1
LONGEST_LINE = 64 << 10


@dataclass(frozen=True)
class Outcome:
    kind: Literal["exited", "timeout", "stopped", "fatal"]
    returncode: int | None
    # For "fatal": the line of QEMU's that said so.
    detail: str = ""


def supervise(
    process: "subprocess.Popen[bytes]",
    *,
    timeout: float,
    on_console: Callable[[str], None],
    on_message: Callable[[str], None],
    stop: threading.Event | None = None,
) -> Outcome:
    """Until QEMU exits or must be killed; QEMU is gone (reaped) when this returns."""
    if process.stdout is None or process.stderr is None:
        raise ValueError("QEMU must be started with its stdout and stderr on pipes")
    deadline = time.monotonic() + timeout
    streams = {process.stdout.fileno(): on_console, process.stderr.fileno(): on_message}
    pending = dict.fromkeys(streams, b"")
    fatal = ""
    with selectors.DefaultSelector() as selector:
        for fd in streams:
            os.set_blocking(fd, False)
            selector.register(fd, selectors.EVENT_READ)
        try:
            while selector.get_map():
                now = time.monotonic()
                if now >= deadline:
                    qemu.kill(process)
                    return Outcome("timeout", process.returncode)
                if stop is not None and stop.is_set():
                    qemu.kill(process)
                    return Outcome("stopped", process.returncode)
                if fatal:
                    qemu.kill(process)
                    return Outcome("fatal", process.returncode, fatal)
                for key, _ in selector.select(min(POLL, deadline - now)):
                    fd = int(key.fd)
                    data = _read(fd)
                    if data is None:
                        continue
                    if not data:
                        selector.unregister(fd)
                        if pending[fd]:
                            streams[fd](_text(pending[fd]))
                        continue
                    *lines, pending[fd] = (pending[fd] + data).split(b"\n")
                    if len(pending[fd]) > LONGEST_LINE:
                        lines.append(pending[fd])
                        pending[fd] = b""
                    for line in lines:
                        text = _text(line)
                        streams[fd](text)
                        if fd != process.stdout.fileno() and FATAL.search(text):
                            fatal = fatal or text.strip()
            # Both pipes closed: QEMU is exiting; it still gets the rest of the deadline.
            try:
                process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                qemu.kill(process)
                return Outcome("timeout", process.returncode)
            return Outcome("exited", process.returncode)
        finally:
            qemu.kill(process)
            process.stdout.close()
            process.stderr.close()


def _read(fd: int) -> bytes | None:
    """What is there (b"" at the end of the stream), or None if a wake-up found nothing."""
    try:
        return os.read(fd, 1 << 16)
    except BlockingIOError:
        return None
    except OSError:
        return b""


def _text(line: bytes) -> str:
    # The serial console ends lines with CR LF; a guest may print any bytes.
    return line.rstrip(b"\r").decode("utf-8", errors="replace")
