"""The topology's closed forms (alosim.analytic), against simulated chains and fan-outs.

Each statistical test compares a run's mean with the closed form through a
99 % normal interval built from the closed form's own variance, with a fixed
seed; the deterministic ones are exact.
"""

from __future__ import annotations

import math

from alosim import analytic, simulate
from tests.topology.scenarios import link, sender, service, sink, topology

Z99 = 2.5758


def within(measured: float, mean: float, variance: float, n: int) -> bool:
    return abs(measured - mean) <= Z99 * math.sqrt(variance / n)


def test_duplicates_compound_along_a_chain() -> None:
    hops = [(0.1, 0.2, None), (0.0, 0.3, 4), (0.05, 0.25, None)]
    n = 4000
    nodes = {"api": {"kind": "producer", "sender": sender(0.05)},
             "a": service(0.05), "b": service(0.05), "sink": sink()}
    links = [link("api", "a", p_data=0.1, p_ack=0.2), link("a", "b", p_ack=0.3),
             link("b", "sink", p_data=0.05, p_ack=0.25)]
    nodes["a"]["sender"]["retry"]["max_attempts"] = 4
    result = simulate(topology(nodes, links, messages=n))
    assert result.ok, result.summary
    mean, variance = analytic.chain_effects(hops)
    effects = result.summary["sink_effects"] / n
    assert within(effects, mean, variance, n), (effects, mean)
    # The calls on the last link: the effects before it, each resent until acked.
    calls = result.summary["sink_transmissions"] / n
    expected_calls = analytic.chain_calls(hops)
    b_mean, b_var = analytic.chain_effects(hops[:-1])
    t_mean = analytic.transmissions_per_message(*hops[-1])
    t_var = analytic.transmissions_variance(*hops[-1])
    calls_var = b_var * t_mean**2 + b_mean * t_var  # a random sum of independent calls
    assert within(calls, expected_calls, calls_var, n), (calls, expected_calls)
    # ... and the first hop alone is the single hop's closed form.
    first = analytic.chain_effects(hops[:1])
    assert within(result.summary["a_effects"] / n, *first, n)
    # Compounding is not adding: the path makes more than the sum of its hops' duplicates.
    single = sum(analytic.deliveries_per_message(*hop) - 1 for hop in hops)
    assert mean - 1 > single


def test_layered_retries_reach_the_product_of_attempts_when_nothing_answers() -> None:
    # Three layers try three times each; the bottom's acks never come back.
    n = 50
    nodes = {"api": {"kind": "producer", "sender": sender(0.05, 3)},
             "a": service(0.05, 3, ack="after-call"), "b": service(0.05, 3, ack="after-call"),
             "sink": sink()}
    links = [link("api", "a"), link("a", "b"), link("b", "sink", p_ack=1.0)]
    result = simulate(topology(nodes, links, messages=n))
    worst = analytic.layered_retry_worst_case([3, 3, 3])
    assert worst == 27 == analytic.chain_calls([(0.0, 1.0, 3)] * 3)
    assert result.summary["sink_effects"] == worst * n
    assert result.summary["b_effects"] == 9 * n and result.summary["a_effects"] == 3 * n
    assert result.summary["sink_missing"] == 0 and result.summary["a_requests_unanswered"] == 3 * n


def test_a_minting_service_defeats_the_sinks_store_and_keeping_the_key_does_not() -> None:
    p_ack, call_attempts, caller_attempts = 0.6, 2, 4
    n = 6000
    results = {}
    for identity in ("mint", "keep"):
        nodes = {"api": {"kind": "producer", "sender": sender(1.0, caller_attempts)},
                 "svc": service(0.02, call_attempts, ack="after-call", identity=identity, dedup="set"),
                 "pay": sink(dedup="set")}
        links = [link("api", "svc"), link("svc", "pay", p_ack=p_ack)]
        results[identity] = simulate(topology(nodes, links, messages=n, seed=3))
    mean = analytic.rekeyed_duplicates(p_ack, call_attempts, caller_attempts)
    variance = analytic.rekeyed_duplicates_variance(p_ack, call_attempts, caller_attempts)
    minted = results["mint"].summary
    assert within(minted["pay_duplicate_effects"] / n, mean, variance, n), (minted["pay_duplicate_effects"] / n, mean)
    assert minted["duplicates_new_key"] == minted["duplicate_processing"] > 0
    kept = results["keep"].summary
    assert kept["pay_duplicate_effects"] == 0 and kept["pay_repeats_caught"] > 0
    assert results["keep"].ok and results["keep"].summary["duplicate_processing"] == 0


def test_fan_out_subscriptions_are_independent() -> None:
    # One producer publishes to a topic that fans out to three subscriptions;
    # the slow, lossy one does not change the others' duplicates.
    n = 4000
    acks = {"fast": 0.1, "lossy": 0.5, "slow": 0.1}
    nodes = {"pub": {"kind": "producer", "sender": sender(0.05)}, "topic": service(0.05)}
    links = [link("pub", "topic")]
    for name, p_ack in acks.items():
        nodes[name] = sink(processing_s=0.2 if name == "slow" else 0.0)
        links.append(link("topic", name, p_ack=p_ack))
    nodes["topic"]["sender"]["retry"]["timeout"] = 0.5  # above the slow subscriber's processing
    result = simulate(topology(nodes, links, messages=n, seed=5))
    for name, p_ack in acks.items():
        mean = analytic.deliveries_per_message(0.0, p_ack)
        variance = analytic.deliveries_variance(0.0, p_ack)
        assert within(result.summary[f"{name}_effects"] / n, mean, variance, n), name
