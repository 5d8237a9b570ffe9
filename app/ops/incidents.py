"""Incidents: opened by the operator or by the watchdog, updated, resolved; one alert when opened, one when resolved.

An incident's status moves through INVESTIGATING -> IDENTIFIED -> MONITORING (in any order) and ends at RESOLVED;
a resolved incident does not reopen (a new outage is a new incident).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.audit.service import record_audit
from app.db_types import utcnow
from app.extensions import db
from app.ops.alerts import ONCE, raise_alert
from app.ops.components import BY_KEY
from app.ops.models import Incident, IncidentImpact, IncidentStatus, IncidentUpdate

MAX_TITLE = 200
MAX_MESSAGE = 5000


class IncidentError(ValueError):
    """Bad input or an illegal move; `field` names the form field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def _clean_message(message: str) -> str:
    message = (message or "").strip()
    if not message:
        raise IncidentError("message", "Write what is happening: customers read this on the status page.")
    if len(message) > MAX_MESSAGE:
        raise IncidentError("message", f"At most {MAX_MESSAGE} characters.")
    return message


def _clean_components(components: list[str]) -> list[str]:
    unknown = [c for c in components if c not in BY_KEY]
    if unknown:
        raise IncidentError("components", f"Unknown component(s): {', '.join(unknown)}")
    return [c for c in BY_KEY if c in components]


def open_incident(
    title: str,
    impact: str,
    components: list[str],
    message: str,
    *,
    actor: str,
    public: bool = True,
    status: str = IncidentStatus.INVESTIGATING.value,
    now: datetime | None = None,
) -> Incident:
    title = (title or "").strip()
    if not title:
        raise IncidentError("title", "A title is required.")
    if len(title) > MAX_TITLE:
        raise IncidentError("title", f"At most {MAX_TITLE} characters.")
    try:
        impact_value = IncidentImpact(impact)
    except ValueError:
        raise IncidentError("impact", "Choose minor, major or maintenance.") from None
    try:
        status_value = IncidentStatus(status)
    except ValueError:
        raise IncidentError("status", "Unknown status.") from None
    if status_value == IncidentStatus.RESOLVED:
        raise IncidentError("status", "A new incident cannot start resolved.")
    now = now or utcnow()
    incident = Incident(
        title=title,
        status=status_value,
        impact=impact_value,
        components=_clean_components(components),
        public=public,
        opened_at=now,
        opened_by=actor,
    )
    db.session.add(incident)
    db.session.add(
        IncidentUpdate(
            incident=incident, status=status_value, message=_clean_message(message), created_at=now, author=actor
        )
    )
    db.session.flush()
    record_audit("incident.opened", incident, actor=actor, title=title, impact=impact_value.value)
    _alert_opened(incident, message, now)
    return incident


def open_automatic_incident(
    source_key: str,
    title: str,
    components: list[str],
    message: str,
    operator_detail: str,
    *,
    impact: str,
    now: datetime,
) -> Incident | None:
    """The watchdog's incident for one failing check; None when one is already open for that source.

    `open_key` is unique, so two watchdog runs racing each other open one incident between them.
    """
    incident = Incident(
        title=title,
        status=IncidentStatus.INVESTIGATING,
        impact=IncidentImpact(impact),
        components=components,
        public=bool(components),
        source_key=source_key,
        open_key=source_key,
        opened_at=now,
        opened_by="watchdog",
    )
    try:
        with db.session.begin_nested():
            db.session.add(incident)
            db.session.flush()
    except IntegrityError:
        return None
    db.session.add(
        IncidentUpdate(
            incident=incident, status=IncidentStatus.INVESTIGATING, message=message, created_at=now, author="watchdog"
        )
    )
    record_audit("incident.opened", incident, actor="watchdog", title=title, source=source_key)
    _alert_opened(incident, operator_detail, now)
    return incident


