"""A directed network link: it loses packets and delays the rest.

Each packet is lost independently with probability ``loss`` (Bernoulli);
the survivors arrive after a latency drawn from the link's distribution.
Packets overtake each other when latencies vary, as on a real network.
The data direction (sender to receiver) and the ack direction are separate
links with separate random streams, so their losses are independent.

A packet in flight is a scheduled SimPy event whose callback delivers it;
no process is started per packet.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy

from alosim.dists import Constant
from alosim.scenario import LinkSpec
from alosim.streams import Draws, Streams


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
        self._on_arrival = on_arrival
        self._lost = streams.uniforms(f"link.{name}.loss")
        latency = spec.latency
        if isinstance(latency, Constant):
            value = latency.value
            self._latency: Callable[[], float] = lambda: value
        else:
            rng = streams.generator(f"link.{name}.latency")
            self._latency = Draws(lambda n: latency.sample(rng, n))

    def send(self, packet: tuple[Any, ...]) -> bool:
        """Put ``packet`` on the link; return False if the network dropped it."""
        if self.loss and self._lost() < self.loss:
            return False
        event = self.env.timeout(self._latency(), packet)
        event.callbacks.append(self._on_arrival)
        return True
