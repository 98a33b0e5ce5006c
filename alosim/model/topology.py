"""A topology: named nodes and links, each link a hop of its own, wired in one place.

A scenario's ``topology:`` names a producer, services and sinks, and the
links between them (a chain, or a tree that fans out; see
:class:`alosim.scenario.Topology`). Each link is built as a single hop -- a
:class:`~alosim.model.world.World` with one sender at the caller and one
receiver at the callee -- and every hop shares one SimPy environment and one
seed (each hop's random streams are named after its link, so adding a hop
shifts no draw of another; the first link's keep the run's own names, so a
shorthand scenario and the topology it stands for are one run -- see
:mod:`alosim.expand`). A service joins the hop into it to the hops out of
it:

* each side effect at a service (each call it processes, duplicates
  included) hands one call to the sender of every link that leaves it;
* with ``onward.ack: after-call`` the service's worker stays busy until every
  onward call has settled, and answers its caller only if all were acked --
  a call that gave up leaves the caller unanswered, so the caller retries
  (retries at every layer multiply); with ``before-call`` it answers as its
  receiver's ack policy says, the calls going out on their own;
* ``onward.identity: keep`` gives each call its caller's key, so a dedup store
  downstream recognises a repeated call; ``mint`` gives each call a new key.

The producer creates its messages on its first link (at that sender's rate
and window) and hands each one as it is created to the senders of its other
links, so that every link out of the producer carries the same messages.

A broker node (``queue``, ``log``) and the ``consumers`` nodes it feeds are
built as one pipeline world per subscription -- publisher, publish link,
broker, consumers -- beside the hops (:mod:`alosim.model.subscription`); a
consumers node counts its effects and calls onward as a service does
(:mod:`alosim.model.consumers_node`, :mod:`alosim.model.effects`).

Ground truth travels with every call: the producer's message it descends
from (:class:`Origin`), which counts the side effects made for it at every
node. A node's *duplicate effects* are effects beyond the first for one
producer message, whatever made them -- a retransmission on the link into
the node (that hop's own causes, :data:`alosim.observe.DUPLICATE_CAUSES`) or
a repeated call from upstream; a node's *missing* messages are producer
messages it never made an effect for. A call that a node's store catches as
a repeat of an earlier call with the same key is acked again and ends
*absorbed* (neither processed nor lost in its hop's books).

Each hop keeps its own books (:meth:`World.conservation`), checked after
every run; :meth:`Topology.conservation` adds the node's: effects made =
first effects + duplicate effects, and calls handed onward = effects x links
out (before-call) or effects that reached the onward call (after-call).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import simpy

from alosim.budget import TRACE_ROWS_PER_MESSAGE, Stop, run_until
from alosim.model.books import Books, Broken
from alosim.model.dedup import SetDedup
from alosim.model.effects import call_onward, count_effect, set_up_caller, why_repeat_not_caught
from alosim.model.events import Later
from alosim.model.faults import start_node_faults
from alosim.model.message import Message
from alosim.model.log_node import placed
from alosim.model.subscription import SubscriptionHop
from alosim.model.receiver import Receiver
from alosim.model.sender import Sender
from alosim.model.world import World
from alosim.observe import TraceEvent
from alosim.scenario import BROKER_KINDS, Network, Node, Scenario, TopologyLink
from alosim.streams import Streams


#: Why a node's store let a repeated call through (see NodeReceiver._why_repeat_not_caught).
REPEAT_CAUSES = ("repeated_call", "new_key", "window_expired", "evicted_by_capacity",
                 "store_lost_in_crash", "concurrent_copy", "crash_before_record")


class Origin:
    """The producer's message a call descends from: effects made for it, per node."""

    __slots__ = ("id", "effects")

    # Made in place, once per producer message (NodeSender._create, on_produced):
    # Origin() allocates and calls nothing in Python; its maker sets both fields.
    __init__ = object.__init__


def _streams(seed: int, head: bool, prefix: str) -> Streams:
    """A link's random streams: the run's own for the first link (so that a shorthand
    scenario and the topology it stands for draw alike: see :mod:`alosim.expand`), every
    other link's prefixed with the link, so that adding a link moves no draw of another."""
    return Streams(seed) if head else PrefixedStreams(seed, prefix)


class Call(Message):
    """A message built in place by a node's sender (:meth:`NodeSender._create`, a producer
    message; :meth:`NodeSender.submit`, a call): a :class:`Message` whose :class:`Origin`
    has a slot of its own (a message made by :class:`Message` carries it in its
    ``__dict__``, which a call then does not need to make). ``Call()`` makes an empty
    one, every field left for its maker to set (no :meth:`Message.__init__`)."""

    __slots__ = ("origin",)

    # object's own: Call() allocates, and calls nothing in Python (cheaper than
    # object.__new__(Call), which goes through a wrapper that takes a tuple of arguments).
    __init__ = object.__init__  # type: ignore[assignment]


class PrefixedStreams(Streams):
    """The run's streams, each name prefixed with a hop's link (``api>service.link.data.loss``)."""

    def __init__(self, seed: int, prefix: str) -> None:
        super().__init__(seed)
        self.prefix = prefix

    def generator(self, name: str) -> Any:
        return super().generator(self.prefix + name)


