import pyotp
import pytest
from sqlalchemy import select

from app.auth.models import User
from tests.e2e.conftest import screenshot

pytestmark = pytest.mark.browser


def test_operator_signs_in_and_sees_the_dashboard_in_a_browser(live_server, page, operator):
    page.goto(f"{live_server}/")
    assert page.url.startswith(f"{live_server}/login")
    screenshot(page, "login")
    page.fill("input[name=email]", "op@example.com")
    page.fill("input[name=password]", "wrong password!")
    page.click("button[type=submit]")
    assert page.locator(".flash-error").inner_text() == "Email or password is wrong."
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    assert page.locator("h1").inner_text() == "Today"
    assert page.locator("nav[aria-label=Main] a").count() == 12
    screenshot(page, "dashboard")

    page.click("text=Automation")
    page.wait_for_url(f"{live_server}/automation/")
    page.locator("tr", has_text="trial_cleanup").locator("button", has_text="Run now").click()
    page.wait_for_selector("#queued .flash-success")  # htmx posted with the CSRF header and swapped the answer
    screenshot(page, "automation")

    page.click("text=Sign out")
    page.wait_for_url(f"{live_server}/login")


def test_operator_turns_on_two_factor_by_scanning_the_qr_code(live_server, page, operator, db):
    page.goto(f"{live_server}/login")
    page.fill("input[name=email]", "op@example.com")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server}/")
    page.goto(f"{live_server}/account/2fa")
    assert page.locator(".qr svg").count() == 1
    screenshot(page, "two-factor-enrolment")
    secret = page.locator("code.secret").inner_text()
    page.fill("input[name=code]", pyotp.TOTP(secret).now())
    page.click("text=Turn on two-factor")
    screenshot(page, "two-factor-on")
    assert "Two-factor authentication is on" in page.locator(".flash-success").inner_text()
    assert db.session.scalar(select(User.totp_enabled).where(User.email == "op@example.com")) is True


def test_login_page_fits_a_phone(live_server, phone_page):
    phone_page.goto(f"{live_server}/login")
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
    screenshot(phone_page, "login-phone")
