"""The deployment under test: the same `Deployment` that ./run-local.sh drives, built from
this tree, brought up once per session in a folder of its own and always torn down."""

from collections.abc import Generator, Iterator

import pytest

from ouro.local import Deployment


@pytest.fixture(scope="session")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    deploy = Deployment(tmp_path_factory.mktemp("deploy"))
    try:
        deploy.up()
    except Exception:
        deploy.dump_logs()
        deploy.down(quiet=True)
        raise
    yield deploy
    deploy.down(quiet=True)


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
