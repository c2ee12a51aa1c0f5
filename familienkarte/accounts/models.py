from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import CheckConstraint, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from familienkarte.accounts.roles import PARTNER_ROLES, Role
from familienkarte.db import Base, TimestampMixin, new_uuid

_ROLE_LIST = ", ".join(f"'{r.value}'" for r in Role)
_PARTNER_ROLE_LIST = ", ".join(f"'{r.value}'" for r in sorted(PARTNER_ROLES))


class User(TimestampMixin, Base):
    """Everyone who signs in: staff, partner users and family members."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(f"role IN ({_ROLE_LIST})", name="role_known"),
        CheckConstraint(
            f"(role IN ({_PARTNER_ROLE_LIST})) = (partner_id IS NOT NULL)", name="partner_role_has_partner"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(32))
    partner_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    totp_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    totp_enabled_at: Mapped[dt.datetime | None]
    totp_last_step: Mapped[int | None]
    locale: Mapped[str | None] = mapped_column(String(16))
    is_active: Mapped[bool] = mapped_column(default=True)
    # Raised to end every session of this user at once ("sign out everywhere", deactivation).
    session_epoch: Mapped[int] = mapped_column(default=0)
    email_confirmed_at: Mapped[dt.datetime | None]
    last_login_at: Mapped[dt.datetime | None]


class LoginLink(TimestampMixin, Base):
    """A one-time sign-in link sent by e-mail (families have no password)."""

    __tablename__ = "login_links"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]


class ApiKey(TimestampMixin, Base):
    """A partner's key for the POS API. Only a hash of the secret is kept."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_uuid)
    partner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("partners.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    last_used_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
    revoked_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
