"""One way to build test objects, shared by every test."""

from __future__ import annotations

import itertools

from app.auth.models import Role, User
from app.extensions import db

_seq = itertools.count(1)


def make_user(*, role: str = "customer", email: str | None = None, password: str = "a long password 1") -> User:
    from app.auth.service import create_user

    user = create_user(email or f"user{next(_seq)}@example.com", password, Role(role), actor="test")
    db.session.commit()
    return user
