"""A passing and a failing PR through the whole deployment — unit tests in a container,
the same tests in a VM booted by QEMU, and a browser test — asserted on what the mock
GitHub recorded and on what the images-server serves."""

import pytest
import requests

from mock_github.control import MockGitHubControl
from ouro.deploy import drive, manifests, podman
from ouro.deploy import host as deploy_host
from ouro.deploy.local import Deployment
from tests.deploy import observe

pytestmark = pytest.mark.deployment


@pytest.fixture(scope="module")
def outcomes(deployment: Deployment) -> list[drive.Outcome]:
    return drive.drive(deployment, timeout=240)


def test_each_context_of_each_pr_gets_exactly_three_statuses(
    outcomes: list[drive.Outcome],
) -> None:
    assert sorted((o.number, o.context) for o in outcomes) == [
        (n, c) for n in (1, 2) for c in ("browser", "unit-tests", "vm")
    ]
    for outcome in outcomes:
        states = [(s["state"], s["description"].split(" [")[0]) for s in outcome.statuses]
        final = "Success" if outcome.expected == "success" else "Tests failed"
        assert states == [
            ("pending", "Not yet tested"),
            ("pending", "In progress"),
            (outcome.expected, final),
        ]
        assert all(s["context"] == outcome.context for s in outcome.statuses)
        # Both statuses a worker posts link to the same log.
        assert outcome.statuses[1]["target_url"] == outcome.statuses[2]["target_url"]


def test_every_probe_reports_ready_and_each_component_counted_the_scenario(
    deployment: Deployment, outcomes: list[drive.Outcome]
) -> None:
    probes = manifests.probes(manifests.production())
    # Both probes of every container the production manifests run.
    assert {(p.container, p.kind) for p in probes} == {
        (c, k)
        for c in ("broker", "webhook", "tasks", "worker", "images-server")
        for k in ("readiness", "liveness")
    }
    for probe in probes:
        code, output = observe.ask(probe)
        assert code == 0, f"{probe}: {output}"
    ports = {p.container: p.port for p in probes if p.port}
    jobs = len(outcomes)
    webhook = observe.samples(deployment, ports["webhook"])
    # pull_request opened for both PRs, at least: accepted, each with a 202.
    assert observe.total(webhook, "ouro_webhook_deliveries_total", code="202") >= 2
    bot = observe.samples(deployment, ports["tasks"])
    assert observe.total(bot, "ouro_bot_events_total") >= 2
    assert observe.total(bot, "ouro_bot_jobs_queued_total") >= jobs
    worker = observe.samples(deployment, ports["worker"])
    for state in ("success", "failure"):
        ended = observe.total(worker, "ouro_worker_jobs_total", state=state)
        assert ended >= sum(o.expected == state for o in outcomes), (state, worker)
    assert observe.total(worker, "ouro_worker_job_seconds_count") >= jobs


def test_metrics_and_the_status_page_show_the_scenario(
    deployment: Deployment, outcomes: list[drive.Outcome]
) -> None:
    """What an operator watches, read after the scenario: the series a dashboard plots, and
    the status page listing each of the scenario's jobs with its result."""
    ports = {p.container: p.port for p in manifests.probes(manifests.production()) if p.port}
    bot = observe.samples(deployment, ports["tasks"])
    # Each status the bot posted is a counted POST to the statuses route, by its event.
    posted = observe.total(
        bot,
        "ouro_github_requests_total",
        method="POST",
        endpoint="/repos/{owner}/{repo}/statuses/{sha}",
    )
    assert posted >= len(outcomes), {k: v for k, v in bot.items() if "github" in k}
    assert observe.total(bot, "ouro_bot_event_to_status_seconds_count") >= 2
    for queue in ("webhook", "tasks", "tasks.vm"):
        assert f'ouro_queue_messages{{queue="{queue}"}}' in bot, sorted(bot)
    worker = observe.samples(deployment, ports["worker"])
    jobs = len(outcomes)
    # Queued → started, and started → finished, one observation per job at least.
    assert observe.total(worker, "ouro_worker_job_wait_seconds_count") >= jobs
    assert observe.total(worker, "ouro_worker_job_seconds_count") >= jobs
    assert observe.total(worker, "ouro_github_requests_total", method="POST") >= 2 * jobs
    images = observe.samples(deployment, ports["images-server"])
    assert observe.total(images, "ouro_images_requests_total", method="PUT") >= jobs
    assert observe.total(images, "ouro_images_bytes_total", direction="received") > 0
    assert observe.total(images, "ouro_images_bytes_total", direction="sent") > 0

    status = requests.get(f"{deployment.url('images-server')}/status.json", timeout=10)
    assert status.status_code == 200
    shown = {r["id"]: r for r in status.json()["results"]}
    for outcome in outcomes:
        # The status's log link is the store's `logs/<job id>/…`.
        job = outcome.statuses[-1]["target_url"].split("/logs/", 1)[1].split("/", 1)[0]
        assert job in shown, (job, sorted(shown))
        assert shown[job]["state"] == outcome.expected
        assert (shown[job]["pr"], shown[job]["context"]) == (outcome.number, outcome.context)
    assert {q["queue"] for q in status.json()["queues"]} >= {"webhook", "tasks", "tasks.vm"}


