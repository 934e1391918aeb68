"""Where batch tasks run: in this process, on a local process pool, or on a Dask cluster.

Each executor yields one :class:`~sleepspindles.records.StatusRow` per task as tasks complete;
a worker that crashes (killed by the OOM killer, say) fails its own row, not the batch. Local
workers end themselves when the batch process dies, however it dies (SIGKILL included).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from ..errors import ConfigError, param_error
from ..records import StatusRow
from .tasks import Task, failed_row, process_task

__all__ = ["executor", "dask_client"]

logger = logging.getLogger(__name__)

_CONNECT_SECONDS = 5  # to reach a Dask scheduler, before any task is sent
_WATCH_SECONDS = 0.5  # how often a local worker checks that the batch process is still there
_PR_SET_PDEATHSIG = 1  # Linux prctl option: a signal for this process when its parent dies


def _serial(tasks: list[Task]) -> Iterator[StatusRow]:
    for task in tasks:
        yield process_task(task)


def _die_with_parent(parent: int) -> None:
    """Pool initializer: end this worker as soon as the batch process ``parent`` is gone.

    A SIGKILL or SIGTERM of the batch would otherwise leave its workers running (hundreds of MB
    each). On Linux the kernel kills the worker with its parent (``PR_SET_PDEATHSIG``); the
    watchdog thread covers every system, and a parent that died before this ran.
    """
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):  # no usable libc prctl: the watchdog suffices
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    threading.Thread(target=_watch_parent, args=(parent,), name="watch-parent", daemon=True).start()


def _watch_parent(parent: int) -> None:
    """Exit the process once its parent is no longer ``parent`` (an orphan is re-parented)."""
    while os.getppid() == parent:
        time.sleep(_WATCH_SECONDS)
    os._exit(1)


def _local_pool(tasks: list[Task], jobs: int) -> Iterator[StatusRow]:
    """Tasks on a pool of ``jobs`` fresh (spawned) processes, results as they complete."""
    import multiprocessing

    pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_die_with_parent, initargs=(os.getpid(),))
    futures = {pool.submit(process_task, t): t for t in tasks}
    try:
        for future in as_completed(futures):
            yield _outcome(future, futures[future])
    finally:  # Ctrl-C or an early close: drop what has not started
        pool.shutdown(wait=False, cancel_futures=True)


@contextlib.contextmanager
def dask_client(address: str | None) -> Iterator[Any]:
    """A client of the Dask scheduler at ``address`` (``None`` without one), closed at the end.

    Raises a one-line :class:`ConfigError` at once when no scheduler answers there, before any
    task is sent (Dask itself would wait 30 s, then raise).
    """
    if not address:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise param_error("scheduler", "usable only with dask installed (pip install 'sleepspindles[dask]')",
                          address) from None
    try:
        client = Client(address, timeout=_CONNECT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - a wrong address or whatever answers there fails in many ways
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"Dask scheduler {address}: not reachable within {_CONNECT_SECONDS} s ({reason})") from None
    with client:
        yield client


def _dask(tasks: list[Task], client: Any) -> Iterator[StatusRow]:
    """Tasks on a Dask distributed cluster (workers must see the same file paths)."""
    from distributed import as_completed as dask_completed

    futures = client.map(process_task, tasks, pure=False)
    by_key = {f.key: t for f, t in zip(futures, tasks)}
    try:
        for future in dask_completed(futures):
            yield _outcome(future, by_key[future.key])
    finally:
        client.cancel([f for f in futures if not f.done()])


def _outcome(future, task: Task) -> StatusRow:
    """A future's status row; a crashed worker becomes a failed row, not a crashed batch."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OOM killer
        return failed_row(task, f"worker failed: {type(exc).__name__}: {exc}")


def executor(tasks: list[Task], jobs: int, client: Any) -> Iterator[StatusRow]:
    """The tasks' status rows, as they complete: on ``client`` (Dask), a pool of ``jobs``, or here."""
    if client is not None:
        return _dask(tasks, client)
    if jobs == 1 or len(tasks) <= 1:
        return _serial(tasks)
    return _local_pool(tasks, jobs)
