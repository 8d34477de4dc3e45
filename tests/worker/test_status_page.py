"""The images-server's status page in headless Chromium, after real jobs went through a
real worker (`running`): the queue depths from the broker, the running job with its worker,
PR and live log, and the last results, all from what the worker wrote into the store."""

import pytest
from prometheus_client import REGISTRY

from tasks.cancel import Cancel
from tests.chromium import Browser, Page
from tests.fixtures_images import ImagesServerFixture
from tests.waiting import wait_until
from tests.worker.helpers import publish_cancel
from tests.worker.running import Running

pytestmark = pytest.mark.browser


def rows(page: Page, table: str) -> list[list[str]]:
    cells = f"[...document.querySelectorAll('#{table} tbody tr')].map(r => [...r.cells]"
    value: list[list[str]] = page.evaluate(cells + ".map(c => c.textContent))")
    return value


def test_status_page_shows_queues_running_jobs_and_results(
    running: Running, images_server: ImagesServerFixture, browser: Browser
) -> None:
    waited_before = REGISTRY.get_sample_value(
        "ouro_worker_job_wait_seconds_count", {"context": "slow-tests"}
    )
    done = running.publish(context="quick-tests", pr=4)
    wait_until(lambda: running.described(done, "Success"), "the first job's success")
    slow = running.publish(
        context="slow-tests", pr=7, command=["sh", "-c", "echo started; sleep 120"]
    )
    wait_until(lambda: running.described(slow, "In progress"), "the slow job to start")
    waiting = [running.publish(context="later-tests", pr=8) for _ in range(2)]

    page = browser.open(images_server.url + "/status")
    try:
        page.wait_for(
            "[...document.querySelectorAll('#queues td')].some(c => c.textContent === 'tasks')"
            " && document.querySelector('#running tbody tr') !== null"
            " && document.querySelector('#results tbody tr') !== null",
            "the queues, the running job and a result",
        )
        page.wait_for(
            "[...document.querySelectorAll('#queues tr')].some(r => r.textContent === 'tasks21')",
            "two jobs waiting in tasks for its one worker",
        )
        queues = {name: (messages, consumers) for name, messages, consumers in rows(page, "queues")}
        assert queues["webhook"] == ("0", "0")
        assert queues["tasks.dead"] == ("0", "0")
        [[context, repo, pr, worker, _, link]] = rows(page, "running")
        assert (context, repo, pr, worker, link) == (
            "slow-tests", slow.repo, "#7", "w1", "live log"
        )  # fmt: skip
        log_url = page.evaluate("document.querySelector('#running a').href")
        assert log_url == images_server.url + f"/logs/{slow.id}/index.html"
        [[context, _, pr, worker, result, _, _]] = rows(page, "results")
        assert (context, pr, worker, result) == ("quick-tests", "#4", "w1", "Success [w1]")
        assert (
            REGISTRY.get_sample_value(
                "ouro_worker_job_wait_seconds_count", {"context": "slow-tests"}
            )
            == (waited_before or 0) + 1
        )

        # The link opens the job's live log, which shows what it printed so far.
        live = browser.open(log_url)
        live.wait_for("document.getElementById('log').textContent.includes('started')", "output")
        assert live.evaluate("document.body.dataset.state") == "running"
    finally:
        publish_cancel(Cancel(slow.repo, 7, None, "test over"), running.amqp_url)
    wait_until(lambda: running.described(slow, "Cancelled"), "the cancel")
    wait_until(
        lambda: all(running.described(job, "Success") for job in waiting), "the waiting jobs"
    )
    page.wait_for(
        "document.querySelector('#running tbody tr') === null"
        " && document.querySelectorAll('#results tbody tr').length === 4",
        "every job among the results",
    )
    # Newest first.
    assert [row[0] for row in rows(page, "results")][2:] == ["slow-tests", "quick-tests"]
    assert rows(page, "results")[2][4].startswith("Cancelled")
