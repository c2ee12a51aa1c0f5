"""Domain errors of the credentials domain."""

from __future__ import annotations

from familienkarte.errors import N_, Conflict, NotFound, Unavailable


class IssuerKeyUnreadable(Unavailable):
    """The active signing key cannot be decrypted: the deployment secret (FK_SECRET_KEY) changed since it was made.

    Nothing can be signed until the old secret is restored, or a new key is made with ``familienkarte keys rotate``
    (credentials signed before stay valid: their keys are public and need no secret).
    """

    code = "issuer_key_unreadable"
    message = N_("Cards cannot be signed at the moment. The city's technical team has to check the signing keys.")


class StatusListNotFound(NotFound):
    code = "status_list_not_found"
    message = N_("There is no status list with this number.")


class StatusEntryNotFound(NotFound):
    """The index was never handed out in that list: there is no credential to change."""

    code = "status_entry_not_found"
    message = N_("There is no credential with this status entry.")


class StatusAlreadyRevoked(Conflict):
    """A revoked credential stays revoked: revocation is final."""

    code = "status_revoked"
    message = N_("This credential has been revoked for good and cannot be reactivated.")
