"""Daphne's HTTP requests without Twisted's own parse of POST bodies.

Twisted's `http.Request` parses every POST's multipart or URL-encoded body into
`request.args`, through the `email` package and with another copy of the whole body in
memory. Daphne never reads `request.args`: it hands the raw body to the ASGI app, where
Django parses it again. On the hot path that parse was a tenth of an upload's cost (issue Y),
and for a large video upload it holds the body twice. Twisted's own switch for it,
`parsePOSTFormSubmission`, is turned off here for every request Daphne builds.
"""

from __future__ import annotations

from typing import Any

from daphne import http_protocol


class WebRequest(http_protocol.WebRequest):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("parsePOSTFormSubmission", False)
        super().__init__(*args, **kwargs)


def install() -> None:
    """Make Daphne's protocol factory build these requests (it looks the class up at each
    connection, in daphne.http_protocol)."""
    http_protocol.WebRequest = WebRequest
