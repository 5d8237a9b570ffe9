"""POST/GET /api/v1/customers and /api/v1/plans: shapes, duplicates, pagination and refused input."""

from tests.api.conftest import assert_error, row_counts

CUSTOMER = {"external_id": "user-42", "email": "Ada@Example.com", "name": "Ada Lovelace"}
PLAN = {
    "code": "pro-monthly",
    "name": "Pro",
    "amount": "49.00",
    "currency": "USD",
    "interval": "month",
    "trial_days": 0,
}


def test_creating_a_customer_answers_201_with_its_id(api):
    response = api.post("/customers", CUSTOMER | {"country": "gb", "currency": "eur"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["id"] > 0
    assert body | {"id": 0, "created_at": None} == {
        "id": 0,
        "external_id": "user-42",
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "country": "GB",
        "currency": "EUR",
        "credit_balance": "0.00",
        "created_at": None,
    }
    assert api.get("/customers/user-42").get_json() == body


def test_the_same_external_id_twice_is_409_and_changes_nothing(api, db):
    first = api.post("/customers", CUSTOMER)
    before = row_counts(db)
    again = api.post("/customers", CUSTOMER | {"email": "other@example.com"})
    error = assert_error(again, 409, "external_id")
    assert str(first.get_json()["id"]) in error["message"]
    assert row_counts(db) == before
    assert api.get("/customers/user-42").get_json()["email"] == "ada@example.com"


def test_an_unknown_customer_is_404_naming_the_field(api):
    assert_error(api.get("/customers/nobody"), 404, "external_id")
    assert_error(api.get("/customers/nobody/entitlement"), 404, "external_id")


BAD_CUSTOMERS = [
    ({"external_id": None}, "external_id"),
    ({"external_id": ""}, "external_id"),
    ({"external_id": "a/b"}, "external_id"),
    ({"external_id": 42}, "external_id"),
    ({"email": "not-an-email"}, "email"),
    ({"email": None}, "email"),
    ({"name": None}, "name"),
    ({"country": "GBR"}, "country"),
    ({"currency": "XYZ"}, "currency"),
    ({"currency": "BTC"}, "currency"),
    ({"nickname": "Ada"}, "nickname"),
]


def test_bad_customer_input_is_422_naming_the_field_and_changes_nothing(api, db, subtests):
    before = row_counts(db)
    for change, field in BAD_CUSTOMERS:
        with subtests.test(change=change):
            body = {k: v for k, v in (CUSTOMER | change).items() if v is not None}
            assert_error(api.post("/customers", body), 422, field)
            assert row_counts(db) == before


def test_a_body_that_is_not_a_json_object_is_400(api, db, subtests):
    before = row_counts(db)
    for body in ["not json", "[1, 2]", "null", '"a string"']:
        with subtests.test(body=body):
            response = api.client.post(
                "/api/v1/customers",
                data=body,
                headers={"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"},
            )
            assert response.status_code == 400 and "error" in response.get_json()
            assert row_counts(db) == before


def test_customers_are_listed_in_pages(api):
    for n in range(5):
        api.post("/customers", {"external_id": f"u{n}", "email": f"u{n}@example.com", "name": f"U{n}"})
    first = api.get("/customers", limit=2).get_json()
    assert [c["external_id"] for c in first["data"]] == ["u0", "u1"] and first["has_more"]
    second = api.get("/customers", limit=2, after=first["next_after"]).get_json()
    third = api.get("/customers", limit=2, after=second["next_after"]).get_json()
    assert [c["external_id"] for c in second["data"] + third["data"]] == ["u2", "u3", "u4"]
    assert third["has_more"] is False and third["next_after"] is None
    assert_error(api.get("/customers", limit=0), 422, "limit")
    assert_error(api.get("/customers", limit=101), 422, "limit")
    assert_error(api.get("/customers", after="x"), 422, "after")


def test_creating_a_plan_answers_201_and_it_can_be_read_back(api):
    response = api.post("/plans", PLAN | {"limits": {"seats": 5, "sso": False}})
    assert response.status_code == 201
    body = response.get_json()
    assert (body["code"], body["amount"], body["currency"], body["interval"]) == (
        "pro-monthly",
        "49.00",
        "USD",
        "month",
    )
    assert body["limits"] == {"seats": 5, "sso": False} and body["is_free"] is False
    assert api.get("/plans/pro-monthly").get_json() == body
    assert [p["code"] for p in api.get("/plans").get_json()["data"]] == ["pro-monthly"]


def test_a_yen_plan_has_no_decimals_and_a_free_plan_is_free(api):
    assert api.post("/plans", PLAN | {"code": "jp", "amount": "5000", "currency": "JPY"}).get_json()["amount"] == "5000"
    free = api.post("/plans", PLAN | {"code": "hobby", "amount": "0.00"}).get_json()
    assert free["is_free"] is True


def test_a_duplicate_plan_code_is_409_and_changes_nothing(api, db):
    api.post("/plans", PLAN)
    before = row_counts(db)
    assert_error(api.post("/plans", PLAN | {"amount": "99.00"}), 409, "code")
    assert row_counts(db) == before
    assert api.get("/plans/pro-monthly").get_json()["amount"] == "49.00"


BAD_PLANS = [
    ({"amount": "12.345"}, "amount"),
    ({"amount": 49.0}, "amount"),
    ({"amount": 49}, "amount"),
    ({"amount": "-1.00"}, "amount"),
    ({"amount": "4 9"}, "amount"),
    ({"amount": None}, "amount"),
    ({"currency": "ABC"}, "currency"),
    ({"currency": None}, "currency"),
    ({"interval": "week"}, "interval"),
    ({"interval": None}, "interval"),
    ({"trial_days": -1}, "trial_days"),
    ({"trial_days": "7"}, "trial_days"),
    ({"trial_days": True}, "trial_days"),
    ({"code": "has space"}, "code"),
    ({"code": None}, "code"),
    ({"name": ""}, "name"),
    ({"limits": [1]}, "limits"),
    ({"limits": {"storage_gb": 1.5}}, "limits.storage_gb"),
    ({"price": "49.00"}, "price"),
]


def test_bad_plan_input_is_422_naming_the_field_and_changes_nothing(api, db, subtests):
    before = row_counts(db)
    for change, field in BAD_PLANS:
        with subtests.test(change=change):
            body = {k: v for k, v in (PLAN | change).items() if v is not None}
            assert_error(api.post("/plans", body), 422, field)
            assert row_counts(db) == before


def test_an_unknown_plan_is_404(api):
    assert_error(api.get("/plans/nope"), 404, "code")
