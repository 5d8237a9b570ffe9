"""Public operations routes: /api/health for monitors and load balancers, /status and /status.json for customers.

None of them touches the session (no cookie is set), so shared caches may keep the status page for a few seconds.
"""

from __future__ import annotations

import json

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


#: the last rendered page and the status it shows: while the status is cached, so is its HTML (one entry)
_rendered: dict = {}


def _rendered_once(kind: str, status: dict, render) -> str:  # noqa: ANN001
    key = (kind, status["generated_at"], status.get("stale"))
    body = _rendered.get(key)
    if body is None:
        body = render()
        for old in [k for k in list(_rendered) if k[0] == kind]:
            _rendered.pop(old, None)
        _rendered[key] = body
    return body


@bp.route("/status")
def status_page():
    status = current_status()
    page = _rendered_once("html", status, lambda: render_template("ops/status_page.html", status=status))
    return _cacheable(current_app.make_response(page))


@bp.route("/status.json")
def status_json():
    status = current_status()
    body = _rendered_once("json", status, lambda: json.dumps(status, separators=(",", ":")))
    return _cacheable(current_app.response_class(body, mimetype="application/json"))
