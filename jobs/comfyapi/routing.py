"""The endpoint's socket: `/ws` and `/api/ws`, as ComfyUI serves it."""

from django.urls import path

from jobs.comfyapi.consumer import ComfySocketConsumer

websocket_urlpatterns = [
    path("ws", ComfySocketConsumer.as_asgi()),
    path("api/ws", ComfySocketConsumer.as_asgi()),
]
