"""Sequence diagrams of a topology: a lane per node.

A topology's trace (:meth:`alosim.model.topology.Topology.trace`) is the
traces of its links, one single hop each, with the sender's and receiver's
rows named after their nodes and the network's after the link (``api>pay``).
A call on a later link has an id of its own and its detail names the
producer message it descends from (``m3, resend``). :func:`layout` splits
the trace by link, lays each link out as a single hop
(:func:`alosim.seqdiagram.layout.layout`), and puts the pieces on one set of
lanes, the nodes in the order they first act. A call's arrows and notes
name its producer message and the call (``m0 (call 4) #2``); a repeated
call that made a second effect says why the node's store let it through
(``processed m1 (call 4) AGAIN (new key)``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from alosim.observe import TraceEvent
from alosim.seqdiagram.layout import Arrow, Diagram, Note, layout as hop_layout, lost_reach
from alosim.seqdiagram.pipeline import layout as pipeline_layout

#: The lanes of one link, as a single hop's layout names them.
CALLER, CALLEE, NETWORK = "sender-0", "receiver-0", "network"


def _call(message: int, origin: int | None) -> str:
    return f"m{message}" if origin is None or origin == message else f"m{origin} (call {message})"


@dataclass(frozen=True)
class CallArrow(Arrow):
    """An arrow of a topology: a call (or its ack), named after its producer message."""

    origin: int | None = None

    @property
    def label(self) -> str:
        return super().label.replace(f"m{self.message}", _call(self.message, self.origin), 1)


@dataclass(frozen=True)
class CallNote(Note):
    """A note on a node's lane, naming the call's producer message; a repeated call's
    second effect says why the node's store let it through (``why``)."""

    origin: int | None = None
    why: str = ""

    @property
    def label(self) -> str:
        text = super().label.replace(f"m{self.message}", _call(self.message, self.origin), 1)
        return f"{text} ({self.why})" if self.why else text


def _origin_and_detail(e: TraceEvent) -> tuple[int | None, str]:
    """A later link's row: the producer message its detail names, and the hop's own detail."""
    head, sep, rest = e.detail.partition(", ")
    if head.startswith("m") and head[1:].isdigit():
        return int(head[1:]), rest if sep else ""
    return None, e.detail


#: What only a broker does: the rows that make a node's lane a broker node's.
BROKER_EVENTS = frozenset({"stored", "deliver", "appended", "lease_expired", "dead_lettered"})
#: A subscription's lanes, as a pipeline's layout names them.
PRODUCER, BROKER, CONSUMER = "sender-0", "broker", "consumer-0"


def _subscriptions(events: Sequence[TraceEvent]) -> dict[int, tuple[str, str, str]]:
    """The messages of a broker node's subscriptions (see :mod:`alosim.model.subscription`),
    each with its lanes: publisher, broker node, consumers node. The network's rows of a
    subscription name its path (``api>orders>billing``)."""
    brokers = {e.actor for e in events if e.event in BROKER_EVENTS and ">" not in e.actor}
    creator: dict[int, str] = {}
    broker: dict[int, str] = {}
    consumer: dict[int, str] = {}
    for e in events:
        if e.message < 0:
            continue
        if e.actor.count(">") == 2:
            a, q, c = e.actor.split(">")
            creator.setdefault(e.message, a)
            broker.setdefault(e.message, q)
            consumer.setdefault(e.message, c)
        elif e.event == "create":
            creator.setdefault(e.message, e.actor)
        elif e.actor in brokers:
            broker.setdefault(e.message, e.actor)
        elif e.message in broker and e.actor != creator.get(e.message):
            consumer.setdefault(e.message, e.actor)
    return {m: (creator[m], q, consumer.get(m, "")) for m, q in broker.items() if m in creator}


def _links(events: Sequence[TraceEvent]) -> tuple[list[str], dict[int, tuple[str, str]]]:
    """The nodes in the order they first act, and each message's link (caller, callee).

    A message's caller made it (``create``); its callee is the other node its rows
    name, or the link that lost it (``api>pay``); a call that neither arrived nor
    was lost goes on the caller's first link seen."""
    lanes: list[str] = []
    caller: dict[int, str] = {}
    callee: dict[int, str] = {}
    first_link: dict[str, str] = {}
    for e in events:
        if ">" in e.actor:
            a, _, b = e.actor.partition(">")
            first_link.setdefault(a, b)
            if e.message >= 0:
                callee.setdefault(e.message, b)
            continue
        if e.actor not in lanes:
            lanes.append(e.actor)
        if e.message < 0:
            continue
        if e.event == "create":
            caller.setdefault(e.message, e.actor)
        elif e.message in caller and e.actor != caller[e.message]:
            callee.setdefault(e.message, e.actor)
            first_link.setdefault(caller[e.message], e.actor)
    hops = {}
    for message, a in caller.items():
        b = callee.get(message) or first_link.get(a)
        if b is not None:
            hops[message] = (a, b)
    for b in callee.values():
        if b not in lanes:
            lanes.append(b)
    return lanes, hops


