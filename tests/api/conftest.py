"""An API client: the Flask test client with the Bearer token on every request."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select


class ApiClient:
    def __init__(self, client, token: str) -> None:
        self.client = client
        self.token = token

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **params):
        return self.client.get(f"/api/v1{path}", headers=self._headers(), query_string=params)

    def post(self, path: str, body, *, idempotency_key: str | None = None):
        headers = self._headers() | ({"Idempotency-Key": idempotency_key} if idempotency_key is not None else {})
        return self.client.post(f"/api/v1{path}", headers=headers, json=body)


@pytest.fixture
def api(client, api_token) -> ApiClient:
    return ApiClient(client, api_token)


def row_counts(db) -> dict[str, int]:
    """Every table's row count, to show that a refused request changed nothing."""
    db.session.rollback()  # a fresh snapshot: requests commit in their own sessions
    counts = {}
    for table in db.metadata.sorted_tables:
        counts[table.name] = db.session.scalar(select(func.count()).select_from(table))
    db.session.rollback()
    return counts


def assert_error(response, status: int, field: str | None) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    error = response.get_json()["error"]
    assert error["field"] == field, error
    assert error["message"]
    return error
