"""The store's generation shared by every web server of a deployment, for a remote store.

An embedded store is written by this process alone, so its own counter of writes says when
anything cached about it is out of date. A remote store (``WEBLAB_SPARQL_URL``) is written by
every web server of the deployment: each platform write advances one counter in Redis, and the
caches of every server (GraphQL answers, store reads, SPARQL answers, the anonymous scope) are
kept for the generation they read there. A request reads the counter as it runs, so a write on one
server is seen by the next request on any other.

Writes made to the triple store behind the platform's back (straight to the SPARQL server) advance
nothing; ``weblab cache invalidate`` advances the counter by hand after such a write.
"""

from __future__ import annotations

import redis


def generation_key(queue_name: str) -> str:
    return f"{queue_name}:store-generation"


class SharedGeneration:
    """The counter in Redis; blocking calls (the store is called from threads, and one call is ~0.1 ms)."""

    def __init__(self, redis_url: str, queue_name: str) -> None:
        self._redis = redis.Redis.from_url(redis_url)
        self.key = generation_key(queue_name)

    def current(self) -> int:
        value: bytes | None = self._redis.get(self.key)  # type: ignore[assignment]  # redis-py types both clients
        return int(value) if value is not None else 0

    def advance(self) -> int:
        value: int = self._redis.incr(self.key)  # type: ignore[assignment]
        return value

    def close(self) -> None:
        self._redis.close()
