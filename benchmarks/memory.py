"""Peak memory against the number of messages, for every node kind.

Memory must not grow with the number of messages beyond what the model holds
by design (a dedup store's window, what is in flight, a backlog): a run of 10
times the messages should peak within about 1.25x of the smaller run. Five
shapes, each at a steady 2,000 messages a second with tracing off:

* ``single-hop``: sender -> lossy network -> receiver with a 10 s TTL store;
* ``queue``: producer -> queue broker (leases, nacks) -> two consumers, no store;
* ``queue-stores``: the same, exactly-once: a 10 s TTL store at the broker and
  one at the consumers;
* ``log``: producer -> a 3-partition log -> a consumer group of two members
  that auto-commit every 5 s and crash about once a minute;
* ``log-transactional``: the same log, its members committing with their
  effects (exactly-once).

By default 100,000 and 1 million messages (a few minutes); ``--full``: 1
million and 10 million, as the figures are quoted (about an hour: the queue
pipelines run at some 15,000 messages a second).

Each run is its own process, which reports its peak resident set size (RSS)
and how much of it the run added over the process before the run (imports).
With ``--baseline PATH`` each run is repeated with ``PYTHONPATH=PATH`` (a
checkout of another version), interleaved, and the ratios are printed.

``--shipped`` measures the shipped scenarios instead: every ``scenarios/*.yaml``
with a ``broker:`` (queue pipelines and logs) or a ``topology:`` section, scaled
to each size by one rule -- ``messages: N``, ``duration`` dropped,
``observe.trace_messages: 0``, everything else kept (rates, windows, stores,
faults, the seed; a ``sweep`` runs its base point, as ``alosim run`` does).
Two things cannot be scaled that way, and are scaled as follows:

* ``max_time`` (kafka-commit-before-processing: a saturated consumer, stopped
  with a backlog when the producer stops, at 600 s) is multiplied by N over the
  scenario's own number of messages (``messages``, or ``duration`` x rate), so
  that the run still stops when the producer does: the backlog the file shows
  at 90,000 messages becomes its backlog at N, which grows with N by design;
* a fault at a fixed time (retry-amplification-three-layers: the database 40
  times slower from 10 s for 3 s) stays one incident at that time: stretched
  in proportion it would be a 1,000-second outage at a million messages, a
  different scenario. The incident does not depend on N, but what follows it
  does: it tips the three layers into a retry storm that does not end (each
  message then costs the database up to 27 requests, more than its 8 workers
  serve), so the database's queue grows with every message -- by design, an
  unbounded queue -- until, near a million messages, the run reaches its
  memory budget (2 GiB by default) and stops (``stopped_by: memory``), at
  about 1.8 GiB of RSS.

Beside each peak the table shows what the model holds by design, as the run
itself reports it: the dedup stores' entries at their peaks (the summary's
``broker_store_entries_peak`` and ``consumer_store_entries_peak``, or each
node's ``<node>_dedup_entries_peak``, summed) and the messages created and not
yet settled by their sender -- in an outbox, on a link, being processed -- at
the highest sample of the series' ``in_flight`` columns; the backlog of a
pipeline's broker (``log_lag_peak`` of a log, ``broker_ready_peak`` and
``broker_in_flight_peak`` of a queue); and the requests queued for a receiver's
workers, retransmissions included, at the highest sample of its
``queue_length`` columns (each hop's or node's, summed, in a topology; a peak
between two samples is missed). A row is *flat* when the larger run peaks
within 1.25 times the smaller one. A row above that is *grows by design* when
one of those four grew with the messages (by at least 10,000 and at least
twofold: a ``set`` store keeps an entry per message, a saturated consumer's,
producer's or receiver's backlog grows with the arrivals); it shows by how
much, and the RSS the larger run added per entry added, ``(peak_large -
peak_small) / added entries``. That figure does not subtract the store: it
charges all the growth to what was held by design, and is believable when it is
what an entry costs in Python (a hundred to a few hundred bytes: a dict entry,
a float, a tuple in a deque; a message object with its attributes); thousands
of bytes an entry would mean something else grows too. Anything else above 1.25
is *GROWS*: a leak to find.

Usage: python benchmarks/memory.py [--full | --messages 100000 1000000] [--kinds single-hop queue log ...]
       [--baseline /path/to/other/checkout]
       python benchmarks/memory.py --shipped [--messages 100000 1000000] [--scenarios NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from collections.abc import Callable
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent.parent
FLAT_RATIO = 1.25  # a run of 10 times the messages peaks within this many times the smaller run

COMMON = """
name: memory-{kind}
messages: {messages}
sender: {{rate: 2000/s, window: 256, retry: {{timeout: 200ms}}}}
observe: {{sample_every: 10s, trace_messages: 0}}
"""

SCENARIOS: dict[str, str] = {
    "single-hop": """
