"""Fixtures of the bot's acceptance tests (tests/tasks/bot_stack.py)."""

from tests.tasks.bot_stack import stack, world

__all__ = ["stack", "world"]
