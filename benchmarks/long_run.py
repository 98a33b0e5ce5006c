"""Peak memory of a long run: 1 million and 10 million messages.

Both runs use the same scenario -- 2,000 messages a second (well within what
a window of 256 can carry, so no backlog builds up), a TTL dedup store of
10 s, 5% loss each way, tracing off -- differing only in the number of
messages. Each runs in
its own process, which reports its peak resident set size (RSS) and wall
time. Memory must not grow with the number of messages beyond what the
store holds and what is in flight: the 10M run's peak should stay within
1.25x of the 1M run's.

Usage: python benchmarks/long_run.py [--small N] [--large N]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

SCENARIO = """
name: long-run
semantics: exactly-once
messages: {messages}
sender: {{rate: 2000/s, window: 256, retry: {{timeout: 200ms}}}}
network:
  data: {{loss: 0.05, latency: {{dist: exponential, mean: 10ms}}}}
  ack:  {{loss: 0.05, latency: {{dist: exponential, mean: 10ms}}}}
receiver: {{dedup: {{kind: ttl, window: 10s}}}}
observe: {{sample_every: 10s}}
"""

CHILD = """
import json, resource, sys, time
import alosim
scenario = alosim.parse_scenario(sys.argv[1], source="long-run")
started = time.perf_counter()
result = alosim.simulate(scenario)
wall = time.perf_counter() - started
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"messages": result.summary["messages"], "wall_s": wall, "peak_rss_mib": peak_kib / 1024,
                  "store_peak": result.summary["dedup_entries_peak"],
                  "sim_time_s": result.summary["sim_time_s"]}))
"""


def measure(messages: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, SCENARIO.format(messages=messages)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1_000_000)
    parser.add_argument("--large", type=int, default=10_000_000)
    args = parser.parse_args()
    small, large = measure(args.small), measure(args.large)
    for run in (small, large):
        print(f"{run['messages']:>12,} messages: peak RSS {run['peak_rss_mib']:8.1f} MiB, "
              f"wall {run['wall_s']:7.1f} s ({run['messages'] / run['wall_s']:,.0f} msg/s), "
              f"store peak {run['store_peak']:,}, simulated {run['sim_time_s']:,.0f} s")
    print(f"peak RSS ratio large/small: {large['peak_rss_mib'] / small['peak_rss_mib']:.3f} "
          "(target: at most 1.25)")


if __name__ == "__main__":
    main()
