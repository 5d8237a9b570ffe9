"""Idempotency-Key on POST /api/v1/...: a retried request gets the first answer again instead of doing it twice.

Insert first: the key row goes into the request's own transaction before the handler runs, and the handler's
answer is written onto it just before the one commit. A second request with the key waits on the unique
constraint (PostgreSQL) or the write lock (SQLite) until the first commits, then finds the row and replays its
answer; if the first failed, its key went with its rollback and the retry runs afresh.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import Response, g, request
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.api.errors import ApiError
from app.api.models import ApiIdempotencyKey
from app.db_types import utcnow
from app.extensions import db
from app.sqlite_support import begin_write

HEADER = "Idempotency-Key"
#: how long a key is remembered: a retry within a day is answered from the first request
KEY_TTL = timedelta(hours=24)
#: what a key may look like: visible ASCII, as Stripe and the IETF draft use (a UUID fits)
KEY_PATTERN = re.compile(r"^[\x21-\x7e]{1,255}$")
#: expired keys removed per keyed request, so the table stays small without a job of its own
PRUNE_BATCH = 100
_CLAIM = "idempotency_claim"


@dataclass(frozen=True)
class StoredAnswer:
    status: int
    body: str


def request_fingerprint(method: str, path: str, body: bytes) -> str:
    """Same method, path and JSON value = the same request, whatever the key order or spacing."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except ValueError:
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def claim_idempotency_key(
    token_id: int, key: str, target: str, fingerprint: str, *, now: datetime
) -> ApiIdempotencyKey | StoredAnswer:
    """A new key: its row, in the caller's transaction (answer it with `answer_claim`). A key seen within KEY_TTL:
    the stored answer, or ApiError 422 when it came with a different request."""
    cutoff = now - KEY_TTL
    _prune_expired(cutoff, token_id, key)
    try:
        with db.session.begin_nested():
            row = ApiIdempotencyKey(
                api_token_id=token_id, key=key, request_target=target, request_hash=fingerprint, created_at=now
            )
            db.session.add(row)
    except IntegrityError:
        pass  # seen before (or being answered by a transaction that just committed): answer from its row
    else:
        return row
    return _stored_answer(token_id, key, fingerprint)


def _stored_answer(token_id: int, key: str, fingerprint: str) -> StoredAnswer:
    existing = db.session.scalar(
        select(ApiIdempotencyKey).where(ApiIdempotencyKey.api_token_id == token_id, ApiIdempotencyKey.key == key)
    )
    if existing.request_hash != fingerprint:
        raise ApiError(
            422,
            HEADER,
            f"{HEADER} {key!r} was already used with a different request ({existing.request_target} with "
            "another body) in the last 24 hours; send a new key for a new request",
        )
    if existing.response_status is None:  # only if a handler committed without answer_claim
        raise ApiError(409, HEADER, f"the request with {HEADER} {key!r} is still being processed; retry shortly")
    return StoredAnswer(existing.response_status, existing.response_body or "")


def _prune_expired(cutoff: datetime, token_id: int, key: str) -> None:
    # this key first, so an expired key is free again; then a few others, skipping rows another request holds
    db.session.execute(
        delete(ApiIdempotencyKey).where(
            ApiIdempotencyKey.api_token_id == token_id,
            ApiIdempotencyKey.key == key,
            ApiIdempotencyKey.created_at < cutoff,
        )
    )
    batch = (
        select(ApiIdempotencyKey.id)
        .where(ApiIdempotencyKey.created_at < cutoff)
        .order_by(ApiIdempotencyKey.id)
        .limit(PRUNE_BATCH)
        .with_for_update(skip_locked=True)
    )
    db.session.execute(delete(ApiIdempotencyKey).where(ApiIdempotencyKey.id.in_(batch)))


def idempotent_post(token_id: int) -> Response | None:
    """before_request, after authentication: a replayed answer, or None to run the handler (with the claim noted)."""
    if request.method != "POST" or HEADER not in request.headers:
        return None
    key = request.headers[HEADER]
    if not KEY_PATTERN.match(key):
        raise ApiError(400, HEADER, f"{HEADER} must be 1 to 255 visible ASCII characters, e.g. a UUID")
    # One writer transaction from the key to the commit: on SQLite a retry then waits here for the first to finish.
    db.session.commit()  # ends the token lookup's read transaction, if one is open
    begin_write(db.session)
    target = f"{request.method} {request.path}"
    fingerprint = request_fingerprint(request.method, request.full_path.rstrip("?"), request.get_data())
    claimed = claim_idempotency_key(token_id, key, target, fingerprint, now=utcnow())
    if isinstance(claimed, StoredAnswer):
        db.session.rollback()
        response = Response(claimed.body, status=claimed.status, mimetype="application/json")
        response.headers["Idempotent-Replayed"] = "true"
        return response
    setattr(g, _CLAIM, claimed)
    return None


def answer_claim(response: Response) -> None:
    """Writes the answer onto this request's key, if it has one; call it just before the commit."""
    claim: ApiIdempotencyKey | None = g.pop(_CLAIM, None)
    if claim is not None:
        claim.response_status = response.status_code
        claim.response_body = response.get_data(as_text=True)
