"""Talking to the SMTP server: one connection per delivery run, reused, and each failure sorted into
"retry later", "give up on this message" or "the server is the problem: stop this run"."""

from __future__ import annotations

import contextlib
import ipaddress
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    user: str
    password: str
    use_ssl: bool
    starttls: bool
    timeout: int
    #: the name we give in EHLO; smtplib's default (socket.getfqdn) can stall on a reverse DNS lookup
    local_hostname: str

    @classmethod
    def from_config(cls, config: Any) -> SmtpSettings | None:
        """None when no server is configured (SMTP_HOST empty): the outbox holds mail instead."""
        if not config.get("SMTP_HOST"):
            return None
        return cls(
            host=config["SMTP_HOST"],
            port=int(config["SMTP_PORT"]),
            user=config.get("SMTP_USER", ""),
            password=config.get("SMTP_PASSWORD", ""),
            use_ssl=bool(config.get("SMTP_SSL")),
            starttls=bool(config.get("SMTP_STARTTLS")),
            timeout=int(config.get("SMTP_TIMEOUT", 30)),
            local_hostname=_ehlo_name(config.get("PUBLIC_URL", "")),
        )

    @property
    def description(self) -> str:
        security = "TLS" if self.use_ssl else "STARTTLS" if self.starttls else "no TLS"
        login = f", as {self.user}" if self.user else ""
        return f"{self.host}:{self.port} ({security}{login})"


def _ehlo_name(public_url: str) -> str:
    host = urlsplit(public_url).hostname or "localhost"
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return host
    return f"[{host}]"  # RFC 5321 address literal


class DeliveryFailure(Exception):
    """A message was not delivered. `permanent`: the server refused this message for good (5xx), retrying the same
    bytes cannot help. `server_problem`: the server, the network or our credentials failed, not this message."""

    def __init__(self, reason: str, *, permanent: bool = False, server_problem: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent
        self.server_problem = server_problem


class SmtpConnection:
    """Opens on the first send and stays open for the rest of the run; close() (or `with`) ends it."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def send(self, mime: EmailMessage, *, from_addr: str, to_addrs: list[str]) -> None:
        reused = self._smtp is not None
        try:
            self._send(mime, from_addr, to_addrs)
        except smtplib.SMTPServerDisconnected as exc:
            self._drop()
            if not reused:
                raise DeliveryFailure(f"server disconnected: {exc}", server_problem=True) from exc
            # Servers close idle connections; one fresh connection decides.
            try:
                self._send(mime, from_addr, to_addrs)
            except smtplib.SMTPServerDisconnected as again:
                self._drop()
                raise DeliveryFailure(f"server disconnected: {again}", server_problem=True) from again

    def _send(self, mime: EmailMessage, from_addr: str, to_addrs: list[str]) -> None:
        try:
            if self._smtp is None:
                self._smtp = self._connect()
            self._smtp.send_message(mime, from_addr=from_addr, to_addrs=to_addrs)
        except smtplib.SMTPServerDisconnected:
            raise
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            detail = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in exc.recipients.items())
            raise DeliveryFailure(f"recipient refused: {detail}", permanent=all(c >= 500 for c in codes)) from exc
        except (
            smtplib.SMTPConnectError,
            smtplib.SMTPHeloError,
            smtplib.SMTPAuthenticationError,
            smtplib.SMTPSenderRefused,
        ) as exc:
            # No greeting, or our name, login or sender address refused: the same for every message.
            self._drop()
            raise DeliveryFailure(f"{exc.smtp_code} {_text(exc.smtp_error)}", server_problem=True) from exc
        except smtplib.SMTPResponseException as exc:
            # Refused at DATA: 5xx is about this message (size, content, policy), 4xx is "try later".
            raise DeliveryFailure(f"{exc.smtp_code} {_text(exc.smtp_error)}", permanent=exc.smtp_code >= 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            # Refused connection, timeout, TLS failure, STARTTLS not offered: the server side.
            self._drop()
            raise DeliveryFailure(f"{type(exc).__name__}: {exc}", server_problem=True) from exc

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        if s.use_ssl:
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, local_hostname=s.local_hostname, context=ssl.create_default_context()
            )
        else:
            smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout, local_hostname=s.local_hostname)
        try:
            smtp.ehlo()
            if s.starttls and not s.use_ssl:
                # Raises SMTPNotSupportedError when the server does not offer it: never fall back to plain text.
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            if s.user:
                smtp.login(s.user, s.password)
        except BaseException:
            _quietly_close(smtp)
            raise
        return smtp

    def _drop(self) -> None:
        if self._smtp is not None:
            _quietly_close(self._smtp)
            self._smtp = None

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(OSError, smtplib.SMTPException):
                self._smtp.quit()
            self._drop()


def _quietly_close(smtp: smtplib.SMTP) -> None:
    with contextlib.suppress(OSError):
        smtp.close()


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
