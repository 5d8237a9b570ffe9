"""A loopback Stripe for tests: the official `stripe` library talks to it through STRIPE_API_BASE.

It speaks Stripe's REST shapes: form-encoded requests (`metadata[key]=value`, `expand[0]=...`), JSON objects and
list objects with `has_more`, Idempotency-Key replays (a different body under the same key is an
idempotency_error), 402 card_error for declines, 404 resource_missing. Webhook events are signed with the real
scheme (`Stripe-Signature: t=<ts>,v1=<hex HMAC-SHA256(secret, "<ts>.<body>")>`).

It also serves a hosted checkout page at each Checkout Session's `url` (a "Pay" button that confirms the
PaymentIntent, delivers the signed events to the app's webhook URL and redirects to success_url) and a customer
portal page, so a browser can complete a payment without the internet.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import re
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.stripe_state import TEST_CARDS, StripeFailure, StripeState, invalid, missing, public

API_KEY = "sk_test_advancia_fake"
WEBHOOK_SECRET = "whsec_advancia_fake_secret"


def sign(body: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header for `body`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def decode_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """`a[b][0][c]=1` -> {"a": {"b": [{"c": "1"}]}}: how Stripe reads form-encoded parameters."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node: Any = root
        for part, following in zip(parts, parts[1:] + [None], strict=True):
            if following is None:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _lists(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    replayed: bool


class FakeStripe:
    def __init__(self, api_key: str = API_KEY, webhook_secret: str = WEBHOOK_SECRET) -> None:
        self.api_key = api_key
        self.webhook_secret = webhook_secret
        self.state = StripeState()
        #: where hosted pages deliver events (the app's /webhooks/stripe on a live server); None: tests deliver
        self.webhook_url: str | None = None
        self.requests: list[RecordedRequest] = []
        self.idempotent: dict[str, tuple[str, int, bytes]] = {}
        #: statuses to answer the next API requests with (an outage), consumed one per request under outage_path
        self.outage: list[int] = []
        self.outage_path = "/v1/"
        self._delivered = 0
        self._server: ThreadingHTTPServer | None = None
        #: API path -> barrier: requests for it wait until `parties` of them are in flight (forces a race)
        self.barriers: dict[str, threading.Barrier] = {}
        #: paths whose barrier was passed by all its parties
        self.met: list[str] = []

    def rendezvous(self, path: str, parties: int = 2, timeout: float = 60) -> None:
        """The next `parties` requests for `path` wait for each other, so their callers run side by side."""
        self.barriers[path] = threading.Barrier(parties, timeout=timeout)

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def start(self) -> str:
        fake = self

        class Handler(_Handler):
            stripe = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        self.state.base_url = self.base_url
        return self.base_url

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- webhooks ----------------------------------------------------------------------------------------------
    def signed(self, event: dict[str, Any], *, timestamp: int | None = None) -> tuple[bytes, str]:
        body = json.dumps(event, indent=2).encode()  # Stripe sends pretty-printed JSON
        return body, sign(body, self.webhook_secret, timestamp)

    def new_events(self, types: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
        """Events since the last call (what Stripe would now deliver), optionally only some types."""
        with self.state.lock:
            events = self.state.events[self._delivered :]
            self._delivered = len(self.state.events)
        return [e for e in events if types is None or e["type"] in types]

    def deliver(self, events: list[dict[str, Any]], post: Callable[[bytes, str], int] | None = None) -> list[int]:
        """Sends each event, signed, through `post(body, header)` or to webhook_url; returns the statuses."""
        statuses = []
        for event in events:
            body, header = self.signed(event)
            statuses.append(post(body, header) if post else self._post(body, header))
        return statuses

    def _post(self, body: bytes, header: str) -> int:
        if not self.webhook_url:
            return 0
        request = urllib.request.Request(  # noqa: S310 (a loopback http URL the test set)
            self.webhook_url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (loopback)
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    # -- the API -----------------------------------------------------------------------------------------------
    def api(
        self, method: str, path: str, params: dict[str, Any], idempotency_key: str | None
    ) -> tuple[int, bytes, bool]:
        fingerprint = json.dumps([method, path, params], sort_keys=True)
        with self.state.lock:
            if idempotency_key and method == "POST":
                stored = self.idempotent.get(idempotency_key)
                if stored is not None:
                    if stored[0] != fingerprint:
                        error = {
                            "type": "idempotency_error",
                            "message": "Keys for idempotent requests can only be used with the same parameters "
                            "they were first used with. Try using a key other than "
                            f"'{idempotency_key}' if you meant to execute a different request.",
                        }
                        return 400, json.dumps({"error": error}).encode(), False
                    self.requests.append(RecordedRequest(method, path, params, idempotency_key, True))
                    return stored[1], stored[2], True
            self.requests.append(RecordedRequest(method, path, params, idempotency_key, False))
            if self.outage and path.startswith(self.outage_path):
                status = self.outage.pop(0)
                return status, json.dumps({"error": {"type": "api_error", "message": "outage"}}).encode(), False
            try:
                status, body = 200, json.dumps(self._route(method, path, json.loads(fingerprint)[2])).encode()
            except StripeFailure as failure:
                status, body = failure.status, json.dumps({"error": failure.error}).encode()
            # Stripe keeps the result of every request that started executing, declines included; a request
            # refused by validation (400) is not kept.
            if idempotency_key and method == "POST" and status != 400:
                self.idempotent[idempotency_key] = (fingerprint, status, body)
            return status, body, False

    def _route(self, method: str, path: str, params: dict[str, Any]) -> Any:
        s = self.state
        expand = params.pop("expand", None) or []
        for pattern, verb, action in (
            (r"/v1/customers", "POST", lambda: s.create_customer(params)),
            (r"/v1/customers/(?P<id>[\w-]+)", "GET", lambda id: s.get("customer", id)),
            (r"/v1/customers/(?P<id>[\w-]+)", "POST", lambda id: s.update_customer(id, params)),
            (r"/v1/payment_methods/(?P<id>\w+)", "GET", lambda id: s.payment_method(id)),
            (r"/v1/checkout/sessions", "POST", lambda: s.create_checkout_session(params)),
            (r"/v1/checkout/sessions/(?P<id>\w+)", "GET", lambda id: s.get("checkout.session", id)),
            (r"/v1/checkout/sessions/(?P<id>\w+)/expire", "POST", lambda id: s.expire_checkout_session(id)),
            (r"/v1/billing_portal/sessions", "POST", lambda: s.create_portal_session(params)),
            (r"/v1/payment_intents", "POST", lambda: s.create_payment_intent(params)),
            (r"/v1/payment_intents", "GET", lambda: self._list("payment_intent", path, params)),
            (r"/v1/payment_intents/(?P<id>\w+)", "GET", lambda id: s.get("payment_intent", id)),
            (r"/v1/charges/(?P<id>\w+)", "GET", lambda id: s.get("charge", id)),
            (r"/v1/refunds", "POST", lambda: s.create_refund(params)),
            (r"/v1/refunds", "GET", lambda: self._list("refund", path, params)),
            (r"/v1/refunds/(?P<id>\w+)", "GET", lambda id: s.get("refund", id)),
            (r"/v1/disputes", "GET", lambda: self._list("dispute", path, params)),
            (r"/v1/disputes/(?P<id>\w+)", "GET", lambda id: s.get("dispute", id)),
            (r"/v1/balance_transactions/(?P<id>\w+)", "GET", lambda id: s.get("balance_transaction", id)),
            (r"/v1/events/(?P<id>\w+)", "GET", lambda id: self._event(id)),
        ):
            match = re.fullmatch(pattern, path)
            if match and verb == method:
                result = action(**match.groupdict())
                if result.get("object") == "list":
                    return result
                return self._expand(public(result), expand)
        raise StripeFailure(
            404, {"type": "invalid_request_error", "message": f"Unrecognized request URL ({method}: {path})."}
        )

    def _event(self, event_id: str) -> dict[str, Any]:
        for event in self.state.events:
            if event["id"] == event_id:
                return event
        raise missing("event", event_id)

    def _expand(self, obj: dict[str, Any], paths: list[str]) -> dict[str, Any]:
        obj = json.loads(json.dumps(obj))
        for dotted in paths:
            node = obj
            for part in dotted.split("."):
                value = node.get(part) if isinstance(node, dict) else None
                if isinstance(value, str) and value in self.state.objects:
                    node[part] = public(json.loads(json.dumps(self.state.objects[value])))
                    value = node[part]
                node = value
        return obj

    def _list(self, kind: str, path: str, params: dict[str, Any]) -> dict[str, Any]:
        items = [public(o) for o in reversed(self.state.of_kind(kind))]  # newest first, as Stripe lists
        created = params.get("created") or {}
        if isinstance(created, dict):
            for op, test in (("gte", int.__ge__), ("gt", int.__gt__), ("lte", int.__le__), ("lt", int.__lt__)):
                if op in created:
                    items = [o for o in items if test(o["created"], int(created[op]))]
        for key in ("payment_intent", "charge", "customer"):
            if params.get(key):
                items = [o for o in items if o.get(key) == params[key]]
        if params.get("starting_after"):
            ids = [o["id"] for o in items]
            if params["starting_after"] not in ids:
                raise invalid(f"No such {kind}: '{params['starting_after']}'", "starting_after")
            items = items[ids.index(params["starting_after"]) + 1 :]
        limit = int(params.get("limit", 10))
        if not 1 <= limit <= 100:
            raise invalid("Invalid integer: limit must be between 1 and 100", "limit")
        return {"object": "list", "url": path, "has_more": len(items) > limit, "data": items[:limit]}

    # -- hosted pages ------------------------------------------------------------------------------------------
    def checkout_page(self, session_id: str, error: str | None = None) -> str:
        session = self.state.get("checkout.session", session_id)
        amount = f"{session['amount_total'] / 100:.2f} {session['currency'].upper()}"  # display only
        options = "".join(
            f'<label class="card"><input type="radio" name="card" value="{number}"{" checked" if i == 0 else ""}>'
            f"{brand.title()} •••• {last4} <small>{behaviour.replace('_', ' ')}</small></label>"
            for i, (number, (brand, last4, behaviour)) in enumerate(TEST_CARDS.items())
        )
        notice = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        if session["status"] != "open":
            body = f"<h1>This checkout is {session['status']}</h1>"
        else:
            body = (
                f'<p class="label">Pay</p><p class="amount">{html.escape(amount)}</p>{notice}'
                f'<form method="post"><fieldset><legend>Test card</legend>{options}</fieldset>'
                f'<button type="submit" id="pay">Pay</button></form>'
                f'<p><a href="{html.escape(session["cancel_url"])}" id="cancel">Cancel and return</a></p>'
            )
        return _page("Stripe test checkout", body)

    def portal_page(self, portal_id: str) -> str:
        portal = self.state.get("billing_portal.session", portal_id)
        customer = self.state.get("customer", portal["customer"])
        pm_id = customer["invoice_settings"]["default_payment_method"]
        current = "no card yet"
        if pm_id:
            card = self.state.get("payment_method", pm_id)["card"]
            current = f"{card['brand'].title()} •••• {card['last4']}"
        options = "".join(
            f'<label class="card"><input type="radio" name="card" value="{n}"{" checked" if i == 0 else ""}>'
            f"{b.title()} •••• {last4}</label>"
            for i, (n, (b, last4, _)) in enumerate(TEST_CARDS.items())
        )
        body = (
            f"<h1>Payment method</h1><p>Default card: <strong id=current>{html.escape(current)}</strong></p>"
            f'<form method="post"><fieldset><legend>Add a card</legend>{options}</fieldset>'
            f'<button type="submit" id="save">Save as default</button></form>'
            f'<p><a href="{html.escape(portal["return_url"] or "/")}" id="return">Return</a></p>'
        )
        return _page("Stripe test portal", body)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{title}</title><style>"
        "body{font:16px system-ui,sans-serif;background:#f6f9fc;margin:0;padding:2rem 1rem;color:#1a1f36}"
        "main{max-width:420px;margin:auto;background:#fff;border-radius:12px;padding:1.5rem;"
        "box-shadow:0 4px 16px rgba(0,0,0,.08)}.label{color:#697386;margin:0}.amount{font-size:2rem;"
        "font-weight:700;margin:.2rem 0 1rem}fieldset{border:0;padding:0;margin:0 0 1rem}legend{color:#697386;"
        "margin-bottom:.5rem}.card{display:flex;gap:.5rem;align-items:center;padding:.6rem;border:1px solid #e3e8ee;"
        "border-radius:8px;margin-bottom:.4rem}.card small{margin-left:auto;color:#697386}button{width:100%;"
        "padding:.8rem;border:0;border-radius:8px;background:#635bff;color:#fff;font-size:1rem;font-weight:600}"
        ".error{color:#df1b41;font-weight:600}.badge{font-size:.75rem;color:#697386}"
        '</style></head><body><main><p class="badge">TEST MODE · loopback stand-in</p>'
        f"{body}</main></body></html>"
    )


class _Handler(BaseHTTPRequestHandler):
    stripe: FakeStripe
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (quiet)
        return

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str = "application/json", extra: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Request-Id", f"req_{int(time.time() * 1000)}")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, location: str) -> None:
        self._send(303, b"", "text/plain", {"Location": location})

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        body = self._body()
        if url.path.startswith("/v1/"):
            self._api(method, url, body)
        elif url.path.startswith("/pay/"):
            self._checkout(method, url.path.split("/")[2], body)
        elif url.path.startswith("/portal/"):
            self._portal(method, url.path.split("/")[2], body)
        else:
            self._send(404, b"not found", "text/plain")

    def _api(self, method: str, url, body: bytes) -> None:
        fake = self.stripe
        if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
            error = {"type": "invalid_request_error", "message": "Invalid API Key provided."}
            self._send(401, json.dumps({"error": error}).encode())
            return
        barrier = fake.barriers.get(url.path)
        if barrier is not None:
            try:
                if barrier.wait() == 0:  # one party records the meeting; the barrier is used once
                    fake.met.append(url.path)
                    fake.barriers.pop(url.path, None)
            except threading.BrokenBarrierError:
                pass  # the other party never came: the test sees it in `met`
        pairs = parse_qsl(url.query, keep_blank_values=True) + parse_qsl(body.decode(), keep_blank_values=True)
        status, payload, replayed = fake.api(method, url.path, decode_form(pairs), self.headers.get("Idempotency-Key"))
        self._send(status, payload, extra={"Idempotent-Replayed": "true"} if replayed else None)

    def _form(self, body: bytes) -> dict[str, str]:
        return dict(parse_qsl(body.decode(), keep_blank_values=True))

    def _checkout(self, method: str, session_id: str, body: bytes) -> None:
        fake = self.stripe
        try:
            if method == "GET":
                with fake.state.lock:
                    page = fake.checkout_page(session_id)
                self._send(200, page.encode(), "text/html; charset=utf-8")
                return
            card = self._form(body).get("card", "4242424242424242")
            with fake.state.lock:
                session, _ = fake.state.pay_checkout_session(session_id, card)
                events = fake.new_events()
            # Delivered before the redirect, so the app has them when the customer lands on the success page.
            fake.deliver(events)
            if session["payment_status"] == "paid":
                self._redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))
                return
            with fake.state.lock:
                pi = fake.state.get("payment_intent", session["payment_intent"])
                page = fake.checkout_page(session_id, error=pi["last_payment_error"]["message"])
            self._send(402, page.encode(), "text/html; charset=utf-8")
        except StripeFailure as failure:
            self._send(failure.status, html.escape(failure.error["message"]).encode(), "text/plain")

    def _portal(self, method: str, portal_id: str, body: bytes) -> None:
        fake = self.stripe
        try:
            with fake.state.lock:
                portal = fake.state.get("billing_portal.session", portal_id)
                if method == "GET":
                    self._send(200, fake.portal_page(portal_id).encode(), "text/html; charset=utf-8")
                    return
                fake.state.replace_default_card(portal["customer"], self._form(body).get("card", "4242424242424242"))
                events = fake.new_events()
            fake.deliver(events)
            self._redirect(portal["return_url"] or "/")
        except StripeFailure as failure:
            self._send(failure.status, html.escape(failure.error["message"]).encode(), "text/plain")
