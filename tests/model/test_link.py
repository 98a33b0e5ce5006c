"""The network model, checked against closed forms."""

import math
from typing import NamedTuple

import numpy as np
import pytest
import simpy

from alosim.analytic import fifo_mean_delay, mean_interval
from alosim.model.events import ScheduledInThePast
from alosim.model.link import Link
from alosim.observe import Recorder
from alosim.scenario import LinkSpec, Partition
from alosim.streams import Streams


class Packet(NamedTuple):
    """What a link needs of a message: its connection (sender, receiver)."""

    id: int
    sender: int = 0
    receiver: int = 0


def run_link(spec: dict, packets: int, gap: float = 0.001, connections: int = 1, **kw):
    """Send ``packets`` packets, round-robin over ``connections`` sender->receiver pairs."""
    env = simpy.Environment()
    arrivals: list[tuple[float, int]] = []
    rec = Recorder()
    link = Link(env, "data", LinkSpec.model_validate(spec), Streams(11),
                lambda e: arrivals.append((env.now, e._value[0].id)), recorder=rec, **kw)
    sent = []

    def source():
        for i in range(packets):
            c = i % connections
            sent.append(link.send((Packet(i, sender=c, receiver=c),)))
            yield env.timeout(gap)

    env.process(source())
    env.run()
    return np.array(sent), arrivals, rec


def test_independent_loss_rate():
    p, n = 0.2, 100_000
    sent, _, _ = run_link({"loss": p, "latency": {"dist": "constant", "value": 0.01}}, n)
    half = 3.29 * math.sqrt(p * (1 - p) / n)
    assert abs((sent == 0).mean() - p) < half


def losses_and_bursts(lost: np.ndarray) -> tuple[float, float]:
    edges = np.diff(np.concatenate([[0], lost.astype(int), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return lost.mean(), float((ends - starts).mean())


def test_gilbert_long_run_loss_and_mean_burst_length():
    p, r, n = 0.02, 0.25, 400_000
    sent, _, _ = run_link({"loss": {"model": "gilbert-elliott", "p": p, "r": r},
                           "latency": {"dist": "constant", "value": 0.0}}, n, gap=1e-6)
    rate, burst = losses_and_bursts(sent == 0)
    # Closed forms of the simple Gilbert model. Losses are correlated, so the
    # interval uses the variance of a two-state chain's occupancy:
    # Var(mean) ~ pi(1 - pi)/n * (1 + lambda)/(1 - lambda), lambda = 1 - p - r.
    pi, lam = p / (p + r), 1 - p - r
    half = 3.29 * math.sqrt(pi * (1 - pi) / n * (1 + lam) / (1 - lam))
    assert abs(rate - pi) < half
    bursts = rate * n * r  # about this many bursts; lengths are geometric(r)
    burst_half = 3.29 * math.sqrt((1 - r) / r**2 / bursts)
    assert abs(burst - 1 / r) < burst_half


def test_duplication_and_fifo():
    n = 20_000
    sent, arrivals, rec = run_link(
        {"duplicate": 0.1, "fifo": True, "latency": {"dist": "exponential", "mean": 0.05}}, n)
    assert sent.sum() == len(arrivals) == n + rec.network_duplicates
    half = 3.29 * math.sqrt(0.1 * 0.9 / n)
    assert abs(rec.network_duplicates / n - 0.1) < half
    order = [i for _, i in arrivals]
    assert order == sorted(order)  # FIFO: nothing overtakes


def test_fifo_orders_each_connection_not_the_whole_link():
    # Regression: FIFO used to be enforced across every sender->receiver pair
    # of the link, so one slow packet held up every other connection (10
    # connections, one packet a millisecond in all: mean delay 72 ms, not 33).
    n, k, gap, mean = 20_000, 10, 0.001, 0.02
    _, arrivals, _ = run_link({"fifo": True, "latency": {"dist": "exponential", "mean": mean}},
                              n, gap=gap, connections=k)
    for c in range(k):
        order = [i for _, i in arrivals if i % k == c]
        assert order == sorted(order)  # nothing overtakes within a connection
    overall = [i for _, i in arrivals]
    assert overall != sorted(overall)  # ... but connections overtake each other
    # Each connection sends every k * gap: its delays follow the FIFO closed
    # form. Delays of one connection are correlated, so the interval is over
    # batch means (batches of 100 packets, far longer than the correlation).
    arrived = dict((i, t) for t, i in arrivals)
    batch_means = []
    for c in range(k):
        delays = [arrived[i] - i * gap for i in range(c, n, k)]
        batch_means += [float(np.mean(delays[b:b + 100])) for b in range(0, len(delays), 100)]
    interval = mean_interval(batch_means, level=0.99)
    assert fifo_mean_delay(mean, k * gap) in interval, interval
    assert fifo_mean_delay(mean, gap) > interval.high + 0.02  # what one queue for all gave


def test_varying_latency_reorders_without_fifo():
    _, arrivals, _ = run_link({"latency": {"dist": "exponential", "mean": 0.05}}, 2000)
    order = [i for _, i in arrivals]
    assert order != sorted(order)


def test_partition_drops_exactly_what_is_sent_inside_it():
    _, arrivals, rec = run_link({"latency": {"dist": "constant", "value": 0.0}}, 1000, gap=0.01,
                                partitions=[Partition.model_validate({"at": 2.0, "for": 3.0})])
    sent_times = [t for t, _ in arrivals]
    assert all(not (2.0 <= t < 5.0) for t in sent_times)
    assert rec.partition_drops == pytest.approx(300, abs=1)


class _NegativeLatency:
    """A latency distribution that is wrong: every draw is negative."""

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return np.full(n, -0.001)


def test_a_negative_latency_is_refused_naming_the_link():
    """No packet arrives before it was sent: a latency batch with a negative draw is
    refused when it is drawn, before any of it is used."""
    spec = LinkSpec.model_validate({"latency": {"dist": "constant", "value": 0.01}})
    spec = spec.model_copy(update={"latency": _NegativeLatency()})
    env = simpy.Environment()
    link = Link(env, "data", spec, Streams(11), lambda e: None)
    with pytest.raises(ScheduledInThePast, match=r"a packet on data was given latency -0\.001 \(< 0\)"):
        link.send((Packet(0),))
    assert not env._queue  # nothing was scheduled
