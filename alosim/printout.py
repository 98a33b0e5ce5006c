"""The printout of one run (``alosim run``), made from the registry of figures.

A run leads with the answer of its shape (:mod:`alosim.figures`): a single
hop with its duplicates and losses, a queue pipeline with its duplicate
effects by hop and cause, a log with its consumer crashes and the replays and
losses per crash, an overload run with goodput, duplicate work and the
recovery verdict. Below come the sections of the figures that belong to the
shape (a figure that cannot be non-zero for it is left out; a fault that did
not happen is not shown). Two figures that look contradictory carry the one
line that reconciles them (:func:`notes`). A rate-driven run adds what its
duplicates and losses come to per hour and per day, the way an operator
states a budget.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alosim.figures import FIGURES, LOG, OVERLOAD, QUEUE, SINGLE_HOP, Figure, format_value, headlines, sig3
from alosim.scenario import Scenario
from alosim.shown import join_lines, printable

#: What a run of each shape is asked, in the title of its first section.
QUESTIONS: dict[str, str] = {
    SINGLE_HOP: "duplicates and losses",
    QUEUE: "duplicate effects, by hop and cause",
    LOG: "replays and losses per consumer crash",
    OVERLOAD: "goodput, duplicate work and recovery",
}

#: Shape names as printed in a run's title.
SHAPE_NAMES: dict[str, str] = {SINGLE_HOP: "single hop", QUEUE: "queue pipeline", LOG: "log",
                               OVERLOAD: "overload"}

# The sections below the answer, in order (a figure's section is in the registry).
_SECTIONS: tuple[str, ...] = (
    "traffic", "outcome", "publish hop (producer -> broker)", "consume hop (broker -> consumers)",
    "broker and stores", "log (producer -> partitions)", "consumer group", "latency",
    "sender backlog (create -> first send)", "dedup store",
    "network and faults", "sender mitigations", "receiver mitigations", "duplicates processed, by cause",
    "losses, by cause", "effects out of key order, by cause", "effects out of partition order, by cause",
    "guarantees", "run",
)
#: Figures kept in result files but not listed by a run's printout (nor, by default, by
#: ``alosim compare``): detail that follows from the figures shown, or shown in the answer.
DETAIL = _NOT_LISTED = frozenset({
    "scenario", "semantics", "stopped_by", "timeouts", "acks_sent", "acked", "late_acks", "processed",
    "acked_not_processed", "nacks_sent", "nacks_lost", "nacks_ignored", "deliveries_per_message",
    "duplicates_publish", "duplicates_consume", "consumer_arrivals", "consumer_acks_sent", "consumer_acks_late",
    "consumer_acks_stale", "consumer_acks_dropped_while_down", "consumed", "out_of_order_key",
    "out_of_order_partition",
    *(f"{what}_{q}_s" for what in ("delivery_latency", "ack_latency", "consume_latency")
      for q in ("p95", "mean")),
    "consume_latency_max_s",
})
#: Losses charged to a sender giving up (the others happen to messages it did not give up on).
_GIVING_UP = ("lost_max_attempts", "lost_delivery_timeout", "lost_retry_budget", "lost_circuit_open")
_LABEL_WIDTH = 36
_VALUE_WIDTH = 16


def shape_of(scenario: Scenario) -> str:
    """The shape of a scenario: a log, a queue pipeline, an overload run (a single hop with
    a scheduled slowdown at an arrival rate) or a plain single hop."""
    if scenario.broker is not None:
        return LOG if scenario.broker.kind == "log" else QUEUE
    from alosim.overload import last_slowdown_end

    if scenario.sender.rate is not None and last_slowdown_end(scenario) is not None:
        return OVERLOAD
    return SINGLE_HOP


def delivery(scenario: Scenario) -> str:
    """The semantics with the dedup stores the scenario keeps: ``at-least-once + dedup set``
    (the at-least-once preset keeps none, a scenario may add one)."""
    stores = []
    for where, owner in (("", scenario.receiver if scenario.broker is None else None),
                         ("broker ", scenario.broker), ("consumer ", scenario.consumer)):
        kind = getattr(getattr(owner, "dedup", None), "kind", None)
        if kind not in (None, "none"):
            stores.append(f"{where}dedup {kind}")
    if not stores or (scenario.semantics == "exactly-once" and stores == ["dedup set"]):
        return scenario.semantics
    return f"{scenario.semantics} + {' + '.join(stores)}"


def _happened(summary: Mapping[str, Any], name: str) -> bool:
    """Whether a figure shown only when it happens did: a count above zero, or a text
    that is not empty (``stall_cause`` of a run that did not stall is empty)."""
    value = summary.get(name)
    return bool(value) if isinstance(value, str) else bool(_count(summary, name))


def _count(summary: Mapping[str, Any], name: str) -> int:
    value = summary.get(name, 0)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value == value else 0


def notes(summary: Mapping[str, Any]) -> dict[str, str]:
    """One line, by figure, for each pair of figures that looks contradictory at first glance.

    Duplicate deliveries are a single hop's (a pipeline's are its publish hop's, where
    nothing is processed): only a single hop's summary is held against them."""
    out: dict[str, str] = {}
    gave_up, lost = _count(summary, "gave_up"), _count(summary, "lost")
    if gave_up:
        given_up_lost = sum(_count(summary, c) for c in _GIVING_UP)
        processed = gave_up - given_up_lost
        if processed > 0:
            out["gave_up"] = (f"{processed:,} of these had been processed, only their acks were lost; "
                              f"the other {given_up_lost:,} are losses")
    if "publishes_accepted" in summary or "log_records_appended" in summary:
        return out
    deliveries, caught = _count(summary, "duplicate_deliveries"), _count(summary, "duplicates_detected")
    if "duplicate_deliveries" in summary and caught > deliveries:
        out["duplicates_detected"] = ("more than the duplicate deliveries: a copy that arrived while an "
                                      "earlier one still waited is caught once that one was processed")
    effects = _count(summary, "duplicate_processing")
    if "duplicate_deliveries" in summary and effects > deliveries:
        out["duplicate_processing"] = ("more than the duplicate deliveries: copies that arrived while "
                                       "an earlier one still waited were processed too")
    return out


