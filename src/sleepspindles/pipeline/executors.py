"""Where batch tasks run: in this process, on a local process pool, or on a Dask cluster.

Each executor yields one :class:`~sleepspindles.records.StatusRow` per task as tasks complete;
a worker that crashes (killed by the OOM killer, say) fails its own row, not the batch. Local
workers end themselves when the batch process dies, however it dies (SIGKILL included).

On Dask, a task lost with its worker is put back by the scheduler up to its
``distributed.scheduler.allowed-failures`` times before it fails with ``KilledWorker``, and a task
that raises is resubmitted ``batch.retries`` times (``client.map(..., retries=n)``; a bad recording
never raises: it is a failed row at once). A LocalCluster that the batch starts itself
(scheduler ``"local"``: ``jobs`` single-threaded worker processes) has ``allowed-failures`` set to
``batch.retries`` as well, and each worker the memory limit ``batch.worker_memory`` (Dask pauses
a worker at 80 % of it and restarts it at 95 %, which loses its task). A cluster started by
others owns its workers: their limit is ``dask worker --memory-limit 4GB`` (or the cluster
manager's ``memory``) and the lost-task count the scheduler's ``allowed-failures``
(``DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES=1 dask scheduler``).
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

from ..config import BatchConfig
from ..errors import ConfigError, param_error
from ..records import StatusRow
from .tasks import Task, failed_row, process_task

__all__ = ["LOCAL", "executor", "dask_client"]

#: Scheduler "address" that starts a Dask LocalCluster on this machine for the batch.
LOCAL = "local"

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
def dask_client(address: str | None, jobs: int, batch: BatchConfig) -> Iterator[Any]:
    """A client of the Dask scheduler at ``address`` (``None`` without one), closed at the end.

    ``address`` ``"local"`` (:data:`LOCAL`) starts a LocalCluster of ``jobs`` workers for the
    batch, with ``batch.worker_memory`` and ``batch.retries`` (see the module), closed with it.
    Raises a one-line :class:`ConfigError` at once when no scheduler answers at ``address``,
    before any task is sent (Dask itself would wait 30 s, then raise).
    """
    if batch.worker_memory is not None and address != LOCAL:
        logger.warning("batch.worker_memory applies to the scheduler %r only; ignored (the workers of a Dask "
                       "cluster take theirs from 'dask worker --memory-limit')", LOCAL)
    if not address:
        yield None
        return
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError:
        raise param_error("scheduler", "usable only with dask installed (pip install 'sleepspindles[dask]')",
                          address) from None
    if address == LOCAL:
        # The scheduler reads allowed-failures when it starts: set it for this cluster only.
        with dask.config.set({"distributed.scheduler.allowed-failures": batch.retries}):
            cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None,
                                   memory_limit=batch.worker_memory or "auto")
        with cluster, Client(cluster) as client:
            yield client
        return
    try:
        client = Client(address, timeout=_CONNECT_SECONDS)
    except Exception as exc:  # noqa: BLE001 - a wrong address or whatever answers there fails in many ways
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"Dask scheduler {address}: not reachable within {_CONNECT_SECONDS} s ({reason})") from None
    with client:
        yield client


def _dask(tasks: list[Task], client: Any, retries: int) -> Iterator[StatusRow]:
    """Tasks on a Dask distributed cluster (workers must see the same file paths)."""
    from distributed import as_completed as dask_completed

    futures = client.map(process_task, tasks, pure=False, retries=retries)
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


def executor(tasks: list[Task], jobs: int, client: Any, retries: int) -> Iterator[StatusRow]:
    """The tasks' status rows, as they complete: on ``client`` (Dask), a pool of ``jobs``, or here.

    ``retries`` is for Dask only: times a task that raised is resubmitted (see the module).
    """
    if client is not None:
        return _dask(tasks, client, retries)
    if jobs == 1 or len(tasks) <= 1:
        return _serial(tasks)
    return _local_pool(tasks, jobs)
