"""Faults: senders and receivers that crash and restart.

Each fault in the scenario becomes one SimPy process (a long-lived actor)
that crashes its targets and restarts them later -- once, at a scheduled time
(``at``, ``for``), or again and again with exponentially distributed times
between failures (mean ``mtbf``) and to repair (mean ``mttr``). What a crash
does is up to the actor: see ``Receiver.crash`` and ``Sender.crash``.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import TYPE_CHECKING, Protocol

import simpy

from alosim.scenario import Fault

if TYPE_CHECKING:
    from alosim.model.world import World


class Crashable(Protocol):
    actor: str

    def crash(self) -> None: ...

    def restart(self) -> None: ...


def targets(world: World, fault: Fault) -> list[Crashable]:
    kind, _, index = fault.target.partition("-")
    if world.pipeline is not None and kind in ("broker", "consumer", "consumers"):
        return world.pipeline.targets(kind, index)
    actors: Sequence[Crashable] = world.senders if kind.startswith("sender") else world.receivers
    return [actors[int(index)]] if index else list(actors)


def start_faults(world: World, faults: Sequence[Fault]) -> None:
    for i, fault in enumerate(faults):
        world.env.process(_inject(world, i, fault))


def _inject(world: World, index: int, fault: Fault) -> Generator[simpy.Event, None, None]:
    env = world.env
    victims = targets(world, fault)
    if fault.at is not None and fault.for_ is not None:
        yield env.timeout(fault.at)
        _crash(world, victims)
        yield env.timeout(fault.for_)
        _restart(world, victims)
        return
    assert fault.mtbf is not None and fault.mttr is not None
    rng = world.streams.generator(f"fault.{index}")
    while True:
        yield env.timeout(float(rng.exponential(fault.mtbf)))
        _crash(world, victims)
        yield env.timeout(float(rng.exponential(fault.mttr)))
        _restart(world, victims)


def _crash(world: World, victims: Sequence[Crashable]) -> None:
    for actor in victims:
        world.rec.crashes += 1
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "crash", -1, 0)
        actor.crash()


def _restart(world: World, victims: Sequence[Crashable]) -> None:
    for actor in victims:
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "restart", -1, 0)
        actor.restart()
