"""Property: whatever sequence of invoices, partial payments, overpayments, refunds and duplicates happens,
the books balance and agree with invoices, payments and credit."""

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from app.billing.invoices import LineInput, create_invoice, expire_invoice, void_invoice
from app.billing.models import InvoiceStatus
from app.customers.service import create_customer
from app.extensions import db
from app.ledger.models import Account
from app.ledger.service import balance, check_books
from app.payments.models import PaymentStatus, Rail
from app.payments.refunds import RefundError, record_refund
from app.payments.review import Resolution, ReviewError, resolve_held_payment
from app.payments.settlement import IncomingPayment, settle_payment

RAILS = [Rail.CASH, Rail.CHECK, Rail.WIRE, Rail.CARD, Rail.BANK_TRANSFER]

operation = st.one_of(
    st.tuples(st.just("invoice"), st.integers(1, 50_000)),
    st.tuples(st.just("pay"), st.integers(0, 5), st.integers(1, 60_000), st.integers(0, 300), st.integers(0, 4)),
    st.tuples(st.just("duplicate"), st.integers(0, 10)),
    st.tuples(st.just("refund"), st.integers(0, 10), st.integers(1, 60_000)),
    st.tuples(st.just("expire"), st.integers(0, 5)),
    st.tuples(st.just("void"), st.integers(0, 5)),
    st.tuples(st.just("resolve"), st.integers(0, 10), st.sampled_from(["apply", "credit", "refund"])),
)

_counter = iter(range(10**9))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_books_hold_after_any_sequence_of_money_events(app, ops):
    run = next(_counter)
    customer = create_customer(f"prop-{run}", f"prop{run}@example.com", actor="test")
    db.session.commit()
    invoices, payments, incoming_log = [], [], []
    for op in ops:
        kind = op[0]
        if kind == "invoice":
            invoices.append(create_invoice(customer, "USD", [LineInput("Service", op[1])], actor="test"))
        elif kind == "pay" and invoices:
            invoice = invoices[op[1] % len(invoices)]
            amount = op[2]
            incoming = IncomingPayment(
                rail=RAILS[op[4]],
                rail_payment_id=f"{run}-{len(incoming_log)}",
                amount_received_minor=amount,
                currency_received="USD",
                amount_minor=amount,
                fee_minor=min(op[3], amount),
            )
            incoming_log.append((invoice.id, incoming))
            payments.append(settle_payment(invoice.id, incoming, actor="test").payment)
        elif kind == "duplicate" and incoming_log:
            invoice_id, incoming = incoming_log[op[1] % len(incoming_log)]
            before = len({p.id for p in payments})
            result = settle_payment(invoice_id, incoming, actor="test")
            assert not result.created and len({p.id for p in payments}) == before
        elif kind == "refund" and payments:
            payment = payments[op[1] % len(payments)]
            try:
                record_refund(payment.id, op[2], f"rf-{run}-{op[1]}-{op[2]}", actor="test")
            except RefundError:
                db.session.rollback()  # more than refundable or not refundable: refused, nothing written
                continue
        elif kind == "resolve" and payments:
            payment = payments[op[1] % len(payments)]
            try:
                resolve_held_payment(payment.id, Resolution(op[2]), actor="test", reference=f"back-{payment.id}")
                event(f"resolved by {op[2]}")
            except ReviewError:
                db.session.rollback()  # not held, or its invoice cannot take it: refused, nothing written
                continue
        elif kind in ("expire", "void") and invoices:
            invoice = invoices[op[1] % len(invoices)]
            if invoice.status == InvoiceStatus.OPEN:
                (expire_invoice if kind == "expire" else void_invoice)(invoice, actor="test")
        db.session.commit()

    assert check_books() == []
    # The customer's receivable is exactly what open invoices still need.
    owed = sum(i.amount_remaining_minor for i in invoices if i.status == InvoiceStatus.OPEN)
    assert balance(Account.RECEIVABLE, "USD", customer.id) == owed
    for payment in payments:
        assert payment.applied_minor <= payment.amount_minor
        assert payment.status in (
            PaymentStatus.SETTLED,
            PaymentStatus.NEEDS_REVIEW,
            PaymentStatus.REFUNDED,
            PaymentStatus.PARTIALLY_REFUNDED,
            PaymentStatus.CREDITED,
        )
