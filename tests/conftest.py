"""Fixtures: a real database (PostgreSQL when DATABASE_URL says so, else SQLite), a real Redis, the app."""

from __future__ import annotations

import contextvars
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from redis import Redis

ROOT = Path(__file__).resolve().parent.parent


class IsolatedClient(FlaskClient):
    """Runs every request in a fresh context, as in production: its own app context, `g` and DB session.

    Flask would otherwise reuse the test's pushed app context, sharing `g` (CSRF tokens) and the session.
    """

    def open(self, *args, **kwargs):
        return contextvars.Context().run(super().open, *args, **kwargs)


_SESSION = f"{os.getpid()}_{secrets.token_hex(3)}"


def _pg_admin_url(url: str) -> str:
    from app.config import normalise_database_url

    return normalise_database_url(url)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    """A database of our own for this run: created here, dropped at the end."""
    given = os.environ.get("DATABASE_URL", "")
    if not given.startswith(("postgres://", "postgresql")):
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
        return
    admin_url = _pg_admin_url(given)
    name = f"advancia_test_{_SESSION}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    parts = urlsplit(admin_url)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory) -> str:
    """A Redis DB number of our own on the given server, or an embedded server for this run."""
    given = os.environ.get("REDIS_URL", "")
    if not given:
        from app.embedded_redis import EmbeddedRedis

        # Unix socket paths are limited to ~100 bytes: keep the directory short.
        server = EmbeddedRedis(Path("/tmp") / f"advancia-redis-{_SESSION}")
        url = server.start()
        yield url
        server.stop()
        return
    parts = urlsplit(given)
    for db_number in range(1, 16):
        url = urlunsplit(parts._replace(path=f"/{db_number}"))
        conn = Redis.from_url(url)
        # An empty DB that we can claim; a claim expires if a run dies without cleaning up.
        if conn.dbsize() == 0 and conn.set("advancia:test-run", _SESSION, nx=True, ex=3 * 3600):
            yield url
            conn.flushdb()
            return
    pytest.fail("no free Redis DB number (1-15) on REDIS_URL")


@pytest.fixture(scope="session")
def app(database_url, redis_url, tmp_path_factory):
    instance = tmp_path_factory.mktemp("instance")
    os.environ.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        ADVANCIA_INSTANCE_DIR=str(instance),
        SECRET_KEY="test-secret-key",
        ADVANCIA_ENV="test",
    )
    from app import create_app
    from app.extensions import db

    application = create_app({"TESTING": True})
    application.test_client_class = IsolatedClient
    with application.app_context():
        from flask_migrate import upgrade

        upgrade(directory=str(ROOT / "migrations"))
    yield application
    with application.app_context():
        db.engine.dispose()


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Each test starts with empty tables and an empty Redis DB."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    # The test body gets an app context; each client request gets its own (see IsolatedClient).
    context = app.app_context()
    context.push()
    yield
    from app.extensions import db

    db.session.rollback()
    tables = [t.name for t in db.metadata.sorted_tables]
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
        else:
            for name in reversed(tables):
                conn.execute(sa.text(f'DELETE FROM "{name}"'))
    context.pop()
    Redis.from_url(app.config["REDIS_URL"]).flushdb()


@pytest.fixture
def db(app):
    from app.extensions import db as database

    return database


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def redis(app) -> Redis:
    return Redis.from_url(app.config["REDIS_URL"])


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html) or re.search(
        r'name="csrf_token" type="hidden" value="([^"]+)"', html
    )
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client, email: str, password: str, *, follow: bool = False):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post(
        "/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=follow
    )


@pytest.fixture
def operator(db):
    from tests.factories import make_user

    return make_user(role="admin", email="op@example.com", password="correct horse battery")


@pytest.fixture
def operator_client(client, operator):
    response = login(client, "op@example.com", "correct horse battery")
    assert response.status_code == 302
    return client


@pytest.fixture
def run_worker(app):
    """Runs a real `rq worker --burst` process against the test Redis and database."""

    def run(queue: str = "default", timeout: int = 120) -> subprocess.CompletedProcess:
        env = dict(os.environ)
        return subprocess.run(
            [str(Path(sys.executable).parent / "rq"), "worker", "--burst", "--url", app.config["REDIS_URL"], queue],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


@pytest.fixture
def stripe_fake(app):
    """The loopback Stripe (tests/fakes/stripe_server.py) with the app and its worker processes pointed at it."""
    from tests.fakes.stripe_server import FakeStripe

    fake = FakeStripe()
    settings = {
        "STRIPE_SECRET_KEY": fake.api_key,
        "STRIPE_WEBHOOK_SECRET": fake.webhook_secret,
        "STRIPE_API_BASE": fake.start(),
    }
    saved_config = {key: app.config.get(key) for key in settings}
    saved_env = {key: os.environ.get(key) for key in settings}
    app.config.update(settings)
    os.environ.update(settings)  # `rq worker` subprocesses build their app from the environment
    yield fake
    app.config.update(saved_config)
    for key, value in saved_env.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    fake.stop()
