"""Sequence diagrams of a pipeline: producer, broker and consumer lanes.

The trace of a pipeline run has two hops: the producer's publish and the
broker's publish ack; the broker's deliveries and the consumer's acks and
nacks. :func:`layout` turns it into the same :class:`~alosim.seqdiagram.layout.Diagram`
the single hop gives (so :func:`alosim.seqdiagram.draw` draws it), with the
lanes producers, broker, consumers. A packet is identified by its kind, its
hop and (message, number): a transmission's attempt on the publish hop, a
delivery's lease on the consume hop. A lease that ran out is a timer on the
broker's lane, from the delivery to its expiry, like a producer's retry
timer; dead-lettering is a note there. :func:`mermaid` writes the same as a
Mermaid ``sequenceDiagram``.

On a log (``broker: {kind: log}``) consumers fetch instead of being
delivered to: a publish ends where the log appended it (or recognised or
refused it), and the consumer lanes carry the log's own events as notes --
each fetch with its partition and offsets (``fetch p5@0..3``), each commit
with the offset it committed, the partition's next one to read (``commit
p5@4``; partitions committed together make one note) and commits that
failed. A rebalance is a :class:`~alosim.seqdiagram.layout.Mark` across the
consumer lanes at the moment the partitions were assigned again, reaching
back to what triggered it, labelled with who owns what afterwards (``rebalance
after restart c0, 300 ms: c0 {0,1,2} c1 {3,4,5}``); the assignment at the
start is one too.
"""

from __future__ import annotations

import re
import statistics
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass, replace

from alosim.observe import TraceEvent
from alosim.seqdiagram.layout import Arrow, ArrowKind, Diagram, Mark, Note, NoteKind, lost_reach

PUBLISH, CONSUME = "publish", "consume"

_Key = tuple[ArrowKind, str, int, int]  # kind, hop, message, number


@dataclass(frozen=True)
class HopArrow(Arrow):
    """An arrow of a pipeline: which hop it crossed, and whether an ack was a nack."""

    hop: str = PUBLISH
    nack: bool = False

    @property
    def label(self) -> str:
        if self.hop == PUBLISH:
            return super().label
        m = f"m{self.message}"
        if self.kind == "data":
            text = f"deliver {m} #{self.attempt}" + (" again" if self.attempt > 1 else "")
        else:
            text = ("nack " if self.nack else "ack ") + m + (f" #{self.attempt}" if self.attempt > 1 else "")
        if self.fate == "lost":
            return text + " lost"
        if self.fate == "in_flight":
            return text + " (in flight)"
        if self.ignored:
            return text + f" ({self.ignored})"
        return text


@dataclass(frozen=True)
class BrokerNote(Note):
    """A note on the broker's lane: a lease that ran out (drawn as a timer), a dead letter."""

    what: str = ""

    @property
    def label(self) -> str:
        m = f"m{self.message}"
        if self.what == "lease_expired":
            return f"lease {m} #{self.attempt} expired"
        if self.what == "dead_lettered":
            return f"{m} dead-lettered"
        return super().label


@dataclass(frozen=True)
class LogNote(Note):
    """A note on a log consumer's lane: a fetch, a commit, a commit that failed.

    ``what`` holds the partitions and offsets: ``p5@0..3`` for a fetch of
    offsets 0 to 3 of partition 5, ``p5@4 p7@2`` for a commit (the offset
    committed is the next one to read).
    """

    what: str = ""

    @property
    def tag(self) -> str:
        return f"{self.actor} {self.what}".rstrip()

    @property
    def label(self) -> str:
        if self.kind == "fetch":
            return f"fetch {self.what}"
        if self.kind == "commit":
            return f"commit {self.what}"
        return f"commit {self.what} failed" if self.what else "commit failed"


def _index(actor: str) -> int:
    return int(actor.rpartition("-")[2])


_ASSIGNED = re.compile(r"c(\d+) \{([\d,]*)\}")