@dataclass
class NodeStats:
    """What one node did, counted as it happens."""

    name: str
    kind: str
    index: int
    effects: int = 0  # side effects made (each call processed, repeats included)
    first_effects: int = 0  # producer messages with at least one effect here
    absorbed: int = 0  # calls caught as repeats of an earlier call with the same key
    calls_out: int = 0  # calls handed to the senders of the links out
    calls_failed: int = 0  # after-call: requests left unanswered because a call gave up
    crashes: int = 0
    outgoing: list[NodeSender] = field(default_factory=list)
    # Duplicate effects of repeated calls, by how the call was repeated (see
    # alosim.guarantees.PATH_DUPLICATE_CAUSES); the link's own are its hop's causes.
    causes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(REPEAT_CAUSES, 0))

    @property
    def duplicate_effects(self) -> int:
        return self.effects - self.first_effects


#: Where the ids of a hop's untraced calls start: a traced call (of a traced producer
#: message) gets a small id, so that the recorder's ``id < trace_limit`` test picks it.
UNTRACED = 1 << 40
assert not UNTRACED & 0xFFF  # NodeSender.submit flushes the recorder at the same calls either way


class NodeSender(Sender):
    """The sender at the calling end of a topology's hop, in one of two roles.

    * **The producer's**, on its first link (:meth:`setup_producer`): each message it
      creates is an :class:`Origin` of its own, handed at once to the senders of the
      producer's other links (``fed``), so that every link out of the producer carries
      the same messages.
    * **A fed sender** (:meth:`setup_fed`), a service's or the producer's on its other
      links: it creates a call for each side effect upstream (:meth:`submit`), never
      on its own.

    One class for both, so that the :class:`Sender` methods every hop runs (timers,
    retries, acks) meet one kind of sender in a topology: CPython specialises an
    attribute load for one class at a time, and a load that meets two falls back to
    the slow, generic lookup."""

    __slots__ = ("producing", "_no_effects", "fed", "identity_keep", "trace_n", "traced", "_traced_next",
                 "_small", "_big", "_plain", "_queued", "_quick_acks")

    def setup_producer(self, nodes: int) -> None:
        self.producing = True
        # The topology's nodes: an Origin counts the effects at each, from a copy of this.
        self._no_effects = [0] * nodes
        self.fed: list[NodeSender] = []
        # Untraced, with one receiver, no floors to keep and Sender's own _create after
        # this one (a log's producer places its messages), _create builds each message itself;
        # the only sender of its hop, with one receiver, its next id is its next number.
        self._plain = (not self.rec.trace_limit and not self._floors and self._receivers == 1
                       and self._creates_plainly and len(self.world.senders) == 1)
        # Its messages made in place, in a closed loop with the same wait after every
        # transmission and nothing in the way (its timers in _live alone), its acks may
        # take on_produced's fused path.
        self._quick_acks = self._plain and self.rate is None and self._fifo

    def setup_fed(self, identity_keep: bool, trace_n: int) -> None:
        self.producing = False
        self.identity_keep = identity_keep
        self.trace_n = trace_n  # producer messages traced: their calls are traced too
        self.traced: dict[int, int] = {}  # traced call id -> its producer message's id
        self._traced_next = False
        self._small = itertools.count()
        self._big = itertools.count(UNTRACED)
        # Untraced, every call takes the next large id: no choice to make per call.
        self._next_id = self._call_id if trace_n else self._big.__next__
        # Untraced, with no floors to keep and no mitigation in the way, submit builds
        # and sends each call itself.
        self._plain = (not trace_n and not self._floors and not self._guarded and self._receivers == 1
                       and self._creates_plainly)  # (a log's publisher places its calls)
        self._queued = 0  # calls the fused submit put in the outbox (the others it sent at once)
        self._quick_acks = self._plain and not self._adaptive  # see on_ack

    @property
    def sent_at_once(self) -> int:
        """Calls :meth:`submit` sent as it made them: each waited zero in the outbox (see
        Topology.run). With one receiver the calls made are its sequence numbers."""
        return self._seqs[0] - self._queued if self._plain else 0

    @property
    def _creates_plainly(self) -> bool:
        """Whether the :meth:`_create` after this class's is :class:`Sender`'s own (not a
        log's publisher's, which places each message on a partition: log_node.placed)."""
        return super(NodeSender, type(self))._create is Sender._create  # type: ignore[misc]

    # -- the producer -------------------------------------------------------------------

    def start(self) -> None:
        """The producer creates its messages; a fed sender nothing (calls come from :meth:`submit`)."""
        if self.producing:
            super().start()

    def _create(self) -> Message:
        if not self.producing:
            return super()._create()  # a fed sender's call (see _submit)
        if self._plain:
            # Sender._create with one receiver, untraced: the message built in place as
            # Message(next id, self.index, seq, 0, now) would be (every field its __init__
            # sets: see tests/topology/test_fused_paths.py), a Call with a slot for its origin.
            self.remaining -= 1
            seqs = self._seqs
            msg_id = seq = seqs[0]  # what self._next_id() gives the only sender of its hop
            seqs[0] = seq + 1
            msg = Call()
            msg.id = msg.key = msg_id
            msg.sender = self.index
            msg.seq = seq
            msg.receiver = 0
            msg.created = self.env._now
            msg.attempts = 0
            msg.settled = msg.acked = msg.delivered = False
            msg.processed = msg.copies = msg.timer = msg.broker_entries = 0
            if not msg_id & 0xFFF:
                self.rec.flush()  # keeps the latency buffers small
        else:
            msg = super()._create()  # (a log's producer places it on a partition: see log_node.placed)
        origin = msg.origin = Origin()  # type: ignore[attr-defined]
        origin.id = msg.id
        origin.effects = self._no_effects.copy()
        for sender in self.fed:
            sender.submit(origin, msg.key, None)
        return msg

    def on_produced(self, event: Later) -> None:
        """:meth:`Sender.on_packet` for the producer's acks (see :meth:`setup_producer`).
        The common case -- the ack of a message not settled yet, with nothing waiting in
        the outbox -- is taken whole here: what :meth:`Sender.on_packet` does, then
        :meth:`Sender._fill` in a closed loop (each new message made as :meth:`_create`'s
        plain path makes it, and sent by :meth:`_send_first`, as :meth:`Sender.transmit`
        sends a first transmission), in their order."""
        msg, attempt = event._value
        if attempt < 0 or msg.settled or not self.up or self.outbox:
            Sender.on_packet(self, event)
            return
        rec = self.rec
        now = self.env._now
        msg.acked = True
        rec.ack_latency_add(now - msg.first_sent)  # also counts acked
        msg.settled = True  # Sender._settle, as Sender.on_packet inlines it
        del self._live[msg.timer]
        self.in_flight -= 1
        if msg.copies:  # World.settled(msg)
            self.world.pending[msg.id] = msg
        elif not msg.processed:
            self.world.lost(msg)
        # Sender._fill: the closed loop makes a message while the window has room.
        seqs = self._seqs
        while self.in_flight < self.window and self.remaining > 0:
            # _create, the producer's plain path (its comments say what each step stands for).
            self.remaining -= 1
            msg_id = seq = seqs[0]
            seqs[0] = seq + 1
            msg = Call()
            msg.id = msg.key = msg_id
            msg.sender = self.index
            msg.seq = seq
            msg.receiver = 0
            msg.created = now
            msg.attempts = 0
            msg.settled = msg.acked = msg.delivered = False
            msg.processed = msg.copies = msg.timer = msg.broker_entries = 0
            if not msg_id & 0xFFF:
                rec.flush()  # keeps the latency buffers small
            origin = msg.origin = Origin()  # Origin(msg_id, nodes), in place
            origin.id = msg_id
            origin.effects = self._no_effects.copy()
            if self.fed:
                for sender in self.fed:
                    sender.submit(origin, msg_id, None)
            msg.first_sent = now
            self.in_flight += 1
            self._send_first(msg, now)
        if self.creating and self.remaining <= 0:
            self._stop_creating()
        if not self.in_flight and not self.creating:  # (Sender.on_packet)
            self.world.check_done()

    # -- a fed sender -------------------------------------------------------------------

    def _call_id(self) -> int:
        return next(self._small) if self._traced_next else next(self._big)

    def submit(self, origin: Origin, key: int, caller: tuple[Any, int] | None) -> None:
        """Hand a call over: a new message in the outbox, keyed as the node says.

        Untraced, it is built here (what :meth:`Sender._create` does), and sent at once
        when nothing waits before it and the window has room (what :meth:`Sender._fill`
        would do with it); otherwise it joins the outbox (:meth:`_submit`)."""
        if self._plain:
            # One receiver: the call's number on its connection counts the calls made, and
            # its id is UNTRACED + that number. (``remaining`` is not counted down: a fed
            # sender's quota is unbounded.)
            seqs = self._seqs
            seq = seqs[0]
            seqs[0] = seq + 1
            now = self.env._now
            # Message(next id, self.index, seq, 0, now), built in place: every field its
            # __init__ sets (tests/topology/test_fused_paths.py holds the two to the same fields).
            msg = Call()
            msg_id = msg.id = UNTRACED + seq  # what self._next_id() gives untraced
            msg.key = key if self.identity_keep else msg_id  # (its id, unless it keeps its caller's key)
            msg.sender = self.index
            msg.seq = seq
            msg.receiver = 0
            msg.created = now
            msg.attempts = 0
            msg.settled = msg.acked = msg.delivered = False
            msg.processed = msg.copies = msg.timer = msg.broker_entries = 0
            rec = self.rec
            if not seq & 0xFFF:  # the id's low bits (UNTRACED is a multiple of 4096)
                rec.flush()  # keeps the latency buffers small
            msg.origin = origin
            if caller is not None:
                msg.caller = caller  # type: ignore[attr-defined]
            if self.outbox or not self.up or self.in_flight >= self.window:
                self._queued += 1
                self.outbox.append(msg)
                self._fill()
                return
            msg.first_sent = now  # (its zero outbox wait is counted in sent_at_once)
            self.in_flight += 1
            if not self._fifo:  # (its timers in _live alone: see Sender)
                self.transmit(msg)
                return
            self._send_first(msg, now)
            return
        self._submit(origin, key, caller)

    def _send_first(self, msg: Message, now: float) -> None:
        """:meth:`Sender.transmit` of a message's first transmission, untraced, by a
        sender whose timers are its live ones alone (``_fifo``): how :meth:`on_produced`
        and :meth:`submit` send a message they made, the window's room taken already."""
        msg.attempts = 1
        msg.last_sent = now
        rec = self.rec
        rec.transmissions += 1
        copies = self._send_data((msg, 1))
        if copies:
            msg.copies = copies
        else:
            rec.data_lost += 1
        ticket = msg.timer = self._ticket = self._ticket + 1
        self._live[ticket] = msg
        deadline = msg.deadline = now + self.timeout
        if deadline < self._wake_at:
            self._wake_at = deadline
            Later.at(self.env, deadline, self._wake_callbacks, deadline)

    def _submit(self, origin: Origin, key: int, caller: tuple[Any, int] | None) -> None:
        """:meth:`submit` in steps: the message made by :meth:`_create`, the outbox filled by :meth:`_fill`."""
        self._traced_next = traced = origin.id < self.trace_n
        msg = self._create()
        if traced:
            self.traced[msg.id] = origin.id
        msg.origin = origin  # type: ignore[attr-defined]
        if self.identity_keep:
            msg.key = key
        if caller is not None:
            msg.caller = caller  # type: ignore[attr-defined]
        self.outbox.append(msg)
        self._fill()

    def on_ack(self, event: Later) -> None:
        """:meth:`Sender.on_packet` where nobody waits for the calls (before-call). The
        common case -- the ack of an untraced call not settled yet -- settles it here,
        and asks the outbox for more only if it holds any (a call is made by
        :meth:`submit`, never by room in the window). (Its acks come here where
        ``_quick_acks`` says they may; else to :meth:`Sender.on_packet` itself: see Hop.)"""
        msg, attempt = event._value
        if attempt < 0 or msg.settled or not self.up:
            Sender.on_packet(self, event)
            return
        msg.acked = True
        self.rec.ack_latency_add(self.env._now - msg.first_sent)  # also counts acked
        msg.settled = True
        del self._live[msg.timer]
        self.in_flight -= 1
        if msg.copies:  # World.settled(msg)
            self.world.pending[msg.id] = msg
        elif not msg.processed:
            self.world.lost(msg)
        if self.outbox:
            self._fill()
        if not self.in_flight and not self.creating:
            self.world.check_done()

    def finish_creating(self) -> None:
        """The hop into this node is done: no call will come any more."""
        self._stop_creating()

    def on_packet(self, event: Later) -> None:
        super().on_packet(event)
        if not self.producing:  # (the producer's messages answer nobody)
            msg = event._value[0]
            if msg.settled:
                answer(msg)


