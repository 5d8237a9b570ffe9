import pyotp
import pytest
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.auth.models import User
from tests.conftest import csrf_from, login
from tests.factories import make_user


def test_operator_signs_in_and_sees_the_dashboard(client, operator):
    response = login(client, "OP@example.com ", "correct horse battery")
    assert response.status_code == 302 and response.headers["Location"] == "/"
    page = client.get("/")
    assert page.status_code == 200
    assert "Today" in page.get_data(as_text=True)


def test_wrong_password_is_refused_with_a_message_and_recorded(client, operator, db):
    response = login(client, "op@example.com", "wrong password here")
    assert response.status_code == 401
    assert "Email or password is wrong" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "auth.login_failed" in actions and "auth.login" not in actions


def test_unknown_email_gets_the_same_answer_as_a_wrong_password(client, operator):
    response = login(client, "nobody@example.com", "correct horse battery")
    assert response.status_code == 401
    assert "Email or password is wrong" in response.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, operator):
    response = client.post("/login", data={"email": "op@example.com", "password": "correct horse battery"})
    assert response.status_code == 400
    assert client.get("/").status_code == 302


def test_login_redirects_only_to_same_site_paths(client, operator):
    page = client.get("/login?next=https://evil.example/")
    token = csrf_from(page.get_data(as_text=True))
    response = client.post(
        "/login?next=https://evil.example/",
        data={"email": "op@example.com", "password": "correct horse battery", "csrf_token": token},
    )
    assert response.headers["Location"] == "/"


def test_repeated_failed_logins_are_rate_limited(client, operator):
    statuses = [login(client, "op@example.com", f"wrong password {i}").status_code for i in range(12)]
    assert statuses[:10] == [401] * 10
    assert statuses[10] == 429
    # The limit lives in Redis, so it holds across web workers: a correct password is refused too for now.
    assert login(client, "op@example.com", "correct horse battery").status_code == 429


def test_logout_needs_post_with_csrf_and_ends_the_session(operator_client):
    assert operator_client.get("/logout").status_code == 405
    assert operator_client.post("/logout").status_code == 400  # no token: still signed in
    assert operator_client.get("/").status_code == 200
    token = csrf_from(operator_client.get("/").get_data(as_text=True))
    assert operator_client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert operator_client.get("/").status_code == 302


def _enrol_totp(client, db) -> str:
    page = client.get("/account/2fa").get_data(as_text=True)
    assert "<svg" in page  # the QR code to scan
    user = db.session.scalar(select(User).where(User.email == "op@example.com"))
    db.session.refresh(user)
    secret = user.totp_secret
    response = client.post("/account/2fa", data={"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_from(page)})
    assert response.status_code == 302
    return secret


def test_totp_enrolment_then_sign_in_asks_for_a_code(operator_client, db, app):
    secret = _enrol_totp(operator_client, db)
    token = csrf_from(operator_client.get("/").get_data(as_text=True))
    operator_client.post("/logout", data={"csrf_token": token})

    response = login(operator_client, "op@example.com", "correct horse battery")
    assert response.headers["Location"].startswith("/login/2fa")
    assert operator_client.get("/").status_code == 302  # password alone is not enough

    page = operator_client.get("/login/2fa").get_data(as_text=True)
    bad = operator_client.post("/login/2fa", data={"code": "000000", "csrf_token": csrf_from(page)})
    assert "not valid" in bad.get_data(as_text=True)
    # A code already used at enrolment cannot be replayed; the next time-step's code is accepted.
    totp = pyotp.TOTP(secret)
    next_code = totp.at(totp.timecode(__import__("datetime").datetime.now()) * 30 + 30)
    good = operator_client.post("/login/2fa", data={"code": next_code, "csrf_token": csrf_from(page)})
    assert good.status_code == 302 and good.headers["Location"] == "/"
    assert operator_client.get("/").status_code == 200


def test_totp_code_cannot_be_used_twice(operator_client, db):
    secret = _enrol_totp(operator_client, db)
    user = db.session.scalar(select(User).where(User.email == "op@example.com"))
    from app.auth.service import verify_totp

    db.session.refresh(user)
    assert verify_totp(user, pyotp.TOTP(secret).now()) is False  # same step as enrolment


def test_wrong_enrolment_code_keeps_two_factor_off(operator_client, db):
    page = operator_client.get("/account/2fa").get_data(as_text=True)
    response = operator_client.post("/account/2fa", data={"code": "123456", "csrf_token": csrf_from(page)})
    assert response.status_code == 400
    assert "does not match" in response.get_data(as_text=True)
    assert db.session.scalar(select(User.totp_enabled).where(User.email == "op@example.com")) is False


def test_passwords_are_stored_as_strong_hashes(operator, db):
    stored = db.session.scalar(select(User.password_hash).where(User.email == "op@example.com"))
    assert stored.startswith(("scrypt:", "pbkdf2:")) and "correct horse" not in stored


def test_customer_signs_in_to_their_account_not_the_dashboard(client, db):
    make_user(email="buyer@example.com", password="buyer password 1")
    response = login(client, "buyer@example.com", "buyer password 1")
    assert response.headers["Location"] == "/account"
    assert client.get("/").status_code == 403


def test_pages_carry_security_headers_and_session_cookie_flags(client, operator):
    response = login(client, "op@example.com", "correct horse battery")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get("/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_production_refuses_to_start_without_secret_key(monkeypatch):
    from app.config import load_settings

    monkeypatch.setenv("ADVANCIA_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        load_settings()