def _line(label: str, value: str, indent: int = 4) -> str:
    return f"{' ' * indent}{label:<{_LABEL_WIDTH}} {value:>{_VALUE_WIDTH}}"


def _row(fig: Figure, summary: Mapping[str, Any], remarks: Mapping[str, str]) -> list[str]:
    lines = [_line(fig.header(), fig.format(summary[fig.name]))]
    if fig.name in remarks:
        lines.append(f"      ({remarks[fig.name]})")
    return lines


def _per_time(scenario: Scenario, summary: Mapping[str, Any]) -> list[str]:
    """What the duplicates and losses of a rate-driven run come to per hour and per day."""
    rate = scenario.sender.rate
    messages = _count(summary, "messages")
    if rate is None or messages == 0:
        return []
    lines = []
    for name in ("duplicate_processing", "lost"):
        n = _count(summary, name)
        if n:
            hourly = n / messages * rate * 3600
            lines.append(_line(FIGURES[name].label, f"{sig3(hourly)} {sig3(hourly * 24):>10}", 6))
    if lines:
        lines.insert(0, _line(f"at {sig3(rate)} messages/s", f"per hour {'per day':>10}"))
    return lines


def _causes(summary: Mapping[str, Any]) -> list[str]:
    """A pipeline's or a log's duplicate effects, charged to hop and cause."""
    found = [f for f in FIGURES.values() if f.section == "duplicate effects, by hop and cause"
             and _count(summary, f.name)]
    if not found:
        return []
    return ["    by hop and cause", *(_line(f.label, f.format(summary[f.name]), 6) for f in found)]


