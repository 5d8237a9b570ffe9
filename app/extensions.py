"""Extensions created once and bound to the app in create_app()."""

from __future__ import annotations

from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import BigInteger, Integer, MetaData
from sqlalchemy.orm import DeclarativeBase, registry

# Named constraints keep Alembic migrations identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    # 64-bit integers for ids and minor-unit amounts; SQLite's INTEGER is already 64-bit (and must stay
    # INTEGER for primary keys to autoincrement).
    registry = registry(
        metadata=MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={int: BigInteger().with_variant(Integer(), "sqlite")},
    )


class RouteLimiter(Limiter):
    """Flask-Limiter with limits on decorated routes only (the sign-in forms). Its app-wide before-request check
    exists for default and application limits; we set none, so on every other request it only resolved an empty
    list, at a tenth of the busiest route's CPU (the Stripe webhook). Decorated routes check from their own wrapper
    (in_middleware=False), storage fallback included."""

    def _check_request_limit(self, callable_name: str | None = None, in_middleware: bool = True) -> None:
        if in_middleware:
            return
        super()._check_request_limit(callable_name, in_middleware)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
limiter = RouteLimiter(key_func=get_remote_address, default_limits=[])
