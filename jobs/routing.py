from django.urls import path

from jobs.consumers import TabConsumer
from jobs.dashboard_consumer import PoolConsumer

websocket_urlpatterns = [
    path("ws/tabs/<str:tab>/", TabConsumer.as_asgi()),
    path("ws/pool/", PoolConsumer.as_asgi()),
]
