from __future__ import annotations

from django.urls import path

from canvas.consumers import CanvasConsumer

websocket_urlpatterns = [
    path("ws/canvases/<str:canvas_id>/", CanvasConsumer.as_asgi()),
]
