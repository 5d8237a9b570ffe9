"""Operations settings that come from the environment (where services live), not from the settings screen.

Read at call time from app.config first, then the environment, so a worker process sees what its env says and a
test can point one app at a loopback stand-in.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from flask import current_app

from app.config import INSTANCE_DIR

PLAID_HOSTS = {
    "sandbox": "https://sandbox.plaid.com",
    "development": "https://development.plaid.com",
    "production": "https://production.plaid.com",
}


def ops_env(name: str, default: str = "") -> str:
    value = current_app.config.get(name)
    if value in (None, ""):
        value = os.environ.get(name, default)
    return str(value).strip()


def public_url() -> str:
    return ops_env("PUBLIC_URL", "http://127.0.0.1:5000").rstrip("/")


def instance_dir() -> Path:
    return Path(current_app.instance_path or INSTANCE_DIR)


def backup_dir() -> Path:
    configured = ops_env("BACKUP_DIR")
    return Path(configured) if configured else instance_dir() / "backups"


def slack_webhook_url() -> str:
    return ops_env("SLACK_WEBHOOK_URL")


@dataclass(frozen=True)
class Endpoint:
    #: the check's name suffix: "stripe" -> check "ext:stripe"
    name: str
    label: str
    host: str
    port: int
    #: SMTP greets with a 220 line: reading it proves the server answers, at no cost
    expect_banner: bytes = b""


def _endpoint_from_url(name: str, label: str, url: str) -> Endpoint | None:
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
    return Endpoint(name, label, parts.hostname, port)


def external_endpoints() -> list[Endpoint]:
    """Only the services this installation configures; each is checked with a TCP connect, never an API call."""
    found: list[Endpoint | None] = []
    if ops_env("STRIPE_SECRET_KEY") or ops_env("STRIPE_API_BASE"):
        found.append(_endpoint_from_url("stripe", "Stripe", ops_env("STRIPE_API_BASE", "https://api.stripe.com")))
    plaid = ops_env("PLAID_HOST")
    if plaid:
        found.append(_endpoint_from_url("plaid", "Plaid", PLAID_HOSTS.get(plaid.lower(), plaid)))
    if ops_env("ESPLORA_URL"):
        found.append(_endpoint_from_url("esplora", "Esplora", ops_env("ESPLORA_URL")))
    if ops_env("ETH_RPC_URL"):
        found.append(_endpoint_from_url("eth_rpc", "Ethereum RPC", ops_env("ETH_RPC_URL")))
    smtp_host = ops_env("SMTP_HOST")
    if smtp_host:
        port = int(ops_env("SMTP_PORT", "587") or 587)
        # Port 465 speaks TLS first, so there is no plain greeting to read.
        found.append(Endpoint("smtp", "SMTP", smtp_host, port, expect_banner=b"" if port == 465 else b"220"))
    return [e for e in found if e is not None]


#: every external check the watchdog may run, for "not configured" rows
EXTERNAL_NAMES = {"stripe": "Stripe", "plaid": "Plaid", "esplora": "Esplora", "eth_rpc": "Ethereum RPC", "smtp": "SMTP"}
