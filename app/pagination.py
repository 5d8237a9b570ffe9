"""Page-numbered lists: one query for the rows of a page, one for the total."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import abort
from sqlalchemy import Select, func, select

from app.extensions import db

T = TypeVar("T")

#: far enough for any real list; a bigger number is a typo or a probe, answered with the last page's neighbours
MAX_PAGE = 100_000


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages

    @property
    def first_index(self) -> int:
        """1-based position of the first row shown ("21–40 of 312")."""
        return 0 if not self.items else (self.number - 1) * self.per_page + 1

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.items) - 1 if self.items else 0


def page_number(raw: str | None) -> int:
    """The ?page= argument: a missing one is page 1; anything but a positive whole number is a 400."""
    if raw is None or raw == "":
        return 1
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        abort(400, description="page must be a whole number from 1")
    return int(raw)


def paginate(stmt: Select, number: int, per_page: int, *, rows: bool = False) -> Page[Any]:
    """`rows=True` keeps whole result rows (several entities per row); otherwise the first entity of each."""
    total = db.session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    result = db.session.execute(stmt.limit(per_page).offset((number - 1) * per_page))
    items = list(result.all()) if rows else list(result.scalars().all())
    return Page(items=items, number=number, per_page=per_page, total=int(total))
