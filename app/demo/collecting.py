"""Getting paid in the demo history: card charges and declines, transfers that arrive late or never, dunning,
expiry, and what happens after the money is in (refunds, disputes)."""

from __future__ import annotations

from datetime import timedelta

from app.billing.invoices import expire_invoice, void_invoice
from app.billing.models import Invoice, InvoiceStatus, SubscriptionStatus
from app.billing.subscriptions import cancel_subscription, downgrade_to_free, mark_past_due
from app.demo.rails import ACTOR, COIN_OF, is_instant
from app.demo.state import Business, Member
from app.payments.disputes import flag_dispute
from app.payments.models import Payment, PaymentStatus, Rail
from app.payments.refunds import record_refund
from app.payments.settlement import SettlementOutcome
from app.settings.service import get_setting

#: chance the first charge of an invoice is declined, by why the invoice exists
DECLINE_RATE = {"first": 0.03, "switch": 0.02, "conversion": 0.05, "renewal": 0.05}
#: chance a dunning retry of a declined card goes through
RETRY_SUCCESS = 0.4
#: late payments on expired invoices are held for the operator; older ones would have been dealt with by now,
#: which this build cannot record yet, so only the recent weeks of the history have them
REVIEW_WINDOW = timedelta(days=45)
CHURN_REASONS = ("too_expensive", "missing_feature", "switched_competitor", "no_longer_needed")


def collect(biz: Business, member: Member, invoice: Invoice, kind: str) -> None:
    """Sets the invoice on its way to being paid (or not) according to the customer's rail and habits."""
    biz.timeline.at(invoice.expires_at, expire, biz, member, invoice)
    if kind in ("first", "switch"):
        biz.timeline.at(biz.clock.now + timedelta(days=14), abandon, biz, member, member.generation)
    elif kind == "conversion":
        biz.timeline.at(biz.clock.now + timedelta(days=14), trial_lapses, biz, member, member.generation)
    if kind in ("first", "conversion") and biz.rails_to_show:
        member.rail = biz.rails_to_show.pop(0)
    if is_instant(member.rail):
        charge(biz, member, invoice, kind)
        return
    now = biz.clock.now
    if biz.take("overdue_today", kind == "renewal" and biz.end - timedelta(days=35) <= now < invoice.due_at < biz.end):
        return
    if biz.take("paid_after_expiry", kind != "conversion" and biz.end - timedelta(days=80) <= now):
        arrives = invoice.expires_at + timedelta(days=biz.rng.uniform(1, 5))
    else:
        days = _transfer_delay(biz, kind)
        if days is None:
            return
        arrives = now + timedelta(days=days)
        if arrives > invoice.expires_at and arrives < biz.end - REVIEW_WINDOW:
            return  # an old late payment would already have been resolved; this customer simply never paid
    biz.timeline.at(arrives, transfer_arrives, biz, member, invoice)


def _transfer_delay(biz: Business, kind: str) -> float | None:
    """Days until the money arrives; None for never. Renewals are invoiced 14 days before they are due."""
    draw = biz.rng.random()
    if kind != "renewal":
        return biz.rng.uniform(0.1, 6) if draw < 0.97 else None
    if draw < 0.88:
        return biz.rng.uniform(0.2, 12.5)
    if draw < 0.975:
        return biz.rng.uniform(14.5, 23.5)  # overdue: the subscription falls past due, then is paid in dunning
    if draw < 0.985:
        return biz.rng.uniform(46, 75)  # after the invoice expired: held for review
    return None


def charge(biz: Business, member: Member, invoice: Invoice, kind: str) -> None:
    if invoice.status != InvoiceStatus.OPEN:
        return
    if kind == "renewal" and biz.take("declined_near_end", biz.clock.now >= biz.end - timedelta(days=8)):
        member.card_keeps_failing = True
    if not member.card_keeps_failing and biz.rng.random() >= DECLINE_RATE[kind]:
        settle(biz, member, invoice, Rail.CARD)
        return
    biz.cashier.decline(invoice, biz.clock.now)
    biz.tally["card declines"] += 1
    sub = member.sub
    if kind in ("renewal", "conversion") and sub is not None and sub.id == invoice.subscription_id:
        fall_past_due(biz, member, invoice)
    elif kind in ("first", "switch"):
        retry_at = biz.clock.now + timedelta(days=1, hours=biz.rng.randint(0, 6))
        biz.timeline.at(retry_at, retry_once, biz, member, invoice)


def retry_once(biz: Business, member: Member, invoice: Invoice) -> None:
    if invoice.status != InvoiceStatus.OPEN:
        return
    if biz.rng.random() < 0.6:
        settle(biz, member, invoice, Rail.CARD)
    else:
        biz.cashier.decline(invoice, biz.clock.now)
        biz.tally["card declines"] += 1


def transfer_arrives(biz: Business, member: Member, invoice: Invoice) -> None:
    if invoice.status not in (InvoiceStatus.OPEN, InvoiceStatus.EXPIRED):
        return
    extra = 0
    if biz.rng.random() < 0.04 or biz.take("overpayment"):
        # Rounded up, or sent with the wrong figure: the surplus becomes the customer's credit.
        extra = biz.rng.choice((100, 500, 1000)) if member.rail not in COIN_OF else biz.rng.randint(20, 300)
    settle(biz, member, invoice, member.rail, extra)


def settle(biz: Business, member: Member, invoice: Invoice, rail: Rail, extra_minor: int = 0) -> None:
    result = biz.cashier.pay(invoice, rail, biz.clock.now, payer=member.customer.name, extra_minor=extra_minor)
    biz.tally[f"payments {rail.value}"] += 1
    if result.outcome == SettlementOutcome.NEEDS_REVIEW:
        biz.tally["held for review"] += 1
        return
    if extra_minor:
        biz.tally["overpayments"] += 1
    _after_the_money(biz, member, result.payment)
    sub = biz.live(member, member.generation)
    if (
        sub is not None
        and invoice.subscription_id == sub.id
        and sub.status == SubscriptionStatus.ACTIVE
        and sub.current_period_end == invoice.period_end
    ):
        biz.on_new_period(biz, member)


