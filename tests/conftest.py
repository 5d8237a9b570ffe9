"""Fixtures: a real database (PostgreSQL when DATABASE_URL says so, else SQLite), a real Redis, the app."""

from __future__ import annotations

import contextvars
import os
import re
import secrets
import subprocess
import sys
from dataclasses import dataclass
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
#: marks a Redis DB number as taken by one test run (see redis_url)
_REDIS_CLAIM_KEY = "advancia:test-run"


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
        if conn.dbsize() == 0 and conn.set(_REDIS_CLAIM_KEY, _SESSION, nx=True, ex=3 * 3600):
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
        # drain jobs end as soon as the queue is empty (tests/payments/stripe/test_webhook_receiving.py checks the
        # settle time with its own value)
        STRIPE_DRAIN_SETTLE_MS="0",
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
    _flush_keeping_claim(app.config["REDIS_URL"])


def _flush_keeping_claim(url: str) -> None:
    """Empty our Redis DB but keep its claim, in one MULTI, so a parallel run never sees it free and takes it."""
    conn = Redis.from_url(url)
    claim = conn.get(_REDIS_CLAIM_KEY)
    pipe = conn.pipeline(transaction=True)
    pipe.flushdb()
    if claim is not None:
        pipe.set(_REDIS_CLAIM_KEY, claim, ex=3 * 3600)
    pipe.execute()


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
def webhook_receiver(db):
    """A loopback HTTP receiver registered as a webhook endpoint for every event; checks signatures."""
    from tests.factories import make_webhook_endpoint
    from tests.fakes.webhook_receiver import WebhookReceiver

    receiver = WebhookReceiver()
    url = receiver.start()
    receiver.endpoint = make_webhook_endpoint(url=url)
    receiver.secret = receiver.endpoint.secret
    yield receiver
    receiver.stop()


@pytest.fixture
def api_token(db) -> str:
    """A live API token (the token itself); its row is make_api_token's."""
    from tests.factories import make_api_token

    return make_api_token()[1]


# --- Email: a real SMTP server (aiosmtpd) on loopback ------------------------------------------------------------

SMTP_TEST_USER = "mailer"
SMTP_TEST_PASSWORD = "mail-secret-1"


def free_port() -> int:
    """A port nothing listens on right now (aiosmtpd's Controller cannot take port 0)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """The aiosmtpd handler: keeps what arrives, answers with queued replies first ("451 ..."), and can hold
    DATA until a number of SMTP sessions are open at once (to make two workers overlap)."""

    def __init__(self) -> None:
        import threading

        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            #: (envelope sender, recipients, parsed email.message.EmailMessage, login or None)
            self.received: list[tuple] = []
            self.replies: list[str] = []
            self.sessions = 0
            self.hold_data_until_sessions = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.sessions += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        import asyncio
        import email
        import email.policy

        for _ in range(3000):  # at most 30 s, then let it through (the test's assertions will say why)
            if self.sessions >= self.hold_data_until_sessions:
                break
            await asyncio.sleep(0.01)
        with self.lock:
            if self.replies:
                return self.replies.pop(0)
            message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            login = session.auth_data.login.decode() if session.authenticated else None
            self.received.append((envelope.mail_from, list(envelope.rcpt_tos), message, login))
        return "250 2.0.0 OK"


@dataclass
class SmtpServer:
    host: str
    port: int
    sink: SmtpSink

    @property
    def messages(self) -> list:
        """The emails that arrived, parsed (email.message.EmailMessage), in arrival order."""
        with self.sink.lock:
            return [m for _, _, m, _ in self.sink.received]

    @property
    def envelopes(self) -> list[tuple]:
        with self.sink.lock:
            return [(sender, rcpts, login) for sender, rcpts, _, login in self.sink.received]

    def fail_next(self, reply: str, times: int = 1) -> None:
        """The next `times` DATA commands get `reply` (e.g. "451 4.3.0 try later") instead of 250."""
        with self.sink.lock:
            self.sink.replies.extend([reply] * times)


@pytest.fixture(scope="session")
def _smtp_controller():
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login == SMTP_TEST_USER.encode() and auth_data.password == SMTP_TEST_PASSWORD.encode()
        return AuthResult(success=ok, handled=False, auth_data=auth_data)

    sink = SmtpSink()
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator,
        auth_require_tls=False,  # loopback only: lets the tests prove SMTP_USER/SMTP_PASSWORD are used
    )
    controller.start()
    yield controller, sink
    controller.stop()


@pytest.fixture
def smtp_server(app, _smtp_controller, monkeypatch) -> SmtpServer:
    """A real SMTP server on loopback, configured for this test in the app and for worker processes (env)."""
    controller, sink = _smtp_controller
    sink.reset()
    settings = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(controller.port), "SMTP_STARTTLS": "0", "SMTP_SSL": "0"}
    for key, value in settings.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", controller.port)
    monkeypatch.setitem(app.config, "SMTP_STARTTLS", False)
    monkeypatch.setitem(app.config, "SMTP_SSL", False)
    return SmtpServer("127.0.0.1", controller.port, sink)


@pytest.fixture(autouse=True)
def _uploads_in_a_temp_dir(request, tmp_path):
    """Uploaded files (payment scans, the logo) go to this test's own folder, never the checkout's instance/."""
    if "app" not in request.fixturenames:
        yield
        return
    app = request.getfixturevalue("app")
    app.config["UPLOADS_DIR"] = str(tmp_path / "uploads")
    yield
    app.config.pop("UPLOADS_DIR", None)


@pytest.fixture
def fresh_reads(app, monkeypatch):
    """After each client request, end the test's own transaction, so its next read sees what the request committed.

    PostgreSQL (read committed) does this by itself; SQLite in WAL mode keeps showing a transaction the snapshot it
    started with. Use with `pytestmark = pytest.mark.usefixtures("fresh_reads")`."""
    from app.extensions import db

    request_then_end_transaction = IsolatedClient.open

    def open_(self, *args, **kwargs):
        response = request_then_end_transaction(self, *args, **kwargs)
        db.session.commit()
        return response

    monkeypatch.setattr(IsolatedClient, "open", open_)


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
