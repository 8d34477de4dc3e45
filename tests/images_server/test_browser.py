"""The log page in headless Chromium (tests/chromium.py), while the job is still writing."""

from collections.abc import Iterator

import pytest

from ouro.store import Store, open_store
from ouro.store.live import ChunkedLiveLog
from tests.chromium import Browser, Page
from tests.fixtures_images import ImagesServerFixture

pytestmark = pytest.mark.browser


def text(page: Page) -> str:
    """The log as the page shows it."""
    value: str = page.evaluate("document.getElementById('log').textContent")
    return value


@pytest.fixture(params=["http", "s3"])
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    """The images-server, or an S3 bucket serving the page as plain static files."""
    if request.param == "http":
        server: ImagesServerFixture = request.getfixturevalue("images_server")
        server.configure(request.getfixturevalue("monkeypatch"))
    else:
        request.getfixturevalue("s3_bucket")
    opened = open_store()
    yield opened
    opened.close()


def test_log_page_follows_a_running_job(browser: Browser, store: Store) -> None:
    live = ChunkedLiveLog(store, "logs/browser-job/", interval=3600)
    try:
        live.write(b"first line\n")
        live.flush()
        page = browser.open(store.url("logs/browser-job/index.html"))
        page.wait_for("document.getElementById('log').textContent.includes('first line')", "line 1")
        # Anything a reload would lose shows that later lines came without one.
        page.evaluate("window.notReloaded = true")
        assert page.evaluate("document.body.dataset.state") == "running"

        live.write("second line ✓\nthird ".encode())
        live.flush()
        page.wait_for("document.getElementById('log').textContent.includes('third')", "line 2")
        assert text(page) == "first line\nsecond line ✓\nthird "
        assert page.evaluate("window.notReloaded") is True
        assert page.evaluate("document.body.dataset.state") == "running"

        store.put("logs/browser-job/shots/screen 1.png", b"PNG")
        live.write(b"line\nlast line\n")
    finally:
        live.close()
    page.wait_for("document.body.dataset.state === 'done'", "the end of the job")
    assert text(page) == "first line\nsecond line ✓\nthird line\nlast line\n"
    assert page.evaluate("window.notReloaded") is True
    links = page.evaluate("[...document.querySelectorAll('#files a')].map(a => a.href)")
    assert links == [store.url("logs/browser-job/shots/screen 1.png")]

    # Opened after the end, the page shows the final log (the chunks are gone).
    again = browser.open(store.url("logs/browser-job/index.html"))
    again.wait_for("document.body.dataset.state === 'done'", "the finished job")
    assert text(again) == "first line\nsecond line ✓\nthird line\nlast line\n"


@pytest.fixture
def http_store(
    images_server: ImagesServerFixture, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    images_server.configure(monkeypatch)
    opened = open_store()
    yield opened
    opened.close()


def test_log_page_numbers_lines_highlights_failures_and_opens_at_a_line(
    browser: Browser, http_store: Store
) -> None:
    store = http_store
    live = ChunkedLiveLog(store, "logs/anchors/", interval=3600)
    try:
        # Opened at line 3 before line 3 exists: the page goes there once it arrives.
        page = browser.open(store.url("logs/anchors/index.html") + "#L3")
        live.write(b"setting up\nrunning 2 tests\n")
        live.flush()
        page.wait_for("document.getElementById('L2') !== null", "line 2")
        live.write(b"FAILED (failures=1)\nTraceback (most recent call last):\nthe end")
    finally:
        live.close()
    page.wait_for("document.body.dataset.state === 'done'", "the end of the job")
    # The text is the log as it was written: numbers are drawn by CSS, not part of it.
    assert text(page) == (
        "setting up\nrunning 2 tests\nFAILED (failures=1)\n"
        "Traceback (most recent call last):\nthe end"
    )
    assert page.evaluate("[...document.querySelectorAll('.line')].map(l => l.id)") == [
        "L1",
        "L2",
        "L3",
        "L4",
        "L5",
    ]
    assert page.evaluate("document.querySelector('#L4 a.n').getAttribute('href')") == "#L4"
    assert page.evaluate("[...document.querySelectorAll('.bad')].map(l => l.id)") == ["L3", "L4"]
    assert page.evaluate("document.querySelector('.line.target').id") == "L3"


def test_log_page_follows_the_tail_while_the_reader_is_at_the_bottom(
    browser: Browser, http_store: Store
) -> None:
    store = http_store
    live = ChunkedLiveLog(store, "logs/tail/", interval=3600)
    at_bottom = "window.scrollY + window.innerHeight >= document.documentElement.scrollHeight - 2"
    try:
        page = browser.open(store.url("logs/tail/index.html"))
        page.wait_for("document.body !== null && document.body.dataset.state === 'running'", "it")
        page.set_viewport(800, 300)
        live.write(b"".join(b"line %d\n" % n for n in range(1, 201)))
        live.flush()
        page.wait_for("document.getElementById('L200') !== null", "line 200")
        page.wait_for(at_bottom, "the tail")
        assert page.evaluate("window.scrollY") > 0

        # Scrolled up to read: new lines leave the reader where they are.
        page.evaluate("window.scrollTo(0, 100)")
        live.write(b"".join(b"more %d\n" % n for n in range(1, 101)))
        live.flush()
        page.wait_for("document.getElementById('L300') !== null", "line 300")
        assert page.evaluate("window.scrollY") == 100
        assert not page.evaluate(at_bottom)

        # Back at the bottom: the page follows again.
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        live.write(b"".join(b"last %d\n" % n for n in range(1, 101)))
        live.flush()
        page.wait_for("document.getElementById('L400') !== null", "line 400")
        page.wait_for(at_bottom, "the new tail")
    finally:
        live.close()
