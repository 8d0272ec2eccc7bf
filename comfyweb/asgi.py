"""ASGI entry: HTTP goes to Django, WebSockets to the tab consumer (SPEC §5)."""

import os

from comfyweb.http_handler import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comfyweb.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from channels.sessions import SessionMiddlewareStack  # noqa: E402

from comfyweb.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(SessionMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
