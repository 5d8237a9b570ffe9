"""The outbound webhook signature: `Advancia-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.

Signing the timestamp with the body lets a receiver refuse replays of an old, captured request.
See docs/webhooks.md for the receiver's side.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Advancia-Signature"
#: how old a signature a receiver should accept, in seconds (our own verify() default)
DEFAULT_TOLERANCE = 300


class SignatureError(ValueError):
    pass


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"


def verify_signature(
    secret: str, header: str, body: bytes, *, tolerance: int = DEFAULT_TOLERANCE, now: int | None = None
) -> int:
    """What a receiver does; returns the signed timestamp or raises SignatureError."""
    parts: dict[str, list[str]] = {}
    for item in (header or "").split(","):
        key, _, value = item.strip().partition("=")
        parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError("no timestamp in the signature header") from None
    now = int(time.time()) if now is None else now
    if abs(now - timestamp) > tolerance:
        raise SignatureError("signature timestamp outside the tolerance")
    expected = compute_signature(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureError("signature does not match")
    return timestamp
