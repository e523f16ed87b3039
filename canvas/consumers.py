"""The canvas WebSocket: one group per canvas; access checked at connect."""

from __future__ import annotations

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from canvas import access
from canvas.errors import ApiError
from engine.events import group_name
from engine.snapshots import snapshots

CLOSE_NOT_ALLOWED = 4403


@database_sync_to_async
def _may_view(user, canvas_id) -> bool:
    try:
        access.canvas_for(user, canvas_id)
    except ApiError:
        return False
    return True


class CanvasConsumer(AsyncJsonWebsocketConsumer):
    group: str | None = None

    async def connect(self) -> None:
        self.canvas_id = self.scope["url_route"]["kwargs"]["canvas_id"]
        if not await _may_view(self.scope.get("user"), self.canvas_id):
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.group = group_name(self.canvas_id)
        # Join before reading the snapshot, so no delta falls between the two.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        for snapshot in await snapshots(self.canvas_id):
            await self.send_json(snapshot)

    async def disconnect(self, code: int) -> None:
        if self.group:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content, **kwargs) -> None:
        await self.send_json({"type": "error", "error": {"code": "unsupported", "message": "No client messages yet."}})

    async def canvas_event(self, event: dict) -> None:
        await self.send_json(event["payload"])
