"""Errors of the axis: the simulator's refusals and the client's two kinds of failure."""

from __future__ import annotations


class Refusal(Exception):
    """The simulator refuses a call: an HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


class AxisError(Exception):
    """A call to the axis failed."""


class AxisTransient(AxisError):
    """A failure worth retrying: no connection, a timeout, a dropped connection, 5xx or 429."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AxisPermanent(AxisError):
    """The axis refused the call's content (4xx): retrying the same call cannot succeed."""

    def __init__(self, code: str, reason: str, status: int = 400) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason
        self.status = status