def record_past_incident(
    source_key: str,
    title: str,
    components: list[str],
    opening_message: str,
    resolution_message: str,
    *,
    impact: str,
    opened_at: datetime,
    resolved_at: datetime,
) -> Incident:
    """An outage that could only be written down once it was over (the database itself was down): a resolved
    incident with its real start and end. No alert: the operator was told directly while it happened."""
    incident = Incident(
        title=title,
        status=IncidentStatus.RESOLVED,
        impact=IncidentImpact(impact),
        components=_clean_components(components),
        public=bool(components),
        source_key=source_key,
        opened_at=opened_at,
        resolved_at=resolved_at,
        opened_by="watchdog",
    )
    db.session.add(incident)
    for status, message, at in (
        (IncidentStatus.INVESTIGATING, opening_message, opened_at),
        (IncidentStatus.RESOLVED, resolution_message, resolved_at),
    ):
        update = IncidentUpdate(incident=incident, status=status, message=message, created_at=at, author="watchdog")
        db.session.add(update)
    db.session.flush()
    record_audit(
        "incident.recorded",
        incident,
        actor="watchdog",
        title=title,
        source=source_key,
        opened_at=opened_at.isoformat(),
        resolved_at=resolved_at.isoformat(),
    )
    return incident


def post_update(incident: Incident, status: str, message: str, *, actor: str, now: datetime | None = None) -> Incident:
    if not incident.is_open:
        raise IncidentError("status", "This incident is resolved; open a new one for a new problem.")
    try:
        new_status = IncidentStatus(status)
    except ValueError:
        raise IncidentError("status", "Unknown status.") from None
    message = _clean_message(message)
    if new_status == IncidentStatus.RESOLVED:
        return resolve_incident(incident, message, actor=actor, now=now)
    now = now or utcnow()
    old = incident.status
    incident.status = new_status
    db.session.add(IncidentUpdate(incident=incident, status=new_status, message=message, created_at=now, author=actor))
    record_audit("incident.updated", incident, actor=actor, old=old.value, new=new_status.value)
    return incident


def resolve_incident(incident: Incident, message: str, *, actor: str, now: datetime | None = None) -> Incident:
    if not incident.is_open:
        raise IncidentError("status", "This incident is already resolved.")
    message = _clean_message(message)
    now = now or utcnow()
    old = incident.status
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = now
    incident.open_key = None
    db.session.add(
        IncidentUpdate(incident=incident, status=IncidentStatus.RESOLVED, message=message, created_at=now, author=actor)
    )
    db.session.flush()
    record_audit("incident.resolved", incident, actor=actor, old=old.value)
    minutes = max(1, int((now - incident.opened_at).total_seconds() // 60))
    raise_alert(
        "incident.resolved",
        f"incident:{incident.id}",
        f"Resolved: {incident.title} (after {minutes} min)\n{message}",
        context={"incident_id": incident.id},
        window_minutes=ONCE,
        now=now,
    )
    return incident


def _alert_opened(incident: Incident, detail: str, now: datetime) -> None:
    raise_alert(
        "incident.opened",
        f"incident:{incident.id}",
        f"Incident: {incident.title}\n{detail}",
        context={"incident_id": incident.id},
        window_minutes=ONCE,
        now=now,
    )


def open_incident_for(source_key: str) -> Incident | None:
    return db.session.scalar(select(Incident).where(Incident.open_key == source_key))


def last_incident_for(source_key: str) -> Incident | None:
    return db.session.scalar(
        select(Incident).where(Incident.source_key == source_key).order_by(Incident.opened_at.desc()).limit(1)
    )


def incident_list(*, limit: int = 100) -> list[Incident]:
    query = select(Incident).order_by(Incident.opened_at.desc(), Incident.id.desc()).limit(limit)
    return list(db.session.scalars(query))


def get_incident(incident_id: int) -> Incident | None:
    return db.session.get(Incident, incident_id)
