"""Theory beside the measurement: closed forms a run can be held against.

:mod:`alosim.analytic` knows what probability theory says about several
counts, each under stated assumptions. This module decides, for one run,
which of those closed forms **apply** -- the scenario meets every
assumption -- and puts each next to what the run measured, with a standard
error and the distance between the two in standard errors (z). Where an
assumption does not hold, the closed form is left out, never shown wrong:
each rule returns either a :class:`Comparison` or the reason it does not
apply (:func:`applicability` lists both, for the curious and for tests).

The rules, explicitly:

**The retry model** (``retry model`` below; see :mod:`alosim.analytic`):
independent (Bernoulli) loss on both links; the network neither duplicates
packets nor partitions; no crashes; no delivery timeout; the run is not
cut short by ``max_time``; retry waits are neither jittered nor adaptive,
and the first wait is well above the round trip -- estimated as
P(data latency + processing + ack latency > timeout) < 1e-3 from 200,000
draws of the scenario's own distributions with a fixed seed; and the
receiver is never so busy that queueing stretches the round trip (the
offered load, retransmissions included, at most 0.5 per receiver; with a
closed loop, every in-flight message processed back to back within a tenth
of the timeout).

=============================================  =================================================
comparison                                     applies when
=============================================  =================================================
transmissions per message                      retry model; more than one attempt allowed
duplicate deliveries per message               retry model; more than one attempt; the store is
                                               not a Bloom filter (whose false positives leave a
                                               message's first copy unprocessed)
duplicate processing per message               as duplicate deliveries, and no dedup store
lost per message, p_d^K                        at most K attempts; independent data loss; no
                                               network duplicates, partitions, crashes, delivery
                                               timeout, max_time or Bloom filter (timing does not
                                               matter: a message is lost iff all K copies are)
TTL store plateau, lambda W                    TTL store; open-loop arrivals (rate); no crashes;
                                               sending lasts at least two windows; no id was
                                               recorded twice (``duplicates_window_expired`` 0)
Gilbert-Elliott loss rate, p/(p + r)           a link with the simple Gilbert model (loss 0 when
                                               good, 1 when bad), no duplication or partitions
Bloom false positives per new message          Bloom store; every message reaches the receiver
                                               (unlimited retries, no crashes, partitions,
                                               delivery timeout or max_time)
replays per crash, lambda T / 2 (log)          a log; auto-commit every T; one consumer and one
                                               producer, Poisson at a rate, instant processing; no
                                               loss, duplicates or partitions on the publish link;
                                               only consumer crashes, rare (mtbf >= 5 T) and short
                                               (mttr <= T / 20); at least one crash; settled
replays per crash, lambda c (log)              as above with commit after each (synchronous, latency
                                               c) and lambda c < 0.9 (M/D/1 busy fraction)
M/M/1 sojourn + data latency                   one receiver with one worker and an unbounded queue;
                                               Poisson arrivals at a rate; exponential
                                               processing; no loss either way, no network
                                               duplicates, partitions or crashes; load below 0.9;
                                               a window that never fills
M/M/c P(wait), Erlang C                        one receiver, c workers, an unbounded queue; Poisson
                                               arrivals at a rate; exponential processing; no loss,
                                               network duplicates, partitions, faults; load below
                                               0.9; the run retransmitted nothing; 20 batches of
                                               samples
M/M/1/K blocking                               one receiver, one worker, a queue of K - 1; Poisson
                                               arrivals; exponential processing; no loss, network
                                               duplicates, partitions, faults; the run
                                               retransmitted nothing (e.g. one attempt); 20
                                               batches of samples
transmissions per second, the retry-          one receiver, one worker, an unbounded FIFO queue
amplification fixed point lambda' =            (no lifo_above); Poisson arrivals at a rate; no
lambda (1 + sum_k e^(-(mu - lambda') k T))     window; exponential processing; a fixed timeout
(an approximation: the std err carries a 10 %  without jitter and unlimited attempts; no dedup
allowance of lambda')                          store; no loss, network duplicates, partitions or
                                               faults, no max_time; constant network latencies
                                               (T = timeout less the round trip); settled; a fixed
                                               point exists (else: predicted collapse); 20 batches
=============================================  =================================================

**In a pipeline** (a ``broker:`` section) none of the above applies -- the
side effect happens a hop later -- and two forms of the broker do, per broker
entry, when every message made exactly one entry (no publish duplicates),
nothing crashed, the consume links neither lose nor duplicate, there are no
poison messages, the consumer acks after processing with no ``write_delay``,
a bounded queue (``max_length``) dropped or refused nothing, and
``max_time`` did not cut the run:

=============================================  =================================================
redeliveries per message (lease expired),      no nacks; exponential processing; one constant
sum_k prod_(j<=k) P(2L + S > jV), or with      latency L on both consume links; a producer rate,
polled reclaim, a start delay D and lease      and consumer slots (count x concurrency, or
extension sum_k (M(1/s) e^(2L/s))^k            prefetch, or a pull batch) far above the mean
prod_(j<=k) E[e^(-j G_j / s)]                  number busy; at most max_deliveries - 1
(analytic.polled_lease_tail; jittered scans:   redeliveries; a start delay with a finite moment
an approximation)                              generating function, shorter than the lease less
                                               the round trip
dead-lettered per message, q^D; deliveries      nacks with probability q; max_deliveries D; the
per message, (1 - q^D)/(1 - q)                 lease expires before the ack with P < 1e-3
=============================================  =================================================

Standard errors are per-message standard deviations from the closed form
(or, for the Bloom filter, from the sum of the per-message Bernoulli
variances), divided by the square root of the number of messages; for the
TTL plateau, the time average of an M/G/inf occupancy over T seconds has
variance lambda W^2 / T (Poisson arrivals; an upper bound for periodic
ones); for the M/M/1 sojourn a conservative bound, see
:func:`_mm1_sojourn_asymptotic_variance`; for the fraction of arrivals that
waited or were turned away, batch means: the run's sampled counts cut into
20 equal spans, the standard deviation of the spans' fractions over sqrt(20).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from alosim import analytic
from alosim.scenario import GilbertElliott, LinkSpec, Scenario, validate_scenario

#: Round trips longer than the first retry wait must be rarer than this for the retry model.
SPURIOUS_TOLERANCE = 1e-3
_RTT_DRAWS = 200_000


@dataclass(frozen=True)
class Comparison:
    """One closed form beside one measurement."""

    quantity: str
    measured: float
    expected: float
    standard_error: float
    formula: str

    @property
    def z(self) -> float:
        """(measured - expected) / standard error; 0 when both agree exactly."""
        diff = self.measured - self.expected
        if self.standard_error > 0:
            return diff / self.standard_error
        return 0.0 if diff == 0 else math.copysign(math.inf, diff)



@dataclass(frozen=True)
class _Run:
    scenario: Scenario
    summary: Mapping[str, Any]
    series: Mapping[str, Sequence[float]]

    @property
    def messages(self) -> int:
        return int(self.summary.get("messages", 0))

    @cached_property
    def retry_model(self) -> str | None:
        return retry_model(self.scenario)


# -- assumptions shared by several rules ------------------------------------------------


def _bernoulli(link: LinkSpec) -> float | None:
    return None if isinstance(link.loss, GilbertElliott) else float(link.loss)


def _clean_network(sc: Scenario) -> str | None:
    net = sc.network
    if net.data.duplicate or net.ack.duplicate:
        return "the network duplicates packets"
    if net.partitions:
        return "a partition drops packets"
    if sc.faults:
        return "crashes interrupt senders or receivers"
    if sc.max_time is not None:
        return "max_time may stop the run with messages in flight"
    if sc.sender.retry.delivery_timeout is not None:
        return "a delivery timeout can end a message's attempts early"
    return None


def _round_trip_exceeds(sc: Scenario, wait_s: float, queue_rate: float | None = None) -> float:
    """P(data latency + processing + ack latency > wait), from a fixed-seed sample.

    With ``queue_rate`` the time at the receiver is an M/M/1 sojourn,
    exponential with that rate (mu - lambda), instead of the processing alone.
    """
    import numpy as np

    rng = np.random.default_rng(20240229)
    at_receiver = (rng.exponential(1.0 / queue_rate, _RTT_DRAWS) if queue_rate is not None
                   else sc.receiver.processing.sample(rng, _RTT_DRAWS))
    total = (sc.network.data.latency.sample(rng, _RTT_DRAWS) + at_receiver
             + sc.network.ack.latency.sample(rng, _RTT_DRAWS))
    return float(np.mean(total > wait_s))


def retry_model(sc: Scenario) -> str | None:
    """None when ``sc`` meets the retry model of :mod:`alosim.analytic`; else why not."""
    if _bernoulli(sc.network.data) is None or _bernoulli(sc.network.ack) is None:
        return "bursty (Gilbert-Elliott) loss: attempts are not independent"
    reason = _clean_network(sc)
    if reason:
        return reason
    retry = sc.sender.retry
    if retry.policy == "adaptive":
        return "an adaptive timeout can fall below a round trip"
    if retry.jitter != "none":
        return f"{retry.jitter} jitter can draw a wait shorter than a round trip"
    late = _round_trip_exceeds(sc, retry.timeout)
    if late >= SPURIOUS_TOLERANCE:
        return (f"the {retry.timeout:g} s timeout is not well above the round trip "
                f"(P(round trip > timeout) about {late:.2g})")
    service = sc.receiver.processing.mean
    if service > 0:
        if sc.sender.rate is not None:
            p_d, p_a = _bernoulli(sc.network.data), _bernoulli(sc.network.ack)
            assert p_d is not None and p_a is not None
            copies = analytic.deliveries_per_message(p_d, p_a, retry.max_attempts)
            load = sc.sender.rate * sc.sender.count * copies * service / sc.receiver.count
            if load > 0.5:
                return f"the receivers are busy (load {load:.2f}): queueing stretches round trips"
        elif sc.sender.window is not None:
            backlog = sc.sender.window * sc.sender.count * service
            if backlog > 0.1 * retry.timeout:
                return "a full window queued at the receiver would stretch round trips toward the timeout"
    return None


def _losses(sc: Scenario) -> tuple[float, float]:
    p_d, p_a = _bernoulli(sc.network.data), _bernoulli(sc.network.ack)
    assert p_d is not None and p_a is not None
    return p_d, p_a


def _loss_rate(link: LinkSpec) -> float:
    loss = link.loss
    if isinstance(loss, GilbertElliott):
        return (loss.p * loss.loss_bad + loss.r * loss.loss_good) / (loss.p + loss.r)
    return float(loss)


def _window_pressure(sc: Scenario) -> str | None:
    """Why the window may hold new messages back (so ids arrive slower than the rate), or None.

    By Little's law a sender keeps rate x (time a message holds a slot) slots
    busy; a slot is held for the round trips and the timeouts of the
    attempts before the ack. More than half the window busy on average
    means queues at the sender.
    """
    if sc.sender.rate is None or sc.sender.window is None:
        return None
    p_d, p_a = _loss_rate(sc.network.data), _loss_rate(sc.network.ack)
    success = (1.0 - p_d) * (1.0 - p_a)
    if success <= 0:
        return "nothing gets through"
    attempts = 1.0 / success
    round_trip = sc.network.data.latency.mean + sc.receiver.processing.mean + sc.network.ack.latency.mean
    hold = round_trip + (attempts - 1.0) * sc.sender.retry.timeout
    busy = sc.sender.rate * hold
    if busy > sc.sender.window / 2:
        return f"the window ({sc.sender.window}) is too small for the rate: about {busy:.0f} slots busy"
    return None


def _settled(run: _Run) -> str | None:
    if run.messages < 2:
        return "too few messages"
    if run.summary.get("unsettled"):
        return "messages were still in flight at the end"
    return None


# -- the rules -----------------------------------------------------------------------------


def transmissions(run: _Run) -> Comparison | str:
    sc = run.scenario
    reason = run.retry_model or _settled(run)
    if reason:
        return reason
    k = sc.sender.retry.max_attempts
    if k == 1:
        return "one attempt per message: nothing to compare"
    p_d, p_a = _losses(sc)
    n = run.messages
    expected = analytic.transmissions_per_message(p_d, p_a, k)
    se = math.sqrt(analytic.transmissions_variance(p_d, p_a, k) / n)
    formula = ("1/((1 - p_d)(1 - p_a))" if k is None else f"(1 - (1 - s)^K)/s, K = {k}") + \
        f", p_d = {p_d:g}, p_a = {p_a:g}"
    return Comparison("transmissions per message", run.summary["transmissions"] / n, expected, se, formula)


def _duplicates(run: _Run, processing: bool) -> Comparison | str:
    sc = run.scenario
    reason = run.retry_model or _settled(run)
    if reason:
        return reason
    k = sc.sender.retry.max_attempts
    if k == 1:
        return "one attempt per message: no duplicates by design"
    kind = sc.receiver.dedup.kind
    if kind == "bloom":
        return "a Bloom filter's false positives leave first copies unprocessed"
    if processing and kind != "none":
        return f"a {kind} dedup store catches duplicates"
    p_d, p_a = _losses(sc)
    n = run.messages
    expected = analytic.duplicates_per_message(p_d, p_a, k)
    se = math.sqrt(analytic.duplicates_variance(p_d, p_a, k) / n)
    formula = ("p_a/(1 - p_a)" if k is None else f"E[D] - (1 - p_d^K), K = {k}") + f", p_a = {p_a:g}"
    if processing:
        return Comparison("duplicate processing per message", run.summary["duplicate_processing"] / n,
                          expected, se, formula + "; no dedup store")
    return Comparison("duplicate deliveries per message", run.summary["duplicate_deliveries"] / n,
                      expected, se, formula)


def duplicate_deliveries(run: _Run) -> Comparison | str:
    return _duplicates(run, processing=False)


def duplicate_processing(run: _Run) -> Comparison | str:
    return _duplicates(run, processing=True)


def lost(run: _Run) -> Comparison | str:
    sc = run.scenario
    k = sc.sender.retry.max_attempts
    if k is None:
        return "unlimited retries: nothing is lost to the network"
    p_d = _bernoulli(sc.network.data)
    if p_d is None:
        return "bursty data loss: a message's attempts are not independent"
    reason = _clean_network(sc) or _settled(run)
    if reason:
        return reason
    if sc.receiver.dedup.kind == "bloom":
        return "a Bloom filter adds losses of its own"
    n = run.messages
    expected = analytic.never_delivered_probability(p_d, k)
    se = math.sqrt(expected * (1 - expected) / n)
    return Comparison("lost per message", run.summary["lost"] / n, expected, se,
                      f"p_d^K, p_d = {p_d:g}, K = {k}")


def ttl_plateau(run: _Run) -> Comparison | str:
    sc = run.scenario
    dedup = sc.receiver.dedup
    if dedup.kind != "ttl" or dedup.window is None:
        return "not a TTL store"
    if sc.sender.rate is None:
        return "closed loop: no fixed arrival rate"
    if sc.faults:
        return "crashes can wipe the store"
    if sc.network.partitions or sc.max_time is not None:
        return "a partition or max_time interrupts the stream of new ids"
    if run.summary.get("duplicates_window_expired"):
        return "some ids were recorded twice (duplicates outlived the window)"
    rate = sc.sender.rate * sc.sender.count
    sending = sc.duration if sc.duration is not None else run.messages / rate
    window = dedup.window
    backlog = _window_pressure(sc)
    if backlog is not None:
        return backlog
    times = list(run.series.get("time_s", []))
    entries = list(run.series.get("dedup_entries", []))
    # The plateau: from one window (plus a little settling) after the start to the end of sending.
    start, end = window * 1.05, sending
    plateau = [e for t, e in zip(times, entries) if start <= t <= end]
    if sending < 2 * window or len(plateau) < 3:
        return "sending stops before the store can level off (needs two windows)"
    span = end - start
    expected = analytic.ttl_store_entries(rate, window)
    se = math.sqrt(rate * window**2 / span)
    return Comparison("TTL store entries (plateau mean)", sum(plateau) / len(plateau), expected, se,
                      f"lambda W (Little), lambda = {rate:g}/s, W = {window:g} s")


def gilbert_elliott(run: _Run) -> list[Comparison | str]:
    sc = run.scenario
    out: list[Comparison | str] = []
    for name, link, lost_col, sent_col in (("data", sc.network.data, "data_lost", "transmissions"),
                                           ("ack", sc.network.ack, "acks_lost", "acks_sent")):
        loss = link.loss
        if not isinstance(loss, GilbertElliott):
            out.append(f"{name} link: not a Gilbert-Elliott loss model")
            continue
        if loss.loss_good != 0 or loss.loss_bad != 1:
            out.append(f"{name} link: the closed-form variance is for the simple Gilbert model "
                       "(loss_good 0, loss_bad 1)")
            continue
        if link.duplicate or sc.network.partitions:
            out.append(f"{name} link: duplication or partitions change what is lost")
            continue
        sent = int(run.summary.get(sent_col, 0))
        if sent < 2:
            out.append(f"{name} link: too few packets")
            continue
        expected = analytic.gilbert_loss_rate(loss.p, loss.r)
        se = math.sqrt(analytic.gilbert_loss_rate_variance(loss.p, loss.r) / sent)
        out.append(Comparison(f"{name} packets lost (fraction)", run.summary[lost_col] / sent, expected, se,
                              f"p/(p + r), p = {loss.p:g}, r = {loss.r:g}; bursts correlate losses"))
    return out


def bloom(run: _Run) -> Comparison | str:
    sc = run.scenario
    dedup = sc.receiver.dedup
    if dedup.kind != "bloom" or dedup.capacity is None or dedup.fp_rate is None:
        return "not a Bloom filter"
    if sc.sender.retry.max_attempts is not None:
        return "at most K attempts: some messages never reach the filter"
    reason = _clean_network(sc) or _settled(run)
    if reason:
        return reason
    params = analytic.bloom_parameters(dedup.capacity, dedup.fp_rate)
    m, k = params.m_bits, params.k_hashes
    n = run.messages
    # New ids meet the filter in turn. The i-th holds the bits of all i ids
    # before it: a false positive is not recorded, but recording it would set
    # no new bit either (all of its bits are set), so the fill is i, not the
    # number of ids recorded.
    total = variance = 0.0
    for i in range(n):
        p = (1.0 - math.exp(-k * i / m)) ** k
        total += p
        variance += p * (1.0 - p)
    lost_fp = run.summary.get("lost_bloom_false_positive", 0)
    return Comparison("Bloom false positives per new message", lost_fp / n, total / n, math.sqrt(variance) / n,
                      f"mean over new ids i = 0..n-1 of (1 - e^(-k i/m))^k, m = {m} bits, "
                      f"k = {k}; configured {dedup.fp_rate:g} for {dedup.capacity:,} ids")


def mm1_sojourn(run: _Run) -> Comparison | str:
    sc = run.scenario
    reason = _poisson_queue(run)
    if reason:
        return reason
    if sc.receiver.workers != 1:
        return "several workers: an M/M/c queue"
    if sc.receiver.queue.capacity is not None:
        return "a bounded queue turns arrivals away"
    reason = _settled(run)
    if reason:
        return reason
    lam = sc.sender.rate * sc.sender.count
    mu = 1.0 / sc.receiver.processing.mean
    rho = lam / mu
    if rho >= 0.9:
        return f"load {rho:.2f}: too close to 1 for a run of this length"
    data = sc.network.data.latency
    sojourn = 1.0 / (mu - lam)
    round_trip = data.mean + sojourn + sc.network.ack.latency.mean
    if sc.sender.window is not None and sc.sender.window < 10 + 5 * sc.sender.rate * round_trip:
        return "the window may fill and hold messages back"
    retry = sc.sender.retry
    if retry.policy == "adaptive" or retry.jitter != "none":
        return "adaptive or jittered waits can retransmit before the ack: extra arrivals"
    late = _round_trip_exceeds(sc, retry.timeout, queue_rate=mu - lam)
    if late >= SPURIOUS_TOLERANCE:
        return f"the timeout is not well above the round trip (P about {late:.2g}): extra arrivals"
    n = run.messages
    var = data.variance + _mm1_sojourn_asymptotic_variance(rho) / mu**2
    return Comparison("create -> processed mean (s)", float(run.summary["delivery_latency_mean_s"]),
                      data.mean + sojourn, math.sqrt(var / n),
                      f"data latency + 1/(mu - lambda), lambda = {lam:g}/s, mu = {mu:g}/s (M/M/1); "
                      "std err from a conservative bound")


def _log_commits(run: _Run, policy: str) -> str | None:
    """The assumptions of the log's commit forms (see alosim.analytic)."""
    sc = run.scenario
    if sc.broker is None or sc.broker.kind != "log" or sc.consumer is None:
        return "not a pipeline on a log"
    if sc.consumer.commit.policy != policy:
        return f"commit policy is not {policy}"
    if sc.consumer.count != 1 or sc.sender.count != 1:
        return "more than one consumer or producer"
    if sc.sender.rate is None or sc.sender.arrivals != "poisson":
        return "arrivals are not Poisson at a fixed rate"
    if not sc.consumer.processing.is_zero:
        return "processing is not instant"
    if _bernoulli(sc.network.data) != 0 or sc.network.data.duplicate or sc.network.partitions:
        return "the publish link loses, duplicates or partitions: arrivals are not Poisson"
    if any(f.target not in ("consumer-0", "consumers") for f in sc.faults):
        return "faults other than the consumer's crashes"
    if not run.summary.get("log_consumer_crashes"):
        return "no consumer crash"
    return _settled(run)


