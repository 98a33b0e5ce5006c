"""Closed-form expectations, and confidence intervals to compare them with.

The simulator is checked against what probability theory says it must
produce where theory has an answer, and plots draw these curves beside the
simulated points. Each function states the model it assumes and a source.

**Retries over a lossy link.** The model behind the retry formulas:

* every data packet is lost independently with probability ``p_data`` and
  every ack with probability ``p_ack`` (Bernoulli losses, as
  :mod:`alosim.model.link` draws them);
* every copy that arrives is acked (processed or caught as a duplicate);
* the retry timeout is well above the largest round trip (latency there,
  processing, latency back), so the sender retransmits only when no ack
  will ever come for the previous transmission -- never because an ack is
  merely slow;
* the sender stops at the first ack, or after ``max_attempts``
  transmissions (``None``: retry until acked).

A message is then a sequence of independent attempts, each ending in one of
three ways: the data packet is lost (probability ``p_data``); it arrives but
its ack is lost (``(1 - p_data) * p_ack``); or it arrives and is acked
(``s = (1 - p_data) * (1 - p_ack)``, which stops the sequence). Everything
below follows from that by first-step analysis (conditioning on the outcome
of the first attempt); see e.g. Ross, *Introduction to Probability Models*,
ch. 3 (conditional expectation) and ch. 4 (Markov chains). The per-message
counts are independent and identically distributed from message to message,
which is what makes a confidence interval from the closed-form variance
honest.

**Confidence intervals.** :func:`normal_interval` is the large-sample
interval for a mean of many i.i.d. samples with a known per-sample variance
(per-message counts pooled over seeds); :func:`mean_interval` is Student's t
interval from a few replications (per-seed means), with t quantiles computed
exactly for integer degrees of freedom (no scipy needed).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# -- argument checks ------------------------------------------------------------


def _probability(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {value!r}")
    return float(value)


def _attempts(max_attempts: int | None) -> int | None:
    if max_attempts is not None and max_attempts < 1:
        raise ValueError(f"max_attempts must be at least 1 (or None for unlimited), got {max_attempts!r}")
    return max_attempts


def _success(p_data: float, p_ack: float) -> float:
    """Probability that one attempt settles the message: the data and its ack both get through."""
    return (1.0 - _probability("p_data", p_data)) * (1.0 - _probability("p_ack", p_ack))


# -- retries until acked, or at most K attempts -------------------------------------


@dataclass(frozen=True)
class PerMessage:
    """Exact moments of one message's counts under the retry model above.

    ``transmissions`` is T, the number of times the sender sent the message;
    ``deliveries`` is D, the number of copies that reached the receiver;
    ``duplicates`` is D - 1 when D >= 1 (and 0 when D = 0): the copies after
    the first; ``delivered`` is P(D >= 1).
    """

    transmissions_mean: float
    transmissions_variance: float
    deliveries_mean: float
    deliveries_variance: float
    delivered: float

    @property
    def duplicates_mean(self) -> float:
        return self.deliveries_mean - self.delivered

    @property
    def duplicates_variance(self) -> float:
        # dup = D - 1{D>=1}, so E[dup^2] = E[D^2] - 2 E[D] + P(D>=1).
        second = self.deliveries_variance + self.deliveries_mean**2
        return second - 2 * self.deliveries_mean + self.delivered - self.duplicates_mean**2


def per_message(p_data: float, p_ack: float, max_attempts: int | None = None) -> PerMessage:
    """Means and variances of transmissions, deliveries and duplicates per message.

    With unlimited retries (``max_attempts=None``) the counts are geometric:
    T ~ Geometric(s) on {1, 2, ...} with s = (1 - p_data)(1 - p_ack), so
    E[T] = 1/s and Var(T) = (1 - s)/s**2; and since every copy that arrives
    is acked, and the ack gets through with probability 1 - p_ack
    independently of the data losses, D ~ Geometric(1 - p_ack), so
    E[D] = 1/(1 - p_ack) and Var(D) = p_ack/(1 - p_ack)**2 -- whatever
    ``p_data`` is.

    With at most K attempts the moments come from the first-step recursion
    over the attempts left (exact, O(K)): with k attempts left, an attempt
    adds one transmission, adds one delivery unless the data is lost, and
    ends the sequence if it is acked.

    Source: the geometric distribution (e.g. Ross, *A First Course in
    Probability*, §4.8.1; https://en.wikipedia.org/wiki/Geometric_distribution).
    """
    s = _success(p_data, p_ack)
    p_d = float(p_data)
    p_a = float(p_ack)
    if _attempts(max_attempts) is None:
        t_mean = 1.0 / s if s > 0 else math.inf
        t_var = (1.0 - s) / s**2 if s > 0 else math.inf
        d_mean = 1.0 / (1.0 - p_a) if p_a < 1 else math.inf
        d_var = p_a / (1.0 - p_a) ** 2 if p_a < 1 else math.inf
        delivered = 1.0 if p_d < 1 else 0.0
        if p_d == 1:
            t_mean = t_var = math.inf
            d_mean = d_var = 0.0
        return PerMessage(t_mean, t_var, d_mean, d_var, delivered)
    assert max_attempts is not None
    lost = p_d  # the attempt's data packet is lost: no delivery, go on
    again = (1.0 - p_d) * p_a  # delivered, ack lost: one delivery, go on
    # First and second moments of T and D with k attempts left, k = 0 .. K.
    t1 = t2 = d1 = d2 = 0.0
    for _ in range(max_attempts):
        go_on = lost + again
        t1, t2 = 1.0 + go_on * t1, 1.0 + go_on * (2.0 * t1 + t2)
        d1, d2 = (again + s) + lost * d1 + again * d1, (again + s) + lost * d2 + again * (2.0 * d1 + d2)
    delivered = 1.0 - p_d**max_attempts
    return PerMessage(t1, t2 - t1 * t1, d1, d2 - d1 * d1, delivered)


def transmissions_per_message(p_data: float, p_ack: float, max_attempts: int | None = None) -> float:
    """Expected transmissions per message: 1/((1 - p_data)(1 - p_ack)) with unlimited retries.

    With at most K attempts: (1 - (1 - s)**K)/s, s = (1 - p_data)(1 - p_ack)
    -- attempt j is made only if the j - 1 before it all failed, which has
    probability (1 - s)**(j - 1); summing the geometric series gives the
    formula (Ross, *A First Course in Probability*, §4.8.1).
    """
    s = _success(p_data, p_ack)
    if _attempts(max_attempts) is None:
        return 1.0 / s if s > 0 else math.inf
    assert max_attempts is not None
    if s == 0:
        return float(max_attempts)
    return (1.0 - (1.0 - s) ** max_attempts) / s


def deliveries_per_message(p_data: float, p_ack: float, max_attempts: int | None = None) -> float:
    """Expected copies of a message that reach the receiver.

    Unlimited retries: 1/(1 - p_ack). With at most K attempts:
    (1 - p_data)(1 - (1 - s)**K)/s, s = (1 - p_data)(1 - p_ack): each
    transmission arrives with probability 1 - p_data independently of
    whether it was made, so E[D] = (1 - p_data) E[T] (Wald's identity;
    https://en.wikipedia.org/wiki/Wald%27s_equation).
    """
    p_d = _probability("p_data", p_data)
    if max_attempts is None and p_d < 1:
        p_a = _probability("p_ack", p_ack)
        return 1.0 / (1.0 - p_a) if p_a < 1 else math.inf
    return (1.0 - p_d) * transmissions_per_message(p_data, p_ack, max_attempts)


def duplicates_per_message(p_data: float, p_ack: float, max_attempts: int | None = None) -> float:
    """Expected duplicate deliveries per message (copies after the first to arrive).

    Unlimited retries and a timeout well above the largest round trip:
    p_ack/(1 - p_ack), whatever ``p_data`` is. Each copy that arrives is
    acked, and the sender retries until one ack gets through, so the number
    of copies that arrive is geometric with success probability
    1 - p_ack; data losses only add transmissions, not deliveries. With at
    most K attempts: E[D] - P(D >= 1) = E[D] - (1 - p_data**K).

    ``p_data`` comes first, as in every function here, although the
    unlimited-retry result does not depend on it.
    Source: geometric distribution, as in :func:`per_message`.
    """
    p_d = _probability("p_data", p_data)
    if max_attempts is None:
        p_a = _probability("p_ack", p_ack)
        if p_d == 1:
            return 0.0
        return p_a / (1.0 - p_a) if p_a < 1 else math.inf
    return deliveries_per_message(p_data, p_ack, max_attempts) - (1.0 - p_d**max_attempts)


def duplicates_variance(p_data: float, p_ack: float, max_attempts: int | None = None) -> float:
    """Variance of the duplicate deliveries of one message.

    Unlimited retries: Var(D - 1) = Var(D) = p_ack/(1 - p_ack)**2 for
    D ~ Geometric(1 - p_ack). With at most K attempts: exact, from
    :func:`per_message`.
    """
    return per_message(p_data, p_ack, max_attempts).duplicates_variance


def transmissions_variance(p_data: float, p_ack: float, max_attempts: int | None = None) -> float:
    """Variance of the transmissions of one message.

    Unlimited retries: (1 - s)/s**2 for T ~ Geometric(s),
    s = (1 - p_data)(1 - p_ack). With at most K attempts: exact, from
    :func:`per_message`.
    """
    return per_message(p_data, p_ack, max_attempts).transmissions_variance


def deliveries_variance(p_data: float, p_ack: float, max_attempts: int | None = None) -> float:
    """Variance of the deliveries of one message (see :func:`per_message`)."""
    return per_message(p_data, p_ack, max_attempts).deliveries_variance


def chain_effects(hops: Sequence[tuple[float, float, int | None]]) -> tuple[float, float]:
    """Mean and variance of the side effects at the end of a chain, per producer message.

    ``hops`` lists each link's (p_data, p_ack, max_attempts), from the
    producer outwards. Assumptions: no dedup store on the path, every
    service hands its calls onward as it makes each effect (``onward.ack:
    before-call``) and processes every copy that arrives; losses are
    independent; every timeout is above the largest round trip, so a copy is
    resent only when its ack is lost. Then each effect at a node is a call
    on the next link, whose copies that arrive are that many effects there,
    independently of every other call: the effects form a Galton-Watson
    branching process whose offspring on link i are the deliveries of one
    message on a single hop (:func:`deliveries_per_message`, mean m_i,
    variance v_i). So E[Z_n] = m_1 ... m_n, and
    Var(Z_n) = m_n**2 Var(Z_{n-1}) + v_n E[Z_{n-1}]
    (https://en.wikipedia.org/wiki/Galton%E2%80%93Watson_process; Athreya and
    Ney, Branching Processes, 1972, ch. I). Duplicates compound: two hops
    that each deliver 1.25 copies per call put 1.5625 effects on the sink.
    """
    mean, variance = 1.0, 0.0
    for p_data, p_ack, attempts in hops:
        m = deliveries_per_message(p_data, p_ack, attempts)
        v = deliveries_variance(p_data, p_ack, attempts)
        variance = m * m * variance + v * mean
        mean *= m
    return mean, variance


def chain_calls(hops: Sequence[tuple[float, float, int | None]]) -> float:
    """Expected calls (transmissions) on the last link of a chain per producer message,
    under the assumptions of :func:`chain_effects`: each effect at the node before it
    makes one call, which takes :func:`transmissions_per_message` transmissions, so
    E[calls on link n] = E[Z_(n-1)] x E[T_n] (Wald's identity). With every layer's
    attempts capped at a and every ack lost this reaches a**n, the worst case
    (:func:`layered_retry_worst_case`)."""
    if not hops:
        raise ValueError("expected at least one link")
    mean, _ = chain_effects(hops[:-1])
    return mean * transmissions_per_message(*hops[-1])


def layered_retry_worst_case(attempts: Sequence[int]) -> int:
    """The most calls one producer message can put on the last link of a chain
    whose links allow ``attempts`` transmissions each: their product (three
    layers that each try three times: 27). Reached when no call is ever
    answered -- the bottom is down or too slow -- and every copy arrives and
    is processed (no dedup store), whatever a service's ``onward.ack``."""
    total = 1
    for a in attempts:
        if a < 1:
            raise ValueError(f"attempts must be at least 1, got {a}")
        total *= a
    return total


def rekeyed_duplicates(p_ack: float, call_attempts: int, caller_attempts: int) -> float:
    """Expected duplicate effects per message at a sink behind a service that
    mints a new key for every call (``identity: mint``) and answers its caller
    after the call (``after-call``).

    The call's acks are lost with probability ``p_ack`` each (its data
    arrives), so a call gives up after ``call_attempts`` transmissions with
    probability q = p_ack**call_attempts, although it was delivered: the
    service leaves its caller unanswered, records nothing, and the caller's
    retry makes a new call under a new key, which the sink's store cannot
    recognise. Requests go on until one call succeeds or the caller's
    ``caller_attempts`` run out: E[requests] = 1 + q + ... + q**(A - 1), each
    one effect at the sink (its retransmissions, same key, are caught). So
    E[duplicates] = q + q**2 + ... + q**(A - 1). With ``identity: keep`` the
    sink catches them all: 0. Assumes the caller's timeout is longer than a
    whole call (it retries only when left unanswered), lossless links
    elsewhere and no crash.
    """
    q = _probability("p_ack", p_ack) ** call_attempts
    return sum(q**j for j in range(1, caller_attempts))


def rekeyed_duplicates_variance(p_ack: float, call_attempts: int, caller_attempts: int) -> float:
    """Variance of :func:`rekeyed_duplicates`' count: a geometric number of
    failed requests truncated at ``caller_attempts - 1``."""
    q = _probability("p_ack", p_ack) ** call_attempts
    probabilities = [q**j * (1 - q) for j in range(caller_attempts - 1)] + [q ** (caller_attempts - 1)]
    mean = sum(j * p for j, p in enumerate(probabilities))
    return sum((j - mean) ** 2 * p for j, p in enumerate(probabilities))


def never_delivered_probability(p_data: float, max_attempts: int | None) -> float:
    """Probability that no copy of a message reaches the receiver: p_data**K.

    All K transmissions must be lost, independently. With unlimited retries
    this is 0 (for p_data < 1). In the simulator such a message is counted
    as ``lost`` (settled, never processed).
    """
    p_d = _probability("p_data", p_data)
    if _attempts(max_attempts) is None:
        return 1.0 if p_d == 1 else 0.0
    assert max_attempts is not None
    return p_d**max_attempts


def gave_up_probability(p_data: float, p_ack: float, max_attempts: int | None) -> float:
    """Probability that the sender gives up: (1 - s)**K, no ack after K attempts.

    This includes messages that were delivered but whose every ack was lost,
    which is why giving up is more frequent than losing a message.
    """
    s = _success(p_data, p_ack)
    if _attempts(max_attempts) is None:
        return 1.0 if s == 0 else 0.0
    assert max_attempts is not None
    return (1.0 - s) ** max_attempts


def at_most_once_loss(p_data: float) -> float:
    """Fraction of messages lost under at-most-once delivery: p_data.

    Each message is sent once, so it is lost exactly when its one data
    packet is. (A lost ack does not lose the message; it only leaves the
    sender unsure.)
    """
    return _probability("p_data", p_data)


# -- bursty loss: the Gilbert model -----------------------------------------------


def gilbert_loss_rate(p: float, r: float) -> float:
    """Long-run fraction of packets lost in the simple Gilbert model: p/(p + r).

    A two-state Markov chain, one step per packet: from Good (no loss) to Bad
    with probability ``p``, from Bad (every packet lost) back to Good with
    probability ``r``. The stationary probability of Bad is p/(p + r).

    Source: E. N. Gilbert, "Capacity of a burst-noise channel", Bell System
    Technical Journal 39 (1960), 1253-1265; the simple form with loss only
    and always in Bad as in G. Haßlinger and O. Hohlfeld, "The Gilbert-Elliott
    model for packet loss in real time services on the Internet", MMB 2008.
    """
    p = _probability("p", p)
    r = _probability("r", r)
    if p + r == 0:
        raise ValueError("p + r must be positive: with p = r = 0 the chain never moves")
    return p / (p + r)


def gilbert_burst_length(r: float) -> float:
    """Mean number of consecutive losses in the simple Gilbert model: 1/r.

    The chain stays in Bad for a geometric number of packets with success
    probability ``r`` (the same sources as :func:`gilbert_loss_rate`); the
    variance of a burst length is (1 - r)/r**2.
    """
    r = _probability("r", r)
    return 1.0 / r if r > 0 else math.inf


def gilbert_burst_length_variance(r: float) -> float:
    """Variance of a loss burst's length in the simple Gilbert model: (1 - r)/r**2."""
    r = _probability("r", r)
    return (1.0 - r) / r**2 if r > 0 else math.inf


def gilbert_loss_rate_variance(p: float, r: float) -> float:
    """Asymptotic variance of the loss fraction over n packets, times n.

    Losses of successive packets are correlated: the chain's second
    eigenvalue is lam = 1 - p - r, the autocorrelation at lag j is lam**j, so
    the variance of the loss fraction over n packets is about
    pi(1 - pi)(1 + lam)/(1 - lam) / n with pi = p/(p + r) -- larger than the
    Bernoulli pi(1 - pi)/n when losses come in bursts (lam > 0).

    Source: the variance of a sum of a stationary two-state Markov chain,
    e.g. Kemeny and Snell, *Finite Markov Chains* (1960), §4.6; or any
    treatment of the integrated autocorrelation time of an AR(1)-like
    sequence (https://en.wikipedia.org/wiki/Markov_chain_central_limit_theorem).
    """
    pi = gilbert_loss_rate(p, r)
    lam = 1.0 - p - r
    if lam >= 1:
        return math.inf
    return pi * (1.0 - pi) * (1.0 + lam) / (1.0 - lam)


# -- Bloom filters -----------------------------------------------------------------


def bloom_false_positive_rate(n_items: int, m_bits: int, k_hashes: int) -> float:
    """Probability that a Bloom filter reports an id it never stored: (1 - e^(-kn/m))**k.

    After n insertions with k independent, uniform hash positions each, a
    given bit is still 0 with probability (1 - 1/m)**(kn) ~ e^(-kn/m); a new
    id is a false positive when all k of its bits are 1. The approximation
    treats the k bits as independent, which is accurate for m in the
    thousands and above.

    Source: B. H. Bloom, "Space/time trade-offs in hash coding with allowable
    errors", CACM 13(7), 1970; A. Broder and M. Mitzenmacher, "Network
    applications of Bloom filters: a survey", Internet Mathematics 1(4),
    2004; https://en.wikipedia.org/wiki/Bloom_filter.
    """
    if n_items < 0 or m_bits < 1 or k_hashes < 1:
        raise ValueError("need n_items >= 0, m_bits >= 1, k_hashes >= 1; "
                         f"got {n_items}, {m_bits}, {k_hashes}")
    return (1.0 - math.exp(-k_hashes * n_items / m_bits)) ** k_hashes


def bloom_optimal_hashes(m_bits: float, n_items: float) -> float:
    """The number of hash functions that minimises the false-positive rate: (m/n) ln 2.

    At that k half of the bits are set. Source: as :func:`bloom_false_positive_rate`.
    """
    if m_bits <= 0 or n_items <= 0:
        raise ValueError(f"need m_bits > 0 and n_items > 0, got {m_bits}, {n_items}")
    return m_bits / n_items * math.log(2)


def bloom_optimal_bits(n_items: float, fp_rate: float) -> float:
    """Bits needed for n items at false-positive rate ``fp_rate``: -n ln(fp)/(ln 2)**2.

    This is with the optimal (real-valued) number of hashes, -log2(fp);
    about 1.44 log2(1/fp) bits per item. Source: as
    :func:`bloom_false_positive_rate`.
    """
    if n_items <= 0 or not 0.0 < fp_rate < 1.0:
        raise ValueError(f"need n_items > 0 and 0 < fp_rate < 1, got {n_items}, {fp_rate}")
    return -n_items * math.log(fp_rate) / math.log(2) ** 2


@dataclass(frozen=True)
class BloomParameters:
    """A Bloom filter's size in bits and its number of hash functions."""

    m_bits: int
    k_hashes: int


def bloom_parameters(n_items: int, fp_rate: float) -> BloomParameters:
    """Whole-number m and k for n items at a false-positive rate of at most ``fp_rate``.

    k is the optimum -log2(fp) rounded to the nearest integer (at least 1);
    m is then the fewest bits for which (1 - e^(-kn/m))**k <= fp, i.e.
    m = ceil(-k n / ln(1 - fp**(1/k))) -- within a few bits of
    :func:`bloom_optimal_bits`.
    """
    if n_items < 1 or not 0.0 < fp_rate < 1.0:
        raise ValueError(f"need n_items >= 1 and 0 < fp_rate < 1, got {n_items}, {fp_rate}")
    k = max(1, round(-math.log2(fp_rate)))
    m = math.ceil(-k * n_items / math.log1p(-(fp_rate ** (1.0 / k))))
    return BloomParameters(m_bits=m, k_hashes=k)


# -- dedup stores that forget ---------------------------------------------------------


def ttl_store_entries(rate_per_s: float, window_s: float) -> float:
    """Steady-state entries of a dedup store that keeps each id for ``window_s``: rate x window.

    Little's law L = lambda W: with ids inserted at ``rate_per_s`` and each
    kept exactly ``window_s``, the store holds rate x window entries on
    average, whatever the arrival pattern. With Poisson arrivals the count is
    Poisson distributed (an M/G/inf queue), so its variance is the same
    number (:func:`ttl_store_entries_variance`).

    Source: J. D. C. Little, "A proof for the queuing formula L = lambda W",
    Operations Research 9(3), 1961; https://en.wikipedia.org/wiki/Little%27s_law.
    """
    if rate_per_s < 0 or window_s < 0:
        raise ValueError(f"need rate_per_s >= 0 and window_s >= 0, got {rate_per_s}, {window_s}")
    return rate_per_s * window_s


def ttl_store_entries_variance(rate_per_s: float, window_s: float) -> float:
    """Variance of a TTL store's entries at a given time, for Poisson insertions: rate x window.

    Entries alive at time t are the insertions in (t - window, t], a Poisson
    count. Source: the M/G/inf queue (https://en.wikipedia.org/wiki/M/G/%E2%88%9E_queue).
    """
    return ttl_store_entries(rate_per_s, window_s)


def ttl_store_bytes(rate_per_s: float, window_s: float, bytes_per_entry: int) -> float:
    """Steady-state bytes of a TTL dedup store: rate x window x bytes per entry."""
    return ttl_store_entries(rate_per_s, window_s) * bytes_per_entry


# -- FIFO connections -----------------------------------------------------------------


def fifo_mean_delay(mean_latency_s: float, gap_s: float) -> float:
    """Mean send -> arrival delay on a FIFO connection with exponential latency,
    packets sent every ``gap_s``.

    Model: packet n is sent at n x gap and would arrive after an independent
    exponential latency L_n, but never before packet n - 1 (how
    :mod:`alosim.model.link` keeps a connection in order). Its delay obeys
    D_n = max(L_n, D_{n-1} - gap); unrolled, D_n = max_j (L_{n-j} - j x gap),
    so in steady state P(D <= x) = prod_{j>=0} F(x + j x gap), F the latency
    CDF, and E[D] = integral_0^inf (1 - prod_j F(x + j x gap)) dx, evaluated
    here numerically (Simpson's rule; the integrand decays like e^(-x/mean)).

    Source: the derivation above, a Lindley-type recursion (D. V. Lindley,
    "The theory of queues with a single server", Proc. Cambridge Phil. Soc.
    48(2), 1952) with the maximum in place of the sum.
    """
    if mean_latency_s <= 0 or gap_s <= 0:
        raise ValueError(f"need mean_latency_s > 0 and gap_s > 0, got {mean_latency_s}, {gap_s}")

    def survival(x: float) -> float:
        log_p, j = 0.0, 0
        while True:
            z = (x + j * gap_s) / mean_latency_s
            if z > 40:  # the remaining factors are 1 to double precision
                break
            log_p += math.log1p(-math.exp(-z)) if z > 0 else -math.inf
            j += 1
        return 1.0 - math.exp(log_p)

    upper, steps = 40 * mean_latency_s, 20_000  # even, for Simpson's rule
    h = upper / steps
    total = survival(0.0) + survival(upper)
    for i in range(1, steps):
        total += (4 if i % 2 else 2) * survival(i * h)
    return total * h / 3


# -- confidence intervals -------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A confidence interval for a mean: ``low <= value <= high`` at ``level``."""

    estimate: float
    low: float
    high: float
    level: float

    def __contains__(self, value: float) -> bool:
        return self.low <= value <= self.high

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2

    def __str__(self) -> str:
        return f"{self.estimate:.6g} ± {self.half_width:.2g} ({self.level:.0%} CI)"


def _level(level: float) -> float:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    return level


def normal_quantile(prob: float) -> float:
    """The standard normal quantile (``statistics.NormalDist().inv_cdf``)."""
    return statistics.NormalDist().inv_cdf(prob)


def student_t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with integer ``df`` degrees of freedom, exactly.

    Uses the finite series of Abramowitz and Stegun, *Handbook of
    Mathematical Functions* (1964), 26.7.3 (odd df) and 26.7.4 (even df), in
    theta = arctan(t / sqrt(df)); O(df) operations.
    """
    if df < 1 or int(df) != df:
        raise ValueError(f"df must be a positive integer, got {df!r}")
    df = int(df)
    theta = math.atan(abs(t) / math.sqrt(df))
    sin, cos2 = math.sin(theta), math.cos(theta) ** 2
    if df % 2:
        if df == 1:
            central = 2.0 * theta / math.pi
        else:
            term = total = math.cos(theta)
            for j in range(3, df - 1, 2):
                term *= (j - 1) / j * cos2
                total += term
            central = 2.0 / math.pi * (theta + sin * total)
    else:
        term = total = 1.0
        for j in range(2, df - 1, 2):
            term *= (j - 1) / j * cos2
            total += term
        central = sin * total
    central = min(central, 1.0)  # P(|T| <= |t|)
    return 0.5 + central / 2 if t >= 0 else 0.5 - central / 2


# Above this many degrees of freedom the Cornish-Fisher expansion is used: its
# error there is below 1e-9 for probabilities up to 0.9995, and the exact
# series would cost O(df) per evaluation.
_T_SERIES_DF = 200


def student_t_quantile(prob: float, df: int) -> float:
    """The ``prob`` quantile of Student's t with integer ``df`` degrees of freedom.

    For df <= 200: bisection on the exact CDF (:func:`student_t_cdf`) to
    machine precision. Above: the Cornish-Fisher expansion around the
    normal quantile, Abramowitz and Stegun 26.7.5.
    """
    if not 0.0 < prob < 1.0:
        raise ValueError(f"prob must be in (0, 1), got {prob!r}")
    if df < 1 or int(df) != df:
        raise ValueError(f"df must be a positive integer, got {df!r}")
    if prob < 0.5:
        return -student_t_quantile(1.0 - prob, df)
    if prob == 0.5:
        return 0.0
    if df > _T_SERIES_DF:
        z = normal_quantile(prob)
        g1 = (z**3 + z) / 4
        g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
        g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
        g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
        return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4
    # Bisect on theta = arctan(t / sqrt(df)) in (0, pi/2), where the CDF is monotone.
    low, high = 0.0, math.pi / 2
    for _ in range(200):
        mid = (low + high) / 2
        if mid in (low, high):
            break
        if student_t_cdf(math.sqrt(df) * math.tan(mid), df) < prob:
            low = mid
        else:
            high = mid
    return math.sqrt(df) * math.tan((low + high) / 2)


def normal_interval(estimate: float, variance: float, n: int, level: float = 0.99) -> Interval:
    """Large-sample interval for a mean of ``n`` i.i.d. samples of known ``variance``.

    estimate ± z * sqrt(variance / n), z the normal quantile at (1 + level)/2
    (central limit theorem). Use it for per-message counts pooled over many
    messages, with the closed-form per-message variance.
    """
    if n < 1 or variance < 0:
        raise ValueError(f"need n >= 1 and variance >= 0, got {n}, {variance}")
    half = normal_quantile((1 + _level(level)) / 2) * math.sqrt(variance / n)
    return Interval(estimate, estimate - half, estimate + half, level)


def mean_interval(samples: Sequence[float], level: float = 0.99) -> Interval:
    """Student's t interval for the mean of a few i.i.d. replications.

    mean ± t_{n-1} * s / sqrt(n), s the sample standard deviation: exact for
    normal samples and a good approximation for per-seed averages of many
    messages (themselves nearly normal). Needs at least two samples.
    """
    n = len(samples)
    if n < 2:
        raise ValueError(f"need at least two samples for an interval, got {n}")
    mean = statistics.fmean(samples)
    sd = statistics.stdev(samples)
    half = student_t_quantile((1 + _level(level)) / 2, n - 1) * sd / math.sqrt(n)
    return Interval(mean, mean - half, mean + half, level)


# -- a receiver's capacity: queueing formulas ----------------------------------------
#
# Poisson arrivals at rate lambda, exponential processing at rate mu per worker,
# c workers, first come first served, nothing retransmitted (a timeout far
# above any wait, or a single attempt). Kleinrock, Queueing Systems vol. 1
# (1975), sections 3.5 and 3.6.


def erlang_c(workers: int, rate_per_s: float, service_rate_per_s: float) -> float:
    """M/M/c: the probability that an arrival waits (every worker busy), Erlang's C formula.

    With offered load a = lambda/mu and utilisation rho = a/c < 1,
    C(c, a) = (a^c/c!)/(1 - rho) / (sum_{k<c} a^k/k! + (a^c/c!)/(1 - rho)).
    For c = 1 it is rho.
    """
    if workers < 1:
        raise ValueError(f"need at least one worker, got {workers}")
    if rate_per_s <= 0 or service_rate_per_s <= 0:
        raise ValueError(f"rates must be positive, got {rate_per_s}, {service_rate_per_s}")
    a = rate_per_s / service_rate_per_s
    rho = a / workers
    if rho >= 1:
        raise ValueError(f"utilisation {rho:g} >= 1: the queue grows without bound")
    # The terms a^k/k!, built up one at a time (no factorial overflow).
    term, head = 1.0, 0.0
    for k in range(workers):
        head += term
        term *= a / (k + 1)
    tail = term / (1 - rho)
    return tail / (head + tail)


def mmc_mean_wait(workers: int, rate_per_s: float, service_rate_per_s: float) -> float:
    """M/M/c: the mean time an arrival waits for a worker, C(c, a)/(c mu - lambda)."""
    return (erlang_c(workers, rate_per_s, service_rate_per_s)
            / (workers * service_rate_per_s - rate_per_s))


def mmc_mean_sojourn(workers: int, rate_per_s: float, service_rate_per_s: float) -> float:
    """M/M/c: the mean time from arrival to processed, the wait plus 1/mu."""
    return mmc_mean_wait(workers, rate_per_s, service_rate_per_s) + 1.0 / service_rate_per_s


def mm1k_blocking(rate_per_s: float, service_rate_per_s: float, capacity: int) -> float:
    """M/M/1/K: the probability that an arrival finds the system full and is turned away.

    K = ``capacity`` counts every place, the one being processed included (a
    receiver with one worker and ``queue.capacity`` q has K = q + 1).
    rho^K (1 - rho)/(1 - rho^(K+1)) with rho = lambda/mu; 1/(K + 1) at rho = 1.
    Any load: a finite queue is always stable.
    """
    if capacity < 1:
        raise ValueError(f"need a capacity of at least 1, got {capacity}")
    if rate_per_s <= 0 or service_rate_per_s <= 0:
        raise ValueError(f"rates must be positive, got {rate_per_s}, {service_rate_per_s}")
    rho = rate_per_s / service_rate_per_s
    if math.isclose(rho, 1.0):
        return 1.0 / (capacity + 1)
    return rho**capacity * (1 - rho) / (1 - rho ** (capacity + 1))


# -- retry amplification: when retries become load ------------------------------------
#
# One M/M/1 receiver (service rate mu), Poisson arrivals at lambda, a sender that
# retransmits every T until acked, no loss, no dedup: every copy is processed.
# A copy queued behind the others makes its message's wait longer, the wait
# makes more copies, and the copies are load. The fixed point below is the
# approximation of that loop; it is not exact:
#
# * the copies are not a Poisson stream (a message's copies come T apart), so
#   the queue is not M/M/1 at the amplified rate;
# * the sender retries a message only while it is un-acked, and the ack is
#   for the first copy processed: the copies counted are 1 + #{k >= 1: kT < R},
#   R the sojourn of the message's first copy, taken as the M/M/1 sojourn at
#   the amplified rate, exponential with rate mu - lambda';
# * copies sent after the first one is processed are still processed (no
#   dedup) but no later copy adds a retry of its own.
#
# Then lambda' = lambda (1 + sum_k P(R > kT)) = lambda / (1 - q), with
# q = e^{-(mu - lambda') T}: the fixed points solve lambda'(1 - q(lambda')) = lambda.
# The left side rises from 0, peaks below mu and falls back to 0 at mu; a fixed
# point exists iff lambda is at most that peak, and the smallest one is the
# operating point reached from an empty queue. Above the peak the model has no
# steady state: the predicted congestion collapse.


def _amplification_peak(service_rate_per_s: float, timeout_s: float) -> float:
    """y* in (0, 1) where y (1 - e^{-u (1 - y)}) peaks, u = mu T: e^{u (1 - y)} = 1 + u y."""
    u = service_rate_per_s * timeout_s
    lo, hi = 0.0, 1.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if math.exp(u * (1 - mid)) > 1 + u * mid:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _served_copies_rate(x: float, service_rate_per_s: float, timeout_s: float) -> float:
    return x * (1 - math.exp(-(service_rate_per_s - x) * timeout_s))


def collapse_load(service_rate_per_s: float, timeout_s: float) -> float:
    """The largest load lambda/mu at which :func:`retry_amplification` has a fixed point.

    Above it the approximation predicts congestion collapse: retries add load
    faster than the queue can absorb it. An approximation (see the notes above
    :func:`retry_amplification`); it depends only on mu T (timeouts counted
    in service times): about 0.81 at mu T = 20, 0.90 at mu T = 50.
    """
    if service_rate_per_s <= 0 or timeout_s <= 0:
        raise ValueError(f"need a positive service rate and timeout, got {service_rate_per_s}, {timeout_s}")
    y = _amplification_peak(service_rate_per_s, timeout_s)
    return _served_copies_rate(y * service_rate_per_s, service_rate_per_s, timeout_s) / service_rate_per_s


def retry_amplification(rate_per_s: float, service_rate_per_s: float, timeout_s: float) -> float | None:
    """The amplified arrival rate lambda' (copies per second, first ones included), or
    None when no fixed point exists (predicted collapse).

    An **approximation**: fixed timeout ``timeout_s`` (T, measured from the
    transmission to the moment the receiver finishes; subtract any network
    latency first), no loss, every copy processed (no dedup), one worker with
    exponential service at ``service_rate_per_s`` (mu), Poisson arrivals at
    ``rate_per_s`` (lambda). Solves lambda' = lambda (1 + sum_{k>=1} P(R > kT))
    with P(R > t) = e^{-(mu - lambda') t}, the M/M/1 sojourn at lambda'; the
    smallest root, by bisection. The copies are not Poisson and only un-acked
    messages are retried, so expect agreement within about 10 % where the
    amplification matters, not to the last digit.
    """
    if rate_per_s <= 0 or service_rate_per_s <= 0 or timeout_s <= 0:
        raise ValueError(f"rates and timeout must be positive, got {rate_per_s}, "
                         f"{service_rate_per_s}, {timeout_s}")
    mu = service_rate_per_s
    top = _amplification_peak(mu, timeout_s) * mu
    if _served_copies_rate(top, mu, timeout_s) < rate_per_s:
        return None
    lo, hi = rate_per_s, top  # the rate of served copies rises over [lambda, top]
    for _ in range(200):
        mid = (lo + hi) / 2
        if _served_copies_rate(mid, mu, timeout_s) < rate_per_s:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


# -- pipelines: the broker's redelivery ---------------------------------------------
#
# The consume hop (broker -> consumer) as :mod:`alosim.model.broker` models it:
# every delivery is a lease of V; if no ack of any delivery of the message has
# arrived when a lease ends, the broker delivers again at once; an ack of any
# delivery settles the message.


def _exceeds(x: float, latency_s: float, mean_processing_s: float) -> float:
    """P(2L + S > x) for exponential processing S of mean s: e^{-(x - 2L)/s} above 2L, else 1."""
    if x <= 2 * latency_s:
        return 1.0
    if mean_processing_s == 0:
        return 0.0
    return math.exp(-(x - 2 * latency_s) / mean_processing_s)


def _lease_tail(visibility_s: float, latency_s: float, mean_processing_s: float,
                tol: float = 1e-15, limit: int = 100_000) -> list[float]:
    """P(R >= k) for k = 1, 2, ... until negligible (R: redeliveries of one message)."""
    if visibility_s <= 0 or latency_s < 0 or mean_processing_s < 0:
        raise ValueError("need visibility_s > 0, latency_s >= 0 and mean_processing_s >= 0")
    tail, product = [], 1.0
    for k in range(1, limit + 1):
        product *= _exceeds(k * visibility_s, latency_s, mean_processing_s)
        if product < tol:
            break
        tail.append(product)
    else:
        raise ValueError("the lease is too short for the processing time: redeliveries never stop")
    return tail


def lease_redeliveries(visibility_s: float, latency_s: float, mean_processing_s: float) -> float:
    """Expected redeliveries of a message whose processing may outlast its lease.

    Assumes: exponential processing time S (mean ``mean_processing_s``), a
    constant one-way latency L on both consume links (delivery and ack), no
    loss, a consumer with enough concurrency that every delivery starts at
    once, and no consumer store. Delivery i is made at (i-1)V after the first
    and its ack reaches the broker at (i-1)V + 2L + S_i. A redelivery happens
    at kV iff no delivery made so far has been acked: delivery i is acked by
    then iff 2L + S_i < (k - i + 1)V. These events are nested in k, so
    P(R >= k) = prod_{j=1..k} P(2L + S > jV) and

        E[R] = sum_{k>=1} prod_{j=1..k} P(2L + S > jV),

    with P(2L + S > x) = e^{-(x - 2L)/s} for x > 2L (1 otherwise). Without a
    consumer store every redelivery is processed: E[R] is also the expected
    duplicate effects per message. (E[R] = sum_k P(R >= k) for a count: Ross,
    *Introduction to Probability Models*, ch. 2.)
    """
    return math.fsum(_lease_tail(visibility_s, latency_s, mean_processing_s))


def lease_redeliveries_variance(visibility_s: float, latency_s: float, mean_processing_s: float) -> float:
    """Var[R] for :func:`lease_redeliveries`: E[R^2] = sum_k (2k - 1) P(R >= k)."""
    tail = _lease_tail(visibility_s, latency_s, mean_processing_s)
    mean = math.fsum(tail)
    second = math.fsum((2 * k - 1) * p for k, p in enumerate(tail, start=1))
    return second - mean * mean


# -- pipelines: what real brokers and clients add to the lease ---------------------
#
# Polled reclaim (Redis Streams' XAUTOCLAIM in a loop, job queues' stalled-job
# checks), the client's start delay and lease extension, derived in the frame
# of lease_redeliveries above. Source: the derivation in each docstring, from
# the broker's rules in alosim.model.broker and alosim.model.reclaim; the
# forward recurrence time of a renewal process is Ross, *Introduction to
# Probability Models*, ch. 7 (the equilibrium distribution of a renewal process).


def reclaim_wait_laplace(s: float, interval_s: float, jitter: bool = False) -> float:
    """E[exp(-s U)], U the wait from a lease's deadline to the next reclaim scan.

    On a grid of scans every I, a deadline at an instant uniform relative to
    the grid waits U ~ Uniform(0, I): E[e^{-sU}] = (1 - e^{-sI}) / (sI). With
    jittered scans (gaps Uniform(0, 2I), mean I) a deadline at an instant
    independent of the scans sees the equilibrium forward recurrence time of
    the renewal process, density P(G > u) / E[G] = (1 - u/(2I)) / I on [0, 2I]
    (Ross, ch. 7), so with T = 2I

        E[e^{-sU}] = (1/I) [ (1 - e^{-sT}) / s - (1 - e^{-sT} (1 + sT)) / (s^2 T) ].
    """
    if interval_s <= 0 or s < 0:
        raise ValueError(f"need interval_s > 0 and s >= 0, got {interval_s!r}, {s!r}")
    if s == 0:
        return 1.0
    if not jitter:
        x = s * interval_s
        return -math.expm1(-x) / x
    t = 2 * interval_s
    e = math.exp(-s * t)
    return ((1 - e) / s - (1 - e * (1 + s * t)) / (s * s * t)) / interval_s


#: A deadline this close after a scan is met by it (as ``alosim.model.reclaim.TOLERANCE_S``).
ON_A_SCAN_S = 1e-9


def _grid_overshoot(visibility_s: float, interval_s: float) -> float:
    """How far after its deadline a lease made at a grid scan is reclaimed:
    ceil(V / I) I - V (zero when V is a whole number of intervals)."""
    k = math.ceil((visibility_s - ON_A_SCAN_S) / interval_s)
    return max(k * interval_s - visibility_s, 0.0)


def polled_lease_tail(visibility_s: float, latency_s: float, mean_processing_s: float, *,
                      reclaim_interval_s: float | None = None, jitter: bool = False,
                      start_delay_mgf: float = 1.0, start_delay_max_s: float = 0.0,
                      tol: float = 1e-15, limit: int = 100_000) -> list[float]:
    """P(R >= k), k = 1, 2, ..., for R the redeliveries of one message whose lease
    ends at a reclaim scan, and whose processing starts after a start delay.

    Assumes what :func:`lease_redeliveries` assumes (exponential processing S
    of mean s, one constant latency L both ways on the consume links, no loss,
    every delivery starts at once: unbounded consumers, no consumer store),
    plus: each delivery's processing starts D after its arrival, D i.i.d. with
    moment generating function M(t) = E[e^{tD}] (``start_delay_mgf`` is
    M(1/s)) and D <= ``start_delay_max_s``; a lease ends at the first reclaim
    scan at or after its deadline, scans every I (``reclaim_interval_s``; None
    = at the deadline itself), and a redelivery is made at once, at that scan.

    Let s_0 be the first delivery, s_k the scan that ends the k-th lease (the
    k-th redelivery), G_k = s_k - s_{k-1}. Delivery i is acked by s_k iff 2L +
    D_i + S_i < s_k - s_{i-1}; as in :func:`lease_redeliveries` these events
    are nested in k, so R >= k iff 2L + D_i + S_i > s_k - s_{i-1} for every i
    <= k. With each s_k - s_{i-1} >= V > 2L + max D, P(2L + D + S > x) =
    M(1/s) e^{-(x - 2L)/s}, and since sum_i (s_k - s_{i-1}) = sum_j j G_j,

        P(R >= k) = (M(1/s) e^{2L/s})^k  prod_{j<=k} E[e^{-j G_j / s}].

    Without reclaim G_j = V (and the product is :func:`lease_redeliveries`'s).
    On a grid, the first delivery is made at a uniform phase of the grid
    (Poisson publishes), so G_1 = V + U with U ~ Uniform(0, I); but every
    redelivery is made at a scan, so its lease ends exactly ceil(V/I) I after
    it: G_j = ceil(V/I) I for j >= 2 -- the redelivered copy's lease does not
    behave as the first one's (for V a multiple of I it gets no extra time at
    all). Then P(R >= 1) = e^{-V/s} (s/I)(1 - e^{-I/s}) for L = D = 0. With
    jitter, G_j = V + U_j with U_j the equilibrium forward recurrence time
    (:func:`reclaim_wait_laplace`) for every j -- exact for the first lease,
    an approximation for a redelivered copy (its deadline is V after a scan,
    not at a random instant; the error is small once V spans a few gaps).
    """
    if visibility_s <= 0 or latency_s < 0 or mean_processing_s < 0:
        raise ValueError("need visibility_s > 0, latency_s >= 0 and mean_processing_s >= 0")
    if visibility_s <= 2 * latency_s + start_delay_max_s:
        raise ValueError("the lease is not longer than the round trip and the start delay: "
                         "the form assumes it is")
    if mean_processing_s == 0:
        return []
    a = 1 / mean_processing_s
    per_delivery = start_delay_mgf * math.exp(2 * latency_s * a)
    if reclaim_interval_s is not None and reclaim_interval_s <= 0:
        raise ValueError(f"need reclaim_interval_s > 0, got {reclaim_interval_s!r}")
    tail, product = [], 1.0
    for j in range(1, limit + 1):
        if reclaim_interval_s is None:
            gap = math.exp(-j * a * visibility_s)
        elif jitter:
            gap = math.exp(-j * a * visibility_s) * reclaim_wait_laplace(j * a, reclaim_interval_s, True)
        elif j == 1:
            gap = math.exp(-a * visibility_s) * reclaim_wait_laplace(a, reclaim_interval_s)
        else:
            gap = math.exp(-j * a * (visibility_s + _grid_overshoot(visibility_s, reclaim_interval_s)))
        product *= per_delivery * gap
        if product < tol:
            break
        if product >= 1:
            raise ValueError("the lease is too short for the processing time: redeliveries never stop")
        tail.append(product)
    return tail


def polled_lease_redeliveries(visibility_s: float, latency_s: float, mean_processing_s: float,
                              **options: float | bool | None) -> float:
    """E[R] = sum_k P(R >= k) for :func:`polled_lease_tail` (same arguments).
    Without a consumer store it is also the duplicate effects per message."""
    tail = polled_lease_tail(visibility_s, latency_s, mean_processing_s, **options)  # type: ignore[arg-type]
    return math.fsum(tail)


def polled_lease_redeliveries_variance(visibility_s: float, latency_s: float,
                                       mean_processing_s: float,
                                       **options: float | bool | None) -> float:
    """Var[R] for :func:`polled_lease_redeliveries`: E[R^2] = sum_k (2k - 1) P(R >= k)."""
    tail = polled_lease_tail(visibility_s, latency_s, mean_processing_s, **options)  # type: ignore[arg-type]
    mean = math.fsum(tail)
    return math.fsum((2 * k - 1) * p for k, p in enumerate(tail, start=1)) - mean * mean


def extended_lease(visibility_s: float, every_s: float, max_s: float | None,
                   latency_s: float = 0.0, start_delay_max_s: float = 0.0) -> float:
    """The lease a consumer that extends it holds a delivery for: ``max_s``
    (``inf`` without a maximum).

    Assumes the consumer sends an extension every E (``every_s``) from the
    start of processing, each resetting the lease to V from its arrival at the
    broker but never past M after the delivery (SQS ChangeMessageVisibility,
    JetStream's in-progress ack, Pub/Sub's modifyAckDeadline), on a link
    that loses nothing, with E + 2L + max D < V: then the first extension
    arrives before the first lease runs out, each one before the one before it
    runs out, and one arrives within V of the cap (they are E < V apart) and
    moves the end to the cap. So while processing goes on the lease ends
    exactly M after the delivery: the redeliveries are those of a plain lease
    of M -- :func:`lease_redeliveries` (or :func:`polled_lease_tail`) with V = M.
    Without a maximum a consumer that keeps working is never redelivered.
    """
    if every_s + 2 * latency_s + start_delay_max_s >= visibility_s:
        raise ValueError("an extension may arrive after the lease ran out: the form assumes "
                         "every + 2 latency + start delay < visibility")
    return math.inf if max_s is None else max_s


def deliveries_while_down(rate_per_s: float, down_s: float, consumers: int = 1,
                          pull: bool = False) -> float:
    """Expected deliveries made to one consumer while it is down for ``down_s``.

    Assumes Poisson publishes at ``rate_per_s``, instant processing (nothing is
    at work when the consumer goes down), consumers that otherwise always
    have room, and a lease longer than the outage. A push broker does not
    know the consumer is down and gives it every ``consumers``-th delivery
    (round robin), so it sends it a Poisson number of mean rate * down /
    consumers, each dropped and redelivered only when its lease runs out. A
    pull consumer fetches nothing while down: 0; with one consumer the
    rate * down messages published meanwhile wait, and are fetched at once
    when it comes back (none waits longer than the outage).
    """
    if rate_per_s < 0 or down_s < 0 or consumers < 1:
        raise ValueError("need rate_per_s >= 0, down_s >= 0 and consumers >= 1")
    return 0.0 if pull else rate_per_s * down_s / consumers


def dead_letter_probability(nack_probability: float, max_deliveries: int) -> float:
    """P(a message ends in the dead-letter queue) = q^D.

    Assumes every delivery fails (and is nacked) independently with
    probability q, nothing else ends a delivery (no loss, leases long enough),
    and the broker dead-letters after D deliveries without an ack (SQS's
    maxReceiveCount, JetStream's MaxDeliver, Service Bus's MaxDeliveryCount,
    RabbitMQ's delivery-limit): the message is dead-lettered iff its first D
    deliveries all fail.
    """
    q = _probability("nack_probability", nack_probability)
    if max_deliveries < 1:
        raise ValueError(f"max_deliveries must be at least 1, got {max_deliveries!r}")
    return q**max_deliveries


def dead_letter_deliveries(nack_probability: float, max_deliveries: int) -> float:
    """Expected deliveries per message under :func:`dead_letter_probability`'s
    assumptions: N = min(G, D), G geometric with failure probability q, so
    P(N >= k) = q^(k-1) for k <= D and E[N] = (1 - q^D) / (1 - q)."""
    q = _probability("nack_probability", nack_probability)
    if max_deliveries < 1:
        raise ValueError(f"max_deliveries must be at least 1, got {max_deliveries!r}")
    if q == 1:
        return float(max_deliveries)
    return (1 - q**max_deliveries) / (1 - q)


def dead_letter_deliveries_variance(nack_probability: float, max_deliveries: int) -> float:
    """Var[N] for :func:`dead_letter_deliveries`: E[N^2] = sum_{k<=D} (2k - 1) q^(k-1)."""
    q = _probability("nack_probability", nack_probability)
    mean = dead_letter_deliveries(q, max_deliveries)
    second = math.fsum((2 * k - 1) * q ** (k - 1) for k in range(1, max_deliveries + 1))
    return second - mean * mean


@dataclass(frozen=True)
class TwoHops:
    """Duplicate effects per message of a pipeline, by the hop they were born on."""

    publish: float  #: extra broker entries: producer retries the broker did not catch
    consume: float  #: redeliveries processed again, over every entry
    total: float


def two_hop_duplicates(p_publish: float, p_publish_ack: float,
                       p_delivery: float, p_consumer_ack: float) -> TwoHops:
    """Duplicate effects per message through producer -> broker -> consumer.

    Assumes each hop is the retry model at the top of this module: Bernoulli
    losses, a retry timeout (producer) and a lease (broker) well above the
    hop's round trip so that only a loss causes a retry or a redelivery,
    unlimited retries and deliveries, no dedup store anywhere. Then the hops
    are independent: the producer makes 1 + d_a broker entries on average,
    d_a = :func:`duplicates_per_message` (p_publish, p_publish_ack) (= p_a /
    (1 - p_a) with no publish loss), and each entry, independently, causes
    1 + d_c effects, d_c = :func:`duplicates_per_message` (p_delivery,
    p_consumer_ack). By Wald's identity the effects per message are
    (1 + d_a)(1 + d_c): the publish hop adds d_a duplicates (each extra
    entry's first effect) and the consume hop (1 + d_a) d_c.
    """
    d_a = duplicates_per_message(p_publish, p_publish_ack)
    d_c = duplicates_per_message(p_delivery, p_consumer_ack)
    return TwoHops(publish=d_a, consume=(1 + d_a) * d_c, total=(1 + d_a) * (1 + d_c) - 1)


# -- pipelines on a log: offsets and commits ---------------------------------------
#
# One consumer of a log (:mod:`alosim.model.group`) reading its partitions, fed
# Poisson at rate lambda, processing instantly, crashing at times independent
# of everything else (so at a uniform phase of a periodic commit clock) and
# restarting from the last committed offset. Source: the definitions of the
# commit policies (Kafka's enable.auto.commit, commitSync); derivations below.


def auto_commit_duplicates_per_crash(rate_per_s: float, interval_s: float) -> float:
    """E[duplicate effects per crash] with a commit every T = ``interval_s``.

    A crash at a uniform phase U ~ Uniform(0, T) of the commit clock replays
    what was processed since the last commit: Poisson(lambda U) records, so
    E = lambda T / 2 (and E[.. | U] <= lambda T). Assumes instant processing
    (processed = arrived), a crash rare against T, no loss of the commit."""
    if rate_per_s < 0 or interval_s <= 0:
        raise ValueError(f"need rate >= 0 and interval > 0, got {rate_per_s}, {interval_s}")
    return rate_per_s * interval_s / 2


def auto_commit_duplicates_variance(rate_per_s: float, interval_s: float) -> float:
    """Var[duplicates per crash] for :func:`auto_commit_duplicates_per_crash`:
    a Poisson mixed over lambda U, U uniform: lambda T / 2 + (lambda T)^2 / 12."""
    mean = auto_commit_duplicates_per_crash(rate_per_s, interval_s)
    return mean + (rate_per_s * interval_s) ** 2 / 12


def commit_after_each_duplicates_per_crash(rate_per_s: float, commit_latency_s: float) -> float:
    """E[duplicate effects per crash] committing synchronously after each effect.

    Only the record whose commit is in flight is replayed: at most one per
    crash. The consumer is then a queue with Poisson arrivals and a constant
    service c (the commit; processing is instant), busy a fraction
    rho = lambda c of the time (M/D/1 utilisation); a crash at a time
    independent of it (PASTA) finds a commit in flight with probability rho.
    Needs rho < 1."""
    rho = rate_per_s * commit_latency_s
    if not 0 <= rho < 1:
        raise ValueError(f"need 0 <= rate * commit latency < 1, got {rho}")
    return rho


def commit_before_processing_losses_per_crash(fetch_batch: int) -> float:
    """E[records lost per crash] committing a batch before processing it.

    A saturated consumer (always a backlog) with a constant processing time
    fetches ``fetch_batch`` = b records, commits them, and processes them one
    by one; a crash at a uniform time within a batch finds j = 1..b records
    not yet processed, each j equally likely: E = (b + 1) / 2 (1 when b = 1:
    the message in progress)."""
    if fetch_batch < 1:
        raise ValueError(f"need fetch_batch >= 1, got {fetch_batch}")
    return (fetch_batch + 1) / 2


def reordered_per_message(p_data: float, window: int, idempotent: bool) -> float:
    """Fraction of messages appended after a later message of their partition.

    A producer with ``window`` = m publishes in flight (max.in.flight), data
    loss p, no ack loss, a retry timeout far above the round trip, a closed
    loop (the window always full). A message whose first publish is lost is
    retried after the timeout; meanwhile the other m - 1 slots keep
    publishing later messages, which get appended first: so with m > 1 it is
    reordered exactly when its first publish is lost, probability p (each
    message independently: Bernoulli, variance p (1 - p)). With m = 1 nothing
    overtakes it; with idempotence the log refuses publishes out of sequence:
    0 either way."""
    _probability("p_data", p_data)
    if window < 1:
        raise ValueError(f"need window >= 1, got {window}")
    return 0.0 if idempotent or window == 1 else p_data


__all__ = [
    "auto_commit_duplicates_per_crash",
    "auto_commit_duplicates_variance",
    "commit_after_each_duplicates_per_crash",
    "commit_before_processing_losses_per_crash",
    "reordered_per_message",
    "erlang_c",
    "mm1k_blocking",
    "mmc_mean_sojourn",
    "mmc_mean_wait",
    "BloomParameters",
    "TwoHops",
    "dead_letter_deliveries",
    "dead_letter_deliveries_variance",
    "dead_letter_probability",
    "lease_redeliveries",
    "lease_redeliveries_variance",
    "two_hop_duplicates",
    "Interval",
    "PerMessage",
    "at_most_once_loss",
    "bloom_false_positive_rate",
    "bloom_optimal_bits",
    "bloom_optimal_hashes",
    "bloom_parameters",
    "collapse_load",
    "deliveries_per_message",
    "deliveries_variance",
    "duplicates_per_message",
    "duplicates_variance",
    "fifo_mean_delay",
    "gave_up_probability",
    "gilbert_burst_length",
    "gilbert_burst_length_variance",
    "gilbert_loss_rate",
    "gilbert_loss_rate_variance",
    "mean_interval",
    "never_delivered_probability",
    "normal_interval",
    "normal_quantile",
    "per_message",
    "retry_amplification",
    "student_t_cdf",
    "student_t_quantile",
    "transmissions_per_message",
    "transmissions_variance",
    "ttl_store_bytes",
    "ttl_store_entries",
    "ttl_store_entries_variance",
]
