"""A subscription of a topology's broker node: publisher -> broker -> consumers node.

A broker node (``queue``, or ``log``) sits between the node that publishes to
it (the producer, a service, or a consumers node) and one or more
``consumers`` nodes. The link into it is its *publish link* (publisher ->
broker: the publish and its ack), each link out of it a *consume link* to a
consumers node -- the two hops of a pipeline (:mod:`alosim.model.pipeline` for
a queue, :mod:`alosim.model.log` for a log, whose consumers fetch: its consume
links carry no settings).

**One pipeline per subscription.** Each link out of a broker node is a
subscription of its own (SNS fanning out to several SQS queues, the
subscriptions of a Pub/Sub topic, several consumer groups on one Kafka topic):
it gets every message, with its own queue (leases, redeliveries, dead letters)
or its own log and offsets, and its own consumer group. A subscription is built
as one pipeline world (:class:`SubscriptionHop`: the publisher's sender, the
publish link, the broker, and the consumers node's consumers), in the
topology's environment, its random streams named after its path
(``publisher>broker>consumers.``). The publisher publishes each message to every
subscription, as a producer with several links sends each message on each
(:class:`~alosim.model.topology.NodeSender`) and a service hands each call
to the sender of every link out of it.

**What that approximates.** A real fan-out broker takes one publish, acks it
once, and copies it into every subscription's queue (a log appends it once,
and every group reads the same record). Here each subscription has its own
copy of the publish link, with the link's settings but its own draws: a
publish lost (or resent) on one subscription's link is not lost (or resent) on
another's, and the publisher retries each subscription's publish on its own.
With a reliable publish link (the usual case: the broker acks what it stored)
the two are the same; with a lossy one the subscriptions' publish-side
duplicates and losses are independent where a real broker's would be shared.
What the question of fan-out is about is exact: one subscription's slow
consumers, expired leases, redeliveries and replays touch no other
subscription (its broker, consumers and streams are its own). The broker's
settings are the node's, the same for every subscription.

A crash of the broker node crashes every subscription's broker at once; a
crash of a consumers node crashes its consumers (or members) and the senders
of its links out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from alosim.model.consumers_node import NodeConsumer, NodeMember
from alosim.model.effects import set_up_caller
from alosim.model.message import Message
from alosim.model.queue_node import NodeBroker
from alosim.model.sender import Sender
from alosim.model.world import World
from alosim.scenario import Broker as BrokerSpec
from alosim.scenario import ConsumeLinks, Network, Scenario, TopologyLink
from alosim.scenario import Consumer as ConsumerSpec
from alosim.streams import Streams

if TYPE_CHECKING:
    from alosim.model.topology import Topology


class SubscriptionHop(World):
    """One subscription of a broker node: publisher -> broker -> consumers node, as a
    pipeline in the topology's environment (see the module docstring).

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
        broker = topology.nodes[publish.to].broker or BrokerSpec(kind=topology.nodes[publish.to].kind)
        self.log = broker.kind == "log"
        consumers = topology.nodes[consume.to]
        update: dict[str, Any] = {
            "sender": publisher.sender, "broker": broker, "consumer": consumers.consumer or ConsumerSpec(),
            "network": Network(data=publish.data, ack=publish.ack, partitions=publish.partitions,
                               consume=None if self.log else ConsumeLinks(data=consume.data, ack=consume.ack)),
            "messages": scenario.messages if head else None,
            "duration": scenario.duration if head else None,
            "max_time": None, "topology": None, "faults": []}
        super().__init__(scenario.model_copy(update=update), topology.seed, env=topology.env,
                         streams=streams, sender_kind=sender_kind,
                         consumer_kind=NodeConsumer, broker_kind=NodeBroker, member_kind=NodeMember)
        set_up_caller(self, publish.from_, publisher, head=head, nodes=len(topology.nodes), keep=self.keys_kept,
                      untraced=untraced, on_ack=lambda sender: Sender.on_packet.__get__(sender))
        onward = consumers.onward
        keep = onward is None or onward.identity == "keep"
        for consumer in self.consumers:
            consumer.setup(topology.stats[consume.to], keep)  # type: ignore[attr-defined]

    @property
    def broker(self) -> Any:
        """The subscription's broker: a :class:`~alosim.model.queue_node.NodeBroker`, or a log."""
        assert self.pipeline is not None
        return self.pipeline.targets("broker", "")[0]

    @property
    def consumers(self) -> list[Any]:
        """The consumers node's consumers (a queue's) or members (a log's group's)."""
        assert self.pipeline is not None
        return self.pipeline.targets("consumers", "")

    @property
    def broker_absorbed(self) -> int:
        """Publishes the broker's store caught as repeated calls (see :class:`NodeBroker`)."""
        return 0 if self.log else self.broker.absorbed  # type: ignore[no-any-return]

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
