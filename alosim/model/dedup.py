"""Deduplication stores: how a receiver remembers which messages it processed.

Every store answers ``seen(msg, now)`` before a message is processed and
learns ``add(msg, now)`` once its side effect is done; ``entries`` and
``nbytes`` say what it holds. The receiver consults its store when it takes
a message from its queue; a message the store has seen is acked again but
not processed again.

=============  ===========================================  ==================================
kind           remembers                                    lets a duplicate through when
=============  ===========================================  ==================================
``none``       nothing                                      always (at-least-once)
``set``        every id, forever                            never (but grows without bound)
``ttl``        each id for ``window`` after recording it    the id expired (window too short)
``lru``        the ``capacity`` most recently used ids      the id was evicted by capacity
``sequence``   per sender: the highest sequence number      never (Kafka / Pulsar style); the
               below which all were processed, and the      out-of-order set grows only while
               out-of-order numbers above it                gaps are open
``bloom``      a Bloom filter sized for ``capacity`` ids    never -- but a false positive
                                                            drops a *new* message: a loss
=============  ===========================================  ==================================

A volatile store is emptied when its receiver crashes (``clear``); a
durable one survives. Stores report their own size: ``entries`` times
``bytes_per_entry``, except the Bloom filter, whose bit array is allocated
whole.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Protocol

from alosim.analytic import bloom_parameters

if TYPE_CHECKING:
    from alosim.model.message import Message
    from alosim.scenario import Dedup


class DedupStore(Protocol):
    kind: str
    entries: int
    #: Why an id that was recorded may no longer be found (for attribution).
    miss_cause: str

    @property
    def nbytes(self) -> int: ...

    def seen(self, msg: Message, now: float) -> bool: ...

    def add(self, msg: Message, now: float) -> None: ...

    def expire(self, now: float) -> None: ...

    def clear(self) -> None: ...


class _Store:
    kind = "none"
    miss_cause = "no_dedup"

    def __init__(self, bytes_per_entry: int = 64) -> None:
        self.bytes_per_entry = bytes_per_entry
        self.entries = 0

    @property
    def nbytes(self) -> int:
        return self.entries * self.bytes_per_entry

    def expire(self, now: float) -> None:
        """Drop what has aged out by ``now`` (only the TTL store ages)."""

    def clear(self) -> None:
        self.entries = 0


class NoDedup(_Store):
    def seen(self, msg: Message, now: float) -> bool:
        return False

    def add(self, msg: Message, now: float) -> None:
        pass


class SetDedup(_Store):
    kind = "set"
    miss_cause = "unexplained"  # a set never forgets: only a crash can

    def __init__(self, bytes_per_entry: int = 64) -> None:
        super().__init__(bytes_per_entry)
        self._ids: set[int] = set()

    def seen(self, msg: Message, now: float) -> bool:
        return msg.id in self._ids

    def add(self, msg: Message, now: float) -> None:
        if msg.id not in self._ids:
            self._ids.add(msg.id)
            self.entries += 1

    def clear(self) -> None:
        self._ids.clear()
        self.entries = 0


class TTLDedup(_Store):
    """Remembers an id for ``window`` seconds after it was recorded (SQS FIFO,
    NATS JetStream, Azure Service Bus duplicate detection)."""

    kind = "ttl"
    miss_cause = "window_expired"

    def __init__(self, window: float, bytes_per_entry: int = 64) -> None:
        super().__init__(bytes_per_entry)
        self.window = window
        self._expiry: dict[int, float] = {}
        self._order: deque[tuple[float, int]] = deque()  # (expiry, id): expiries only grow

    def expire(self, now: float) -> None:
        order = self._order
        while order and order[0][0] <= now:
            _, key = order.popleft()
            del self._expiry[key]
        self.entries = len(self._expiry)

    def seen(self, msg: Message, now: float) -> bool:
        self.expire(now)
        return msg.id in self._expiry

    def add(self, msg: Message, now: float) -> None:
        self.expire(now)
        if msg.id not in self._expiry:
            expiry = now + self.window
            self._expiry[msg.id] = expiry
            self._order.append((expiry, msg.id))
            self.entries += 1

    def clear(self) -> None:
        self._expiry.clear()
        self._order.clear()
        self.entries = 0


class LRUDedup(_Store):
    """Keeps the ``capacity`` most recently recorded or matched ids."""

    kind = "lru"
    miss_cause = "evicted_by_capacity"

    def __init__(self, capacity: int, bytes_per_entry: int = 64) -> None:
        super().__init__(bytes_per_entry)
        self.capacity = capacity
        self._ids: OrderedDict[int, None] = OrderedDict()

    def seen(self, msg: Message, now: float) -> bool:
        if msg.id in self._ids:
            self._ids.move_to_end(msg.id)
            return True
        return False

    def add(self, msg: Message, now: float) -> None:
        if msg.id in self._ids:
            self._ids.move_to_end(msg.id)
            return
        self._ids[msg.id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        self.entries = len(self._ids)

    def clear(self) -> None:
        self._ids.clear()
        self.entries = 0


class SequenceDedup(_Store):
    """Per-sender sequence numbers, as Kafka's idempotent producer and Pulsar
    deduplicate: everything at or below a sender's high-water mark was
    processed; numbers above it that arrived out of order are kept until the
    gap below them fills."""

    kind = "sequence"
    miss_cause = "unexplained"

    def __init__(self, bytes_per_entry: int = 64) -> None:
        super().__init__(bytes_per_entry)
        self._high: dict[int, int] = {}  # sender -> highest contiguous processed seq
        self._above: dict[int, set[int]] = {}  # sender -> processed seqs above it

    def seen(self, msg: Message, now: float) -> bool:
        high = self._high.get(msg.sender, -1)
        return msg.seq <= high or msg.seq in self._above.get(msg.sender, ())

    def add(self, msg: Message, now: float) -> None:
        sender = msg.sender
        high = self._high.get(sender, -1)
        above = self._above.setdefault(sender, set())
        if msg.seq <= high or msg.seq in above:
            return
        if msg.seq == high + 1:
            high += 1
            while high + 1 in above:
                high += 1
                above.remove(high)
            self._high[sender] = high
        else:
            above.add(msg.seq)
        self.entries = len(self._high) + sum(len(s) for s in self._above.values())

    def clear(self) -> None:
        self._high.clear()
        self._above.clear()
        self.entries = 0


def bloom_size(capacity: int, fp_rate: float) -> tuple[int, int]:
    """Bits ``m`` and hash functions ``k`` for ``capacity`` ids at ``fp_rate``
    (see :func:`alosim.analytic.bloom_parameters`)."""
    params = bloom_parameters(capacity, fp_rate)
    return params.m_bits, params.k_hashes


_MASK = (1 << 64) - 1


def _mix64(x: int) -> int:
    """SplitMix64's finaliser: a fixed, well-spread 64-bit hash of an integer."""
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


