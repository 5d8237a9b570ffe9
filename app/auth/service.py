"""Operator and customer accounts: creation, password check, TOTP enrolment and verification."""

from __future__ import annotations

import pyotp
import segno
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from app.audit.service import record_audit
from app.auth.models import Role, User
from app.db_types import utcnow
from app.extensions import db

TOTP_ISSUER = "Advancia Mini"
MIN_PASSWORD_LENGTH = 10
# Compared against when the email is unknown, so a wrong email costs the same time as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


class AccountError(ValueError):
    """A request about an account that cannot be done; the message is safe to show."""


def normalise_email(email: str) -> str:
    value = (email or "").strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@") or " " in value:
        raise AccountError(f"{email!r} is not an email address")
    return value


def create_user(email: str, password: str, role: Role = Role.CUSTOMER, *, actor: str = "system") -> User:
    email = normalise_email(email)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if db.session.scalar(select(User.id).where(User.email == email)) is not None:
        raise AccountError(f"an account for {email} already exists")
    user = User(email=email, password_hash=generate_password_hash(password), role=role)
    db.session.add(user)
    db.session.flush()
    record_audit("user.created", user, actor=actor, role=role.value)
    return user


def set_password(user: User, password: str, *, actor: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = generate_password_hash(password)
    record_audit("user.password_changed", user, actor=actor)


def authenticate(email: str, password: str) -> User | None:
    try:
        email = normalise_email(email)
    except AccountError:
        return None
    user = db.session.scalar(select(User).where(User.email == email))
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        return None
    if not check_password_hash(user.password_hash, password) or not user.is_active:
        return None
    return user


def record_login(user: User) -> None:
    user.last_login_at = utcnow()
    record_audit("auth.login", user, actor=f"user:{user.id}")


def begin_totp_enrolment(user: User) -> str:
    """Returns a fresh secret held on the user until the first code confirms it."""
    if user.totp_enabled:
        raise AccountError("two-factor authentication is already on")
    user.totp_secret = pyotp.random_base32()
    return user.totp_secret


def totp_uri(user: User) -> str:
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=TOTP_ISSUER)


def totp_qr_svg(user: User) -> str:
    return segno.make(totp_uri(user), error="m").svg_inline(scale=5, dark="#111827")


def _accept_code(user: User, code: str) -> bool:
    code = (code or "").strip().replace(" ", "")
    if not user.totp_secret or not code.isdigit():
        return False
    totp = pyotp.TOTP(user.totp_secret)
    now_step = totp.timecode(utcnow())
    for step in (now_step - 1, now_step, now_step + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue
        if pyotp.utils.strings_equal(totp.generate_otp(step), code):
            user.totp_last_step = step
            return True
    return False


def confirm_totp_enrolment(user: User, code: str) -> None:
    if not _accept_code(user, code):
        raise AccountError("that code does not match; check the time on your phone and try again")
    user.totp_enabled = True
    record_audit("user.totp_enabled", user, actor=f"user:{user.id}")


def verify_totp(user: User, code: str) -> bool:
    return user.totp_enabled and _accept_code(user, code)


def disable_totp(user: User, code: str) -> None:
    if not verify_totp(user, code):
        raise AccountError("enter a current code from your authenticator to turn two-factor off")
    user.totp_enabled = False
    user.totp_secret = None
    record_audit("user.totp_disabled", user, actor=f"user:{user.id}")
