"""Domain errors shared by every package.

Services raise these; the one table in ``familienkarte.web.problems`` maps them to HTTP (problem details for
the API, a page for people). Messages are gettext message ids, translated when shown, so a service never needs
to know who reads them. ``code`` is the stable machine-readable vocabulary.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    params: dict[str, Any] = dataclasses.field(default_factory=dict)


class DomainError(Exception):
    code = "error"
    message = N_("Something went wrong.")

    def __init__(self, message: str | None = None, *, code: str | None = None, **params: Any) -> None:
        self.message = message or type(self).message
        self.code = code or type(self).code
        self.params = params
        super().__init__(self.message % params if params else self.message)


class InvalidInput(DomainError):
    """One or more fields are wrong. Nothing was stored."""

    code = "invalid_input"
    message = N_("Please correct the marked fields.")

    def __init__(self, errors: list[FieldError], message: str | None = None) -> None:
        super().__init__(message)
        self.errors = errors

    @classmethod
    def one(cls, field_name: str, message: str, **params: Any) -> InvalidInput:
        return cls([FieldError(field_name, message, params)])


class NotFound(DomainError):
    code = "not_found"
    message = N_("This page or record does not exist, or you may not see it.")


class NotAuthenticated(DomainError):
    code = "not_authenticated"
    message = N_("Please sign in.")


class PermissionDenied(DomainError):
    code = "forbidden"
    message = N_("You are not allowed to do this.")


class Conflict(DomainError):
    code = "conflict"
    message = N_("This conflicts with existing data.")


class RateLimited(DomainError):
    code = "rate_limited"
    message = N_("Too many attempts. Please wait %(minutes)s minutes and try again.")

    def __init__(self, retry_after: int, message: str | None = None, *, code: str | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(message, code=code, minutes=max(1, (retry_after + 59) // 60))


class Unavailable(DomainError):
    """A service the request needs (the database, Redis) cannot be reached right now: the client may retry."""

    code = "unavailable"
    message = N_("The service is briefly unavailable. Please try again in a moment.")
    # Seconds a client should wait before trying again (the Retry-After header).
    retry_after = 5
