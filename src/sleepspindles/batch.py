"""Batch runs: every recording of a manifest, in parallel, resumable and failure-isolated.

Each manifest row is one task, run by :func:`process_task` in a worker (a local process pool,
or a Dask distributed cluster when a scheduler address is given). A task writes the same files
as ``sleepspindles run`` plus the sigma power table into ``<out>/<subject>_<night>/``
(:func:`folder_name`; ``report.html`` first, ``events.csv``, ``summary.csv``, ``sigma.csv``,
then ``run.json`` last, through :class:`sleepspindles.output.RunFolder`), so a folder whose
``run.json`` records the same input checksums, configuration, subject, night and trained hand is
complete and is skipped on a rerun. A failing recording is recorded with its error; the others
go on. Local workers end themselves when the batch process dies, however it dies. At the end
the results of every completed recording are gathered into ``events.parquet``,
``summaries.parquet``, ``summaries.csv``, ``sigmas.parquet`` and ``status.csv`` (one row per
manifest row, with the channels dropped as unusable). :func:`sleepspindles.cohort.run_cohort`
runs a batch and then lateralises from the stored tables.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import signal
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import pandas as pd

from . import output
from .config import Config, config_to_dict
from .errors import ConfigError, SleepSpindlesError, file_error, param_error
from .schema import SIGMA, SPINDLE_SUMMARY, SPINDLES

__all__ = [
    "Task",
    "BatchResult",
    "BatchTables",
    "STATUS_COLUMNS",
    "BATCH_FILES",
    "folder_name",
    "make_tasks",
    "process_task",
    "gather_tables",
    "run_batch",
]

logger = logging.getLogger(__name__)

#: Columns of ``status.csv`` (one row per manifest row).
#: ``dropped_channels`` lists the channels the loader left out, with why (``"F4: flat; O2: ..."``).
STATUS_COLUMNS = ("row", "subject", "night", "recording", "status", "n_spindles", "dropped_channels", "seconds",
                  "error", "out_dir")
#: Cohort files written by :func:`run_batch`, by key.
BATCH_FILES = {
    "events": "events.parquet",
    "summaries": "summaries.parquet",
    "summaries_csv": "summaries.csv",
    "sigmas": "sigmas.parquet",
    "status": "status.csv",
}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_CONNECT_SECONDS = 5  # to reach a Dask scheduler, before any task is sent
_WATCH_SECONDS = 0.5  # how often a local worker checks that the batch process is still there
_PR_SET_PDEATHSIG = 1  # Linux prctl option: a signal for this process when its parent dies


@dataclass(frozen=True)
class Task:
    """One recording to process (picklable: sent to worker processes or Dask workers)."""

    row: int
    subject: str
    night: str
    recording: str
    hypnogram: str | None
    trained_hand: str | None
    out_dir: str
    config: Config


def folder_name(subject: str, night: str) -> str:
    """Output folder of one recording: ``<subject>_<night>``, made safe and kept distinct.

    When ``<subject>_<night>`` holds a character unsafe in file names, those are replaced by
    ``-`` and a short hash of the raw values is appended, so ``A/B`` and ``A-B`` (night ``post``)
    get different folders (``A-B_post-<hash>`` and ``A-B_post``). The name is stable across runs.
    """
    raw = f"{subject}_{night}"
    safe = _UNSAFE.sub("-", raw)
    if safe == raw:
        return raw
    digest = hashlib.sha256(json.dumps([subject, night]).encode("utf-8")).hexdigest()[:8]
    return f"{safe}-{digest}"


def make_tasks(manifest_path: str | Path, out_dir: str | Path, config: Config) -> list[Task]:
    """One :class:`Task` per manifest row (the manifest is validated as for ``cohort``).

    Raises
    ------
    DataError
        When the manifest is invalid, or two rows would write to the same output folder.
    """
    from .io.manifest import read_manifest

    manifest = read_manifest(manifest_path)
    out = Path(out_dir).resolve()
    rows = manifest.table.to_dict("records")
    return [
        Task(
            row=int(r["row"]),
            subject=str(r["subject"]),
            night=str(r["night"]),
            recording=str(r["recording"]),
            hypnogram=r["hypnogram"],
            trained_hand=r["trained_hand"],
            out_dir=str(out / name),
            config=config,
        )
        for r, name in zip(rows, _folder_names(manifest.path, rows))
    ]


def _folder_names(manifest_path: str, rows: list[dict]) -> list[str]:
    """Each row's :func:`folder_name`; two rows sharing one (ignoring case) are an error.

    Case counts because ``s01_post`` and ``S01_post`` are one folder on a case-insensitive file
    system (macOS, Windows): the second recording would overwrite the first.
    """
    names: list[str] = []
    seen: dict[str, dict] = {}
    for r in rows:
        name = folder_name(str(r["subject"]), str(r["night"]))
        first = seen.setdefault(name.casefold(), {**r, "folder": name})
        if first["row"] != r["row"]:
            same = f"the same output folder {name!r}" if first["folder"] == name else (
                f"output folders {first['folder']!r} and {name!r}, one folder on a case-insensitive file system")
            raise file_error(manifest_path, f"rows {first['row']} and {r['row']} (subject {first['subject']!r} "
                                            f"night {first['night']!r}, subject {r['subject']!r} night "
                                            f"{r['night']!r}) would write to {same}; rename one of them")
        names.append(name)
    return names


def _inputs(task: Task) -> dict:
    """The ``inputs`` block that ``run.json`` must record for the task's outputs to be current."""
    from .io.checksum import sha256_file

    inputs = {"recording": {"path": task.recording, "sha256": sha256_file(task.recording)}}
    if task.hypnogram is not None:
        inputs["hypnogram"] = {"path": task.hypnogram, "sha256": sha256_file(task.hypnogram)}
    return inputs


