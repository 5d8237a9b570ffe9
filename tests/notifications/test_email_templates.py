"""Every email the product sends has a text and an HTML template that render from its documented context."""

from pathlib import Path

import pytest
from sqlalchemy import select

from app.billing.invoices import expire_invoice
from app.notifications.catalog import TEMPLATES
from app.notifications.models import OutboxKind, OutboxMessage
from app.notifications.rendering import RenderError, render_email
from tests.factories import make_email, make_invoice, make_settled_payment

EMAILS = Path(__file__).resolve().parents[2] / "templates" / "emails"


def test_every_template_file_is_in_the_catalog_and_every_catalog_entry_has_both_files():
    on_disk = {p.stem for p in EMAILS.iterdir() if not p.name.startswith("_")}
    assert on_disk == set(TEMPLATES)
    for name in TEMPLATES:
        assert (EMAILS / f"{name}.txt").exists() and (EMAILS / f"{name}.html").exists(), name


def test_each_template_renders_its_example_and_every_required_value_shows(db):
    for name, template in TEMPLATES.items():
        assert set(template.example) == set(template.required), name
        message = make_email(template=name, subject=f"Subject of {name}")
        rendered = render_email(message, with_attachments=False)
        for body in (rendered.text, rendered.html):
            assert "Advancia Mini Demo Co." in body  # the business, from settings
            for key in template.required:
                value = template.example[key]
                if key == "due_date":
                    assert "9 December 2026" in body, name
                elif key == "rail":
                    assert "Bank transfer" in body or "Wire transfer" in body, name
                elif key == "remaining":
                    assert "paid in full" in body  # the example is paid in full: nothing remains to show
                elif not isinstance(value, bool):
                    assert str(value) in body, (name, key)
        assert f"<title>Subject of {name}</title>" in rendered.html


def test_each_template_refuses_to_render_without_a_required_value(db):
    for name, template in TEMPLATES.items():
        for key in template.required:
            context = {k: v for k, v in template.example.items() if k != key}
            message = make_email(template=name, context=context)
            with pytest.raises(RenderError, match=f"template '{name}' needs {key} in its context"):
                render_email(message, with_attachments=False)


def test_html_templates_escape_what_customers_typed(db):
    context = dict(TEMPLATES["trial_ended"].example, customer_name="<script>alert(1)</script>")
    rendered = render_email(make_email(template="trial_ended", context=context), with_attachments=False)
    assert "<script>" not in rendered.html and "&lt;script&gt;" in rendered.html
    assert "<script>alert(1)</script>" in rendered.text  # plain text is not HTML


def test_the_settlement_queues_the_receipt_and_review_emails_with_their_documented_context(db):
    invoice = make_invoice(amount_minor=4900)
    make_settled_payment(invoice)
    late = make_invoice(amount_minor=4900)
    expire_invoice(late, actor="test")
    db.session.commit()
    make_settled_payment(late, 4900)
    emails = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == OutboxKind.EMAIL))
    by_template = {m.payload["template"]: m for m in emails}
    for name in ("receipt", "operator_payment_review"):
        payload = by_template[name].payload
        assert set(TEMPLATES[name].required) <= set(payload["context"]), name
        render_email(by_template[name], with_attachments=False)
    assert by_template["receipt"].payload["attachments"][0]["kind"] in TEMPLATES["receipt"].attachments


def test_docs_list_every_template_with_its_context_keys():
    docs = (Path(__file__).resolve().parents[2] / "docs" / "emails.md").read_text()
    rows = {line.split("|")[1].strip(" `"): line for line in docs.splitlines() if line.startswith("| `")}
    for name, template in TEMPLATES.items():
        assert name in rows, name
        for key in template.required:
            assert f"`{key}`" in rows[name], (name, key)
