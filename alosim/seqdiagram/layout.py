"""Sequence diagrams as data: which packets crossed between which lanes, and when.

A trace (:class:`alosim.observe.TraceEvent` rows) says when each packet was
sent and when it arrived, was lost, or was ignored. :func:`layout` matches
every start with its end and collects what happened on the lanes, as plain
frozen records -- :class:`Arrow` for a packet, :class:`Note` for a timeout,
a processing, a crash -- in a :class:`Diagram`, which
:func:`alosim.seqdiagram.draw` draws and tests check without any picture.

The lanes are the senders in order, then the receivers. A packet that never
arrived (lost, or still travelling when the trace ends) has no end time: its
arrow is given one, a fraction of a typical latency after it was sent,
chosen so that its cross lands between two lanes (:func:`lost_reach`).
:func:`quiet_gaps` finds the long silences worth drawing short.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from alosim.observe import TraceEvent

ArrowKind = Literal["data", "ack"]
Fate = Literal["arrived", "lost", "in_flight"]
NoteKind = Literal["timeout", "gave_up", "abandoned", "processed", "processed_again",
                   "duplicate_detected", "dropped", "crash", "restart", "dropped_on_arrival",
                   "expired_discarded", "fetch", "commit", "commit_failed"]
MarkKind = Literal["rebalance", "assigned"]


@dataclass(frozen=True)
class Arrow:
    """One packet on the network: a transmission of a message, or an ack of one.

    ``end_s`` is the arrival time; for a packet that was lost (or was still
    travelling when the trace ends) it is where the drawing stops, ``reach``
    of a typical latency after ``start_s``. ``reach`` is the fraction of the
    way from the source's lane to the target's lane that is drawn: 1 for a
    packet that arrived; for one that did not, half-way when the lanes are
    neighbours, else the middle of a gap between two lanes, so that its
    cross never sits on the lifeline of an actor it has nothing to do with.
    ``ignored`` says why a copy that arrived was not used ("already
    settled", "receiver down", ...), if so.
    """

    kind: ArrowKind
    message: int
    attempt: int
    source: str
    target: str
    start_s: float
    end_s: float
    fate: Fate
    ignored: str = ""
    reach: float = 1.0

    @property
    def label(self) -> str:
        if self.kind == "data":
            text = f"m{self.message} #{self.attempt}" + (" resend" if self.attempt > 1 else "")
        else:
            text = f"ack m{self.message}" + (f" #{self.attempt}" if self.attempt > 1 else "")
        if self.fate == "lost":
            return text + " lost"
        if self.fate == "in_flight":
            return text + " (in flight)"
        if self.ignored == "already settled":
            return text + " (late, ignored)"
        if self.ignored:
            return text + f" ({self.ignored})"
        return text


@dataclass(frozen=True)
class Note:
    """Something that happened on one lane: a timeout, giving up, processing, a crash."""

    kind: NoteKind
    actor: str
    time_s: float
    message: int
    attempt: int
    since_s: float | None = None  # a timeout: when the transmission that timed out was sent
    detail: str = ""

    @property
    def tag(self) -> str:
        """What the note is about: ``m0 #1``, or the actor for a crash or restart."""
        return f"m{self.message} #{self.attempt}" if self.message >= 0 else self.actor

    @property
    def label(self) -> str:
        m = f"m{self.message}"
        return {
            "timeout": f"timeout {m} #{self.attempt}",
            "gave_up": f"gave up on {m}",
            "abandoned": f"abandoned {m}",
            "processed": f"processed {m}",
            "processed_again": f"processed {m} AGAIN",
            "duplicate_detected": f"duplicate {m} dropped",
            "dropped": f"{m} dropped" + (f" ({self.detail})" if self.detail else ""),
            "dropped_on_arrival": f"{m} #{self.attempt} dropped (a copy is here)",
            "expired_discarded": f"{m} #{self.attempt} expired, discarded",
            "crash": f"{self.actor} crashed",
            "restart": f"{self.actor} restarted",
        }[self.kind]


@dataclass(frozen=True)
class Mark:
    """Something that happened to several lanes at once: a consumer group's rebalance.

    It spans the lanes ``actors`` at ``time_s``, when the partitions were
    assigned; ``since_s`` is when it was triggered (the group stood still in
    between). ``owners`` says which partitions each member owns afterwards
    (``("consumer-0", (0, 1, 2))``, ...), ``label`` the same in short.
    """

    kind: MarkKind
    actors: tuple[str, ...]
    time_s: float
    since_s: float
    label: str
    detail: str = ""  # what triggered it
    owners: tuple[tuple[str, tuple[int, ...]], ...] = ()


@dataclass(frozen=True)
class Diagram:
    """Everything a sequence diagram shows, as plain data."""

    actors: tuple[str, ...]
    arrows: tuple[Arrow, ...]
    notes: tuple[Note, ...]
    end_s: float
    marks: tuple[Mark, ...] = ()

    @property
    def typical_latency_s(self) -> float:
        """The median latency of the packets that arrived (a twentieth of the trace if none did)."""
        latencies = [a.end_s - a.start_s for a in self.arrows if a.fate == "arrived"]
        return statistics.median(latencies) if latencies else max(self.end_s, 1e-3) / 20


def _index(actor: str) -> int:
    return int(actor.rpartition("-")[2])


# Where a packet of each kind starts and where the network reports losing it.
_STARTS: dict[str, ArrowKind] = {"send": "data", "ack_sent": "ack"}
_LOSSES: dict[str, ArrowKind] = {"data_lost": "data", "ack_lost": "ack"}
_Key = tuple[ArrowKind, int, int]  # kind, message, attempt


def _end_of(e: TraceEvent) -> ArrowKind | None:
    """The kind of packet whose journey ``e`` ends, if it ends one."""
    if e.event == "arrive" or (e.event == "dropped" and e.detail == "receiver down"):
        return "data"  # (a receiver that is down drops what reaches it)
    if e.event in ("acked", "ack_ignored"):
        return "ack"
    return None


def _match(events: Sequence[TraceEvent]) -> tuple[list[TraceEvent], set[int], dict[int, list[TraceEvent]]]:
    """Every packet's start, which starts were lost, and the ends of the others.

    Returns the start events in order, the indices of those the network
    lost, and for each other index the events where its copies arrived.
    """
    starts: list[TraceEvent] = []
    latest_start: dict[_Key, int] = {}
    lost: set[int] = set()
    for e in events:
        if e.event in _STARTS:
            latest_start[(_STARTS[e.event], e.message, e.attempt)] = len(starts)
            starts.append(e)
        elif e.event in _LOSSES:
            # The network reports a loss right after the start it belongs to.
            index = latest_start.get((_LOSSES[e.event], e.message, e.attempt))
            if index is not None:
                lost.add(index)
    waiting: dict[_Key, deque[int]] = defaultdict(deque)
    for i, e in enumerate(starts):
        if i not in lost:
            waiting[(_STARTS[e.event], e.message, e.attempt)].append(i)
    ends: dict[int, list[TraceEvent]] = defaultdict(list)
    latest_end: dict[_Key, int] = {}
    for e in events:
        kind = _end_of(e)
        if kind is None or (kind, e.message, e.attempt) not in latest_start:
            continue
        key: _Key = (kind, e.message, e.attempt)
        if waiting[key]:
            i = latest_end[key] = waiting[key].popleft()
        else:  # a second copy: the network duplicated the packet
            i = latest_end.get(key, latest_start[key])
        ends[i].append(e)
    return starts, lost, ends


def layout(events: Sequence[TraceEvent], *, data_latency_s: float | None = None,
           ack_latency_s: float | None = None) -> Diagram:
    """Match every packet's start with its end; collect the notes.

    A packet is identified by its kind (data or ack) and (message, attempt).
    A loss belongs to the latest start with its identity; the other starts
    are paired with their ends (``arrive``; ``acked`` or ``ack_ignored``)
    first in, first out, and an end left over -- a copy the network
    duplicated -- goes to the latest start that arrived. A lost packet is
    drawn for the fraction ``reach`` (see :class:`Arrow`) of
    ``data_latency_s`` / ``ack_latency_s``; left out, that is the median
    latency seen in the trace for that direction.
    """
    senders = sorted({e.actor for e in events if e.actor.startswith("sender")}, key=_index)
    receivers = sorted({e.actor for e in events if e.actor.startswith("receiver")}, key=_index)
    home: dict[tuple[ArrowKind, int], str] = {}  # where each message's data / acks go
    for e in events:
        if e.actor.startswith("receiver"):
            home.setdefault(("data", e.message), e.actor)
        elif e.actor.startswith("sender"):
            home.setdefault(("ack", e.message), e.actor)
    default = {"data": receivers[0] if receivers else "receiver-0",
               "ack": senders[0] if senders else "sender-0"}
    starts, lost, ends = _match(events)
    end_s = max((e.time_s for e in events), default=0.0)
    seen = {kind: [end.time_s - e.time_s for i, e in enumerate(starts) if _STARTS[e.event] == kind
                   for end in ends[i]] for kind in ("data", "ack")}
    either = seen["data"] + seen["ack"]
    typical = statistics.median(either) if either else max(end_s, 1e-3) / 20
    latency = {
        "data": data_latency_s if data_latency_s is not None else (
            statistics.median(seen["data"]) if seen["data"] else typical),
        "ack": ack_latency_s if ack_latency_s is not None else (
            statistics.median(seen["ack"]) if seen["ack"] else typical),
    }

    arrows = []
    for i, e in enumerate(starts):
        kind = _STARTS[e.event]
        for end in ends[i]:
            ignored = end.detail if end.event in ("ack_ignored", "dropped") else ""
            arrows.append(Arrow(kind, e.message, e.attempt, e.actor, end.actor, e.time_s, end.time_s,
                                "arrived", ignored))
        if not ends[i]:
            arrows.append(Arrow(kind, e.message, e.attempt, e.actor,
                                home.get((kind, e.message), default[kind]), e.time_s,
                                e.time_s, "lost" if i in lost else "in_flight"))

    actors = senders + receivers
    for arrow in arrows:  # a lane for a receiver that only ever lost packets
        if arrow.target not in actors:
            actors.append(arrow.target)
    if not actors:  # an empty trace: the two lanes, with nothing between them
        actors = [default["ack"], default["data"]]
    place = {actor: i for i, actor in enumerate(actors)}
    for i, arrow in enumerate(arrows):
        if arrow.fate != "arrived":
            reach = lost_reach(abs(place[arrow.target] - place[arrow.source]))
            arrows[i] = replace(arrow, reach=reach, end_s=arrow.start_s + reach * latency[arrow.kind])
    return Diagram(tuple(actors), tuple(arrows), tuple(_notes(events)), end_s)


def lost_reach(lanes: int) -> float:
    """How far a lost packet's arrow goes, as a fraction of the ``lanes`` it would have crossed.

    Half-way when that lands between two lanes (an odd number of lanes
    apart); otherwise the middle of the gap just before half-way, since
    half-way would be the lifeline of an actor in between.
    """
    if lanes < 1:
        return 0.5
    return (math.floor((lanes - 1) / 2) + 0.5) / lanes


def quiet_gaps(diagram: Diagram) -> list[tuple[float, float]]:
    """Stretches of time with nothing on the wire and nothing happening, worth skipping.

    Retry timers make long silences: a timeout of 250 ms after a 20 ms round
    trip leaves most of the picture empty. A silence longer than four
    typical latencies and a tenth of the whole trace is skipped but for half
    a typical latency at either end. Returned in seconds, as (start, end) of
    each skipped stretch.
    """
    typical = diagram.typical_latency_s
    shortest = max(4 * typical, 0.1 * diagram.end_s)
    busy = sorted([(a.start_s, a.end_s) for a in diagram.arrows]
                  + [(n.time_s, n.time_s) for n in diagram.notes]
                  + [(t, t) for m in diagram.marks for t in (m.since_s, m.time_s)] + [(0.0, 0.0)])
    gaps = []
    reach = busy[0][1]
    for start, end in busy[1:]:
        if start - reach > shortest:
            gaps.append((reach + typical / 2, start - typical / 2))
        reach = max(reach, end)
    return gaps


_PLAIN_NOTES: dict[str, NoteKind] = {
    "gave_up": "gave_up", "abandoned": "abandoned", "duplicate_detected": "duplicate_detected",
    "crash": "crash", "restart": "restart", "dropped_on_arrival": "dropped_on_arrival",
    "expired_discarded": "expired_discarded",
}


def _notes(events: Sequence[TraceEvent]) -> list[Note]:
    """What happened on the lanes, in the order of the log."""
    notes = []
    last_send: dict[tuple[int, int], float] = {}
    for e in events:
        if e.event == "send":
            last_send[(e.message, e.attempt)] = e.time_s
        elif e.event == "timeout":
            notes.append(Note("timeout", e.actor, e.time_s, e.message, e.attempt,
                              last_send.get((e.message, e.attempt))))
        elif e.event == "processed":
            kind: NoteKind = "processed_again" if e.detail == "again" else "processed"
            notes.append(Note(kind, e.actor, e.time_s, e.message, e.attempt))
        elif e.event == "dropped" and e.detail != "receiver down":
            notes.append(Note("dropped", e.actor, e.time_s, e.message, e.attempt, detail=e.detail))
        elif e.event in _PLAIN_NOTES:
            notes.append(Note(_PLAIN_NOTES[e.event], e.actor, e.time_s, e.message, e.attempt,
                              detail=e.detail))
    return notes


__all__ = ["Arrow", "ArrowKind", "Diagram", "Fate", "Mark", "MarkKind", "Note", "NoteKind", "layout", "lost_reach",
           "quiet_gaps"]
