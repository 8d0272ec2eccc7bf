"""serve's Daphne requests leave POST bodies to Django (comfyweb.daphne_requests): Twisted
does not parse an upload's multipart body a second time."""

from types import SimpleNamespace

from daphne import http_protocol
from twisted.web.test.requesthelper import DummyChannel

from comfyweb import daphne_requests


def _channel() -> DummyChannel:
    """A channel whose factory has the Daphne server a request registers with."""
    channel = DummyChannel()
    channel.factory = SimpleNamespace(server=SimpleNamespace(protocol_connected=lambda request: None))
    return channel


def test_installed_requests_do_not_parse_form_bodies(monkeypatch):
    monkeypatch.setattr(http_protocol, "WebRequest", http_protocol.WebRequest)  # undone after
    stock = http_protocol.WebRequest(_channel())
    daphne_requests.install()
    assert http_protocol.WebRequest is daphne_requests.WebRequest
    ours = http_protocol.WebRequest(_channel())
    assert stock._parsePOSTFormSubmission is True and ours._parsePOSTFormSubmission is False
