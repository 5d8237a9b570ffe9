"""The project's own `flask` commands."""

from __future__ import annotations

import secrets

import click
from flask import Flask

from app.extensions import db


def register_cli(app: Flask) -> None:
    from app.access.cli import register_api_token_cli

    register_api_token_cli(app)

    @app.cli.command("create-admin")
    @click.argument("email")
    @click.option("--password", envvar="ADMIN_PASSWORD", help="Defaults to a random one, printed once.")
    def create_admin(email: str, password: str | None) -> None:
        """Create an operator account."""
        from app.auth.models import Role
        from app.auth.service import AccountError, create_user

        generated = password is None
        password = password or secrets.token_urlsafe(12)
        try:
            user = create_user(email, password, Role.ADMIN, actor="cli")
        except AccountError as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        click.echo(f"operator {user.email} created")
        if generated:
            click.echo(f"password: {password}")

    @app.cli.command("seed-demo")
    @click.option("--customers", default=2000, show_default=True)
    @click.option("--months", default=36, show_default=True)
    @click.option("--seed", "seed_value", default=1, show_default=True)
    @click.option("--if-empty", is_flag=True, help="Do nothing when an operator already exists.")
    def seed_demo(customers: int, months: int, seed_value: int, if_empty: bool) -> None:
        """Build a deterministic demo business."""
        from app.demo.seed import DemoOptions, database_is_empty, seed_demo_data

        if if_empty and not database_is_empty():
            click.echo("demo data already present; nothing to do")
            return
        report = seed_demo_data(DemoOptions(customers=customers, months=months, seed=seed_value))
        for key, value in report.items():
            click.echo(f"{key}: {value}")

    @app.cli.group("ledger")
    def ledger_group() -> None:
        """The double-entry books."""

    @ledger_group.command("check")
    def ledger_check() -> None:
        """Prove every transaction balances and every invoice, payment and credit agrees with the books."""
        from app.ledger.service import check_books, trial_balance

        problems = check_books()
        for (account, currency), amount in sorted(trial_balance().items()):
            click.echo(f"{account:<22} {currency:<5} {amount:>16}")
        if problems:
            for problem in problems:
                click.echo(f"PROBLEM: {problem}", err=True)
            raise click.ClickException(f"{len(problems)} problem(s) in the books")
        click.echo("books balance: every transaction sums to zero; invoices, payments and credit agree")

    @app.cli.command("run-job")
    @click.argument("name")
    def run_job(name: str) -> None:
        """Run one scheduled job now, in this process."""
        import importlib

        from workers.schedule import BY_NAME

        if name not in BY_NAME:
            raise click.ClickException(f"unknown job {name!r}; known: {', '.join(sorted(BY_NAME))}")
        module, func = BY_NAME[name].func.rsplit(".", 1)
        click.echo(getattr(importlib.import_module(module), func)())