def answer(msg: Message) -> None:
    """Tell the caller waiting for ``msg`` (after-call) how it ended, once."""
    caller = msg.__dict__.pop("caller", None)
    if caller is not None:
        receiver, token = caller
        receiver.call_done(token, msg.acked)


class NodeReceiver(Receiver):
    """A service's or sink's receiver: counts the effects per producer message and,
    at a service, calls onward (see the module docstring)."""

    __slots__ = ("node", "keep", "wait", "_calls", "_failed", "_whole", "_open", "_fixed_bytes", "_per_entry",
                 "_sync_each", "_keys")

    def setup(self, node: NodeStats, keep: bool, wait: bool) -> None:
        self.node = node
        self.keep = keep  # this node passes its caller's key on
        self.wait = wait  # after-call: answer once every onward call settled
        self._calls: dict[int, int] = {}  # token -> onward calls not yet settled
        self._failed: set[int] = set()  # tokens whose onward calls included one that gave up
        self._fast = False  # every effect is counted per producer message
        # A sink, or a service that does not wait for its calls, may take the fused path
        # when nothing takes time (see _complete_stored); a waiting one holds its worker.
        self._stored = self._stored and not wait
        # Untraced, a call the fused path would take is taken whole by on_packet.
        self._whole = self._stored and not self.rec.trace_limit
        self._reopen()
        self._fixed_bytes, self._per_entry = self.store.sizing  # its nbytes, without a call
        # A store whose size only grows between clears need not be synced at every id:
        # its size then is its largest so far, so syncing it wherever the recorder's
        # store figures are read -- at every sample (World._sample), before a crash
        # clears it (crash) and when the run ends (Hop.finish) -- gives the same sizes
        # and peaks. Any other is synced at every id, as sync_store would.
        self._sync_each = not self.store.only_grows
        # A set store's keys, which on_packet checks in itself (SetDedup.check_in); the
        # set is the store's for good (a crash empties it in place).
        self._keys = self.store.keys if isinstance(self.store, SetDedup) else None

    def _execute(self, msg: Message, attempt: int) -> None:
        super()._execute(msg, attempt)
        cause = count_effect(self.node, msg, msg.processed == 1, self._why_repeat_not_caught)
        if cause is not None and msg.id < self.rec.trace_limit:  # the row _execute just wrote says so
            row = self.rec.trace[-1]
            self.rec.trace[-1] = TraceEvent(row.time_s, row.actor, row.event, row.message, row.attempt,
                                            f"again: {cause.replace('_', ' ')}")

    def _process(self, msg: Message, attempt: int) -> bool:
        self._execute(msg, attempt)
        node = self.node
        if not node.outgoing:  # a sink
            return self._after_effect(msg, attempt)
        if not self.wait:
            self._call_onward(msg, None)
            return self._after_effect(msg, attempt)
        # after-call: the worker holds the request until every call settles.
        self.busy += 1
        token = self._token = self._token + 1
        self._work[token] = (msg, attempt, True)  # processed already: a crash loses only the answer
        self._calls[token] = len(node.outgoing)
        self._call_onward(msg, (self, token))
        return False

    def _call_onward(self, msg: Message, caller: tuple[Any, int] | None) -> None:
        """Hand one call per link out to its sender, keyed as this node says; ``caller``
        (this receiver and the request's token) waits for their answers, if given."""
        call_onward(self.node, msg, self.keep, caller)

    def on_packet(self, event: Later) -> None:
        """A call arrived from the link. The common case -- a call of an untraced run that
        finds the node up, a worker free and nothing that takes time (see
        :meth:`_complete_stored`) -- is taken whole here: what :meth:`Receiver.on_packet`,
        :meth:`_execute`, :meth:`_call_onward`, :meth:`sync_store`, :meth:`_ack` and
        :meth:`_release` do, in their order, but for the store, which is checked and
        written in one step. Anything else goes through :meth:`Receiver.on_packet`."""
        if not self._open:
            Receiver.on_packet(self, event)
            return
        msg, attempt = event._value
        rec = self.rec
        rec.deliveries += 1
        processed = msg.processed
        if processed:
            rec.duplicate_deliveries += 1  # an earlier copy was processed
        msg.delivered = True
        now = self.env._now
        # The store is read and written at once: nothing below reads it until the id is
        # recorded (its miss cause is its kind's). A set's check_in is taken inline.
        keys = self._keys
        if keys is not None:
            key = msg.key
            new = key not in keys
            if new:
                keys.add(key)  # (which counts it in store.entries: see SetDedup)
        else:
            new = self.store.check_in(msg, now)
        if not new:
            if not processed:
                self._drop_duplicate(msg, attempt)  # a repeated call, or a false positive
                return
            # Receiver._drop_duplicate, untraced: a copy of a call processed here, acked again.
            rec.duplicates_detected += 1
            rec.acks_sent += 1
            if not self._send_ack((msg, attempt)):
                rec.acks_lost += 1
            msg.copies -= 1
            if msg.settled and not msg.copies:
                self.world.copies_gone(msg)
            return
        # Receiver._execute, untraced.
        processed = msg.processed = processed + 1
        if processed == 1:
            rec.delivery_latency_add(now - msg.created)  # also counts processed_unique
        else:
            rec.duplicate_processing += 1
            rec.duplicate_causes[self._why_not_caught(msg)] += 1
        # The effect, counted per producer message (NodeReceiver._execute).
        node = self.node
        origin = msg.origin  # type: ignore[attr-defined]
        effects = origin.effects
        index = node.index
        made = effects[index] = effects[index] + 1
        node.effects += 1
        if made == 1:
            node.first_effects += 1
        elif processed == 1:
            node.causes[self._why_repeat_not_caught(msg, origin)] += 1
        outgoing = node.outgoing
        if outgoing:  # _call_onward
            key = msg.key if self.keep else -1
            for sender in outgoing:
                node.calls_out += 1
                sender.submit(origin, key, None)
        msg.recorded_epoch = self.store_epoch
        if self._sync_each:  # sync_store (a store that only grows is synced later: see setup)
            entries = self.store.entries
            nbytes = self._fixed_bytes + entries * self._per_entry
            d_entries, d_bytes = entries - self._entries, nbytes - self._nbytes
            if d_entries or d_bytes:
                self._entries, self._nbytes = entries, nbytes
                e = rec.dedup_entries = rec.dedup_entries + d_entries
                b = rec.dedup_bytes = rec.dedup_bytes + d_bytes
                if e > rec.dedup_entries_peak:
                    rec.dedup_entries_peak = e
                if b > rec.dedup_bytes_peak:
                    rec.dedup_bytes_peak = b
        rec.acks_sent += 1  # _ack, untraced
        if not self._send_ack((msg, attempt)):
            rec.acks_lost += 1
        msg.copies -= 1  # _release
        if msg.settled and not msg.copies:
            self.world.copies_gone(msg)

    def _complete_stored(self, msg: Message, attempt: int) -> None:
        """:meth:`Receiver._complete_stored` at a node of a traced run (an untraced run's
        calls are taken whole by :meth:`on_packet`): check the store; make the effect,
        counted per producer message; hand the calls on; record the id and ack."""
        if self.store.seen(msg, self.env._now):
            self._drop_duplicate(msg, attempt)
            return
        self._execute(msg, attempt)
        if self.node.outgoing:
            self._call_onward(msg, None)
        # _record, without its count of copies at work (this path never counted one in).
        self.store.add(msg, self.env._now)
        msg.recorded_epoch = self.store_epoch
        self.sync_store()
        self._ack(msg, attempt)
        self._release(msg)

    def _why_repeat_not_caught(self, msg: Message, origin: Origin) -> str:
        """Why this node's store let a repeated call through (its key's effect was made)."""
        return why_repeat_not_caught(msg, origin, self.store if self.dedup else None,
                                     crashed=bool(self.store_epoch), concurrent=self.workers > 1)

    def _after_effect(self, msg: Message, attempt: int) -> bool:
        """What :meth:`Receiver._process` does after the effect: record now or after the write delay."""
        if self.write_delay > 0:
            self._begin(msg, attempt, self.write_delay, self._written_callbacks)
            return False
        self._record(msg, attempt)
        return True

    def call_done(self, token: int, acked: bool) -> None:
        """One onward call of request ``token`` settled; answer when the last one has."""
        left = self._calls.get(token)
        if left is None or token not in self._work:
            return  # the node crashed meanwhile: the request is void
        if not acked:
            self._failed.add(token)
        if left > 1:
            self._calls[token] = left - 1
            return
        del self._calls[token]
        msg, attempt, _ = self._work.pop(token)
        self.busy -= 1
        if token in self._failed:
            self._failed.discard(token)
            self.node.calls_failed += 1
            self._unanswered(msg)
        else:
            self._record(msg, attempt)
        if self.queue:
            self._dispatch()

    def _reopen(self) -> None:
        """Whether :meth:`on_packet` takes the next call whole: the fused path applies
        (``_whole``) and a worker is free for it, as :meth:`Receiver.on_packet` asks --
        the node up and fewer workers busy than it may use. Nothing takes time on the
        fused path, so no worker stays busy past an event there: this changes only
        when the node crashes, restarts, pauses or resumes (each of which calls this)."""
        self._open = self._whole and self.up and self.busy < self._limit

    def crash(self) -> None:
        if not self._sync_each:
            self.sync_store()  # the size it reached before the crash clears it (see setup)
        super().crash()
        self._calls.clear()  # the requests held for onward calls are void
        self._failed.clear()
        self._reopen()

    def restart(self) -> None:
        super().restart()
        self._reopen()

    def pause(self) -> None:
        super().pause()
        self._reopen()

    def resume(self) -> None:
        super().resume()
        self._reopen()

    def _unanswered(self, msg: Message) -> None:
        """A request whose onward call gave up: no ack, nothing recorded (a retry calls again)."""
        if self._on_arrival:
            self._present.pop(msg.id, None)
        if self.dedup and self.workers > 1:
            msg.active -= 1
        self._release(msg)

    def _drop_duplicate(self, msg: Message, attempt: int, where: str = "") -> None:
        if not msg.processed and self.keep_in and msg.origin.effects[self.node.index]:  # type: ignore[attr-defined]
            # A repeat of an earlier call with the same key: its effect is made.
            msg.absorbed = True
            self.node.absorbed += 1
            self.rec.duplicates_detected += 1
            if self._reack:
                self._ack(msg, attempt)
            self._release(msg)
            return
        super()._drop_duplicate(msg, attempt, where)

    @property
    def keep_in(self) -> bool:
        """Calls arrive with their caller's key (the caller keeps identity, or is the producer)."""
        return self.world.keys_kept  # type: ignore[attr-defined, no-any-return]


