"""Accounts: signing in (password, second factor, e-mailed link), passwords, two-step sign-in, staff accounts.

Plain synchronous functions on a SQLAlchemy ``Session``. The web layer keeps the session cookie and counts the
failures these functions report as ``AttemptRejected`` against the rate limiters; every other decision is here.

E-mail addresses are stored normalised (``normalise_email``) and looked up exactly, so the unique index serves
every sign-in.

One-time links (a family's sign-in link, a staff or partner user's set-password link) share the ``login_links``
table. The purpose is bound into the stored hash (SHA-256 of ``purpose:token``), so a link made for one purpose
can never be used for the other.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from familienkarte import i18n
from familienkarte.accounts import totp
from familienkarte.accounts.identity import principal_for_user
from familienkarte.accounts.models import LoginLink, User
from familienkarte.accounts.passwords import MAX_LENGTH, MIN_LENGTH, hash_password, needs_rehash, verify_password
from familienkarte.accounts.principal import Principal, RequestMeta
from familienkarte.accounts.roles import PARTNER_ROLES, PASSWORD_ROLES, STAFF_ROLES, Role
from familienkarte.audit import services as audit
from familienkarte.audit.models import AuditEntry
from familienkarte.db import utcnow
from familienkarte.errors import N_, Conflict, FieldError, InvalidInput, NotFound, PermissionDenied
from familienkarte.mail.services import queue_email

EMAIL_MAX_LENGTH = 320
DISPLAY_NAME_MAX_LENGTH = 200
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")

# How long the second step of a sign-in may take after the password was accepted.
SECOND_FACTOR_SECONDS = 300
INVITATION_LINK_HOURS = 72
RESET_LINK_MINUTES = 60
LINK_PURPOSE_SIGN_IN = "sign-in"
LINK_PURPOSE_SET_PASSWORD = "set-password"  # noqa: S105 - a label, not a secret

ROLE_LABELS: dict[str, str] = {
    Role.ADMIN.value: N_("Administrator"),
    Role.CASEWORKER.value: N_("Caseworker"),
    Role.PARTNER_MANAGER.value: N_("Partner manager"),
    Role.ANALYST.value: N_("Analyst"),
    Role.PARTNER_OWNER.value: N_("Partner owner"),
    Role.CASHIER.value: N_("Cashier"),
    Role.FAMILY.value: N_("Family"),
}
STAFF_ROLE_CHOICES: list[tuple[str, str]] = [
    (role.value, ROLE_LABELS[role.value]) for role in (Role.ADMIN, Role.CASEWORKER, Role.PARTNER_MANAGER, Role.ANALYST)
]


# Errors -------------------------------------------------------------------------------------------------------


class AttemptRejected(InvalidInput):
    """A wrong password or code. The web layer counts these against the sign-in rate limits."""

    code = "attempt_rejected"


class SignInFailed(AttemptRejected):
    code = "sign_in_failed"
    # The same words whether the account exists, is inactive or the password is wrong.
    message = N_("The e-mail address or the password is not correct.")

    def __init__(self) -> None:
        super().__init__([FieldError("password", type(self).message)])


class CodeRejected(AttemptRejected):
    code = "code_rejected"
    message = N_("This code is not correct or has been used already. Wait for the next code and try again.")

    def __init__(self) -> None:
        super().__init__([FieldError("code", type(self).message)])


class CurrentPasswordWrong(AttemptRejected):
    code = "current_password_wrong"


class SignInRestart(Conflict):
    code = "sign_in_restart"
    message = N_("Your sign-in was not completed in time. Please start again with your e-mail address and password.")


class SecondFactorUnreadable(Conflict):
    code = "totp_unreadable"
    message = N_(
        "Your two-step sign-in cannot be checked on this server. Please ask an administrator to reset it for you."
    )


class LinkUnusable(Conflict):
    code = "link_unusable"


class LastAdmin(Conflict):
    code = "last_admin"
    message = N_(
        "This is the last active administrator account. Make another account an administrator first, "
        "so that someone can still manage staff accounts."
    )


_LINK_UNKNOWN = N_("This link is not valid. Please check that you copied all of it, or ask for a new one.")
_LINK_USED = N_("This link has been used already. Each link works only once; please ask for a new one.")
_LINK_EXPIRED = N_("This link has expired. Please ask for a new one.")


# Small helpers --------------------------------------------------------------------------------------------------


def normalise_email(raw: str) -> str:
    return raw.strip().lower()


def landing_path(role: Role | str) -> str:
    """Where a user goes after signing in."""
    role = Role(role)
    if role in STAFF_ROLES:
        return "/staff/"
    if role in PARTNER_ROLES:
        return "/partner/"
    return "/card"


def email_problem(email: str, field_name: str = "email") -> FieldError | None:
    if not email:
        return FieldError(field_name, N_("Please enter your e-mail address."))
    if len(email) > EMAIL_MAX_LENGTH or not _EMAIL.match(email):
        return FieldError(field_name, N_("Please enter a valid e-mail address, for example name@example.org."))
    return None


def _valid_email(raw: str, field_name: str = "email") -> str:
    email = normalise_email(raw)
    problem = email_problem(email, field_name)
    if problem:
        raise InvalidInput([problem])
    return email


def password_problems(
    password: str,
    confirm: str,
    email: str,
    *,
    field_name: str = "password",
    confirm_field: str = "password_confirm",
) -> list[FieldError]:
    """What is wrong with a new password (empty when it may be used)."""
    errors = []
    if len(password) < MIN_LENGTH:
        errors.append(
            FieldError(
                field_name, N_("Please choose a password of at least %(count)s characters."), {"count": MIN_LENGTH}
            )
        )
    elif len(password) > MAX_LENGTH:
        errors.append(
            FieldError(
                field_name, N_("Please choose a password of at most %(count)s characters."), {"count": MAX_LENGTH}
            )
        )
    elif not password.strip():
        errors.append(FieldError(field_name, N_("A password cannot consist of spaces only.")))
    elif normalise_email(password) == normalise_email(email):
        errors.append(FieldError(field_name, N_("Your password must not be your e-mail address.")))
    if not errors and confirm != password:
        errors.append(FieldError(confirm_field, N_("The two passwords are not the same. Please type it again.")))
    return errors


def _token_hash(purpose: str, token: str) -> str:
    return hashlib.sha256(f"{purpose}:{token}".encode()).hexdigest()


@contextmanager
def _locale_of(user: User) -> Iterator[None]:
    with i18n.use_locale(user.locale or i18n.current_locale()):
        yield


def _user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(User.email == email))


def _record(
    session: Session,
    actor: Principal | None,
    action: str,
    user: User,
    meta: RequestMeta | None,
    **details: Any,
) -> None:
    audit.record(session, actor, action, "user", user.id, partner_id=user.partner_id, details=details, meta=meta)


# Signing in -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    """A completed sign-in: the web layer starts a fresh session for this user."""

    user_id: uuid.UUID
    epoch: int
    role: Role

    @property
    def landing(self) -> str:
        return landing_path(self.role)


@dataclass(frozen=True)
class SecondFactorNeeded:
    """The password was right; the code from the user's app is still needed. Kept in the session meanwhile."""

    user_id: uuid.UUID
    epoch: int
    started_at: float

    def to_session(self) -> dict[str, Any]:
        return {"user_id": str(self.user_id), "epoch": self.epoch, "started_at": self.started_at}

    @classmethod
    def from_session(cls, data: Any) -> SecondFactorNeeded | None:
        if not isinstance(data, Mapping):
            return None
        try:
            return cls(uuid.UUID(str(data["user_id"])), int(data["epoch"]), float(data["started_at"]))
        except (KeyError, TypeError, ValueError):
            return None


