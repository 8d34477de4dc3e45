"""The root of `State`: its lock, its id sequence and its indexes of accounts and repositories."""

import threading
from pathlib import Path

from mock_github.records import Account, Repo


class StateBase:
    def __init__(self, data_dir: Path):
        self.data_dir = data_dir
        self.repos_dir = data_dir / "repos"
        self.repos_dir.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.accounts: dict[str, Account] = {}
        self.repos: dict[str, Repo] = {}
        self.tokens: dict[str, str] = {}  # token -> login
        self.last_id = 999  # ids are shared by every kind of record, as numbers on GitHub
        # Applied to every repository, existing and future (--webhook-url / set_webhook).
        self.default_hook: tuple[str, str | None] | None = None

    def next_id(self) -> int:
        self.last_id += 1
        return self.last_id
