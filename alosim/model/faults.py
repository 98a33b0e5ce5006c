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
from alosim.streams import Streams

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
        victims = [(world, actor) for actor in targets(world, fault)]
        world.env.process(_inject(world.env, world.streams, i, fault, victims))


#: An actor and the world whose recorder counts what befalls it.
Victims = Sequence[tuple["World", Crashable]]


def _inject(env: simpy.Environment, streams: Streams, index: int, fault: Fault,
            victims: Victims) -> Generator[simpy.Event, None, None]:
    start: Callable[[Victims], None] = _crash
    end: Callable[[Victims], None] = _restart
    if fault.kind == "pause":
        start, end = _pause, _resume
    elif fault.kind == "slow":
        assert fault.factor is not None
        start, end = functools.partial(_slow, factor=fault.factor), _speed_up
    if fault.at is not None and fault.for_ is not None:
        yield env.timeout(fault.at)
        start(victims)
        yield env.timeout(fault.for_)
        end(victims)
        return
    assert fault.mtbf is not None and fault.mttr is not None
    rng = streams.generator(f"fault.{index}")
    while True:
        yield env.timeout(float(rng.exponential(fault.mtbf)))
        start(victims)
        yield env.timeout(float(rng.exponential(fault.mttr)))
        end(victims)


def _crash(victims: Victims) -> None:
    for world, actor in victims:
        world.rec.crashes += 1
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "crash", -1, 0)
        actor.crash()


def _restart(victims: Victims) -> None:
    for world, actor in victims:
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "restart", -1, 0)
        actor.restart()


def _pause(victims: Victims) -> None:
    for world, actor in victims:
        world.rec.slowdowns += 1
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "pause", -1, 0)
        actor.pause()  # type: ignore[attr-defined]


def _resume(victims: Victims) -> None:
    for world, actor in victims:
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "resume", -1, 0)
        actor.resume()  # type: ignore[attr-defined]


def _slow(victims: Victims, factor: float) -> None:
    for world, actor in victims:
        world.rec.slowdowns += 1
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "slow", -1, 0, f"x{factor:g}")
        actor.slow_down(factor)  # type: ignore[attr-defined]


def _speed_up(victims: Victims) -> None:
    for world, actor in victims:
        if world.rec.trace_limit:
            world.rec.event(world.env.now, actor.actor, "speed_up", -1, 0)
        actor.speed_up()  # type: ignore[attr-defined]


def start_node_faults(env: simpy.Environment, streams: Streams, faults: Sequence[Fault],
                      victims_of: Callable[[str, str], Victims]) -> None:
    """A topology's faults: each targets a node by name; ``victims_of(node, kind)`` gives
    its actors (a crash takes its receiver and its senders, a slowdown its receiver)."""
    for i, fault in enumerate(faults):
        env.process(_inject(env, streams, i, fault, victims_of(fault.target, fault.kind)))
