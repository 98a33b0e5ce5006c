"""Child processes that cannot outlive the process that started them.

Each child gets a session (and so a process group) of its own, so that it
and whatever it starts are killed together, and asks the kernel to SIGKILL
it when its parent dies (Linux ``PR_SET_PDEATHSIG``): a broker server or a
consumer process is gone even if the harness or the test run is killed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from typing import IO, Any

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(argv: Sequence[str], output: IO[Any] | int = subprocess.DEVNULL, *,
          stdin: int = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own process group, tied to this process's life."""
    return subprocess.Popen(list(argv), stdin=stdin, stdout=output, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=_die_with_parent)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc``'s process group and reap ``proc``."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    if proc.stdin is not None:
        proc.stdin.close()
