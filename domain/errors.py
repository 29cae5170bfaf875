"""Domain errors; the router maps each kind to one HTTP status."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    """One invalid field and why."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every rule the exchange refuses to break."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Invalid(DomainError):
    """Well-formed input that breaks a rule (HTTP 422)."""

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.errors = errors or []

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        """Builds the error for a single bad field."""
        return cls(f"{field}: {message}", [FieldError(field, message)])


class Conflict(DomainError):
    """The request contradicts recorded history (HTTP 409)."""


class NotFound(DomainError):
    """Unknown, or not visible to this principal (HTTP 404)."""


class Forbidden(DomainError):
    """A known principal that may not do this (HTTP 403)."""


class TooLarge(DomainError):
    """A body or attachment over the configured limit (HTTP 413)."""