def _complete_sign_in(session: Session, user: User, method: str, meta: RequestMeta | None) -> SignedIn:
    user.last_login_at = utcnow()
    _record(session, principal_for_user(user), "account.signed_in", user, meta, method=method)
    return SignedIn(user.id, user.session_epoch, Role(user.role))


def sign_in_with_password(
    session: Session, email: str, password: str, *, meta: RequestMeta | None = None
) -> SignedIn | SecondFactorNeeded:
    """Check e-mail and password of a staff or partner user. Raises SignInFailed, which tells nothing more."""
    email = normalise_email(email)
    missing = []
    if not email:
        missing.append(FieldError("email", N_("Please enter your e-mail address.")))
    if not password:
        missing.append(FieldError("password", N_("Please enter your password.")))
    if missing:
        raise InvalidInput(missing)
    user = _user_by_email(session, email) if len(email) <= EMAIL_MAX_LENGTH else None
    stored = user.password_hash if user is not None and user.role in PASSWORD_ROLES else None
    # Always one argon2 verification (against a dummy hash when there is no account), so timing tells nothing.
    valid = len(password) <= MAX_LENGTH and verify_password(stored, password)
    if not valid or user is None or stored is None or not user.is_active:
        raise SignInFailed()
    if needs_rehash(stored):
        user.password_hash = hash_password(password)
    if user.totp_enabled_at is not None:
        return SecondFactorNeeded(user.id, user.session_epoch, time.time())
    return _complete_sign_in(session, user, "password", meta)


