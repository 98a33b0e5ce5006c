"""The workloads of ``benchmarks/bench.py``: alosim's, and two plain SimPy models to compare with.

The single-hop workload (after issue 24): a closed loop with a window of 32
un-acked messages, 10 % loss on the data path and on the ack path,
exponential latency with a mean of 1 ms each way, a 40 ms retry timeout
(retries until acked), a receiver that remembers every id (a set), and
instantaneous processing. Three models run it:

* ``single-hop``: alosim;
* ``bare``: the least a SimPy model can do -- scheduled events with callbacks,
  a set of ids, Python's own random numbers, no bookkeeping at all: the
  floor of what a SimPy-based simulator can cost per message;
* ``idiomatic``: the model one writes first with SimPy, one generator process
  per message waiting on ``AnyOf(ack, timeout)``, a process per packet.

``three-hops`` is a topology chain of the same hop three times: a producer,
two services that hand each call on as they make its effect (before-call, a
set store each, workers enough for every call) and a sink with a set store,
every link with the single hop's loss and latency. By the issue's target a
chain of n hops costs no more than about n times a single hop per message:
as speed, ``three hops / single hop`` at least about 1/3.

``two-hops`` is the same publish hop into a queue broker and a second hop to
one consumer (the same loss and latency on deliveries and consumer acks, a
40 ms lease); ``log`` is the shipped ``kafka-auto-commit-replay`` scenario
(a 3-partition log, a consumer that auto-commits every 5 s and crashes about
once a minute), cut to ``messages`` messages at its rate.

Each ``prepare_*`` returns a function of no arguments that runs the workload
and returns how many messages were settled, so that only the run is timed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

SINGLE_HOP = """
name: bench-single-hop
semantics: at-least-once
messages: {messages}
sender: {{window: 32, retry: {{timeout: 40ms}}}}
network:
  data: {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}}
  ack:  {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}}
receiver: {{processing: {{dist: constant, value: 0}}, dedup: {{kind: set}}}}
observe: {{trace_messages: 0}}
"""

TWO_HOPS = """
name: bench-two-hops
semantics: at-least-once
messages: {messages}
sender: {{window: 32, retry: {{timeout: 40ms}}}}
network:
  data: {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}}
  ack:  {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}}
  consume:
    data: {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}}
    ack:  {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}}
broker: {{kind: queue, visibility_timeout: 40ms}}
consumer: {{concurrency: 32}}
observe: {{trace_messages: 0}}
"""

ROOT = Path(__file__).resolve().parent.parent


def _alosim(text: str) -> Callable[[], int]:
    import alosim

    scenario = alosim.parse_scenario(text, source="benchmark")
    simulate = alosim.simulate  # imported now, not in the timed run
    return lambda: int(simulate(scenario, seed=1).summary["messages"])


THREE_HOPS = """
name: bench-three-hops
semantics: at-least-once
messages: {messages}
topology:
  nodes:
    producer: {{kind: producer, sender: {{window: 32, retry: {{timeout: 40ms}}}}}}
    first: {{kind: service, receiver: {{workers: 1000, dedup: {{kind: set}}}},
             sender: {{window: 1000, retry: {{timeout: 40ms}}}}, onward: {{ack: before-call}}}}
    second: {{kind: service, receiver: {{workers: 1000, dedup: {{kind: set}}}},
              sender: {{window: 1000, retry: {{timeout: 40ms}}}}, onward: {{ack: before-call}}}}
    sink: {{kind: sink, receiver: {{dedup: {{kind: set}}}}}}
  links:
    - {{from: producer, to: first, data: {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}},
       ack: {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}}}}
    - {{from: first, to: second, data: {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}},
       ack: {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}}}}
    - {{from: second, to: sink, data: {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}},
       ack: {{loss: 0.1, latency: {{dist: exponential, mean: 1ms}}}}}}
