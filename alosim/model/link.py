"""A directed network link: it loses packets and delays the rest.

Each packet is lost independently with probability ``loss`` (Bernoulli);
the survivors arrive after a latency drawn from the link's distribution.
Packets overtake each other when latencies vary, as on a real network.
The data direction (sender to receiver) and the ack direction are separate
links with separate random streams, so their losses are independent.

Bernoulli losses are drawn as the geometric gaps between them -- the number
of packets up to and including the next lost one -- which is the same
process with one random draw per loss instead of one per packet.

A packet in flight is a scheduled event whose callback delivers it; no
process is started per packet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import simpy

from alosim.dists import Constant
from alosim.model.events import Later
from alosim.scenario import LinkSpec
from alosim.streams import BATCH, Streams


class Link:
    def __init__(
        self,
        env: simpy.Environment,
        name: str,
        spec: LinkSpec,
        streams: Streams,
        on_arrival: Callable[[simpy.Event], Any],
    ) -> None:
        self.env = env
        self.name = name
        self.loss = spec.loss
        self.on_arrival = on_arrival
        self.latency = spec.latency
        self._constant: float | None = None
        if isinstance(spec.latency, Constant):
            self._constant = spec.latency.value
        self._latency_rng = streams.generator(f"link.{name}.latency")
        self._latencies: list[float] = []
        self._next_latency = 0
        # Packets left until (and including) the next lost one; 0 = never lose.
        self._loss_rng = streams.generator(f"link.{name}.loss")
        self._gaps: list[int] = []
        self._next_gap = 0
        self._until_loss = self._draw_gap() if self.loss > 0 else 0

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
        if self._next_latency >= len(self._latencies):
            self._latencies = np.asarray(self.latency.sample(self._latency_rng, BATCH)).tolist()
            self._next_latency = 0
        value = self._latencies[self._next_latency]
        self._next_latency += 1
        return value

    def send(self, packet: tuple[Any, ...]) -> bool:
        """Put ``packet`` on the link; return False if the network dropped it."""
        if self._until_loss:
            self._until_loss -= 1
            if not self._until_loss:
                self._until_loss = self._draw_gap()
                return False
        delay = self._constant
        if delay is None:
            i = self._next_latency
            if i < len(self._latencies):
                self._next_latency = i + 1
                delay = self._latencies[i]
            else:
                delay = self._draw_latency()
        Later(self.env, delay, self._callbacks, packet)
        return True

    @property
    def mean_latency(self) -> float:
        return self.latency.mean

    @property
    def on_arrival(self) -> Callable[[Any], Any]:
        """Called with each packet's event when it arrives."""
        return self._callbacks[0]

    @on_arrival.setter
    def on_arrival(self, callback: Callable[[Any], Any]) -> None:
        self._callbacks = (callback,)

    def __repr__(self) -> str:
        return f"Link({self.name!r}, loss={self.loss}, latency={self.latency!r})"


__all__ = ["Link"]
