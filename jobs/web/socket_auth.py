"""The tab socket for programs (issue T): a person's API token instead of a session cookie.

The token comes in `Authorization: Bearer <token>` (scripts), or, for a browser's
WebSocket (which cannot set headers), as a subprotocol `comfyweb.token.<token>` offered beside
`comfyweb`, which the server then accepts. A socket with a token carries no cookie, so the
Origin check that guards cookie sockets against other sites does not apply to it; a token
that is unknown, revoked or expired closes the handshake (HTTP 403).
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from jobs.people import tokens

SUBPROTOCOL = "comfyweb"
TOKEN_SUBPROTOCOL = "comfyweb.token."


def token_in(scope: dict[str, Any]) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return tokens.from_authorization(value.decode("latin-1"))
    for offered in scope.get("subprotocols") or []:
        if offered.startswith(TOKEN_SUBPROTOCOL):
            return offered[len(TOKEN_SUBPROTOCOL) :]
    return None


def chosen_subprotocol(scope: dict[str, Any]) -> str | None:
    """What the server accepts of the subprotocols the client offered."""
    return SUBPROTOCOL if SUBPROTOCOL in (scope.get("subprotocols") or []) else None


class TokenGate:
    """Sockets with a token go to `with_token` with the person in scope["user"]; the rest to
    `with_cookie` (the session and Origin checks)."""

    def __init__(self, with_token: Any, with_cookie: Any) -> None:
        self.with_token, self.with_cookie = with_token, with_cookie

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        token = token_in(scope) if scope["type"] == "websocket" else None
        if token is None:
            return await self.with_cookie(scope, receive, send)
        found = await database_sync_to_async(tokens.find)(token)
        if found is None:
            await receive()  # websocket.connect
            await send({"type": "websocket.close", "code": 4401})
            return None
        return await self.with_token({**scope, "user": found.user, "api_token": found}, receive, send)
