"""Who is calling the ComfyUI endpoint: the one place a request becomes an owner.

Ownership in ComfyWeb is a key on tabs, jobs and uploads (the browser session's key for the
page). Here, in `open` mode and when COMFYWEB_COMFYUI_ANONYMOUS allows it, every caller is the
one anonymous identity ANONYMOUS: they share its uploads, history and files, and each clientId
keeps its own tab, socket frames and queue count (docs/comfyui-endpoint.md, "Who is calling").
With a person's API token (issue T: `Authorization: Bearer <token>`, HTTP Basic with the
token as the password, as comfy-api-simplified and SillyTavern send it, or a `/t/<token>/`
path prefix, which jobs.comfyapi.prefix turns into the Bearer header) the caller is that
person: their quotas, permissions and gallery. A token that is unknown, revoked or expired
is refused, never taken for the anonymous identity.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from jobs.people import owners, tokens

ANONYMOUS = "comfyui:anonymous"
# Tabs of ComfyUI clients are named from (owner, clientId): the same client finds its tab again.
TAB_NAMESPACE = uuid.UUID("6f1c7d4e-2a0b-5c38-9e61-c0ffee0c0f1e")
MAX_CLIENT_NAME = 200


@dataclass(frozen=True)
class Caller:
    owner_key: str
    client_name: str  # Comfy-Usage-Source or User-Agent: shown in the gallery


def _headers(request_or_scope: HttpRequest | Mapping[str, Any]) -> dict[str, str]:
    if not isinstance(request_or_scope, Mapping):
        return {k.lower(): v for k, v in request_or_scope.headers.items()}
    raw: Any = request_or_scope.get("headers") or []
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


def token_in(headers: Mapping[str, str]) -> str | None:
    """A ComfyWeb token from `Authorization`: Bearer, or Basic with the token as the password.
    Only a value shaped like one of ours (tokens.PREFIX) counts: clients such as Open WebUI
    send `Bearer <whatever key its user typed>` to any ComfyUI, and ComfyUI ignores it."""
    found = tokens.from_authorization(headers.get("authorization", ""), basic=True)
    return found if found and found.startswith(tokens.PREFIX) else None


def caller_of(request_or_scope: HttpRequest | Mapping[str, Any]) -> Caller | None:
    """The caller of a request or a socket's scope; None when it may not call at all (a bad
    token; no token where anonymous callers are not allowed, or in accounts mode). Reads the
    database for a token: call it from a thread in async code."""
    headers = _headers(request_or_scope)
    name = (headers.get("comfy-usage-source") or headers.get("user-agent") or "").strip()
    token = token_in(headers)
    if token is not None:
        found = tokens.find(token)
        if found is None:
            return None
        return Caller(owners.of_user(found.user_id), (name or f"API token {found.name}")[:MAX_CLIENT_NAME])
    if not settings.COMFYWEB_COMFYUI_ANONYMOUS or settings.COMFYWEB_ACCESS == "accounts":
        return None  # accounts mode: every caller is a person, with a token
    return Caller(ANONYMOUS, name[:MAX_CLIENT_NAME])


def tab_of(caller: Caller, client_id: Any) -> uuid.UUID:
    """The tab of a clientId of this caller; a prompt with none gets a tab of its own."""
    if not isinstance(client_id, str) or not client_id:
        return uuid.uuid4()
    return uuid.uuid5(TAB_NAMESPACE, f"{caller.owner_key}\n{client_id}")
