"""Helpers for tests of the operator's screens: CSRF tokens and HTMX requests as the browser sends them."""

from __future__ import annotations

import re

from tests.conftest import csrf_from


def token_of(client, url: str = "/customers") -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


def htmx(token: str | None = None, **extra: str) -> dict[str, str]:
    headers = {"HX-Request": "true", **extra}
    if token:
        headers["X-CSRFToken"] = token
    return headers


def is_fragment(html: str) -> bool:
    """A fragment swapped by htmx, not a whole page (no document, no navigation)."""
    return "<html" not in html and 'aria-label="Main"' not in html


def text_of(html: str) -> str:
    """The visible text, whitespace collapsed, for asserting on sentences across template line breaks."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#39;", "'").replace("&amp;", "&").strip()
