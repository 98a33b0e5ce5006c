"""Scheduling a callback in simulated time, without a process.

:class:`Later` is SimPy's ``env.timeout(delay, value)`` with one callback
attached, cut down to what the event loop needs (``Environment.step`` reads
only ``callbacks``, ``_ok`` and ``_value``). It is used for everything that
happens once per packet or per message -- a packet arriving, processing
finishing, a retry timer -- where one process per message would be an order
of magnitude slower. A ``Later`` cannot be yielded from a process; use
``env.timeout`` there.

Nothing may be scheduled before ``env.now``: simulated time never runs
backwards. SimPy's own ``timeout`` refuses a negative delay; ``Later`` and
``Later.at`` refuse one too (raising :class:`ScheduledInThePast`), with one
comparison each -- cheap enough for the hot path, and it makes the guarantee
hold by construction for every caller rather than for the callers someone
remembered to check.

It pushes itself onto the environment's event queue directly, exactly as
``Environment.schedule`` does (time, priority, insertion counter, event):
the counter breaks ties between events at the same time, so the order of
simultaneous events is the order they were scheduled -- deterministic by
construction. This saves a call per event on the hottest path of the
simulator; ``tests/model/test_events.py`` checks it against SimPy's own
ordering, and the dependency on ``simpy`` is pinned below 5.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from heapq import heappush

import simpy
from simpy.core import NORMAL


class ScheduledInThePast(ValueError):
    """Something tried to schedule an event before the current simulated time."""


def _refuse(now: float, time: float) -> ScheduledInThePast:
    return ScheduledInThePast(f"an event was scheduled at t={time!r}, before now (t={now!r})")


class Later:
    """Calls each of ``callbacks`` with this event after ``delay``; ``self._value`` is ``value``."""

    __slots__ = ("callbacks", "_value")

    #: A Later never fails: what the event loop reads of ``_ok`` is the class's, and
    #: no event carries a slot of its own for it or sets it (once per packet saved).
    _ok = True

    def __init__(self, env: simpy.Environment, delay: float,
                 callbacks: tuple[Callable[[Any], Any]], value: Any = None) -> None:
        # ``callbacks`` is a one-element tuple that the caller makes once and
        # reuses: the event loop only iterates it.
        if delay < 0:
            raise _refuse(env._now, env._now + delay)
        self.callbacks = callbacks
        self._value = value
        heappush(env._queue, (env._now + delay, NORMAL, next(env._eid), self))

    @classmethod
    def at(cls, env: simpy.Environment, time: float,
           callbacks: tuple[Callable[[Any], Any]], value: Any = None) -> Later:
        """The same, at the absolute ``time`` (>= now) -- no rounding of now + (time - now).
        (:meth:`at_place` in the next place, written out: no call per wake-up.)"""
        if time < env._now:
            raise _refuse(env._now, time)
        event = cls.__new__(cls)
        event.callbacks = callbacks
        event._value = value
        heappush(env._queue, (time, NORMAL, next(env._eid), event))
        return event

    @staticmethod
    def reserve(env: simpy.Environment) -> int:
        """A place in the order of simultaneous events, taken now for an event
        that may be scheduled later (see :meth:`at_place`).

        A deadline that usually passes unnoticed (a batch finished long before
        it) need not sit in the event queue: its owner keeps one timer and
        re-arms it lazily. Taking the deadline's place when it is set, and
        scheduling it later in that place, orders it among events at the same
        time exactly as if it had been scheduled when it was set. A reserved
        place counts as a scheduled event (``events`` in the summary).
        """
        return next(env._eid)

    @classmethod
    def at_place(cls, env: simpy.Environment, time: float, place: int,
                 callbacks: tuple[Callable[[Any], Any]], value: Any = None) -> Later:
        """Like :meth:`at`, in the ``place`` taken by :meth:`reserve` (used once)."""
        if time < env._now:
            raise _refuse(env._now, time)
        event = cls.__new__(cls)
        event.callbacks = callbacks
        event._value = value
        heappush(env._queue, (time, NORMAL, place, event))
        return event
