"""Theory beside the measurement: which closed forms apply to a run, and how close it comes."""

from __future__ import annotations

import math

import pytest

import alosim
from alosim import analytic, theory
from alosim.analytic import normal_quantile
from tests.conftest import SCENARIOS, make
from tests.shipped import NAMES, shipped_run

Z99 = normal_quantile(0.995)

BASE = """
name: t
seed: 5
messages: 20000
sender: {rate: 200/s, window: 64, retry: {timeout: 300ms}}
network:
  data: {loss: 0.1, latency: {dist: exponential, mean: 10ms}}
  ack: {loss: 0.2, latency: {dist: exponential, mean: 10ms}}
receiver: {processing: {dist: exponential, mean: 1ms}}
"""


def verdicts(scenario: alosim.Scenario) -> dict[str, theory.Comparison | str]:
    result = alosim.simulate(scenario)
    out: dict[str, theory.Comparison | str] = {}
    for name, verdict in theory.applicability(scenario, result.summary, result.series):
        if name not in out or isinstance(verdict, theory.Comparison):
            out[name] = verdict
    return out


def test_the_retry_model_applies_and_agrees_within_a_99_percent_interval():
    got = verdicts(make(BASE))
    for name in ("transmissions per message", "duplicate deliveries per message",
                 "duplicate processing per message"):
        assert isinstance(got[name], theory.Comparison), got[name]
        assert abs(got[name].z) < Z99, got[name]
    dup = got["duplicate deliveries per message"]
    assert dup.expected == pytest.approx(0.2 / 0.8)
    assert dup.standard_error == pytest.approx((0.2 / 0.8**2 / 20000) ** 0.5)
    assert got["lost per message"] == "unlimited retries: nothing is lost to the network"


@pytest.mark.parametrize("overrides, reason", [
    ({"network.ack.loss": {"model": "gilbert-elliott", "p": 0.05, "r": 0.5}}, "bursty"),
    ({"sender.retry.jitter": "full"}, "jitter"),
    ({"sender.retry.policy": "adaptive"}, "adaptive"),
    ({"sender.retry.timeout": "25ms"}, "not well above the round trip"),
    ({"network.data.duplicate": 0.01}, "duplicates packets"),
    ({"network.partitions": [{"at": "1s", "for": "1s"}]}, "partition"),
    ({"faults": [{"target": "receiver-0", "at": "5s", "for": "1s"}]}, "crashes"),
    ({"sender.retry.delivery_timeout": "10s"}, "delivery timeout"),
    ({"max_time": "50s"}, "max_time"),
    ({"receiver.processing": {"dist": "exponential", "mean": "4ms"}}, "busy"),
])
def test_the_retry_model_does_not_apply_when_an_assumption_fails(overrides, reason):
    got = verdicts(make(BASE, **overrides))
    for name in ("transmissions per message", "duplicate deliveries per message",
                 "duplicate processing per message"):
        assert isinstance(got[name], str) and reason in got[name], got[name]


def test_duplicate_processing_needs_no_dedup_and_deliveries_need_no_bloom_filter():
    got = verdicts(make(BASE, **{"receiver.dedup.kind": "set"}))
    assert isinstance(got["duplicate deliveries per message"], theory.Comparison)
    assert "set dedup store" in got["duplicate processing per message"]
    got = verdicts(make(BASE, **{"semantics": "exactly-once", "receiver.dedup": {
        "kind": "bloom", "capacity": 5000, "fp_rate": 0.01}}))
    assert "Bloom" in got["duplicate deliveries per message"]
    bloom = got["Bloom false-positive rate"]
    assert isinstance(bloom, theory.Comparison) and abs(bloom.z) < Z99
    assert bloom.measured > 0.01 and "configured 0.01 for 5,000 ids" in bloom.formula


def test_loss_with_k_attempts_applies_whatever_the_timeout():
    got = verdicts(make(BASE, **{"sender.retry.max_attempts": 2, "sender.retry.timeout": "5ms",
                                 "network.data.loss": 0.3}))
    lost = got["lost per message"]
    assert isinstance(lost, theory.Comparison) and lost.expected == pytest.approx(0.09)
    assert abs(lost.z) < Z99
    assert "not well above" in got["transmissions per message"]
    at_most_once = verdicts(make(BASE, semantics="at-most-once"))
    assert at_most_once["lost per message"].expected == pytest.approx(0.1)
    assert "one attempt" in at_most_once["duplicate deliveries per message"]


def test_ttl_plateau_applies_only_with_room_to_level_off():
    ttl = {"semantics": "exactly-once", "receiver.dedup": {"kind": "ttl", "window": "10s"}}
    got = verdicts(make(BASE, **ttl))
    plateau = got["TTL store plateau"]
    assert isinstance(plateau, theory.Comparison) and plateau.expected == 2000
    assert abs(plateau.z) < Z99
    short = verdicts(make(BASE, **{**ttl, "receiver.dedup": {"kind": "ttl", "window": "60s"}}))
    assert "two windows" in short["TTL store plateau"]
    assert verdicts(make(BASE))["TTL store plateau"] == "not a TTL store"


def test_gilbert_elliott_loss_rate_only_for_the_simple_model():
    bursty = {"network.data.loss": {"model": "gilbert-elliott", "p": 0.02, "r": 0.25}}
    got = verdicts(make(BASE, **bursty))
    ge = got["Gilbert-Elliott loss rate"]
    assert isinstance(ge, theory.Comparison) and ge.expected == pytest.approx(0.02 / 0.27)
    assert abs(ge.z) < Z99
    general = {"network.data.loss": {"model": "gilbert-elliott", "p": 0.02, "r": 0.25, "loss_good": 0.01}}
    assert "simple Gilbert" in verdicts(make(BASE, **general))["Gilbert-Elliott loss rate"]


MM1 = """
name: mm1
seed: 2
messages: 40000
sender: {rate: 100/s, window: 1000, retry: {timeout: 1s}}
network:
  data: {loss: 0, latency: {dist: exponential, mean: 10ms}}
  ack: {loss: 0, latency: {dist: constant, value: 10ms}}
receiver: {processing: {dist: exponential, mean: 5ms}}
"""


def test_mm1_sojourn_applies_to_a_lossless_poisson_queue_and_nowhere_else():
    got = verdicts(make(MM1))
    mm1 = got["M/M/1 sojourn"]
    assert isinstance(mm1, theory.Comparison)
    assert mm1.expected == pytest.approx(0.010 + 1 / (200 - 100))
    assert abs(mm1.z) < Z99
    assert "several receivers" in verdicts(make(MM1, **{"receiver.count": 2}))["M/M/1 sojourn"]
    assert "not Poisson" in verdicts(make(MM1, **{"sender.arrivals": "periodic"}))["M/M/1 sojourn"]
    assert "losses" in verdicts(make(MM1, **{"network.ack.loss": 0.01}))["M/M/1 sojourn"]
    assert "not exponential" in verdicts(make(MM1, **{"receiver.processing": {
        "dist": "constant", "value": "5ms"}}))["M/M/1 sojourn"]


@pytest.mark.shipped
@pytest.mark.parametrize("name", NAMES)
def test_every_comparison_on_a_shipped_scenario_falls_in_its_99_percent_interval(name):
    outside = [(q, z) for q, z in shipped_run(name).theory_z if abs(z) >= Z99]
    assert outside == []


@pytest.mark.shipped
def test_the_shipped_scenarios_compare_at_least_25_closed_forms():
    assert sum(len(shipped_run(name).theory_z) for name in NAMES) >= 25


def test_result_theory_is_a_frame_and_alosim_run_prints_it(tmp_path):
    from click.testing import CliRunner

    from alosim.cli import cli

    result = alosim.simulate(make(BASE, messages=2000))
    frame = result.theory()
    assert list(frame.columns) == list(theory.COLUMNS)
    assert "duplicate deliveries per message" in set(frame.quantity)
    out = CliRunner().invoke(cli, ["run", str(SCENARIOS / "bloom-filter-dedup.yaml"), "--out",
                                   str(tmp_path), "--no-plot"])
    assert out.exit_code == 0
    assert "Bloom false positives per new message" in out.stdout
    assert "configured 0.01 for 10,000 ids" in out.stdout
    none_apply = CliRunner().invoke(cli, ["run", str(SCENARIOS / "network-faults.yaml"), "--out",
                                          str(tmp_path), "--no-plot"])
    assert none_apply.exit_code == 0 and "closed forms" not in none_apply.stdout


