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

Usage: python benchmarks/memory.py [--full | --messages 100000 1000000] [--kinds single-hop queue log ...]
       [--baseline /path/to/other/checkout]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

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
print(json.dumps({"messages": result.summary["messages"], "wall_s": wall,
                  "peak_rss_mib": peak_kib / 1024, "run_mib": (peak_kib - before_kib) / 1024}))
"""


def scenario_text(kind: str, messages: int) -> str:
    return COMMON.format(kind=kind, messages=messages) + SCENARIOS[kind]


def measure(kind: str, messages: int, tree: Path) -> dict[str, float]:
    """One run in a fresh process importing alosim from ``tree``."""
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run([sys.executable, "-c", CHILD, scenario_text(kind, messages)],
                         check=True, capture_output=True, text=True, env=env, cwd=tree).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, nargs="+", default=None,
                        help="the run sizes (default: 100,000 and 1 million)")
    parser.add_argument("--full", action="store_true", help="1 million and 10 million messages (about an hour)")
    parser.add_argument("--kinds", nargs="+", choices=list(SCENARIOS), default=list(SCENARIOS))
    parser.add_argument("--baseline", type=Path, default=None,
                        help="another checkout of alosim to measure alongside, run by run")
    args = parser.parse_args()
    if args.messages is None:
        args.messages = [1_000_000, 10_000_000] if args.full else [100_000, 1_000_000]
    elif args.full:
        parser.error("--full gives the sizes: leave out --messages")
    trees = [("this", HERE)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    peaks: dict[tuple[str, str, int], dict[str, float]] = {}
    for kind in args.kinds:
        for messages in args.messages:
            for label, tree in trees:
                run = peaks[label, kind, messages] = measure(kind, messages, tree)
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
            print(line + ("  (target: at most 1.25)" if label == "this" and large > small else ""))
        if args.baseline:
            for messages in args.messages:
                ratio = peaks["this", kind, messages]["peak_rss_mib"] / peaks["baseline", kind, messages]["peak_rss_mib"]
                print(f"{kind:>17} this / baseline at {messages:,} messages: {ratio:.2f}")


if __name__ == "__main__":
    main()
