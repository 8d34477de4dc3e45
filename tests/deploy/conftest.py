"""The deployment under test: the same `Deployment` that ./run-local.sh drives, built from
this tree, brought up once per session in a folder of its own and always torn down.

The host ports are fixed, so one deployment runs at a time: tests with a deployment of
their own (`own_deployment`) run after those sharing the session's, which they take down.
"""

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from ouro.deploy.local import Deployment


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    deploy = Deployment(tmp_path_factory.mktemp("deploy"))
    _SHARED.append(deploy)
    try:
        deploy.up()
    except Exception:
        deploy.dump_logs()
        deploy.down(quiet=True)
        raise
    yield deploy
    deploy.down(quiet=True)


_SHARED: list[Deployment] = []


@pytest.fixture
def own_deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A deployment the test brings up itself (e.g. against another GitHub)."""
    for shared in _SHARED:
        shared.down(quiet=True)
    deploy = Deployment(tmp_path / "deploy")
    yield deploy
    deploy.down(quiet=True)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # Stable: the session's shared deployment serves every test before any takes it down.
    items.sort(key=lambda item: "own_deployment" in getattr(item, "fixturenames", ()))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failed deployment test, attach every container's log to the report."""
    report = yield
    funcargs = getattr(item, "funcargs", {})
    deploy = funcargs.get("deployment")
    if report.failed and isinstance(deploy, Deployment):
        lines: list[str] = []
        deploy.dump_logs(lines.append)
        report.sections.append(("container logs", "\n".join(lines)))
    return report
