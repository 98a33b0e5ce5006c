"""The consumer process of a conformance measurement (``python -m alosim.conform.worker CONFIG``).

It takes deliveries from the broker, processes each for the next processing
time of its list (a sleep), records the side effect, waits the write delay
and acks. Each step is one line appended to its event file with a single
``write`` on an ``O_APPEND`` descriptor, so the record survives a SIGKILL of
the process (the kernel holds it):

    R t                 ready (connected, subscribed)
    D id t              a delivery of message id arrived
    E id t overshoot_s  its side effect happened (after the processing sleep,
                        which fired overshoot_s late)
    A id t              its ack was handed to the client

``t`` is ``time.monotonic()``, which all processes of the machine share.
The processing times come as raw float64 in a file the harness wrote: this
process imports only the standard library and the broker's client, and then
waits for a line on its standard input before it connects (a spare started
ahead waits there until it replaces a crashed consumer).
"""

from __future__ import annotations

import array
import asyncio
import json
import os
import random
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any


class Events:
    """The append-only event file."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, line: str) -> None:
        os.write(self._fd, (line + "\n").encode())


class Processing:
    """One processing time per delivery, in order, cycling if exhausted."""

    def __init__(self, path: str) -> None:
        values = array.array("d")
        with open(path, "rb") as handle:
            values.frombytes(handle.read())
        self._values = values
        self._next = 0

    def __call__(self) -> float:
        value = self._values[self._next % len(self._values)]
        self._next += 1
        return value


class Hand:
    """The deliveries this consumer holds (taken, not yet acked), and room for more.

    A pull consumer (``pull_batch``) holds at most that many and fetches only
    what it has room for; otherwise it takes whatever the broker gives."""

    def __init__(self, batch: int | None) -> None:
        self.batch = batch
        self.held = 0
        self._freed = asyncio.Event()

    def take(self) -> None:
        self.held += 1

    def release(self) -> None:
        self.held -= 1
        self._freed.set()

    async def room(self, most: int) -> int:
        """How many to fetch now (waits while a pull consumer's hands are full)."""
        if self.batch is None:
            return most
        while self.held >= self.batch:
            self._freed.clear()
            await self._freed.wait()
        return min(most, self.batch - self.held)


async def _extend(extend: Callable[[], Awaitable[Any]], every_s: float, until_s: float) -> None:
    # Every every_s after the delivery's arrival, while the lease it gives stays within until_s.
    start = time.monotonic()
    k = 1
    while k * every_s <= until_s:
        await asyncio.sleep(max(0.0, start + k * every_s - time.monotonic()))
        await extend()
        k += 1


async def handle(message_id: str, ack: Callable[[], Awaitable[Any]],
                 extend: Callable[[], Awaitable[Any]], config: dict[str, Any], events: Events,
                 draw: Processing, limit: asyncio.Semaphore | None, hand: Hand) -> None:
    """Process one delivery: (extending its lease meanwhile) sleep, side effect, write delay, ack."""
    events.write(f"D {message_id} {time.monotonic():.6f}")
    extension = config["lease_extension"]
    extender = None
    if extension is not None:
        # Stop while the lease an extension gives would reach past max after the delivery.
        until_s = (extension["max_s"] - config["lease_s"]) if extension["max_s"] else float("inf")
        extender = asyncio.ensure_future(_extend(extend, extension["every_s"], until_s))
    if limit is not None:
        await limit.acquire()
    try:
        processing_s = draw()
        start = time.monotonic()
        await asyncio.sleep(processing_s)
        now = time.monotonic()
        events.write(f"E {message_id} {now:.6f} {now - start - processing_s:.6f}")
        if config["write_delay_s"] > 0:
            await asyncio.sleep(config["write_delay_s"])
        if extender is not None:
            extender.cancel()
        await ack()
        events.write(f"A {message_id} {time.monotonic():.6f}")
    finally:
        if extender is not None:
            extender.cancel()
        if limit is not None:
            limit.release()
        hand.release()


def _spawn(tasks: set[asyncio.Task[None]], coro: Awaitable[None]) -> None:
    task = asyncio.ensure_future(coro)
    tasks.add(task)
    task.add_done_callback(tasks.discard)
    task.add_done_callback(_done)


def _done(task: asyncio.Task[None]) -> None:
    # A delivery whose handling failed would stay in hand for ever: the process ends
    # instead, with the reason as its last line, and the harness reports it.
    if not task.cancelled() and task.exception() is not None:
        sys.stderr.write(f"handling a delivery failed: {task.exception()!r}\n")
        sys.stderr.flush()
        os._exit(3)


async def run_nats(config: dict[str, Any], events: Events, draw: Processing) -> None:
    import nats

    target = config["target"]
    nc = await nats.connect(target["url"], max_reconnect_attempts=0, allow_reconnect=False)
    js = nc.jetstream()
    tasks: set[asyncio.Task[None]] = set()
    limit = asyncio.Semaphore(config["concurrency"]) if config["concurrency"] else None
    hand = Hand(config["pull_batch"])

    def start(msg: Any) -> None:
        hand.take()
        # (An in-progress ack restarts the delivery's AckWait.)
        _spawn(tasks, handle(msg.data.decode(), msg.ack, msg.in_progress, config, events, draw,
                             limit, hand))

    if target["deliver_subject"] is None:
        sub = await js.pull_subscribe_bind(durable=target["consumer"], stream=target["stream"])
        events.write(f"R {time.monotonic():.6f}")
        while True:
            room = await hand.room(config["pull_batch"])
            try:
                msgs = await sub.fetch(room, timeout=0.05)
            except (asyncio.TimeoutError, nats.errors.TimeoutError):
                continue
            for msg in msgs:
                start(msg)
    else:
        async def on_msg(msg: Any) -> None:
            start(msg)

        await nc.subscribe(target["deliver_subject"], cb=on_msg, pending_msgs_limit=-1,
                           pending_bytes_limit=-1)
        await nc.flush()
        events.write(f"R {time.monotonic():.6f}")
        await asyncio.Event().wait()


async def run_redis(config: dict[str, Any], events: Events, draw: Processing) -> None:
    import redis.asyncio as aioredis

    target = config["target"]
    # As many connections as commands in flight: a stalled event loop can release hundreds
    # of acks at once, and the default pool refuses its 101st connection.
    r = aioredis.Redis.from_url(target["url"], max_connections=100_000)
    stream, group = target["stream"], target["group"]
    name = f"consumer-{os.getpid()}"
    await r.xgroup_createconsumer(stream, group, name)
    tasks: set[asyncio.Task[None]] = set()
    limit = asyncio.Semaphore(config["concurrency"]) if config["concurrency"] else None
    hand = Hand(config["pull_batch"])

    def start(entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        async def ack() -> None:
            await r.xack(stream, group, entry_id)

        async def extend() -> None:
            # Claiming an entry one holds resets its idle time (JUSTID: not a new delivery).
            await r.xclaim(stream, group, name, 0, [entry_id], justid=True)

        hand.take()
        _spawn(tasks, handle(fields[b"id"].decode(), ack, extend, config, events, draw, limit,
                             hand))

    async def read() -> None:
        while True:
            room = await hand.room(1000)
            reply = await r.xreadgroup(group, name, {stream: ">"}, count=room, block=20)
            for _key, entries in reply or []:
                for entry_id, fields in entries:
                    start(entry_id, fields)

    idle_ms = max(1, int(round(config["lease_s"] * 1000)))
    max_deliveries = config["max_deliveries"]

    async def scan() -> None:
        if max_deliveries is None:
            cursor: Any = "0-0"
            while True:
                room = await hand.room(1000)
                cursor, entries, *_ = await r.xautoclaim(stream, group, name, idle_ms,
                                                         start_id=cursor, count=room)
                for entry_id, fields in entries:
                    if fields:  # (an entry deleted meanwhile comes back empty)
                        start(entry_id, fields)
                if cursor in (b"0-0", "0-0"):
                    return
        pending = await r.xpending_range(stream, group, min="-", max="+", count=10_000, idle=idle_ms)
        claim = []
        for entry in pending:
            if entry["times_delivered"] >= max_deliveries:
                if await r.xack(stream, group, entry["message_id"]):
                    await r.xadd(target["dead_letters"], {"entry": entry["message_id"]})
            else:
                claim.append(entry["message_id"])
        claim = claim[:await hand.room(len(claim))] if claim else claim
        if claim:
            for entry_id, fields in await r.xclaim(stream, group, name, idle_ms, claim):
                if fields:
                    start(entry_id, fields)

    async def reclaim() -> None:
        # Scans on a fixed grid (a scan that runs long skips the grid points it missed), or,
        # jittered, gaps Uniform(0, 2 x interval) between scans.
        interval_s = config["reclaim_interval_s"]
        gaps = random.Random(os.getpid())
        due = time.monotonic()
        while True:
            due += gaps.uniform(0, 2 * interval_s) if config["reclaim_jitter"] else interval_s
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            await scan()
            now = time.monotonic()
            if not config["reclaim_jitter"] and due + interval_s <= now:
                due += interval_s * ((now - due) // interval_s)

    events.write(f"R {time.monotonic():.6f}")
    await asyncio.gather(read(), reclaim())


def main(argv: list[str]) -> None:
    """Load everything, wait for the harness's go on standard input (a spare waits there
    until the consumer it replaces has crashed and stayed down), then consume."""
    with open(argv[1], encoding="utf-8") as handle:
        config = json.load(handle)
    if config["target"]["kind"] == "nats":
        import nats  # noqa: F401 - the slow part of starting, paid before the go
        run = run_nats
    else:
        import redis.asyncio  # noqa: F401
        run = run_redis
    events = Events(config["events"])
    draw = Processing(config["processing"])
    if not sys.stdin.readline():
        return  # the harness went away without a go
    asyncio.run(run(config, events, draw))


if __name__ == "__main__":
    main(sys.argv)
