"""Request-wide behaviour: security headers, template helpers, error pages."""

from __future__ import annotations

from flask import Flask, render_template, request
from flask.sessions import SecureCookieSessionInterface

from app.money import format_money

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    # Everything is served from our own origin; inline SVG (QR codes) and inline styles from Plotly are allowed.
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "script-src 'self' 'unsafe-eval'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
}


class CookieSessionExceptWebhooks(SecureCookieSessionInterface):
    """Signed webhooks carry no cookie and get none: no session is opened for them (it cost a tenth of the hottest
    route's CPU), and code that tried to write one would fail loudly (Flask's null session)."""

    def open_session(self, app: Flask, request):  # noqa: ANN001, ANN201
        if request.path.startswith("/webhooks/"):
            return self.null_session_class()
        return super().open_session(app, request)


def register_web_hooks(app: Flask) -> None:
    app.session_interface = CookieSessionExceptWebhooks()

    @app.after_request
    def add_security_headers(response):
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response

    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["dt"] = lambda value, fmt="%Y-%m-%d %H:%M": value.strftime(fmt) if value else "—"

    for code, title in (
        (400, "Bad request"),
        (403, "Not allowed"),
        (404, "Not found"),
        (429, "Too many attempts"),
        (500, "Something went wrong"),
    ):
        app.register_error_handler(code, _error_page(code, title))


def _error_page(code: int, title: str):
    def handler(error):
        if code == 500:
            from app.extensions import db

            db.session.rollback()
        if request.path.startswith("/api/"):
            return {"error": {"field": None, "message": title}}, code
        return render_template("error.html", code=code, title=title, error=error), code

    return handler
