"""The OpenAPI document matches the routes, and the full flow's answers match the document's schemas."""

import re

from jsonschema import Draft202012Validator

from app.api.openapi import build_document
from tests.api.conftest import assert_error


def _rule_to_path(rule: str) -> str:
    return re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)


def test_every_api_route_is_documented_and_every_documented_operation_exists(app, api):
    document = api.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    routes = {
        (_rule_to_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, operations in document["paths"].items() for method in operations}
    assert routes == documented
    for path, operations in document["paths"].items():
        names = set(re.findall(r"{([^}]+)}", path))
        for operation in operations.values():
            params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert params == names, path
            assert "401" in operation["responses"], path


def test_every_post_documents_the_idempotency_key_header(api):
    document = api.get("/openapi.json").get_json()
    posts = [(path, ops["post"]) for path, ops in document["paths"].items() if "post" in ops]
    assert len(posts) == 6
    for path, operation in posts:
        headers = {p["name"]: p for p in operation["parameters"] if p["in"] == "header"}
        assert headers["Idempotency-Key"]["required"] is False, path
        assert "same key with a different body is refused" in headers["Idempotency-Key"]["description"]


def test_every_schema_in_the_document_is_valid_json_schema(app):
    with app.test_request_context():
        document = build_document()
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises SchemaError naming the problem


class Documented:
    """Checks an answer against the schema the document gives for (path, method, status)."""

    def __init__(self, document: dict) -> None:
        self.document = document

    def check(self, response, path: str, method: str) -> dict:
        status = str(response.status_code)
        responses = self.document["paths"][path][method]["responses"]
        assert status in responses, f"{method.upper()} {path} answered {status}, which is not documented"
        answer = responses[status]
        if "$ref" in answer:
            answer = self.document["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
        schema = answer["content"]["application/json"]["schema"]
        root = {"$schema": "https://json-schema.org/draft/2020-12/schema", "components": self.document["components"]}
        errors = sorted(Draft202012Validator(root | schema).iter_errors(response.get_json()), key=str)
        assert not errors, f"{method.upper()} {path} {status}: {[e.message for e in errors[:3]]}"
        return response.get_json()


def test_the_full_flow_through_the_api_activates_the_customer_and_matches_the_document(api, db):
    doc = Documented(api.get("/openapi.json").get_json())

    customer = doc.check(
        api.post("/customers", {"external_id": "user-100", "email": "grace@example.com", "name": "Grace"}),
        "/api/v1/customers",
        "post",
    )
    assert customer["external_id"] == "user-100"
    assert (
        doc.check(api.get("/customers/user-100/entitlement"), "/api/v1/customers/{external_id}/entitlement", "get")[
            "active"
        ]
        is False
    )

    plan = doc.check(
        api.post(
            "/plans",
            {
                "code": "team",
                "name": "Team",
                "amount": "49.00",
                "currency": "USD",
                "interval": "month",
                "trial_days": 0,
                "limits": {"seats": 10},
            },
        ),
        "/api/v1/plans",
        "post",
    )
    assert plan["amount"] == "49.00"

    sub = doc.check(
        api.post("/subscriptions", {"customer": "user-100", "plan": "team"}), "/api/v1/subscriptions", "post"
    )
    assert sub["status"] == "incomplete"
    invoice = sub["invoice"]
    assert invoice["amount_due"] == "49.00" and invoice["status"] == "open"

    extra = doc.check(
        api.post(
            "/invoices",
            {"customer": "user-100", "currency": "USD", "lines": [{"description": "Onboarding", "amount": "150.00"}]},
        ),
        "/api/v1/invoices",
        "post",
    )
    assert extra["amount_due"] == "150.00"

    paid = doc.check(
        api.post(f"/invoices/{invoice['id']}/payments", {"method": "wire", "amount": "49.00", "reference": "FW-8812"}),
        "/api/v1/invoices/{invoice_id}/payments",
        "post",
    )
    assert paid["outcome"] == "paid" and paid["invoice"]["status"] == "paid"
    doc.check(
        api.post(f"/invoices/{invoice['id']}/payments", {"method": "wire", "amount": "49.00", "reference": "FW-8812"}),
        "/api/v1/invoices/{invoice_id}/payments",
        "post",
    )

    entitlement = doc.check(
        api.get("/customers/user-100/entitlement"), "/api/v1/customers/{external_id}/entitlement", "get"
    )
    assert entitlement["active"] is True and entitlement["plan"] == "team" and entitlement["status"] == "active"
    assert entitlement["limits"] == {"seats": 10} and entitlement["paid_until"] > paid["payment"]["received_at"]

    # Reads, lists and the refusals are documented too.
    doc.check(api.get("/customers/user-100"), "/api/v1/customers/{external_id}", "get")
    doc.check(api.get("/customers"), "/api/v1/customers", "get")
    doc.check(api.get("/plans/team"), "/api/v1/plans/{code}", "get")
    doc.check(api.get("/plans"), "/api/v1/plans", "get")
    doc.check(api.get(f"/subscriptions/{sub['id']}"), "/api/v1/subscriptions/{subscription_id}", "get")
    assert (
        doc.check(api.get("/subscriptions", status="active"), "/api/v1/subscriptions", "get")["data"][0]["id"]
        == sub["id"]
    )
    doc.check(api.get(f"/invoices/{extra['id']}"), "/api/v1/invoices/{invoice_id}", "get")
    assert len(doc.check(api.get("/invoices", status="open"), "/api/v1/invoices", "get")["data"]) == 1
    for response, path, method in [
        (
            api.post("/customers", {"external_id": "user-100", "email": "g@example.com", "name": "G"}),
            "/api/v1/customers",
            "post",
        ),
        (
            api.post("/plans", {"code": "x", "name": "X", "amount": "1.001", "currency": "USD", "interval": "month"}),
            "/api/v1/plans",
            "post",
        ),
        (api.get("/customers/nobody"), "/api/v1/customers/{external_id}", "get"),
        (api.post("/subscriptions", {"customer": "user-100", "plan": "team"}), "/api/v1/subscriptions", "post"),
        (
            api.post("/invoices/99999/payments", {"method": "cash", "amount": "1.00", "reference": "R"}),
            "/api/v1/invoices/{invoice_id}/payments",
            "post",
        ),
        (api.get("/invoices", limit="x"), "/api/v1/invoices", "get"),
        (api.client.get("/api/v1/customers"), "/api/v1/customers", "get"),
    ]:
        assert response.status_code >= 400
        doc.check(response, path, method)


def test_unknown_api_paths_and_wrong_methods_answer_json_errors(api):
    assert_error(api.get("/nothing-here"), 404, None)
    assert_error(api.client.delete("/api/v1/customers", headers={"Authorization": f"Bearer {api.token}"}), 405, None)


def test_an_upgrade_through_the_api_waits_for_payment_then_takes_over_and_matches_the_document(api, db):
    from app.billing.plans import free_plan
    from tests.factories import make_customer, make_plan

    doc = Documented(api.get("/openapi.json").get_json())
    make_customer(external_id="user-200")
    free_plan()
    make_plan(code="growth", amount_minor=2900, limits={"seats": 3})
    db.session.commit()
    free = api.post("/subscriptions", {"customer": "user-200", "plan": "free"}).get_json()
    path = "/api/v1/subscriptions/{subscription_id}/plan"

    change = doc.check(api.post(f"/subscriptions/{free['id']}/plan", {"plan": "growth"}), path, "post")
    assert change["pending"] is True and change["subscription"]["status"] == "incomplete"
    assert change["invoice"]["amount_due"] == "29.00"
    assert api.get("/customers/user-200/entitlement").get_json()["plan"] == "free"  # kept while it waits
    # Asking again while it waits is refused; so is an unknown plan or subscription.
    assert_error(api.post(f"/subscriptions/{free['id']}/plan", {"plan": "growth"}), 409, "subscription_id")
    assert_error(api.post(f"/subscriptions/{free['id']}/plan", {"plan": "nope"}), 422, "plan")
    assert_error(api.post(f"/subscriptions/{free['id']}/plan", {}), 422, "plan")
    assert_error(api.post("/subscriptions/999999/plan", {"plan": "growth"}), 404, "subscription_id")

    invoice = change["invoice"]
    api.post(f"/invoices/{invoice['id']}/payments", {"method": "wire", "amount": "29.00", "reference": "UPG-1"})
    entitlement = api.get("/customers/user-200/entitlement").get_json()
    assert (entitlement["plan"], entitlement["active"], entitlement["limits"]) == ("growth", True, {"seats": 3})
    assert api.get(f"/subscriptions/{free['id']}").get_json()["status"] == "canceled"
