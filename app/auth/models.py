"""People who can sign in: the operator (admin) and customers."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db_types import UTCDateTime, str_enum, utcnow
from app.extensions import db


class Role(enum.StrEnum):
    ADMIN = "admin"
    CUSTOMER = "customer"


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: stored lower-case; the sign-in name
    email: Mapped[str] = mapped_column(String(254), unique=True, nullable=False)
    #: werkzeug scrypt hash, never the password
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    role: Mapped[Role] = mapped_column(
        str_enum(Role, 16),
        nullable=False,
        default=Role.CUSTOMER,
    )
    #: base32 TOTP secret; kept while enrolment is pending, used once totp_enabled is set
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False, nullable=False)
    #: last TOTP time-step accepted, so one code cannot be replayed
    totp_last_step: Mapped[int | None] = mapped_column()
    is_active_flag: Mapped[bool] = mapped_column("is_active", Boolean, default=True, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_active(self) -> bool:  # Flask-Login asks this
        return self.is_active_flag

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN
