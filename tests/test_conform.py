"""alosim conform without a broker: the plan, its refusals, the verdict's arithmetic."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner

from alosim.cli import cli
from alosim.conform import ConformError, make_plan
from alosim.conform.brokers import broker_kind
from alosim.conform.plan import MIN_TIMER_S
from alosim.conform.verdict import Estimate, Figure
from alosim.scenario import load_scenario

from .conftest import ROOT, make

CONFORM = ROOT / "tests" / "conformance" / "scenarios"

PIPELINE = """
name: p
seed: 5
messages: 100
sender: {rate: 200/s}
broker: {visibility_timeout: 100ms}
consumer: {concurrency: 100000, processing: {dist: exponential, mean: 50ms}}
"""


def test_a_plan_divides_every_duration_by_the_speed() -> None:
    plan = make_plan(make(PIPELINE, **{"consumer.dedup.write_delay": "200ms"}), speed=4)
    assert plan.rate_per_s == 800
    assert plan.lease_s == pytest.approx(0.025)
    assert plan.write_delay_s == pytest.approx(0.05)
    assert plan.concurrency is None  # unbounded
    assert plan.messages == 100
    # the processing draws: Exp(50 ms) / 4, from the scenario's seed
    assert plan.processing_s.mean() == pytest.approx(0.0125, rel=0.05)
    again = make_plan(make(PIPELINE, **{"consumer.dedup.write_delay": "200ms"}), speed=4)
    assert np.array_equal(plan.processing_s, again.processing_s)


def test_a_speed_that_scales_a_timer_under_what_timers_honour_is_refused() -> None:
    make_plan(make(PIPELINE), speed=10)  # 100 ms -> 10 ms, 50 ms -> 5 ms: playable
    with pytest.raises(ConformError) as info:
        make_plan(make(PIPELINE), speed=20)
    message = str(info.value)
    assert "--speed 20 scales consumer.processing (mean) 50ms to 2.5ms" in message
    assert f"under the {MIN_TIMER_S * 1000:g}ms timers can honour" in message
    assert "use --speed 10 or less" in message


@pytest.mark.parametrize(("override", "field"), [
    ({"consumer.count": 2}, "consumer.count"),
    ({"consumer.nack_probability": 0.1}, "consumer.nack_probability"),
    ({"consumer.dedup.kind": "set"}, "consumer.dedup.kind"),
    ({"consumer.ack": "before-processing"}, "consumer.ack"),
])
def test_what_conform_cannot_play_is_refused_by_name(override: dict, field: str) -> None:
    with pytest.raises(ConformError, match=f"^{field}: conform does not play this"):
        make_plan(make(PIPELINE, **override))


def test_a_single_hop_and_a_log_are_refused() -> None:
    with pytest.raises(ConformError, match="no broker and consumer"):
        make_plan(make("name: s\nmessages: 10\nsender: {rate: 10/s}\n"))
    with pytest.raises(ConformError, match="broker.kind: conform plays a queue"):
        make_plan(load_scenario(ROOT / "scenarios" / "kafka-auto-commit-replay.yaml"))


@pytest.mark.parametrize("path", ["network.data.loss", "network.consume.ack.loss",
                                  "network.consume.data.duplicate"])
def test_a_lossy_network_is_refused(path: str) -> None:
    with pytest.raises(ConformError, match=f"^{path}: conform plays the loopback"):
        make_plan(make(PIPELINE, **{path: 0.01}))


def test_a_crash_of_anything_but_the_consumer_is_refused() -> None:
    with pytest.raises(ConformError, match=r"faults\[0\]: .*not crash of broker"):
        make_plan(make(PIPELINE, faults=[{"target": "broker", "at": "1s", "for": "1s"}]))


def test_consumer_crashes_are_scaled_too() -> None:
    plan = make_plan(make(PIPELINE, faults=[{"target": "consumer-0", "at": "2s", "for": "400ms"}]),
                     speed=2)
    assert [(c.at_s, c.down_s) for c in plan.crashes] == [(1.0, 0.2)]


@pytest.mark.parametrize(("url", "kind"), [("nats://127.0.0.1:4222", "nats"),
                                           ("redis://localhost:6379/0", "redis")])
def test_broker_kind_from_the_url(url: str, kind: str) -> None:
    assert broker_kind(url) == kind


def test_an_unknown_broker_url_is_one_line() -> None:
    result = CliRunner().invoke(cli, ["conform", str(CONFORM / "jetstream-lease-mean.yaml"),
                                      "--broker", "amqp://127.0.0.1:5672"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("alosim: error: ")
    assert lines[0].endswith("jetstream-lease-mean.yaml: --broker amqp://127.0.0.1:5672: "
                             "expected a nats://host:port or redis://host:port URL")


def test_the_speed_refusal_through_the_command_line() -> None:
    result = CliRunner().invoke(cli, ["conform", str(CONFORM / "jetstream-lease-mean.yaml"),
                                      "--broker", "nats://127.0.0.1:1", "--speed", "100"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "--speed 100 scales broker.visibility_timeout 50ms to 0.5ms" in lines[0]


def test_a_figure_agrees_within_three_standard_errors_plus_the_allowance() -> None:
    real, sim = Estimate(0.15, 0.003), Estimate(0.14, 0.004)  # se of the difference: 0.005
    assert Figure("d", real, sim, allowance=0.0).bound == pytest.approx(0.015)
    assert Figure("d", real, sim, allowance=0.0).agrees
    far = Estimate(0.1551, 0.003)  # 0.0001 beyond 3 standard errors
    assert not Figure("d", far, sim, allowance=0.0).agrees
    assert Figure("d", far, sim, allowance=0.0002).agrees


def test_importing_alosim_does_not_import_the_broker_clients() -> None:
    code = "import sys, alosim, alosim.cli; print(sorted({'nats', 'redis'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_duplicate_is_charged_to_the_first_crash_after_its_first_effect(tmp_path) -> None:
    from alosim.conform.play import _measure, _Run

    # Message 0: effect at 1.0, killed at 1.5 before its ack, again at 2.2 -> crash 0.
    # Message 2: effect at 1.6, killed at 3.0, again at 3.5 -> crash 1. Message 1: once.
    events = tmp_path / "events-0.log"
    events.write_text("R 0.0\nD 0 0.9\nE 0 1.0 0.001\nD 2 1.55\nE 2 1.6 0.003\nD 1 1.7\n"
                      "E 1 1.8 0.002\nA 1 1.8\nD 0 2.1\nE 0 2.2 0.0\nA 0 2.2\nD 2 3.4\n"
                      "E 2 3.5 0.0\nA 2 3.5\nE 3")  # (a line cut by a kill is not read)
    plan = make_plan(make(PIPELINE.replace("messages: 100", "messages: 3")))
    run = _Run(kills=[1.5, 3.0], downs=[0.3, 0.3], probe=[0.0005])
    m = _measure(plan, SimpleNamespace(kind="redis"), SimpleNamespace(events=[events]), run, 5.0)
    assert m.effects.tolist() == [2, 1, 2]
    assert m.crash_duplicates.tolist() == [1, 1]
    assert m.deliveries == 5
    assert m.processing_overshoot.mean_s == pytest.approx(0.0012)  # (1 + 3 + 2 + 0 + 0) ms / 5
    assert m.processing_overshoot.samples == 5


def test_a_run_whose_timers_ran_far_too_late_gets_no_verdict() -> None:
    from alosim.conform.play import Overshoot
    from alosim.conform.verdict import BUSY_FRACTION, Comparison

    plan = make_plan(make(PIPELINE))  # lease 100 ms

    def comparison(p99_s: float) -> Comparison:
        m = SimpleNamespace(processing_overshoot=Overshoot(0.001, p99_s, 100))
        figure = Figure("d", Estimate(0.14, 0.01), Estimate(0.14, 0.01), 0.0)
        return Comparison("p", "url", plan, m, (figure,), 3, 0.001)  # type: ignore[arg-type]

    assert comparison(BUSY_FRACTION * 0.1 * 0.99).verdict == "agrees"
    busy = comparison(BUSY_FRACTION * 0.1 * 1.01)
    assert busy.verdict == "inconclusive"
    assert "overshot by 40ms or more, over 40% of the 100ms lease" in (busy.too_busy or "")


def test_a_pull_consumer_fetches_only_what_it_has_room_for() -> None:
    import asyncio

    from alosim.conform.worker import Hand

    async def scenario() -> list[int]:
        hand = Hand(batch=3)
        rooms = [await hand.room(100)]  # empty hands: room for the batch
        for _ in range(3):
            hand.take()
        waiting = asyncio.ensure_future(hand.room(100))  # full: waits for a release
        await asyncio.sleep(0.01)
        rooms.append(int(waiting.done()))
        hand.release()
        rooms.append(await waiting)
        rooms.append(await Hand(batch=None).room(100))  # a push consumer takes what it gets
        return rooms

    assert asyncio.run(scenario()) == [3, 0, 1, 100]
