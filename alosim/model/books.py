"""The books of a run: identities its counts must satisfy after every run.

Each identity is counted by a different mechanism on either side (the sender
sends, the link loses or duplicates, the far end counts arrivals; a message's
fate is decided by one actor and its cause by the event that produced it), so
a message, packet or record that goes missing, is counted twice or is charged
to no cause breaks one. The message-level books are
:meth:`alosim.model.world.World.message_books`; the packet books are the
single hop's (:meth:`~alosim.model.world.World.packet_books`), a queue
pipeline's (:meth:`alosim.model.pipeline.Pipeline.conservation`) or a log's
(:meth:`alosim.model.log.LogPipeline.conservation`).

An identity that fails is a defect of the model, not of the scenario: the run
still returns its result, with a failed check named ``books_<identity>``
(see :func:`alosim.simulate.simulate`) and the numbers that do not add up in
one line -- a bug report, never a traceback.
"""

from __future__ import annotations

from typing import NamedTuple


class Broken(NamedTuple):
    """A failed identity: its name (``deliveries``, ``duplicates_explained``, ...)
    and the numbers on either side."""

    name: str
    detail: str

    def __str__(self) -> str:
        return f"{self.name}: {self.detail}"


class Books:
    """The failed identities found so far; :meth:`need` states one."""

    __slots__ = ("broken",)

    def __init__(self) -> None:
        self.broken: list[Broken] = []

    def need(self, name: str, ok: bool, detail: str) -> None:
        """Identity ``name`` must hold (``ok``); ``detail`` gives its numbers."""
        if not ok:
            self.broken.append(Broken(name, detail))

    def add(self, broken: list[Broken]) -> None:
        self.broken.extend(broken)


__all__ = ["Books", "Broken"]
