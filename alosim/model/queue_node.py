"""A topology's queue node: a broker whose subscriptions each deliver to a consumers node.

A ``queue`` node sits between the node that publishes to it (the producer, a
service, or a consumers node) and one or more ``consumers`` nodes. The link
into it is its *publish link* (publisher -> broker: the publish and its ack),
each link out of it a *consume link* (broker -> consumers: deliveries, and the
consumers' acks and nacks) -- the two hops of a queue pipeline
(:mod:`alosim.model.pipeline`).

**One pipeline per subscription.** Each link out of a queue node is a
subscription of its own (SNS fanning out to several SQS queues, the
subscriptions of a Pub/Sub topic): it gets every message, with its own queue,
leases, redeliveries, dead letters and consumer group. A subscription is built
as one pipeline world (:class:`QueueHop`: the publisher's sender, the publish
link, the broker, the consume link and the consumers node's consumers), in the
topology's environment, its random streams named after its path
(``publisher>queue>consumers.``). The publisher publishes each message to every
subscription, as a producer with several links sends each message on each
(:class:`~alosim.model.topology.ProducerSender`) and a service hands each call
to the sender of every link out of it.

**What that approximates.** A real fan-out broker takes one publish, acks it
once, and copies it into every subscription's queue. Here each subscription
has its own copy of the publish link, with the link's settings but its own
draws: a publish lost (or resent) on one subscription's link is not lost (or
resent) on another's, and the publisher retries each subscription's publish on
its own. With a reliable publish link (the usual case: the broker acks what it
stored) the two are the same; with a lossy one the subscriptions' publish-side
duplicates and losses are independent where a real broker's would be shared.
What the question of fan-out is about is exact: one subscription's slow
consumers, expired leases and redeliveries touch no other subscription (its
broker, consumers and streams are its own).

The broker node itself makes no side effect; its figures are its
subscriptions' (redeliveries, dead letters). A crash of the node crashes the
broker of every subscription at once; a crash of a consumers node crashes its
consumers and the senders of its links out.

A publish that the broker's store catches as a repeat of an earlier call with
the same key -- another message, the publisher's caller having called twice --
is acked and *absorbed* (see :mod:`alosim.model.topology`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alosim.model.broker import Broker
from alosim.model.consumers_node import NodeConsumer
from alosim.model.message import Message
from alosim.model.sender import Sender
from alosim.model.world import World
from alosim.scenario import Broker as BrokerSpec
from alosim.scenario import ConsumeLinks, Consumer as ConsumerSpec
from alosim.scenario import Network, Scenario, TopologyLink
from alosim.streams import Streams

if TYPE_CHECKING:
    from alosim.model.pipeline import Pipeline
    from alosim.model.topology import Topology


class NodeBroker(Broker):
    """A queue node's broker on one subscription: a publish its store catches as the
    repeat of another message with the same key is absorbed, not a false positive."""

    __slots__ = ("absorbed",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.absorbed = 0  # publishes caught as repeated calls

    def _caught(self, msg: Message, attempt: int, entries: int) -> None:
        if not entries and self.store.kind not in ("sequence", "bloom") and self.world.keys_kept:  # type: ignore[attr-defined]
            # Only another message with the same key put it in the store: a repeated call.
            msg.absorbed = True
            self.absorbed += 1
            self.stats.publish_duplicates_caught += 1
            self.rec.duplicates_detected += 1
            if msg.id < self.rec.trace_limit:
                self.rec.event(self.env._now, self.actor, "duplicate_detected", msg.id, attempt, "repeated call")
            self._ack(msg, attempt)
            self._release(msg)
            return
        super()._caught(msg, attempt, entries)


class QueueHop(World):
    """One subscription of a queue node: publisher -> broker -> consumers node, as a
    queue pipeline in the topology's environment (see the module docstring).

    ``link`` stands for the path (from the publisher, to the consumers node, with the
    publish link's data and ack): what the topology's wiring reads of a hop."""

    def __init__(self, topology: Topology, publish: TopologyLink, consume: TopologyLink,
                 scenario: Scenario, *, head: bool, streams: Streams, sender_kind: Callable[..., Sender],
                 untraced: int, answer: Callable[[Message], None]) -> None:
        """The topology's wiring gives what its hops share: the subscription's ``streams``
        (named after its path), the publisher's ``sender_kind`` (the producer's own on
        the ``head`` hop, else one fed by the publisher's effects), where untraced calls'
        ids begin, and how a settled publish answers a caller waiting for it."""
        self.answer = answer
        self.topology = topology
        self.publish, self.consume = publish, consume
        self.broker_node = publish.to
        self.link = TopologyLink(**{"from": publish.from_, "to": consume.to, "data": publish.data,
                                    "ack": publish.ack, "partitions": publish.partitions})
        publisher = topology.nodes[publish.from_]
        self.keys_kept = (publisher.kind == "producer" or publisher.onward is None
                          or publisher.onward.identity == "keep")
        broker = topology.nodes[publish.to].broker or BrokerSpec()
        consumers = topology.nodes[consume.to]
        spec = scenario.model_copy(update={
            "sender": publisher.sender, "broker": broker, "consumer": consumers.consumer or ConsumerSpec(),
            "network": Network(data=publish.data, ack=publish.ack, partitions=publish.partitions,
                               consume=ConsumeLinks(data=consume.data, ack=consume.ack)),
            "messages": scenario.messages if head else None,
            "duration": scenario.duration if head else None,
            "max_time": None, "topology": None, "faults": []})
        super().__init__(spec, topology.seed, env=topology.env,
                         streams=streams, sender_kind=sender_kind,
                         consumer_kind=NodeConsumer, broker_kind=NodeBroker)
        sender = self.senders[0]
        sender.actor = publish.from_
        if head:
            sender.nodes = len(topology.nodes)  # type: ignore[attr-defined]
            sender.fed = []  # type: ignore[attr-defined]
        else:
            trace_n = scenario.observe.trace_messages
            sender.setup(self.keys_kept, trace_n)  # type: ignore[attr-defined]
            if trace_n:
                self.rec.trace_limit = untraced
            sender.rate = 0.0  # open loop: its arrivals are the calls handed to it
            if publisher.onward is None or publisher.onward.ack == "before-call":
                # Nobody waits for these publishes: acks need no answer passed upstream.
                self.ack_link.on_arrival = Sender.on_packet.__get__(sender)
        onward = consumers.onward
        keep = onward is None or onward.identity == "keep"
        for consumer in self.queue.consumers:
            consumer.setup(topology.stats[consume.to], keep)  # type: ignore[attr-defined]

    @property
    def queue(self) -> Pipeline:
        assert self.pipeline is not None
        return self.pipeline  # type: ignore[return-value]

    @property
    def broker_absorbed(self) -> int:
        """Publishes the broker's store caught as repeated calls (see :class:`NodeBroker`)."""
        return self.queue.broker.absorbed  # type: ignore[attr-defined, no-any-return]

    def settled(self, msg: Message) -> None:
        super().settled(msg)
        self.answer(msg)

    def lane(self, actor: str) -> str:
        """The node a trace row of ``actor`` belongs to, or the subscription's path
        (``publisher>queue>consumers``) for the network's rows."""
        if actor == self.link.from_ or actor.startswith("sender"):
            return self.link.from_
        if actor == "broker":
            return self.broker_node
        if actor.startswith("consumer"):
            return self.consume.to
        return f"{self.publish.from_}>{self.broker_node}>{self.consume.to}"