class BloomDedup(_Store):
    """A Bloom filter: ``k`` bits per id in an ``m``-bit array. Never forgets an
    id, never grows, but answers "seen" for some ids it never saw -- with
    probability about (1 - e^(-kn/m))^k after n insertions. Bit positions come
    from double hashing (Kirsch & Mitzenmacher 2006) of a fixed 64-bit mix of
    the id, so they are the same on every machine."""

    kind = "bloom"
    miss_cause = "unexplained"

    def __init__(self, capacity: int, fp_rate: float) -> None:
        super().__init__(bytes_per_entry=1)
        self.capacity = capacity
        self.fp_rate = fp_rate
        self.m, self.k = bloom_size(capacity, fp_rate)
        self._bits = bytearray((self.m + 7) // 8)

    @property
    def nbytes(self) -> int:
        return len(self._bits)

    def _positions(self, key: int) -> list[int]:
        h = _mix64(key)
        h1, h2 = h & 0xFFFFFFFF, (h >> 32) | 1
        m = self.m
        return [(h1 + i * h2) % m for i in range(self.k)]

    def contains(self, key: int) -> bool:
        bits = self._bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))

    def insert(self, key: int) -> None:
        bits = self._bits
        for p in self._positions(key):
            bits[p >> 3] |= 1 << (p & 7)

    def seen(self, msg: Message, now: float) -> bool:
        return self.contains(msg.id)

    def add(self, msg: Message, now: float) -> None:
        if not self.contains(msg.id):
            self.insert(msg.id)
            self.entries += 1

    def clear(self) -> None:
        self._bits = bytearray(len(self._bits))
        self.entries = 0


def make_store(spec: Dedup) -> DedupStore:
    kind = spec.kind or "none"
    if kind == "none":
        return NoDedup(spec.bytes_per_entry)
    if kind == "set":
        return SetDedup(spec.bytes_per_entry)
    if kind == "ttl":
        assert spec.window is not None
        return TTLDedup(spec.window, spec.bytes_per_entry)
    if kind == "lru":
        assert spec.capacity is not None
        return LRUDedup(spec.capacity, spec.bytes_per_entry)
    if kind == "sequence":
        return SequenceDedup(spec.bytes_per_entry)
    if kind == "bloom":
        assert spec.capacity is not None and spec.fp_rate is not None
        return BloomDedup(spec.capacity, spec.fp_rate)
    raise ValueError(f"unknown dedup store kind {kind!r}")
