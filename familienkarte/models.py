"""Imports every model so that the metadata is complete (Alembic, tests)."""

from familienkarte.accounts.models import ApiKey, LoginLink, User
from familienkarte.audit.models import AuditEntry
from familienkarte.db import Base
from familienkarte.mail.models import Email
from familienkarte.partners.models import Location, Partner

__all__ = ["ApiKey", "AuditEntry", "Base", "Email", "Location", "LoginLink", "Partner", "User"]
