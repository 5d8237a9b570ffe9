"""The objects of the Stripe stand-in and what Stripe does to them: customers, payment methods, Checkout Sessions,
PaymentIntents with their charges and balance transactions, refunds, disputes, and the events each change emits.

Shapes follow Stripe's API (amounts in minor units, lowercase currencies, unix timestamps, list objects). Test cards
follow Stripe's test numbers: 4242 4242 4242 4242 succeeds, 4000 0000 0000 0002 is declined, 4000 0000 0000 9995
has insufficient funds, 4000 0027 6000 3184 needs authentication when charged off-session.
"""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

API_VERSION = "2026-10-28.endive"

#: card number -> (brand, last4, behaviour)
TEST_CARDS: dict[str, tuple[str, str, str]] = {
    "4242424242424242": ("visa", "4242", "succeed"),
    "5555555555554444": ("mastercard", "4444", "succeed"),
    "4000000000000002": ("visa", "0002", "generic_decline"),
    "4000000000009995": ("visa", "9995", "insufficient_funds"),
    "4000002760003184": ("visa", "3184", "authentication_required"),
}
#: Stripe's ready-made test payment methods
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_chargeDeclined": "4000000000000002",
    "pm_card_chargeDeclinedInsufficientFunds": "4000000000009995",
    "pm_card_authenticationRequired": "4000002760003184",
}
DECLINE_MESSAGES = {
    "generic_decline": ("card_declined", "generic_decline", "Your card was declined."),
    "insufficient_funds": ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
    "authentication_required": (
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}


class StripeFailure(Exception):
    """An API error answer: HTTP status and Stripe's error object."""

    def __init__(self, status: int, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error


def invalid(message: str, param: str | None = None, code: str | None = None) -> StripeFailure:
    return StripeFailure(400, {"type": "invalid_request_error", "message": message, "param": param, "code": code})


def missing(kind: str, object_id: str) -> StripeFailure:
    return StripeFailure(
        404,
        {"type": "invalid_request_error", "code": "resource_missing", "message": f"No such {kind}: '{object_id}'"},
    )


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


#: Stripe's dispute fee in the US (minor units), taken with the disputed amount when a dispute opens
DISPUTE_FEE = 1500


def card_fee(amount: int) -> int:
    """Stripe's US card pricing, 2.9 % + 30 cents, rounded half up."""
    return (amount * 29 + 500) // 1000 + 30


class StripeState:
    def __init__(self, base_url: str = "") -> None:
        self.base_url = base_url
        self.lock = threading.RLock()
        self.objects: dict[str, dict[str, Any]] = {}
        #: pm id -> behaviour ("succeed", "generic_decline", ...); tests may change it
        self.behaviour: dict[str, str] = {}
        self.events: list[dict[str, Any]] = []
        #: refunds start "pending" instead of "succeeded" when set (bank-like refunds)
        self.refunds_pending = False
        self.clock_offset = 0

    def now(self) -> int:
        return int(time.time()) + self.clock_offset

    # -- storage -------------------------------------------------------------------------------------------------
    def get(self, kind: str, object_id: str) -> dict[str, Any]:
        obj = self.objects.get(object_id)
        if obj is None or obj["object"] != kind:
            raise missing(kind, object_id)
        return obj

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for o in self.objects.values() if o["object"] == kind]

    def emit(self, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> dict[str, Any]:
        event = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": {"object": _copy(obj), **({"previous_attributes": previous} if previous else {})},
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": new_id("req"), "idempotency_key": None},
            "type": event_type,
        }
        self.events.append(event)
        return event

    # -- customers and payment methods ------------------------------------------------------------------------
    def create_customer(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = {
            "id": new_id("cus"),
            "object": "customer",
            "created": self.now(),
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata") or {},
            "invoice_settings": {"default_payment_method": None},
            "livemode": False,
        }
        self.objects[customer["id"]] = customer
        self.emit("customer.created", customer)
        return customer

    def update_customer(self, customer_id: str, params: dict[str, Any]) -> dict[str, Any]:
        customer = self.get("customer", customer_id)
        previous = {}
        for key in ("email", "name"):
            if key in params:
                previous[key] = customer[key]
                customer[key] = params[key]
        if "metadata" in params:
            customer["metadata"].update(params["metadata"])
        if "invoice_settings" in params:
            pm = params["invoice_settings"].get("default_payment_method") or None
            previous["invoice_settings"] = dict(customer["invoice_settings"])
            customer["invoice_settings"]["default_payment_method"] = pm
        self.emit("customer.updated", customer, previous)
        return customer

    def create_payment_method(self, number: str, customer_id: str | None = None, pm_id: str | None = None) -> dict:
        brand, last4, behaviour = TEST_CARDS[number]
        pm = {
            "id": pm_id or new_id("pm"),
            "object": "payment_method",
            "type": "card",
            "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2030, "country": "US"},
            "customer": customer_id,
            "created": self.now(),
            "livemode": False,
        }
        self.objects[pm["id"]] = pm
        self.behaviour[pm["id"]] = behaviour
        return pm

    def payment_method(self, pm_id: str) -> dict[str, Any]:
        if pm_id in TEST_PAYMENT_METHODS and pm_id not in self.objects:
            self.create_payment_method(TEST_PAYMENT_METHODS[pm_id], None, pm_id=pm_id)
        return self.get("payment_method", pm_id)

    def attach(self, pm: dict[str, Any], customer_id: str) -> None:
        if pm["customer"] != customer_id:
            pm["customer"] = customer_id
            self.emit("payment_method.attached", pm)

    # -- Checkout ------------------------------------------------------------------------------------------------
    def create_checkout_session(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("mode") != "payment":
            raise invalid("Only mode=payment is supported by this stand-in.", "mode")
        for key in ("success_url", "cancel_url"):
            if not params.get(key):
                raise invalid(f"Missing required param: {key}.", key)
        items = params.get("line_items") or []
        if not items:
            raise invalid("line_items is required in payment mode.", "line_items")
        currencies = {item["price_data"]["currency"] for item in items}
        if len(currencies) != 1:
            raise invalid("All line items must share one currency.", "line_items")
        total = sum(int(item["price_data"]["unit_amount"]) * int(item.get("quantity", 1)) for item in items)
        if params.get("customer"):
            self.get("customer", params["customer"])
        session_id = new_id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": "payment",
            "amount_total": total,
            "amount_subtotal": total,
            "currency": currencies.pop(),
            "customer": params.get("customer"),
            "customer_email": params.get("customer_email"),
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "url": f"{self.base_url}/pay/{session_id}",
            "created": self.now(),
            "expires_at": self.now() + 24 * 3600,
            "livemode": False,
            # kept to build the PaymentIntent at confirmation, as Stripe does since 2022-08-01
            "_payment_intent_data": params.get("payment_intent_data") or {},
        }
        self.objects[session_id] = session
        return session

    def pay_checkout_session(self, session_id: str, card_number: str) -> tuple[dict[str, Any], list[dict]]:
        """The customer presses Pay on the hosted page: returns the session and the events it caused."""
        session = self.get("checkout.session", session_id)
        if session["status"] != "open":
            raise invalid(f"This Checkout Session is {session['status']}.")
        first = len(self.events)
        data = session["_payment_intent_data"]
        if session["payment_intent"] is None:
            pi = self._new_payment_intent(
                {
                    "amount": session["amount_total"],
                    "currency": session["currency"],
                    "customer": session["customer"],
                    "metadata": data.get("metadata") or {},
                    "description": data.get("description"),
                    "setup_future_usage": data.get("setup_future_usage"),
                }
            )
            session["payment_intent"] = pi["id"]
        pi = self.get("payment_intent", session["payment_intent"])
        pm = self.create_payment_method(card_number, None)
        if pi["customer"] and pi.get("setup_future_usage"):
            self.attach(pm, pi["customer"])
        self._confirm(pi, pm, off_session=False)
        if pi["status"] == "succeeded":
            session["status"] = "complete"
            session["payment_status"] = "paid"
            self.emit("checkout.session.completed", session)
        return session, self.events[first:]

    def expire_checkout_session(self, session_id: str) -> dict[str, Any]:
        session = self.get("checkout.session", session_id)
        if session["status"] == "open":
            session["status"] = "expired"
            self.emit("checkout.session.expired", session)
        return session

    # -- PaymentIntents ------------------------------------------------------------------------------------------
    def _new_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        amount = int(params["amount"])
        if amount < 50:
            raise invalid("Amount must be at least $0.50 usd", "amount", "amount_too_small")
        pi = {
            "id": new_id("pi"),
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "currency": params["currency"].lower(),
            "customer": params.get("customer"),
            "description": params.get("description"),
            "metadata": params.get("metadata") or {},
            "payment_method": None,
            "payment_method_types": ["card"],
            "setup_future_usage": params.get("setup_future_usage"),
            "status": "requires_payment_method",
            "latest_charge": None,
            "last_payment_error": None,
            "capture_method": "automatic",
            "confirmation_method": "automatic",
            "client_secret": f"pi_secret_{secrets.token_hex(8)}",
            "created": self.now(),
            "livemode": False,
        }
        self.objects[pi["id"]] = pi
        self.emit("payment_intent.created", pi)
        return pi

    def create_payment_intent(self, params: dict[str, Any]) -> dict[str, Any]:
        for key in ("amount", "currency"):
            if key not in params:
                raise invalid(f"Missing required param: {key}.", key)
        if params.get("customer"):
            self.get("customer", params["customer"])
        pi = self._new_payment_intent(params)
        if params.get("payment_method"):
            pm = self.payment_method(params["payment_method"])
            pi["payment_method"] = pm["id"]
            pi["status"] = "requires_confirmation"
            if _true(params.get("confirm")):
                if pm["customer"] and pm["customer"] != pi["customer"]:
                    raise invalid("The provided PaymentMethod belongs to another customer.", "payment_method")
                self._confirm(pi, pm, off_session=_true(params.get("off_session")))
                if pi["status"] != "succeeded":
                    raise self._card_error(pi)
        return pi

    def _confirm(self, pi: dict[str, Any], pm: dict[str, Any], *, off_session: bool) -> None:
        behaviour = self.behaviour.get(pm["id"], "succeed")
        pi["payment_method"] = pm["id"]
        if behaviour == "authentication_required" and not off_session:
            behaviour = "succeed"  # the customer is present and passes 3-D Secure on the hosted page
        charge = self._charge(pi, pm, behaviour)
        pi["latest_charge"] = charge["id"]
        if behaviour == "succeed":
            pi["status"] = "succeeded"
            pi["amount_received"] = pi["amount"]
            pi["last_payment_error"] = None
            self.emit("charge.succeeded", charge)
            self.emit("payment_intent.succeeded", pi)
            return
        code, decline_code, message = DECLINE_MESSAGES[behaviour]
        pi["status"] = "requires_payment_method"
        pi["last_payment_error"] = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "charge": charge["id"],
            "payment_method": _copy(pm),
        }
        self.emit("charge.failed", charge)
        self.emit("payment_intent.payment_failed", pi)

    def _charge(self, pi: dict[str, Any], pm: dict[str, Any], behaviour: str) -> dict[str, Any]:
        ok = behaviour == "succeed"
        charge = {
            "id": new_id("ch"),
            "object": "charge",
            "amount": pi["amount"],
            "amount_captured": pi["amount"] if ok else 0,
            "amount_refunded": 0,
            "refunded": False,
            "captured": ok,
            "paid": ok,
            "status": "succeeded" if ok else "failed",
            "currency": pi["currency"],
            "customer": pi["customer"],
            "payment_intent": pi["id"],
            "payment_method": pm["id"],
            "payment_method_details": {"type": "card", "card": dict(pm["card"])},
            "balance_transaction": None,
            "disputed": False,
            "failure_code": None if ok else DECLINE_MESSAGES[behaviour][0],
            "failure_message": None if ok else DECLINE_MESSAGES[behaviour][2],
            "metadata": dict(pi["metadata"]),
            "created": self.now(),
            "livemode": False,
        }
        if ok:
            fee = card_fee(pi["amount"])
            txn = {
                "id": new_id("txn"),
                "object": "balance_transaction",
                "amount": pi["amount"],
                "currency": pi["currency"],
                "fee": fee,
                "net": pi["amount"] - fee,
                "type": "charge",
                "source": charge["id"],
                "created": self.now(),
            }
            self.objects[txn["id"]] = txn
            charge["balance_transaction"] = txn["id"]
        self.objects[charge["id"]] = charge
        return charge

    def _card_error(self, pi: dict[str, Any]) -> StripeFailure:
        error = dict(pi["last_payment_error"])
        error["payment_intent"] = _copy(pi)
        return StripeFailure(402, error)

    # -- refunds ----------------------------------------------------------------------------------------------
    def create_refund(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("payment_intent"):
            pi = self.get("payment_intent", params["payment_intent"])
            if not pi["latest_charge"] or pi["status"] != "succeeded":
                raise invalid("This PaymentIntent does not have a successful charge to refund.", "payment_intent")
            charge = self.get("charge", pi["latest_charge"])
        elif params.get("charge"):
            charge = self.get("charge", params["charge"])
        else:
            raise invalid("One of `charge` or `payment_intent` is required.")
        left = charge["amount"] - charge["amount_refunded"]
        amount = int(params.get("amount", left))
        if amount <= 0:
            raise invalid("Refund amount must be positive.", "amount")
        if amount > left:
            raise invalid(
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                "amount",
                "amount_too_large",
            )
        refund = {
            "id": new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "payment_intent": charge["payment_intent"],
            "currency": charge["currency"],
            "status": "pending" if self.refunds_pending else "succeeded",
            "reason": params.get("reason"),
            "metadata": params.get("metadata") or {},
            "created": self.now(),
        }
        self.objects[refund["id"]] = refund
        self.emit("refund.created", refund)
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] == charge["amount"]
        if refund["status"] == "succeeded":
            self.emit("charge.refunded", charge)
        return refund

    def settle_refund(self, refund_id: str, status: str = "succeeded") -> dict[str, Any]:
        refund = self.get("refund", refund_id)
        refund["status"] = status
        charge = self.get("charge", refund["charge"])
        if status == "failed":
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = False
            self.emit("refund.failed", refund)
        else:
            self.emit("refund.updated", refund)
            self.emit("charge.refunded", charge)
        return refund

    # -- disputes ---------------------------------------------------------------------------------------------
    def open_dispute(
        self, pi_id: str, reason: str = "fraudulent", due_in_days: int = 7, fee: int = DISPUTE_FEE
    ) -> dict[str, Any]:
        """The bank disputes the charge: Stripe withdraws the amount and its dispute fee from the balance at once
        (one balance transaction) and sends charge.dispute.created and charge.dispute.funds_withdrawn."""
        pi = self.get("payment_intent", pi_id)
        charge = self.get("charge", pi["latest_charge"])
        charge["disputed"] = True
        dispute_id = new_id("du")
        amount = charge["amount"] - charge["amount_refunded"]
        dispute = {
            "id": dispute_id,
            "object": "dispute",
            "amount": amount,
            "currency": charge["currency"],
            "charge": charge["id"],
            "payment_intent": pi_id,
            "reason": reason,
            "status": "needs_response",
            "is_charge_refundable": False,
            "balance_transactions": [self._dispute_txn(dispute_id, -amount, fee, charge["currency"], "dispute")],
            "evidence_details": {
                "due_by": self.now() + due_in_days * 86400,
                "has_evidence": False,
                "past_due": False,
                "submission_count": 0,
            },
            "created": self.now(),
            "livemode": False,
        }
        self.objects[dispute["id"]] = dispute
        self.emit("charge.dispute.created", dispute)
        self.emit("charge.dispute.funds_withdrawn", dispute)
        return dispute

    def submit_dispute_evidence(self, dispute_id: str) -> dict[str, Any]:
        """The merchant answered: Stripe moves the dispute to under_review (charge.dispute.updated)."""
        dispute = self.get("dispute", dispute_id)
        dispute["status"] = "under_review"
        dispute["evidence_details"]["has_evidence"] = True
        self.emit("charge.dispute.updated", dispute)
        return dispute

    def close_dispute(self, dispute_id: str, status: str, *, fee_returned: bool = True) -> dict[str, Any]:
        """Won: Stripe reinstates the amount in a second balance transaction, with the fee returned (a negative
        fee) or kept, as the account's country rules; lost: the money stays withdrawn."""
        dispute = self.get("dispute", dispute_id)
        dispute["status"] = status
        self.emit("charge.dispute.closed", dispute)
        if status == "won":
            withdrawal = dispute["balance_transactions"][0]
            fee = -withdrawal["fee"] if fee_returned else 0
            dispute["balance_transactions"].append(
                self._dispute_txn(dispute_id, -withdrawal["amount"], fee, dispute["currency"], "dispute_reversal")
            )
            self.emit("charge.dispute.funds_reinstated", dispute)
        return dispute

    def _dispute_txn(self, dispute_id: str, amount: int, fee: int, currency: str, category: str) -> dict[str, Any]:
        txn = {
            "id": new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": self.now() + 2 * 86400,
            "created": self.now(),
            "currency": currency,
            "description": f"Chargeback {'withdrawal' if amount < 0 else 'reversal'} for {dispute_id}",
            "exchange_rate": None,
            "fee": fee,
            "fee_details": [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": "Dispute fee",
                    "type": "stripe_fee",
                }
            ]
            if fee
            else [],
            "net": amount - fee,
            "reporting_category": category,
            "source": dispute_id,
            "status": "pending",
            "type": "adjustment",
        }
        self.objects[txn["id"]] = txn
        return txn

    # -- billing portal ------------------------------------------------------------------------------------------
    def create_portal_session(self, params: dict[str, Any]) -> dict[str, Any]:
        customer = self.get("customer", params.get("customer", ""))
        session = {
            "id": new_id("bps"),
            "object": "billing_portal.session",
            "customer": customer["id"],
            "return_url": params.get("return_url"),
            "url": "",
            "created": self.now(),
            "livemode": False,
        }
        session["url"] = f"{self.base_url}/portal/{session['id']}"
        self.objects[session["id"]] = session
        return session

    def replace_default_card(self, customer_id: str, card_number: str) -> list[dict]:
        """What the customer portal does when the customer adds a card and makes it the default."""
        first = len(self.events)
        pm = self.create_payment_method(card_number, None)
        self.attach(pm, customer_id)
        self.update_customer(customer_id, {"invoice_settings": {"default_payment_method": pm["id"]}})
        return self.events[first:]


def public(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as the API shows it: internal fields (a leading underscore) left out."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _copy(obj: dict[str, Any]) -> dict[str, Any]:
    import json

    return json.loads(json.dumps(public(obj)))


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"
