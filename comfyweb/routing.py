from django.urls import path

from jobs.operators.dashboard_consumer import PoolConsumer
from jobs.web.consumers import TabConsumer

websocket_urlpatterns = [
    path("ws/tabs/<str:tab>/", TabConsumer.as_asgi()),
    path("ws/pool/", PoolConsumer.as_asgi()),
]

# The ComfyUI-compatible listener's socket (COMFYWEB_COMFYUI_PORT; comfyweb.asgi).
from jobs.comfyapi.routing import websocket_urlpatterns as comfyui_websocket_urlpatterns  # noqa: E402

__all__ = ["comfyui_websocket_urlpatterns", "websocket_urlpatterns"]
