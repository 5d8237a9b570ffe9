"""What the API keeps between requests: the Idempotency-Key of each POST and the answer it got."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime, utcnow
from app.extensions import db


class ApiIdempotencyKey(db.Model):
    """One key a token sent with a POST; written in the request's own transaction, so it exists only with its
    answer (a request that failed leaves no key behind)."""

    __tablename__ = "api_idempotency_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: keys are the client's: two tokens may use the same key for different requests
    api_token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id"), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    #: "POST /api/v1/invoices", for the message when the key comes back with another request
    request_target: Mapped[str] = mapped_column(String(300), nullable=False)
    #: SHA-256 of the method, path and JSON body in canonical form (key order and spacing do not count)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    #: the answer replayed to every retry; empty only until the request's transaction commits
    response_status: Mapped[int | None] = mapped_column()
    response_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)

    __table_args__ = (
        UniqueConstraint("api_token_id", "key", name="uq_api_idempotency_keys_token_key"),
        Index("ix_api_idempotency_keys_created_at", "created_at"),
    )
