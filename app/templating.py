"""The strict Jinja environment for emails and PDF documents (not pages): a missing value is an error, not a blank.

Pages forgive a missing variable; a receipt that says "Dear ," or "Amount: " must never leave the building.
"""

from __future__ import annotations

import base64
import logging
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from flask import current_app
from jinja2 import Environment, StrictUndefined

from app.money import format_money

log = logging.getLogger(__name__)

RAIL_LABELS = {
    "card": "Card",
    "btc": "Bitcoin (BTC)",
    "eth": "Ethereum (ETH)",
    "usdc": "USDC",
    "bank_transfer": "Bank transfer",
    "wire": "Wire transfer",
    "ach": "ACH",
    "cash": "Cash",
    "check": "Check",
    "money_order": "Money order",
}


def rail_label(rail: Any) -> str:
    value = getattr(rail, "value", rail)
    return RAIL_LABELS.get(value, str(value).replace("_", " ").capitalize())


def date_text(value: datetime | date | str | None, style: str = "long") -> str:
    """UTC dates as words, never ambiguous across countries: "9 December 2026" / "9 Dec 2026"."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    month = f"{value:%B}" if style == "long" else f"{value:%b}"
    return f"{value.day} {month} {value.year}"


def rate_text(rate: Decimal) -> str:
    """An exchange rate without float noise or trailing zeros: Decimal('67890.120000') -> '67,890.12'."""
    text = f"{rate:,.8f}".rstrip("0").rstrip(".")
    return text


def strict_env() -> Environment:
    """One per app, sharing the app's loader (templates/) and HTML autoescaping, with its own compiled cache."""
    app = current_app._get_current_object()
    env = app.extensions.get("advancia_strict_jinja")
    if env is None:
        env = app.jinja_env.overlay(undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, cache_size=100)
        # A copy: the overlay would otherwise add these filters to the pages' environment too.
        env.filters = {
            **env.filters,
            "money": format_money,
            "date_text": date_text,
            "rail_label": rail_label,
            "rate_text": rate_text,
        }
        app.extensions["advancia_strict_jinja"] = env
    return env


def render_strict(template: str, **context: Any) -> str:
    return strict_env().get_template(template).render(**context)


#: magic bytes -> MIME type of the logo formats WeasyPrint draws
_IMAGE_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
)
MAX_LOGO_BYTES = 2 * 1024 * 1024


def business_context(*, with_logo: bool = False) -> dict[str, Any]:
    """The business as the settings screen describes it, for every email and document."""
    from app.settings.service import get_setting

    address = (get_setting("business.address") or "").strip()
    context = {
        "name": get_setting("business.name"),
        "address_lines": [line.strip() for line in address.splitlines() if line.strip()],
        "email": get_setting("business.email"),
        "tax_id": (get_setting("business.tax_id") or "").strip(),
    }
    if with_logo:
        context["logo"] = logo_data_uri(get_setting("business.logo_path") or "")
    return context


def logo_data_uri(path_setting: str) -> str | None:
    """The logo file as a data: URI (documents fetch nothing), or None when unset, missing or not an image.

    A relative path is read from the instance folder, where `make run` keeps the business's own files.
    """
    from app.config import INSTANCE_DIR

    if not path_setting.strip():
        return None
    path = Path(path_setting.strip())
    path = path if path.is_absolute() else INSTANCE_DIR / path
    try:
        if path.stat().st_size > MAX_LOGO_BYTES:
            raise ValueError(f"larger than {MAX_LOGO_BYTES} bytes")
        data = path.read_bytes()
    except (OSError, ValueError) as exc:
        log.warning("business logo %s not used: %s", path, exc)
        return None
    mime = next((m for sig, m in _IMAGE_SIGNATURES if data.startswith(sig)), None)
    if mime is None and b"<svg" in data[:1024]:
        mime = "image/svg+xml"
    if mime is None:
        log.warning("business logo %s not used: not a PNG, JPEG, GIF or SVG", path)
        return None
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"
