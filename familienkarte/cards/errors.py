"""Errors of the card domain."""

from __future__ import annotations

from familienkarte.errors import N_, Conflict, FieldError, InvalidInput


class ApplicationRefused(InvalidInput):
    """The input is well-formed, but an eligibility rule is not met. Nothing was stored."""

    code = "application_refused"
    message = N_("We cannot accept this application. The reasons are listed below.")

    def __init__(self, errors: list[FieldError], reasons: list[str]) -> None:
        super().__init__(errors)
        self.reasons = reasons


class DuplicateApplication(Conflict):
    code = "duplicate_application"
    message = N_(
        "There is already an application or a card for this household. If you have questions about it, "
        "please contact us instead of applying again."
    )


class AlreadyDecided(Conflict):
    code = "already_decided"
    message = N_("This application has already been decided; it cannot be changed any more.")