def is_complete(task: Task) -> dict | None:
    """The task's ``run.json`` when its outputs are complete and current, else ``None``.

    Current means: same recording (and hypnogram) SHA-256, same configuration, and the same
    subject, night and trained hand (the report depends on them); complete means every file
    ``run.json`` lists, the standard tables and ``report.html`` exist.
    """
    from .io.results import RUN_TABLES, read_run_json

    run = read_run_json(task.out_dir)
    if run is None:
        return None
    if [run.get(k) for k in ("subject", "night", "trained_hand")] != [task.subject, task.night, task.trained_hand]:
        return None
    wanted_config = json.loads(json.dumps(config_to_dict(task.config)))
    if run.get("config") != wanted_config:
        return None
    try:
        current = _inputs(task)
    except SleepSpindlesError:
        return None
    recorded = run.get("inputs", {})
    if set(recorded) != set(current) or any(recorded[k].get("sha256") != v["sha256"] for k, v in current.items()):
        return None
    folder = Path(task.out_dir)
    if not all((folder / name).is_file() for name in {*run.get("files", []), *RUN_TABLES, "report.html"}):
        return None
    return run


def _status_row(task: Task, **values: Any) -> dict:
    """The task's row of the status table (:data:`STATUS_COLUMNS`), defaults overridden by ``values``."""
    return {"row": task.row, "subject": task.subject, "night": task.night, "recording": task.recording,
            "status": "done", "n_spindles": -1, "dropped_channels": "", "seconds": 0.0, "error": "",
            "out_dir": task.out_dir, **values}


def _run_facts(run: dict) -> dict:
    """Status columns from a recording's ``run.json``: spindles found, channels dropped and why."""
    dropped = (run.get("recording") or {}).get("dropped_channels") or {}
    return {"n_spindles": int((run.get("detection") or {}).get("n_events", -1)),
            "dropped_channels": "; ".join(f"{name}: {reason}" for name, reason in dropped.items())}


def process_task(task: Task) -> dict:
    """Process one recording (or skip it when complete); never raises for a bad recording.

    Returns
    -------
    dict
        A row of the status table (:data:`STATUS_COLUMNS`); ``status`` is ``"done"``,
        ``"skipped"`` or ``"failed"`` (with ``error``).
    """
    started = time.perf_counter()
    try:
        run = is_complete(task)
        state = "done" if run is None else "skipped"
        status = _status_row(task, status=state, **_run_facts(_compute(task) if run is None else run))
    except Exception as exc:  # noqa: BLE001 - one bad recording must not stop the batch
        message = str(exc) if isinstance(exc, SleepSpindlesError) else f"{type(exc).__name__}: {exc}"
        logger.debug("row %d failed", task.row, exc_info=True)
        status = _status_row(task, status="failed", error=message)
    status["seconds"] = round(time.perf_counter() - started, 3)
    return status


