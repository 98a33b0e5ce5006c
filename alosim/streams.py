"""Named, independent random streams derived from one seed.

Every component that draws random numbers asks for a stream by name
(``"link.data.loss"``, ``"sender.0.arrivals"``, ...). The stream is a numpy
``Generator`` seeded from ``SeedSequence(seed, spawn_key=digest(name))``, so
each name gets its own statistically independent sequence, and adding or
removing a component never shifts the draws of another. Names are hashed with
SHA-256, never with Python's ``hash()``, so streams do not depend on
``PYTHONHASHSEED``.

Draws are made in batches: :class:`Draws` fills a buffer with one numpy call
and hands values out one at a time, which is what a discrete-event model needs
and far cheaper than one numpy call per value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np  # imported when a generator is made: reading a scenario needs no numpy

BATCH = 4096


def _spawn_key(name: str) -> tuple[int, ...]:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))


class Streams:
    """A factory of named random generators, all derived from ``seed``."""

    def __init__(self, seed: int) -> None:
        if seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed}")
        self.seed = int(seed)

    def generator(self, name: str) -> np.random.Generator:
        """The generator for component ``name``; the same name always gives the same stream."""
        import numpy as np

        sequence = np.random.SeedSequence(self.seed, spawn_key=_spawn_key(name))
        return np.random.Generator(np.random.PCG64(sequence))

    def uniforms(self, name: str, batch: int = BATCH) -> Draws:
        """Batched U[0, 1) draws from stream ``name``."""
        rng = self.generator(name)
        return Draws(rng.random, batch)


class Draws:
    """Hands out values one at a time from batches made by ``fill(n)``.

    Calling the object returns the next value. The buffer is a Python list
    (``ndarray.tolist()``), which is the fastest thing to index one element
    at a time from Python.
    """

    __slots__ = ("_fill", "_batch", "_buffer", "_next")

    def __init__(self, fill: Callable[[int], np.ndarray], batch: int = BATCH) -> None:
        self._fill = fill
        self._batch = batch
        self._buffer: list[float] = []
        self._next = 0

    def __call__(self) -> float:
        i = self._next
        if i >= len(self._buffer):
            self._buffer = self._fill(self._batch).tolist()
            i = 0
        self._next = i + 1
        return self._buffer[i]
