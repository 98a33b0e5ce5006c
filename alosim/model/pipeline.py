"""The wiring of a pipeline: producers -> broker -> consumers.

A scenario with a ``broker:`` section is built here instead of as a single
hop (see :class:`alosim.model.world.World`, which calls :func:`build_pipeline`
and otherwise builds exactly what it always did). The producers are the
single hop's senders, unchanged; what they send to is the broker.

=====================  =================================  ==========================
link                   from -> to                         scenario field
=====================  =================================  ==========================
``data``               producer -> broker (publish)       ``network.data``
``ack``                broker -> producer (publish ack)   ``network.ack``
``consume.data``       broker -> consumer (delivery)      ``network.consume.data``
``consume.ack``        consumer -> broker (ack, nack)     ``network.consume.ack``
=====================  =================================  ==========================

Each link has its own random streams, named after it, so that adding the
second hop shifts no draw of the first.
"""

from __future__ import annotations

from typing import Any

from alosim.model.broker import Broker
from alosim.model.consumer import Consumer, ConsumerStore
from alosim.model.dedup import make_store
from alosim.model.link import Link
from alosim.model.sender import Sender
from alosim.observe_pipeline import PIPELINE_LOSS_CAUSES, PipelineStats
from alosim.scenario import ConsumeLinks


class Pipeline:
    """The broker and consumers of one run, and what they measure."""

    def __init__(self, world: Any) -> None:
        # ``world`` is the alosim.model.world.World being built (not imported
        # here: the world imports this module).
        scenario = world.scenario
        assert scenario.broker is not None and scenario.consumer is not None
        self.world = world
        rec = world.rec
        self.stats = stats = PipelineStats()
        for cause in PIPELINE_LOSS_CAUSES:
            rec.loss_causes.setdefault(cause, 0)
        env, streams = world.env, world.streams
        network = scenario.network
        consume = network.consume or ConsumeLinks()
        partitions = network.partitions
        world.ack_link = Link(env, "ack", network.ack, streams, self._publish_acked,
                              partitions=[p for p in partitions if p.direction in ("both", "ack")],
                              recorder=rec)
        self.consume_ack = Link(env, "consume.ack", consume.ack, streams, self._consumer_packet,
                                recorder=rec)
        self.consume_data = Link(env, "consume.data", consume.data, streams, self._delivered,
                                 recorder=rec)
        spec = scenario.consumer
        shared = ConsumerStore(make_store(spec.dedup), spec.dedup.kind not in (None, "none"),
                               spec.dedup.durable, stats, rec)
        self.consumer_store = shared
        self.consumers = [Consumer(world, i, spec, stats, shared, self.consume_ack)
                          for i in range(spec.count)]
        self.broker = Broker(world, scenario.broker, stats, world.ack_link, self.consume_data,
                             spec.count)
        if spec.count == 1:
            self.consume_data.on_arrival = self.consumers[0].on_packet
        self.consume_ack.on_arrival = self.broker.on_consumer_packet
        world.data_link = Link(env, "data", network.data, streams, self.broker.on_packet,
                               partitions=[p for p in partitions if p.direction in ("both", "data")],
                               recorder=rec)
        world.receivers = []
        world.receiver_count = 1

        n = scenario.sender.count
        quotas: list[int | None]
        if scenario.messages is not None:
            quotas = [scenario.messages // n + (1 if i < scenario.messages % n else 0) for i in range(n)]
        else:
            quotas = [None] * n
        world.senders = [Sender(world, i, scenario.sender, quotas[i], scenario.duration)
                         for i in range(n)]
        if n == 1:
            world.ack_link.on_arrival = world.senders[0].on_packet

    def _publish_acked(self, event: Any) -> None:
        self.world.senders[event._value[0].sender].on_packet(event)

    def _delivered(self, event: Any) -> None:
        self.consumers[event._value[2]].on_packet(event)

    def _consumer_packet(self, event: Any) -> None:
        self.broker.on_consumer_packet(event)

    def targets(self, kind: str, index: str) -> list[Any]:
        """The actors a fault of ``kind`` (broker, consumer-N, consumers) crashes."""
        if kind == "broker":
            return [self.broker]
        return [self.consumers[int(index)]] if index else list(self.consumers)

    def sample(self, now: float) -> None:
        self.broker.sync_store(now)
        self.consumer_store.sync(now)
        broker = self.broker
        self.stats.sample(self.world.rec.series, broker.ready_count, broker.in_flight)

    def columns(self) -> dict[str, Any]:
        rec = self.world.rec
        return self.stats.columns(rec.loss_causes, rec.messages)


def build_pipeline(world: Any) -> Pipeline:
    """Make ``world``'s links, producers, broker and consumers for a pipeline scenario."""
    return Pipeline(world)
