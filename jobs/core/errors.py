"""Refusals of the service layer; the API and the tab socket turn them into JSON errors."""

from __future__ import annotations

import uuid
from typing import Any


class ServiceError(Exception):
    """A request the service refuses; `code` and `status` become the JSON error (SPEC §4)."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        if status is not None:
            self.status = status


class NotFound(ServiceError):
    status = 404


class Forbidden(ServiceError):
    status = 403


def parse_uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        raise ServiceError("invalid_id", f"{what} is not a valid id.", field=what) from None