def _read_secret(user: User, secret_key: str) -> str:
    if user.totp_secret is None:
        raise SecondFactorUnreadable()
    try:
        return totp.decrypt_secret(secret_key, user.totp_secret)
    except totp.SecretUnreadable:
        raise SecondFactorUnreadable() from None


def _use_code(user: User, code: str, secret_key: str) -> None:
    """Accept the code once, or raise CodeRejected."""
    if not totp.clean_code(code):
        raise InvalidInput.one("code", N_("Please enter the 6-digit code from your app."))
    step = totp.matching_step(_read_secret(user, secret_key), code, user.totp_last_step)
    if step is None:
        raise CodeRejected()
    user.totp_last_step = step


def sign_in_second_factor(
    session: Session,
    pending: SecondFactorNeeded | None,
    code: str,
    *,
    secret_key: str,
    meta: RequestMeta | None = None,
) -> SignedIn:
    """Complete a sign-in with the code from the user's authenticator app; a code works only once."""
    if pending is None or time.time() - pending.started_at > SECOND_FACTOR_SECONDS:
        raise SignInRestart()
    # Locked, so that the same code sent twice at once is accepted only once.
    user = session.get(User, pending.user_id, with_for_update=True)
    if user is None or not user.is_active or user.session_epoch != pending.epoch or user.totp_enabled_at is None:
        raise SignInRestart()
    _use_code(user, code, secret_key)
    return _complete_sign_in(session, user, "password+totp", meta)


def record_sign_out(session: Session, principal: Principal | None, *, meta: RequestMeta | None = None) -> None:
    if principal is None or principal.user_id is None:
        return
    user = session.get(User, principal.user_id)
    if user is not None:
        _record(session, principal, "account.signed_out", user, meta)


def sign_out_everywhere(session: Session, principal: Principal, *, meta: RequestMeta | None = None) -> None:
    """End every session of this user, on every device (the current one included)."""
    user = _own_user(session, principal)
    user.session_epoch += 1
    _record(session, principal, "account.signed_out_everywhere", user, meta)


def _own_user(session: Session, principal: Principal) -> User:
    user = session.get(User, principal.user_id) if principal.user_id else None
    if user is None:
        raise NotFound()
    return user


# One-time links -------------------------------------------------------------------------------------------------


def new_login_link(session: Session, user: User, purpose: str, valid_for: dt.timedelta) -> str:
    token = secrets.token_urlsafe(32)
    session.add(LoginLink(user_id=user.id, token_hash=_token_hash(purpose, token), expires_at=utcnow() + valid_for))
    return token


def usable_link(session: Session, purpose: str, token: str) -> LoginLink:
    link = None
    if token and len(token) <= 200:
        link = session.scalar(select(LoginLink).where(LoginLink.token_hash == _token_hash(purpose, token)))
    if link is None:
        raise LinkUnusable(_LINK_UNKNOWN, code="link_unknown")
    if link.used_at is not None:
        raise LinkUnusable(_LINK_USED, code="link_used")
    if link.expires_at <= utcnow():
        raise LinkUnusable(_LINK_EXPIRED, code="link_expired")
    return link


