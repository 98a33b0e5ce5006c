"""Scheduling a callback in simulated time, without a process.

:func:`call_later` is SimPy's ``env.timeout(delay, value)`` with one callback
attached, built in one step. It is used for everything that happens once per
packet or per message (a packet arriving, processing finishing, a retry
timer): a process per message would be an order of magnitude slower.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import simpy
from simpy.core import NORMAL


class Later(simpy.events.Event):
    """An event that succeeds with ``value`` after ``delay`` and calls ``callback``."""

    def __init__(self, env: simpy.Environment, delay: float,
                 callback: Callable[[simpy.Event], Any], value: Any = None) -> None:
        self.env = env
        self.callbacks = [callback]
        self._value = value
        self._ok = True
        env.schedule(self, NORMAL, delay)


call_later = Later
