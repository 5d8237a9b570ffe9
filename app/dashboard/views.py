"""The operator's home: what needs attention today."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.auth.guards import admin_required
from app.dashboard import service
from app.notifications.service import outbox_attention

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@admin_required
def index():
    return render_template("dashboard/index.html", overview=service.overview(), outbox=outbox_attention())
