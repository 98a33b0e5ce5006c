"""The two brokers conform speaks to: NATS JetStream and Redis Streams.

Each broker object creates what one measurement needs (a stream and a
consumer, or a stream and a consumer group, under names no one else uses),
publishes, says when everything published has settled (acked or
dead-lettered), counts what was dead-lettered, and removes what it created.
The consumer side lives in :mod:`alosim.conform.worker`.

How each maps the scenario:

- **NATS JetStream**: a stream on one subject; a durable consumer with
  explicit acks, ``AckWait`` = the lease, ``MaxDeliver`` = max_deliveries
  (else unlimited), ``MaxAckPending`` = prefetch (else unlimited); a push
  consumer, or a pull consumer when the scenario has ``consumer.pull``. A
  message dead-letters when its last delivery's AckWait runs out; the server
  then publishes a MAX_DELIVERIES advisory, which is what is counted.
- **Redis Streams**: a stream and a consumer group; the consumer reads with
  XREADGROUP and, every reclaim interval, takes back what has been pending
  longer than the lease (XAUTOCLAIM; with max_deliveries, XPENDING + XCLAIM,
  and an entry already delivered max_deliveries times is XACKed and copied to
  a dead-letter stream, whose length is what is counted).

Broker clients are imported here, inside the functions that connect.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from alosim.conform.plan import ConformError, Plan


#: How long connecting to a broker may take before it counts as unreachable.
CONNECT_TIMEOUT_S = 5.0


def broker_kind(url: str) -> str:
    """``nats`` or ``redis`` from a broker URL, or :class:`ConformError`."""
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("nats", "tls"):
        return "nats"
    if scheme in ("redis", "rediss", "unix"):
        return "redis"
    raise ConformError(f"--broker {url}: expected a nats://host:port or redis://host:port URL")


def _missing_client(package: str, url: str) -> ConformError:
    return ConformError(f"--broker {url}: the Python package {package} is not installed "
                        f"(pip install {package})")


@dataclass
class Names:
    """What one measurement creates on the broker, unique to it."""

    tag: str = field(default_factory=lambda: f"alosim_conform_{os.getpid()}_{os.urandom(4).hex()}")

    @property
    def stream(self) -> str:
        return self.tag.upper()

    @property
    def subject(self) -> str:
        return self.tag.replace("_", ".")

    @property
    def consumer(self) -> str:
        return "alosim_consumer"

    @property
    def deliver_subject(self) -> str:
        return f"_alosim_deliver.{self.tag}"

    @property
    def dead_letters(self) -> str:
        return f"{self.tag}:dead-letters"


class Broker:
    """The harness side of a broker during one measurement."""

    kind: str
    url: str
    names: Names

    async def connect(self) -> None: ...
    async def setup(self, plan: Plan) -> None: ...
    async def publish(self, message_id: int) -> None: ...
    async def flush(self) -> None: ...
    async def settled(self, published: int) -> bool: ...
    async def dead_lettered(self) -> int: ...
    async def cleanup(self) -> None: ...

    def worker_target(self) -> dict[str, Any]:
        """Where the consumer process reads from (JSON-ready)."""
        raise NotImplementedError


def open_broker(url: str) -> Broker:
    kind = broker_kind(url)
    return NatsBroker(url) if kind == "nats" else RedisBroker(url)


class NatsBroker(Broker):
    kind = "nats"

    def __init__(self, url: str) -> None:
        self.url = url
        self.names = Names()
        self._nc: Any = None
        self._js: Any = None
        self._created = False
        self._advised: set[int] = set()
        self._pull = False

    async def connect(self) -> None:
        try:
            import nats
        except ImportError:
            raise _missing_client("nats-py", self.url) from None

        errors: list[BaseException] = []
        failed = asyncio.Event()

        async def remember(exc: BaseException) -> None:
            errors.append(exc)
            failed.set()

        # nats-py tries a first connection again and again: the first error ends it here.
        connect = asyncio.ensure_future(nats.connect(
            self.url, connect_timeout=3, max_reconnect_attempts=0, allow_reconnect=False,
            error_cb=remember))
        waiter = asyncio.ensure_future(failed.wait())
        await asyncio.wait({connect, waiter}, timeout=CONNECT_TIMEOUT_S,
                           return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if connect.done() and connect.exception() is None:
            self._nc = connect.result()
        else:
            reason = errors[0] if errors else (connect.exception() if connect.done() else None)
            connect.cancel()
            raise ConformError(f"cannot reach the NATS server at {self.url} "
                               f"({_reason(reason) if reason else 'timed out'})")
        self._js = self._nc.jetstream(timeout=5)
        try:
            await self._js.account_info()
        except Exception as exc:  # noqa: BLE001 - an API error or no responders: no JetStream
            await self._nc.close()
            raise ConformError(f"the NATS server at {self.url} has no JetStream "
                               f"({_reason(exc)}; start it with -js)") from None

    async def setup(self, plan: Plan) -> None:
        from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig

        n = self.names
        await self._js.add_stream(StreamConfig(name=n.stream, subjects=[n.subject]))
        self._created = True
        self._pull = plan.pull_batch is not None
        config = ConsumerConfig(
            durable_name=n.consumer,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=plan.lease_s,
            max_deliver=plan.max_deliveries if plan.max_deliveries is not None else -1,
            max_ack_pending=plan.prefetch if plan.prefetch is not None else -1,
            deliver_subject=None if self._pull else n.deliver_subject,
        )
        await self._js.add_consumer(n.stream, config)

        async def advised(msg: Any) -> None:
            self._advised.add(int(json.loads(msg.data)["stream_seq"]))

        await self._nc.subscribe(
            f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{n.stream}.{n.consumer}", cb=advised)

    async def publish(self, message_id: int) -> None:
        await self._nc.publish(self.names.subject, str(message_id).encode())

    async def flush(self) -> None:
        await self._nc.flush()

    async def settled(self, published: int) -> bool:
        info = await self._js.consumer_info(self.names.stream, self.names.consumer)
        return (info.delivered.stream_seq >= published and info.num_pending == 0
                and info.num_ack_pending == 0)

    async def dead_lettered(self) -> int:
        await self._nc.flush()
        return len(self._advised)

    async def cleanup(self) -> None:
        if self._nc is None:
            return
        try:
            if self._created:
                await self._js.delete_stream(self.names.stream)  # its consumer goes with it
        finally:
            await self._nc.close()

    def worker_target(self) -> dict[str, Any]:
        n = self.names
        return {"kind": "nats", "url": self.url, "stream": n.stream, "consumer": n.consumer,
                "deliver_subject": None if self._pull else n.deliver_subject}


class RedisBroker(Broker):
    kind = "redis"

    def __init__(self, url: str) -> None:
        self.url = url
        self.names = Names()
        self._r: Any = None
        self._last_id: bytes | None = None

    async def connect(self) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError:
            raise _missing_client("redis", self.url) from None
        try:
            self._r = aioredis.Redis.from_url(self.url, socket_connect_timeout=3)
            info = await self._r.info("server")
        except Exception as exc:  # noqa: BLE001 - redis-py raises many kinds; all mean the same here
            raise ConformError(f"cannot reach the Redis server at {self.url} ({_reason(exc)})") from None
        version = str(info.get("redis_version", "0"))
        major_minor = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        if major_minor < (6, 2):
            await self._r.aclose()
            raise ConformError(f"the Redis server at {self.url} is version {version}; conform "
                               "needs Redis Streams with XAUTOCLAIM (6.2 or later)")

    async def setup(self, plan: Plan) -> None:
        await self._r.xgroup_create(self.names.tag, "alosim", id="0", mkstream=True)

    async def publish(self, message_id: int) -> None:
        self._last_id = await self._r.xadd(self.names.tag, {"id": str(message_id)})

    async def flush(self) -> None:
        return None

    async def settled(self, published: int) -> bool:
        groups = await self._r.xinfo_groups(self.names.tag)
        last = groups[0]["last-delivered-id"] if groups else b"0-0"
        if isinstance(last, str):
            last = last.encode()
        if self._last_id is None or last != self._last_id:
            return False
        pending = await self._r.xpending(self.names.tag, "alosim")
        return int(pending["pending"]) == 0

    async def dead_lettered(self) -> int:
        return int(await self._r.xlen(self.names.dead_letters))

    async def cleanup(self) -> None:
        if self._r is None:
            return
        try:
            await self._r.delete(self.names.tag, self.names.dead_letters)
        finally:
            await self._r.aclose()

    def worker_target(self) -> dict[str, Any]:
        return {"kind": "redis", "url": self.url, "stream": self.names.tag, "group": "alosim",
                "dead_letters": self.names.dead_letters}


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, asyncio.TimeoutError) and not text:
        return "timed out"
    return text or type(exc).__name__
