"""Errors the SDK raises, and the two a request handler raises to answer without an answer."""

from __future__ import annotations

from .wire import Status


class ParleyError(Exception):
    """A request (or registration, or publish) ended without an answer.

    ``status`` is a ``Status`` (TIMEOUT, NO_ROUTE, UNAUTHORIZED, DECLINED, …); ``reason`` the text that came
    with it — the handler's reason for DECLINED and FAILED, the broker's or the SDK's otherwise. Match on
    ``status``, never on the text.
    """

    def __init__(self, status: Status, reason: str, attempts: int = 0) -> None:
        super().__init__(f"{Status(status).name}: {reason}")
        self.status = Status(status)
        self.reason = reason
        self.attempts = attempts


class Decline(Exception):
    """Raised by a request handler: not this agent's business. The requester gets DECLINED with ``reason``."""

    def __init__(self, reason: str = "declined") -> None:
        super().__init__(reason)
        self.reason = reason


class Fail(Exception):
    """Raised by a request handler: it tried and failed. The requester gets FAILED with ``reason``."""

    def __init__(self, reason: str = "failed") -> None:
        super().__init__(reason)
        self.reason = reason
