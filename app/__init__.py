"""The Advancia Mini application factory."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.config import INSTANCE_DIR, ROOT, flask_config, load_settings
from app.extensions import csrf, db, htmx, limiter, login_manager, migrate


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(INSTANCE_DIR),
    )
    app.config.update(flask_config(load_settings()))
    app.config.update(overrides or {})
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)

    _import_models()
    db.init_app(app)
    with app.app_context():
        from app.sqlite_support import configure_sqlite

        configure_sqlite(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    _init_login(app)
    _register_blueprints(app)

    from app.web import register_web_hooks

    register_web_hooks(app)

    from app.cli import register_cli

    register_cli(app)
    return app


def _import_models() -> None:
    """Every model module, so Alembic and create_all see the whole schema."""
    from app.access import models as _access  # noqa: F401
    from app.api import models as _api  # noqa: F401
    from app.audit import models as _audit  # noqa: F401
    from app.auth import models as _auth  # noqa: F401
    from app.automation import models as _automation  # noqa: F401
    from app.billing import models as _billing  # noqa: F401
    from app.customers import models as _customers  # noqa: F401
    from app.ledger import models as _ledger  # noqa: F401
    from app.notifications import models as _notifications  # noqa: F401
    from app.ops import models as _ops  # noqa: F401
    from app.payments import models as _payments  # noqa: F401
    from app.payments.stripe import models as _stripe  # noqa: F401
    from app.settings import models as _settings  # noqa: F401


def _init_login(app: Flask) -> None:
    from app.auth.models import User

    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Sign in to continue."
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str) -> User | None:
        return db.session.get(User, int(user_id)) if user_id.isdigit() else None


def _register_blueprints(app: Flask) -> None:
    from app.auth.views import bp as auth_bp
    from app.automation.views import bp as automation_bp
    from app.dashboard.views import bp as dashboard_bp
    from app.shell.views import bp as shell_bp

    for bp in (auth_bp, dashboard_bp, automation_bp, shell_bp):
        app.register_blueprint(bp)

    from app.access.views import bp as access_bp
    from app.api.views import bp as api_bp

    app.register_blueprint(access_bp)
    app.register_blueprint(api_bp)

    from app.billing.document_views import bp as documents_bp
    from app.notifications.views import bp as outbox_bp

    app.register_blueprint(documents_bp)
    app.register_blueprint(outbox_bp)

    from app.ops.cli import bp as ops_cli_bp
    from app.ops.public_views import bp as ops_public_bp
    from app.ops.views import bp as ops_bp

    app.register_blueprint(ops_public_bp)
    app.register_blueprint(ops_bp)
    app.register_blueprint(ops_cli_bp)

    from app.billing.plan_views import bp as plans_bp
    from app.billing.views import bp as billing_bp
    from app.checkout.views import bp as checkout_bp
    from app.customers.subscription_views import bp as customer_subscriptions_bp
    from app.customers.views import bp as customers_bp
    from app.payments.views import bp as payments_bp
    from app.settings.views import bp as settings_bp

    for bp in (customers_bp, customer_subscriptions_bp, billing_bp, plans_bp, payments_bp, settings_bp, checkout_bp):
        app.register_blueprint(bp)

    from app.payments.stripe.web import register_card_rail

    register_card_rail(app)
