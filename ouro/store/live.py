"""Live logs over any `Store`: numbered chunks a reader follows, then one `log`.

The layout needs nothing but plain reads (no listing, no appends), so the page
works from the images-server, a static file server, or an S3 bucket alike:
`index.html` fetches `chunks/000001`, `chunks/000002`… as they appear and, once
`log` exists, the rest of `log` from the byte offset it has shown.
"""

import html
import json
import logging
import tempfile
import threading
from importlib.resources import files

from ouro.store import Store, StoreError, check_path, jobrecord

log = logging.getLogger(__name__)

PAGE = "index.html"
FINAL = "log"
ATTACHMENTS = "attachments.json"
CHUNKS = "chunks/"
# The page's own files and the job's record, left out of the attachments it links to.
OWN_FILES = (PAGE, FINAL, ATTACHMENTS, jobrecord.NAME)

INTERVAL = 2.0
# Output beyond this wakes the uploader early, so the buffer stays small under heavy output.
EAGER_BYTES = 1 << 20


def chunk_name(number: int) -> str:
    return f"{CHUNKS}{number:06d}"


def log_page(job: str) -> bytes:
    template = files("ouro.store").joinpath("logpage.html").read_text(encoding="utf-8")
    return template.replace("{{JOB}}", html.escape(job)).encode()


class ChunkedLiveLog:
    """`LiveLog` for every backend; flushes by itself every `interval` seconds."""

    def __init__(self, store: Store, job_dir: str, *, interval: float = INTERVAL):
        check_path(job_dir, folder=True)
        parts = job_dir.split("/")
        if parts[0] != "logs" or len(parts) != 3 or parts[2] != "":
            raise StoreError(f"a job folder is logs/<job>/, not {job_dir!r:.80}")
        self.job = parts[1]
        self._store = store
        self._dir = job_dir
        self._interval = interval
        # The whole log, on disk, for the final `log`: memory stays small for any length.
        self._spool = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._buffer = bytearray()
        self._pending: bytes | None = None
        self._next = 1
        self._lock = threading.Lock()
        self._upload_lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._closed = False
        try:
            store.put(job_dir + PAGE, log_page(self.job))
        except BaseException:
            self._spool.close()
            raise
        self._thread = threading.Thread(target=self._run, name=f"live-log {self.job}", daemon=True)
        self._thread.start()
        log.info("live log for job %s started", self.job)

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._closing:
                raise ValueError(f"live log of job {self.job} is closed")
            self._buffer += data
            self._spool.write(data)
            eager = len(self._buffer) >= EAGER_BYTES
        if eager:
            self._wake.set()

    def flush(self) -> None:
        # One upload at a time, so chunk numbers reach the store in order and without gaps.
        with self._upload_lock:
            while True:
                if self._pending is None:
                    with self._lock:
                        if not self._buffer:
                            return
                        self._pending = bytes(self._buffer)
                        self._buffer.clear()
                # A failed chunk stays pending and is retried under the same number.
                self._store.put(self._dir + chunk_name(self._next), self._pending)
                self._pending = None
                self._next += 1

    def close(self) -> None:
        if self._closed:
            return
        with self._lock:
            self._closing = True
        self._wake.set()
        self._thread.join()
        try:
            self.flush()
            attachments = sorted(
                name
                for name in (path[len(self._dir) :] for path in self._store.list(self._dir))
                if name not in OWN_FILES and not name.startswith(CHUNKS)
            )
            self._store.put(self._dir + ATTACHMENTS, json.dumps(attachments).encode())
            self._spool.flush()
            self._spool.seek(0)
            # Last: `log` tells readers that the job ended and every chunk is in.
            self._store.put(self._dir + FINAL, self._spool)
        finally:
            self._spool.close()
            self._closed = True
        try:
            self._store.delete(self._dir + CHUNKS)
        except StoreError as error:
            log.warning("job %s: cannot remove the live chunks: %s", self.job, error)
        log.info("live log for job %s finalised (%d chunks)", self.job, self._next - 1)

    def _run(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._closing:
                return
            try:
                self.flush()
            except StoreError as error:
                log.warning("job %s: live log upload failed, will retry: %s", self.job, error)
