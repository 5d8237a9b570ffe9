"""Dunning, the 09:00 job: past-due subscriptions are retried and warned on the operator's schedule, then
moved to the free plan.

The schedule is the setting "dunning.schedule", read on every run: steps of {"day", "action", "email"}, days
being UTC calendar days from the subscription's past_due_since. Subscription.dunning_step records the last step
taken, so each step happens once, and a run that finds several steps due (the job missed days) takes only the
latest: the customer gets one email, not a pile. Paying stops it: settlement's apply_paid_invoice makes the
subscription active again and resets the clock. A job body: commits once per batch."""

from __future__ import annotations

import re
from collections import Counter as Tally
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.audit.service import record_audit
from app.billing.card_on_file import CARD_RAIL_UNAVAILABLE, charge_card_on_file, has_card_on_file
from app.billing.credit import apply_credit
from app.billing.downgrades import downgrade_unpaid
from app.billing.invoices import invoice_for_update
from app.billing.models import Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from app.billing.notices import invoice_context, update_payment_method_url
from app.billing.periods import calendar_days
from app.billing.plans import free_plan
from app.extensions import db
from app.notifications.outbox import queue_email
from app.settings.service import get_setting

ACTOR = "job:dunning"
ACTIONS = ("retry", "downgrade")

#: subject lines by template; a step may carry its own "subject"
SUBJECTS = {
    "dunning_retry": "We could not collect payment for invoice {invoice_number}",
    "dunning_update_card": "Please update your payment method for invoice {invoice_number}",
    "dunning_final_warning": "Final notice: your {plan_name} plan will be downgraded",
    "dunning_downgraded": "Your subscription has moved to the {free_plan_name} plan",
}


class DunningScheduleError(ValueError):
    """The "dunning.schedule" setting cannot be followed; `field` names the bad part."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"dunning.schedule {field}: {message}")
        self.field = field


@dataclass(frozen=True)
class DunningStep:
    day: int
    #: "retry" (collect again: credit, then a card on file) or "downgrade" (the last step)
    action: str
    #: the email template, or None for a silent step
    email: str | None
    subject: str | None = None


def parse_schedule(value: Any) -> list[DunningStep]:
    """Validates the setting (the settings screen can call this too); steps sorted by day."""
    if not isinstance(value, list) or not value:
        raise DunningScheduleError("", "must be a non-empty list of steps")
    steps = []
    for i, raw in enumerate(value):
        if not isinstance(raw, dict):
            raise DunningScheduleError(f"[{i}]", "each step is an object with day, action and email")
        day, action, email = raw.get("day"), raw.get("action"), raw.get("email")
        if not isinstance(day, int) or isinstance(day, bool) or day < 1:
            raise DunningScheduleError(f"[{i}].day", "must be a whole number of days, 1 or more")
        if action not in ACTIONS:
            raise DunningScheduleError(f"[{i}].action", f"must be one of {', '.join(ACTIONS)}")
        if email is not None and (not isinstance(email, str) or not email.strip()):
            raise DunningScheduleError(f"[{i}].email", "must be a template name or null")
        steps.append(DunningStep(day, action, email, raw.get("subject") or None))
    steps.sort(key=lambda step: step.day)
    if len({step.day for step in steps}) != len(steps):
        raise DunningScheduleError("day", "two steps on the same day")
    if any(step.action == "downgrade" for step in steps[:-1]) or steps[-1].action != "downgrade":
        raise DunningScheduleError("action", "the last step, and only the last, downgrades")
    return steps


def step_due(steps: list[DunningStep], days_past_due: int, last_done: int) -> DunningStep | None:
    """The latest step whose day has come and that is later than the last one taken."""
    due = [step for step in steps if last_done < step.day <= days_past_due]
    return due[-1] if due else None


def run_dunning(now: datetime, *, batch_size: int = 200, actor: str = ACTOR) -> dict[str, Any]:
    steps = parse_schedule(get_setting("dunning.schedule"))
    tally: Tally[str] = Tally()
    after_id = 0
    while subs := _past_due_batch(now, after_id, batch_size):
        after_id = subs[-1].id
        for sub in subs:
            step = step_due(steps, calendar_days(sub.past_due_since, now), sub.dunning_step)
            if step is not None:
                tally.update(take_step(sub, step, now, actor=actor))
        db.session.commit()
    summary: dict[str, Any] = {
        key: tally[key] for key in ("retried", "recovered", "emails", "downgraded", "invoices_voided")
    }
    summary["card_not_charged"] = tally["card_not_charged"]
    if tally["card_not_charged"]:
        summary["card_not_charged_reason"] = CARD_RAIL_UNAVAILABLE
    return summary


def _past_due_batch(now: datetime, after_id: int, batch_size: int) -> list[Subscription]:
    return list(
        db.session.scalars(
            select(Subscription)
            .where(
                Subscription.status == SubscriptionStatus.PAST_DUE,
                Subscription.past_due_since <= now,
                Subscription.id > after_id,
            )
            .order_by(Subscription.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
    )


def take_step(sub: Subscription, step: DunningStep, now: datetime, *, actor: str = ACTOR) -> Tally[str]:
    """One step for one subscription, in the caller's transaction."""
    tally: Tally[str] = Tally()
    invoice = _unpaid_invoice(sub)
    if step.action == "retry":
        tally["retried"] += 1
        if invoice is not None and _collect(sub, invoice, now, actor, tally):
            tally["recovered"] += 1
            return tally  # paid: the subscription is active again and dunning is over
    email = _dunning_email(sub, step, invoice) if step.email else None  # before a downgrade voids the invoice
    if step.action == "downgrade":
        _, voided = downgrade_unpaid(sub, actor=actor, reason="dunning", now=now)
        tally["downgraded"] += 1
        tally["invoices_voided"] += voided
    sub.dunning_step = step.day
    record_audit("subscription.dunning_step", sub, actor=actor, day=step.day, step=step.action, email=step.email)
    if email is not None:
        queue_email(**email)
        tally["emails"] += 1
    return tally


