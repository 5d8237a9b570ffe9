"""A deterministic demo business, so `make run` opens on a living company."""

from __future__ import annotations

import random
from dataclasses import dataclass

from sqlalchemy import select

from app.auth.models import Role, User
from app.extensions import db

DEMO_OPERATOR_EMAIL = "operator@advancia.test"
DEMO_OPERATOR_PASSWORD = "advancia-demo-2026"  # noqa: S105 (published demo login)


@dataclass(frozen=True)
class DemoOptions:
    customers: int = 2000
    months: int = 36
    seed: int = 1


def database_is_empty() -> bool:
    return db.session.scalar(select(User.id).where(User.role == Role.ADMIN).limit(1)) is None


def seed_demo_data(options: DemoOptions) -> dict[str, int | str]:
    from app.auth.service import create_user

    rng = random.Random(options.seed)
    report: dict[str, int | str] = {}
    if db.session.scalar(select(User.id).where(User.email == DEMO_OPERATOR_EMAIL)) is None:
        create_user(DEMO_OPERATOR_EMAIL, DEMO_OPERATOR_PASSWORD, Role.ADMIN, actor="seed")
    report["operator"] = f"{DEMO_OPERATOR_EMAIL} / {DEMO_OPERATOR_PASSWORD}"
    report.update(_seed_business(rng, options))
    db.session.commit()
    return report


def _seed_business(rng: random.Random, options: DemoOptions) -> dict[str, int]:
    """Extended by the billing capability; the platform alone has no business objects to seed."""
    return {}
