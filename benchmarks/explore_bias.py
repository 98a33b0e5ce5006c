"""How many runs alosim explore needs to find a planted violation: uniform
fault times against fault times biased towards the moments that matter.

Each planted scenario hides its violation in a short window: a crash must
start between a side effect and the record of its id (``write_delay``), or
between an early ack and the end of processing. For each explore seed the
search runs until the first violation (at most ``--limit`` runs) with
``explore.bias`` 0 (uniform start times) and 0.5 (the default: half of the
start times just after an arrival, side effect or ack of the fault-free
pilot run). Prints, per scenario and bias, the mean and median number of
runs to the first violation over the seeds.

Usage: python benchmarks/explore_bias.py [--seeds N] [--limit N]
"""

from __future__ import annotations

import argparse
import statistics

from alosim.explore import ExploreTask, base_of, run_one
from alosim.scenario import parse_scenario

PLANTED = {
    "write_delay 0.5 ms, crash between effect and record": """
name: narrow-write
semantics: exactly-once
messages: 20
sender: {rate: 20/s, arrivals: periodic, window: 8, retry: {timeout: 100ms}}
receiver: {dedup: {kind: set, durable: true, write_delay: 0.5ms}}
explore: {crashes: [{target: receivers, min: 1, max: 1}], partitions: {max: 0}, bias: BIAS}
""",
    "ack before processing (1 ms), crash before the effect": """
name: narrow-ack-first
semantics: at-least-once
messages: 20
sender: {rate: 20/s, window: 8, retry: {timeout: 100ms}}
receiver: {ack: before-processing, processing: {dist: constant, value: 1ms}}
explore: {crashes: [{target: receivers, min: 1, max: 1}], partitions: {max: 0}, bias: BIAS}
""",
}


def runs_to_find(text: str, bias: float, seed: int, limit: int) -> int:
    scenario = base_of(parse_scenario(text.replace("BIAS", str(bias))))
    for index in range(limit):
        if run_one(ExploreTask(scenario, seed, index)).violations:
            return index + 1
    return limit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--limit", type=int, default=1000)
    args = parser.parse_args()
    print("| planted violation | bias | mean runs to find | median | not found within limit |")
    print("| --- | --- | --- | --- | --- |")
    for name, text in PLANTED.items():
        for bias in (0.0, 0.5):
            found = [runs_to_find(text, bias, seed, args.limit) for seed in range(args.seeds)]
            missed = sum(1 for n in found if n >= args.limit)
            print(f"| {name} | {bias} | {statistics.mean(found):.1f} | {statistics.median(found):g} | {missed} |")


if __name__ == "__main__":
    main()
