"""Read back what the pipeline wrote: a recording's folder, a batch's ``status.csv`` and its shards'.

A run folder holds the tables of :data:`sleepspindles.schema.RUN_TABLES` that the run wrote and
``run.json`` (written last, listing them). Used by batch runs to tell a complete folder from a
missing or stale one and to gather every recording's tables into cohort tables, and by cohort
runs to lateralise from the stored tables without reloading the signal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import file_error
from ..records import RunRecord, StatusRow
from ..schema import RUN_TABLES, SIGMA, SPINDLE_SUMMARY, SPINDLES, STATUS, TableSchema

__all__ = ["RunTables", "read_run_record", "read_run_tables", "read_status", "shard_status_name",
           "shard_status_files"]

_SHARD_STATUS = re.compile(r"status-shard-([0-9]+)-of-([0-9]+)\.csv")


@dataclass(frozen=True)
class RunTables:
    """The stored results of one run folder.

    Attributes
    ----------
    tables : mapping of str to pandas.DataFrame
        Every table the run wrote, by schema name, with its schema's columns and dtypes.
    record : RunRecord
        What ``run.json`` holds.
    """

    tables: Mapping[str, pd.DataFrame]
    record: RunRecord

    def table(self, schema: TableSchema) -> pd.DataFrame:
        """The table of ``schema`` (empty with its columns when the run did not write it)."""
        return self.tables.get(schema.name, schema.empty())

    @property
    def events(self) -> pd.DataFrame:
        """The spindle events."""
        return self.table(SPINDLES)

    @property
    def summary(self) -> pd.DataFrame:
        """The spindle summary."""
        return self.table(SPINDLE_SUMMARY)

    @property
    def sigma(self) -> pd.DataFrame:
        """Sigma power (empty when the recording was not staged)."""
        return self.table(SIGMA)


def _json(path: Path) -> object | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None


def read_run_record(folder: str | Path) -> RunRecord | None:
    """The ``run.json`` of ``folder``; ``None`` when it is absent, not valid JSON or of an earlier version.

    A truncated or unreadable ``run.json`` means "not done", never an error: the recording is
    simply recomputed.
    """
    value = _json(Path(folder) / "run.json")
    if not isinstance(value, dict):
        return None
    try:
        return RunRecord.from_json(value)
    except ValueError:
        return None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise file_error(path, f"cannot read run output ({exc})") from None


def _read_table(path: Path, schema: TableSchema) -> pd.DataFrame:
    """A stored table with its schema's columns and dtypes; an empty text cell reads as ``""``."""
    frame = _read_csv(path)
    text = [c.name for c in schema.columns if c.dtype == "object" and c.name in frame.columns]
    if text:
        frame[text] = frame[text].astype(object).where(frame[text].notna(), "")
    try:
        return schema.conform(frame)
    except ValueError as exc:
        raise file_error(path, str(exc)) from None


def read_run_tables(folder: str | Path) -> RunTables:
    """Every table a run folder's ``run.json`` lists, with standard columns and dtypes.

    Raises
    ------
    DataError
        When ``run.json`` or a table it lists is missing or unreadable.
    """
    folder = Path(folder)
    record = read_run_record(folder)
    if record is None:
        raise file_error(folder / "run.json", "missing, not valid JSON or of an earlier version: the run "
                                              "folder is incomplete")
    tables = {t.name: _read_table(folder / t.file, t) for t in RUN_TABLES if t.file in record.files}
    return RunTables(tables=tables, record=record)


def read_status(path: str | Path) -> list[StatusRow]:
    """The rows of a batch's ``status.csv``.

    Raises
    ------
    DataError
        When the file is missing, unreadable or lacks a column.
    """
    path = Path(path)
    frame = _read_table(path, STATUS)
    return [StatusRow.from_record(r) for r in frame.to_dict("records")]


def shard_status_name(index: int, count: int) -> str:
    """File name of the status of shard ``index`` of ``count`` (``status-shard-2-of-4.csv``)."""
    return f"status-shard-{index}-of-{count}.csv"


def shard_status_files(folder: str | Path) -> dict[tuple[int, int], Path]:
    """The shard statuses in ``folder``, by ``(index, count)`` (empty when there is no such folder)."""
    folder = Path(folder)
    matches = ((_SHARD_STATUS.fullmatch(p.name), p) for p in folder.glob("status-shard-*.csv"))
    return {(int(m[1]), int(m[2])): path for m, path in matches if m is not None}
