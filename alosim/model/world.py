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
from typing import Any

import simpy

from alosim.budget import TRACE_ROWS_PER_MESSAGE, Sampling, Stop, run_until
from alosim.model.books import Books, Broken
from alosim.model.broker import Broker
from alosim.model.consumer import Consumer
from alosim.model.faults import start_faults
from alosim.model.group import Member
from alosim.model.link import Link
from alosim.model.log import LogPipeline, build_log_pipeline
from alosim.model.message import Message
from alosim.model.pipeline import Pipeline, build_pipeline
from alosim.model.receiver import Receiver
from alosim.model.sender import Sender
from alosim.observe import Recorder
from alosim.overload import RecoveryDetector
from alosim.scenario import Scenario
from alosim.streams import Streams


class World:
    """The actors of one run, wired together."""

    def __init__(self, scenario: Scenario, seed: int,
                 progress: Callable[[float, int], None] | None = None, *,
                 env: simpy.Environment | None = None, streams: Streams | None = None,
                 sender_kind: Callable[..., Sender] = Sender,
                 receiver_kind: Callable[..., Receiver] = Receiver,
                 consumer_kind: Callable[..., Consumer] = Consumer,
                 broker_kind: Callable[..., Broker] = Broker,
                 member_kind: Callable[..., Member] = Member) -> None:
        """``env`` and ``streams``, when given, are shared with other worlds: a
        topology's hops (see :mod:`alosim.model.topology`), which also choose the
        kind of their senders and receivers (or, a subscription of a topology's
        queue node, of its senders, broker and consumers)."""
        self.scenario = scenario
        self.progress = progress
        self.env = env if env is not None else simpy.Environment()
        self.streams = streams if streams is not None else Streams(seed)
        self.rec = Recorder(trace_messages=scenario.observe.trace_messages)
        # Settled messages with a copy still travelling: their fate (processed
        # or lost) is known only when the last copy is handled.
        self.pending: dict[int, Message] = {}
        self.message_ids = itertools.count()
        self.stop = self.env.event()
        self.sampling = Sampling(scenario.observe.sample_every, scenario.budget.series_rows)
        # The recovery criterion, fed at every sampling instant (None: the run has no verdict).
        self.recovery = RecoveryDetector.for_scenario(scenario)
        self.stopped_by = ""
        self.stall = Stop()
        # Acked before processing and still being processed when max_time
        # stopped the run: fate unknown (counted as unsettled).
        self.undecided = 0
        self.broken_books: list[Broken] = []  # the identities that failed (see run)
        # Calls a topology's node caught as duplicates of an earlier call with
        # the same key (see alosim.model.topology): settled, never processed, not lost.
        self.absorbed = 0
        # Senders tell a sequence store their floor (see SequenceDedup): the
        # receiver's, or in a pipeline the broker's -- the producer -> broker
        # connection is the one the numbers belong to.
        far_end = scenario.broker if scenario.broker is not None else scenario.receiver
        self.sequence_floors = far_end.dedup.kind == "sequence"
        self.pipeline: Pipeline | LogPipeline | None = None
        if scenario.broker is not None:
            if scenario.broker.kind == "log":
                # producer -> log -> consumer group
                self.pipeline = build_log_pipeline(self, sender_kind=None if sender_kind is Sender else sender_kind,
                                                   member_kind=member_kind)
            else:
                # producer -> broker -> consumers
                self.pipeline = build_pipeline(self, sender_kind=sender_kind, consumer_kind=consumer_kind,
                                               broker_kind=broker_kind)
            return

        self.ack_link = self.first_hop_link("ack")
        self.receivers = [receiver_kind(self, i, scenario.receiver) for i in range(scenario.receiver.count)]
        self.receiver_count = len(self.receivers)
        deliver = self.receivers[0].on_packet if len(self.receivers) == 1 else self._data_arrived
        self.data_link = self.first_hop_link("data", deliver)
        self.make_senders(sender_kind)

    # -- wiring ----------------------------------------------------------------

    def first_hop_link(self, name: str, on_arrival: Callable[[Any], Any] | None = None) -> Link:
        """The sender's hop, ``data`` (to the receiver or broker) or ``ack`` (back to the
        senders, which is the default destination), with the partitions that cut it."""
        spec = getattr(self.scenario.network, name)
        partitions = [p for p in self.scenario.network.partitions if p.direction in ("both", name)]
        return Link(self.env, name, spec, self.streams, on_arrival or self._ack_arrived,
                    partitions=partitions, recorder=self.rec)

    def make_senders(self, kind: Callable[..., Sender] = Sender) -> None:
        """The senders (producers), sharing ``messages`` between them, behind ``ack_link``;
        ``kind`` makes one (a log's producers place each message on a partition)."""
        scenario = self.scenario
        n = scenario.sender.count
        quotas: list[int | None]
        if scenario.messages is not None:
            quotas = [scenario.messages // n + (1 if i < scenario.messages % n else 0) for i in range(n)]
        else:
            quotas = [None] * n
        self.senders = [kind(self, i, scenario.sender, quotas[i], scenario.duration) for i in range(n)]
        if n == 1:
            self.ack_link.on_arrival = self.senders[0].on_packet

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
        return sum(sender.created for sender in self.senders)

    def settled(self, msg: Message) -> None:
        """The sender is done with ``msg``; its fate is known unless a copy still travels."""
        if msg.copies:
            self.pending[msg.id] = msg  # decided when the last copy is handled
        elif not msg.processed:
            self.lost(msg)

    def copies_gone(self, msg: Message) -> None:
        """The last copy of a settled message has been handled: its fate is known."""
        pending = self.pending
        del pending[msg.id]
        if not msg.processed:
            self.lost(msg)
        if not pending:  # (check_done's first test, made here: no call per message)
            self.check_done()

    def lost(self, msg: Message) -> None:
        """``msg`` is settled and no copy of it was ever processed."""
        if msg.absorbed:
            self.absorbed += 1  # its key's effect was made by an earlier call
            return
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
        if self.pipeline is None:
            receivers = self.receivers
            self.rec.sample(now, self.unsettled, sum(len(r.queue) for r in receivers),
                            sum(r.busy for r in receivers))
        else:
            self.rec.sample(now, self.unsettled)
        if self.pipeline is not None:
            self.pipeline.sample(now)
        if self.progress is not None:
            self.progress(now, self.rec.messages)

    def _sampler(self, every: float) -> Generator[simpy.Event, None, None]:
        detector = self.recovery
        if detector is None:  # rows only: sample as often as the series keeps rows
            while True:
                self._sample()
                yield self.env.timeout(self.sampling.fit(self.rec.series))
        # The recovery criterion reads every instant of `every`, whatever the
        # series keeps; a row is kept at every `stride`-th instant, on the grid
        # the loop above would sample (the same instants until the series fills).
        rec, sampling = self.rec, self.sampling
        tick = 0
        while True:
            detector.observe(self.env.now, self.created, rec.processed_unique, rec.duplicate_processing)
            if tick % sampling.stride == 0:
                self._sample()
                sampling.fit(rec.series)
            tick += 1
            yield self.env.timeout(every)

    def run(self) -> None:
        env = self.env
        self.start()
        if self.scenario.max_time is not None:
            deadline = env.timeout(self.scenario.max_time)
            deadline.callbacks.append(lambda _: None if self.stop.triggered else self.stop.succeed())
        self.check_done()
        budget = self.scenario.budget
        self.stall = run_until(env, self.stop, Meter(self), budget.stall_events, budget.memory,
                               self.scenario.observe.trace_messages * TRACE_ROWS_PER_MESSAGE)
        self.stopped_by = self.stall.reason
        self.finish()

    def start(self) -> None:
        """Start the senders, the sampler and the faults (the clock is not run)."""
        for sender in self.senders:
            sender.start()
        self.env.process(self._sampler(self.scenario.observe.sample_every))
        start_faults(self, self.scenario.faults)

    def finish(self) -> None:
        """The end-of-run accounting, once the clock has stopped: the last sample,
        the fates decided by the stop, and the books."""
        env = self.env
        rec = self.rec
        if not rec.series["time_s"] or rec.series["time_s"][-1] != env.now:
            self._sample()
        if self.recovery is not None:
            self.recovery.observe(env.now, self.created, rec.processed_unique, rec.duplicate_processing)
        self.sampling.fit(rec.series)
        # Stopped by max_time: what is not settled is unsettled; a settled
        # message whose copies never got processed is lost -- unless nothing
        # gave it up: acked before processing, its processing was still under
        # way, so its fate is not known either (unsettled too).
        rec.unsettled = self.unsettled
        rec.messages = self.created
        self.undecided = 0
        for msg in self.pending.values():
            if msg.processed:
                continue
            if msg.cause is None and msg.acked:
                self.undecided += 1
            else:
                self.lost(msg)
        rec.unsettled += self.undecided
        # A closed loop creates a message when the window has room and sends
        # it at once: each waited zero in the outbox.
        closed_loop = sum(sender.created for sender in self.senders if sender.rate is None)
        rec.outbox_wait.add_repeated(0.0, closed_loop)
        rec.flush()
        in_flight = self.packets_in_flight()
        rec.acks_in_flight = in_flight["ack"]
        rec.nacks_in_flight = in_flight["nack"]
        # A failed identity is reported with the result (a failed check), not raised.
        self.broken_books = self.conservation(in_flight)

    # -- accounting ------------------------------------------------------------

    def held(self) -> int:
        """Items the run holds beside its messages (see :class:`Meter`)."""
        held = len(self.env._queue)
        for sender in self.senders:
            held += len(sender._timers)
        for receiver in self.receivers:
            held += len(receiver.queue)
        if self.pipeline is not None:
            held += self.pipeline.held()
        return held

    def work(self) -> dict[str, int]:
        """The work one event may do many times over, so far (see :data:`alosim.budget.WORK`)."""
        rec = self.rec
        counts = {"retransmissions": rec.retransmissions, "suppressed": rec.retries_suppressed,
                  "rejections": rec.nacks_sent,
                  "faults": rec.crashes + rec.slowdowns}
        if self.pipeline is not None:
            self.pipeline.work(counts)
        return counts

    def packets_in_flight(self) -> dict[str, int]:
        """Packets still travelling on each link, counted from the event queue:
        ``data``, ``ack`` (positive acks) and ``nack`` (negative acks, on the
        ack link too); in a pipeline also ``consume.data``, ``consume.ack``
        and the publishes the broker is still writing, ``broker.service``."""
        watched = {"data": self.data_link._callbacks, "ack": self.ack_link._callbacks}
        if self.pipeline is not None:
            watched.update(self.pipeline.watched_events())
        by_callbacks = {id(callbacks): name for name, callbacks in watched.items()}
        counts = dict.fromkeys([*watched, "nack"], 0)
        for _, _, _, event in self.env._queue:
            name = by_callbacks.get(id(event.callbacks))
            if name is not None:
                if name == "ack" and event._value[1] < 0:
                    name = "nack"  # a negative ack carries its attempt negated
                counts[name] += 1
        return counts

    def conservation(self, in_flight: dict[str, int]) -> list[Broken]:
        """The identities every run must satisfy; returns those that fail
        (see :mod:`alosim.model.books`).

        Each is counted by a different mechanism on either side, so that a
        message or a packet that goes missing (or is counted twice) breaks
        one. The message-level books (:meth:`message_books`) hold for any
        run; the packet books are the single hop's (:meth:`packet_books`) or
        the pipeline's, per hop (:meth:`alosim.model.pipeline.Pipeline.conservation`).
        Cheap (a pass over what is still queued), so it runs after every run.
        """
        broken = self.message_books()
        if self.pipeline is not None:
            broken += self.pipeline.conservation(in_flight)
        else:
            broken += self.packet_books(in_flight)
        return broken

    def message_books(self) -> list[Broken]:
        """Every message ends processed, lost with a known cause, or unsettled;
        every duplicate processing has a cause; the producer's fates add up;
        the clock stopped by ``max_time``."""
        rec = self.rec
        books = Books()
        need = books.need

        unsettled = [msg for sender in self.senders for msg in sender.unsettled_messages()]
        at_senders = rec.unsettled - self.undecided
        need("unsettled", len(unsettled) == at_senders,
             f"unsettled messages found {len(unsettled)} != unsettled at senders {at_senders}")
        waiting = sum(1 for msg in unsettled if not msg.processed) + self.undecided
        need("message_fates", rec.processed_unique + rec.lost + self.absorbed + waiting == rec.messages,
             f"processed_unique {rec.processed_unique} + lost {rec.lost} + caught as an earlier "
             f"call's duplicate {self.absorbed} + unsettled unprocessed {waiting} != messages {rec.messages}")
        need("loss_causes", sum(rec.loss_causes.values()) == rec.lost,
             f"losses by cause {sum(rec.loss_causes.values())} do not add up to lost {rec.lost}")
        need("losses_explained", rec.loss_causes["unexplained"] == 0,
             f"{rec.loss_causes['unexplained']} losses without a cause")
        causes = self.duplicate_causes()
        need("duplicate_causes", sum(causes.values()) == rec.duplicate_processing,
             f"duplicate processings by cause {sum(causes.values())} do not add up to "
             f"duplicate_processing {rec.duplicate_processing}")
        unexplained = sum(n for cause, n in causes.items() if cause.endswith("unexplained"))
        need("duplicates_explained", unexplained == 0,
             f"{unexplained} duplicate processings without a cause")
        need("sender_fates", rec.messages == rec.acked + rec.gave_up + rec.abandoned + at_senders,
             f"messages {rec.messages} != acked {rec.acked} + gave_up {rec.gave_up} + abandoned "
             f"{rec.abandoned} + unsettled at senders {at_senders}")
        max_time = self.scenario.max_time
        need("clock", max_time is None or self.env.now <= max_time,
             f"the run stopped at t={self.env.now}, after max_time {max_time}")
        return books.broken

    def duplicate_causes(self) -> dict[str, int]:
        """Duplicate processings by cause: the receivers' causes, or in a
        pipeline the per-hop causes (``publish.<cause>``, ``consume.<cause>``)."""
        if self.pipeline is None:
            return dict(self.rec.duplicate_causes)
        stats = self.pipeline.stats
        causes = {f"publish.{c}": n for c, n in stats.publish_duplicates.items()}
        causes.update({f"consume.{c}": n for c, n in stats.consume_duplicates.items()})
        # The receivers' causes belong to a single hop: in a pipeline they stay 0.
        causes.update({f"receiver.{c}": n for c, n in self.rec.duplicate_causes.items() if n})
        return causes

    def packet_books(self, in_flight: dict[str, int]) -> list[Broken]:
        """The single hop's packets: every transmission and every ack accounted for."""
        rec = self.rec
        books = Books()
        need = books.need
        books.add(self.data_books(in_flight, rec.data_dropped_while_down, "at a receiver"))
        # Each delivery is processed, caught, dropped, lost in a crash or still at a receiver.
        # (A copy whose id is being written was processed already.)
        at_receivers = sum(r.waiting for r in self.receivers)
        refused = rec.queue_dropped + rec.queue_rejected + rec.queue_evicted
        # Copies dropped on arrival because a copy was already here; those the
        # store caught on arrival are in duplicates_detected (or its kin) already.
        beside = rec.arrival_duplicates_dropped - rec.arrival_duplicates_reacked
        handled = (rec.processed + rec.duplicates_detected + rec.false_positive_drops
                   + rec.stale_drops + rec.dropped_in_crash + refused + beside
                   + rec.expired_discarded + at_receivers)
        need("deliveries", rec.deliveries == handled,
             f"deliveries {rec.deliveries} != processed + caught + dropped + refused by a full "
             f"queue + dropped on arrival + discarded as expired + at a receiver {handled}")
        need("arrival_duplicates", 0 <= rec.arrival_duplicates_reacked <= min(
                 rec.arrival_duplicates_dropped,
                 rec.duplicates_detected + rec.false_positive_drops + rec.stale_drops),
             f"arrival_duplicates_reacked {rec.arrival_duplicates_reacked} is not among the "
             f"copies dropped on arrival ({rec.arrival_duplicates_dropped}) and caught by a store")
        # Each rejection answers with one negative ack; the receivers' workers
        # never exceed their number.
        need("nacks", rec.nacks_sent == rec.queue_rejected,
             f"nacks_sent {rec.nacks_sent} != queue_rejected {rec.queue_rejected}")
        for r in self.receivers:
            need("workers", r.busy == len(r._work) <= r.workers,
                 f"{r.actor}: {r.busy} busy workers, {len(r._work)} at work, of {r.workers}")
            if r._on_arrival:
                # The arrival index holds exactly the messages with a copy here.
                here = sorted({m.id for m, _ in r.queue} | {m.id for m, _, _ in r._work.values()})
                need("arrival_index", sorted(r._present) == here and len(here) == len(r.queue) + len(r._work),
                     f"{r.actor}: arrival index {len(r._present)} ids != the "
                     f"{len(r.queue) + len(r._work)} copies queued or in progress")
        books.add(self.ack_books(in_flight))
        return books.broken

    def data_books(self, in_flight: dict[str, int], dropped_while_down: int, where: str,
                   prefix: str = "") -> list[Broken]:
        """The senders' data packets: each transmission is lost on the link (or
        dropped in a partition, which the link also reports as lost), or
        arrives ``where`` (once, or twice if the network duplicated it; an
        arrival while the far end is down counts in ``dropped_while_down``),
        or is still travelling. The same in a pipeline, for the publishes
        (``prefix`` names them)."""
        rec = self.rec
        arrived = rec.deliveries + dropped_while_down
        if rec.transmissions - rec.data_lost + self.data_link.duplicated == arrived + in_flight["data"]:
            return []
        return [Broken("transmissions", f"{prefix}transmissions {rec.transmissions} - data_lost {rec.data_lost} + duplicated "
                f"{self.data_link.duplicated} != arrived {where} {arrived} + in flight "
                f"{in_flight['data']}")]

    def ack_books(self, in_flight: dict[str, int]) -> list[Broken]:
        """Acks to the senders: each ack sent settles its message (acked),
        arrives late, is lost (on the link, in a partition, or at a sender
        that was down), or is still travelling; an ack the network duplicated
        arrives twice. The same in a pipeline, for the broker's publish acks."""
        rec = self.rec
        broken: list[Broken] = []
        if rec.acks_dropped_while_down > rec.acks_lost:
            broken.append(Broken("acks_dropped_while_down",
                                 f"acks dropped while down {rec.acks_dropped_while_down} are not "
                                 f"in acks_lost {rec.acks_lost}"))
        # Negative acks (from a full queue's rejections) share the ack link.
        nacks = rec.nacks_received + rec.nacks_ignored + rec.nacks_lost
        fates = rec.acked + rec.late_acks + rec.acks_lost + nacks + in_flight["ack"] + in_flight["nack"]
        if rec.acks_sent + rec.nacks_sent + self.ack_link.duplicated != fates:
            broken.append(Broken(
                "acks", f"acks_sent {rec.acks_sent} + nacks_sent {rec.nacks_sent} + duplicated "
                f"{self.ack_link.duplicated} != acked {rec.acked} + late {rec.late_acks} + lost "
                f"{rec.acks_lost} + nacks received {rec.nacks_received}, ignored "
                f"{rec.nacks_ignored}, lost {rec.nacks_lost} + in flight {in_flight['ack']} acks, "
                f"{in_flight['nack']} nacks"))
        return broken


class Meter:
    """What the stall and memory budgets read from a running world (:func:`alosim.budget.run_until`).

    Progress is a message created, settled at its sender, processed for the
    first time, or lost -- counted at either end, so that a pipeline whose
    producers are done still makes progress while its consumers drain the
    backlog.
    """

    __slots__ = ("world",)

    def __init__(self, world: World) -> None:
        self.world = world

    def progress(self) -> int:
        world = self.world
        rec = world.rec
        return 2 * world.created - world.unsettled + rec.processed_unique + rec.lost

    def unsettled(self) -> int:
        return self.world.unsettled

    def held(self) -> int:
        return self.world.held()

    def work(self) -> dict[str, int]:
        return self.world.work()

    def trace_rows(self) -> int:
        return len(self.world.rec.trace)
