"""What customers see on the status page: public components and the health checks each one depends on."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from app.ops.models import SEVERITY, CheckStatus


@dataclass(frozen=True)
class Component:
    key: str
    name: str
    #: a component is as healthy as the worst of these checks (skipped ones do not count)
    checks: tuple[str, ...]
    group: str = ""


COMPONENTS: tuple[Component, ...] = (
    Component("api", "API", ("web", "database")),
    Component("dashboard", "Dashboard and customer pages", ("pages", "database")),
    Component("payments_card", "Card payments (Stripe)", ("ext:stripe", "database"), group="Payments"),
    Component("payments_bank", "Bank transfers (Plaid)", ("ext:plaid", "database"), group="Payments"),
    Component("payments_btc", "Bitcoin", ("ext:esplora", "database"), group="Payments"),
    Component("payments_eth", "Ethereum and USDC", ("ext:eth_rpc", "database"), group="Payments"),
    Component("jobs", "Background jobs", ("redis", "workers", "scheduler")),
    Component("email", "Email delivery", ("ext:smtp", "redis", "workers")),
)
BY_KEY: dict[str, Component] = {c.key: c for c in COMPONENTS}

#: checks that only the operator sees: they open internal incidents
INTERNAL_CHECKS = ("disk", "tls", "backups")
#: the check whose own configuration decides whether a component is monitored at all
_DEFINING_CHECK = {
    "payments_card": "ext:stripe",
    "payments_bank": "ext:plaid",
    "payments_btc": "ext:esplora",
    "payments_eth": "ext:eth_rpc",
    "email": "ext:smtp",
}


def worst(statuses: Iterable[CheckStatus]) -> CheckStatus:
    return max(statuses, key=SEVERITY.__getitem__, default=CheckStatus.SKIPPED)


def component_status(component: Component, results: Mapping[str, CheckStatus]) -> CheckStatus:
    """SKIPPED means "not monitored": its defining service is not configured, or no check of it has run."""
    defining = _DEFINING_CHECK.get(component.key)
    if defining and results.get(defining, CheckStatus.SKIPPED) == CheckStatus.SKIPPED:
        return CheckStatus.SKIPPED
    return worst(results[c] for c in component.checks if c in results)


def affected_components(check: str, results: Mapping[str, CheckStatus]) -> list[str]:
    """Public components that depend on `check` and are monitored in this run (the database touches every rail)."""
    return [c.key for c in COMPONENTS if check in c.checks and component_status(c, results) != CheckStatus.SKIPPED]
