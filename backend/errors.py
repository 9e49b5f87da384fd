"""The one error type handlers raise; the middleware turns it into a JSON response."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A refusal the caller can act on. Messages never contain personal data."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra
        self.headers: dict[str, str] = {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}


def invalid_field(field: str, message: str) -> ApiError:
    return ApiError(400, "invalid_field", message, field=field)
