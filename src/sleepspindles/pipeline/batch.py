"""Batch runs: every recording of a manifest, in parallel, resumable and failure-isolated.

Each manifest row is one task (:mod:`.tasks`), run by an executor (:mod:`.executors`: this
process, a local process pool, or a Dask cluster). A rerun skips every recording whose folder
is complete and current; a failing recording is recorded with its error and the others go on.
At the end every completed recording's tables are gathered into the cohort tables that
:data:`sleepspindles.schema.RUN_TABLES` declare (``events.parquet``, ``summaries.parquet`` and
``summaries.csv``, ``sigmas.parquet``...), always read back from the folders so a resumed batch
gives the same tables as an uninterrupted one, and ``status.csv`` (one row per manifest row,
with the channels each recording dropped). :func:`sleepspindles.pipeline.cohort.run_cohort`
runs a batch and then lateralises from the stored tables.

On a cluster's job array, each array task runs one shard of the manifest (``shard="I/N"``,
:mod:`.shards`), which writes only its own status; :func:`gather_batch` then writes the cohort
tables, ``status.csv`` and the report as one unsharded batch would.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from .. import output
from ..config import Config
from ..errors import param_error
from ..records import StatusRow
from ..schema import RUN_TABLES, STATUS
from .executors import dask_client, executor
from .shards import Shard, merge_statuses, read_shard_statuses, select
from .tasks import make_tasks

__all__ = ["BatchResult", "gather_tables", "run_batch", "gather_batch", "cohort_files"]

logger = logging.getLogger(__name__)


def cohort_files() -> dict[str, str]:
    """Cohort files a batch writes, by key: each table's Parquet (and CSV) file, and the status."""
    files = {t.name: t.cohort_file for t in RUN_TABLES if t.cohort_file}
    files.update({f"{t.name}_csv": t.cohort_csv for t in RUN_TABLES if t.cohort_csv})
    return {**files, STATUS.name: STATUS.file}


@dataclass(frozen=True)
class BatchResult:
    """Outcome of :func:`run_batch`; ``str()`` is the one-line summary.

    Attributes
    ----------
    out_dir : Path
    rows : tuple of StatusRow
        One per manifest row, in manifest order.
    seconds : float
        Wall time of the batch.
    files : dict of str to Path
        Cohort files written (:func:`cohort_files`); a shard writes only its status.
    command : str
        What made it: ``"batch"`` or ``"gather"``.
    shard : Shard or None
        The slice of the manifest a sharded batch processed (``None``: all of it).
    """

    out_dir: Path
    rows: tuple[StatusRow, ...]
    seconds: float
    files: dict = field(default_factory=dict)
    command: str = "batch"
    shard: Shard | None = None

    @property
    def status(self) -> pd.DataFrame:
        """The rows as the ``status.csv`` table."""
        frame = pd.DataFrame([r.to_record() for r in self.rows], columns=list(STATUS.names))
        return STATUS.conform(frame)

    def _labels(self, state: str) -> list[str]:
        return [f"{r.subject}/{r.night}" for r in self.rows if r.status == state]

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
        where = (f"tables in {self.out_dir}" if self.shard is None else
                 f"status in {self.files[STATUS.name]} (then 'sleepspindles gather' once every shard is done)")
        status = STATUS.file if self.shard is None else self.shard.status_file
        line = (f"{self.command}{'' if self.shard is None else f' shard {self.shard}'}: {len(self.rows)} "
                f"recording(s) in {self.seconds:.1f} s: {len(self.done)} processed, {len(self.skipped)} already "
                f"complete, {len(self.failed)} failed; {where}")
        if self.failed:
            shown = ", ".join(self.failed[:5]) + (", ..." if len(self.failed) > 5 else "")
            line += f"; failed: {shown} (errors in {status})"
        return line


def gather_tables(rows: Iterable[StatusRow]) -> dict[str, pd.DataFrame]:
    """Every declared table of every completed recording, ``subject`` and ``night`` first.

    Always read back from the folders, in manifest order, so a resumed batch gives the same
    tables as an uninterrupted one.
    """
    from ..io.results import read_run_tables

    parts: dict[str, list[pd.DataFrame]] = {t.name: [] for t in RUN_TABLES if t.cohort_file}
    for row in sorted(rows, key=lambda r: r.row):
        if not row.succeeded:
            continue
        stored = read_run_tables(row.out_dir)
        for name, frame in stored.tables.items():
            if name in parts and len(frame):  # empty parts only add dtype noise to concat
                parts[name].append(frame.assign(subject=row.subject, night=row.night))
    out = {}
    for table in RUN_TABLES:
        if table.name in parts:
            columns = ["subject", "night", *table.names]
            frames = parts[table.name]
            out[table.name] = pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    return out


def _progress(outcomes: Iterable[StatusRow], total: int, progress: bool) -> list[StatusRow]:
    """Consume outcomes under a tqdm bar (elapsed, remaining); failures logged as they come."""
    from tqdm.auto import tqdm

    rows: list[StatusRow] = []
    with tqdm(total=total, unit="rec", desc="recordings", disable=None if progress else True) as bar:
        for row in outcomes:
            rows.append(row)
            if row.status == "failed":
                logger.warning("%s/%s failed: %s", row.subject, row.night, row.error)
            bar.update(1)
            bar.set_postfix(failed=sum(r.status == "failed" for r in rows), refresh=False)
    return rows


