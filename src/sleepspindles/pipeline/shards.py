"""Sharded batches for job arrays: each array task runs one slice of the manifest, then one gathers.

``sleepspindles batch MANIFEST --out DIR --shard I/N`` processes only the rows of shard ``I`` of
``N`` (:func:`select`) into the shared recording folders (resumable as any batch) and writes
``status-shard-I-of-N.csv``, not the cohort tables: a shard sees only its own rows.
``sleepspindles gather MANIFEST --out DIR`` (:func:`sleepspindles.pipeline.batch.gather_batch`)
then reads the N statuses (:func:`read_shard_statuses`), gives every manifest row one status
(:func:`merge_statuses`) and writes what one unsharded batch writes.

Slicing rule: rows are ranked by the SHA-256 of their ``(subject, night)`` (the identity of their
output folder) and dealt round-robin, the row of rank ``r`` (from 0) to shard ``r % N + 1``. So
shard sizes differ by at most one (the array's wall time is that of its largest shard), and the
slices depend only on which recordings the manifest lists: not on the machine, the order of its
rows or the order in which rows complete. Adding or removing a row can move other rows to another
shard; that is harmless, as folders are shared and a complete one is skipped whichever shard
meets it, but the shards of one array must run on the same manifest.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import file_error, param_error
from ..io.results import read_run_record, read_status, shard_status_files, shard_status_name
from ..records import StatusRow
from .tasks import Task, failed_row, recording_key, same_inputs

__all__ = ["Shard", "assign", "select", "read_shard_statuses", "merge_statuses"]

_SHARD = re.compile(r"\s*([0-9]+)\s*/\s*([0-9]+)\s*")


@dataclass(frozen=True)
class Shard:
    """Slice ``index`` (from 1) of ``count`` of a manifest; ``str()`` is ``"index/count"``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """The shard of ``"I/N"`` (e.g. ``"$SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT"``).

        Raises
        ------
        ConfigError
            Unless ``text`` is ``I/N`` with ``1 <= I <= N``.
        """
        match = _SHARD.fullmatch(text) if isinstance(text, str) else None
        if match is None or not 1 <= int(match[1]) <= int(match[2]):
            raise param_error("shard", "I/N with 1 <= I <= N", text)
        return cls(int(match[1]), int(match[2]))

    @property
    def status_file(self) -> str:
        """The file this shard's status goes to (``status-shard-I-of-N.csv``)."""
        return shard_status_name(self.index, self.count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def assign(tasks: Sequence[Task], count: int) -> list[int]:
    """The shard (from 1) of each task among ``count``, by the slicing rule of this module."""
    ranked = sorted(range(len(tasks)), key=lambda i: recording_key(tasks[i].subject, tasks[i].night))
    shards = [0] * len(tasks)
    for rank, i in enumerate(ranked):
        shards[i] = rank % count + 1
    return shards


def select(tasks: Sequence[Task], shard: Shard) -> list[Task]:
    """The tasks of ``shard``, in manifest order."""
    return [t for t, owner in zip(tasks, assign(tasks, shard.count)) if owner == shard.index]


def read_shard_statuses(out_dir: str | Path) -> tuple[int, dict[int, list[StatusRow]]]:
    """The shard count and every shard's status rows, by shard index.

    Raises
    ------
    DataError
        When ``out_dir`` holds no shard status, statuses of different shard counts (a stale run
        with another N), or not all N of them (the message lists the missing shards).
    """
    files = shard_status_files(out_dir)
    counts = sorted({count for _, count in files})
    if not counts:
        raise file_error(out_dir, "no status-shard-I-of-N.csv: run 'sleepspindles batch --shard I/N' for every "
                                  "shard first")
    if len(counts) > 1:
        listed = ", ".join(f"status-shard-*-of-{n}.csv" for n in counts)
        raise file_error(out_dir, f"shard statuses of different shard counts ({listed}); remove those of the "
                                  f"earlier run, then gather again")
    count = counts[0]
    missing = [i for i in range(1, count + 1) if (i, count) not in files]
    if missing:
        names = ", ".join(shard_status_name(i, count) for i in missing)
        raise file_error(out_dir, f"shard(s) {', '.join(map(str, missing))} of {count} did not finish (no {names}); "
                                  f"run them with --shard I/{count}, then gather again")
    return count, {i: read_status(files[(i, count)]) for i in range(1, count + 1)}


def merge_statuses(tasks: Sequence[Task], count: int, statuses: Mapping[int, Sequence[StatusRow]]) -> list[StatusRow]:
    """One status per task, in manifest order: the one its shard wrote, checked against its folder.

    A row's status comes from the shard that owns it; a status in another shard's file (written
    before a manifest change moved the row) serves when the owner has none, as folders are
    shared. A row with no status, or reported done while its folder has no ``run.json`` (the
    shard was rerun and crashed), is failed with an error naming the shard to rerun.
    """
    by_shard = {i: {(r.subject, r.night): r for r in rows} for i, rows in statuses.items()}
    merged = []
    for task, owner in zip(tasks, assign(tasks, count)):
        key = (task.subject, task.night)
        found = by_shard[owner].get(key) or next((rows[key] for rows in by_shard.values() if key in rows), None)
        merged.append(_checked(task, Shard(owner, count), found))
    return merged


def _checked(task: Task, owner: Shard, found: StatusRow | None) -> StatusRow:
    """``found`` as the row of ``task`` (manifest row, paths of this gather), or why it failed."""
    rerun = f"rerun shard {owner.index} of {owner.count}, then gather"
    if found is None:
        return failed_row(task, f"no status: shard {owner.index} of {owner.count} did not process this row "
                                f"({owner.status_file} does not list it; was the manifest changed?); {rerun}")
    if found.succeeded:
        record = read_run_record(task.out_dir)
        if record is None or (record.subject, record.night) != (task.subject, task.night):
            return failed_row(task, f"incomplete folder {task.out_dir} (no run.json): shard {owner.index} of "
                                    f"{owner.count} did not finish this row; {rerun}")
        if not same_inputs(record, task):  # the manifest row or its file changed since the shard ran
            return failed_row(task, f"{task.out_dir} was made from other input than {task.recording} as it is now "
                                    f"(SHA-256 of the recording or hypnogram differs); {rerun}")
    # Identity columns from this manifest and folder: the shards may have run elsewhere (a scratch copy).
    return replace(found, row=task.row, recording=task.recording, out_dir=task.out_dir)
