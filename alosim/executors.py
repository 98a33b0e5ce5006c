"""Where the runs of a sweep execute: in this process, a process pool, or Dask.

Every executor offers one operation, :meth:`Executor.imap_unordered`: apply a
function to each item and yield a :class:`Finished` record per item as soon
as it completes, in whatever order they complete. The sweep places each
result by its key (point, replication), so the order never matters and the
result table is the same whichever executor ran it.

* :class:`SerialExecutor` runs one item after another in this process.
* :class:`AutoExecutor` (the default) runs them in this process until the
  work left would pay for a process pool, then starts one -- once, for the
  whole sweep or search -- and hands it the rest in chunks of runs.
* :class:`ProcessExecutor` runs them on a local process pool (one process per
  core by default). Workers are started with the ``forkserver`` method where
  the platform has it (``spawn`` elsewhere), through a context of their own:
  the global start method is left alone. Workers ignore Ctrl-C; the parent
  decides what to do with it. Workers end with the sweep's process, even
  when it is killed with kill -9 (:class:`alosim.lifeline.Lifeline`).
* :class:`DaskExecutor` runs them on a Dask cluster through
  ``distributed.Client.get_executor()``: the scheduler at a given address, or
  a ``LocalCluster`` of single-threaded worker processes started for the
  sweep and shut down after it.

Only a bounded number of items is submitted ahead of the ones finished, so
that a sweep of a million runs does not queue a million futures. When the
caller stops iterating (Ctrl-C, an error), items not yet started are
cancelled and the executor's workers are stopped on close.
"""

from __future__ import annotations

import gc
import logging
import math
import multiprocessing
import os
import signal
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from concurrent.futures import Executor as FuturesPool
from concurrent.futures.process import BrokenProcessPool, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")
R = TypeVar("R")

ExecutorKind = Literal["auto", "serial", "local", "dask"]
EXECUTOR_KINDS: tuple[str, ...] = ("auto", "serial", "local", "dask")

# Items submitted per worker ahead of the ones finished.
_AHEAD_PER_WORKER = 4
_END = object()


class ExecutorError(Exception):
    """An executor could not be started or broke down (not a failing run)."""


@dataclass(frozen=True)
class Finished(Generic[T, R]):
    """One item done: its ``value``, or the ``error`` the executor reported for it."""

    item: T
    value: R | None
    error: BaseException | None = None


Results = Generator[Finished[T, R], None, None]


def default_jobs() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class Executor(ABC):
    """The interface of every executor; a context manager that closes it."""

    kind: str = ""
    workers: int = 1

    @abstractmethod
    def imap_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Results[T, R]:
        """Yield a :class:`Finished` per item of ``items`` as each completes."""

    def close(self, *, interrupted: bool = False) -> None:
        """Release the workers; with ``interrupted``, without waiting for runs in progress."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(interrupted=exc_type is not None)


class SerialExecutor(Executor):
    """One item after another, in this process. An exception from ``fn`` is the item's error."""

    kind = "serial"
    workers = 1

    def imap_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Results[T, R]:
        for item in items:
            try:
                value = fn(item)
            except Exception as exc:  # noqa: BLE001 -- a failing item is a result
                yield Finished(item, None, exc)
            else:
                yield Finished(item, value)


class _FuturesExecutor(Executor):
    """Shared by the executors built on a ``concurrent.futures.Executor``."""

    def __init__(self, pool: FuturesPool, workers: int) -> None:
        self._pool = pool
        self.workers = workers

    def imap_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Results[T, R]:
        source = iter(items)
        pending: dict[Future[R], T] = {}
        limit = max(1, self.workers * _AHEAD_PER_WORKER)

        def top_up() -> None:
            while len(pending) < limit:
                item = next(source, _END)
                if item is _END:
                    return
                pending[self._submit(fn, item)] = item  # type: ignore[index]

        try:
            top_up()
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for future in [f for f in pending if f in done]:  # in the order submitted
                    yield self._finished(pending.pop(future), future)
                top_up()
        finally:
            self._abandon(list(pending))

    def _abandon(self, futures: list[Future[R]]) -> None:
        """The caller stopped reading: the runs not started are not wanted."""
        for future in futures:
            future.cancel()

    def _submit(self, fn: Callable[[T], R], item: T) -> Future[R]:
        return self._pool.submit(fn, item)

    def _finished(self, item: T, future: Future[R]) -> Finished[T, R]:
        error = future.exception()
        if error is None:
            return Finished(item, future.result())
        if isinstance(error, BrokenProcessPool):
            raise ExecutorError(f"the process pool broke down (a worker died): {error}") from error
        if isinstance(error, KeyboardInterrupt):
            raise error
        return Finished(item, None, error)


