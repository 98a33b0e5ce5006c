"""Faults: senders and receivers that crash and restart; receivers that slow down.

Each fault in the scenario becomes one SimPy process (a long-lived actor)
that crashes its targets and restarts them later -- once, at a scheduled time
(``at``, ``for``), or again and again with exponentially distributed times
between failures (mean ``mtbf``) and to repair (mean ``mttr``). What a crash
does is up to the actor: see ``Receiver.crash`` and ``Sender.crash``.

A slowdown has the same schedules. ``kind: pause`` stops a receiver's workers
from starting new work for its duration (a GC pause, a stalled disk);
``kind: slow`` multiplies its processing times by ``factor`` meanwhile.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Generator, Sequence
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
    start: Callable[[World, Sequence[Crashable]], None] = _crash
    end: Callable[[World, Sequence[Crashable]], None] = _restart
    if fault.kind == "pause":
        start, end = _pause, _resume
    elif fault.kind == "slow":
        assert fault.factor is not None
        start, end = functools.partial(_slow, factor=fault.factor), _speed_up
    if fault.at is not None and fault.for_ is not None:
        yield env.timeout(fault.at)
        start(world, victims)
        yield env.timeout(fault.for_)
        end(world, victims)
        return
    assert fault.mtbf is not None and fault.mttr is not None
    rng = world.streams.generator(f"fault.{index}")
    while True:
        yield env.timeout(float(rng.exponential(fault.mtbf)))
        start(world, victims)
        yield env.timeout(float(rng.exponential(fault.mttr)))
        end(world, victims)


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


def _pause(world: World, victims: Sequence[Crashable]) -> None:
    for actor in victims:
        world.rec.slowdowns += 1
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "pause", -1, 0)
        actor.pause()  # type: ignore[attr-defined]


def _resume(world: World, victims: Sequence[Crashable]) -> None:
    for actor in victims:
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "resume", -1, 0)
        actor.resume()  # type: ignore[attr-defined]


def _slow(world: World, victims: Sequence[Crashable], factor: float) -> None:
    for actor in victims:
        world.rec.slowdowns += 1
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "slow", -1, 0, f"x{factor:g}")
        actor.slow_down(factor)  # type: ignore[attr-defined]


def _speed_up(world: World, victims: Sequence[Crashable]) -> None:
    for actor in victims:
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "speed_up", -1, 0)
        actor.speed_up()  # type: ignore[attr-defined]
