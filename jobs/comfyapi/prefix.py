"""A token in the path (issue T, X): for clients that take only a base URL.

`http://host:8288/t/<token>/` is the pool as one ComfyUI server for the token's person: the
prefix is taken off the path and becomes `Authorization: Bearer <token>`, so the routes and
the identity (jobs.comfyapi.identity) see one way of carrying a token.
"""

from __future__ import annotations

import re
from typing import Any

PREFIX = re.compile(r"^/t/([A-Za-z0-9_\-]{1,200})(/.*)?$")


class TokenPrefix:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        match = PREFIX.match(scope.get("path", "")) if scope["type"] in ("http", "websocket") else None
        if match is not None:
            path = match.group(2) or "/"
            headers = [(k, v) for k, v in scope.get("headers", []) if k != b"authorization"]
            headers.append((b"authorization", f"Bearer {match.group(1)}".encode()))
            scope = {**scope, "path": path, "raw_path": path.encode(), "headers": headers}
        await self.app(scope, receive, send)