def answer(scenario: Scenario, summary: Mapping[str, Any], shape: str | None = None,
           verdict: str | None = None) -> list[str]:
    """The first lines of a run's printout: the headline figures of its shape (and, for an
    overload run, the recovery ``verdict`` in words, :meth:`alosim.overload.Recovery.describe`)."""
    shape = shape or shape_of(scenario)
    remarks = notes(summary)
    lines = [f"  {QUESTIONS[shape]}"]
    for fig in headlines(shape, summary):
        if not (fig.if_nonzero and not _happened(summary, fig.name)):
            lines += _row(fig, summary, remarks)
    if shape in (QUEUE, LOG):
        lines += _causes(summary)
    if shape == OVERLOAD:
        from alosim.overload import last_slowdown_end

        trigger = last_slowdown_end(scenario)
        if verdict is not None:
            lines.append(f"    {verdict}")
        elif trigger is not None:
            lines.append(f"      (the last slowdown, a {trigger[0]}, ended at {format_value('duration', trigger[1])})")
    lines += _per_time(scenario, summary)
    return lines


def format_summary(scenario: Scenario, summary: Mapping[str, Any], wall_time_s: float,
                   verdict: str | None = None) -> str:
    """The printout of one run: its answer first, then every figure its shape can show."""
    if scenario.topology is not None:
        return format_topology(scenario, summary, wall_time_s)
    shape = shape_of(scenario)
    lines = [f"{printable(scenario.name)}  ({SHAPE_NAMES[shape]}, {delivery(scenario)}, seed {summary['seed']})"]
    lines += answer(scenario, summary, shape, verdict)
    shown = {f.name for f in headlines(shape, summary)}
    remarks = notes(summary)
    for section in _SECTIONS:
        rows: list[str] = []
        for fig in FIGURES.values():
            if (fig.section != section or fig.name in shown or fig.name in _NOT_LISTED
                    or fig.name not in summary or not (fig.belongs_to(shape) or shape == OVERLOAD
                                                       and fig.belongs_to(SINGLE_HOP))):
                continue
            if fig.if_nonzero and not _happened(summary, fig.name):
                continue
            rows += _row(fig, summary, remarks)
        if section == "run":
            rows.append(_line("wall time", f"{wall_time_s:.2f} s"))
        if rows:
            lines.append(f"  {backlog_title(scenario) if section == _BACKLOG else section}")
            lines += rows
    return join_lines(lines)


#: A topology's table: one row per node that receives calls, one column per figure.
_NODE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("calls", "calls"), ("transmissions_per_message", "sent/msg"), ("effects", "effects"),
    ("duplicate_effects", "dup effects"), ("duplicates_caught", "resends caught"),
    ("repeats_caught", "repeats caught"), ("missing", "missing"),
)


