"""Sign in (password, then TOTP when enabled), sign out, and two-factor enrolment."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.audit.service import record_audit
from app.auth import service
from app.auth.forms import LoginForm, TotpForm
from app.auth.models import User
from app.extensions import db, limiter

bp = Blueprint("auth", __name__)

PENDING_2FA_KEY = "pending_2fa_user"


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so the login page cannot bounce a user to another site."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("dashboard.index")


def _login_limit() -> str:
    from flask import current_app

    return current_app.config["LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        user = service.authenticate(form.email.data, form.password.data)
        if user is None:
            record_audit("auth.login_failed", actor="anonymous", email=form.email.data.lower()[:254])
            db.session.commit()
            flash("Email or password is wrong.", "error")
        elif user.totp_enabled:
            session[PENDING_2FA_KEY] = {"id": user.id, "remember": bool(form.remember.data)}
            return redirect(url_for("auth.login_totp", next=request.args.get("next")))
        else:
            return _finish_login(user, bool(form.remember.data))
    return render_template(
        "auth/login.html", form=form
    ), 200 if request.method == "GET" else 400 if form.errors else 401


@bp.route("/login/2fa", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"])
def login_totp():
    pending = session.get(PENDING_2FA_KEY)
    user = db.session.get(User, pending["id"]) if pending else None
    if user is None:
        return redirect(url_for("auth.login"))
    form = TotpForm()
    if form.validate_on_submit():
        if service.verify_totp(user, form.code.data):
            session.pop(PENDING_2FA_KEY, None)
            return _finish_login(user, pending["remember"])
        record_audit("auth.totp_failed", user, actor="anonymous")
        db.session.commit()
        flash("That code is not valid. Use the current code from your authenticator app.", "error")
    return render_template("auth/login_totp.html", form=form)


def _finish_login(user: User, remember: bool):
    session.clear()  # a fresh session on privilege change
    login_user(user, remember=remember)
    service.record_login(user)
    db.session.commit()
    return redirect(_safe_next(request.args.get("next")) if user.is_admin else url_for("auth.account"))


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        record_audit("auth.logout", current_user._get_current_object())
        db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account")
@login_required
def account():
    return render_template("auth/account.html")


@bp.route("/account/2fa", methods=["GET", "POST"])
@login_required
def two_factor():
    user: User = current_user._get_current_object()
    form = TotpForm()
    if request.method == "GET" and not user.totp_enabled:
        service.begin_totp_enrolment(user)
        db.session.commit()
    elif form.validate_on_submit():
        try:
            if user.totp_enabled:
                service.disable_totp(user, form.code.data)
                flash("Two-factor authentication is off.", "info")
            else:
                service.confirm_totp_enrolment(user, form.code.data)
                flash("Two-factor authentication is on. You will be asked for a code at every sign-in.", "success")
            db.session.commit()
            return redirect(url_for("auth.two_factor"))
        except service.AccountError as exc:
            db.session.rollback()
            form.code.errors = [str(exc)]
    qr = service.totp_qr_svg(user) if user.totp_secret and not user.totp_enabled else None
    return render_template(
        "auth/two_factor.html", form=form, user=user, qr_svg=qr, secret=user.totp_secret if qr else None
    ), 400 if form.errors else 200
