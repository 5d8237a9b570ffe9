"""Public operations routes: /api/health for monitors and load balancers, /status and /status.json for customers.

None of them touches the session (no cookie is set), so shared caches may keep the status page for a few seconds.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify, render_template

from app.ops.live import health_report
from app.ops.status import cache_seconds, current_status

bp = Blueprint("ops_public", __name__)

#: endpoints anyone may reach, with the reason (tests/platform/test_route_guards.py reads this)
PUBLIC = {
    "ops_public.health": "monitors and load balancers poll it; it reveals statuses and latencies only",
    "ops_public.status_page": "the customers' status page",
    "ops_public.status_json": "the status page as JSON, for customers' own monitors",
}


@bp.route("/api/health")
def health():
    report = health_report(current_app.config["REDIS_URL"])
    response = jsonify(report)
    response.status_code = 503 if report["status"] == "down" else 200
    response.headers["Cache-Control"] = "no-store"
    return response


def _cacheable(response):  # noqa: ANN001, ANN202
    response.headers["Cache-Control"] = f"public, max-age={max(1, int(cache_seconds()))}"
    return response


@bp.route("/status")
def status_page():
    status = current_status()
    return _cacheable(current_app.make_response(render_template("ops/status_page.html", status=status)))


@bp.route("/status.json")
def status_json():
    return _cacheable(jsonify(current_status()))