def format_topology(scenario: Scenario, summary: Mapping[str, Any], wall_time_s: float) -> str:
    """The printout of a topology run: the end-to-end answer at the sinks, then a row per node."""
    assert scenario.topology is not None
    # The path's end: its sinks, and the consumer groups that call nothing onward.
    calling = {link.from_ for link in scenario.topology.links}
    groups = any(node.kind == "consumers" and name not in calling for name, node in scenario.topology.nodes.items())
    end, one = ("the final nodes", "a final node") if groups else ("the sinks", "a sink")
    lines = [f"{printable(scenario.name)}  (topology, {delivery(scenario)}, seed {summary['seed']})",
             f"  end to end: duplicate effects and losses at {end}"]
    lines.append(_line("messages created", format_value("count", summary["messages"])))
    lines.append(_line("duplicate effects", format_value("count", summary["duplicate_processing"])))
    lines.append(_line("  per message", sig3(summary["duplicate_processing"] / max(summary["messages"], 1))))
    lines.append(_line(f"lost (no effect at {one})", format_value("count", summary["lost"])))
    if summary["unsettled"]:
        lines.append(_line("unsettled when the run stopped", format_value("count", summary["unsettled"])))
    causes = [(name[len("duplicates_"):], summary[name]) for name in summary
              if name.startswith("duplicates_") and summary[name]]
    if causes:
        lines.append("    by cause")
        lines += [_line(cause.replace("_", " "), format_value("count", n), 6) for cause, n in causes]
    lines.append(_line("calls made on all links", format_value("count", summary["calls"])))
    lines.append(_line("  per message", sig3(summary["calls_per_message"])))
    nodes = [name for name, node in scenario.topology.nodes.items() if node.kind not in ("producer", "queue", "log")]
    brokers = [name for name, node in scenario.topology.nodes.items() if node.kind in ("queue", "log")]
    width = max(len(n) for n in nodes) + 2
    lines.append("  nodes (each row: the link into it and what it did)")
    lines.append("    " + "node".ljust(width) + "".join(label.rjust(15) for _, label in _NODE_COLUMNS))
    for name in nodes:
        values = []
        for column, _ in _NODE_COLUMNS:
            value = summary[f"{name}_{column}"]
            values.append((sig3(value) if isinstance(value, float) else format_value("count", value)).rjust(15))
        lines.append("    " + name.ljust(width) + "".join(values))
    unanswered = [(n, summary[f"{n}_requests_unanswered"]) for n in nodes
                  if summary.get(f"{n}_requests_unanswered")]
    for name, n in unanswered:
        lines.append(f"    {name} left {format_value('count', n)} requests unanswered (an onward call gave up)")
    for name in brokers:  # a broker makes no effect: what its subscriptions measured
        publishes = format_value("count", summary[f"{name}_publishes"])
        if scenario.topology.nodes[name].kind == "log":
            lines.append(f"    {name} (log): {publishes} records appended")
            continue
        lines.append(f"    {name} (queue): {publishes} publishes accepted, "
                     f"{format_value('count', summary[f'{name}_redeliveries'])} redeliveries, "
                     f"{format_value('count', summary[f'{name}_dead_lettered'])} dead-lettered")
    # Where the calls that never made their effect were lost, and why (each link's own causes).
    losses = [(name, column[len(name) + 6:], summary[column]) for name in nodes for column in summary
              if column.startswith(f"{name}_lost_") and summary[column]]
    if losses:
        lines.append("  calls lost on the link into a node, by cause")
        lines += [_line(f"{name}: {cause.replace('_', ' ')}", format_value("count", n)) for name, cause, n in losses]
    crashed = [(name, summary[f"{name}_crashes"]) for name in scenario.topology.nodes
               if f"{name}_crashes" in summary]
    if crashed:
        lines.append("  crashes, by node")
        lines += [_line(name, format_value("count", n)) for name, n in crashed]
    checks = [(name[len("check_"):], held) for name, held in summary.items() if name.startswith("check_")]
    if checks:
        lines.append("  guarantees")
        lines += [_line(name.replace("_", " "), "yes" if held else "VIOLATED") for name, held in checks]
    lines.append("  run")
    lines.append(_line("seed", str(summary["seed"])))
    lines.append(_line("fingerprint", str(summary["fingerprint"])))
    lines.append(_line("simulation events", format_value("count", summary["events"])))
    lines.append(_line("simulated time", format_value("duration", summary["sim_time_s"])))
    lines.append(_line("wall time", f"{wall_time_s:.2f} s"))
    return join_lines(lines)


_BACKLOG = "sender backlog (create -> first send)"


def backlog_title(scenario: Scenario) -> str:
    """The backlog section's title, with what can hold a created message back in this
    scenario: only open-loop arrivals behind a window wait (a closed loop creates a message
    when it can send it; without a window it is sent at once), and a crashed sender with a
    durable outbox keeps those waiting until its restart (no message arrives meanwhile)."""
    sender = scenario.sender
    waits = []
    if sender.rate is not None and sender.window is not None:
        waits.append("window room")
        if sender.durable_outbox and any(f.kind == "crash" and f.target.startswith("sender")
                                         for f in scenario.faults):
            waits.append("a crashed sender's restart")
    return _BACKLOG if not waits else f"{_BACKLOG[:-1]}: waiting for {' or '.join(waits)})"


__all__ = ["DETAIL", "QUESTIONS", "answer", "delivery", "format_summary", "notes", "shape_of"]
