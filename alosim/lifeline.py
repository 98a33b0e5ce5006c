"""Child processes that end with their parent.

alosim starts child processes in two places: the worker pool of a sweep
(:mod:`alosim.executors`) and the two runs of ``--check-determinism``
(:mod:`alosim.determinism`). When the command that started them ends --
normally, by Ctrl-C, SIGTERM or even kill -9, which runs no clean-up code --
they must end too, rather than simulate on for minutes with nobody to read
their results.

:func:`follow_parent`, called first thing in the child, arranges it twice:

* on Linux, the kernel's parent-death signal (``prctl(PR_SET_PDEATHSIG)``):
  the child is killed the moment its parent exits, whatever killed it;
* everywhere, a daemon thread that checks every :data:`POLL_S` seconds
  whether the parent is still the one that started the child (a child whose
  parent dies is adopted by another process, so ``os.getppid()`` changes)
  and ends the process when it is not.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

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
