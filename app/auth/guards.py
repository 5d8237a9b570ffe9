"""admin_required: the one guard on every operator route."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from flask import abort, redirect, request, url_for
from flask_login import current_user


def admin_required(view: Callable) -> Callable:
    """Anonymous visitors go to the login page; signed-in customers get 403."""

    @wraps(view)
    def guarded(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    guarded.admin_only = True  # read by the route-guard test
    return guarded