semantics: exactly-once
network:
  data: {loss: 0.05, latency: {dist: exponential, mean: 10ms}}
  ack:  {loss: 0.05, latency: {dist: exponential, mean: 10ms}}
receiver: {dedup: {kind: ttl, window: 10s}}
""",
    "queue": """
semantics: at-least-once
network:
  data: {loss: 0.01, latency: {dist: exponential, mean: 5ms}}
  ack:  {loss: 0.01, latency: {dist: exponential, mean: 5ms}}
broker: {kind: queue}
consumer: {count: 2, processing: {dist: exponential, mean: 0.5ms}}
""",
    "queue-stores": """
semantics: exactly-once
network:
  data: {loss: 0.01, latency: {dist: exponential, mean: 5ms}}
  ack:  {loss: 0.01, latency: {dist: exponential, mean: 5ms}}
broker: {kind: queue, dedup: {kind: ttl, window: 10s}}
consumer: {count: 2, processing: {dist: exponential, mean: 0.5ms}, dedup: {kind: ttl, window: 10s}}
""",
    "log": """
semantics: at-least-once
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack:  {latency: {dist: constant, value: 1ms}}
broker: {kind: log, partitions: 3}
consumer: {count: 2, commit: {policy: interval, interval: 5s}}
faults: [{target: consumer-0, mtbf: 60s, mttr: 100ms}]
""",
    "log-transactional": """
semantics: exactly-once
network:
  data: {latency: {dist: constant, value: 1ms}}
  ack:  {latency: {dist: constant, value: 1ms}}
broker: {kind: log, partitions: 3}
consumer: {count: 2, commit: {policy: transactional}}
faults: [{target: consumer-0, mtbf: 60s, mttr: 100ms}]
""",
}

CHILD = """
import json, resource, sys, time
import alosim
scenario = alosim.parse_scenario(sys.argv[1], source="memory")
before_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
result = alosim.simulate(scenario)
wall = time.perf_counter() - started
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
held = {k: v for k, v in result.summary.items() if k.endswith("_peak") and isinstance(v, int)}
for name, column in result.series.items():  # messages not settled, requests queued; per hop of a topology
    if name in ("in_flight", "queue_length") or name.endswith(("_in_flight", "_queue_length")):
        held[name + "_sampled_peak"] = int(max(column, default=0))
print(json.dumps({"messages": result.summary["messages"], "wall_s": wall,
                  "peak_rss_mib": peak_kib / 1024, "run_mib": (peak_kib - before_kib) / 1024,
                  "stopped_by": result.summary.get("stopped_by"), "held": held}))
"""


def scenario_text(kind: str, messages: int) -> str:
    return COMMON.format(kind=kind, messages=messages) + SCENARIOS[kind]


def measure(text: str, tree: Path) -> dict[str, Any]:
    """Run the scenario ``text`` in a fresh process importing alosim from ``tree``: its peak RSS and summary peaks."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", CHILD, text],
                         check=True, capture_output=True, text=True, env=env, cwd=tree).stdout
    return json.loads(out)


# -- the shipped scenarios ---------------------------------------------------------------------------------------

def shipped_scenarios(tree: Path) -> list[Path]:
    """The scenario files of ``tree`` that build a pipeline, a log or a topology, in name order."""
    return [path for path in sorted((tree / "scenarios").glob("*.yaml"))
            if {"broker", "topology"} & set(yaml.safe_load(path.read_text()))]


def _per_second(rate: str | float) -> float:
    """A rate as a scenario writes it (``200/s``, ``12000/min``, or a number per second) in messages per second."""
    if isinstance(rate, (int, float)):
        return float(rate)
    count, _, unit = str(rate).partition("/")
    return float(count) / {"s": 1.0, "min": 60.0, "h": 3600.0}[unit.strip() or "s"]


def _seconds(value: str | float) -> float:
    """A duration as a scenario writes it (``600s``, ``10min``, ``250ms`` or seconds) in seconds."""
    if isinstance(value, (int, float)):
        return float(value)
    for unit, scale in (("ms", 1e-3), ("min", 60.0), ("h", 3600.0), ("s", 1.0)):
        if value.endswith(unit):
            return float(value[: -len(unit)]) * scale
    return float(value)


