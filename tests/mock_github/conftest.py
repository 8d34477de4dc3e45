import pytest

from tests.tools import require_tool


@pytest.fixture
def gh_installed() -> None:
    require_tool("gh", "gh")