def _start_worker(lifeline: Any = None) -> None:
    """Pool workers leave Ctrl-C to the parent, which stops the sweep cleanly,
    and end when the sweep's process ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if lifeline is not None:
        from alosim.lifeline import end_with

        end_with(lifeline)


class ProcessExecutor(_FuturesExecutor):
    """A pool of ``jobs`` local worker processes (default: one per core)."""

    kind = "local"

    def __init__(self, jobs: int | None = None) -> None:
        from alosim.lifeline import Lifeline

        jobs = jobs or default_jobs()
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self._lifeline = Lifeline()
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_start_worker,
                                   initargs=(self._lifeline.reader,))
        super().__init__(pool, jobs)

    def _abandon(self, futures: list[Future[R]]) -> None:
        # Left to close(): shutdown(cancel_futures=True) cancels them in the
        # pool's own manager thread. Cancelling them here races with that
        # thread when close() stops the workers: Python 3.11's pool, finding
        # itself broken, sets an exception on every pending future, and a
        # cancelled one raises InvalidStateError there (a traceback on Ctrl-C).
        pass

    def close(self, *, interrupted: bool = False) -> None:
        pool = self._pool
        if interrupted:
            # Runs in progress are given up: their workers are stopped now
            # rather than waited for (the pool has no public way to do this).
            processes: dict[int, Any] = getattr(pool, "_processes", None) or {}
            for process in list(processes.values()):
                process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        self._lifeline.close()


class DaskExecutor(_FuturesExecutor):
    """Runs on Dask: the scheduler at ``address``, or a LocalCluster of ``jobs`` processes."""

    kind = "dask"

    def __init__(self, jobs: int | None = None, address: str | None = None, *,
                 timeout_s: float = 30.0) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - dask is a dependency
            raise ExecutorError(f"the dask executor needs dask[distributed]: {exc}") from None
        self._cluster: Any = None
        failure: str | None = None
        try:
            if address:
                client = Client(address, timeout=timeout_s)
            else:
                self._cluster = LocalCluster(
                    n_workers=jobs or default_jobs(), threads_per_worker=1, processes=True,
                    dashboard_address=None, silence_logs=logging.ERROR,
                )
                client = Client(self._cluster, timeout=timeout_s)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            # ValueError: a malformed address (garbage://x, tcp://[::1).
            if self._cluster is not None:
                self._cluster.close()
            where = f"the Dask scheduler at {address}" if address else "a Dask LocalCluster"
            failure = f"cannot connect to {where}: {exc}"
        if failure is not None:
            # A Client that failed half-way is closed by its __del__. Run it now, while
            # no other Client is starting: a __del__ that the garbage collector runs
            # inside a later Client's start waits for that start's lock for ever.
            gc.collect()
            raise ExecutorError(failure)
        self._client = client
        workers = len(client.scheduler_info().get("workers", {})) or (jobs or 1)
        super().__init__(client.get_executor(pure=False), workers)

    def close(self, *, interrupted: bool = False) -> None:
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


#: What a process pool costs before its first result: starting the workers
#: (forkserver) and each importing alosim and numpy -- 1.9 to 2.8 s measured on
#: a 2-core machine at a load of 4 to 5, less at rest. A pool started too late
#: loses a little (runs made serially meanwhile are not lost); one started too
#: early loses its whole start on a short sweep.
POOL_START_S = 1.5
#: Work per task handed to a worker: short runs travel in chunks, so that the
#: cost of a round trip to the pool (about a millisecond) stays small beside it.
CHUNK_S = 0.2


def _run_chunk(fn: Callable[[T], R], items: list[T]) -> list[tuple[T, R | None, BaseException | None]]:
    """Run ``items`` one after another in a worker; an exception is that item's error."""
    out: list[tuple[T, R | None, BaseException | None]] = []
    for item in items:
        try:
            out.append((item, fn(item), None))
        except Exception as exc:  # noqa: BLE001 -- a failing item is a result
            out.append((item, None, exc))
    return out