class Counted:
    """An actor whose crashes its node counts (once per crash of the node, whatever it holds)."""

    __slots__ = ("inner", "stats", "actor")

    def __init__(self, inner: Any, stats: NodeStats) -> None:
        self.inner, self.stats, self.actor = inner, stats, inner.actor

    def crash(self) -> None:
        if self.inner.up:
            self.stats.crashes += 1
        self.inner.crash()

    def restart(self) -> None:
        self.inner.restart()


class Hop(World):
    """One link of a topology as a single hop, in the topology's environment."""

    def __init__(self, topology: Topology, link: TopologyLink, scenario: Scenario) -> None:
        self.topology = topology
        self.link = link
        caller = topology.nodes[link.from_]
        self.keys_kept = caller.kind == "producer" or caller.onward is None or caller.onward.identity == "keep"
        head = link is topology.head_link
        super().__init__(scenario, topology.seed, env=topology.env,
                         streams=_streams(topology.seed, head, f"{link.from_}>{link.to}."),
                         sender_kind=NodeSender,
                         receiver_kind=NodeReceiver)
        set_up_caller(self, link.from_, caller, head=head, nodes=len(topology.nodes), keep=self.keys_kept,
                      untraced=UNTRACED,
                      on_ack=lambda sender: sender.on_ack if sender._quick_acks else Sender.on_packet.__get__(sender))
        receiver = self.receivers[0]
        receiver.actor = link.to
        callee = topology.nodes[link.to]
        onward = callee.onward
        receiver.setup(topology.stats[link.to], keep=onward is None or onward.identity == "keep",  # type: ignore[attr-defined]
                       wait=onward is not None and onward.ack == "after-call")

    def settled(self, msg: Message) -> None:
        super().settled(msg)
        answer(msg)

    def finish(self) -> None:
        receiver = self.receivers[0]
        if not receiver._sync_each:  # type: ignore[attr-defined]
            receiver.sync_store()  # the size its store reached (see NodeReceiver.setup)
        super().finish()