def _why(rows: Sequence[TraceEvent]) -> dict[tuple[int, int], str]:
    """Why each repeated call's second effect got through (``again: new key``), by (call, attempt)."""
    return {(e.message, e.attempt): e.detail.partition("again: ")[2].replace("_", " ")
            for e in rows if e.event == "processed" and "again: " in e.detail}


def layout(events: Sequence[TraceEvent], *, data_latency_s: float | None = None,
           ack_latency_s: float | None = None) -> Diagram:
    """The diagram of a topology's trace: every link laid out as a single hop, on a lane per node."""
    subscriptions = _subscriptions(events)
    plain_events = [e for e in events if e.message not in subscriptions and e.actor.count(">") < 2]
    lanes, hops = _links(plain_events)
    for path in subscriptions.values():
        lanes += [lane for lane in path if lane and lane not in lanes]
    first = {}  # the nodes in the order they first act
    for i, e in enumerate(events):
        first.setdefault(e.actor, i)
    lanes.sort(key=lambda lane: first.get(lane, len(events)))
    by_link: dict[tuple[str, str], list[TraceEvent]] = {}
    by_path: dict[tuple[str, str, str], list[TraceEvent]] = {}
    origins: dict[int, int | None] = {}
    notes: list[Note] = []
    for e in events:
        if e.message < 0:  # a node's crash or restart
            if e.event in ("crash", "restart") and ">" not in e.actor:
                notes.append(CallNote(e.event, e.actor, e.time_s, e.message, e.attempt))  # type: ignore[arg-type]
            continue
        path = subscriptions.get(e.message)
        link = hops.get(e.message)
        if path is None and link is None:
            continue
        origin, detail = _origin_and_detail(e)
        if origin is not None:
            origins[e.message] = origin
        if path is not None:
            a, q, c = path
            actor = PRODUCER if e.actor == a else BROKER if e.actor == q else CONSUMER if e.actor == c else NETWORK
            by_path.setdefault(path, []).append(TraceEvent(e.time_s, actor, e.event, e.message, e.attempt, detail))
            continue
        assert link is not None
        a, b = link
        actor = CALLER if e.actor == a else CALLEE if e.actor == b else NETWORK
        by_link.setdefault(link, []).append(TraceEvent(e.time_s, actor, e.event, e.message, e.attempt, detail))
    place = {lane: i for i, lane in enumerate(lanes)}
    arrows: list[Arrow] = []
    end_s = max((e.time_s for e in events), default=0.0)

    def put(piece: Diagram, lane_of: Callable[[str], str], why: dict[tuple[int, int], str]) -> None:
        """One link's or subscription's diagram, its lanes put back on the nodes'."""
        for arrow in piece.arrows:
            source, target = lane_of(arrow.source), lane_of(arrow.target)
            drawn = CallArrow(arrow.kind, arrow.message, arrow.attempt, source, target, arrow.start_s,
                              arrow.end_s, arrow.fate, arrow.ignored, arrow.reach,
                              origin=origins.get(arrow.message))
            if arrow.fate != "arrived" and arrow.reach > 0:
                # Lost between its own lanes, wherever they sit among the others.
                reach = lost_reach(abs(place[target] - place[source]))
                drawn = replace(drawn, reach=reach,
                                end_s=arrow.start_s + (arrow.end_s - arrow.start_s) * reach / arrow.reach)
            arrows.append(drawn)
        for note in piece.notes:
            if note.message < 0:
                continue  # the node's own rows, kept once above
            if type(note) is not Note:  # a broker's or a log's own note keeps its label
                notes.append(replace(note, actor=lane_of(note.actor)))
                continue
            notes.append(CallNote(note.kind, lane_of(note.actor), note.time_s, note.message, note.attempt,
                                  note.since_s, note.detail, origin=origins.get(note.message),
                                  why=why.get((note.message, note.attempt), "")
                                  if note.kind == "processed_again" else ""))

    for (a, b), rows in by_link.items():
        plain = [replace(e, detail="again") if e.event == "processed" and e.detail.startswith("again")
                 else e for e in rows]
        put(hop_layout(plain, data_latency_s=data_latency_s, ack_latency_s=ack_latency_s),
            {CALLER: a, CALLEE: b}.__getitem__, _why(rows))
    for (a, q, c), rows in by_path.items():  # a subscription is a pipeline: laid out as one
        lanes_of = {PRODUCER: a, BROKER: q, CONSUMER: c or q}
        put(pipeline_layout(rows), lambda actor: lanes_of.get(actor, q), _why(rows))
    arrows.sort(key=lambda arrow: arrow.start_s)
    notes.sort(key=lambda note: note.time_s)
    return Diagram(tuple(lanes), tuple(arrows), tuple(notes), end_s)