def auto_commit(run: _Run) -> Comparison | str:
    reason = _log_commits(run, "interval")
    if reason:
        return reason
    sc = run.scenario
    assert sc.consumer is not None and sc.sender.rate is not None
    lam, interval = sc.sender.rate, sc.consumer.commit.interval
    if any(f.mttr is None or f.mttr > interval / 20 or f.mtbf < 5 * interval for f in sc.faults):
        return "crashes not rare and short against the commit interval"
    crashes = int(run.summary["log_consumer_crashes"])
    var = analytic.auto_commit_duplicates_variance(lam, interval)
    return Comparison("replays per consumer crash", run.summary["duplicates_consume_replay_after_crash"]
                      / crashes, analytic.auto_commit_duplicates_per_crash(lam, interval),
                      math.sqrt(var / crashes), f"lambda T / 2, lambda = {lam:g}/s, T = {interval:g} s")


def commit_after_each(run: _Run) -> Comparison | str:
    reason = _log_commits(run, "after-each")
    if reason:
        return reason
    sc = run.scenario
    assert sc.consumer is not None and sc.sender.rate is not None
    lam, latency = sc.sender.rate, sc.consumer.commit.latency
    if lam * latency >= 0.9:
        return f"load of the commits {lam * latency:.2f}: too close to 1"
    crashes = int(run.summary["log_consumer_crashes"])
    p = analytic.commit_after_each_duplicates_per_crash(lam, latency)
    return Comparison("replays per consumer crash", run.summary["duplicates_consume_replay_after_crash"]
                      / crashes, p, math.sqrt(p * (1 - p) / crashes),
                      f"lambda c (a commit in flight), lambda = {lam:g}/s, c = {latency:g} s")


