"""How a request ends early: refused with an HTTP status, or cut off by the client."""


class Refused(Exception):
    """The request is answered with `status` and the message as a one-line text body."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Truncated(Exception):
    """The client went away before the whole body arrived."""
