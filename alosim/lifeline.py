"""Child processes that end with their parent.

alosim starts child processes in two places: the worker pool of a sweep
(:mod:`alosim.executors`) and the two runs of ``--check-determinism``
(:mod:`alosim.determinism`). When the command that started them ends --
normally, by Ctrl-C, SIGTERM or even kill -9, which runs no clean-up code --
they must end too, rather than simulate on for minutes with nobody to read
their results.

:func:`follow_parent`, called first thing in a direct child, arranges it twice:

* on Linux, the kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG)``):
  the child is killed the moment its parent exits, whatever killed it;
* everywhere, a daemon thread that checks every :data:`POLL_S` seconds
  whether the parent is still the one that started the child (a child whose
  parent dies is adopted by another process, so ``os.getppid()`` changes)
  and ends the process when it is not.

Pool workers are not direct children: with the ``forkserver`` start method
their parent is the fork server, which lives on as long as they do. They
hold instead the reading end of a pipe whose only writing end is the
command's (:class:`Lifeline`): the operating system closes it when the
command ends, however it ends, and a worker's thread waiting on the pipe
sees the end of it and ends the worker (:func:`end_with`).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

#: How often the portable watcher looks at the parent.
POLL_S = 0.5

_PR_SET_PDEATHSIG = 1


def _parent_death_signal(sig: int) -> bool:
    """Ask Linux to send ``sig`` to this process when its parent exits."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while True:
        time.sleep(POLL_S)
        if os.getppid() != parent:
            os._exit(1)  # no clean-up to do: a child writes nothing of its own


def follow_parent(parent: int | None = None) -> None:
    """End this process when its parent ends.

    ``parent`` is the pid the parent had when it started this process (by
    default the current parent); if the parent is already gone -- it died
    between starting the child and this call -- the process ends at once.
    """
    parent = os.getppid() if parent is None else parent
    _parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=_watch, args=(parent,), name="alosim-lifeline", daemon=True).start()


class Lifeline:
    """A pipe from the command to its pool workers; it closes when the command ends.

    Pass :attr:`reader` to each worker (it pickles into the child) and call
    :func:`end_with` there; :meth:`close` when the workers are gone."""

    def __init__(self) -> None:
        import multiprocessing

        self.reader, self._writer = multiprocessing.Pipe(duplex=False)

    def close(self) -> None:
        self._writer.close()
        self.reader.close()


def end_with(reader: Connection) -> None:
    """In a worker: end the process when the command holding the other end of ``reader`` ends."""

    def watch() -> None:
        try:
            while True:
                reader.recv_bytes()  # nothing is ever sent: this waits for the end of the pipe
        except (EOFError, OSError):
            pass
        os._exit(1)

    threading.Thread(target=watch, name="alosim-lifeline", daemon=True).start()