def test_target_url_resolves_to_the_log_with_output_and_attachments(
    outcomes: list[drive.Outcome],
) -> None:
    failing = next(o for o in outcomes if o.expected == "failure" and o.context == "unit-tests")
    page = failing.statuses[-1]["target_url"]
    assert requests.get(page, timeout=10).status_code == 200
    job_dir = page.rsplit("/", 1)[0]
    log = requests.get(f"{job_dir}/log", timeout=10)
    assert log.status_code == 200
    assert "running the sample's unit tests" in log.text
    assert "AssertionError" in log.text
    attachment = requests.get(f"{job_dir}/unittest.txt", timeout=10)
    assert attachment.status_code == 200
    assert "FAILED (failures=1)" in attachment.text


def log_of(outcome: drive.Outcome) -> str:
    job_dir = outcome.statuses[-1]["target_url"].rsplit("/", 1)[0]
    response = requests.get(f"{job_dir}/log", timeout=10)
    assert response.status_code == 200
    return response.text


def test_the_vm_context_boots_the_referenced_image_and_runs_the_tests_in_the_guest(
    outcomes: list[drive.Outcome], deployment: Deployment
) -> None:
    vm = {o.expected: log_of(o) for o in outcomes if o.context == "vm"}
    assert deployment.state.sample_image.startswith("sample-")
    worker = podman.run(["logs", "ouroboros-worker"], check=False)
    # The worker decided once at start, by a probe boot; its jobs use what it decided.
    lines = (worker.stdout + worker.stderr).splitlines()
    probe = next(line for line in lines if "KVM probe:" in line)
    accelerator = "kvm" if "KVM probe: usable" in probe else "tcg"
    if not deploy_host.KVM.exists():
        assert accelerator == "tcg"
    for log in vm.values():
        # Which accelerator and why, then the guest's console: the command's output, the
        # guest's own report of its exit code, and the kernel powering the VM off.
        assert f"accelerator: {accelerator} (OURO_VM_ACCEL={accelerator})" in log
        assert "reboot: Power down" in log
    assert "Ran 1 test" in vm["success"]
    assert "ouro-vm: exit code 0" in vm["success"]
    assert "FAILED (failures=1)" in vm["failure"]
    assert "ouro-vm: exit code 1" in vm["failure"]


def test_the_browser_context_drives_chromium_in_the_job_image(
    outcomes: list[drive.Outcome],
) -> None:
    for outcome in (o for o in outcomes if o.context == "browser"):
        assert "the page says: 'Hello, Ada!'" in log_of(outcome)


def test_images_server_refuses_uploads_without_the_token(deployment: Deployment) -> None:
    url = f"{deployment.client_env()['IMAGES_SERVER_URL']}/images/intruder.qcow2"
    assert requests.put(url, data=b"x", timeout=10).status_code == 401
    bad = {"Authorization": "Bearer not-the-token"}
    assert requests.put(url, data=b"x", headers=bad, timeout=10).status_code == 401
    token = (deployment.secrets / "images" / "token").read_text().strip()
    good = {"Authorization": f"Bearer {token}"}
    assert requests.put(url, data=b"x", headers=good, timeout=10).status_code in (200, 201)


SLOW_TEST = """import time
import unittest


class SlowTest(unittest.TestCase):
    def test_takes_its_time(self) -> None:
        time.sleep(20)
"""


def test_worker_restarted_mid_job_then_the_job_completes(
    deployment: Deployment, outcomes: list[drive.Outcome]
) -> None:
    api = deployment.url("mock-github")
    with MockGitHubControl(api) as control:
        pr = control.open_pr(
            drive.REPO, "slow-test", files={"tests/test_slow.py": SLOW_TEST}, user="ouro-demo"
        )
    sha = str(pr["head"]["sha"])
    # With a token: the mock allows 60 requests an hour without one, as GitHub does.
    session = drive.mock_session(deployment)

    def running() -> bool:
        seen = drive.statuses(api, sha, session=session)
        return any(s["description"].startswith("In progress") for s in seen)

    deploy_host.wait_for(running, "the slow job's start", 120)
    # SIGKILL, then start again: the unacked job goes back to the queue.
    podman.run(["restart", "--time", "0", "ouroboros-worker"], timeout=120)

    def final() -> bool:
        seen = drive.statuses(api, sha, session=session)
        return bool(seen) and seen[-1]["state"] in drive.FINAL

    deploy_host.wait_for(final, "the slow job's final status", 240)
    seen = drive.statuses(api, sha, session=session)
    session.close()
    assert seen[-1]["state"] == "success"
    descriptions = [s["description"].split(" [")[0] for s in seen]
    assert descriptions[0] == "Not yet tested"
    # The job ran twice: once in the killed worker, once after the restart.
    assert descriptions.count("In progress") >= 2, descriptions
