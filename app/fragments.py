"""Rendering a full page, or for an HTMX request only the fragment that changed (the same template inside both)."""

from __future__ import annotations

from flask import Response, make_response, render_template

from app.extensions import htmx


def wants_fragment() -> bool:
    """An HTMX request that is not htmx restoring a page missing from its history cache (that needs the page)."""
    return bool(htmx) and not htmx.history_restore_request


def render_page_or_fragment(page_template: str, fragment_template: str, /, **context) -> Response:
    template = fragment_template if wants_fragment() else page_template
    response = make_response(render_template(template, **context))
    # The same URL answers with a page or a fragment: caches must keep them apart.
    response.vary.add("HX-Request")
    return response
