"""Imports every model so that the metadata is complete (Alembic, tests)."""

from familienkarte.accounts.models import ApiKey, LoginLink, User
from familienkarte.audit.models import AuditEntry
from familienkarte.benefits.models import Benefit, benefit_locations
from familienkarte.cards.credential_models import CardCredential, PrintJob
from familienkarte.cards.models import Application, Card, Child, Household, HouseholdAdult
from familienkarte.credentials.models import IssuerKeyRecord, StatusListRecord
from familienkarte.db import Base
from familienkarte.events.models import ConsumedEvent, OutboxEvent, StatsDirty  # noqa: F401
from familienkarte.mail.models import Email, EmailAttachment
from familienkarte.partners.models import Location, Partner, TransitStop
from familienkarte.redemptions.models import Redemption, VerificationEvent
from familienkarte.statistics.export_models import ExportJob
from familienkarte.statistics.models import (
    StatsBuild,
    StatsCards,
    StatsFamilies,
    StatsRedemptions,
    StatsScan,
    StatsVerifications,
)
from familienkarte.statistics.retention_models import StatsReachedCard, StatsRetainedDay  # noqa: F401

__all__ = [
    "ApiKey",
    "Application",
    "AuditEntry",
    "Base",
    "Benefit",
    "Card",
    "CardCredential",
    "Child",
    "Email",
    "EmailAttachment",
    "ExportJob",
    "Household",
    "HouseholdAdult",
    "IssuerKeyRecord",
    "Location",
    "LoginLink",
    "Partner",
    "PrintJob",
    "Redemption",
    "StatsBuild",
    "StatsCards",
    "StatsFamilies",
    "StatsRedemptions",
    "StatsScan",
    "StatsVerifications",
    "StatusListRecord",
    "TransitStop",
    "User",
    "VerificationEvent",
    "benefit_locations",
]
