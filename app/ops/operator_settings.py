"""The operator's operations settings: thresholds, alert channels and the note on the status page."""

from __future__ import annotations

from typing import Any

from app.settings.service import get_setting, set_setting

MAX_NOTE = 500


class NoteError(ValueError):
    field = "note"


def post_status_note(text: str, *, actor: str) -> str:
    """Sets (or, when empty, removes) the note shown at the top of the public status page."""
    text = (text or "").strip()
    if len(text) > MAX_NOTE:
        raise NoteError(f"At most {MAX_NOTE} characters.")
    if text != (get_setting("ops.status_note") or ""):
        set_setting("ops.status_note", text, actor=actor)
    return text


def save_settings(values: dict[str, Any], *, actor: str) -> list[str]:
    """Writes the ops.* settings that changed (each one audited); returns their keys."""
    changed = []
    for key, value in values.items():
        if not key.startswith("ops."):
            raise KeyError(key)
        if get_setting(key) != value:
            set_setting(key, value, actor=actor)
            changed.append(key)
    return changed
