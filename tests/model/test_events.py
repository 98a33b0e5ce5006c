"""alosim schedules per-packet events straight onto SimPy's queue (see
alosim.model.events); they must interleave with SimPy's own events exactly as
env.timeout would."""

import pytest
import simpy

from alosim.model.events import Later, ScheduledInThePast


def test_later_orders_like_simpy_timeouts_including_ties():
    env = simpy.Environment()
    seen = []
    for i, delay in enumerate([0.3, 0.1, 0.2, 0.1, 0.0]):
        if i % 2:
            Later(env, delay, (lambda e, i=i: seen.append((env.now, i)),))
        else:
            env.timeout(delay).callbacks.append(lambda e, i=i: seen.append((env.now, i)))
    env.run()
    assert seen == [(0.0, 4), (0.1, 1), (0.1, 3), (0.2, 2), (0.3, 0)]


def test_later_carries_its_value_and_fires_once():
    env = simpy.Environment()
    got = []
    Later(env, 1.5, (lambda e: got.append(e._value),), value=("m", 1))
    env.run()
    assert got == [("m", 1)]
    assert env.now == 1.5


def test_nothing_can_be_scheduled_before_now():
    env = simpy.Environment()
    env.run(until=2.0)
    queued = len(env._queue)
    fired = []
    with pytest.raises(ScheduledInThePast, match=r"t=1\.5, before now \(t=2\.0\)"):
        Later.at(env, 1.5, (fired.append,))
    with pytest.raises(ScheduledInThePast):
        Later(env, -0.25, (fired.append,))
    Later.at(env, 2.0, (fired.append,))  # now itself is allowed
    Later(env, 0.0, (fired.append,))
    assert len(env._queue) == queued + 2  # the refused ones were never queued
    env.run()
    assert len(fired) == 2 and env.now == 2.0