def _unpaid_invoice(sub: Subscription) -> Invoice | None:
    """The newest open invoice of the subscription: the renewal that was not paid."""
    invoice_id = db.session.scalar(
        select(Invoice.id)
        .where(Invoice.subscription_id == sub.id, Invoice.status == InvoiceStatus.OPEN)
        .order_by(Invoice.period_start.desc(), Invoice.id.desc())
        .limit(1)
    )
    return invoice_for_update(invoice_id) if invoice_id is not None else None


def _collect(sub: Subscription, invoice: Invoice, now: datetime, actor: str, tally: Tally[str]) -> bool:
    """Credit that arrived since the renewal, then the card on file. True when the invoice is paid."""
    apply_credit(invoice, actor=actor, now=now)
    if invoice.status != InvoiceStatus.PAID and has_card_on_file(sub.customer.stripe_customer_id):
        tally["card_not_charged"] += charge_card_on_file(invoice, now=now) is None
    return invoice.status == InvoiceStatus.PAID


def _dunning_email(sub: Subscription, step: DunningStep, invoice: Invoice | None) -> dict[str, Any]:
    """queue_email's arguments. Every template gets the same keys; a link is None when there is nothing to pay
    (the downgrade voids the invoice, and money sent to a void invoice only waits for the operator)."""
    customer = sub.customer
    context: dict[str, Any] = {
        "customer_name": customer.name or customer.email,
        "invoice_number": None,
        "amount": None,
        "pay_url": None,
        "update_url": None,
        "plan_name": sub.plan.name,
        "free_plan_name": free_plan().name,
        "days_past_due": step.day,
    }
    if invoice is not None:
        context |= invoice_context(invoice, customer, update_url=update_payment_method_url(invoice))
        if step.action == "downgrade":
            context |= {"pay_url": None, "update_url": None, "invoice_voided": True}
    subject = _fill(step.subject or SUBJECTS.get(step.email, "About your subscription"), context)
    return {
        "to": customer.email,
        "subject": subject,
        "template": step.email,
        "context": context,
        # per episode of dunning: a later one sends its own emails
        "dedupe_key": f"dunning:{sub.id}:{sub.past_due_since.isoformat()}:{step.day}",
        "customer_id": customer.id,
    }


def _fill(subject: str, context: dict[str, Any]) -> str:
    """{name} placeholders from the email context; nothing else in an operator's subject is interpreted (unlike
    str.format, a stray brace cannot fail the job or reach into objects)."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        return match.group(0) if name not in context else "" if context[name] is None else str(context[name])

    return re.sub(r"\{(\w+)\}", value, subject)
