from django.urls import path

from jobs.consumers import TabConsumer

websocket_urlpatterns = [
    path("ws/tabs/<str:tab>/", TabConsumer.as_asgi()),
]
