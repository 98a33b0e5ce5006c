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
``sequence``   per sender (one connection each): a mark     never, except after a volatile
               below which every number is done, and the    store is wiped (numbers above the
               out-of-order numbers above it; each packet   floor processed before the crash);
               carries the sender's floor, which closes     a late copy of a given-up message
               gaps left by given-up or abandoned messages  is dropped (``stale_drops``)
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
    #: Its size (entries and bytes) never falls but when it is cleared.
    only_grows: bool

    @property
    def nbytes(self) -> int: ...

    @property
    def sizing(self) -> tuple[int, int]: ...

    def seen(self, msg: Message, now: float) -> bool: ...

    def add(self, msg: Message, now: float) -> None: ...

    def check_in(self, msg: Message, now: float) -> bool: ...

    def expire(self, now: float) -> None: ...

    def clear(self) -> None: ...


class _Store:
    kind = "none"
    miss_cause = "no_dedup"
    # Whether entries and bytes never fall between clears: then the largest size over
    # any stretch without a clear is the size at its end, and a hot path may pass its
    # size on at sampling points rather than at every id (its peak stays the same).
    only_grows = False
    #: Entries held: counted by each store as it adds and drops them (a set's is its size).
    entries = 0

    def __init__(self, bytes_per_entry: int = 64) -> None:
        self.bytes_per_entry = bytes_per_entry

    @property
    def nbytes(self) -> int:
        return self.entries * self.bytes_per_entry

    @property
    def sizing(self) -> tuple[int, int]:
        """What :attr:`nbytes` is made of: (fixed bytes, bytes per entry), so that a hot
        path can size the store from its ``entries`` without a call."""
        return 0, self.bytes_per_entry

    def check_in(self, msg: Message, now: float) -> bool:
        """:meth:`seen`, then :meth:`add` if not: whether ``msg`` was new. The same as the
        two calls apart for a caller that reads nothing of the store in between."""
        if self.seen(msg, now):  # type: ignore[attr-defined]
            return False
        self.add(msg, now)  # type: ignore[attr-defined]
        return True

    def expire(self, now: float) -> None:
        """Drop what has aged out by ``now`` (only the TTL store ages)."""

    def clear(self) -> None:
        self.entries = 0


class NoDedup(_Store):
    only_grows = True  # it holds nothing

    def seen(self, msg: Message, now: float) -> bool:
        return False

    def add(self, msg: Message, now: float) -> None:
        pass


class SetDedup(_Store):
    kind = "set"
    miss_cause = "unexplained"  # a set never forgets: only a crash can
    only_grows = True

    def __init__(self, bytes_per_entry: int = 64) -> None:
        super().__init__(bytes_per_entry)
        self._ids: set[int] = set()

    def seen(self, msg: Message, now: float) -> bool:
        return msg.key in self._ids

    def add(self, msg: Message, now: float) -> None:
        self._ids.add(msg.key)

    @property
    def entries(self) -> int:  # type: ignore[override]
        """The keys it holds: the set's own size, so that nothing counts them one by one."""
        return len(self._ids)

    @property
    def nbytes(self) -> int:
        return len(self._ids) * self.bytes_per_entry  # (entries x bytes per entry, in one call)

    @property
    def keys(self) -> set[int]:
        """The keys it holds, for a hot path that checks a key in itself -- as
        :meth:`check_in` does: a key not in it is added (and counted in ``entries``
        by that alone). The same set for the store's life (:meth:`clear` empties it in place)."""
        return self._ids

    def check_in(self, msg: Message, now: float) -> bool:
        key, ids = msg.key, self._ids
        if key in ids:
            return False
        ids.add(key)
        return True

    def clear(self) -> None:
        self._ids.clear()


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
        return msg.key in self._expiry

    def add(self, msg: Message, now: float) -> None:
        self.expire(now)
        if msg.key not in self._expiry:
            expiry = now + self.window
            self._expiry[msg.key] = expiry
            self._order.append((expiry, msg.key))
            self.entries += 1

    def clear(self) -> None:
        self._expiry.clear()
        self._order.clear()
        self.entries = 0


class LRUDedup(_Store):
    """Keeps the ``capacity`` most recently recorded or matched ids."""

    kind = "lru"
    miss_cause = "evicted_by_capacity"
    only_grows = True  # full, it evicts one id for each it adds

    def __init__(self, capacity: int, bytes_per_entry: int = 64) -> None:
        super().__init__(bytes_per_entry)
        self.capacity = capacity
        self._ids: OrderedDict[int, None] = OrderedDict()

    def seen(self, msg: Message, now: float) -> bool:
        if msg.key in self._ids:
            self._ids.move_to_end(msg.key)
            return True
        return False

    def add(self, msg: Message, now: float) -> None:
        if msg.key in self._ids:
            self._ids.move_to_end(msg.key)
            return
        self._ids[msg.key] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        self.entries = len(self._ids)

    def clear(self) -> None:
        self._ids.clear()
        self.entries = 0


