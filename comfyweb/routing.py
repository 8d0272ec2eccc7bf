from django.urls import path

from jobs.operators.dashboard_consumer import PoolConsumer
from jobs.web.consumers import TabConsumer

websocket_urlpatterns = [
    path("ws/tabs/<str:tab>/", TabConsumer.as_asgi()),
    path("ws/pool/", PoolConsumer.as_asgi()),
]