def _producer_rate(data: dict[str, Any]) -> float:
    """Messages per second of the scenario's producer (the ``sender``, or the topology's producer node's)."""
    if "topology" in data:
        sender = next(node["sender"] for node in data["topology"]["nodes"].values() if node["kind"] == "producer")
    else:
        sender = data["sender"]
    return _per_second(sender["rate"])


def scaled_scenario(path: Path, messages: int) -> tuple[str, list[str]]:
    """The scenario at ``path`` scaled to ``messages`` (module docstring), and what was scaled beyond the rule."""
    data = yaml.safe_load(path.read_text())
    own = data["messages"] if "messages" in data else _seconds(data["duration"]) * _producer_rate(data)
    notes = []
    if data.get("max_time") is not None:
        max_time_s = _seconds(data["max_time"]) * messages / own
        notes.append(f"max_time {data['max_time']} x {messages:,} / {own:,.0f} messages = {max_time_s:,.0f} s")
        data["max_time"] = f"{max_time_s}s"
    for fault in data.get("faults") or []:
        if "at" in fault:
            notes.append(f"fault on {fault['target']} at {fault['at']} for {fault.get('for')}: kept, one incident")
    data.pop("duration", None)
    data["messages"] = messages
    data["observe"] = {**(data.get("observe") or {}), "trace_messages": 0}
    data["name"] = f"memory-{data['name']}"
    return yaml.safe_dump(data, sort_keys=False), notes


def store_entries(held: dict[str, int]) -> int:
    """The dedup stores' entries at their peaks, summed: a pipeline's broker and consumer stores, or each node's."""
    pipeline = [v for k, v in held.items() if k.endswith("_store_entries_peak")]
    if pipeline:
        return sum(pipeline)
    nodes = [v for k, v in held.items() if k.endswith("_dedup_entries_peak")]
    return sum(nodes) if nodes else held.get("dedup_entries_peak", 0)


def unsettled(held: dict[str, int]) -> int:
    """Messages created and not yet settled at the sampled peak (in an outbox, on a link, in a broker's backlog,
    being processed), summed over a topology's hops: the series' ``in_flight`` columns, sampled every
    ``observe.sample_every``, so a peak between two samples is missed."""
    return sum(v for k, v in held.items() if k.endswith("in_flight_sampled_peak"))


def backlog(held: dict[str, int]) -> int:
    """What waits in a pipeline's broker at its peaks: a log's lag, a queue's ready and leased entries."""
    return sum(held.get(k, 0) for k in ("log_lag_peak", "broker_ready_peak", "broker_in_flight_peak"))


def queued(held: dict[str, int]) -> int:
    """Requests waiting in the receivers' queues for a worker at the sampled peak (the series' ``queue_length``
    columns, each node's in a topology, summed): an overloaded receiver's backlog, retransmissions included."""
    return sum(v for k, v in held.items() if k.endswith("queue_length_sampled_peak"))


#: What the model holds by design, as a run reports it.
HELD: dict[str, Callable[[dict[str, int]], int]] = {"store": store_entries, "unsettled": unsettled,
                                                    "broker backlog": backlog, "queued": queued}


def verdict(small: dict[str, Any], large: dict[str, Any]) -> str:
    """Flat; grows by design (what the model holds by design grew, as the runs report it); or GROWS."""
    if large["peak_rss_mib"] <= FLAT_RATIO * small["peak_rss_mib"]:
        return "flat"
    grew = {what: (held(small["held"]), held(large["held"])) for what, held in HELD.items()}
    grew = {what: (before, after) for what, (before, after) in grew.items()
            if after - before >= 10_000 and after >= 2 * before}
    if not grew:
        return "GROWS"
    added = sum(after - before for before, after in grew.values())
    per_entry = (large["peak_rss_mib"] - small["peak_rss_mib"]) * 2**20 / added
    return ("grows by design: " + ", ".join(f"{what} +{after - before:,}" for what, (before, after) in grew.items())
            + f" ({per_entry:,.0f} bytes of RSS per entry added)")


