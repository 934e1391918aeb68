"""One batch row: skip it when its folder is complete and current, else compute and write it.

A :class:`Task` is one manifest row (picklable: it is sent to worker processes or Dask
workers). :func:`process_task` never raises for a bad recording: the failure becomes the row's
:class:`~sleepspindles.records.StatusRow`. A task writes the same files as ``sleepspindles run``
into ``<out>/<folder_name(subject, night)>/`` as a set (:class:`sleepspindles.output.RunFolder`,
``run.json`` last), so a folder whose ``run.json`` records the same input checksums,
configuration, subject, night and trained hand is complete and is skipped on a rerun.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .. import output
from ..config import Config, config_to_dict
from ..errors import SleepSpindlesError, file_error
from ..io.manifest import ManifestRow, read_manifest
from ..records import InputFile, RunRecord, StatusRow
from ..schema import EVENT_KINDS

__all__ = ["Task", "recording_key", "folder_name", "make_tasks", "is_complete", "same_inputs", "process_task",
           "failed_row"]

logger = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class Task:
    """One recording to process."""

    row: int
    subject: str
    night: str
    recording: str
    hypnogram: str | None
    trained_hand: str | None
    out_dir: str
    config: Config


def recording_key(subject: str, night: str) -> str:
    """SHA-256 (hex) of a recording's ``(subject, night)``: the same on every machine and in every run."""
    return hashlib.sha256(json.dumps([subject, night]).encode("utf-8")).hexdigest()


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
    return f"{safe}-{recording_key(subject, night)[:8]}"


def make_tasks(manifest_path: str | Path, out_dir: str | Path, config: Config) -> list[Task]:
    """One :class:`Task` per manifest row (validated as for ``cohort``, but a row may have no trained hand).

    Raises
    ------
    DataError
        When the manifest is invalid, or two rows would write to the same output folder.
    """
    manifest = read_manifest(manifest_path, hand=False)  # a batch does not lateralise
    out = Path(out_dir).resolve()
    return [
        Task(row=r.row, subject=r.subject, night=r.night, recording=r.recording, hypnogram=r.hypnogram,
             trained_hand=r.trained_hand, out_dir=str(out / name), config=_row_config(config, r))
        for r, name in zip(manifest.rows, _folder_names(manifest.path, manifest.rows))
    ]


def _row_config(config: Config, row: ManifestRow) -> Config:
    """``config`` with the row's bad channels added to ``load.exclude`` (so run.json records them)."""
    if not row.bad_channels:
        return config
    return config.replace("load", exclude=sorted({*config.load.exclude, *row.bad_channels}))


def _folder_names(manifest_path: str, rows: tuple[ManifestRow, ...]) -> list[str]:
    """Each row's :func:`folder_name`; two rows sharing one (ignoring case) are an error.

    Case counts because ``s01_post`` and ``S01_post`` are one folder on a case-insensitive file
    system (macOS, Windows): the second recording would overwrite the first.
    """
    names: list[str] = []
    seen: dict[str, tuple[ManifestRow, str]] = {}
    for r in rows:
        name = folder_name(r.subject, r.night)
        first, first_name = seen.setdefault(name.casefold(), (r, name))
        if first.row != r.row:
            same = f"the same output folder {name!r}" if first_name == name else (
                f"output folders {first_name!r} and {name!r}, one folder on a case-insensitive file system")
            raise file_error(manifest_path, f"rows {first.row} and {r.row} (subject {first.subject!r} night "
                                            f"{first.night!r}, subject {r.subject!r} night {r.night!r}) would "
                                            f"write to {same}; rename one of them")
        names.append(name)
    return names


def _inputs(task: Task) -> dict[str, InputFile]:
    """The inputs ``run.json`` must record for the task's outputs to be current."""
    from ..io.checksum import input_file

    inputs = {"recording": input_file(task.recording)}
    if task.hypnogram is not None:
        inputs["hypnogram"] = input_file(task.hypnogram)
    return inputs


