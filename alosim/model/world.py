"""The world of one run: the actors built from a scenario and wired together.

:class:`World` builds the senders, the data and ack links, the receivers and
the fault injectors, and says which actor talks to which over which link: a
data packet goes to the receiver its message is addressed to, an ack back to
the sender that sent it. It also keeps what no single actor could: the fate
of a settled message whose copies are still travelling, and when the run is
over (every sender done and every fate known). ``run`` drives the SimPy
environment until then, or until ``max_time``.

:func:`alosim.simulate.simulate` builds a world, runs it and turns its
recorder into a result; the model never imports ``simulate``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Generator

import simpy

from alosim.model.faults import start_faults
from alosim.model.link import Link
from alosim.model.message import Message
from alosim.model.pipeline import Pipeline, build_pipeline
from alosim.model.receiver import Receiver
from alosim.model.sender import Sender
from alosim.observe import Recorder
from alosim.scenario import Scenario
from alosim.streams import Streams


class World:
    """The actors of one run, wired together."""

    def __init__(self, scenario: Scenario, seed: int,
                 progress: Callable[[float, int], None] | None = None) -> None:
        self.scenario = scenario
        self.progress = progress
        self.env = simpy.Environment()
        self.streams = Streams(seed)
        self.rec = Recorder(trace_messages=scenario.observe.trace_messages)
        # Settled messages with a copy still travelling: their fate (processed
        # or lost) is known only when the last copy is handled.
        self.pending: dict[int, Message] = {}
        self.message_ids = itertools.count()
        self.stop = self.env.event()
        self.pipeline: Pipeline | None = None
        if scenario.broker is not None:
            self.pipeline = build_pipeline(self)  # producer -> broker -> consumers
            return

        partitions = scenario.network.partitions
        self.ack_link = Link(self.env, "ack", scenario.network.ack, self.streams, self._ack_arrived,
                             partitions=[p for p in partitions if p.direction in ("both", "ack")],
                             recorder=self.rec)
        self.receivers = [Receiver(self, i, scenario.receiver) for i in range(scenario.receiver.count)]
        self.receiver_count = len(self.receivers)
        deliver = self.receivers[0].on_packet if len(self.receivers) == 1 else self._data_arrived
        self.data_link = Link(self.env, "data", scenario.network.data, self.streams, deliver,
                              partitions=[p for p in partitions if p.direction in ("both", "data")],
                              recorder=self.rec)

        n = scenario.sender.count
        quotas: list[int | None]
        if scenario.messages is not None:
            quotas = [scenario.messages // n + (1 if i < scenario.messages % n else 0) for i in range(n)]
        else:
            quotas = [None] * n
        self.senders = [Sender(self, i, scenario.sender, quotas[i], scenario.duration) for i in range(n)]
        if n == 1:
            self.ack_link.on_arrival = self.senders[0].on_packet

    # -- wiring ----------------------------------------------------------------

    def _data_arrived(self, event: simpy.Event) -> None:
        self.receivers[event._value[0].receiver].on_packet(event)

    def _ack_arrived(self, event: simpy.Event) -> None:
        self.senders[event._value[0].sender].on_packet(event)

    @property
    def unsettled(self) -> int:
        return sum(sender.unsettled for sender in self.senders)

    @property
    def created(self) -> int:
        """Messages created so far (each sender numbers its own from 0)."""
        return sum(sender.next_seq for sender in self.senders)

    def settled(self, msg: Message) -> None:
        """The sender is done with ``msg``; its fate is known unless a copy still travels."""
        if msg.copies:
            self.pending[msg.id] = msg  # decided when the last copy is handled
        elif not msg.processed:
            self.lost(msg)

    def copies_gone(self, msg: Message) -> None:
        """The last copy of a settled message has been handled: its fate is known."""
        del self.pending[msg.id]
        if not msg.processed:
            self.lost(msg)
        self.check_done()

    def lost(self, msg: Message) -> None:
        """``msg`` is settled and no copy of it was ever processed."""
        rec = self.rec
        rec.lost += 1
        rec.loss_causes[msg.cause or "unexplained"] += 1
        if msg.acked:
            rec.acked_not_processed += 1

    def check_done(self) -> None:
        """Stop once every sender is done and every message's fate is known."""
        if self.pending or self.stop.triggered:
            return
        for sender in self.senders:
            if sender.creating or sender.in_flight or sender.outbox:
                return
        self.stop.succeed()

    # -- running ---------------------------------------------------------------

    def _sample(self) -> None:
        now = self.env.now
        self.rec.messages = self.created
        for receiver in self.receivers:
            receiver.sync_store(now)  # a TTL store shrinks as ids age out
        self.rec.sample(now, self.unsettled)
        if self.pipeline is not None:
            self.pipeline.sample(now)
        if self.progress is not None:
            self.progress(now, self.rec.messages)

    def _sampler(self, every: float) -> Generator[simpy.Event, None, None]:
        while True:
            self._sample()
            yield self.env.timeout(every)

    def run(self) -> None:
        env = self.env
        for sender in self.senders:
            sender.start()
        env.process(self._sampler(self.scenario.observe.sample_every))
        start_faults(self, self.scenario.faults)
        if self.scenario.max_time is not None:
            deadline = env.timeout(self.scenario.max_time)
            deadline.callbacks.append(lambda _: None if self.stop.triggered else self.stop.succeed())
        self.check_done()
        env.run(until=self.stop)
        rec = self.rec
        if not rec.series["time_s"] or rec.series["time_s"][-1] != env.now:
            self._sample()
        # Stopped by max_time: what is not settled is unsettled; a settled
        # message whose copies never got processed is lost.
        rec.unsettled = self.unsettled
        rec.messages = self.created
        for msg in self.pending.values():
            if not msg.processed:
                self.lost(msg)