class Topology:
    """The hops of a topology scenario, run together (see the module docstring)."""

    def __init__(self, scenario: Scenario, seed: int,
                 progress: Callable[[float, int], None] | None = None) -> None:
        spec = scenario.topology
        assert spec is not None
        self.scenario = scenario
        self.seed = seed
        self.env = simpy.Environment()
        self.nodes: dict[str, Node] = spec.nodes
        self.stats = {name: NodeStats(name, node.kind, i) for i, (name, node) in enumerate(spec.nodes.items())}
        self.producer = next(name for name, node in spec.nodes.items() if node.kind == "producer")
        self.hops: list[Hop | SubscriptionHop] = []
        # The producer creates its messages on its first link; its other links
        # carry each of them too (see NodeSender). A link into a broker node is
        # built with each link out of it, as one subscription (see SubscriptionHop).
        into = {link.to: link for link in spec.links}
        paths = [link for link in spec.order() if spec.nodes[link.to].kind not in BROKER_KINDS]
        self.head_link = paths[0]
        for link in paths:
            caller, callee = spec.nodes[link.from_], spec.nodes[link.to]
            hop: Hop | SubscriptionHop
            if caller.kind in BROKER_KINDS:
                publish, head = into[link.from_], link is self.head_link
                hop = SubscriptionHop(self, publish, link, scenario, head=head,
                                      streams=_streams(seed, head, f"{publish.from_}>{publish.to}>{link.to}."),
                                      sender_kind=placed(NodeSender) if caller.kind == "log" else NodeSender,
                                      untraced=UNTRACED, answer=answer)
                link, caller = hop.link, spec.nodes[into[link.from_].from_]
            else:
                assert caller.sender is not None and callee.receiver is not None
                hop_scenario = scenario.model_copy(update={
                    "sender": caller.sender, "receiver": callee.receiver,
                    "network": Network(data=link.data, ack=link.ack, partitions=link.partitions),
                    "messages": scenario.messages if link is self.head_link else None,
                    "duration": scenario.duration if link is self.head_link else None,
                    "max_time": None, "topology": None, "faults": []})
                hop = Hop(self, link, hop_scenario)
            if caller.kind != "producer":
                self.stats[link.from_].outgoing.append(hop.senders[0])  # type: ignore[arg-type]
            elif self.hops:
                self.hops[0].senders[0].fed.append(hop.senders[0])  # type: ignore[attr-defined]
            self.hops.append(hop)
        self.head = self.hops[0]
        self.head.progress = progress
        self.stop = self.env.event()
        self.stopped_by = ""
        self.cut_at_max_time = False  # max_time came before every hop had settled
        self.stall = Stop()
        self._running = len(self.hops)

    # -- running -----------------------------------------------------------------

    def _hop_done(self, hop: Hop) -> None:
        """``hop`` has settled: the node it calls will get no more calls to pass on
        (and, the producer's first link, the producer's other links no more messages)."""
        for other in self.hops:
            if other.link.from_ == hop.link.to or (hop is self.head and other is not hop
                                                    and other.link.from_ == hop.link.from_):
                other.senders[0].finish_creating()  # type: ignore[attr-defined]
        self._running -= 1
        if not self._running and not self.stop.triggered:
            self.stop.succeed()

    def run(self) -> None:
        env = self.env
        for hop in self.hops:
            hop.stop.callbacks.append(lambda _, hop=hop: self._hop_done(hop))
            hop.start()
        start_node_faults(env, Streams(self.seed), self.scenario.faults, self._victims)
        if self.scenario.max_time is not None:
            deadline = env.timeout(self.scenario.max_time)
            deadline.callbacks.append(lambda _: None if self.stop.triggered else self._cut())
        for hop in self.hops:
            hop.check_done()
        budget = self.scenario.budget
        self.stall = run_until(env, self.stop, TopologyMeter(self), budget.stall_events, budget.memory,
                               self.scenario.observe.trace_messages * TRACE_ROWS_PER_MESSAGE * len(self.hops))
        self.stopped_by = self.stall.reason
        for hop in self.hops:
            hop.stopped_by = self.stopped_by
            sender = hop.senders[0]
            if isinstance(sender, NodeSender) and not sender.producing:
                # The calls it sent as it made them waited zero in its outbox: added in one go.
                hop.rec.outbox_wait.add_repeated(0.0, sender.sent_at_once)
            hop.finish()

    def _cut(self) -> None:
        """``max_time`` has come: stop with calls still in flight (unsettled, not lost)."""
        self.cut_at_max_time = True
        self.stop.succeed()

    def _victims(self, node: str, kind: str) -> list[tuple[World, Any]]:
        """What a fault of ``kind`` at ``node`` befalls: a crash takes the node's receiver
        (a consumers node's consumers) and its senders (one process), a slowdown its
        receiver; a crash of a broker node takes every subscription's broker."""
        if self.nodes[node].kind in BROKER_KINDS:  # every subscription's broker
            victims: list[tuple[World, Any]] = [(hop, hop.broker) for hop in self.hops
                                                if isinstance(hop, SubscriptionHop) and hop.broker_node == node]
            victims[-1] = (victims[-1][0], Counted(victims[-1][1], self.stats[node]))
            return victims
        victims = [(hop, actor) for hop in self.hops if hop.link.to == node
                   for actor in (hop.consumers if isinstance(hop, SubscriptionHop) else hop.receivers[:1])]
        if kind == "crash":
            victims += [(hop, hop.senders[0]) for hop in self.hops if hop.link.from_ == node]
            victims[-1] = (victims[-1][0], Counted(victims[-1][1], self.stats[node]))
        return victims

    # -- the trace ---------------------------------------------------------------

    def trace(self) -> list[TraceEvent]:
        """The traced producer messages' events on every link, in time order, one lane per
        node: a sender's and a receiver's rows name their node, the network's its link
        (``api>payments``). A row's message is the producer message's id on the first
        link; a later link's calls get ids of their own, numbered from the number of traced
        messages on, and their detail names the producer message (``m3``)."""
        rows: list[tuple[float, int, TraceEvent]] = []
        next_id = itertools.count(self.scenario.observe.trace_messages)
        for order, hop in enumerate(self.hops):
            a, b = hop.link.from_, hop.link.to
            head = hop is self.head
            origins = {} if head else hop.senders[0].traced  # type: ignore[attr-defined]
            ids: dict[int, int] = {}
            for e in hop.rec.trace:
                if isinstance(hop, SubscriptionHop):
                    actor = hop.lane(e.actor)
                else:
                    actor = a if e.actor == a or e.actor.startswith("sender") else (
                        b if e.actor == b or e.actor.startswith("receiver") else f"{a}>{b}")
                message, detail = e.message, e.detail
                if not head and message >= 0:
                    origin = origins.get(message)
                    if origin is None:
                        continue
                    if message not in ids:
                        ids[message] = next(next_id)
                    message = ids[message]
                    detail = f"m{origin}, {detail}" if detail else f"m{origin}"
                rows.append((e.time_s, order, TraceEvent(e.time_s, actor, e.event, message, e.attempt, detail)))
        rows.sort(key=lambda row: (row[0], row[1]))
        return [event for _, _, event in rows]

    # -- accounting --------------------------------------------------------------

    def crashes_of(self, node: str) -> bool:
        """Whether a fault may crash ``node`` (then its crashes are a figure of the run)."""
        return any(f.target == node and f.kind == "crash" for f in self.scenario.faults)

    @property
    def messages(self) -> int:
        return self.head.rec.messages

    def conservation(self) -> list[Broken]:
        """Every hop's books, named after its link, and every node's."""
        books = Books()
        for hop in self.hops:
            for broken in hop.broken_books:
                books.broken.append(Broken(broken.name, f"{hop.link.from_} -> {hop.link.to}: {broken.detail}"))
        need = books.need
        for name, stats in self.stats.items():
            if stats.kind == "producer" or stats.kind in BROKER_KINDS:
                continue  # a broker's books are its subscriptions' (each hop's above)
            hop = next(h for h in self.hops if h.link.to == name)
            rec = hop.rec
            need("node_effects", stats.effects == rec.processed_unique + rec.duplicate_processing,
                 f"{name}: effects {stats.effects} != calls processed on the link into it "
                 f"{rec.processed_unique} + processed again {rec.duplicate_processing}")
            need("node_first_effects", stats.first_effects <= min(stats.effects, self.messages),
                 f"{name}: producer messages with an effect {stats.first_effects} exceed effects "
                 f"{stats.effects} or messages {self.messages}")
            caught = stats.absorbed + (hop.broker_absorbed if isinstance(hop, SubscriptionHop) else 0)
            need("node_absorbed", hop.absorbed <= caught,
                 f"{name}: calls that ended caught as repeats {hop.absorbed} exceed the repeats "
                 f"caught {caught}")
            made = sum(h.rec.messages for h in self.hops if h.link.from_ == name)
            need("node_calls", stats.calls_out == made,
                 f"{name}: calls handed onward {stats.calls_out} != messages created on its links out {made}")
            if stats.outgoing and self.nodes[name].onward is not None and self.nodes[name].onward.ack == "before-call":
                need("node_calls_per_effect", stats.calls_out == stats.effects * len(stats.outgoing),
                     f"{name}: calls handed onward {stats.calls_out} != effects {stats.effects} x "
                     f"links out {len(stats.outgoing)}")
        return books.broken


class TopologyMeter:
    """What the stall and memory budgets read from a running topology: the sum over its hops."""

    __slots__ = ("topology",)

    def __init__(self, topology: Topology) -> None:
        self.topology = topology

    def progress(self) -> int:
        total = 0
        for hop in self.topology.hops:
            rec = hop.rec
            total += 2 * hop.created - hop.unsettled + rec.processed_unique + rec.lost
        return total

    def unsettled(self) -> int:
        return sum(hop.unsettled for hop in self.topology.hops)

    def held(self) -> int:
        # The environment's queue is shared: count it once.
        hops = self.topology.hops
        return sum(hop.held() for hop in hops) - (len(hops) - 1) * len(self.topology.env._queue)

    def work(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for hop in self.topology.hops:
            for name, n in hop.work().items():
                total[name] = total.get(name, 0) + n
        return total

    def trace_rows(self) -> int:
        return sum(len(hop.rec.trace) for hop in self.topology.hops)
