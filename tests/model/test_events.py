"""alosim schedules per-packet events straight onto SimPy's queue (see
alosim.model.events); they must interleave with SimPy's own events exactly as
env.timeout would."""

import simpy

from alosim.model.events import Later


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
