"""API tokens: minted once, stored as a SHA-256 hash, revoked for good."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select

from app.access.models import ApiToken
from app.audit.service import record_audit
from app.db_types import utcnow
from app.extensions import db

TOKEN_PREFIX = "adv_"  # noqa: S105 - a marker, not a secret
#: how many leading characters are kept in clear, so the operator can tell tokens apart
SHOWN_CHARS = 12
#: last_used_at is written at most this often per token, so a busy script does not write on every call
LAST_USED_RESOLUTION = timedelta(seconds=60)


class ApiTokenError(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(name: str, *, actor: str) -> tuple[ApiToken, str]:
    """Returns the row and the token itself; the token is not stored and cannot be shown again."""
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ApiTokenError("name is required (at most 120 characters), e.g. the script or product using it")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(token), prefix=token[:SHOWN_CHARS])
    db.session.add(row)
    record_audit("api_token.created", row, actor=actor, name=name, prefix=row.prefix)
    return row, token


def revoke_api_token(token_id: int, *, actor: str) -> ApiToken:
    """Revoking twice keeps the first revocation time."""
    row = db.session.get(ApiToken, token_id)
    if row is None:
        raise ApiTokenError(f"no API token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        record_audit("api_token.revoked", row, actor=actor, name=row.name, prefix=row.prefix)
    return row


def token_for_bearer(token: str) -> ApiToken | None:
    """The live token row for a presented token, or None (unknown or revoked)."""
    if not token or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return None
    return row


def note_token_used(row: ApiToken, now: datetime | None = None) -> bool:
    """Moves last_used_at forward when it is older than LAST_USED_RESOLUTION; True when it wrote."""
    now = now or utcnow()
    if row.last_used_at is not None and now - row.last_used_at < LAST_USED_RESOLUTION:
        return False
    row.last_used_at = now
    return True


def list_api_tokens() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.revoked_at.is_not(None), ApiToken.id.desc())))
