"""record_audit(): the one call every state change makes."""

from __future__ import annotations

from typing import Any

from flask import has_request_context
from flask_login import current_user

from app.audit.models import AuditEntry
from app.extensions import db


def current_actor() -> str:
    if has_request_context() and getattr(current_user, "is_authenticated", False):
        return f"user:{current_user.id}"
    return "system"


def record_audit(
    action: str,
    obj: Any = None,
    *,
    actor: str | None = None,
    object_type: str | None = None,
    object_id: str | int | None = None,
    **details: Any,
) -> AuditEntry:
    """Adds an entry to the caller's transaction, so it commits (or rolls back) with the change."""
    if obj is not None:
        object_type = object_type or getattr(obj, "__audit_type__", None) or obj.__tablename__
        if getattr(obj, "id", None) is None:
            db.session.flush()  # the object needs its id before the entry can name it
        object_id = object_id if object_id is not None else obj.id
    entry = AuditEntry(
        actor=actor or current_actor(),
        action=action,
        object_type=object_type,
        object_id=str(object_id) if object_id is not None else None,
        details=details,
    )
    db.session.add(entry)
    return entry
