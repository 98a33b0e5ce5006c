"""A directed network link: it loses, delays, duplicates and reorders packets.

Loss is either independent per packet (Bernoulli, probability ``loss``) or
bursty (Gilbert-Elliott: a good and a bad state, switching once per packet).
The survivors arrive after a latency drawn from the link's distribution, so
packets overtake each other when latency varies -- unless the link is
``fifo``, in which case a packet never arrives before one sent earlier on
the same connection (one sender and one receiver, like a TCP stream or a
partition): FIFO is a property of a connection, so packets of different
connections still overtake each other. With
probability ``duplicate`` the network delivers a packet twice (the second
copy with its own latency). During a partition every packet is dropped.
The data direction and the ack direction are separate links with separate
random streams.

Independent losses are drawn as the geometric gaps between them -- the number
of packets up to and including the next lost one -- the same process with one
random draw per loss instead of one per packet. A link with nothing but
independent loss and latency takes that fast path; anything else takes
:meth:`Link._send_general`.

A packet in flight is a scheduled event whose callback delivers it; no
process is started per packet.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Sequence
from heapq import heappush
from itertools import repeat
from typing import TYPE_CHECKING, Any

import numpy as np
import simpy
from simpy.core import NORMAL

from alosim.dists import Constant
from alosim.model.events import Later, ScheduledInThePast

_new_later = object.__new__  # a Later without the call to its __init__ (see Link._send_fast)
from alosim.scenario import GilbertElliott, LinkSpec, Partition
from alosim.streams import BATCH, Draws, Streams

if TYPE_CHECKING:
    from alosim.observe import Recorder


class Link:
    __slots__ = (
        "env", "name", "_callbacks", "latency", "rec", "_latency_rng", "_latencies", "gilbert",
        "loss", "_chain", "_bad", "_loss_rng", "_loss_uniforms", "_gaps", "_next_gap", "_until_loss", "duplicate", "_dup_uniforms", "fifo",
        "_last_arrival", "_connection", "partitions", "send", "duplicated",
    )

    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        spec: LinkSpec,
        streams: Streams,
        on_arrival: Callable[[Any], Any],
        *,
        partitions: Sequence[Partition] = (),
        recorder: Recorder | None = None,
        connection: Callable[[tuple[Any, ...]], Hashable] | None = None,
    ) -> None:
        """``connection(packet)`` names the connection a FIFO link keeps the order of
        (default: the message's sender and receiver, for the links that carry messages)."""
        self.env = env
        self.name = name
        self.on_arrival = on_arrival
        self.latency = spec.latency
        self.rec = recorder
        self._latency_rng = streams.generator(f"link.{name}.latency")
        # The latencies to come, in order: the constant for ever, or the batch drawn
        # last (see _draw_latency); next(..., None) is None when it is used up.
        self._latencies: Iterator[float] = iter(())
        if isinstance(spec.latency, Constant):
            if spec.latency.value < 0:
                raise ScheduledInThePast(f"{name}: latency {spec.latency.value!r} (< 0)")
            self._latencies = repeat(spec.latency.value)

        self.gilbert: GilbertElliott | None = None
        self.loss = 0.0
        if isinstance(spec.loss, GilbertElliott):
            self.gilbert = spec.loss
            self._chain = streams.uniforms(f"link.{name}.state")
            self._bad = False
        else:
            self.loss = spec.loss
        # Packets left until (and including) the next lost one; 0 = never lose.
        self._loss_rng = streams.generator(f"link.{name}.loss")
        self._loss_uniforms = Draws(self._loss_rng.random)
        self._gaps: list[int] = []
        self._next_gap = 0
        self._until_loss = self._draw_gap() if self.loss > 0 else 0

        self.duplicate = spec.duplicate
        self._dup_uniforms = streams.uniforms(f"link.{name}.duplicate")
        self.fifo = spec.fifo
        # Per connection (sender, receiver): the latest arrival scheduled so far.
        self._last_arrival: dict[Hashable, float] = {}
        self._connection = connection or _message_connection
        self.duplicated = 0  # packets delivered twice
        self.partitions = sorted((p.at, p.at + p.for_) for p in partitions)
        #: Put a packet on the link; return how many copies will arrive (0 if lost).
        self.send: Callable[[tuple[Any, ...]], int] = self._send_fast
        if self.gilbert or self.duplicate or self.fifo or self.partitions:
            self.send = self._send_general

    # -- random draws ----------------------------------------------------------

    def _draw_gap(self) -> int:
        if self._next_gap >= len(self._gaps):
            if self.loss >= 1:
                self._gaps = [1] * BATCH
            else:
                self._gaps = self._loss_rng.geometric(self.loss, BATCH).tolist()
            self._next_gap = 0
        gap = self._gaps[self._next_gap]
        self._next_gap += 1
        return gap

    def _draw_latency(self) -> float:
        """The next latency, drawing a batch when the last one is used up. Every
        latency drawn is checked once, here: none may be negative (a packet
        never arrives before it was sent)."""
        value = next(self._latencies, None)
        if value is None:
            batch = np.asarray(self.latency.sample(self._latency_rng, BATCH))
            if batch.min() < 0:
                raise ScheduledInThePast(
                    f"a packet on {self.name} was given latency {float(batch[batch < 0][0])!r} (< 0)")
            self._latencies = iter(batch.tolist())
            value = next(self._latencies)
        return value

    # -- sending ---------------------------------------------------------------

    def _send_fast(self, packet: tuple[Any, ...]) -> int:
        """``send`` with independent loss only: one countdown, one latency draw."""
        if self._until_loss:
            self._until_loss -= 1
            if not self._until_loss:
                self._until_loss = self._draw_gap()
                return 0
        delay = next(self._latencies, None)
        if delay is None:
            delay = self._draw_latency()
        # Later(self.env, delay, self._callbacks, packet), built in place: once per packet.
        # (No latency is negative: _draw_latency checks each batch as it draws it.)
        env = self.env
        event = _new_later(Later)
        event.callbacks = self._callbacks
        event._value = packet
        heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), event))
        return 1

    def _send_general(self, packet: tuple[Any, ...]) -> int:
        """``send`` with bursty loss, duplication, FIFO order and partitions."""
        now = self.env._now
        if self.partitions and self._partitioned(now):
            if self.rec is not None:
                self.rec.partition_drops += 1
            return 0
        if self._lost():
            return 0
        copies = 2 if self.duplicate and self._dup_uniforms() < self.duplicate else 1
        for _ in range(copies):
            delay = self._draw_latency()
            if self.fifo:
                # Never before the packet sent last on this connection: equal
                # times keep sending order.
                connection = self._connection(packet)
                arrival = max(now + delay, self._last_arrival.get(connection, now))
                self._last_arrival[connection] = arrival
                Later.at(self.env, arrival, self._callbacks, packet)
            else:
                Later(self.env, delay, self._callbacks, packet)
        if copies == 2:
            self.duplicated += 1
            if self.rec is not None:
                self.rec.network_duplicates += 1
        return copies

    def _lost(self) -> bool:
        g = self.gilbert
        if g is None:
            if self._until_loss:
                self._until_loss -= 1
                if not self._until_loss:
                    self._until_loss = self._draw_gap()
                    return True
            return False
        # Step the chain, then lose the packet with the new state's probability.
        u = self._chain()
        if self._bad:
            if u < g.r:
                self._bad = False
        elif u < g.p:
            self._bad = True
        loss = g.loss_bad if self._bad else g.loss_good
        return loss > 0 and self._loss_uniforms() < loss

    def _partitioned(self, now: float) -> bool:
        # Windows are few: forget those that are over, look at the rest.
        self.partitions = [(start, end) for start, end in self.partitions if end > now]
        return any(start <= now for start, _ in self.partitions)

    @property
    def on_arrival(self) -> Callable[[Any], Any]:
        """Called with each packet's event when it arrives."""
        return self._callbacks[0]

    @on_arrival.setter
    def on_arrival(self, callback: Callable[[Any], Any]) -> None:
        self._callbacks = (callback,)

    def __repr__(self) -> str:
        return f"Link({self.name!r}, loss={self.gilbert or self.loss}, latency={self.latency!r})"


def _message_connection(packet: tuple[Any, ...]) -> Hashable:
    """A message's connection: its sender and the receiver it is addressed to."""
    msg = packet[0]
    return (msg.sender, msg.receiver)
