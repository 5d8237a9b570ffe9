"""Bearer-token authentication for every /api/v1 request."""

from __future__ import annotations

from flask import g, request

from app.access.tokens import note_token_used, token_for_bearer
from app.api.errors import error_response
from app.extensions import db


def authenticate_request():
    """Runs before every API handler: a valid, non-revoked token, or a 401 that changes nothing."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return _unauthorized("send the API token as 'Authorization: Bearer <token>'")
    row = token_for_bearer(token.strip())
    if row is None:
        db.session.rollback()
        return _unauthorized("the API token is not valid or has been revoked")
    g.api_token_id = row.id
    if note_token_used(row):
        db.session.commit()  # its own small transaction, before the handler's
    return None


def api_actor() -> str:
    """Who the audit log says did it."""
    return f"api-token:{g.api_token_id}"


def _unauthorized(message: str):
    response, status = error_response(401, None, message)
    response.headers["WWW-Authenticate"] = 'Bearer realm="advancia-api"'
    return response, status