#: The closed forms of a pipeline on a log (the single-hop rules never apply to one).
LOG_RULES: tuple[tuple[str, Callable[[_Run], Any]], ...] = (
    ("auto-commit replays per crash", auto_commit),
    ("commit-after-each replays per crash", commit_after_each),
)


def _poisson_queue(run: _Run) -> str | None:
    """None when the receiver is a queue with Poisson arrivals and exponential processing."""
    sc = run.scenario
    if sc.receiver.count != 1:
        return "several receivers: each sees a split, not Poisson, stream"
    if sc.sender.rate is None or sc.sender.arrivals != "poisson":
        return "arrivals are not Poisson at a fixed rate"
    from alosim.dists import Exponential

    if not isinstance(sc.receiver.processing, Exponential):
        return "processing times are not exponential"
    if _bernoulli(sc.network.data) != 0 or _bernoulli(sc.network.ack) != 0:
        return "losses add retransmissions and timeouts to the latency"
    return _clean_network(sc)


_BATCHES = 20


def _batch_fraction(run: _Run, part: str, whole: str) -> tuple[float, float] | str:
    """The fraction part/whole of two cumulative series, with a batch-means standard error."""
    parts, wholes = run.series.get(part), run.series.get(whole)
    if not parts or not wholes:
        return "no samples"
    # The span with arrivals: a run can go on after its last one (waiting out timeouts).
    n = list(wholes).index(wholes[-1])
    if n < 2 * _BATCHES:
        return f"fewer than {2 * _BATCHES + 1} samples for batch means"
    cuts = [round(i * n / _BATCHES) for i in range(_BATCHES + 1)]
    fractions = []
    for a, b in zip(cuts, cuts[1:]):
        if wholes[b] - wholes[a] <= 0:
            return "a batch without arrivals"
        fractions.append((parts[b] - parts[a]) / (wholes[b] - wholes[a]))
    import statistics

    return (parts[-1] / wholes[-1] if wholes[-1] else 0.0,
            statistics.stdev(fractions) / math.sqrt(_BATCHES))


