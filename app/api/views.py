"""The /api/v1 routes: parse with app.api.schemas, call one service, commit once, answer JSON."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from sqlalchemy import Select, select
from werkzeug.exceptions import HTTPException

from app.access.entitlement import entitlement_for
from app.api import schemas
from app.api.auth import api_actor, authenticate_request
from app.api.errors import ApiError, conflict, error_response, invalid, not_found
from app.api.idempotency import answer_claim, idempotent_post
from app.api.representations import customer_json, invoice_json, payment_json, plan_json, subscription_json
from app.billing.invoices import LineInput, create_invoice
from app.billing.models import Invoice, InvoiceStatus, Plan, Subscription, SubscriptionStatus
from app.billing.plan_changes import PlanChangeError, change_plan
from app.billing.plans import PlanExists, PlanNotFound, create_plan, plan_by_code
from app.billing.subscriptions import PlanNotAvailable, SubscriptionExists, subscribe
from app.customers.models import Customer
from app.customers.service import CustomerExists, CustomerNotFound, create_customer, customer_by_external_id
from app.extensions import csrf, db
from app.money import parse_minor
from app.payments.manual import ManualPayment, ManualPaymentError, record_manual_payment
from app.payments.settlement import SettlementError, SettlementOutcome

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # token auth, no cookies: there is no session for a forged request to ride on
bp.before_request(authenticate_request)


@bp.before_request
def _replay_retried_posts():
    return idempotent_post(g.api_token_id)


@bp.errorhandler(ApiError)
def _api_error(error: ApiError):
    db.session.rollback()
    return error.response()


@bp.app_errorhandler(405)
@bp.app_errorhandler(413)
@bp.app_errorhandler(415)
def _http_error(error: HTTPException):
    if request.path.startswith("/api/"):
        return error_response(error.code or 400, None, error.description or error.name)
    return error


def _commit_answer(render: Callable[[], dict[str, Any]], status: int) -> Response:
    """Every POST ends here: the answer, rendered from what the database now holds (as a read after the commit
    would see it), is kept for the request's Idempotency-Key, then the one commit."""
    db.session.flush()
    db.session.expire_all()
    response = jsonify(render())
    response.status_code = status
    answer_claim(response)
    db.session.commit()
    return response


def _body() -> Any:
    data = request.get_json(silent=True)
    if data is None:
        raise ApiError(400, None, "send a JSON object with 'Content-Type: application/json'")
    return data


def _page(query: Select, model: type, render) -> dict[str, Any]:  # noqa: ANN001
    """Keyset pagination on the id: ?limit=&after=<the next_after of the previous page>."""
    page = schemas.page_input(request.args)
    if page.after is not None:
        query = query.where(model.id > page.after)
    rows = list(db.session.scalars(query.order_by(model.id).limit(page.limit + 1)))
    has_more = len(rows) > page.limit
    rows = rows[: page.limit]
    return {"data": [render(r) for r in rows], "has_more": has_more, "next_after": rows[-1].id if has_more else None}


def _customer(external_id: str, *, field: str, status: int) -> Customer:
    try:
        return customer_by_external_id(external_id)
    except CustomerNotFound:
        raise ApiError(status, field, f"no customer with external_id {external_id!r}") from None


def _plan(code: str, *, field: str, status: int) -> Plan:
    try:
        return plan_by_code(code)
    except PlanNotFound:
        raise ApiError(status, field, f"no plan with code {code!r}") from None


# Customers


@bp.post("/customers")
def create_customer_route():
    data = schemas.customer_input(_body())
    try:
        customer = create_customer(
            data.external_id, data.email, data.name, country=data.country, currency=data.currency, actor=api_actor()
        )
    except CustomerExists as exc:
        raise conflict("external_id", f"{exc}; its id is {exc.customer.id}") from None
    return _commit_answer(lambda: customer_json(customer), 201)


@bp.get("/customers")
def list_customers():
    return jsonify(_page(select(Customer), Customer, customer_json))


@bp.get("/customers/<external_id>")
def get_customer(external_id: str):
    return jsonify(customer_json(_customer(external_id, field="external_id", status=404)))


@bp.get("/customers/<external_id>/entitlement")
def get_entitlement(external_id: str):
    return jsonify(entitlement_for(_customer(external_id, field="external_id", status=404)))


# Plans


@bp.post("/plans")
def create_plan_route():
    data = schemas.plan_input(_body())
    try:
        plan = create_plan(
            data.code,
            data.name,
            data.amount_minor,
            data.currency,
            data.interval,
            trial_days=data.trial_days,
            limits=data.limits,
            actor=api_actor(),
        )
    except PlanExists as exc:
        raise conflict("code", str(exc)) from None
    return _commit_answer(lambda: plan_json(plan), 201)


@bp.get("/plans")
def list_plans():
    return jsonify(_page(select(Plan), Plan, plan_json))


@bp.get("/plans/<code>")
def get_plan(code: str):
    return jsonify(plan_json(_plan(code, field="code", status=404)))


# Subscriptions


@bp.post("/subscriptions")
def create_subscription():
    data = schemas.subscription_input(_body())
    customer = _customer(data.customer, field="customer", status=422)
    plan = _plan(data.plan, field="plan", status=422)
    try:
        sub, invoice = subscribe(customer, plan, actor=api_actor())
    except SubscriptionExists as exc:
        raise conflict("customer", str(exc)) from None
    except PlanNotAvailable as exc:
        raise invalid("plan", str(exc)) from None
    return _commit_answer(lambda: subscription_json(sub) | {"invoice": invoice_json(invoice) if invoice else None}, 201)


