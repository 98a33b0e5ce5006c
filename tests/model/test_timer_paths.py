"""A sender's two ways of keeping retry timers give the same result.

With the same wait after every transmission and no mitigation, a sender keeps
only its live timers, in order of their tickets (which is deadline order), and
expires those that are due in ``Sender._on_wake`` itself; otherwise a heap of
(deadline, ticket) keeps them, and each expiry goes through ``_expired`` and
``_retry``. Each scenario here is run both ways -- the second with the heap
forced -- and must give the same fingerprint (summary, series and trace).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import alosim
from alosim.model.sender import Sender

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"

#: Shipped scenarios whose senders keep their timers in ticket order, cut short: losses
#: both ways, a sender's crash, a single attempt (at-most-once: each timeout gives up),
#: partitions and duplicates on the links.
CASES = {
    "ack-lost.yaml": ["messages=400"],
    "lossy-both-ways.yaml": ["messages=400"],
    "sender-crash.yaml": ["messages=400"],
    "at-most-once.yaml": ["messages=400"],
    "network-faults.yaml": ["messages=400"],
}


def forced_heap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make every sender built from now on keep its timers in the heap."""
    init = Sender.__init__

    def heap(self: Sender, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self._fifo = False  # (no timer is set yet)

    monkeypatch.setattr(Sender, "__init__", heap)


@pytest.mark.parametrize("name", list(CASES))
def test_timers_in_ticket_order_give_the_heaps_result(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = alosim.load_scenario(SCENARIOS / name, CASES[name])
    fifo: list[bool] = []
    init = Sender.__init__

    def noted(self: Sender, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        fifo.append(self._fifo)

    monkeypatch.setattr(Sender, "__init__", noted)
    fast = alosim.simulate(scenario)
    monkeypatch.undo()
    assert any(fifo), "no sender kept its timers in ticket order: the comparison would be the heap's with itself"
    assert fast.summary["timeouts"] > 0
    forced_heap(monkeypatch)
    assert alosim.simulate(scenario).fingerprint == fast.fingerprint