def mmc_wait(run: _Run) -> Comparison | str:
    sc = run.scenario
    reason = _poisson_queue(run)
    if reason:
        return reason
    if sc.receiver.queue.capacity is not None:
        return "a bounded queue turns arrivals away"
    if run.summary.get("retransmissions"):
        return "the run retransmitted: extra arrivals"
    lam = sc.sender.rate * sc.sender.count  # type: ignore[operator]
    mu = 1.0 / sc.receiver.processing.mean
    c = sc.receiver.workers
    if lam / (c * mu) >= 0.9:
        return f"load {lam / (c * mu):.2f}: too close to 1 for a run of this length"
    fraction = _batch_fraction(run, "queued", "deliveries")
    if isinstance(fraction, str):
        return fraction
    return Comparison("arrivals that waited for a worker", fraction[0],
                      analytic.erlang_c(c, lam, mu), fraction[1],
                      f"Erlang C, c = {c}, lambda = {lam:g}/s, mu = {mu:g}/s (M/M/c); "
                      "std err by batch means")


def mm1k_blocking(run: _Run) -> Comparison | str:
    sc = run.scenario
    capacity = sc.receiver.queue.capacity
    if capacity is None:
        return "an unbounded queue turns nothing away"
    if sc.receiver.workers != 1:
        return "several workers"
    reason = _poisson_queue(run)
    if reason:
        return reason
    if run.summary.get("retransmissions"):
        return "the run retransmitted: extra arrivals"
    lam = sc.sender.rate * sc.sender.count  # type: ignore[operator]
    mu = 1.0 / sc.receiver.processing.mean
    fraction = _batch_fraction(run, "refused", "deliveries")
    if isinstance(fraction, str):
        return fraction
    return Comparison("arrivals turned away by a full queue", fraction[0],
                      analytic.mm1k_blocking(lam, mu, capacity + 1), fraction[1],
                      f"rho^K (1 - rho)/(1 - rho^(K+1)), K = {capacity + 1}, rho = {lam / mu:g} "
                      "(M/M/1/K); std err by batch means")


