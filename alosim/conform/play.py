"""One measurement: play a plan against a broker and count what the consumer did.

The harness publishes (Poisson, from the plan's seed), starts the consumer
process (:mod:`alosim.conform.worker`, in its own process group), kills it
with SIGKILL at the plan's crash times and starts a new one after the down
time, waits until everything published has settled (acked or dead-lettered,
and no delivery left in the live consumer's hands), then reads the event
files. What it created on the broker is removed and every process it started
is killed, whatever happens.

While it plays, a probe in the harness sleeps 1 ms at a time and records how
late each sleep ends: the machine's timer overshoot, reported beside the one
the consumer's processing sleeps show.
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from alosim.conform.brokers import Broker, open_broker
from alosim.conform.plan import ConformError, Plan
from alosim.conform.processes import kill_group, spawn

WORKER = Path(__file__).with_name("worker.py")

#: How long a consumer process may take to connect before the measurement gives up.
READY_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Overshoot:
    """How late timers fired during the run, in seconds."""

    mean_s: float
    p99_s: float
    samples: int


@dataclass(frozen=True)
class Measurement:
    """What the consumer did on the real broker."""

    broker: str
    messages: int
    effects: np.ndarray  # side effects per message id (index = id)
    dead_lettered: int
    crash_duplicates: np.ndarray  # duplicate effects charged to each crash
    down_s: tuple[float, ...]  # each crash's real down time (kill to ready)
    processing_overshoot: Overshoot
    probe_overshoot: Overshoot
    deliveries: int
    wall_s: float

    @property
    def never_effected(self) -> int:
        return int(np.sum(self.effects == 0))


def _overshoot(values: list[float]) -> Overshoot:
    if not values:
        return Overshoot(0.0, 0.0, 0)
    array = np.maximum(np.asarray(values), 0.0)
    return Overshoot(float(array.mean()), float(np.quantile(array, 0.99)), len(values))


@dataclass
class _Incarnation:
    """One consumer process: started as a spare, live once told to go."""

    index: int
    proc: subprocess.Popen[bytes]
    events: Path
    errors: Path


class _Consumer:
    """The consumer process, its spare and the event files of every incarnation.

    A process pays for its imports (the broker client) when it starts, up to a
    second on a busy machine: the next incarnation is started ahead as a spare
    that waits on its standard input, so that a crashed consumer comes back
    after the scenario's down time, not after an interpreter's start-up."""

    def __init__(self, plan: Plan, broker: Broker, workdir: Path) -> None:
        self.plan, self.broker, self.workdir = plan, broker, workdir
        self.started = 0
        self.live: _Incarnation | None = None
        self.spare: _Incarnation | None = None
        self.events: list[Path] = []  # of the incarnations that went live

    def _spawn(self) -> _Incarnation:
        k = self.started
        self.started += 1
        draws = np.roll(self.plan.processing_s, -k * self.plan.messages)
        processing = self.workdir / f"processing-{k}.bin"
        processing.write_bytes(draws.astype("<f8").tobytes())
        events = self.workdir / f"events-{k}.log"
        config = dict(self.plan.worker_config(), target=self.broker.worker_target(),
                      events=str(events), processing=str(processing))
        config_path = self.workdir / f"worker-{k}.json"
        config_path.write_text(json.dumps(config))
        errors = self.workdir / f"worker-{k}.err"
        with open(errors, "wb") as log:
            proc = spawn([sys.executable, str(WORKER), str(config_path)], log, stdin=subprocess.PIPE)
        return _Incarnation(k, proc, events, errors)

    def prepare(self) -> None:
        """Start the spare, if there is none."""
        if self.spare is None:
            self.spare = self._spawn()

    def start(self) -> None:
        """Make the spare (started now if need be) the live consumer."""
        self.prepare()
        assert self.spare is not None and self.spare.proc.stdin is not None
        self.live, self.spare = self.spare, None
        self.events.append(self.live.events)
        try:
            self.live.proc.stdin.write(b"go\n")
            self.live.proc.stdin.flush()
        except BrokenPipeError:
            pass  # it died while waiting: ready() reports why

    async def ready(self) -> float:
        """Wait for the live consumer's R line; its time."""
        assert self.live is not None
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            for line in self._lines(self.live.events):
                if line.startswith("R "):
                    return float(line.split()[1])
            if self.live.proc.poll() is not None:
                break
            await asyncio.sleep(0.002)
        raise ConformError(f"the consumer process did not start: {self.last_error()}")

    def in_hand(self) -> int:
        """Deliveries the live consumer has taken and not yet acked."""
        assert self.live is not None
        counts = Counter(line[0] for line in self._lines(self.live.events))
        return counts["D"] - counts["A"]

    def alive(self) -> bool:
        return self.live is not None and self.live.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL the live consumer."""
        if self.live is not None:
            kill_group(self.live.proc)

    def close(self) -> None:
        """Kill the live consumer and the spare."""
        self.kill()
        if self.spare is not None:
            kill_group(self.spare.proc)

    def last_error(self) -> str:
        text = ""
        if self.live is not None and self.live.errors.exists():
            text = self.live.errors.read_text(errors="replace").strip()
        return text.splitlines()[-1] if text else "no output"

    @staticmethod
    def _lines(path: Path) -> list[str]:
        try:
            text = path.read_text()
        except FileNotFoundError:
            return []
        # A line is complete once its newline is there (a killed writer may leave none).
        return text.split("\n")[:-1]


async def _probe(samples: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        start = time.monotonic()
        await asyncio.sleep(0.001)
        samples.append(time.monotonic() - start - 0.001)


async def play(plan: Plan, url: str, *, settle_timeout_s: float | None = None) -> Measurement:
    """Measure ``plan`` on the broker at ``url``."""
    broker = open_broker(url)
    await broker.connect()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alosim-conform-") as tmp:
        consumer = _Consumer(plan, broker, Path(tmp))
        try:
            await broker.setup(plan)
            result = await _run(plan, broker, consumer, settle_timeout_s)
        finally:
            consumer.close()
            await broker.cleanup()
        return _measure(plan, broker, consumer, result, time.monotonic() - started)


@dataclass
class _Run:
    """What the harness saw while playing."""

    kills: list[float]  # monotonic times of the SIGKILLs
    downs: list[float]  # each crash's kill-to-ready time
    probe: list[float]  # the probe's overshoots
    dead_lettered: int = 0


async def _run(plan: Plan, broker: Broker, consumer: _Consumer,
               settle_timeout_s: float | None) -> _Run:
    run = _Run(kills=[], downs=[], probe=[])
    kills, downs = run.kills, run.downs
    stop = asyncio.Event()
    probe = asyncio.ensure_future(_probe(run.probe, stop))
    try:
        consumer.start()
        await consumer.ready()
        if plan.crashes:
            consumer.prepare()
        rng = np.random.default_rng([plan.seed, 2])
        gaps = rng.exponential(1.0 / plan.rate_per_s, plan.messages)
        t0 = time.monotonic()

        async def publish() -> None:
            due = t0
            for message_id, gap in enumerate(gaps):
                due += gap
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await broker.publish(message_id)
            await broker.flush()

        async def crash() -> None:
            for event in plan.crashes:
                delay = t0 + event.at_s - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                consumer.kill()
                kills.append(time.monotonic())
                await asyncio.sleep(event.down_s)
                consumer.start()
                downs.append(await consumer.ready() - kills[-1])
                if len(kills) < len(plan.crashes):
                    consumer.prepare()

        await asyncio.gather(publish(), crash())
        timeout = settle_timeout_s if settle_timeout_s is not None else _settle_timeout_s(plan)
        deadline = time.monotonic() + timeout
        calm = 0
        while True:
            if not consumer.alive():
                raise ConformError(f"the consumer process died: {consumer.last_error()}")
            settled, in_hand = await broker.settled(plan.messages), consumer.in_hand()
            if settled and in_hand == 0:
                calm += 1
                if calm >= 3:  # settled three polls in a row (a reclaim scan may be under way)
                    break
            else:
                calm = 0
            if time.monotonic() > deadline:
                where = "on the broker" if not settled else f"{in_hand} in the consumer's hands"
                raise ConformError(f"the messages did not settle within {timeout:.0f}s of the last "
                                   f"publish (still pending {where})")
            await asyncio.sleep(max(0.02, plan.reclaim_interval_s))
        run.dead_lettered = await broker.dead_lettered()
        return run
    finally:
        stop.set()
        await probe


def _settle_timeout_s(plan: Plan) -> float:
    """How long after the last publish everything may take to settle: many leases, or
    the whole backlog worked off by as many deliveries at once as the consumer holds."""
    at_once = min(n for n in (plan.concurrency, plan.pull_batch, 10**9) if n is not None)
    work_s = float(plan.processing_s.mean()) + plan.write_delay_s
    return max(20.0, 20 * plan.lease_s * (plan.max_deliveries or 5),
               2 * plan.messages * work_s / at_once)


def _measure(plan: Plan, broker: Broker, consumer: _Consumer, run: _Run,
             wall_s: float) -> Measurement:
    kills = run.kills
    effects = np.zeros(plan.messages, dtype=np.int64)
    first_effect = np.full(plan.messages, math.inf)
    overshoots: list[float] = []
    deliveries = 0
    for path in consumer.events:
        for line in _Consumer._lines(path):
            parts = line.split()
            if parts[0] == "D":
                deliveries += 1
            elif parts[0] == "E":
                i, t = int(parts[1]), float(parts[2])
                effects[i] += 1
                first_effect[i] = min(first_effect[i], t)
                overshoots.append(float(parts[3]))
    # A duplicate effect is charged to the first crash after the message's first effect:
    # the crash that found it between side effect and ack.
    per_crash = np.zeros(len(kills), dtype=np.int64)
    if kills:
        kill_times = np.asarray(kills)
        for i in np.flatnonzero(effects > 1):
            k = int(np.searchsorted(kill_times, first_effect[i]))
            if k < len(kills):
                per_crash[k] += effects[i] - 1
    return Measurement(
        broker=broker.kind, messages=plan.messages, effects=effects, dead_lettered=run.dead_lettered,
        crash_duplicates=per_crash, down_s=tuple(run.downs),
        processing_overshoot=_overshoot(overshoots), probe_overshoot=_overshoot(run.probe),
        deliveries=deliveries, wall_s=wall_s)


def measure(plan: Plan, url: str, *, settle_timeout_s: float | None = None) -> Measurement:
    """:func:`play` from synchronous code."""
    return asyncio.run(play(plan, url, settle_timeout_s=settle_timeout_s))