observe: {{trace_messages: 0}}
"""


def prepare_three_hops(messages: int) -> Callable[[], int]:
    return _alosim(THREE_HOPS.format(messages=messages))


def prepare_single_hop(messages: int) -> Callable[[], int]:
    return _alosim(SINGLE_HOP.format(messages=messages))


def prepare_two_hops(messages: int) -> Callable[[], int]:
    return _alosim(TWO_HOPS.format(messages=messages))


def prepare_log(messages: int) -> Callable[[], int]:
    import alosim

    # 200 messages a second: the scenario's duration set to carry ``messages``.
    scenario = alosim.load_scenario(ROOT / "scenarios" / "kafka-auto-commit-replay.yaml",
                                    [f"duration={messages / 200}s", "observe.trace_messages=0"])
    simulate = alosim.simulate  # imported now, not in the timed run
    return lambda: int(simulate(scenario).summary["messages"])


def bare(messages: int, *, window: int = 32, p_loss: float = 0.1, mean_s: float = 0.001,
         timeout_s: float = 0.04, seed: int = 1) -> int:
    """The workload with scheduled callbacks and nothing else."""
    import simpy

    env = simpy.Environment()
    rng = random.Random(seed)
    draw, expo = rng.random, rng.expovariate
    rate = 1 / mean_s
    seen: set[int] = set()
    pending: set[int] = set()
    state = {"next": 0, "done": 0}

    def send(mid: int) -> None:
        if draw() >= p_loss:
            env.timeout(expo(rate), mid).callbacks.append(arrive)
        env.timeout(timeout_s, mid).callbacks.append(expire)

    def arrive(event: simpy.Event) -> None:
        seen.add(event.value)
        if draw() >= p_loss:
            env.timeout(expo(rate), event.value).callbacks.append(acked)

    def acked(event: simpy.Event) -> None:
        mid = event.value
        if mid in pending:
            pending.discard(mid)
            state["done"] += 1
            start()

    def expire(event: simpy.Event) -> None:
        if event.value in pending:
            send(event.value)

    def start() -> None:
        if state["next"] < messages:
            mid = state["next"]
            state["next"] = mid + 1
            pending.add(mid)
            send(mid)

    for _ in range(window):
        start()
    env.run()
    return state["done"]


def idiomatic(messages: int, *, window: int = 32, p_loss: float = 0.1, mean_s: float = 0.001,
              timeout_s: float = 0.04, seed: int = 1) -> int:
    """The workload with one SimPy process per message and per packet."""
    import numpy as np
    import simpy

    env = simpy.Environment()
    rng = np.random.default_rng(seed)
    slots = simpy.Resource(env, capacity=window)
    seen: set[int] = set()
    done = [0]

    def carry(mid: int, acked: simpy.Event):  # type: ignore[no-untyped-def]
        yield env.timeout(rng.exponential(mean_s))
        seen.add(mid)
        if rng.random() >= p_loss:
            yield env.timeout(rng.exponential(mean_s))
            if not acked.triggered:
                acked.succeed()

    def message(mid: int, request: simpy.Event):  # type: ignore[no-untyped-def]
        acked = env.event()
        while True:
            if rng.random() >= p_loss:
                env.process(carry(mid, acked))
            yield acked | env.timeout(timeout_s)
            if acked.triggered:
                break
        done[0] += 1
        slots.release(request)

    def source():  # type: ignore[no-untyped-def]
        for mid in range(messages):
            request = slots.request()
            yield request
            env.process(message(mid, request))

    env.process(source())
    env.run()
    return done[0]


PREPARE: dict[str, Callable[[int], Callable[[], int]]] = {
    "single-hop": prepare_single_hop,
    "bare": lambda n: lambda: bare(n),
    "idiomatic": lambda n: lambda: idiomatic(n),
    "two-hops": prepare_two_hops,
    "three-hops": prepare_three_hops,
    "log": prepare_log,
}
