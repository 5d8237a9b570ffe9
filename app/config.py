"""Every setting of the application, read from the environment with defaults for `make run`."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("ADVANCIA_INSTANCE_DIR", ROOT / "instance"))


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise RuntimeError(f"{name} must be an integer, got {raw!r}") from exc


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def normalise_database_url(url: str) -> str:
    """Accept the usual `postgresql://` and `postgres://` and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def default_database_url() -> str:
    return f"sqlite:///{INSTANCE_DIR / 'advancia.sqlite3'}"


def embedded_redis_url() -> str:
    """The embedded Redis of `make run` listens on a socket in the instance folder."""
    return f"unix://{INSTANCE_DIR / 'redis' / 'redis.sock'}?db=0"


def _development_secret_key() -> str:
    """Keep one random key per checkout so sessions survive restarts of `make run`."""
    path = INSTANCE_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


@dataclass(frozen=True)
class Settings:
    environment: str
    secret_key: str
    database_url: str
    redis_url: str
    public_url: str


def load_settings() -> Settings:
    environment = env_str("ADVANCIA_ENV", "development")
    secret_key = env_str("SECRET_KEY")
    if not secret_key:
        if environment == "production":
            raise RuntimeError("SECRET_KEY must be set when ADVANCIA_ENV=production")
        secret_key = _development_secret_key()
    return Settings(
        environment=environment,
        secret_key=secret_key,
        database_url=normalise_database_url(env_str("DATABASE_URL") or default_database_url()),
        redis_url=env_str("REDIS_URL") or embedded_redis_url(),
        public_url=env_str("PUBLIC_URL", "http://127.0.0.1:5000"),
    )


def limits_storage_uri(redis_url: str) -> str:
    """Flask-Limiter spells a Redis socket `redis+unix://`."""
    return "redis+unix://" + redis_url[len("unix://") :] if redis_url.startswith("unix://") else redis_url


def flask_config(settings: Settings) -> dict:
    production = settings.environment == "production"
    engine_options: dict = {"pool_pre_ping": True}
    if settings.database_url.startswith("sqlite"):
        # Workers and the web server share the file: wait for the writer instead of failing.
        engine_options["connect_args"] = {"timeout": 30}
    return {
        "ENV_NAME": settings.environment,
        "SECRET_KEY": settings.secret_key,
        "SQLALCHEMY_DATABASE_URI": settings.database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "REDIS_URL": settings.redis_url,
        "PUBLIC_URL": settings.public_url,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SECURE": production,
        "WTF_CSRF_TIME_LIMIT": None,
        "RATELIMIT_STORAGE_URI": limits_storage_uri(settings.redis_url),
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
        "RATELIMIT_KEY_PREFIX": "advancia-limits",
        "LOGIN_RATE_LIMIT": env_str("LOGIN_RATE_LIMIT", "10 per minute"),
        "MAX_CONTENT_LENGTH": env_int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024),
        # The card rail (app/payments/stripe): hidden unless both keys are set; STRIPE_API_BASE points the official
        # library at another address (the tests' loopback stand-in).
        "STRIPE_SECRET_KEY": env_str("STRIPE_SECRET_KEY"),
        "STRIPE_WEBHOOK_SECRET": env_str("STRIPE_WEBHOOK_SECRET"),
        "STRIPE_API_BASE": env_str("STRIPE_API_BASE"),
        # Wait for the disk on every stored webhook event (see app/payments/stripe/events.py: _insert_on_postgres).
        "STRIPE_WEBHOOK_SYNCHRONOUS_COMMIT": env_bool("STRIPE_WEBHOOK_SYNCHRONOUS_COMMIT"),
        # How long a drain job keeps looking for stored events before it ends; the web side asks Redis for a new
        # drain job at most every half of it (app/payments/stripe/events.py: request_processing).
        "STRIPE_DRAIN_SETTLE_MS": env_int("STRIPE_DRAIN_SETTLE_MS", 1000),
        **mail_config(),
    }


def mail_config() -> dict:
    """Outgoing email. Without SMTP_HOST nothing is sent: the outbox holds messages (status held)."""
    port = env_int("SMTP_PORT", 587)
    return {
        "SMTP_HOST": env_str("SMTP_HOST"),
        "SMTP_PORT": port,
        "SMTP_USER": env_str("SMTP_USER"),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        # 465 is implicit TLS, 587 the submission port with STARTTLS; either can be forced on or off.
        "SMTP_SSL": env_bool("SMTP_SSL", port == 465),
        "SMTP_STARTTLS": env_bool("SMTP_STARTTLS", port == 587),
        "SMTP_TIMEOUT": env_int("SMTP_TIMEOUT", 30),
        #: "Name <address>"; empty means the business name and email from the settings screen
        "MAIL_FROM": env_str("MAIL_FROM"),
        #: attempts before a message is dead; waits double from OUTBOX_RETRY_SECONDS, capped at 6 hours
        "OUTBOX_MAX_ATTEMPTS": env_int("OUTBOX_MAX_ATTEMPTS", 10),
        "OUTBOX_RETRY_SECONDS": env_int("OUTBOX_RETRY_SECONDS", 60),
        #: a claimed message that is neither sent nor failed after this long (its worker died) is claimed again
        "OUTBOX_LEASE_SECONDS": env_int("OUTBOX_LEASE_SECONDS", 300),
    }