def _compute(task: Task) -> dict:
    """Run the pipeline and write the folder as a set (``run.json`` removed first, written last).

    Returns the provenance written to ``run.json``.
    """
    from .pipeline import process_recording
    from .report import write_subject_report

    folder = output.RunFolder(task.out_dir)
    if not Path(task.recording).is_file():
        raise file_error(task.recording, "recording file not found")
    if task.hypnogram is not None and not Path(task.hypnogram).is_file():
        raise file_error(task.hypnogram, "hypnogram file not found")
    result = process_recording(task.recording, task.hypnogram, task.config)
    folder.add(write_subject_report(result, folder.path, trained_hand=task.trained_hand, subject=task.subject,
                                    night=task.night))
    metadata = {**result.metadata, "subject": task.subject, "night": task.night, "trained_hand": task.trained_hand}
    folder.write_tables(result.events, result.summary, sigma=result.sigma)
    folder.finish(metadata)
    return metadata


# ----------------------------------------------------------------------- executors


def _serial(tasks: list[Task]) -> Iterator[dict]:
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


def _local_pool(tasks: list[Task], jobs: int) -> Iterator[dict]:
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
def _dask_client(address: str | None) -> Iterator[Any]:
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


def _dask(tasks: list[Task], client: Any) -> Iterator[dict]:
    """Tasks on a Dask distributed cluster (workers must see the same file paths)."""
    from distributed import as_completed as dask_completed

    futures = client.map(process_task, tasks, pure=False)
    by_key = {f.key: t for f, t in zip(futures, tasks)}
    try:
        for future in dask_completed(futures):
            yield _outcome(future, by_key[future.key])
    finally:
        client.cancel([f for f in futures if not f.done()])


