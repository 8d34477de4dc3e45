"""Headless Chromium for the tests of our web pages (the log page, the status page).

Chromium where it is installed (Debian: .ci/apt-packages), else Google Chrome, the same
engine: GitHub's ubuntu-24.04 runner has Chrome on PATH, and Ubuntu's chromium package
is only a transitional one for the snap.

Chromium is driven over the DevTools protocol with a minimal WebSocket client (stdlib
only), so a test can look at the same page several times without reloading it. The
`browser` fixture is registered for every test (tests/conftest.py).
"""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM = next((found for name in NAMES if (found := shutil.which(name))), None)
INSTALL_HINT = (
    "no Chromium or Chrome on PATH: apt-get install chromium (Debian, .ci/apt-packages; "
    "`make setup` does it), or install Google Chrome"
)


class DevTools:
    """Just enough of RFC 6455 and CDP: send a command, wait for its answer."""

    def __init__(self, port: int, path: str):
        self._socket = socket.create_connection(("127.0.0.1", port), timeout=30)
        self._file = self._socket.makefile("rb")
        key = base64.b64encode(os.urandom(16)).decode()
        self._socket.sendall(
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )
        status = self._file.readline()
        assert b" 101 " in status, status
        while self._file.readline().strip():
            pass
        self._next_id = 0

    def close(self) -> None:
        self._file.close()
        self._socket.close()

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self._send(json.dumps(message).encode())
        while True:
            answer = json.loads(self._receive())
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise AssertionError(f"{method}: {answer['error']}")
                result: dict[str, Any] = answer["result"]
                return result

    def _send(self, payload: bytes) -> None:
        mask = os.urandom(4)
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", 0x81, 0x80 | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", 0x81, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", 0x81, 0x80 | 127, length)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self._socket.sendall(header + mask + masked)

    def _receive(self) -> bytes:
        message = b""
        while True:
            first, second = self._file.read(2)
            length = second & 0x7F
            if length == 126:
                (length,) = struct.unpack("!H", self._file.read(2))
            elif length == 127:
                (length,) = struct.unpack("!Q", self._file.read(8))
            message += self._file.read(length)
            if first & 0x80:  # FIN
                return message


class Page:
    def __init__(self, devtools: DevTools, session: str):
        self._devtools = devtools
        self._session = session

    def evaluate(self, expression: str) -> Any:
        answer = self._devtools.call(
            "Runtime.evaluate", self._session, expression=expression, returnByValue=True
        )
        return answer["result"].get("value")

    def set_viewport(self, width: int, height: int) -> None:
        self._devtools.call(
            "Emulation.setDeviceMetricsOverride", self._session,
            width=width, height=height, deviceScaleFactor=1, mobile=False,
        )  # fmt: skip

    def wait_for(self, expression: str, what: str) -> None:
        """Until `expression` is true in the page; bounded, as the page polls every second."""
        for _ in range(300):
            if self.evaluate(expression):
                return
            time.sleep(0.1)
        shown = self.evaluate("document.body.innerText")
        pytest.fail(f"the page never showed {what}; it shows {shown!r:.2000}")


class Browser:
    def __init__(self, profile: Path):
        assert CHROMIUM, INSTALL_HINT
        profile.mkdir()
        self._stderr = (profile.parent / "chromium.log").open("wb")
        self.process = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",  # root in a container: the sandbox cannot start
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        active = profile / "DevToolsActivePort"
        for _ in range(600):
            if active.exists() and len(active.read_text().splitlines()) == 2:
                break
            assert self.process.poll() is None, "chromium exited; see chromium.log"
            time.sleep(0.05)
        port, path = active.read_text().splitlines()
        self.devtools = DevTools(int(port), path)

    def open(self, url: str) -> Page:
        target = self.devtools.call("Target.createTarget", url=url)["targetId"]
        session = self.devtools.call("Target.attachToTarget", targetId=target, flatten=True)
        return Page(self.devtools, session["sessionId"])

    def close(self) -> None:
        try:
            self.devtools.call("Browser.close")
        finally:
            self.devtools.close()
            try:
                self.process.wait(30)
            finally:
                if self.process.poll() is None:
                    self.process.kill()
                    self.process.wait()
                self._stderr.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    opened = Browser(tmp_path / "chromium-profile")
    yield opened
    opened.close()