#: The retry-amplification fixed point is an approximation; the issue's criterion is
#: agreement within 10 %, which the comparison's standard error carries (a 99 % bound).
AMPLIFICATION_TOLERANCE = 0.10


def retry_amplification(run: _Run) -> Comparison | str:
    """Transmissions per second against the fixed point lambda' of
    :func:`alosim.analytic.retry_amplification` (see the table above)."""
    sc = run.scenario
    reason = _poisson_queue(run)
    if reason:
        return reason
    if sc.receiver.workers != 1:
        return "several workers: the fixed point is for one M/M/1 server"
    if sc.receiver.queue.capacity is not None or sc.receiver.queue.lifo_above is not None:
        return "a bounded or LIFO queue: the fixed point assumes an unbounded FIFO queue"
    if sc.sender.window is not None:
        return "a window holds messages back: the fixed point assumes open-loop arrivals"
    retry = sc.sender.retry
    if retry.policy != "fixed" or retry.jitter != "none" or retry.max_attempts is not None:
        return "the fixed point assumes a fixed timeout, no jitter and unlimited attempts"
    if sc.receiver.dedup.kind != "none":
        return "a dedup store: not every copy is processed"
    from alosim.dists import Constant

    data, ack = sc.network.data.latency, sc.network.ack.latency
    if not isinstance(data, Constant) or not isinstance(ack, Constant):
        return "the network latency is not constant (it would add to the sojourn)"
    timeout = retry.timeout - data.value - ack.value
    if timeout <= 0:
        return "the timeout is shorter than the network round trip"
    reason = _settled(run)
    if reason:
        return reason
    fraction = _batch_fraction(run, "transmissions", "messages")
    if isinstance(fraction, str):
        return fraction
    lam = sc.sender.rate * sc.sender.count  # type: ignore[operator]
    mu = 1.0 / sc.receiver.processing.mean
    amplified = analytic.retry_amplification(lam, mu, timeout)
    if amplified is None:
        return (f"no fixed point: load {lam / mu:.3g} is above the predicted collapse load "
                f"{analytic.collapse_load(mu, timeout):.3g}")
    allowance = AMPLIFICATION_TOLERANCE * amplified / analytic.normal_quantile(0.995)
    return Comparison("transmissions per second (retry amplification)", fraction[0] * lam, amplified,
                      math.hypot(fraction[1] * lam, allowance),
                      f"lambda' = lambda (1 + sum_k e^(-(mu - lambda') k T)), lambda = {lam:g}/s, "
                      f"mu = {mu:g}/s, T = {timeout:g} s (timeout less the round trip); an "
                      "approximation; measured: transmissions per message x lambda; std err by batch means, "
                      "with 10 % of lambda' as a 99 % allowance")