def use_link(session: Session, purpose: str, token: str) -> User:
    """Mark the link used (once, even under concurrent requests) and return its user."""
    link = usable_link(session, purpose, token)
    used = session.execute(
        update(LoginLink)
        .where(LoginLink.id == link.id, LoginLink.used_at.is_(None))
        .values(used_at=utcnow())
        .returning(LoginLink.id)
    ).scalar_one_or_none()
    user = session.get(User, link.user_id)
    if used is None:
        raise LinkUnusable(_LINK_USED, code="link_used")
    if user is None or not user.is_active:
        raise LinkUnusable(_LINK_UNKNOWN, code="link_unknown")
    return user


def request_family_link(
    session: Session, email: str, *, base_url: str, minutes: int, meta: RequestMeta | None = None
) -> None:
    """E-mail a one-time sign-in link to the family with this address, if there is one.

    The caller answers the same in every case, so that nobody can find out which addresses are known.
    """
    email = _valid_email(email)
    user = session.scalar(select(User).where(User.email == email, User.role == Role.FAMILY.value, User.is_active))
    if user is None:
        return
    token = new_login_link(session, user, LINK_PURPOSE_SIGN_IN, dt.timedelta(minutes=minutes))
    link = f"{base_url}/login/family/{token}"
    with _locale_of(user):
        queue_email(
            session,
            to=user.email,
            subject=i18n.gettext(N_("Your sign-in link for the family card")),
            body_text=i18n.gettext(
                N_(
                    "Hello,\n\nto sign in to the family card, open this link:\n\n%(link)s\n\n"
                    "The link works once and for %(minutes)s minutes. If you did not ask for it, you can ignore "
                    "this e-mail: nobody can sign in without it.\n"
                ),
                link=link,
                minutes=minutes,
            ),
        )


def check_family_link(session: Session, token: str) -> None:
    """Raise LinkUnusable when the link cannot be used; looking at it does not use it up."""
    link = usable_link(session, LINK_PURPOSE_SIGN_IN, token)
    user = session.get(User, link.user_id)
    if user is None or not user.is_active:
        raise LinkUnusable(_LINK_UNKNOWN, code="link_unknown")


def sign_in_with_link(session: Session, token: str, *, meta: RequestMeta | None = None) -> SignedIn:
    user = use_link(session, LINK_PURPOSE_SIGN_IN, token)
    if user.role != Role.FAMILY.value:
        raise LinkUnusable(_LINK_UNKNOWN, code="link_unknown")
    if user.email_confirmed_at is None:
        # Opening a link sent to the address proves it is theirs.
        user.email_confirmed_at = utcnow()
    return _complete_sign_in(session, user, "email_link", meta)


