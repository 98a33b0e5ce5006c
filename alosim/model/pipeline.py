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

:meth:`Pipeline.conservation` keeps the pipeline's books per hop, as
:meth:`alosim.model.world.World.packet_books` does for a single hop: every
publish, publish ack, delivery, consumer ack and broker entry accounted for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alosim.model.books import Books, Broken
from alosim.model.broker import Broker
from alosim.model.consumer import PROCESSING, Consumer, ConsumerStore
from alosim.model.dedup import make_store
from alosim.model.link import Link
from alosim.model.sender import Sender
from alosim.observe.pipeline import OVERFLOW_LOSS_CAUSE, PIPELINE_LOSS_CAUSES, PipelineStats
from alosim.scenario import ConsumeLinks

if TYPE_CHECKING:
    # The world imports this module: the name is for the type checker only.
    from alosim.model.faults import Crashable
    from alosim.model.world import World


class Pipeline:
    """The broker and consumers of one run, and what they measure."""

    def __init__(self, world: World, *, sender_kind: Callable[..., Sender] = Sender,
                 consumer_kind: Callable[..., Consumer] = Consumer,
                 broker_kind: Callable[..., Broker] = Broker) -> None:
        """``sender_kind``, ``consumer_kind`` and ``broker_kind`` make the actors (a
        topology's subscription makes its own: see :mod:`alosim.model.subscription`)."""
        scenario = world.scenario
        assert scenario.broker is not None and scenario.consumer is not None
        self.world = world
        rec = world.rec
        self.stats = stats = PipelineStats()
        rec.add_histogram(stats.consume_latency)  # binned as it goes, not held to the end
        for cause in PIPELINE_LOSS_CAUSES:
            rec.loss_causes.setdefault(cause, 0)
        self.bounded = scenario.broker.max_length is not None
        if self.bounded:
            rec.loss_causes.setdefault(OVERFLOW_LOSS_CAUSE, 0)
        env, streams = world.env, world.streams
        network = scenario.network
        consume = network.consume or ConsumeLinks()
        world.ack_link = world.first_hop_link("ack")
        # A FIFO consume link keeps the order per consumer: a delivery names its consumer,
        # an ack or nack travels on the entry its consumer holds.
        self.consume_ack = Link(env, "consume.ack", consume.ack, streams, self._consumer_packet,
                                recorder=rec, connection=lambda packet: packet[0].consumer)
        self.consume_data = Link(env, "consume.data", consume.data, streams, self._delivered,
                                 recorder=rec, connection=lambda packet: packet[2])
        spec = scenario.consumer
        # A Bloom filter's hashes are salted from the run's streams, so that
        # which ids collide changes with the seed.
        salt = int(streams.generator("consumer.dedup").integers(0, 1 << 63))
        shared = ConsumerStore(make_store(spec.dedup, salt), spec.dedup.kind not in (None, "none"),
                               spec.dedup.durable, stats, rec)
        self.consumer_store = shared
        self.consumers = [consumer_kind(world, i, spec, stats, shared, self.consume_ack)
                          for i in range(spec.count)]
        extension = spec.lease_extension
        self.extending = extension is not None
        self.broker = broker_kind(world, scenario.broker, stats, world.ack_link, self.consume_data,
                             spec.count,
                             lease_cap_s=extension.max if extension is not None else None,
                             pull_batch=spec.pull.batch if spec.pull is not None else None)
        for consumer in self.consumers:
            if consumer.pull:
                consumer.pull_done = self.broker.pull_done
                consumer.pull_switched = self.broker.pull_switched
        # A Bloom filter's bit array is allocated whole: count it from the start,
        # as a receiver does.
        shared.sync()
        self.broker.sync_store()
        if spec.count == 1:
            self.consume_data.on_arrival = self.consumers[0].on_packet
        self.consume_ack.on_arrival = self.broker.on_consumer_packet
        world.data_link = world.first_hop_link("data", self.broker.on_packet)
        world.receivers = []
        world.receiver_count = 1
        world.make_senders(sender_kind)

    def _delivered(self, event: Any) -> None:
        self.consumers[event._value[2]].on_packet(event)

    def _consumer_packet(self, event: Any) -> None:
        self.broker.on_consumer_packet(event)

    def targets(self, kind: str, index: str) -> list[Crashable]:
        """The actors a fault of ``kind`` (broker, consumer-N, consumers) crashes."""
        if kind == "broker":
            return [self.broker]
        return [self.consumers[int(index)]] if index else list(self.consumers)

    def sample(self, now: float) -> None:
        self.broker.sync_store(now)
        self.consumer_store.sync(now)
        broker = self.broker
        self.stats.sample(self.world.rec.series, broker.ready_count, broker.in_flight)

    # -- accounting ------------------------------------------------------------------

    def held(self) -> int:
        """Leases, ready entries and copies waiting in the consumers' inboxes."""
        broker = self.broker
        return len(broker.leases) + len(broker.ready) + sum(len(c.inbox) for c in self.consumers)

    def work(self, counts: dict[str, int]) -> None:
        """Add the broker's redeliveries, lease expiries and nacks to ``counts``."""
        stats = self.stats
        counts["nacks"] = stats.nacks
        counts["lease_expiries"] = stats.lease_expiries
        counts["redeliveries"] = stats.consume_redeliveries

    def watched_events(self) -> dict[str, tuple[Callable[[Any], Any]]]:
        """The scheduled events :meth:`conservation` counts, by their callbacks:
        packets on the second hop's links, and publishes being written."""
        return {"consume.data": self.consume_data._callbacks,
                "consume.ack": self.consume_ack._callbacks,
                "broker.service": self.broker._accept_callbacks}

    def conservation(self, in_flight: dict[str, int]) -> list[Broken]:
        """The pipeline's books per hop; returns the identities that fail.

        Each side of an identity is counted by a different actor (the
        producer or the broker sends, the link loses or duplicates, the far
        end counts arrivals), so a packet that goes missing or is counted
        twice breaks one. ``in_flight`` is
        :meth:`alosim.model.world.World.packets_in_flight`.
        """
        world = self.world
        rec, stats, broker = world.rec, self.stats, self.broker
        books = Books()
        need = books.need
        books.add(world.data_books(in_flight, stats.publishes_dropped_while_down, "at the broker",
                                   prefix="publishes: "))
        # Each publish that arrived is accepted, caught, dropped by the store
        # (false positive, stale), refused by a full queue, lost in a crash
        # before its write ended, or still being written.
        acked_publishes = (stats.publishes_accepted + stats.publish_duplicates_caught
                           + stats.publish_false_positives + stats.publish_stale_drops)
        handled = (acked_publishes + stats.broker_publishes_rejected + stats.publishes_lost_in_crash
                   + in_flight["broker.service"])
        need("publishes_arrived", rec.deliveries == handled,
             f"publishes: arrived {rec.deliveries} != accepted + caught + dropped by the store "
             f"+ refused by a full queue + lost in a crash + being written {handled}")
        # Publish acks: one per publish the broker accepted or its store
        # dropped, a negative one per publish refused; then the single hop's
        # identity on the producer's side (which counts the nacks too).
        need("publish_acks", rec.acks_sent == acked_publishes,
             f"publish acks: acks_sent {rec.acks_sent} != accepted + caught + dropped by the "
             f"store {acked_publishes}")
        need("publish_nacks", rec.nacks_sent == stats.broker_publishes_rejected,
             f"publish nacks: nacks_sent {rec.nacks_sent} != refused by a full queue "
             f"{stats.broker_publishes_rejected}")
        books.add(world.ack_books(in_flight))
        # The stores' drops, counted per hop and in total.
        need("duplicates_detected", rec.duplicates_detected
             == stats.publish_duplicates_caught + stats.consumer_duplicates_caught,
             f"duplicates_detected {rec.duplicates_detected} != caught at the broker "
             f"{stats.publish_duplicates_caught} + caught at the consumers "
             f"{stats.consumer_duplicates_caught}")
        need("false_positive_drops",
             rec.false_positive_drops == stats.publish_false_positives + stats.consumer_false_positives,
             f"false_positive_drops {rec.false_positive_drops} != false positives at the broker "
             f"{stats.publish_false_positives} + at the consumers {stats.consumer_false_positives}")
        need("stale_drops", rec.stale_drops == stats.publish_stale_drops,
             f"stale_drops {rec.stale_drops} != stale drops at the broker {stats.publish_stale_drops}")
        # Broker entries: each ends consumed, dead-lettered, lost in a crash or
        # dropped from the head of a full queue, or is still live (ready,
        # waiting for a redelivery, or in flight).
        live = len(broker.live)
        ended = (stats.consumed + stats.dead_lettered + stats.broker_lost_in_crash
                 + stats.broker_overflow_dropped)
        need("broker_entries", stats.publishes_accepted == ended + live,
             f"broker entries: accepted {stats.publishes_accepted} != consumed {stats.consumed} + "
             f"dead-lettered {stats.dead_lettered} + lost in a crash {stats.broker_lost_in_crash} "
             f"+ dropped by a full queue {stats.broker_overflow_dropped} + live {live}")
        need("broker_live", broker.ready_count + broker.in_flight == live,
             f"broker entries: ready {broker.ready_count} + in flight {broker.in_flight} != live {live}")
        need("unbounded_queue",
             self.bounded or stats.broker_overflow_dropped + stats.broker_publishes_rejected == 0,
             f"an unbounded broker queue dropped {stats.broker_overflow_dropped} and refused "
             f"{stats.broker_publishes_rejected} publishes")
        need("broker_held", sum(broker.held) == broker.in_flight,
             f"broker: deliveries held by consumers {sum(broker.held)} != in flight {broker.in_flight}")
        need("dead_letters", stats.dlq_size == stats.dead_lettered,
             f"dlq_size {stats.dlq_size} != dead_lettered {stats.dead_lettered}")
        # Deliveries: each is lost on the link, or arrives at a consumer
        # (twice if duplicated), or is still travelling.
        need("consume_network_duplicates", stats.consume_network_duplicates == self.consume_data.duplicated,
             f"consume_network_duplicates {stats.consume_network_duplicates} != duplicated on "
             f"consume.data {self.consume_data.duplicated}")
        reached = stats.consumer_arrivals + stats.consumer_dropped_while_down
        need("consume_deliveries", stats.consume_deliveries - stats.consume_data_lost + self.consume_data.duplicated
             == reached + in_flight["consume.data"],
             f"deliveries: consume_deliveries {stats.consume_deliveries} - lost "
             f"{stats.consume_data_lost} + duplicated {self.consume_data.duplicated} != arrived at "
             f"a consumer {reached} + in flight {in_flight['consume.data']}")
        # Each arrival is caught, dropped as a false positive, fails, is
        # processed (an effect), is dropped in a crash before its effect, or
        # is still at a consumer (waiting, or being processed).
        at_consumers = sum(len(c.inbox) + len(c.arriving)
                           + sum(1 for work in c.work.values() if work[2] == PROCESSING)
                           for c in self.consumers)
        handled = (stats.consumer_duplicates_caught + stats.consumer_false_positives
                   + stats.processing_failures + rec.processed + stats.consumer_dropped_in_crash
                   + at_consumers)
        need("consumer_arrivals", stats.consumer_arrivals == handled,
             f"deliveries: consumer arrivals {stats.consumer_arrivals} != caught + false positives "
             f"+ failed + processed + dropped in a crash + at a consumer {handled}")
        # Consumer acks and nacks: each settles its entry (consumed), arrives
        # late or stale, is acted on as a nack, is dropped by a broker that is
        # down, is lost, or is still travelling.
        # Lease extensions travel the same link: each is applied, ignored or lost.
        arrived_acks = (stats.consumed + stats.consumer_acks_late + stats.nacks + stats.nacks_stale
                        + stats.consumer_acks_dropped_while_down
                        + stats.lease_extensions_applied + stats.lease_extensions_ignored)
        sent = stats.consumer_acks_sent + stats.lease_extensions_sent
        lost = stats.consumer_acks_lost + stats.lease_extensions_lost
        need("consumer_acks", sent + self.consume_ack.duplicated == arrived_acks + lost + in_flight["consume.ack"],
             f"consumer acks and lease extensions: sent {sent} + duplicated "
             f"{self.consume_ack.duplicated} != arrived {arrived_acks} + lost "
             f"{lost} + in flight {in_flight['consume.ack']}")
        if self.broker.pull_batch is not None:
            # What a pull consumer holds is the copies sent to it and not yet
            # done with: on the link, waiting out the start delay, in the inbox,
            # or at work.
            travelling = [0] * len(self.consumers)
            callbacks = self.consume_data._callbacks
            for _, _, _, event in world.env._queue:
                if event.callbacks is callbacks:
                    travelling[event._value[2]] += 1
            for c in self.consumers:
                holds = travelling[c.index] + len(c.arriving) + len(c.inbox) + len(c.work)
                need("pull_held", self.broker.pulled[c.index] == holds,
                     f"pull: consumer-{c.index} holds {self.broker.pulled[c.index]} as the broker "
                     f"counts, != on the way {travelling[c.index]} + waiting {len(c.arriving)} + "
                     f"in the inbox {len(c.inbox)} + at work {len(c.work)}")
        return books.broken

    def columns(self) -> dict[str, Any]:
        rec = self.world.rec
        return self.stats.columns(rec.loss_causes, rec.messages, self.bounded, self.extending)


def build_pipeline(world: World, *, sender_kind: Callable[..., Sender] = Sender,
                   consumer_kind: Callable[..., Consumer] = Consumer,
                   broker_kind: Callable[..., Broker] = Broker) -> Pipeline:
    """Make ``world``'s links, producers, broker and consumers for a pipeline scenario."""
    return Pipeline(world, sender_kind=sender_kind, consumer_kind=consumer_kind, broker_kind=broker_kind)