class SequenceDedup(_Store):
    """Sequence numbers per connection, as Kafka's idempotent producer (per
    producer and partition) and Pulsar deduplicate.

    Each sender numbers its messages to this receiver 0, 1, 2, ... For each
    sender the store keeps a mark -- every number at or below it is done --
    and the numbers above it that were processed out of order; the mark moves
    up as the gap below them fills.

    A gap may never fill: the sender gave up on that message or abandoned it
    in a crash, or this store was wiped by a crash. So every transmission
    carries its connection's *floor*, the lowest number the sender may still
    send (everything below it is acked, given up or abandoned), and the store
    raises its mark to just below the floor -- as Kafka's producer epoch bump
    after a give-up, or QUIC's least-unacked. Entries are then bounded by the
    numbers between the floor and the newest arrival: what is in flight.

    What the rule lets through, and what it drops: after a volatile store is
    wiped, numbers between the floor and those processed before the crash are
    processed again (charged to ``store_lost_in_crash``). A late copy of a
    message the sender had already given up on, arriving after the mark moved
    past it, is dropped: counted in ``stale_drops`` (and, if it was never
    processed, it is lost under the sender's cause, which it was anyway).
    """

    kind = "sequence"
    miss_cause = "unexplained"

    def __init__(self, bytes_per_entry: int = 64) -> None:
        super().__init__(bytes_per_entry)
        self._high: dict[int, int] = {}  # sender -> highest number below which all are done
        self._above: dict[int, set[int]] = {}  # sender -> processed numbers above it

    def _raise_mark(self, sender: int, floor: int) -> int:
        """Everything below the sender's ``floor`` is done: move the mark up to it."""
        high = self._high.get(sender, -1)
        if floor - 1 > high:
            high = floor - 1
            above = self._above.get(sender)
            if above:
                # Sorted: which numbers leave the set must not depend on set order.
                for seq in sorted(n for n in above if n <= high):
                    above.remove(seq)
                    self.entries -= 1
                while high + 1 in above:
                    high += 1
                    above.remove(high)
                    self.entries -= 1
            self._high[sender] = high
        return high

    def seen(self, msg: Message, now: float) -> bool:
        sender = msg.sender
        if sender not in self._high:
            self._high[sender] = -1
            self._above[sender] = set()
            self.entries += 1  # the mark itself
        high = self._raise_mark(sender, msg.floor)
        return msg.seq <= high or msg.seq in self._above[sender]

    def add(self, msg: Message, now: float) -> None:
        sender = msg.sender
        if sender not in self._high:
            self._high[sender] = -1
            self._above[sender] = set()
            self.entries += 1
        high = self._raise_mark(sender, msg.floor)
        above = self._above[sender]
        if msg.seq <= high or msg.seq in above:
            return
        if msg.seq == high + 1:
            high += 1
            while high + 1 in above:
                high += 1
                above.remove(high)
                self.entries -= 1
            self._high[sender] = high
        else:
            above.add(msg.seq)
            self.entries += 1

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
    from double hashing (Kirsch & Mitzenmacher 2006) of a 64-bit mix of the
    id and a ``salt`` drawn from the run's random streams: which ids collide
    changes with the seed (so replications differ, as real hash seeds do)
    and is the same on every machine for a given seed."""

    kind = "bloom"
    miss_cause = "unexplained"
    only_grows = True  # its bits are allocated whole; entries only grow

    def __init__(self, capacity: int, fp_rate: float, salt: int = 0) -> None:
        super().__init__(bytes_per_entry=1)
        self.salt = salt & _MASK
        self.capacity = capacity
        self.fp_rate = fp_rate
        self.m, self.k = bloom_size(capacity, fp_rate)
        self._bits = bytearray((self.m + 7) // 8)

    @property
    def nbytes(self) -> int:
        return len(self._bits)

    @property
    def sizing(self) -> tuple[int, int]:
        return len(self._bits), 0  # its bits, whatever it holds

    def _positions(self, key: int) -> list[int]:
        h = _mix64(key ^ self.salt)
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
        return self.contains(msg.key)

    def add(self, msg: Message, now: float) -> None:
        if not self.contains(msg.key):
            self.insert(msg.key)
            self.entries += 1

    def clear(self) -> None:
        self._bits = bytearray(len(self._bits))
        self.entries = 0


def make_store(spec: Dedup, salt: int = 0) -> DedupStore:
    """The store ``spec`` describes; ``salt`` seeds a Bloom filter's hashes."""
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
        return BloomDedup(spec.capacity, spec.fp_rate, salt)
    raise ValueError(f"unknown dedup store kind {kind!r}")
