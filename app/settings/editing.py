"""Saving the settings screen: only what changed is written (each change audited by set_setting)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.settings.service import get_setting, set_setting
from app.uploads import JPEG, PNG, UploadRejected, new_stored_name, recognise, save, stored_path

EDITABLE = (
    "business.name",
    "business.address",
    "business.tax_id",
    "business.email",
    "business.logo_path",
    "operator.alert_email",
    "invoice.due_days",
    "invoice.expiry_days",
    "reminders.days_overdue",
    "dunning.schedule",
    "rails.enabled",
    "bank.instructions",
)
#: the logo is shown on the pay page and printed on PDFs: raster images only (an SVG can carry script)
LOGO_KINDS = (PNG, JPEG)


def current_settings() -> dict[str, Any]:
    return {key: get_setting(key) for key in EDITABLE}


def update_settings(values: dict[str, Any], *, actor: str) -> list[str]:
    """Writes the keys whose value differs from the current one; returns them."""
    current = current_settings()
    changed = [key for key, value in values.items() if key in EDITABLE and current[key] != value]
    for key in changed:
        set_setting(key, values[key], actor=actor)
    return changed


def store_logo(data: bytes) -> str:
    """Checks the image by content and stores it; returns the absolute path the logo setting holds (the PDF
    renderer reads the file from disk, with no network)."""
    kind = recognise(data, LOGO_KINDS)
    name = new_stored_name("logo", kind)
    return str(save(name, data))


def logo_file() -> Path | None:
    """The logo's file, only when the setting points at one of our own stored uploads."""
    value = get_setting("business.logo_path")
    if not value:
        return None
    path = Path(value)
    try:
        expected = stored_path(path.name)
    except UploadRejected:
        return None
    return expected if path == expected and expected.is_file() else None
