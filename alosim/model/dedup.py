"""Deduplication stores: how a receiver remembers which ids it has processed.

Every store answers ``seen(id, now)`` and learns ``add(id, now)`` after a
message has been processed, and reports how many entries it holds. The
receiver consults it when it takes a message from its queue; a message it
has seen is acknowledged again but not processed again.

* :class:`NoDedup` remembers nothing: every arrival is processed
  (at-least-once).
* :class:`SetDedup` remembers every id forever: no duplicate escapes, and the
  store grows by one entry per unique message (exactly-once, at a cost).
"""

from __future__ import annotations

from typing import Protocol


class DedupStore(Protocol):
    entries: int

    def seen(self, key: int, now: float) -> bool: ...

    def add(self, key: int, now: float) -> int:
        """Record ``key``; return the change in the number of entries."""
        ...


class NoDedup:
    entries = 0

    def seen(self, key: int, now: float) -> bool:
        return False

    def add(self, key: int, now: float) -> int:
        return 0


class SetDedup:
    def __init__(self) -> None:
        self._ids: set[int] = set()
        self.entries = 0

    def seen(self, key: int, now: float) -> bool:
        return key in self._ids

    def add(self, key: int, now: float) -> int:
        if key in self._ids:
            return 0
        self._ids.add(key)
        self.entries += 1
        return 1


def make_store(kind: str) -> DedupStore:
    if kind == "none":
        return NoDedup()
    if kind == "set":
        return SetDedup()
    raise ValueError(f"unknown dedup store kind {kind!r}")
