"""`flask api-token create NAME | revoke ID | list`: tokens for scripts, without the settings screen."""

from __future__ import annotations

import click
from flask import Flask

from app.extensions import db


def register_api_token_cli(app: Flask) -> None:
    @app.cli.group("api-token")
    def api_token_group() -> None:
        """API tokens for /api/v1."""

    @api_token_group.command("create")
    @click.argument("name")
    def create(name: str) -> None:
        """Create a token; the token itself is printed once, on the last line."""
        from app.access.tokens import ApiTokenError, create_api_token

        try:
            row, token = create_api_token(name, actor="cli")
        except ApiTokenError as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        click.echo(f"API token {row.id} ({row.name}) created; it is shown only now:")
        click.echo(token)

    @api_token_group.command("revoke")
    @click.argument("token_id", type=int)
    def revoke(token_id: int) -> None:
        """Revoke a token by its id (see `flask api-token list`)."""
        from app.access.tokens import ApiTokenError, revoke_api_token

        try:
            row = revoke_api_token(token_id, actor="cli")
        except ApiTokenError as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        click.echo(f"API token {row.id} ({row.name}, {row.prefix}…) revoked at {row.revoked_at:%Y-%m-%d %H:%M} UTC")

    @api_token_group.command("list")
    def list_tokens() -> None:
        """Every token: id, prefix, name, last use, revocation."""
        from app.access.tokens import list_api_tokens

        for row in list_api_tokens():
            used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
            state = f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "active"
            click.echo(f"{row.id:>5}  {row.prefix}…  {row.name:<30}  last used {used:<16}  {state}")