class AutoExecutor(Executor):
    """Serial while that is faster, a process pool of ``jobs`` workers once it pays.

    Runs go one after another in this process, each timed. After each, the
    work left is estimated (runs left x the shortest run so far); once the
    time a pool would save on it -- (1 - 1/n) of it, n being the workers that
    would find a core (the machine's idle cores, from its load average, plus
    this process's own) -- exceeds what starting the pool costs
    (:data:`POOL_START_S`), the pool is started and
    the rest runs there, in chunks of about :data:`CHUNK_S` of work each. A
    short sweep therefore never pays for a pool, and a long one loses at most
    the time of a few runs made serially before it. The pool, once started,
    serves every later call (a search's later batches) until :meth:`close`.
    Results are placed by their keys, so which runs went where never changes
    a result.
    """

    kind = "auto"

    def __init__(self, jobs: int | None = None, *, pool_start_s: float = POOL_START_S,
                 chunk_s: float = CHUNK_S,
                 loadavg: Callable[[], tuple[float, float, float]] = os.getloadavg) -> None:
        self.workers = jobs or default_jobs()
        self._loadavg = loadavg
        self.pool_start_s = pool_start_s
        self.chunk_s = chunk_s
        self._pool: ProcessExecutor | None = None
        self._shortest_s = math.inf
        #: How many runs went to the pool (the rest ran in this process).
        self.pooled = 0

    def imap_unordered(self, fn: Callable[[T], R], items: Iterable[T]) -> Results[T, R]:
        left = list(items)
        left.reverse()  # popped from the end: in the order given
        while left and self._pool is None:
            if self.workers > 1 and self._shortest_s < math.inf:
                saved_s = len(left) * self._shortest_s * (1 - 1 / self._usable_workers())
                if saved_s > self.pool_start_s:
                    self._pool = ProcessExecutor(self.workers)
                    break
            item = left.pop()
            started = time.perf_counter()
            try:
                value = fn(item)
            except Exception as exc:  # noqa: BLE001 -- a failing item is a result
                finished: Finished[T, R] = Finished(item, None, exc)
            else:
                finished = Finished(item, value)
            self._shortest_s = min(self._shortest_s, time.perf_counter() - started)
            yield finished
        if not left:
            return
        left.reverse()
        yield from self._pooled(fn, left)

    def _usable_workers(self) -> float:
        """Workers that would run at once: this process's core and the idle ones
        (a pool on a machine busy with other work is slower than serial)."""
        try:
            load = self._loadavg()[0]  # this process's serial runs count in it
        except OSError:  # not available: assume the cores are free
            return float(self.workers)
        return max(1.0, min(float(self.workers), 1 + default_jobs() - load))

    def _pooled(self, fn: Callable[[T], R], items: list[T]) -> Results[T, R]:
        assert self._pool is not None
        per_run_s = self._shortest_s if self._shortest_s < math.inf else self.chunk_s
        # Enough runs per chunk to make ~chunk_s of work, but at least 4 chunks a worker.
        size = max(1, min(math.ceil(self.chunk_s / max(per_run_s, 1e-6)),
                          len(items) // (4 * self.workers)))
        chunks = [items[k:k + size] for k in range(0, len(items), size)]
        self.pooled += len(items)
        for done in self._pool.imap_unordered(partial(_run_chunk, fn), chunks):
            if done.error is not None:  # the chunk itself failed (it could not be sent, say)
                for item in done.item:
                    yield Finished(item, None, done.error)
                continue
            for item, value, error in done.value or []:
                yield Finished(item, value, error)

    def close(self, *, interrupted: bool = False) -> None:
        if self._pool is not None:
            self._pool.close(interrupted=interrupted)


def make_executor(kind: str = "auto", jobs: int | None = None,
                  scheduler: str | None = None) -> Executor:
    """An executor by name: ``auto`` (serial until a process pool pays), ``serial``,
    ``local`` (a process pool from the start) or ``dask``."""
    if jobs is not None and jobs < 1:
        raise ExecutorError(f"expected at least one job, got {jobs}")
    if scheduler and kind != "dask":
        raise ExecutorError(f"a scheduler address needs the dask executor, not {kind!r}")
    if kind == "auto":
        return AutoExecutor(jobs)
    if kind == "serial":
        return SerialExecutor()
    if kind == "local":
        return ProcessExecutor(jobs)
    if kind == "dask":
        return DaskExecutor(jobs, scheduler)
    raise ExecutorError(f"unknown executor {kind!r}; expected one of: {', '.join(EXECUTOR_KINDS)}")