def test_ttl_plateau_and_mm1_step_aside_when_the_sender_cannot_keep_up_or_resends_early():
    ttl = {"semantics": "exactly-once", "receiver.dedup": {"kind": "ttl", "window": "10s"},
           "sender.window": 8, "sender.retry.timeout": "1s"}
    assert "too small for the rate" in verdicts(make(BASE, **ttl))["TTL store plateau"]
    # (few messages: a timeout this short resends nearly everything, and the resends load the queue)
    early = verdicts(make(MM1, **{"sender.retry.timeout": "40ms", "messages": 300}))["M/M/1 sojourn"]
    assert "not well above the round trip" in early


def test_no_single_hop_form_is_applied_to_a_pipeline():
    scenario = alosim.load_scenario(SCENARIOS / "visibility-timeout-too-short.yaml")
    verdicts = dict(theory.applicability(scenario, {"messages": 100}))
    single_hop = [name for name, _ in theory.RULES]
    assert all("pipeline" in verdicts[name] for name in single_hop)


PIPE = """
name: p
seed: 3
messages: 3000
sender: {rate: 50/s, window: 1000}
broker: {visibility_timeout: 1s, max_deliveries: 4}
consumer: {concurrency: 10000, processing: {dist: exponential, mean: 500ms}}
network:
  consume:
    data: {latency: {dist: constant, value: 10ms}}
    ack: {latency: {dist: constant, value: 10ms}}
"""


def _verdicts(text: str, **overrides) -> dict[str, list]:
    scenario = make(text, **overrides) if overrides else make(text)
    result = alosim.simulate(scenario)
    out: dict[str, list] = {}
    for name, verdict in theory.applicability(scenario, result.summary, result.series):
        out.setdefault(name, []).append(verdict)
    return out


def test_the_lease_expiry_form_applies_and_agrees_within_a_99_percent_interval():
    (verdict,) = _verdicts(PIPE)["lease expiry"]
    assert isinstance(verdict, theory.Comparison), verdict
    # P(2L + S > jV) = e^{-(j V - 2L)/s}; at most D - 1 = 3 redeliveries
    tail = [math.prod(math.exp(-(j * 1.0 - 0.02) / 0.5) for j in range(1, k + 1)) for k in range(1, 4)]
    assert verdict.expected == pytest.approx(sum(tail))
    assert abs(verdict.z) < normal_quantile(0.995)
    assert all(isinstance(v, str) for v in _verdicts(PIPE)["dead-lettering"])  # no nacks


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"consumer.nack_probability": 0.1}, "nacks"),
    ({"consumer.processing": {"dist": "constant", "value": 0.5}}, "not exponential"),
    ({"network.consume.ack.latency": {"dist": "constant", "value": 0.02}}, "one constant"),
    ({"consumer.concurrency": 5}, "slots"),
    ({"consumer.ack": "before-processing"}, "before processing"),
    ({"network.consume.ack.loss": 0.1}, "loses or duplicates"),
    ({"faults": [{"target": "consumer-0", "at": 1, "for": 1}]}, "crashes"),
])
def test_the_lease_expiry_form_steps_aside_when_an_assumption_fails(overrides, reason):
    (verdict,) = _verdicts(PIPE, **overrides)["lease expiry"]
    assert isinstance(verdict, str) and reason in verdict


@pytest.mark.parametrize("overrides", [
    {"broker.reclaim": {"interval": "300ms"}},
    {"consumer.start_delay": {"dist": "uniform", "low": "100ms", "high": "300ms"}},
    {"consumer.lease_extension": {"every": "400ms", "max": "2s"}},
], ids=["polled reclaim", "start delay", "lease extension"])
def test_the_lease_expiry_form_follows_reclaim_start_delay_and_extension(overrides):
    """The rule uses the form of the scenario's own mechanisms, not the plain lease's."""
    from alosim.analytic import extended_lease, polled_lease_tail

    (verdict,) = _verdicts(PIPE, **overrides)["lease expiry"]
    assert isinstance(verdict, theory.Comparison), verdict
    lease, options = 1.0, {}
    if "broker.reclaim" in overrides:
        options = {"reclaim_interval_s": 0.3}
    elif "consumer.start_delay" in overrides:
        options = {"start_delay_mgf": 0.5 / 0.2 * (math.exp(0.3 / 0.5) - math.exp(0.1 / 0.5)),
                   "start_delay_max_s": 0.3}
    else:
        lease = extended_lease(1.0, 0.4, 2.0, 0.01)
    expected = math.fsum(polled_lease_tail(lease, 0.01, 0.5, **options)[:3])
    assert verdict.expected == pytest.approx(expected)
    plain = math.fsum(math.prod(math.exp(-(j * 1.0 - 0.02) / 0.5) for j in range(1, k + 1))
                      for k in range(1, 4))
    assert abs(verdict.expected - plain) > 0.01  # a different form from the plain lease's
    assert abs(verdict.z) < normal_quantile(0.995)


