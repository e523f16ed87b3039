"""engine.sender: canvas events published straight to Redis reach the channels the layer's group_send uses."""

from __future__ import annotations

import pytest
from channels_redis.pubsub import RedisPubSubChannelLayer

from engine import sender

pytestmark = pytest.mark.asyncio


async def test_the_group_channel_is_the_one_the_pubsub_layer_publishes_to(settings) -> None:
    for config in ({"hosts": ["redis://127.0.0.1:6379/0"]}, {"hosts": ["redis://127.0.0.1:6379/0"], "prefix": "p"}):
        settings.CHANNEL_LAYERS = {
            "default": {"BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer", "CONFIG": config}
        }
        layer = RedisPubSubChannelLayer(**config)
        for group in (sender.canvas_group("5f0c8e61-2b1f-4d0e-9d49-8f7a5f3c2a10"), sender.person_group(42)):
            assert sender.group_channel(group) == layer._get_group_channel_name(group)