def _mm1_sojourn_asymptotic_variance(rho: float) -> float:
    """A bound on n Var(mean of n successive M/M/1 sojourn times), in units of 1/mu^2.

    Successive sojourn times are positively correlated, so the variance of
    their mean is far above Var(T)/n = 1/((1 - rho)^2 n). We use
    2(1 + rho)/(1 - rho)^4, the asymptotic variance of the time-average
    number in system (Whitt, "Planning queueing simulations", Management
    Science 35(11), 1989) carried over by Little's law. It is conservative:
    2,000 replications of 20,000 customers (Lindley's recursion) gave
    n Var = 1.9, 7.4, 35 and 363 at rho = 0.1, 0.3, 0.5, 0.7 against
    3.4, 10.8, 48 and 420 from the bound -- so a |z| it yields is, if
    anything, too small, never too large.
    """
    return 2.0 * (1.0 + rho) / (1.0 - rho) ** 4


# -- pipelines ------------------------------------------------------------------------------


def _pipeline_clean(sc: Scenario) -> str | None:
    """The assumptions both broker forms share: nothing but the broker's own rule
    (a lease, a nack) makes a delivery, and every broker entry is one message."""
    if sc.faults:
        return "crashes interrupt the broker or the consumers"
    if sc.max_time is not None:
        return "max_time may stop the run with deliveries in flight"
    consume = sc.network.consume
    assert consume is not None
    for name, link in (("delivery", consume.data), ("consumer ack", consume.ack)):
        if isinstance(link.loss, GilbertElliott) or link.loss or link.duplicate:
            return f"the {name} link loses or duplicates packets"
    if sc.network.partitions:
        return "a partition drops packets"
    if sc.consumer is not None:
        if sc.consumer.poison_probability:
            return "poison messages fail on every delivery"
        if sc.consumer.ack != "after-processing":
            return "the consumer acks before processing"
        if sc.consumer.dedup.write_delay:
            return "the ack waits for the consumer store's write_delay"
    return None


def _entries(run: _Run) -> int | str:
    """Broker entries (the unit of both forms), when each is one message."""
    entries = int(run.summary.get("publishes_accepted", 0))
    if entries != run.messages:
        return "some messages made more than one broker entry (publish duplicates)"
    if entries < 2:
        return "too few messages"
    if run.summary.get("unsettled"):
        return "messages were still in flight at the end"
    if run.summary.get("broker_overflow_dropped") or run.summary.get("broker_publishes_rejected"):
        return "a full broker queue dropped or refused publishes"
    return entries


