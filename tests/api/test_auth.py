"""Every /api/v1 route wants a valid, non-revoked Bearer token; without one it answers 401 and changes nothing."""

import re

from sqlalchemy import select

from app.access.models import ApiToken
from app.audit.models import AuditEntry
from tests.api.conftest import assert_error, row_counts
from tests.factories import make_api_token


def _api_requests(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1"):
            url = re.sub(r"<int:[^>]+>", "1", rule.rule)
            url = re.sub(r"<[^>]+>", "example", url)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, url


def test_there_are_api_routes_to_check(app):
    assert len(list(_api_requests(app))) >= 15


def test_every_api_route_refuses_a_missing_or_unknown_token(app, client, db, subtests):
    before = row_counts(db)
    for authorization in [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwdw==",
        "Bearer adv_not-a-real-token",
        "Token x",
    ]:
        headers = {} if authorization is None else {"Authorization": authorization}
        for method, url in _api_requests(app):
            with subtests.test(authorization=authorization, method=method, url=url):
                response = client.open(url, method=method, headers=headers, json={"external_id": "x"})
                assert_error(response, 401, None)
                assert response.headers["WWW-Authenticate"].startswith("Bearer"), url
    assert row_counts(db) == before


def test_a_revoked_token_is_refused_everywhere_at_once(app, client, db):
    row, token = make_api_token("old script")
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/customers", headers=headers).status_code == 200
    db.session.rollback()  # the CLI runner shares this test's session: start it afresh
    assert app.test_cli_runner().invoke(args=["api-token", "revoke", str(row.id)]).exit_code == 0
    for method, url in _api_requests(app):
        response = client.open(url, method=method, headers=headers, json={})
        assert_error(response, 401, None)
        assert "revoked" in response.get_json()["error"]["message"]


def test_a_valid_token_is_let_in_and_its_last_use_is_recorded(client, db):
    row, token = make_api_token()
    assert row.last_used_at is None
    response = client.get("/api/v1/customers", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200 and response.get_json() == {"data": [], "has_more": False, "next_after": None}
    db.session.rollback()  # a fresh snapshot: the request committed in its own session
    assert db.session.get(ApiToken, row.id).last_used_at is not None


def test_changes_made_through_the_api_are_audited_as_the_token(client, db):
    row, token = make_api_token()
    response = client.post(
        "/api/v1/customers",
        headers={"Authorization": f"Bearer {token}"},
        json={"external_id": "u-1", "email": "a@example.com", "name": "A"},
    )
    assert response.status_code == 201
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "customer.created"))
    assert entry.actor == f"api-token:{row.id}"


def test_only_a_hash_of_the_token_is_stored(db):
    row, token = make_api_token()
    stored = db.session.scalar(select(ApiToken).where(ApiToken.id == row.id))
    assert token not in (stored.token_hash, stored.prefix, stored.name)
    assert token.startswith(stored.prefix) and len(stored.token_hash) == 64


def test_the_api_needs_no_csrf_token_and_sets_no_session_cookie(api):
    response = api.post("/customers", {"external_id": "u-2", "email": "b@example.com", "name": "B"})
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers
