"""The communication notebook's real Redis: one private server for its pub/sub and Streams sections.

``start_redis()`` starts ``redis-server`` through ``dspatterns.caching.redis_server`` (a free local
port, a temporary folder, no persistence) and returns a ``CommunicationRedis`` whose methods each give
one section's figure, table or text. Where Redis is not installed it returns a ``RedisMissing`` whose
every method returns the reason and how to install it, so the notebook runs on without it. A kernel
that shuts down without ``stop()`` still stops the server (at exit, or when the object is collected).
"""
from __future__ import annotations

from dspatterns.caching.redis_server import RedisOwner, RedisUnavailable, redis_server
from dspatterns.communication.pubsub_patterns import pattern_contrast, redis_fanout_run
from dspatterns.communication.redis_streams import streams_demo
from dspatterns.missing_server import MissingServer


class CommunicationRedis(RedisOwner):
    """A running private Redis; the methods are the notebook's Redis cells."""

    def __init__(self) -> None:
        self._own_redis(redis_server)

    def __bool__(self) -> bool:
        return True

    def describe(self) -> str:
        version = self.client.info("server")["redis_version"]
        return f"Redis {version} answering PING on {self.server.host}:{self.server.port} (no persistence)"

    def fanout_run(self, **options):
        return redis_fanout_run(self.server, **options)

    def fanout_figure(self, *, failing: str | None = "billing"):
        """The fan-out graph of one real PSUBSCRIBE/PUBLISH run (section 2's figure)."""
        from dspatterns.widgets.pubsub_graph import fanout_figure

        return fanout_figure(redis_fanout_run(self.server, failing=failing))

    def contrast(self):
        return pattern_contrast(self.server)

    def pubsub_explorer(self, broker_class: type | None = None):
        from dspatterns.widgets.pubsub_graph import pubsub_explorer

        return pubsub_explorer(self.server, broker_class)

    def streams_demo(self, *, visibility_timeout: float = 0.15, max_deliveries: int = 3) -> str:
        """The scripted Streams run as a table: who did what, with Redis's delivery count then."""
        self.client.delete("demo:jobs", "demo:dead")
        events = streams_demo(self.client, visibility_timeout=visibility_timeout, max_deliveries=max_deliveries)
        lines = [f"XAUTOCLAIM min-idle-time {visibility_timeout * 1000:.0f} ms, dead after {max_deliveries} deliveries",
                 f"{'step':>4}  {'who':<6} {'what':<36} {'body':<13} deliveries"]
        lines += [f"{e.step:>4}  {e.consumer:<6} {e.action:<36} {e.body:<13} {e.deliveries}" for e in events]
        pending = self.client.xpending("demo:jobs", "workers")["pending"]
        lines.append(f"left pending in the group: {pending}; in demo:dead: {self.client.xlen('demo:dead')}")
        return "\n".join(lines)


class RedisMissing(MissingServer):
    """Stands in for ``CommunicationRedis`` where Redis cannot start: each cell prints why and how to get it."""

    server = None
    server_name = "Redis"
    consequence = "the Redis cells show no run"

    def contrast(self):
        return pattern_contrast(None)  # the port and the dotted column still run without a server


def start_redis() -> CommunicationRedis | RedisMissing:
    """A running ``CommunicationRedis``, or a ``RedisMissing`` that says why not."""
    try:
        return CommunicationRedis()
    except RedisUnavailable as error:
        return RedisMissing(str(error))
