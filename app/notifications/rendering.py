"""Turning an outbox email into a MIME message: its text and HTML templates, its PDFs and its headers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr

from flask import current_app
from jinja2 import TemplateNotFound, UndefinedError

from app.extensions import db
from app.notifications.catalog import ATTACHMENT_KINDS, TEMPLATES
from app.notifications.models import OutboxMessage
from app.templating import business_context, strict_env


class RenderError(ValueError):
    """The message cannot be built (unknown template, missing context key, missing object): retrying won't help."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "pdf"


@dataclass(frozen=True)
class RenderedEmail:
    to: str
    subject: str
    text: str
    html: str
    attachments: tuple[Attachment, ...]


def render_email(message: OutboxMessage, *, with_attachments: bool = True) -> RenderedEmail:
    payload = message.payload
    for key in ("to", "subject", "template"):
        if not payload.get(key):
            raise RenderError(f"outbox message {message.id} has no {key!r}")
    if "@" not in parseaddr(payload["to"])[1]:
        raise RenderError(f"outbox message {message.id}: {payload['to']!r} is not an email address")
    name = payload["template"]
    given = payload.get("context") or {}
    missing = [key for key in (TEMPLATES[name].required if name in TEMPLATES else ()) if key not in given]
    if missing:
        # Checked up front, not left to the template: a branch may skip a value that another branch needs.
        raise RenderError(f"template {name!r} needs {', '.join(missing)} in its context")
    specs = payload.get("attachments") or []
    context = {
        **given,
        "business": business_context(),
        "subject": payload["subject"],
        "attachment_kinds": [spec.get("kind") for spec in specs],
    }
    env = strict_env()
    try:
        text = env.get_template(f"emails/{name}.txt").render(**context)
        html = env.get_template(f"emails/{name}.html").render(**context)
    except TemplateNotFound as exc:
        raise RenderError(f"no email template {exc.name}") from exc
    except UndefinedError as exc:
        raise RenderError(f"template {name!r}: {exc.message}") from exc
    attachments = tuple(_attachment(spec) for spec in specs) if with_attachments else ()
    return RenderedEmail(payload["to"], payload["subject"], text, html, attachments)


def _attachment(spec: dict) -> Attachment:
    from app.billing.documents import invoice_filename, invoice_pdf, receipt_filename, receipt_pdf
    from app.billing.models import Invoice
    from app.payments.models import Payment

    kind = spec.get("kind")
    id_key = ATTACHMENT_KINDS.get(kind)
    if id_key is None:
        raise RenderError(f"unknown attachment kind {kind!r}")
    object_id = spec.get(id_key)
    if kind == "receipt_pdf":
        payment = db.session.get(Payment, object_id) if isinstance(object_id, int) else None
        if payment is None:
            raise RenderError(f"receipt_pdf: no payment {object_id!r}")
        return Attachment(receipt_filename(payment), receipt_pdf(payment))
    invoice = db.session.get(Invoice, object_id) if isinstance(object_id, int) else None
    if invoice is None:
        raise RenderError(f"invoice_pdf: no invoice {object_id!r}")
    return Attachment(invoice_filename(invoice), invoice_pdf(invoice))


def sender() -> str:
    """MAIL_FROM, or the business's name and email from the settings screen."""
    configured = current_app.config.get("MAIL_FROM", "")
    if configured:
        return configured
    business = business_context()
    return formataddr((business["name"], business["email"]))


def message_id_for(message: OutboxMessage, from_address: str) -> str:
    """The same on every attempt, so a receiver can drop the copy sent again after a worker died mid-delivery.

    The digest of the message's immutable fields keeps ids apart across installations that reuse row ids.
    """
    domain = parseaddr(from_address)[1].rpartition("@")[2] or "advancia.invalid"
    digest = hashlib.sha256(f"{message.id}|{message.dedupe_key}|{message.created_at.isoformat()}".encode())
    return f"<outbox-{message.id}.{digest.hexdigest()[:16]}@{domain}>"


def build_mime(message: OutboxMessage, rendered: RenderedEmail, *, now: datetime) -> EmailMessage:
    from_header = sender()
    mime = EmailMessage()
    try:
        mime["From"] = from_header
        mime["To"] = rendered.to
        mime["Subject"] = rendered.subject
        reply_to = business_context()["email"]
        if reply_to and reply_to != parseaddr(from_header)[1]:
            mime["Reply-To"] = str(Address(addr_spec=reply_to))
    except (ValueError, IndexError) as exc:
        # A linefeed in a subject, an address that is not one: the payload is wrong, not the server.
        raise RenderError(f"bad header: {exc}") from exc
    mime["Date"] = format_datetime(now)
    mime["Message-ID"] = message_id_for(message, from_header)
    # RFC 3834: machine-sent, so auto-responders do not answer it.
    mime["Auto-Submitted"] = "auto-generated"
    mime.set_content(rendered.text)
    mime.add_alternative(rendered.html, subtype="html")
    for attachment in rendered.attachments:
        mime.add_attachment(
            attachment.content, maintype=attachment.maintype, subtype=attachment.subtype, filename=attachment.filename
        )
    return mime
