"""Wall time of one sweep run serially and on a local process pool, in one invocation.

The sweep: at-least-once and exactly-once, 6 ack-loss values, 4
replications (48 runs) of 20,000 messages each, 5 % data loss, exponential
latency. It is run serially (in this process) and on a pool of ``--jobs``
worker processes (default 2), each time into a fresh results folder, and
the run tables of the two are checked to be identical. What is timed is
``run_sweep`` from the start to the tables written: expansion, every run,
storing and consolidation; the pool's time includes starting its workers.

The two are measured ``--repeat`` times, alternately, and the best time of
each is compared, so that a burst of other work on the machine does not
decide the ratio. Both figures, the ratio and the load average are printed.

Usage: python benchmarks/sweep_speedup.py [--messages N] [--replications R] [--jobs J] [--repeat K]
"""

from __future__ import annotations

import argparse
import filecmp
import os
import tempfile
import time
from pathlib import Path

import alosim
from alosim.executors import ProcessExecutor, SerialExecutor
from alosim.sweep import expand, run_sweep

SCENARIO = """
name: sweep-benchmark
seed: 1
messages: {messages}
sender: {{rate: 1000/s, window: 256, retry: {{timeout: 200ms}}}}
network:
  data: {{loss: 0.05, latency: {{dist: exponential, mean: 10ms}}}}
  ack:  {{loss: 0.1, latency: {{dist: exponential, mean: 10ms}}}}
receiver: {{processing: {{dist: constant, value: 0.2ms}}}}
sweep:
  grid:
    semantics: [at-least-once, exactly-once]
    network.ack.loss: [0.0, 0.05, 0.1, 0.2, 0.3, 0.4]
  replications: {replications}
"""


def timed_sweep(scenario: alosim.Scenario, out: Path, jobs: int) -> tuple[float, Path]:
    started = time.perf_counter()
    executor = SerialExecutor() if jobs == 1 else ProcessExecutor(jobs)
    with executor:
        outcome = run_sweep(scenario, out=out, executor=executor)
    elapsed = time.perf_counter() - started
    assert outcome.computed == outcome.total and outcome.errors == 0
    return elapsed, outcome.folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    scenario = alosim.parse_scenario(SCENARIO.format(messages=args.messages,
                                                     replications=args.replications))
    runs = expand(scenario).runs
    print(f"sweep: {runs} runs of {args.messages:,} messages; {os.cpu_count()} cores; "
          f"load average {os.getloadavg()[0]:.2f}")
    serial_times: list[float] = []
    pool_times: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for attempt in range(args.repeat):
            serial_s, serial_folder = timed_sweep(scenario, Path(tmp) / f"serial-{attempt}", jobs=1)
            pool_s, pool_folder = timed_sweep(scenario, Path(tmp) / f"pool-{attempt}", jobs=args.jobs)
            if not filecmp.cmp(serial_folder / "runs.parquet", pool_folder / "runs.parquet", shallow=False):
                raise SystemExit("the serial and the pool run tables differ")
            serial_times.append(serial_s)
            pool_times.append(pool_s)
            print(f"  attempt {attempt + 1}: serial {serial_s:6.2f} s   {args.jobs} workers {pool_s:6.2f} s")
    serial_best, pool_best = min(serial_times), min(pool_times)
    print(f"serial:           {serial_best:6.2f} s (best of {args.repeat})")
    print(f"{args.jobs} local workers: {pool_best:6.2f} s (best of {args.repeat})")
    print(f"ratio (pool/serial): {pool_best / serial_best:.3f}; identical tables: yes; "
          f"load average now {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
