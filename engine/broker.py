"""Celery's Redis transport (kombu's), with one Redis client per channel for the commands it sends.

kombu's channel builds a new `redis.Redis` around its connection pool for every command outside the
consumer's BRPOP: every publish paid for a client's construction (about a third of a publish's CPU).
The client is only a façade over the channel's pool, safe to share between threads like any
redis-py client, so each channel keeps one. The messages, the queues and the keys are kombu's own:
a worker on kombu's plain transport consumes them unchanged."""

from __future__ import annotations

from contextlib import contextmanager

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _commands_client = None

    @contextmanager
    def conn_or_acquire(self, client=None):
        if client:
            yield client
            return
        if self._commands_client is None:
            self._commands_client = self._create_client()
        yield self._commands_client


class Transport(kombu_redis.Transport):
    Channel = Channel
