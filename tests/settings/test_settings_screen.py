"""The settings screen: only what changed is saved, each change audited; bad input names its field; the logo is
checked by its content."""

import io

import pytest
from PIL import Image
from sqlalchemy import select

from app.audit.models import AuditEntry
from app.settings.service import DEFAULTS, get_setting
from tests.screens import token_of

pytestmark = pytest.mark.usefixtures("fresh_reads")


def _form(token: str, **changes) -> dict:
    """The settings form as the page submits it, with the defaults, plus `changes`."""
    data = {
        "csrf_token": token,
        "business_name": DEFAULTS["business.name"],
        "business_address": DEFAULTS["business.address"],
        "business_tax_id": "",
        "business_email": DEFAULTS["business.email"],
        "operator_alert_email": DEFAULTS["operator.alert_email"],
        "invoice_due_days": str(DEFAULTS["invoice.due_days"]),
        "invoice_expiry_days": str(DEFAULTS["invoice.expiry_days"]),
        "reminder_days": "3, 7, 14",
        "rails_enabled": list(DEFAULTS["rails.enabled"]),
        "bank_instructions": DEFAULTS["bank.instructions"],
    }
    for i in range(6):
        step = DEFAULTS["dunning.schedule"][i] if i < len(DEFAULTS["dunning.schedule"]) else None
        data[f"dunning-{i}-day"] = str(step["day"]) if step else ""
        data[f"dunning-{i}-action"] = step["action"] if step else "retry"
        data[f"dunning-{i}-email"] = step["email"] if step else "dunning_retry"
    return data | changes


def _audited_keys(db) -> list[str]:
    return db.session.scalars(
        select(AuditEntry.object_id).where(AuditEntry.action == "settings.changed").order_by(AuditEntry.id)
    ).all()


def test_the_page_shows_the_current_settings_and_links_the_other_settings_pages(operator_client):
    html = operator_client.get("/settings").get_data(as_text=True)
    assert 'value="Advancia Mini Demo Co."' in html and 'value="3, 7, 14"' in html
    assert 'href="/settings/api-tokens"' in html and 'href="/settings/webhooks"' in html


def test_saving_writes_only_what_changed_and_audits_who_changed_it(operator_client, operator, db):
    token = token_of(operator_client, "/settings")
    unchanged = operator_client.post("/settings", data=_form(token))
    assert unchanged.status_code == 302 and _audited_keys(db) == []
    response = operator_client.post(
        "/settings",
        data=_form(
            token,
            business_name="Acme Analytics Ltd",
            invoice_due_days="30",
            reminder_days="5,10",
            rails_enabled=["wire", "check"],
            **{"dunning-3-day": "", "dunning-2-action": "downgrade"},
        ),
    )
    assert response.status_code == 302
    assert get_setting("business.name") == "Acme Analytics Ltd"
    assert get_setting("invoice.due_days") == 30 and get_setting("reminders.days_overdue") == [5, 10]
    assert get_setting("rails.enabled") == ["wire", "check"]
    assert [step["day"] for step in get_setting("dunning.schedule")] == [1, 3, 7]
    assert get_setting("dunning.schedule")[-1]["action"] == "downgrade"
    assert sorted(_audited_keys(db)) == sorted(
        ["business.name", "invoice.due_days", "reminders.days_overdue", "rails.enabled", "dunning.schedule"]
    )
    actors = set(db.session.scalars(select(AuditEntry.actor).where(AuditEntry.action == "settings.changed")))
    assert actors == {f"user:{operator.id}"}


def test_bad_settings_name_their_fields_and_nothing_is_saved(operator_client, db):
    token = token_of(operator_client, "/settings")
    response = operator_client.post(
        "/settings",
        data=_form(
            token,
            business_name="Renamed",
            business_email="nope",
            invoice_due_days="soon",
            reminder_days="7, 3",
            **{"dunning-1-action": "downgrade"},
        ),
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and "Nothing was saved" in html
    for message in (
        "Invalid email address",
        "Not a valid integer value",
        "in increasing order",
        "downgrading ends dunning, so it can only be the last step",
    ):
        assert message in html, message
    assert get_setting("business.name") == DEFAULTS["business.name"] and _audited_keys(db) == []


def test_a_logo_is_checked_by_content_stored_and_served_for_the_pay_page(operator_client, app, db):
    token = token_of(operator_client, "/settings")
    fake = operator_client.post(
        "/settings",
        data=_form(token, logo=(io.BytesIO(b"GIF89a not what it says"), "logo.png")),
        content_type="multipart/form-data",
    )
    assert fake.status_code == 422 and "only PNG, JPEG files are accepted" in fake.get_data(as_text=True)
    assert get_setting("business.logo_path") == ""

    png = io.BytesIO()
    Image.new("RGB", (40, 20), "navy").save(png, format="PNG")
    response = operator_client.post(
        "/settings",
        data=_form(token, logo=(io.BytesIO(png.getvalue()), "logo.png")),
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    path = get_setting("business.logo_path")
    assert path.startswith(app.config["UPLOADS_DIR"]) and path.endswith(".png")
    served = app.test_client().get("/branding/logo")  # public: the pay page shows it
    assert served.status_code == 200 and served.data == png.getvalue() and served.mimetype == "image/png"

    operator_client.post("/settings", data=_form(token, remove_logo="y"))
    assert get_setting("business.logo_path") == ""
    assert app.test_client().get("/branding/logo").status_code == 404
