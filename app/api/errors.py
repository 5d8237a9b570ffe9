"""The API's one error shape: `{"error": {"field": <name or null>, "message": <text>}}` with a 4xx status."""

from __future__ import annotations

from flask import Response, jsonify


class ApiError(Exception):
    """Raised by schemas and handlers; the blueprint turns it into the error shape and rolls back."""

    def __init__(self, status: int, field: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.field = field
        self.message = message

    def response(self) -> tuple[Response, int]:
        return error_response(self.status, self.field, self.message)


def error_response(status: int, field: str | None, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"field": field, "message": message}}), status


def invalid(field: str, message: str) -> ApiError:
    """A field's value cannot be used (422)."""
    return ApiError(422, field, message)


def not_found(field: str, message: str) -> ApiError:
    return ApiError(404, field, message)


def conflict(field: str, message: str) -> ApiError:
    return ApiError(409, field, message)