def lease_expiry(run: _Run) -> Comparison | str:
    from alosim.dists import Constant, Exponential

    sc = run.scenario
    if sc.broker is None or sc.consumer is None:
        return "a single hop: no lease"
    reason = _pipeline_clean(sc)
    if reason:
        return reason
    consumer, broker = sc.consumer, sc.broker
    consume = sc.network.consume
    assert consume is not None
    if consumer.nack_probability:
        return "nacks redeliver as well as expired leases"
    if not isinstance(consumer.processing, Exponential):
        return "processing is not exponential"
    lat = (consume.data.latency, consume.ack.latency)
    if not all(isinstance(d, Constant) for d in lat) or lat[0].value != lat[1].value:
        return "the consume links' latency is not one constant L both ways"
    latency, mean, lease = lat[0].value, consumer.processing.mean, broker.visibility_timeout
    if sc.sender.rate is None:
        return "a closed-loop producer: the load on the consumers is not known in advance"
    options, form = _lease_options(sc, mean)
    if isinstance(options, str):
        return options
    try:
        if consumer.lease_extension is not None:
            extension = consumer.lease_extension
            lease = analytic.extended_lease(lease, extension.every, extension.max, latency,
                                            float(options["start_delay_max_s"] or 0.0))
        if form:
            tail = analytic.polled_lease_tail(lease, latency, mean, **options)  # type: ignore[arg-type]
        else:
            tail = analytic._lease_tail(lease, latency, mean)
    except ValueError as exc:
        return str(exc)
    if broker.max_deliveries is not None:
        tail = tail[:broker.max_deliveries - 1]  # the D-th unacked delivery is dead-lettered
    expected = math.fsum(tail)
    # Every delivery must start at once: workers (and prefetch) well above the
    # mean number busy, rate x (mean processing + lease time of redeliveries).
    busy = sc.sender.rate * sc.sender.count * (mean + 2 * latency) * (1 + expected)
    slots = consumer.count * min(consumer.concurrency, broker.prefetch or consumer.concurrency,
                                 consumer.pull.batch if consumer.pull else consumer.concurrency)
    if slots < busy + 10 * math.sqrt(busy) + 10:
        return f"{slots} consumer slots may all be busy (about {busy:.0f} on average): deliveries wait"
    entries = _entries(run)
    if isinstance(entries, str):
        return entries
    second = math.fsum((2 * k - 1) * p for k, p in enumerate(tail, start=1))
    se = math.sqrt((second - expected * expected) / entries)
    limit = "" if broker.max_deliveries is None else f", at most {broker.max_deliveries - 1}"
    if not form:
        form = f"sum over k of prod_(j<=k) P(2L + S > jV){limit}; V = {lease:g} s, "
        return Comparison("redeliveries per message (lease expired)",
                          run.summary.get("consume_redeliveries", 0) / entries, expected, se,
                          f"{form}L = {latency:g} s, S exponential, mean {mean:g} s")
    if math.isinf(lease):
        held = "an extended lease without a max is never redelivered while processing"
    elif consumer.lease_extension is not None:
        held = f"V = the extended lease's max = {lease:g} s"
    else:
        held = f"V = {lease:g} s"
    return Comparison("redeliveries per message (lease expired)",
                      run.summary.get("consume_redeliveries", 0) / entries, expected, se,
                      f"polled_lease_tail{limit}; {held}, {form}, L = {latency:g} s, "
                      f"S exponential, mean {mean:g} s")


def _lease_options(sc: Scenario, mean: float) -> tuple[dict[str, float | bool | None] | str, str]:
    """The arguments of :func:`alosim.analytic.polled_lease_tail` for what the
    scenario adds to a plain lease (polled reclaim, a start delay), and how the
    form reads; or why the form does not apply."""
    broker, consumer = sc.broker, sc.consumer
    assert broker is not None and consumer is not None
    options: dict[str, float | bool | None] = {"start_delay_mgf": 1.0, "start_delay_max_s": 0.0}
    said = []
    if broker.reclaim is not None:
        options["reclaim_interval_s"] = broker.reclaim.interval
        options["jitter"] = broker.reclaim.jitter
        said.append(f"reclaim scans every {broker.reclaim.interval:g} s"
                    + (" (jittered: an approximation)" if broker.reclaim.jitter else ""))
    delay = consumer.start_delay
    if delay is not None and not delay.is_zero:
        try:
            mgf = delay.mgf(1 / mean) if mean > 0 else 1.0
        except NotImplementedError:
            mgf = math.inf
        if not math.isfinite(mgf) or not math.isfinite(delay.upper_bound):
            return "the start delay is unbounded or heavier-tailed than the processing", ""
        options["start_delay_mgf"] = mgf
        options["start_delay_max_s"] = delay.upper_bound
        said.append(f"start delay {delay}")
    if consumer.lease_extension is not None:
        extension = consumer.lease_extension
        said.append(f"extended every {extension.every:g} s")
    return options, ", ".join(said)


