"""Demo operations history: 90 days of daily uptime per public component and a few past incidents with updates,
so the status page of `make run` opens on a believable record. Live watchdog runs add to the same rows.

Stored compactly as the watchdog stores it: one row per component and day with its runs by outcome (720 runs a
day, one every 2 minutes). Raw check results are not invented: those come only from real watchdog runs.
Safe to run twice: days and incidents already present are left alone. The caller commits.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from app.extensions import db
from app.ops.components import COMPONENTS
from app.ops.models import ComponentDay, Incident, IncidentImpact, IncidentStatus, IncidentUpdate

RUNS_PER_DAY = 24 * 30


@dataclass(frozen=True)
class PastIncident:
    key: str
    days_ago: int
    #: start, UTC hour and minute
    at: tuple[int, int]
    minutes: int
    components: tuple[str, ...]
    impact: IncidentImpact
    title: str
    #: (minutes after the start, status, message)
    updates: tuple[tuple[int, IncidentStatus, str], ...]
    #: maintenance is announced, and counts as degraded rather than down
    counts_as: str = "down_runs"


PAST_INCIDENTS = (
    PastIncident(
        "demo:stripe-timeouts",
        23,
        (14, 6),
        38,
        ("payments_card",),
        IncidentImpact.MAJOR,
        "Card payments failing",
        (
            (0, IncidentStatus.INVESTIGATING, "Card payments are failing at checkout. We are investigating."),
            (
                17,
                IncidentStatus.IDENTIFIED,
                "Our card processor is timing out; invoices stay open and can be paid "
                "by bank transfer or crypto meanwhile.",
            ),
            (
                38,
                IncidentStatus.RESOLVED,
                "Card payments work again. Payments attempted during the incident were not charged; please retry them.",
            ),
        ),
    ),
    PastIncident(
        "demo:maintenance-db",
        45,
        (2, 0),
        20,
        ("api", "dashboard"),
        IncidentImpact.MAINTENANCE,
        "Scheduled database maintenance",
        (
            (
                0,
                IncidentStatus.MONITORING,
                "Planned database upgrade: the dashboard and API may be slow for up to 30 minutes.",
            ),
            (20, IncidentStatus.RESOLVED, "Maintenance is complete."),
        ),
        counts_as="degraded_runs",
    ),
    PastIncident(
        "demo:api-outage",
        61,
        (9, 40),
        14,
        ("api", "dashboard", "payments_card", "payments_bank", "payments_btc", "payments_eth"),
        IncidentImpact.MAJOR,
        "API, dashboard and payments unavailable",
        (
            (0, IncidentStatus.INVESTIGATING, "The API and dashboard are not answering. We are investigating."),
            (9, IncidentStatus.IDENTIFIED, "The database ran out of connections after a deploy; we rolled it back."),
            (
                14,
                IncidentStatus.RESOLVED,
                "Everything is answering again. No payment was lost: late webhooks were replayed.",
            ),
        ),
    ),
)


def _runs_today(now: datetime) -> int:
    return (now.hour * 60 + now.minute) // 2


def seed_ops_history(rng: random.Random, now: datetime, days: int = 90) -> dict[str, int]:
    """Adds `days` days of component uptime up to `now` and the past incidents that fall in them."""
    today = now.date()
    existing = {
        (row.day, row.component)
        for row in db.session.execute(
            select(ComponentDay.day, ComponentDay.component).where(ComponentDay.day > today - timedelta(days=days))
        )
    }
    outages: dict[tuple, dict[str, int]] = {}
    for incident in PAST_INCIDENTS:
        if incident.days_ago < days:
            day = today - timedelta(days=incident.days_ago)
            for component in incident.components:
                slot = outages.setdefault((day, component), {})
                slot[incident.counts_as] = slot.get(incident.counts_as, 0) + incident.minutes // 2
    rows = 0
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        total = _runs_today(now) if offset == 0 else RUNS_PER_DAY
        if total == 0:
            continue
        for component in COMPONENTS:
            if (day, component.key) in existing:
                continue
            counts = {"down_runs": 0, "degraded_runs": 0}
            # Now and then a slow minute or two (a cold cache, a slow provider): degraded, not down.
            if rng.random() < 0.15:
                counts["degraded_runs"] = rng.randint(1, 4)
            for column, runs in outages.get((day, component.key), {}).items():
                counts[column] += runs
            counts = {k: min(v, total) for k, v in counts.items()}
            ok = max(0, total - counts["down_runs"] - counts["degraded_runs"])
            db.session.add(ComponentDay(day=day, component=component.key, ok_runs=ok, **counts))
            rows += 1
    made = sum(_seed_incident(incident, today) for incident in PAST_INCIDENTS if incident.days_ago < days)
    db.session.flush()
    return {"component_days": rows, "incidents": made}


def _seed_incident(spec: PastIncident, today: date) -> int:
    if db.session.scalar(select(Incident.id).where(Incident.source_key == spec.key)) is not None:
        return 0
    day = today - timedelta(days=spec.days_ago)
    start = datetime(day.year, day.month, day.day, *spec.at, tzinfo=UTC)
    incident = Incident(
        title=spec.title,
        status=IncidentStatus.RESOLVED,
        impact=spec.impact,
        components=list(spec.components),
        public=True,
        source_key=spec.key,
        open_key=None,
        opened_at=start,
        resolved_at=start + timedelta(minutes=spec.minutes),
        opened_by="seed",
    )
    db.session.add(incident)
    for minutes, status, message in spec.updates:
        db.session.add(
            IncidentUpdate(
                incident=incident,
                status=status,
                message=message,
                created_at=start + timedelta(minutes=minutes),
                author="seed",
            )
        )
    return 1