def run_shipped(sizes: list[int], names: list[str] | None) -> None:
    """Measure every shipped pipeline, log and topology scenario at each size, one process at a time, and tabulate."""
    started = time.perf_counter()
    paths = shipped_scenarios(HERE)
    if names:
        known = {path.stem for path in paths}
        unknown = [name for name in names if name not in known]
        if unknown:
            sys.exit(f"memory.py: --scenarios: not a shipped pipeline, log or topology scenario: {', '.join(unknown)}")
        paths = [path for path in paths if path.stem in names]
    runs: dict[tuple[str, int], dict[str, Any]] = {}
    notes: dict[str, list[str]] = {}
    for path in paths:
        for messages in sizes:
            text, notes[path.stem] = scaled_scenario(path, messages)
            run = runs[path.stem, messages] = measure(text, HERE)
            print(f"{path.stem:>34} {messages:>12,} messages: peak RSS {run['peak_rss_mib']:8.1f} MiB "
                  f"(run {run['run_mib']:7.1f} MiB), store {store_entries(run['held']):>10,}, "
                  f"unsettled {unsettled(run['held']):>9,}, backlog {backlog(run['held']):>9,}, queued {queued(run['held']):>9,}, {run['messages'] / run['wall_s']:>8,.0f} msg/s, "
                  f"{run['wall_s']:6.0f} s, stopped by {run['stopped_by']}", flush=True)
    small, large = min(sizes), max(sizes)
    print(f"\n| scenario | peak at {small:,} (MiB) | peak at {large:,} (MiB) | ratio | store entries "
          f"({small:,} / {large:,}) | unsettled, sampled ({small:,} / {large:,}) | broker backlog ({small:,} / {large:,}) | queued, sampled "
          f"({small:,} / {large:,}) | verdict |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for path in paths:
        a, b = runs[path.stem, small], runs[path.stem, large]
        stopped = "".join(f"; the {run['messages']:,}-message run stopped by {run['stopped_by']}"
                          for run in (a, b) if run["stopped_by"] not in ("settled", "max_time"))
        print(f"| {path.stem} | {a['peak_rss_mib']:.1f} | {b['peak_rss_mib']:.1f} | "
              f"{b['peak_rss_mib'] / a['peak_rss_mib']:.2f} | {store_entries(a['held']):,} / "
              f"{store_entries(b['held']):,} | {unsettled(a['held']):,} / {unsettled(b['held']):,} | {backlog(a['held']):,} / {backlog(b['held']):,} | {queued(a['held']):,} / {queued(b['held']):,} | {verdict(a, b)}{stopped} |")
    for name, said in notes.items():
        for note in said:
            print(f"{name}: {note}")
    print(f"\nwall time of the whole run: {time.perf_counter() - started:,.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=None,
                        help="the run sizes (default: 100,000 and 1 million)")
    parser.add_argument("--full", action="store_true", help="1 million and 10 million messages (about an hour)")
    parser.add_argument("--kinds", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout of alosim to measure alongside, run by run")
    parser.add_argument("--shipped", action="store_true",
                        help="the shipped pipeline, log and topology scenarios, scaled to each size")
    parser.add_argument("--scenarios", nargs="+", default=None, metavar="NAME",
                        help="with --shipped: only these scenarios (file names without .yaml)")
    args = parser.parse_args()
    if args.shipped:
        if args.full or args.baseline or args.kinds != list(SCENARIOS):
            parser.error("--shipped takes --messages and --scenarios only")
        run_shipped(args.messages or [100_000, 1_000_000], args.scenarios)
        return
    if args.scenarios:
        parser.error("--scenarios goes with --shipped")
    if args.messages is None:
        args.messages = [1_000_000, 10_000_000] if args.full else [100_000, 1_000_000]
    elif args.full:
        parser.error("--full gives the sizes: leave out --messages")
    trees = [("this", HERE)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    peaks: dict[tuple[str, str, int], dict[str, Any]] = {}
    for kind in args.kinds:
        for messages in args.messages:
            for label, tree in trees:
                run = peaks[label, kind, messages] = measure(scenario_text(kind, messages), tree)
                print(f"{kind:>17} {label:>8} {messages:>12,} messages: peak RSS {run['peak_rss_mib']:8.1f} MiB "
                      f"(run {run['run_mib']:7.1f} MiB), {run['messages'] / run['wall_s']:>9,.0f} msg/s",
                      flush=True)
    print()
    small, large = min(args.messages), max(args.messages)
    for kind in args.kinds:
        for label, _ in trees:
            a, b = peaks[label, kind, small], peaks[label, kind, large]
            line = f"{kind:>17} {label:>8}: peak RSS {large:,} / {small:,} messages = " \
                   f"{b['peak_rss_mib'] / a['peak_rss_mib']:.2f}"
            print(line + (f"  (target: at most {FLAT_RATIO})" if label == "this" and large > small else ""))
        if args.baseline:
            for messages in args.messages:
                ratio = peaks["this", kind, messages]["peak_rss_mib"] / peaks["baseline", kind, messages]["peak_rss_mib"]
                print(f"{kind:>17} this / baseline at {messages:,} messages: {ratio:.2f}")


if __name__ == "__main__":
    main()