def dead_lettering(run: _Run) -> list[Comparison | str]:
    sc = run.scenario
    if sc.broker is None or sc.consumer is None:
        return ["a single hop: no dead-letter queue"]
    reason = _pipeline_clean(sc)
    q, d = sc.consumer.nack_probability, sc.broker.max_deliveries
    if reason is None and d is None:
        reason = "no max_deliveries: nothing is dead-lettered"
    if reason is None and not q:
        reason = "no nacks: a delivery fails only by its lease"
    if reason is None:
        import numpy as np

        consume = sc.network.consume
        assert consume is not None
        rng = np.random.default_rng(20240229)
        start = sc.consumer.start_delay
        late = float(np.mean(consume.data.latency.sample(rng, _RTT_DRAWS)
                             + (start.sample(rng, _RTT_DRAWS) if start is not None else 0.0)
                             + sc.consumer.processing.sample(rng, _RTT_DRAWS)
                             + consume.ack.latency.sample(rng, _RTT_DRAWS)
                             > sc.broker.visibility_timeout))
        if late >= SPURIOUS_TOLERANCE:
            reason = f"the lease can expire before the ack (P about {late:.2g})"
    entries = _entries(run) if reason is None else reason
    if isinstance(entries, str):
        return [entries]
    assert d is not None
    p = analytic.dead_letter_probability(q, d)
    mean = analytic.dead_letter_deliveries(q, d)
    var = analytic.dead_letter_deliveries_variance(q, d)
    return [
        Comparison("dead-lettered per message", run.summary.get("dead_lettered", 0) / entries, p,
                   math.sqrt(p * (1 - p) / entries), f"q^D, q = {q:g}, D = {d}"),
        Comparison("deliveries per message", run.summary.get("consume_deliveries", 0) / entries, mean,
                   math.sqrt(var / entries), f"(1 - q^D)/(1 - q), q = {q:g}, D = {d}"),
    ]


RULES: tuple[tuple[str, Callable[[_Run], Any]], ...] = (
    ("transmissions per message", transmissions),
    ("duplicate deliveries per message", duplicate_deliveries),
    ("duplicate processing per message", duplicate_processing),
    ("lost per message", lost),
    ("TTL store plateau", ttl_plateau),
    ("Gilbert-Elliott loss rate", gilbert_elliott),
    ("Bloom false-positive rate", bloom),
    ("M/M/1 sojourn", mm1_sojourn),
    ("M/M/c wait probability", mmc_wait),
    ("M/M/1/K blocking", mm1k_blocking),
    ("retry amplification", retry_amplification),
)

#: The rules for a pipeline (producer -> broker -> consumers).
PIPELINE_RULES: tuple[tuple[str, Callable[[_Run], Any]], ...] = (
    ("lease expiry", lease_expiry),
    ("dead-lettering", dead_lettering),
)


def _as_run(scenario: Scenario | Mapping[str, Any], summary: Mapping[str, Any],
            series: Mapping[str, Sequence[float]] | None) -> _Run:
    if not isinstance(scenario, Scenario):
        scenario = validate_scenario(scenario, "<run>")
    return _Run(scenario, summary, series or {})


def applicability(scenario: Scenario | Mapping[str, Any], summary: Mapping[str, Any],
                  series: Mapping[str, Sequence[float]] | None = None) -> list[tuple[str, Comparison | str]]:
    """Every rule with its comparison, or the reason it does not apply."""
    run = _as_run(scenario, summary, series)
    out: list[tuple[str, Comparison | str]] = []
    if run.scenario.topology is not None:
        # A topology's closed forms (alosim.analytic.chain_effects and its kin) are
        # checked by tests/validation/test_topology_closed_forms.py.
        return [(name, "a topology: this closed form describes a single hop") for name, _ in RULES]
    if run.scenario.broker is None and run.scenario.receiver.on_duplicate == "drop":
        # Every single-hop form counts on an ack for every copy that arrives.
        return [(name, "receiver.on_duplicate is drop: a duplicate gets no ack") for name, _ in RULES]
    pipeline = run.scenario.broker is not None
    rules = RULES
    if pipeline:
        # The single-hop rules model a receiver that executes the side effect;
        # in a pipeline the effect happens a hop later.
        why = "a pipeline: this closed form describes a single hop"
        out = [(name, why) for name, _ in RULES]
        rules = LOG_RULES if run.scenario.broker.kind == "log" else PIPELINE_RULES
    for name, rule in rules:
        verdict = rule(run)
        for one in verdict if isinstance(verdict, list) else [verdict]:
            out.append((name, one))
    return out


def compare(scenario: Scenario | Mapping[str, Any], summary: Mapping[str, Any],
            series: Mapping[str, Sequence[float]] | None = None) -> list[Comparison]:
    """The closed forms that apply to this run, beside what it measured."""
    return [v for _, v in applicability(scenario, summary, series) if isinstance(v, Comparison)]


COLUMNS = ("quantity", "measured", "expected", "standard_error", "z", "formula")


def frame(comparisons: Sequence[Comparison]):  # -> pandas.DataFrame
    import pandas as pd

    rows = [(c.quantity, c.measured, c.expected, c.standard_error, c.z, c.formula) for c in comparisons]
    return pd.DataFrame(rows, columns=list(COLUMNS))


def format_theory(comparisons: Sequence[Comparison]) -> str:
    """The comparisons as lines for the printed summary ('' when none apply)."""
    if not comparisons:
        return ""
    lines = ["  theory (closed forms whose assumptions this run meets; z = (measured - expected) / std err)",
             f"    {'':<38} {'measured':>10} {'expected':>10} {'std err':>9} {'z':>6}"]
    from alosim.figures import sig3

    for c in comparisons:
        z = "exact" if c.standard_error == 0 and c.z == 0 else f"{c.z:+.1f}"
        lines.append(f"    {c.quantity:<38} {sig3(c.measured):>10} {sig3(c.expected):>10} "
                     f"{sig3(c.standard_error):>9} {z:>6}")
        lines.append(f"      {c.formula}")
    return "\n".join(lines)


__all__ = ["COLUMNS", "Comparison", "RULES", "applicability", "compare", "format_theory", "frame",
           "retry_model"]