def _owners(assignment: str) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """``c0 {0,1} c1 {}`` -> (("consumer-0", (0, 1)), ("consumer-1", ()))."""
    return tuple((f"consumer-{member}", tuple(int(p) for p in parts.split(",") if p))
                 for member, parts in _ASSIGNED.findall(assignment))


def _short(trigger: str) -> str:
    """``restart consumer-0`` -> ``restart c0``."""
    return re.sub(r"consumer-(\d+)", r"c\1", trigger)


def _marks(events: Sequence[TraceEvent], consumers: Sequence[str]) -> list[Mark]:
    """The group's assignments: at the start, and after each rebalance."""
    marks = []
    for e in events:
        if e.actor != "group":
            continue
        if e.event == "assigned":
            marks.append(Mark("assigned", tuple(consumers), e.time_s, e.time_s, f"assigned: {e.detail}",
                              owners=_owners(e.detail)))
        elif e.event == "rebalance":
            triggers, took, assignment = e.detail.split(" | ")
            took_ms = float(took.split()[0])
            label = f"rebalance after {_short(triggers)}, {took}: {assignment}"
            marks.append(Mark("rebalance", tuple(consumers), e.time_s, e.time_s - took_ms / 1000,
                              label, detail=triggers, owners=_owners(assignment)))
    return marks


def _start(e: TraceEvent) -> tuple[ArrowKind, str] | None:
    if e.event == "send":
        return "data", PUBLISH
    if e.event == "ack_sent":
        return "ack", PUBLISH if e.actor == "broker" else CONSUME
    if e.event == "nack_sent":
        return "ack", CONSUME
    if e.event == "deliver":
        return "data", CONSUME
    return None


_LOSSES: dict[str, tuple[ArrowKind, str]] = {
    "data_lost": ("data", PUBLISH), "ack_lost": ("ack", PUBLISH),
    "delivery_lost": ("data", CONSUME), "consumer_ack_lost": ("ack", CONSUME),
}


# Where a log ends a publish: it appended it, recognised it (an idempotent
# producer's retry) or refused it (out of sequence). A queue says "arrive" first.
_LOG_ARRIVALS = ("appended", "duplicate_detected", "refused")


def _end(e: TraceEvent, log: bool = False) -> tuple[ArrowKind, str] | None:
    if e.actor == "broker":
        if e.event == "arrive" or (e.event == "dropped" and e.detail == "broker down") or (
                log and e.event in _LOG_ARRIVALS):
            return "data", PUBLISH
        if e.event in ("consumer_acked", "nacked", "ack_ignored"):
            return "ack", CONSUME
    elif e.actor.startswith("consumer"):
        if e.event == "arrive" or (e.event == "dropped" and e.detail == "consumer down"):
            return "data", CONSUME
    elif e.actor.startswith("sender") and e.event in ("acked", "ack_ignored"):
        return "ack", PUBLISH
    return None


