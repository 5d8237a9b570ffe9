"""The operator's settings screen."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, url_for
from werkzeug.datastructures import FileStorage

from app.audit.service import current_actor
from app.auth.guards import admin_required
from app.checkout.options import OPTIONS
from app.extensions import db
from app.settings.editing import current_settings, store_logo, update_settings
from app.settings.forms import SettingsForm
from app.uploads import UploadRejected

bp = Blueprint("settings", __name__, url_prefix="/settings")

#: rails the customer's pay page can already offer; the others arrive with their own capability
PAY_PAGE_READY = frozenset(rail for option in OPTIONS for rail in option.rails)


@bp.route("", methods=["GET", "POST"])
@admin_required
def index():
    current = current_settings()
    form = SettingsForm()
    if not form.is_submitted():
        form.fill(current)
    elif form.validate():
        values = form.values()
        logo = form.logo.data
        if form.remove_logo.data:
            values["business.logo_path"] = ""
        elif isinstance(logo, FileStorage) and logo.filename:
            try:
                values["business.logo_path"] = store_logo(logo.read())
            except UploadRejected as exc:
                form.logo.errors = [str(exc)]
        if not form.logo.errors:
            changed = update_settings(values, actor=current_actor())
            db.session.commit()
            flash(
                f"Saved {len(changed)} change{'' if len(changed) == 1 else 's'}." if changed else "Nothing changed.",
                "success",
            )
            return redirect(url_for("settings.index"))
    return render_template(
        "settings/index.html",
        form=form,
        logo_path=current["business.logo_path"],
        ready=PAY_PAGE_READY,
    ), 422 if form.errors else 200
