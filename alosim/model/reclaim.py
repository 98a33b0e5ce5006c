"""Polled reclaim: when a broker finds out that a lease has run out.

Most brokers end a lease at its deadline (SQS, JetStream, Service Bus). Others
find expired leases only when something looks for them: Redis Streams leaves
an unacknowledged entry in the consumer group's pending list until a
reclaimer runs XAUTOCLAIM (or XPENDING and XCLAIM) with a min-idle time, and
job queues check for stalled jobs every so often. There a lease ends at the
first scan at or after its deadline, and the redelivery (or the decision to
dead-letter) happens then.

A :class:`ScanClock` gives the time of that scan. Scans are at k * interval
from t = 0 (a fixed grid), or, with jitter, each gap between two scans is
drawn Uniform(0, 2 * interval) from its own stream (``broker.reclaim``), so
that adding a reclaimer shifts no other draw. The scans themselves are not
events: the broker wakes at the scan that ends its earliest live lease, which
costs one wake-up per lease as before, and nothing while no lease is out.

A deadline that falls on a scan is met by that scan. A redelivery made at a
scan and a lease a whole number of intervals long put the next deadline on a
scan again; computed in floating point the sum may land a few ulps after the
scan (0.15 + 0.1 > 0.25), so a deadline within :data:`TOLERANCE_S` after a
scan counts as on it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import TYPE_CHECKING

from alosim.streams import Draws

if TYPE_CHECKING:
    from alosim.scenario import Reclaim
    from alosim.streams import Streams

#: A deadline this close after a scan is met by it (far below any modelled time).
TOLERANCE_S = 1e-9

#: Scan times kept before those already past are dropped.
_KEEP = 4096


class ScanClock:
    """The times of a broker's reclaim scans."""

    __slots__ = ("interval", "jitter", "_times", "_gaps")

    def __init__(self, spec: Reclaim, streams: Streams) -> None:
        self.interval = spec.interval
        self.jitter = spec.jitter
        self._times: list[float] = [0.0]
        self._gaps: Draws | None = None
        if spec.jitter:
            rng = streams.generator("broker.reclaim")
            high = 2 * spec.interval
            self._gaps = Draws(lambda n: rng.uniform(0.0, high, n))

    def first_at_or_after(self, deadline: float, now: float) -> float:
        """The first scan at or after ``deadline`` (>= ``now``); never before ``now``."""
        if self._gaps is None:
            interval = self.interval
            scan = math.ceil((deadline - TOLERANCE_S) / interval) * interval
            return scan if scan >= now else now
        times = self._times
        target = deadline - TOLERANCE_S
        while times[-1] < target:
            times.append(times[-1] + self._gaps())
        scan = times[bisect_left(times, target)]
        if len(times) > _KEEP:
            # Scans before now are never asked for again (deadlines are never in the past).
            del times[:max(bisect_left(times, now) - 1, 0)]
        return scan if scan >= now else now
