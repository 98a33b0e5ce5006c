import math

import numpy as np
import pytest

from alosim.model.dedup import (
    BloomDedup,
    LRUDedup,
    SequenceDedup,
    SetDedup,
    TTLDedup,
    bloom_size,
)
from alosim.model.message import Message


def msg(i: int, sender: int = 0, seq: int | None = None) -> Message:
    return Message(i, sender, i if seq is None else seq, 0, 0.0)


def test_set_remembers_forever_and_forgets_on_clear():
    store = SetDedup(bytes_per_entry=10)
    store.add(msg(1), 0.0)
    store.add(msg(1), 5.0)
    assert store.seen(msg(1), 1e9) and not store.seen(msg(2), 0.0)
    assert store.entries == 1 and store.nbytes == 10
    store.clear()
    assert not store.seen(msg(1), 0.0) and store.entries == 0


def test_ttl_forgets_after_the_window_and_shrinks():
    store = TTLDedup(window=2.0)
    store.add(msg(1), 0.0)
    store.add(msg(2), 1.0)
    assert store.seen(msg(1), 1.999)
    assert not store.seen(msg(1), 2.0)  # expired exactly at recorded + window
    assert store.entries == 1
    assert store.seen(msg(2), 2.5)
    store.expire(10.0)
    assert store.entries == 0
    assert store.miss_cause == "window_expired"


def test_lru_evicts_the_least_recently_used():
    store = LRUDedup(capacity=2)
    store.add(msg(1), 0)
    store.add(msg(2), 0)
    assert store.seen(msg(1), 0)  # 1 is now the most recent
    store.add(msg(3), 0)  # evicts 2
    assert store.seen(msg(1), 0) and store.seen(msg(3), 0) and not store.seen(msg(2), 0)
    assert store.entries == 2


def test_sequence_keeps_a_high_water_mark_and_the_gaps_above_it():
    store = SequenceDedup()
    for seq in (0, 1, 3, 4):
        store.add(msg(seq, seq=seq), 0)
    assert store.seen(msg(1, seq=1), 0) and store.seen(msg(4, seq=4), 0)
    assert not store.seen(msg(2, seq=2), 0)
    assert store.entries == 1 + 2  # one sender's mark, two above it
    store.add(msg(2, seq=2), 0)
    assert store.entries == 1  # the gap closed: everything up to 4 is below the mark
    assert store.seen(msg(3, seq=3), 0)
    other = msg(100, sender=1, seq=0)
    assert not store.seen(other, 0)
    store.add(other, 0)
    assert store.entries == 2


def test_bloom_sizing_meets_its_target_with_the_fewest_bits():
    m, k = bloom_size(10_000, 0.01)
    assert k == 7  # round(-log2(0.01))
    rate = lambda bits: (1 - math.exp(-k * 10_000 / bits)) ** k  # noqa: E731
    assert rate(m) <= 0.01 < rate(m - 1)
    # Within a fraction of a percent of the continuous optimum -n ln p / (ln 2)^2.
    assert m == pytest.approx(-10_000 * math.log(0.01) / math.log(2) ** 2, rel=0.002)


def test_bloom_never_forgets_and_its_size_is_fixed():
    store = BloomDedup(capacity=1000, fp_rate=0.01)
    for i in range(1000):
        store.add(msg(i), 0)
    assert all(store.seen(msg(i), 0) for i in range(1000))
    assert store.nbytes == (store.m + 7) // 8


@pytest.mark.parametrize("fill", [0.5, 1.0, 2.0])
def test_bloom_false_positive_rate_matches_the_closed_form(fill):
    capacity, target = 2000, 0.02
    store = BloomDedup(capacity=capacity, fp_rate=target)
    n = int(capacity * fill)
    for key in np.random.default_rng(4).integers(0, 10**12, n).tolist():
        store.insert(key)
    probes = 40_000
    keys = np.random.default_rng(5).integers(10**12, 2 * 10**12, probes).tolist()
    hits = sum(store.contains(k) for k in keys)
    q = 1 - math.exp(-store.k * n / store.m)  # expected fraction of bits set
    expected = q**store.k
    # 99.9% interval: the probes are binomial given the filter, and the filter
    # itself is random -- its fill q varies by about sqrt(q(1-q)/m), which
    # moves the rate q^k by k q^(k-1) as much (delta method).
    var_probes = expected * (1 - expected) / probes
    var_fill = (store.k * q ** (store.k - 1)) ** 2 * q * (1 - q) / store.m
    half = 3.29 * math.sqrt(var_probes + var_fill)
    assert abs(hits / probes - expected) <= half


def stores() -> list:
    return [SetDedup(bytes_per_entry=10), TTLDedup(window=2.0), LRUDedup(capacity=3), SequenceDedup(),
            BloomDedup(capacity=50, fp_rate=0.05, salt=7)]


@pytest.mark.parametrize("kind", range(5))
def test_check_in_answers_and_records_as_seen_then_add(kind):
    # One store checked in, a twin asked and written apart: the same answers, the same contents.
    one, two = stores()[kind], stores()[kind]
    keys = [3, 1, 3, 4, 2, 1, 0, 5, 4, 6, 1, 7]
    for t, key in enumerate(keys):
        now = 0.5 * t
        new = not two.seen(msg(key), now)
        if new:
            two.add(msg(key), now)
        assert one.check_in(msg(key), now) == new, (key, now)
        assert (one.entries, one.nbytes) == (two.entries, two.nbytes)
    assert [one.seen(msg(k), 6.0) for k in range(9)] == [two.seen(msg(k), 6.0) for k in range(9)]


@pytest.mark.parametrize("kind", range(5))
def test_a_stores_sizing_gives_its_size_at_any_fill(kind):
    store = stores()[kind]
    for t, key in enumerate([0, 1, 2, 3, 5, 8, 4, 9, 6, 7]):
        store.add(msg(key), 0.5 * t)
        fixed, per_entry = store.sizing
        assert store.nbytes == fixed + store.entries * per_entry
    store.clear()
    fixed, per_entry = store.sizing
    assert store.nbytes == fixed + store.entries * per_entry
