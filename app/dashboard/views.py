"""The operator's home: what needs attention today, and how revenue is doing."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.auth.guards import admin_required
from app.dashboard import service
from app.dashboard.chart import revenue_figure_json
from app.dashboard.revenue import revenue
from app.db_types import utcnow
from app.notifications.service import outbox_attention

bp = Blueprint("dashboard", __name__)


@bp.route("/")
@admin_required
def index():
    now = utcnow()
    figures = revenue(now)
    return render_template(
        "dashboard/index.html",
        now=now,
        overview=service.overview(now),
        attention=service.attention(now),
        outbox=outbox_attention(),
        revenue=figures,
        chart_json=revenue_figure_json(figures),
    )