def _after_the_money(biz: Business, member: Member, payment: Payment) -> None:
    """A few payments are later refunded (in full or in part) or disputed."""
    now, draw = biz.clock.now, biz.rng.random()
    card = payment.rail == Rail.CARD
    recent = biz.end - timedelta(days=60) <= now < biz.end - timedelta(days=20)
    if card and (draw < 0.002 or biz.take("dispute", recent)):
        biz.timeline.at(now + timedelta(days=biz.rng.uniform(5, 15)), dispute, biz, payment)
    elif payment.rail in (Rail.CARD, Rail.BANK_TRANSFER) and (draw < 0.006 or biz.take("refund_full", recent)):
        biz.timeline.at(now + timedelta(days=biz.rng.uniform(1, 10)), refund, biz, member, payment, True)
    elif card and (draw < 0.01 or biz.take("refund_partial", recent)):
        biz.timeline.at(now + timedelta(days=biz.rng.uniform(3, 15)), refund, biz, member, payment, False)


def fall_past_due(biz: Business, member: Member, invoice: Invoice) -> None:
    sub = member.sub
    mark_past_due(sub, actor=ACTOR, now=biz.clock.now)
    for step in get_setting("dunning.schedule"):
        biz.timeline.at(
            sub.past_due_since + timedelta(days=step["day"]),
            dunning_step,
            biz,
            member,
            member.generation,
            invoice,
            step,
        )


def dunning_step(biz: Business, member: Member, generation: int, invoice: Invoice, step: dict) -> None:
    sub = biz.live(member, generation)
    if sub is None or sub.status != SubscriptionStatus.PAST_DUE:
        return
    # The dunning job owns this column; the seed records the steps that job would have taken on these days.
    sub.dunning_step = step["day"]
    if step["action"] == "downgrade":
        member.replace(downgrade_to_free(sub, actor=ACTOR, reason="payment_failed", now=biz.clock.now))
        biz.tally["downgraded by dunning"] += 1
        if member.rail == Rail.CARD and invoice.status == InvoiceStatus.OPEN:
            void_invoice(invoice, actor=ACTOR, reason="dunning ended: downgraded to the free plan")
        return
    if member.rail == Rail.CARD and invoice.status == InvoiceStatus.OPEN:
        if not member.card_keeps_failing and biz.rng.random() < RETRY_SUCCESS:
            settle(biz, member, invoice, Rail.CARD)
        else:
            biz.cashier.decline(invoice, biz.clock.now)
            biz.tally["card declines"] += 1


def abandon(biz: Business, member: Member, generation: int) -> None:
    """A first invoice never paid: the incomplete subscription is cancelled (its invoice expires later)."""
    sub = biz.live(member, generation)
    if sub is not None and sub.status == SubscriptionStatus.INCOMPLETE:
        cancel_subscription(sub, actor=ACTOR, reason="never_paid", now=biz.clock.now)
        member.replace(None)
        biz.tally["abandoned checkouts"] += 1


def trial_lapses(biz: Business, member: Member, generation: int) -> None:
    """The conversion invoice of a trial was never paid: the customer stays on the free plan."""
    sub = biz.live(member, generation)
    if sub is not None and sub.status == SubscriptionStatus.TRIALING:
        member.replace(downgrade_to_free(sub, actor=ACTOR, reason="trial_ended", now=biz.clock.now))
        biz.tally["trials ended unpaid"] += 1


def expire(biz: Business, member: Member, invoice: Invoice) -> None:
    if invoice.status == InvoiceStatus.OPEN:
        expire_invoice(invoice, actor=ACTOR, now=biz.clock.now)
        biz.tally["invoices expired"] += 1


def refund(biz: Business, member: Member, payment: Payment, full: bool) -> None:
    if payment.status not in (PaymentStatus.SETTLED, PaymentStatus.PARTIALLY_REFUNDED):
        return
    left = payment.amount_minor - payment.refunded_minor
    amount = left if full else max(1, left * biz.rng.choice((20, 25, 50)) // 100)
    reason = "requested_by_customer" if full else "service credit for an outage"
    record_refund(payment.id, amount, f"re_{biz.rng.getrandbits(96):024x}", actor=ACTOR, reason=reason)
    biz.tally["refunds full" if full else "refunds partial"] += 1
    if full and _pays_for_the_current_period(member, payment):
        cancel_subscription(
            member.sub,
            actor=ACTOR,
            reason=biz.rng.choice(("no_longer_needed", "too_expensive")),
            feedback="Asked for a refund and closed the account.",
            now=biz.clock.now,
        )
        member.replace(None)
        biz.tally["cancelled with a refund"] += 1


def _pays_for_the_current_period(member: Member, payment: Payment) -> bool:
    sub, invoice = member.sub, payment.invoice
    return (
        sub is not None
        and invoice is not None
        and invoice.subscription_id == sub.id
        and sub.status == SubscriptionStatus.ACTIVE
        and sub.current_period_end == invoice.period_end
    )


def dispute(biz: Business, payment: Payment) -> None:
    reason = biz.rng.choice(("fraudulent", "subscription_canceled", "product_not_received", "duplicate"))
    respond_by = biz.clock.now + timedelta(days=biz.rng.randint(7, 21))
    flag_dispute(payment.id, respond_by=respond_by, actor=ACTOR, reason=reason)
    biz.tally["disputes"] += 1