def test_the_lease_expiry_form_steps_aside_for_an_unbounded_start_delay():
    (verdict,) = _verdicts(PIPE, **{"consumer.start_delay": {"dist": "lognormal", "mean": "5ms",
                                                             "sigma": 1}})["lease expiry"]
    assert isinstance(verdict, str) and "start delay" in verdict


def test_dead_lettering_forms_apply_with_nacks_and_a_long_lease():
    verdicts = _verdicts(PIPE, **{"broker.visibility_timeout": "60s", "consumer.nack_probability": 0.5,
                                  "consumer.processing": {"dist": "constant", "value": 0.01}})
    dead, deliveries = verdicts["dead-lettering"]
    assert isinstance(dead, theory.Comparison) and dead.expected == pytest.approx(0.5**4)
    assert isinstance(deliveries, theory.Comparison) and deliveries.expected == pytest.approx(1.875)
    assert abs(dead.z) < normal_quantile(0.995) and abs(deliveries.z) < normal_quantile(0.995)
    assert isinstance(verdicts["lease expiry"][0], str)  # nacks redeliver too
    short = _verdicts(PIPE, **{"consumer.nack_probability": 0.5})["dead-lettering"]
    assert len(short) == 1 and "lease can expire" in short[0]


MMC = """
name: mmc
seed: 3
duration: 100s
sender: {rate: 240/s, window: null, retry: {timeout: 1000s}}
network:
  data: {loss: 0, latency: {dist: constant, value: 1ms}}
  ack: {loss: 0, latency: {dist: constant, value: 1ms}}
receiver: {workers: 3, processing: {dist: exponential, mean: 10ms}}
"""


def test_erlang_c_applies_to_a_lossless_poisson_queue_of_c_workers_and_nowhere_else():
    got = verdicts(make(MMC))
    wait = got["M/M/c wait probability"]
    assert isinstance(wait, theory.Comparison)
    assert wait.expected == pytest.approx(analytic.erlang_c(3, 240.0, 100.0))
    assert abs(wait.z) < Z99
    assert "M/M/c" in got["M/M/1 sojourn"]
    assert "bounded queue" in verdicts(make(MMC, **{"receiver.queue.capacity": 5, "sender.retry.max_attempts": 1}))[
        "M/M/c wait probability"]
    assert "not exponential" in verdicts(make(MMC, **{"receiver.processing": {
        "dist": "constant", "value": "10ms"}}))["M/M/c wait probability"]
    early = {"sender.retry.timeout": 0.02, "sender.retry.max_attempts": 2}
    assert "retransmitted" in verdicts(make(MMC, duration=5.0, **early))["M/M/c wait probability"]
    assert "batch means" in verdicts(make(MMC, duration=10.0))["M/M/c wait probability"]


def test_mm1k_blocking_applies_to_one_worker_and_a_bounded_queue_without_retries():
    bounded = {"sender.rate": 100, "receiver.workers": 1, "receiver.queue.capacity": 4,
               "sender.retry.max_attempts": 1}
    got = verdicts(make(MMC, **bounded))
    blocking = got["M/M/1/K blocking"]
    assert isinstance(blocking, theory.Comparison)
    assert blocking.expected == pytest.approx(analytic.mm1k_blocking(100.0, 100.0, 5))
    assert abs(blocking.z) < Z99
    assert "unbounded" in verdicts(make(MMC))["M/M/1/K blocking"]
    assert "several workers" in verdicts(make(MMC, **{**bounded, "receiver.workers": 2}))[
        "M/M/1/K blocking"]
    retried = {**bounded, "sender.retry.max_attempts": 3, "sender.retry.timeout": 0.05}
    assert "retransmitted" in verdicts(make(MMC, duration=5.0, **retried))["M/M/1/K blocking"]