@bp.get("/subscriptions")
def list_subscriptions():
    query = select(Subscription)
    status = schemas.status_filter(request.args, SubscriptionStatus)
    if status is not None:
        query = query.where(Subscription.status == status)
    if request.args.get("customer"):
        query = query.where(
            Subscription.customer_id == _customer(request.args["customer"], field="customer", status=422).id
        )
    return jsonify(_page(query, Subscription, subscription_json))


@bp.get("/subscriptions/<int:subscription_id>")
def get_subscription(subscription_id: int):
    sub = db.session.get(Subscription, subscription_id)
    if sub is None:
        raise not_found("subscription_id", f"no subscription {subscription_id}")
    return jsonify(subscription_json(sub))


@bp.post("/subscriptions/<int:subscription_id>/plan")
def change_subscription_plan(subscription_id: int):
    sub = db.session.get(Subscription, subscription_id)
    if sub is None:
        raise not_found("subscription_id", f"no subscription {subscription_id}")
    plan = _plan(schemas.plan_change_input(_body()), field="plan", status=422)
    try:
        change = change_plan(sub, plan, actor=api_actor())
    except PlanChangeError as exc:
        raise conflict("subscription_id", str(exc)) from None
    except PlanNotAvailable as exc:
        raise invalid("plan", str(exc)) from None
    return _commit_answer(
        lambda: {
            "subscription": subscription_json(change.subscription),
            "invoice": invoice_json(change.invoice) if change.invoice else None,
            "pending": change.pending,
        },
        200,
    )


# Invoices and payments


@bp.post("/invoices")
def create_invoice_route():
    data = schemas.invoice_input(_body())
    customer = _customer(data.customer, field="customer", status=422)
    invoice = create_invoice(
        customer,
        data.currency,
        [LineInput(line.description, line.amount_minor, line.quantity) for line in data.lines],
        actor=api_actor(),
        due_days=data.due_days,
        memo=data.memo,
    )
    return _commit_answer(lambda: invoice_json(invoice), 201)


@bp.get("/invoices")
def list_invoices():
    query = select(Invoice)
    status = schemas.status_filter(request.args, InvoiceStatus)
    if status is not None:
        query = query.where(Invoice.status == status)
    if request.args.get("customer"):
        query = query.where(Invoice.customer_id == _customer(request.args["customer"], field="customer", status=422).id)
    return jsonify(_page(query, Invoice, invoice_json))


def _invoice(invoice_id: int) -> Invoice:
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise not_found("invoice_id", f"no invoice {invoice_id}")
    return invoice


@bp.get("/invoices/<int:invoice_id>")
def get_invoice(invoice_id: int):
    return jsonify(invoice_json(_invoice(invoice_id)))


@bp.post("/invoices/<int:invoice_id>/payments")
def record_payment(invoice_id: int):
    """201 recorded; 200 the same reference again (nothing changed); 202 held for the operator's review."""
    invoice = _invoice(invoice_id)
    data = schemas.payment_input(_body())
    entry = ManualPayment(
        data.method,
        data.amount,
        data.reference,
        received_at=data.received_at,
        note=data.note,
        received_amount=data.received_amount,
        received_currency=data.received_currency,
    )
    try:
        result = record_manual_payment(invoice.id, entry, actor=api_actor())
    except ManualPaymentError as exc:
        raise invalid(exc.field, str(exc)) from None
    except SettlementError as exc:
        raise invalid("amount", str(exc)) from None
    payment = result.payment
    if result.outcome == SettlementOutcome.DUPLICATE and (
        payment.invoice_id != invoice.id or payment.amount_minor != parse_minor(data.amount, invoice.currency)
    ):
        raise conflict(
            "reference",
            f"{payment.rail.value} reference {payment.rail_payment_id!r} is already recorded as payment "
            f"{payment.id} for invoice {payment.invoice_id} with a different amount or invoice",
        )
    # a duplicate changed nothing: its commit only releases the invoice row lock (and keeps an Idempotency-Key)
    status = {SettlementOutcome.DUPLICATE: 200, SettlementOutcome.NEEDS_REVIEW: 202}.get(result.outcome, 201)
    return _commit_answer(lambda: _payment_answer(result.outcome, payment, invoice), status)


_OUTCOME_MESSAGES = {
    SettlementOutcome.PAID: "recorded; the invoice is paid",
    SettlementOutcome.PARTIAL: "recorded; part of the invoice is still due",
    SettlementOutcome.DUPLICATE: "already recorded under this reference; nothing changed",
    SettlementOutcome.NEEDS_REVIEW: "recorded but not applied: the invoice cannot take payments now, so the money is "
    "held for the operator's review (see payment.review_reason)",
}


def _payment_answer(outcome: SettlementOutcome, payment, invoice: Invoice) -> dict[str, Any]:  # noqa: ANN001
    return {
        "outcome": outcome.value,
        "message": _OUTCOME_MESSAGES[outcome],
        "payment": payment_json(payment),
        "invoice": invoice_json(invoice),
    }


@bp.get("/openapi.json")
def openapi_document():
    from app.api.openapi import build_document

    return jsonify(build_document())
