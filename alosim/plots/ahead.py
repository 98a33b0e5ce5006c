"""A run's picture drawn in a process of its own, which loads matplotlib ahead of time.

Loading matplotlib takes about 0.3 s of a processor: longer than reading the
schema and simulating a short run together. ``alosim run`` therefore starts a
:class:`PictureProcess` before it reads the scenario. On a machine with a
second core, matplotlib loads there while this process loads the schema and
simulates; the run's series are then sent to it, and it sends back the PNG,
which this process writes like any other file of the run. The picture is
drawn by the same function (:func:`alosim.plots.store_growth`, saved by
:func:`alosim.plots.save_raster`) with the same matplotlib: the same bytes as
when drawn here.

The process is an advance, never a dependency: when it cannot start, fails,
or is slower than :data:`WAIT_S`, the picture is drawn in this process, where
any error is reported as usual. Nothing is gained, and nothing is started,
when this process has matplotlib loaded already (a notebook, a test session)
or no second core is idle (:func:`worth_starting`). The process reads one
request (a pickle: the series and the title) on its standard input and ends
at the end of that input: it never outlives this process, and
:meth:`PictureProcess.close` ends it if the run stops early.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

#: How long the picture may take in the other process before it is drawn here instead.
WAIT_S = 30.0


def idle_cores() -> float:
    """Cores no process used, on average over the last minute (this one's included)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cores = os.cpu_count() or 1
    try:
        return cores - os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average here: assume the cores are free
        return float(cores)


def worth_starting() -> bool:
    """Whether a picture process would save time: matplotlib is not loaded here yet, and
    more than half a core is idle (the load average counts runs made one after another,
    this one's forerunners, as one busy core). On a machine whose cores are all taken
    the two processes would only share them, the second interpreter's start a loss."""
    return "matplotlib.figure" not in sys.modules and idle_cores() > 0.5


class PictureProcess:
    """A process that loads matplotlib now and draws one run's picture later.

    Use as a context manager around the run; pass :meth:`draw_growth` to
    :func:`alosim.results.write_run` as its ``draw``.
    """

    def __init__(self, *, wait_s: float = WAIT_S) -> None:
        self.wait_s = wait_s
        self._process: subprocess.Popen[bytes] | None = None
        if not worth_starting():
            return
        # This alosim, whichever way it was found (an editable install, PYTHONPATH, the working folder).
        package_root = str(Path(__file__).resolve().parent.parent.parent)
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [package_root, *([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])]))
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "alosim.plots.ahead"], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        except (OSError, ValueError):
            self._process = None  # drawn here

    @property
    def started(self) -> bool:
        """Whether a process was started (and not yet used or ended)."""
        return self._process is not None

    def draw_growth(self, series: Mapping[str, Sequence[float]], title: str, path: str | Path) -> None:
        """Draw the picture into ``path``: in the process if it can, else here."""
        from alosim import plots

        png = self._png(series, title)
        if png is None:
            plots.draw_growth(series, title, path)
            return
        from alosim.files import write_atomic

        write_atomic(path, lambda tmp: tmp.write_bytes(png))

    def _png(self, series: Mapping[str, Sequence[float]], title: str) -> bytes | None:
        """The picture's bytes from the process, or None if it gave none."""
        process, self._process = self._process, None
        if process is None:
            return None
        try:
            out, _ = process.communicate(pickle.dumps((dict(series), title)), timeout=self.wait_s)
        except (OSError, ValueError, subprocess.TimeoutExpired):
            return None
        finally:
            _end(process)
        return out if process.returncode == 0 and out.startswith(b"\x89PNG") else None

    def close(self) -> None:
        """End the process if it is still running (the run stopped before its picture)."""
        process, self._process = self._process, None
        if process is not None:
            _end(process)

    def __enter__(self) -> PictureProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _end(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
    process.wait()
    for stream in (process.stdin, process.stdout):
        if stream is not None:
            stream.close()


def _serve() -> int:
    """The process's side: load matplotlib, then draw the one picture asked for, as PNG on
    standard output. Exit status 0 with the PNG, 1 when nothing was asked."""
    import io

    # Standard output carries the PNG alone: anything printed goes to standard error.
    png_out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    from alosim import plots

    # The point: matplotlib loaded, and the empty figure made, before the request comes.
    fig, top, bottom = plots.two_panels(None)
    try:
        series, title = pickle.load(sys.stdin.buffer)
    except EOFError:  # the run ended without a picture
        return 1
    plots.store_growth(series, title=title, axes=(top, bottom))
    buffer = io.BytesIO()
    plots.save_raster(fig, buffer)
    png_out.write(buffer.getvalue())
    png_out.close()
    return 0


if __name__ == "__main__":
    sys.exit(_serve())
