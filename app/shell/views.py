"""Operator areas whose screens arrive with later capabilities: each says what it will hold."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from app.auth.guards import admin_required

bp = Blueprint("shell", __name__)

#: area slug -> (title, what the operator will do there, the capability that brings it)
PLANNED_AREAS: dict[str, tuple[str, str, str]] = {
    "reconciliation": (
        "Reconciliation",
        "Bank and wire transactions from Plaid matched to invoices by reference code, and the ones that need your eye.",
        "Bank reconciliation",
    ),
    "proofs": (
        "Payment proofs",
        "Receipts customers upload for bank, cash and check payments, to approve or reject.",
        "Payment proofs",
    ),
    "reports": ("Reports", "MRR, ARR, churn, LTV and cohort charts; the daily revenue report.", "SaaS metrics"),
}


#: screens of a planned area that are already built, linked from its page: area -> [(label, endpoint)]
AVAILABLE_NOW: dict[str, list[tuple[str, str]]] = {}


@bp.route("/<any(" + ",".join(PLANNED_AREAS) + "):area>")
@admin_required
def planned_area(area: str):
    if area not in PLANNED_AREAS:
        abort(404)
    title, purpose, capability = PLANNED_AREAS[area]
    return render_template(
        "shell/planned.html",
        area=area,
        title=title,
        purpose=purpose,
        capability=capability,
        available=AVAILABLE_NOW.get(area, []),
    )
