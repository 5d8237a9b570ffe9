"""The OpenAPI 3.1 description of /api/v1, written by hand; tests/api/test_openapi.py keeps it honest."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.access.events import EVENT_TYPES
from app.api.idempotency import HEADER
from app.api.schemas import CURRENCIES, DEFAULT_PAGE, MAX_LINES, MAX_PAGE, PAYMENT_METHODS
from app.billing.models import InvoiceStatus, SubscriptionStatus

AMOUNT = {
    "type": "string",
    "pattern": r"^[0-9]+(\.[0-9]+)?$",
    "description": 'Decimal string in the currency\'s units, no more decimals than the currency has: "49.00" USD, '
    '"5000" JPY. Numbers are refused.',
    "examples": ["49.00"],
}
CURRENCY = {"type": "string", "enum": list(CURRENCIES), "description": "ISO 4217 code"}
TIME = {"type": "string", "format": "date-time"}
NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _object(properties: dict[str, Any], required: list[str] | None = None, *, closed: bool = True) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": required or list(properties)}
    if closed:
        schema["additionalProperties"] = False
    return schema


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    meaning = {
        400: "The body is not a JSON object, or the Idempotency-Key is malformed",
        401: "Missing, unknown or revoked API token",
        404: "The resource named in the URL does not exist",
        409: "Conflicts with what exists (duplicate)",
        422: "A field is invalid, or names something that does not exist, or the Idempotency-Key was used with "
        "a different request; `field` says which",
    }
    return {str(code): {"$ref": f"#/components/responses/E{code}"} for code in (401, *codes) if code in meaning}


def _page_of(name: str) -> dict[str, Any]:
    return _object(
        {
            "data": {"type": "array", "items": _ref(name)},
            "has_more": {"type": "boolean"},
            "next_after": {"type": ["integer", "null"], "description": "Pass as ?after= for the next page"},
        }
    )


PAGE_PARAMS = [
    {
        "name": "limit",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE},
    },
    {
        "name": "after",
        "in": "query",
        "description": "The `next_after` of the previous page (ids ascending)",
        "schema": {"type": "integer", "minimum": 0},
    },
]


#: on every POST
IDEMPOTENCY_KEY = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": "Your own unique value for this request (a UUID), so retrying it is safe: for 24 hours the same "
    "key with the same body gets the first answer again (same status and body, with `Idempotent-Replayed: true`) and "
    "nothing is done twice; the same key with a different body is refused with 422. Keys belong to the API token. "
    "A request that failed changed nothing and does not use up its key.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[\x21-\x7e]+$"},
}


def _path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _schemas() -> dict[str, Any]:
    schemas = _base_schemas()
    # A closed object cannot be extended with allOf, so the answer to POST /subscriptions repeats the fields.
    new_subscription = _object(dict(schemas["Subscription"]["properties"]))
    new_subscription["properties"]["invoice"] = {
        "oneOf": [_ref("Invoice"), {"type": "null"}],
        "description": "The first invoice; null while trialing or on a free plan",
    }
    new_subscription["required"] = [*schemas["Subscription"]["required"], "invoice"]
    return schemas | {"NewSubscription": new_subscription}


def _base_schemas() -> dict[str, Any]:
    line_out = _object(
        {
            "description": {"type": "string"},
            "quantity": {"type": "integer"},
            "unit_amount": AMOUNT,
            "amount": AMOUNT,
        }
    )
    return {
        "Error": _object(
            {
                "error": _object(
                    {
                        "field": {"type": ["string", "null"], "description": "The offending field, when one is"},
                        "message": {"type": "string"},
                    }
                )
            }
        ),
        "CustomerInput": _object(
            {
                "external_id": {"type": "string", "minLength": 1, "maxLength": 120, "pattern": r"^[^\s/?#%\\]+$"},
                "email": {"type": "string", "format": "email", "maxLength": 254},
                "name": {"type": "string", "minLength": 1, "maxLength": 200},
                "country": {"type": "string", "pattern": "^[A-Za-z]{2}$", "description": "ISO 3166-1 alpha-2"},
                "currency": CURRENCY | {"default": "USD"},
            },
            ["external_id", "email", "name"],
        ),
        "Customer": _object(
            {
                "id": {"type": "integer"},
                "external_id": {"type": "string"},
                "email": {"type": "string"},
                "name": {"type": "string"},
                "country": {"type": ["string", "null"]},
                "currency": {"type": "string"},
                "credit_balance": AMOUNT,
                "created_at": TIME,
            }
        ),
        "PlanInput": _object(
            {
                "code": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]*$"},
                "name": {"type": "string", "minLength": 1, "maxLength": 120},
                "amount": AMOUNT,
                "currency": CURRENCY,
                "interval": {"type": "string", "enum": ["month", "year"]},
                "trial_days": {"type": "integer", "minimum": 0, "maximum": 365, "default": 0},
                "limits": {
                    "type": "object",
                    "additionalProperties": {"type": ["integer", "boolean", "string", "null"]},
                    "description": 'Handed to your product by the entitlement endpoint, e.g. {"seats": 5}',
                },
            },
            ["code", "name", "amount", "currency", "interval"],
        ),
        "Plan": _object(
            {
                "id": {"type": "integer"},
                "code": {"type": "string"},
                "name": {"type": "string"},
                "amount": AMOUNT,
                "currency": {"type": "string"},
                "interval": {"type": "string", "enum": ["month", "year"]},
                "trial_days": {"type": "integer"},
                "limits": {"type": "object"},
                "is_free": {"type": "boolean"},
                "active": {"type": "boolean"},
                "created_at": TIME,
            }
        ),
        "SubscriptionInput": _object(
            {
                "customer": {"type": "string", "description": "The customer's external_id"},
                "plan": {"type": "string", "description": "The plan's code"},
            }
        ),
        "PlanChangeInput": _object({"plan": {"type": "string", "description": "The new plan's code"}}),
        "PlanChange": _object(
            {
                "subscription": _ref("Subscription"),
                "invoice": {
                    "oneOf": [_ref("Invoice"), {"type": "null"}],
                    "description": "The new plan's first invoice; null when the change needed no payment",
                },
                "pending": {
                    "type": "boolean",
                    "description": "True until that invoice is paid: the current subscription keeps the customer's "
                    "access meanwhile",
                },
            }
        ),
        "Subscription": _object(
            {
                "id": {"type": "integer"},
                "customer": {"type": "string", "description": "external_id"},
                "plan": {"type": "string", "description": "plan code"},
                "status": {"type": "string", "enum": [s.value for s in SubscriptionStatus]},
                "current_period_start": TIME,
                "current_period_end": TIME,
                "trial_end": NULLABLE_TIME,
                "cancel_at_period_end": {"type": "boolean"},
                "canceled_at": NULLABLE_TIME,
                "created_at": TIME,
            }
        ),
        "InvoiceInput": _object(
            {
                "customer": {"type": "string", "description": "The customer's external_id"},
                "currency": CURRENCY,
                "lines": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": MAX_LINES,
                    "items": _object(
                        {
                            "description": {"type": "string", "minLength": 1, "maxLength": 500},
                            "amount": AMOUNT,
                            "quantity": {"type": "integer", "minimum": 1, "default": 1},
                        },
                        ["description", "amount"],
                    ),
                },
                "memo": {"type": "string", "maxLength": 2000},
                "due_days": {"type": "integer", "minimum": 0, "maximum": 365, "description": "Default: settings"},
            },
            ["customer", "currency", "lines"],
        ),
        "Invoice": _object(
            {
                "id": {"type": "integer"},
                "number": {"type": "integer"},
                "reference_code": {"type": "string", "description": "ADV + 8 digits; what bank memos carry"},
                "customer": {"type": "string", "description": "external_id"},
                "subscription": {"type": ["integer", "null"]},
                "status": {"type": "string", "enum": [s.value for s in InvoiceStatus]},
                "currency": {"type": "string"},
                "amount_due": AMOUNT,
                "amount_paid": AMOUNT,
                "amount_remaining": AMOUNT,
                "pay_url": {"type": "string", "format": "uri", "description": "PUBLIC_URL/pay/<token>"},
                "issued_at": NULLABLE_TIME,
                "due_at": NULLABLE_TIME,
                "expires_at": NULLABLE_TIME,
                "paid_at": NULLABLE_TIME,
                "period_start": NULLABLE_TIME,
                "period_end": NULLABLE_TIME,
                "memo": {"type": ["string", "null"]},
                "lines": {"type": "array", "items": line_out},
                "created_at": TIME,
            }
        ),
        "PaymentInput": _object(
            {
                "method": {"type": "string", "enum": list(PAYMENT_METHODS)},
                "amount": AMOUNT | {"description": "In the invoice's currency"},
                "reference": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 200,
                    "description": "The payment's id on its rail (check number, bank reference): the same "
                    "method and reference twice is one payment",
                },
                "note": {"type": "string", "maxLength": 2000},
                "received_at": {"type": "string", "format": "date-time", "description": "With a timezone; not future"},
                "received_amount": AMOUNT
                | {
                    "description": "What arrived, when it came in another currency; `amount` is then its value in "
                    "the invoice's currency (as your bank converted it), and the rate is kept"
                },
                "received_currency": CURRENCY | {"description": "With received_amount"},
            },
            ["method", "amount", "reference"],
        ),
        "Payment": _object(
            {
                "id": {"type": "integer"},
                "invoice": {"type": ["integer", "null"]},
                "method": {"type": "string"},
                "reference": {"type": "string"},
                "status": {"type": "string"},
                "amount": AMOUNT,
                "currency": {"type": "string"},
                "received": _object(
                    {
                        "amount": {"type": "string", "description": "In the currency it arrived in"},
                        "currency": {"type": "string"},
                        "exchange_rate": {
                            "type": "string",
                            "description": 'Invoice-currency units per one unit received; "1" when the same',
                        },
                    }
                ),
                "applied": AMOUNT,
                "refunded": AMOUNT,
                "received_at": TIME,
                "note": {"type": ["string", "null"]},
                "review_reason": {"type": ["string", "null"]},
                "recorded_by": {"type": "string"},
                "created_at": TIME,
            }
        ),
        "PaymentResult": _object(
            {
                "outcome": {"type": "string", "enum": ["paid", "partial", "duplicate", "needs_review"]},
                "message": {"type": "string"},
                "payment": _ref("Payment"),
                "invoice": _ref("Invoice"),
            }
        ),
        "Entitlement": _object(
            {
                "customer": {"type": "string"},
                "active": {"type": "boolean", "description": "Let the customer in when true"},
                "plan": {"type": ["string", "null"]},
                "status": {"type": ["string", "null"]},
                "limits": {"type": "object"},
                "paid_until": NULLABLE_TIME,
                "trial_ends": NULLABLE_TIME,
                "cancel_at_period_end": {"type": "boolean"},
            },
            ["customer", "active", "plan", "status", "limits", "paid_until", "trial_ends"],
        ),
    }


def _create(tag: str, summary: str, schema: str, answer: str, *codes: int) -> dict[str, Any]:
    return {
        "tags": [tag],
        "summary": summary,
        "parameters": [IDEMPOTENCY_KEY],
        "requestBody": {"required": True, "content": {"application/json": {"schema": _ref(schema)}}},
        "responses": {"201": _json(_ref(answer), "Created")} | _errors(400, 422, *codes),
    }


def _list(tag: str, summary: str, schema: str, extra_params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "tags": [tag],
        "summary": summary,
        "parameters": PAGE_PARAMS + (extra_params or []),
        "responses": {"200": _json(_page_of(schema), "A page, ids ascending")} | _errors(422),
    }


def _get(tag: str, summary: str, schema: str, param: dict[str, Any]) -> dict[str, Any]:
    return {
        "tags": [tag],
        "summary": summary,
        "parameters": [param],
        "responses": {"200": _json(_ref(schema), "Found")} | _errors(404),
    }


def _paths() -> dict[str, Any]:
    external_id = _path_param("external_id", {"type": "string"})
    customer_filter = {"name": "customer", "in": "query", "description": "external_id", "schema": {"type": "string"}}

    def status_filter(values: list[str]) -> dict[str, Any]:
        return {"name": "status", "in": "query", "schema": {"type": "string", "enum": values}}

    return {
        "/api/v1/customers": {
            "post": _create("customers", "Create a customer", "CustomerInput", "Customer", 409),
            "get": _list("customers", "List customers", "Customer"),
        },
        "/api/v1/customers/{external_id}": {
            "get": _get("customers", "A customer by your own id", "Customer", external_id)
        },
        "/api/v1/customers/{external_id}/entitlement": {
            "get": _get("entitlement", "What the customer may use right now", "Entitlement", external_id)
        },
        "/api/v1/plans": {
            "post": _create("plans", "Create a plan", "PlanInput", "Plan", 409),
            "get": _list("plans", "List plans", "Plan"),
        },
        "/api/v1/plans/{code}": {
            "get": _get("plans", "A plan by code", "Plan", _path_param("code", {"type": "string"}))
        },
        "/api/v1/subscriptions": {
            "post": _create(
                "subscriptions",
                "Start a subscription (trialing, active on a free plan, or incomplete with its first invoice). "
                "409 when the customer already has one that is not canceled.",
                "SubscriptionInput",
                "NewSubscription",
                409,
            ),
            "get": _list(
                "subscriptions",
                "List subscriptions",
                "Subscription",
                [status_filter([s.value for s in SubscriptionStatus]), customer_filter],
            ),
        },
        "/api/v1/subscriptions/{subscription_id}": {
            "get": _get(
                "subscriptions", "A subscription", "Subscription", _path_param("subscription_id", {"type": "integer"})
            )
        },
        "/api/v1/subscriptions/{subscription_id}/plan": {
            "post": {
                "tags": ["subscriptions"],
                "summary": "Change the plan. A trial switches in place; the free plan at once, with the unused paid "
                "time as credit; a paid plan starts as a new subscription that takes over when its first invoice "
                "is paid. 409 when the subscription is canceled, unpaid or past due, or a change is already waiting.",
                "parameters": [_path_param("subscription_id", {"type": "integer"}), IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("PlanChangeInput")}}},
                "responses": {"200": _json(_ref("PlanChange"), "Changed, or waiting for payment")}
                | _errors(400, 404, 409, 422),
            }
        },
        "/api/v1/invoices": {
            "post": _create("invoices", "Create and issue an invoice", "InvoiceInput", "Invoice"),
            "get": _list(
                "invoices",
                "List invoices",
                "Invoice",
                [status_filter([s.value for s in InvoiceStatus]), customer_filter],
            ),
        },
        "/api/v1/invoices/{invoice_id}": {
            "get": _get("invoices", "An invoice", "Invoice", _path_param("invoice_id", {"type": "integer"}))
        },
        "/api/v1/invoices/{invoice_id}/payments": {
            "post": {
                "tags": ["payments"],
                "summary": "Record a cash, check, wire, ACH, money order or bank transfer payment",
                "parameters": [_path_param("invoice_id", {"type": "integer"}), IDEMPOTENCY_KEY],
                "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("PaymentInput")}}},
                "responses": {
                    "201": _json(_ref("PaymentResult"), "Recorded and applied (outcome paid or partial)"),
                    "200": _json(
                        _ref("PaymentResult"),
                        "This method and reference were already recorded for this "
                        "invoice and amount: nothing changed (outcome duplicate)",
                    ),
                    "202": _json(
                        _ref("PaymentResult"),
                        "Recorded but held for the operator's review, because the "
                        "invoice is expired, void, uncollectible or already paid (outcome needs_review)",
                    ),
                }
                | _errors(400, 404, 409, 422),
            }
        },
        "/api/v1/openapi.json": {
            "get": {
                "tags": ["meta"],
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}} | _errors(),
            }
        },
    }


def build_document() -> dict[str, Any]:
    error = _json(_ref("Error"), "Error")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Advancia Mini API",
            "version": "1",
            "description": "Customers, plans, subscriptions, invoices, manual payments and entitlements. Every "
            "request carries `Authorization: Bearer <token>` (Settings → API tokens, or `flask api-token create`). "
            "Amounts are decimal strings in the currency's units. Errors are "
            '`{"error": {"field": ..., "message": ...}}` and change nothing. Every POST takes an optional '
            "`Idempotency-Key` header that makes retrying it safe. Outbound webhooks ("
            + ", ".join(EVENT_TYPES)
            + ") are described in docs/webhooks.md.",
        },
        "servers": [{"url": current_app.config["PUBLIC_URL"].rstrip("/")}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _schemas(),
            "responses": {f"E{code}": error for code in (400, 401, 404, 409, 422)},
        },
    }