def layout(events: Sequence[TraceEvent], *, data_latency_s: float | None = None,
           ack_latency_s: float | None = None) -> Diagram:
    """The diagram of a pipeline's trace: lanes producers, broker, consumers.

    Starts are matched with ends first in, first out per (kind, hop,
    message, number), as :func:`alosim.seqdiagram.layout.layout` does for a
    single hop; a lost packet is drawn for a fraction of the median latency
    of its kind (``data_latency_s`` / ``ack_latency_s`` for the publish hop
    when given)."""
    senders = sorted({e.actor for e in events if e.actor.startswith("sender")}, key=_index)
    # A log's consumers: also those the group assigned partitions to, traced or not.
    members = {m for e in events if e.actor == "group" for m, _ in _owners(e.detail)}
    consumers = sorted({e.actor for e in events if e.actor.startswith("consumer")} | members, key=_index)
    log = any(e.event == "appended" for e in events)
    producer_of: dict[int, str] = {}
    for e in events:
        if e.actor.startswith("sender"):
            producer_of.setdefault(e.message, e.actor)

    starts: list[tuple[TraceEvent, ArrowKind, str]] = []
    latest: dict[_Key, int] = {}
    lost: set[int] = set()
    for e in events:
        begun = _start(e)
        if begun is not None:
            latest[(*begun, e.message, e.attempt)] = len(starts)
            starts.append((e, *begun))
        elif e.event in _LOSSES:
            index = latest.get((*_LOSSES[e.event], e.message, e.attempt))
            if index is not None:
                lost.add(index)
    waiting: dict[_Key, deque[int]] = defaultdict(deque)
    for i, (e, kind, hop) in enumerate(starts):
        if i not in lost:
            waiting[(kind, hop, e.message, e.attempt)].append(i)
    ends: dict[int, list[TraceEvent]] = defaultdict(list)
    last_end: dict[_Key, int] = {}
    for e in events:
        ended = _end(e, log)
        if ended is None:
            continue
        key: _Key = (*ended, e.message, e.attempt)
        if key not in latest:
            continue
        if waiting[key]:
            i = last_end[key] = waiting[key].popleft()
        else:  # a second copy: the network duplicated the packet
            i = last_end.get(key, latest[key])
        ends[i].append(e)

    end_s = max((e.time_s for e in events), default=0.0)
    seen: dict[ArrowKind, list[float]] = {"data": [], "ack": []}
    for i, (e, kind, _) in enumerate(starts):
        seen[kind].extend(end.time_s - e.time_s for end in ends[i])
    either = seen["data"] + seen["ack"]
    typical = statistics.median(either) if either else max(end_s, 1e-3) / 20
    latency = {kind: statistics.median(values) if values else typical for kind, values in seen.items()}
    given = {"data": data_latency_s, "ack": ack_latency_s}

    def target(e: TraceEvent, kind: ArrowKind, hop: str) -> str:
        if hop == CONSUME:
            return e.detail.split()[0] if kind == "data" and e.detail else "broker"
        return "broker" if kind == "data" else producer_of.get(e.message, "sender-0")

    arrows: list[HopArrow] = []
    for i, (e, kind, hop) in enumerate(starts):
        nack = e.event == "nack_sent"
        for end in ends[i]:
            ignored = end.detail if end.event in ("ack_ignored", "dropped") else ""
            arrows.append(HopArrow(kind, e.message, e.attempt, e.actor, end.actor, e.time_s,
                                   end.time_s, "arrived", ignored, hop=hop, nack=nack))
        if not ends[i]:
            arrows.append(HopArrow(kind, e.message, e.attempt, e.actor, target(e, kind, hop),
                                   e.time_s, e.time_s, "lost" if i in lost else "in_flight",
                                   hop=hop, nack=nack))

    actors = [*senders, "broker", *consumers]
    for arrow in arrows:
        if arrow.target not in actors:
            actors.append(arrow.target)
    place = {actor: i for i, actor in enumerate(actors)}
    for i, arrow in enumerate(arrows):
        if arrow.fate != "arrived":
            reach = lost_reach(abs(place[arrow.target] - place[arrow.source]))
            span = given[arrow.kind] if arrow.hop == PUBLISH and given[arrow.kind] is not None else (
                latency[arrow.kind])
            arrows[i] = replace(arrow, reach=reach, end_s=arrow.start_s + reach * span)
    return Diagram(tuple(actors), tuple(arrows), tuple(_notes(events)), end_s,
                   tuple(_marks(events, consumers)))


_PLAIN: dict[str, NoteKind] = {
    "gave_up": "gave_up", "abandoned": "abandoned", "duplicate_detected": "duplicate_detected",
    "crash": "crash", "restart": "restart",
}


