"""Conformance: alosim's prediction of a scenario held to a real broker.

``alosim conform SCENARIO --broker URL`` plays the scenario's workload against
a NATS JetStream (``nats://``) or Redis Streams (``redis://``) broker: Poisson
publishes at the scenario's rate, one consumer *process* that processes each
delivery for a time drawn from the scenario's distribution (fixed seed),
records its side effect in a file that survives a kill, waits
``consumer.dedup.write_delay`` and acks; the scenario's consumer crashes are
SIGKILLs of that process. Every duration is divided by ``--speed``.

It counts side effects per message id and reports three figures, measured and
predicted (alosim over several seeds): duplicate effects per message, the
dead-lettered fraction, and duplicate effects per consumer crash. The verdict
for each: the difference lies within three standard errors of the difference
plus an allowance for timer overshoot -- the change in alosim's prediction
when every delivery reaches the consumer later by the overshoot measured
during the run (a consumer that starts late holds its lease longer).

Roles: :mod:`~alosim.conform.plan` turns a scenario into the real-time
workload (and refuses what cannot be played), :mod:`~alosim.conform.brokers`
speaks to the broker, :mod:`~alosim.conform.worker` is the consumer process,
:mod:`~alosim.conform.play` runs one measurement, :mod:`~alosim.conform.verdict`
predicts and compares. The broker clients (``nats-py``, ``redis``) are imported
only when a broker is used.
"""

from __future__ import annotations

from alosim.conform.plan import ConformError, Plan, make_plan
from alosim.conform.verdict import Comparison, Figure, compare, format_report

__all__ = ["Comparison", "ConformError", "Figure", "Plan", "compare", "format_report", "make_plan"]