def same_inputs(run: RunRecord, task: Task) -> bool:
    """Whether ``run`` was made from the task's files as they are now (recording and hypnogram SHA-256)."""
    try:
        current = _inputs(task)
    except SleepSpindlesError:  # a file gone or unreadable: nothing it made is current
        return False
    return {k: v.sha256 for k, v in run.inputs.items()} == {k: v.sha256 for k, v in current.items()}


def is_complete(task: Task) -> RunRecord | None:
    """The task's run record when its outputs are complete and current, else ``None``.

    Current means: same recording (and hypnogram) SHA-256, same configuration (but for its
    ``batch`` section, which changes no output), and the same subject, night and trained hand
    (the report depends on them); complete means that every table the configuration produces is
    listed in ``run.json`` and, with the report (``report.html`` or ``report.pdf``), exists.
    """
    from ..io.results import read_run_record
    from .run import expected_tables

    run = read_run_record(task.out_dir)
    if run is None or (run.subject, run.night, run.trained_hand) != (task.subject, task.night, task.trained_hand):
        return None
    if _computing(run.config) != _computing(json.loads(json.dumps(config_to_dict(task.config)))):
        return None
    if not same_inputs(run, task):
        return None
    folder = Path(task.out_dir)
    wanted = {t.file for t in expected_tables(task.config)}
    report = f"report.{task.config.report.format}"
    if not wanted <= set(run.files) or not all((folder / n).is_file() for n in {*run.files, report}):
        return None
    return run


def _computing(config: Mapping[str, Any]) -> dict[str, Any]:
    """The sections of a configuration that shape the outputs.

    The ``batch`` section says how tasks run (workers, scheduler, retries, memory), never what
    they compute: changing it, or a version adding a key to it, must not recompute a cohort.
    """
    return {section: values for section, values in config.items() if section != "batch"}


def _row(task: Task, **values) -> StatusRow:
    return StatusRow(row=task.row, subject=task.subject, night=task.night, recording=task.recording,
                     out_dir=task.out_dir, **values)


def failed_row(task: Task, error: str) -> StatusRow:
    """The status of a task that failed with ``error``."""
    return _row(task, status="failed", counts={k.name: -1 for k in EVENT_KINDS}, error=error)


def _succeeded(task: Task, status: str, run: RunRecord) -> StatusRow:
    """Status of a computed or reused folder: events per kind, channels dropped and why."""
    dropped = "; ".join(f"{name}: {reason}" for name, reason in run.recording.dropped_channels.items())
    return _row(task, status=status, counts={k.name: run.count(k.name) for k in EVENT_KINDS},
                dropped_channels=dropped)


def process_task(task: Task) -> StatusRow:
    """Process one recording (or skip it when complete); never raises for a bad recording."""
    started = time.perf_counter()
    try:
        run = is_complete(task)
        status = _succeeded(task, "done", _compute(task)) if run is None else _succeeded(task, "skipped", run)
    except Exception as exc:  # noqa: BLE001 - one bad recording must not stop the batch
        message = str(exc) if isinstance(exc, SleepSpindlesError) else f"{type(exc).__name__}: {exc}"
        logger.debug("row %d failed", task.row, exc_info=True)
        status = failed_row(task, message)
    return replace(status, seconds=round(time.perf_counter() - started, 3))


def _compute(task: Task) -> RunRecord:
    """Run the pipeline and write the folder as a set (``run.json`` removed first, written last)."""
    from ..report import write_subject_report
    from .run import process_recording

    folder = output.RunFolder(task.out_dir)
    if not Path(task.recording).is_file():
        raise file_error(task.recording, "recording file not found")
    if task.hypnogram is not None and not Path(task.hypnogram).is_file():
        raise file_error(task.hypnogram, "hypnogram file not found")
    result = process_recording(task.recording, task.hypnogram, task.config)
    folder.add(write_subject_report(result, folder.path, trained_hand=task.trained_hand, subject=task.subject,
                                    night=task.night))
    record = result.record.with_(subject=task.subject, night=task.night, trained_hand=task.trained_hand)
    folder.write_tables(result.tables)
    folder.finish(record)
    return record
