"""Who is asking (issue U): the owner key of a request or a socket, and accounts mode's rule
that every page, API call and socket needs a signed-in person.

The owner key (jobs.people.owners) is the one place the two modes differ for the rest of
the app: a signed-in person owns by their account, anyone else by their browser session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse

from jobs.people import owners, tokens
from jobs.web.http import json_error

# Reachable without signing in, in accounts mode: signing in and up, password reset, the
# probes and metrics (their own token), static files, translations, the API's description.
PUBLIC_PREFIXES = (
    "/accounts/",
    "/static/",
    "/healthz",
    "/metrics",
    "/i18n/",
    "/jsi18n/",
    "/admin/login/",
    "/api/openapi.json",
    "/api/docs",
)
# Where the anonymous session a person signed in from is remembered (for adoption).
ANONYMOUS_OWNER = "comfyweb_anonymous_owner"


def accounts_mode() -> bool:
    return settings.COMFYWEB_ACCESS == "accounts"


def token_of(request: HttpRequest) -> Any:
    """The API token the request came with (jobs.people.models.ApiToken), or None."""
    return getattr(request, "api_token", None)


def owner_of(request: HttpRequest) -> str | None:
    """The owner key of a request: the person's, else the session's (None: no session yet,
    or, in accounts mode, nobody signed in)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return owners.of_user(user.pk)
    if accounts_mode():
        return None
    key = request.session.session_key
    if key and request.session.get(ANONYMOUS_OWNER) != key:
        request.session[ANONYMOUS_OWNER] = key  # kept through sign-in's key rotation
    return key or None


def owner_of_scope(scope: dict[str, Any]) -> str | None:
    """The same for a WebSocket (Channels' AuthMiddlewareStack puts the user in the scope)."""
    user = scope.get("user")
    if user is not None and getattr(user, "is_authenticated", False):
        return owners.of_user(user.pk)
    if accounts_mode():
        return None
    return getattr(scope.get("session"), "session_key", None) or None


class AccessMiddleware:
    """Who is asking, and whether they may (issue U, T).

    A request with `Authorization: Bearer <token>` acts as the token's person: their rights,
    quotas and gallery. It carries no cookie, so no CSRF token is asked of it; a token that is
    unknown, revoked or expired is a 401 `invalid_token`, never a fall back to the session.
    In accounts mode, nothing but the public paths without a signed-in person: pages go to
    the sign-in page, API calls get a JSON 401 (SPEC §4's error shape).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = tokens.from_authorization(request.headers.get("Authorization", ""))
        if token is not None and request.path.startswith("/api/"):
            found = tokens.find(token)
            if found is None:
                return json_error(401, "invalid_token", "This token is unknown, revoked or expired.")
            request.user = found.user
            request.api_token = found  # type: ignore[attr-defined]
            request._dont_enforce_csrf_checks = True  # type: ignore[attr-defined]  # no cookie: no CSRF
        if (
            accounts_mode()
            and not request.user.is_authenticated
            and not request.path.startswith(PUBLIC_PREFIXES)
        ):
            if request.path.startswith("/api/"):
                return json_error(401, "not_signed_in", "Sign in first.")
            return redirect_to_login(request.get_full_path())
        return self.get_response(request)