def _write_cohort_tables(out: Path, tables: Mapping[str, pd.DataFrame], rows: list[StatusRow]) -> dict[str, Path]:
    """The gathered tables (Parquet, and CSV where declared) and ``status.csv``."""
    files = {}
    for table in RUN_TABLES:
        if table.name in tables:
            files[table.name] = output.write_parquet(out / table.cohort_file, tables[table.name])
            if table.cohort_csv:
                files[f"{table.name}_csv"] = output.write_csv(out / table.cohort_csv, tables[table.name])
    files[STATUS.name] = output.write_status(out / STATUS.file, rows)
    return files


def _finish(out: Path, rows: list[StatusRow], started: float, *, report: bool, command: str) -> BatchResult:
    """Write the cohort tables, ``status.csv`` and (with ``report``) the status-only cohort report."""
    files = _write_cohort_tables(out, gather_tables(rows), rows)
    result = BatchResult(out_dir=out, rows=tuple(rows), seconds=time.perf_counter() - started, files=files,
                         command=command)
    if report:
        from ..report import write_cohort_report

        files["report"] = write_cohort_report(None, result.status, out, title="Batch report")
    return result


def run_batch(
    manifest_path: str | Path,
    out_dir: str | Path,
    config: Config | None = None,
    jobs: int | None = None,
    scheduler: str | None = None,
    *,
    shard: str | None = None,
    progress: bool = True,
    report: bool = True,
) -> BatchResult:
    """Process every recording of a manifest (or of one shard of it); resumable and failure-isolated.

    Parameters
    ----------
    manifest_path : str or Path
        Cohort manifest CSV (:mod:`sleepspindles.io.manifest`), one row per recording.
    out_dir : str or Path
        Output folder: one sub-folder per recording plus the cohort tables.
    config : Config, optional
    jobs : int, optional
        Local worker processes (default ``config.batch.jobs``); 1 runs in this process. With
        ``scheduler="local"``, the workers of the Dask LocalCluster.
    scheduler : str, optional
        Dask scheduler address (``tcp://host:port``; default ``config.batch.scheduler``): tasks go
        to that cluster instead of the local pool; ``"local"`` starts a Dask LocalCluster of
        ``jobs`` workers (each with ``config.batch.worker_memory``). A task lost with its worker is
        resubmitted as :mod:`.executors` says (``config.batch.retries``).
    shard : str, optional
        ``"I/N"``: process only shard ``I`` of ``N`` (:mod:`.shards` says which rows) and write
        ``status-shard-I-of-N.csv`` instead of the cohort tables, ``status.csv`` and the report;
        :func:`gather_batch` writes those once every shard is done.
    progress : bool
        Show a progress bar (only on a terminal).
    report : bool
        Write the status-only ``cohort_report.html`` (:func:`sleepspindles.pipeline.cohort.run_cohort`
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
        When ``jobs`` or ``shard`` is invalid, or ``scheduler`` is given and no Dask scheduler
        answers there within 5 s.
    """
    config = config or Config()
    if config.report.format != "html":
        from ..report import check_format  # a PDF printer missing fails here, not in every row

        check_format(config.report.format)
    jobs = config.batch.jobs if jobs is None else jobs
    scheduler = config.batch.scheduler if scheduler is None else scheduler
    if not isinstance(jobs, int) or jobs < 1:
        raise param_error("jobs", "a positive integer", jobs)
    part = None if shard is None else Shard.parse(shard)
    started = time.perf_counter()
    tasks = make_tasks(manifest_path, out_dir, config)  # the whole manifest: every shard checks all of it
    tasks = tasks if part is None else select(tasks, part)
    out = output.prepare_folder(out_dir)
    with dask_client(scheduler, jobs, config.batch) as client:
        outcomes = executor(tasks, jobs, client, config.batch.retries)
        rows = sorted(_progress(outcomes, len(tasks), progress), key=lambda r: r.row)
    if part is None:
        return _finish(out, rows, started, report=report, command="batch")
    files = {STATUS.name: output.write_status(out / part.status_file, rows)}
    return BatchResult(out_dir=out, rows=tuple(rows), seconds=time.perf_counter() - started, files=files, shard=part)


def gather_batch(manifest_path: str | Path, out_dir: str | Path, *, report: bool = True) -> BatchResult:
    """Merge the shards of a sharded batch and write what one unsharded batch writes.

    Every shard ``I`` of ``N`` must have written ``status-shard-I-of-N.csv`` into ``out_dir``.
    Each manifest row gets the status its shard wrote (:func:`sleepspindles.pipeline.shards.merge_statuses`);
    a row no shard processed, or whose folder its shard did not finish, is failed with an error
    naming the shard to rerun. Then the cohort tables, ``status.csv`` and (with ``report``) the
    status-only ``cohort_report.html`` are written as by :func:`run_batch`.

    Parameters
    ----------
    manifest_path : str or Path
        The manifest the shards ran.
    out_dir : str or Path
        Their output folder.
    report : bool
        Write the status-only ``cohort_report.html``.

    Returns
    -------
    BatchResult
        ``failed`` lists the rows that failed, in a shard or here.

    Raises
    ------
    DataError
        When the manifest is invalid, or a shard's status is missing (the message lists the
        missing shards), unreadable, or of another shard count than the others.
    """
    started = time.perf_counter()
    # The configuration shapes no step here: folders are checked by their run.json, not recomputed.
    tasks = make_tasks(manifest_path, out_dir, Config())
    count, statuses = read_shard_statuses(out_dir)
    rows = merge_statuses(tasks, count, statuses)
    return _finish(output.prepare_folder(out_dir), rows, started, report=report, command="gather")
