"""Progress lines for the person at the terminal."""

import time


def say(text: str) -> None:
    """Progress for the person at the terminal (stdout), beside the log on stderr."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)