def send_set_password_link(session: Session, user: User, *, base_url: str, invitation: bool) -> str:
    """A new set-password link for the user (earlier unused ones stop working); returns its URL."""
    session.execute(
        update(LoginLink)
        .where(LoginLink.user_id == user.id, LoginLink.used_at.is_(None))
        .values(expires_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    valid_for = dt.timedelta(hours=INVITATION_LINK_HOURS) if invitation else dt.timedelta(minutes=RESET_LINK_MINUTES)
    token = new_login_link(session, user, LINK_PURPOSE_SET_PASSWORD, valid_for)
    link = f"{base_url}/password/set/{token}"
    with _locale_of(user):
        if invitation:
            subject = i18n.gettext(N_("Your account for the family card"))
            body = i18n.gettext(
                N_(
                    "Hello,\n\nan account for the family card has been set up for you (%(email)s).\n"
                    "Please choose your password with this link:\n\n%(link)s\n\n"
                    "The link works once and for %(hours)s hours. Afterwards you sign in at %(login)s.\n"
                ),
                email=user.email,
                link=link,
                hours=INVITATION_LINK_HOURS,
                login=f"{base_url}/login",
            )
        else:
            subject = i18n.gettext(N_("Choose a new password for the family card"))
            body = i18n.gettext(
                N_(
                    "Hello,\n\nsomeone asked to choose a new password for your account (%(email)s).\n"
                    "If that was you, open this link:\n\n%(link)s\n\n"
                    "The link works once and for %(minutes)s minutes. If it was not you, ignore this e-mail: "
                    "your password stays as it is.\n"
                ),
                email=user.email,
                link=link,
                minutes=RESET_LINK_MINUTES,
            )
        queue_email(session, to=user.email, subject=subject, body_text=body)
    return link


def request_password_reset(session: Session, email: str, *, base_url: str, meta: RequestMeta | None = None) -> None:
    """E-mail a set-password link to the staff or partner user with this address, if there is one.

    As with family links, the caller answers the same in every case.
    """
    email = _valid_email(email)
    user = _user_by_email(session, email)
    if user is None or not user.is_active or user.role not in PASSWORD_ROLES:
        return
    send_set_password_link(session, user, base_url=base_url, invitation=False)


def check_set_password_link(session: Session, token: str) -> str:
    """The e-mail address the link belongs to; raises LinkUnusable. Looking does not use the link up."""
    link = usable_link(session, LINK_PURPOSE_SET_PASSWORD, token)
    user = session.get(User, link.user_id)
    if user is None or not user.is_active:
        raise LinkUnusable(_LINK_UNKNOWN, code="link_unknown")
    return user.email


def set_password_with_link(
    session: Session, token: str, password: str, confirm: str, *, meta: RequestMeta | None = None
) -> None:
    """Set the password of the link's user; every session of that user ends."""
    user = use_link(session, LINK_PURPOSE_SET_PASSWORD, token)
    errors = password_problems(password, confirm, user.email)
    if errors:
        raise InvalidInput(errors)
    user.password_hash = hash_password(password)
    user.session_epoch += 1
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
    _record(session, principal_for_user(user), "account.password_set", user, meta)


# The signed-in user's own account -------------------------------------------------------------------------------


def change_password(
    session: Session,
    principal: Principal,
    current: str,
    new: str,
    confirm: str,
    *,
    meta: RequestMeta | None = None,
) -> int:
    """Change the user's password; other sessions end. Returns the new session epoch for the current session."""
    user = _own_user(session, principal)
    if user.role not in PASSWORD_ROLES:
        raise PermissionDenied()
    errors = password_problems(new, confirm, user.email, field_name="new_password")
    if not current or len(current) > MAX_LENGTH or not verify_password(user.password_hash, current):
        errors.insert(0, FieldError("current_password", N_("This is not your current password.")))
        raise CurrentPasswordWrong(errors)
    if errors:
        raise InvalidInput(errors)
    user.password_hash = hash_password(new)
    user.session_epoch += 1
    _record(session, principal, "account.password_changed", user, meta)
    return user.session_epoch


@dataclass(frozen=True)
class TotpSetup:
    """A secret waiting to be confirmed with a first code: shown as text and as a QR code."""

    secret: str
    uri: str
    qr_data_uri: str

    @property
    def grouped_secret(self) -> str:
        return " ".join(self.secret[i : i + 4] for i in range(0, len(self.secret), 4))


@dataclass(frozen=True)
class TotpStatus:
    enabled: bool
    setup: TotpSetup | None


def _staff_user(session: Session, principal: Principal) -> User:
    user = _own_user(session, principal)
    if user.role not in STAFF_ROLES:
        raise PermissionDenied()
    return user


def totp_status(session: Session, principal: Principal, *, secret_key: str) -> TotpStatus:
    user = _staff_user(session, principal)
    if user.totp_enabled_at is not None:
        return TotpStatus(True, None)
    if user.totp_secret is None:
        return TotpStatus(False, None)
    try:
        secret = totp.decrypt_secret(secret_key, user.totp_secret)
    except totp.SecretUnreadable:
        return TotpStatus(False, None)
    uri = totp.provisioning_uri(secret, user.email)
    return TotpStatus(False, TotpSetup(secret, uri, totp.qr_data_uri(uri)))


def start_totp_setup(session: Session, principal: Principal, *, secret_key: str) -> None:
    """Make a new secret for the user to add to their app; it takes effect once confirmed with a code."""
    user = _staff_user(session, principal)
    if user.totp_enabled_at is not None:
        raise Conflict(N_("Two-step sign-in is on already."), code="totp_enabled")
    user.totp_secret = totp.encrypt_secret(secret_key, totp.new_secret())
    user.totp_last_step = None


def confirm_totp(
    session: Session, principal: Principal, code: str, *, secret_key: str, meta: RequestMeta | None = None
) -> None:
    user = _staff_user(session, principal)
    if user.totp_enabled_at is not None:
        raise Conflict(N_("Two-step sign-in is on already."), code="totp_enabled")
    if user.totp_secret is None:
        raise Conflict(N_("Please start the set-up of two-step sign-in first."), code="totp_not_started")
    _use_code(user, code, secret_key)
    user.totp_enabled_at = utcnow()
    _record(session, principal, "account.totp_enabled", user, meta)


def disable_totp(
    session: Session, principal: Principal, code: str, *, secret_key: str, meta: RequestMeta | None = None
) -> None:
    """Turn two-step sign-in off; needs a current code, so that a borrowed session cannot do it."""
    user = _staff_user(session, principal)
    if user.totp_enabled_at is None:
        raise Conflict(N_("Two-step sign-in is off already."), code="totp_disabled")
    _use_code(user, code, secret_key)
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    _record(session, principal, "account.totp_disabled", user, meta)


# Staff accounts (administrators) --------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaffAccount:
    id: uuid.UUID
    email: str
    display_name: str
    role: str
    is_active: bool
    totp_enabled: bool
    has_password: bool
    last_login_at: dt.datetime | None
    created_at: dt.datetime

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.role]


def _staff_account(user: User) -> StaffAccount:
    return StaffAccount(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,
        is_active=user.is_active,
        totp_enabled=user.totp_enabled_at is not None,
        has_password=user.password_hash is not None,
        last_login_at=user.last_login_at,
        created_at=user.created_at,
    )


_STAFF_ROLE_VALUES = sorted(r.value for r in STAFF_ROLES)


def list_staff_accounts(session: Session) -> list[StaffAccount]:
    users = session.scalars(
        select(User).where(User.role.in_(_STAFF_ROLE_VALUES)).order_by(User.is_active.desc(), User.email)
    )
    return [_staff_account(u) for u in users]


def _target_staff_user(session: Session, user_id: uuid.UUID, *, lock: bool = True) -> User:
    user = session.get(User, user_id, with_for_update=lock)
    if user is None or user.role not in STAFF_ROLES:
        raise NotFound()
    return user


def get_staff_account(session: Session, user_id: uuid.UUID) -> StaffAccount:
    return _staff_account(_target_staff_user(session, user_id, lock=False))


def _staff_role(raw: str, field_name: str = "role") -> Role:
    try:
        role = Role(raw)
    except ValueError:
        role = None
    if role is None or role not in STAFF_ROLES:
        raise InvalidInput.one(field_name, N_("Please choose one of the listed roles."))
    return role


def _ensure_not_last_admin(session: Session, user: User) -> None:
    """Refuse to take the administrator role from the last active administrator."""
    if user.role != Role.ADMIN.value or not user.is_active:
        return
    # Locked, so that two administrators demoting each other at once cannot leave none.
    admins = session.scalars(
        select(User.id).where(User.role == Role.ADMIN.value, User.is_active).with_for_update()
    ).all()
    if len(admins) <= 1:
        raise LastAdmin()


def create_staff_user(
    session: Session,
    actor: Principal | None,
    *,
    email: str,
    display_name: str,
    role: str,
    base_url: str,
    meta: RequestMeta | None = None,
) -> str:
    """Create a staff account and e-mail its set-password link. Returns the link (for the command line)."""
    normalised = normalise_email(email)
    name = display_name.strip()
    errors = []
    problem = email_problem(normalised)
    if problem:
        errors.append(problem)
    elif _user_by_email(session, normalised) is not None:
        errors.append(FieldError("email", N_("An account with this e-mail address exists already.")))
    if not name:
        errors.append(FieldError("display_name", N_("Please enter the name shown to colleagues.")))
    elif len(name) > DISPLAY_NAME_MAX_LENGTH:
        errors.append(
            FieldError(
                "display_name", N_("Please use at most %(count)s characters."), {"count": DISPLAY_NAME_MAX_LENGTH}
            )
        )
    try:
        chosen = _staff_role(role)
    except InvalidInput as exc:
        errors.extend(exc.errors)
    if errors:
        raise InvalidInput(errors)
    user = User(email=normalised, display_name=name, role=chosen.value)
    session.add(user)
    session.flush()
    link = send_set_password_link(session, user, base_url=base_url, invitation=True)
    _record(session, actor, "staff_user.created", user, meta, email=user.email, role=user.role)
    return link


def deactivate_staff_user(
    session: Session, actor: Principal, user_id: uuid.UUID, *, meta: RequestMeta | None = None
) -> None:
    """Stop a staff account from signing in; its sessions end at once."""
    user = _target_staff_user(session, user_id)
    if not user.is_active:
        return
    _ensure_not_last_admin(session, user)
    user.is_active = False
    user.session_epoch += 1
    _record(session, actor, "staff_user.deactivated", user, meta)


def activate_staff_user(
    session: Session, actor: Principal, user_id: uuid.UUID, *, meta: RequestMeta | None = None
) -> None:
    user = _target_staff_user(session, user_id)
    if user.is_active:
        return
    user.is_active = True
    _record(session, actor, "staff_user.activated", user, meta)


def change_staff_role(
    session: Session, actor: Principal, user_id: uuid.UUID, role: str, *, meta: RequestMeta | None = None
) -> None:
    new_role = _staff_role(role)
    user = _target_staff_user(session, user_id)
    if user.role == new_role.value:
        return
    _ensure_not_last_admin(session, user)
    old_role, user.role = user.role, new_role.value
    _record(session, actor, "staff_user.role_changed", user, meta, old_role=old_role, new_role=new_role.value)


def resend_staff_invitation(
    session: Session, actor: Principal, user_id: uuid.UUID, *, base_url: str, meta: RequestMeta | None = None
) -> None:
    """Send the user a new set-password link (a forgotten password, an invitation that expired)."""
    user = _target_staff_user(session, user_id)
    if not user.is_active:
        raise Conflict(N_("This account is deactivated. Activate it first."), code="user_inactive")
    send_set_password_link(session, user, base_url=base_url, invitation=True)
    _record(session, actor, "staff_user.password_link_sent", user, meta)


def reset_staff_totp(
    session: Session, actor: Principal, user_id: uuid.UUID, *, meta: RequestMeta | None = None
) -> None:
    """Turn off a colleague's two-step sign-in (a lost phone); they can set it up again after signing in."""
    user = _target_staff_user(session, user_id)
    if user.totp_enabled_at is None and user.totp_secret is None:
        return
    user.totp_secret = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.session_epoch += 1
    _record(session, actor, "staff_user.totp_reset", user, meta)


# The audit log, for administrators ------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditRow:
    at: dt.datetime
    actor: str
    action: str
    object_type: str
    object_id: str | None
    details: dict[str, Any]
    ip: str | None


@dataclass(frozen=True)
class AuditLog:
    rows: list[AuditRow]
    page: int
    pages: int
    total: int
    action: str | None


def audit_log(session: Session, *, page: int = 1, action: str | None = None, per_page: int = 50) -> AuditLog:
    """One page of the audit log, newest first, with the e-mail address of each acting user."""
    action = (action or "").strip() or None
    found = audit.list_entries(session, action=action, page=page, per_page=per_page)
    actor_ids = {e.actor_user_id for e in found.entries if e.actor_user_id}
    emails = {row.id: row.email for row in session.execute(select(User.id, User.email).where(User.id.in_(actor_ids)))}
    rows = [_audit_row(e, emails) for e in found.entries]
    return AuditLog(rows, found.page, found.pages, found.total, action)


def _audit_row(entry: AuditEntry, emails: Mapping[uuid.UUID, str]) -> AuditRow:
    actor = emails.get(entry.actor_user_id) if entry.actor_user_id else None
    return AuditRow(
        at=entry.at,
        actor=actor or entry.actor_role,
        action=entry.action,
        object_type=entry.object_type,
        object_id=entry.object_id,
        details=dict(entry.details or {}),
        ip=entry.ip,
    )
