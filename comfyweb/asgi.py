"""ASGI entry: HTTP goes to Django (a job's plain requests by jobs.web.hot), WebSockets to
the tab consumer (SPEC §5).

With COMFYWEB_COMFYUI_PORT set, requests that arrive on that port (ASGI scope["server"])
go to the ComfyUI-compatible endpoint instead (jobs.comfyapi): its routes live at the root
of that port and nowhere on the app's.
"""

import os

from comfyweb.http_handler import comfyui_asgi_application, get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "comfyweb.settings")
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402

from comfyweb.ports import PortRouter  # noqa: E402
from comfyweb.routing import comfyui_websocket_urlpatterns, websocket_urlpatterns  # noqa: E402
from jobs.web.hot import HotRoutes  # noqa: E402
from jobs.web.socket_auth import TokenGate  # noqa: E402

app = ProtocolTypeRouter(
    {
        "http": HotRoutes(django_asgi_app),  # the job's own requests, when plain, around Django
        # A token (issue T) or the session cookie, which must come from one of our pages.
        "websocket": TokenGate(
            URLRouter(websocket_urlpatterns),
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
        ),
    }
)
from jobs.comfyapi.prefix import TokenPrefix  # noqa: E402

comfyui = TokenPrefix(
    ProtocolTypeRouter(
        {"http": comfyui_asgi_application(), "websocket": URLRouter(comfyui_websocket_urlpatterns)}
    )
)
application = PortRouter(app, comfyui, settings.COMFYWEB_COMFYUI_PORT)