def _notes(events: Sequence[TraceEvent]) -> list[Note]:
    notes: list[Note] = []
    sent: dict[tuple[int, int], float] = {}
    delivered: dict[tuple[int, int], float] = {}
    for e in events:
        if e.event == "send":
            sent[(e.message, e.attempt)] = e.time_s
        elif e.event == "deliver":
            delivered[(e.message, e.attempt)] = e.time_s
        elif e.event == "timeout":
            notes.append(Note("timeout", e.actor, e.time_s, e.message, e.attempt,
                              sent.get((e.message, e.attempt))))
        elif e.event == "lease_expired":
            notes.append(BrokerNote("timeout", e.actor, e.time_s, e.message, e.attempt,
                                    delivered.get((e.message, e.attempt)), what="lease_expired"))
        elif e.event == "dead_lettered":
            notes.append(BrokerNote("gave_up", e.actor, e.time_s, e.message, e.attempt,
                                    what="dead_lettered"))
        elif e.event == "processed":
            # (a log's consumer says where: "p5", "p5 again")
            again = e.detail == "again" or e.detail.endswith(" again")
            kind: NoteKind = "processed_again" if again else "processed"
            notes.append(Note(kind, e.actor, e.time_s, e.message, e.attempt))
        elif e.event == "fetch":
            notes.append(LogNote("fetch", e.actor, e.time_s, e.message, e.attempt, what=e.detail))
        elif e.event == "commit":
            last = notes[-1] if notes else None
            if (isinstance(last, LogNote) and last.kind == "commit" and last.actor == e.actor
                    and last.time_s == e.time_s):
                # One commit of several partitions: one note.
                notes[-1] = replace(last, what=f"{last.what} {e.detail}")
            else:
                notes.append(LogNote("commit", e.actor, e.time_s, -1, e.attempt, what=e.detail))
        elif e.event == "commit_failed":
            notes.append(LogNote("commit_failed", e.actor, e.time_s, -1, 0, what=e.detail))
        elif e.event == "dropped" and e.detail not in ("broker down", "consumer down"):
            notes.append(Note("dropped", e.actor, e.time_s, e.message, e.attempt, detail=e.detail))
        elif e.event in _PLAIN:
            notes.append(Note(_PLAIN[e.event], e.actor, e.time_s, e.message, e.attempt, detail=e.detail))
    return notes


def _alias(actor: str) -> str:
    if actor == "broker":
        return "B"
    kind, _, index = actor.partition("-")
    return {"sender": "P", "consumer": "C"}.get(kind, kind[:1].upper()) + index


def mermaid(events: Sequence[TraceEvent]) -> str:
    """A Mermaid ``sequenceDiagram`` of a pipeline's trace (producer, broker, consumer lanes)."""
    diagram = layout(events)
    lines = ["sequenceDiagram"]
    for actor in diagram.actors:
        name = "producer-" + actor.partition("-")[2] if actor.startswith("sender") else actor
        lines.append(f"    participant {_alias(actor)} as {name}")
    # At equal times a note goes first: what happened on a lane (a lease
    # expiring, a side effect) causes the packet sent at that instant.
    items: list[tuple[float, int, int, str]] = []
    for n, arrow in enumerate(diagram.arrows):
        dashes = "--" if arrow.kind == "ack" else "-"
        head = "x" if arrow.fate == "lost" else ">>"
        text = arrow.label.replace(" lost", " LOST")
        items.append((arrow.start_s, 1, n, f"    {_alias(arrow.source)}{dashes}{head}{_alias(arrow.target)}: {text}"))
    for n, note in enumerate(diagram.notes):
        items.append((note.time_s, 0, n, f"    Note over {_alias(note.actor)}: {note.label}"))
    for n, mark in enumerate(diagram.marks):
        # Across the consumer lanes; before what the new owners do at that instant.
        lanes = _alias(mark.actors[0]) + ("," + _alias(mark.actors[-1]) if len(mark.actors) > 1 else "")
        items.append((mark.time_s, -1, n, f"    Note over {lanes}: {mark.label}"))
    lines.extend(line for *_, line in sorted(items))
    return "\n".join(lines) + "\n"


__all__ = ["BrokerNote", "HopArrow", "LogNote", "layout", "mermaid"]
