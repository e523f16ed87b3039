"""Publishing runs on the broker (the services mode): Celery's own messages on kombu's Redis queue, sent
through one Redis client per channel rather than a new one per publish."""

from __future__ import annotations

import json

import redis
from celery import Celery
from kombu.transport import redis as kombu_redis

from engine.dispatch import RUN_RESPONSES_TASK
from tests.stack import _redis_database

PUBLISHES = 20


def test_publishes_share_one_redis_client_and_stay_celerys_own_messages(monkeypatch):
    built = []
    create_client = kombu_redis.Channel._create_client

    def counting(channel, asynchronous=False):
        if not asynchronous:  # the asynchronous one is the channel's own, kept for consuming
            built.append(channel)
        return create_client(channel, asynchronous=asynchronous)

    monkeypatch.setattr(kombu_redis.Channel, "_create_client", counting)
    with _redis_database() as url:
        app = Celery("prism-broker-test", broker=url, set_as_current=False)
        app.conf.broker_transport = "engine.broker:Transport"
        try:
            for index in range(PUBLISHES):
                app.send_task(RUN_RESPONSES_TASK, args=[[f"node-{index}"]], ignore_result=True)
        finally:
            app.close()

        assert len(built) <= 1, f"{len(built)} Redis clients built for {PUBLISHES} publishes"
        queued = redis.Redis.from_url(url).lrange("celery", 0, -1)
        assert len(queued) == PUBLISHES
        # kombu's envelope around Celery's protocol 2 message: what a worker on kombu's own transport reads.
        messages = [json.loads(raw) for raw in reversed(queued)]
        assert [message["headers"]["task"] for message in messages] == [RUN_RESPONSES_TASK] * PUBLISHES
        assert [message["headers"]["argsrepr"] for message in messages] == [
            repr([[f"node-{index}"]]) for index in range(PUBLISHES)
        ]
