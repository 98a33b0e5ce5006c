"""Simulated messages per second: alosim against a one-process-per-message SimPy model.

Both models simulate the same protocol in the same invocation: 100,000
messages, a window of 32 un-acked messages, 10% loss on the data path and
on the ack path, exponential latency with mean 20 ms each way, a 250 ms
retry timeout, retries until acked, instantaneous processing.

The baseline is the model one writes first with SimPy: one generator process
per message that waits for ``AnyOf(ack, timeout)``, a process per packet,
and one scalar random draw at a time. alosim uses one process per long-lived
actor, scheduled events with callbacks for packets and timers, and batched
random draws (see DESIGN.md).

A third case runs the same publish hop into a broker, and a second hop to
one consumer (10 % loss on deliveries and on consumer acks, a 250 ms lease):
the two-hop pipeline's throughput, beside the single hop's.

Usage: python benchmarks/throughput.py [--messages N] [--repeat R]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import simpy

import alosim

SCENARIO = """
name: benchmark
semantics: at-least-once
messages: {messages}
sender: {{window: 32, retry: {{timeout: 250ms}}}}
network:
  data: {{loss: 0.1, latency: {{dist: exponential, mean: 20ms}}}}
  ack:  {{loss: 0.1, latency: {{dist: exponential, mean: 20ms}}}}
receiver: {{processing: {{dist: constant, value: 0}}}}
"""


PIPELINE = SCENARIO.replace("receiver: {{processing: {{dist: constant, value: 0}}}}", """\
broker: {{visibility_timeout: 250ms}}
consumer: {{concurrency: 64}}
""").replace("  ack:  {{loss: 0.1, latency: {{dist: exponential, mean: 20ms}}}}\n", """\
  ack:  {{loss: 0.1, latency: {{dist: exponential, mean: 20ms}}}}
  consume:
    data: {{loss: 0.1, latency: {{dist: exponential, mean: 20ms}}}}
    ack:  {{loss: 0.1, latency: {{dist: exponential, mean: 20ms}}}}
""")


def baseline(messages: int, *, window: int = 32, p_data: float = 0.1, p_ack: float = 0.1,
             mean_latency: float = 0.02, timeout: float = 0.25, seed: int = 1) -> dict[str, int]:
    """The same protocol with one SimPy process per message (and per packet)."""
    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    slots = simpy.Resource(env, capacity=window)
    counts = {"transmissions": 0, "deliveries": 0, "acked": 0}

    def carry(acked: simpy.Event) -> simpy.events.ProcessGenerator:
        yield env.timeout(rng.exponential(mean_latency))
        counts["deliveries"] += 1
        if rng.random() >= p_ack:
            yield env.timeout(rng.exponential(mean_latency))
            if not acked.triggered:
                acked.succeed()

    def message(request: simpy.Event) -> simpy.events.ProcessGenerator:
        acked = env.event()
        while True:
            counts["transmissions"] += 1
            if rng.random() >= p_data:
                env.process(carry(acked))
            yield acked | env.timeout(timeout)
            if acked.triggered:
                break
        counts["acked"] += 1
        slots.release(request)

    def source() -> simpy.events.ProcessGenerator:
        for _ in range(messages):
            request = slots.request()
            yield request
            env.process(message(request))

    env.process(source())
    env.run()
    return counts


def time_alosim(messages: int, text: str = SCENARIO) -> tuple[float, dict]:
    scenario = alosim.parse_scenario(text.format(messages=messages), source="benchmark")
    started = time.perf_counter()
    result = alosim.simulate(scenario, seed=1)
    return time.perf_counter() - started, result.summary


def time_baseline(messages: int) -> tuple[float, dict]:
    started = time.perf_counter()
    counts = baseline(messages)
    return time.perf_counter() - started, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    n = args.messages

    alo, base, two = [], [], []
    for _ in range(args.repeat):
        seconds, summary = time_alosim(n)
        alo.append(n / seconds)
        seconds, _ = time_alosim(n, PIPELINE)
        two.append(n / seconds)
        seconds, counts = time_baseline(n)
        base.append(n / seconds)
    a, b = statistics.median(alo), statistics.median(base)
    print(f"messages per run:          {n:,} (window 32, loss 0.1 each way), {args.repeat} repeats")
    print(f"transmissions per message: alosim {summary['transmissions'] / n:.4f}, "
          f"baseline {counts['transmissions'] / n:.4f} (theory {1 / 0.81:.4f})")
    print(f"alosim:   {a:12,.0f} messages/s (median)")
    print(f"baseline: {b:12,.0f} messages/s (median, one SimPy process per message)")
    print(f"ratio:    {a / b:12.2f}x")
    print(f"two hops: {statistics.median(two):12,.0f} messages/s (median, producer -> broker -> consumer)")


if __name__ == "__main__":
    main()