def _outcome(future, task: Task) -> dict:
    """A future's status row; a crashed worker becomes a failed row, not a crashed batch."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - e.g. a worker killed by the OOM killer
        return _status_row(task, status="failed", error=f"worker failed: {type(exc).__name__}: {exc}")


def _executor(tasks: list[Task], jobs: int, client: Any) -> Iterator[dict]:
    if client is not None:
        return _dask(tasks, client)
    if jobs == 1 or len(tasks) <= 1:
        return _serial(tasks)
    return _local_pool(tasks, jobs)


# ----------------------------------------------------------------------- results


@dataclass(frozen=True)
class BatchResult:
    """Outcome of :func:`run_batch`; ``str()`` is the one-line summary.

    Attributes
    ----------
    out_dir : Path
    status : pandas.DataFrame
        One row per manifest row (:data:`STATUS_COLUMNS`), in manifest order.
    seconds : float
        Wall time of the batch.
    files : dict of str to Path
        Cohort files written (:data:`BATCH_FILES`).
    """

    out_dir: Path
    status: pd.DataFrame
    seconds: float
    files: dict = field(default_factory=dict)

    def _labels(self, state: str) -> list[str]:
        sel = self.status[self.status["status"] == state]
        return [f"{s}/{n}" for s, n in zip(sel["subject"], sel["night"])]

    @property
    def failed(self) -> list[str]:
        """``subject/night`` of every failed recording (empty when all succeeded)."""
        return self._labels("failed")

    @property
    def done(self) -> list[str]:
        """Recordings computed in this run."""
        return self._labels("done")

    @property
    def skipped(self) -> list[str]:
        """Recordings already complete (same input checksum and configuration), not recomputed."""
        return self._labels("skipped")

    def __str__(self) -> str:
        n = len(self.status)
        line = (f"batch: {n} recording(s) in {self.seconds:.1f} s: {len(self.done)} processed, "
                f"{len(self.skipped)} already complete, {len(self.failed)} failed; tables in {self.out_dir}")
        if self.failed:
            shown = ", ".join(self.failed[:5]) + (", ..." if len(self.failed) > 5 else "")
            line += f"; failed: {shown} (errors in {BATCH_FILES['status']})"
        return line


def _tagged(frame: pd.DataFrame, status: dict) -> pd.DataFrame:
    """``frame`` with ``subject`` and ``night`` columns first."""
    out = frame.copy()
    out.insert(0, "night", status["night"])
    out.insert(0, "subject", status["subject"])
    return out


@dataclass(frozen=True)
class BatchTables:
    """Cohort tables gathered from the run folders (each with ``subject`` and ``night`` first)."""

    events: pd.DataFrame
    summaries: pd.DataFrame
    sigmas: pd.DataFrame


def gather_tables(status: pd.DataFrame) -> BatchTables:
    """Cohort events, summaries and sigma power from every completed recording, in manifest order.

    Always read back from the files, so a resumed batch gives the same tables as an
    uninterrupted one.
    """
    from .io.results import read_run_tables

    parts: dict[str, list[pd.DataFrame]] = {"events": [], "summaries": [], "sigmas": []}
    for row in status.sort_values("row").to_dict("records"):
        if row["status"] in ("done", "skipped"):
            tables = read_run_tables(row["out_dir"])
            for key, frame in zip(parts, (tables.events, tables.summary, tables.sigma)):
                if len(frame):  # empty parts only add dtype noise (and a pandas warning) to concat
                    parts[key].append(_tagged(frame, row))
    columns = {"events": SPINDLES.names, "summaries": SPINDLE_SUMMARY.names, "sigmas": SIGMA.names}
    return BatchTables(**{
        key: pd.concat(frames, ignore_index=True) if frames
        else pd.DataFrame(columns=["subject", "night", *columns[key]])
        for key, frames in parts.items()
    })


def _progress(outcomes: Iterable[dict], total: int, progress: bool) -> list[dict]:
    """Consume outcomes under a tqdm bar (elapsed, remaining); failures logged as they come."""
    from tqdm.auto import tqdm

    rows = []
    with tqdm(total=total, unit="rec", desc="recordings", disable=None if progress else True) as bar:
        for row in outcomes:
            rows.append(row)
            if row["status"] == "failed":
                logger.warning("%s/%s failed: %s", row["subject"], row["night"], row["error"])
            bar.update(1)
            bar.set_postfix(failed=sum(r["status"] == "failed" for r in rows), refresh=False)
    return rows


def run_batch(
    manifest_path: str | Path,
    out_dir: str | Path,
    config: Config | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    *,
    progress: bool = True,
    report: bool = True,
) -> BatchResult:
    """Process every recording of a manifest; resumable and failure-isolated.

    Parameters
    ----------
    manifest_path : str or Path
        Cohort manifest CSV (:mod:`sleepspindles.io.manifest`), one row per recording.
    out_dir : str or Path
        Output folder: one sub-folder per recording plus the cohort tables.
    config : Config, optional
    jobs : int, optional
        Local worker processes (default ``config.batch.jobs``); 1 runs in this process.
    scheduler : str, optional
        Dask scheduler address (``tcp://host:port``; default ``config.batch.scheduler``). When
        given, tasks go to that cluster instead of the local pool.
    progress : bool
        Show a progress bar (only on a terminal).
    report : bool
        Write the status-only ``cohort_report.html`` (:func:`sleepspindles.cohort.run_cohort`
        writes its own, with statistics).

    Returns
    -------
    BatchResult
        ``failed`` lists the recordings that failed (their errors are in ``status.csv``).

    Raises
    ------
    DataError
        When the manifest itself is invalid, two of its rows would share an output folder, or
        ``out_dir`` cannot be written (a bad recording only fails its own row).
    ConfigError
        When ``scheduler`` is given and no Dask scheduler answers there within 5 s.
    """
    config = config or Config()
    jobs = config.batch.jobs if jobs is None else jobs
    scheduler = config.batch.scheduler if scheduler is None else scheduler
    if not isinstance(jobs, int) or jobs < 1:
        raise param_error("jobs", "a positive integer", jobs)
    started = time.perf_counter()
    tasks = make_tasks(manifest_path, out_dir, config)
    out = output.prepare_folder(out_dir)
    with _dask_client(scheduler) as client:
        rows = _progress(_executor(tasks, jobs, client), len(tasks), progress)
    status = pd.DataFrame(rows, columns=list(STATUS_COLUMNS)).sort_values("row", ignore_index=True)
    tables = gather_tables(status)
    files = {
        "events": output.write_parquet(out / BATCH_FILES["events"], tables.events),
        "summaries": output.write_parquet(out / BATCH_FILES["summaries"], tables.summaries),
        "summaries_csv": output.write_csv(out / BATCH_FILES["summaries_csv"], tables.summaries),
        "sigmas": output.write_parquet(out / BATCH_FILES["sigmas"], tables.sigmas),
        "status": output.write_csv(out / BATCH_FILES["status"], status),
    }
    if report:
        files["report"] = _cohort_report(status, out)
    return BatchResult(out_dir=out, status=status, seconds=time.perf_counter() - started, files=files)


def _cohort_report(status: pd.DataFrame, out: Path) -> Path:
    """The cohort report page: every recording's status (statistics come from ``cohort``)."""
    from .report import write_cohort_report

    return write_cohort_report(None, status, out, title="Batch report")
