"""Read back the outputs of one ``sleepspindles run`` folder.

A run folder holds ``events.csv``, ``summary.csv``, ``sigma.csv`` and ``run.json`` (written
last). Used by batch runs to tell a complete folder from a missing or stale one, to gather the
results of every recording into cohort tables, and by cohort runs to lateralise from the stored
tables without reloading the signal.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import file_error
from ..schema import SIGMA, SPINDLE_SUMMARY, SPINDLES

__all__ = ["RunTables", "RUN_TABLES", "read_run_json", "read_run_tables"]

#: Table files of a complete run folder (besides ``run.json``).
RUN_TABLES = ("events.csv", "summary.csv", "sigma.csv")

_SUMMARY_DTYPES = {c: "float64" for c in SPINDLE_SUMMARY.names} | {
    "channel": "object",
    "stage": "object",
    "band": "object",
    "n_spindles": "int64",
    "reference": "object",
    "note": "object",
}
_SIGMA_DTYPES = {c: "float64" for c in SIGMA.names} | {
    "channel": "object",
    "band": "object",
    "stages": "object",
    "n_epochs": "int64",
}


@dataclass(frozen=True)
class RunTables:
    """The stored results of one run folder.

    Attributes
    ----------
    events : pandas.DataFrame
        Standard events table (:data:`sleepspindles.schema.SPINDLES`).
    summary : pandas.DataFrame
        :data:`sleepspindles.schema.SPINDLE_SUMMARY`.
    sigma : pandas.DataFrame
        :data:`sleepspindles.schema.SIGMA` (empty when the recording was not staged).
    run : dict
        The provenance of ``run.json``.
    """

    events: pd.DataFrame
    summary: pd.DataFrame
    sigma: pd.DataFrame
    run: dict

    @property
    def n2_minutes(self) -> float:
        """Minutes of N2 in the hypnogram used; NaN when the recording was not staged."""
        minutes = (self.run.get("staging") or {}).get("stage_minutes") or {}
        return float(minutes.get("N2", math.nan))

    @property
    def staged(self) -> bool:
        """Whether the recording had sleep stages (scored or automatic)."""
        return bool((self.run.get("staging") or {}).get("stage_minutes"))


def read_run_json(folder: str | Path) -> dict | None:
    """The ``run.json`` of ``folder`` as a dict; ``None`` when it is absent or not valid JSON.

    A truncated or unreadable ``run.json`` means "not done", never an error: the recording is
    simply recomputed.
    """
    path = Path(folder) / "run.json"
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise file_error(path, f"cannot read run output ({exc})") from None


def _standard(frame: pd.DataFrame, path: Path, columns: tuple[str, ...], dtypes: dict) -> pd.DataFrame:
    """``frame`` restricted to ``columns`` with their dtypes; an error names the file."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise file_error(path, f"lacks column(s) {missing}")
    return frame.loc[:, list(columns)].astype(dtypes)


def read_run_tables(folder: str | Path) -> RunTables:
    """Events, summary, sigma power and ``run.json`` of a run folder, with standard columns and dtypes.

    Raises
    ------
    DataError
        When a file is missing or unreadable.
    """
    folder = Path(folder)
    run = read_run_json(folder)
    if run is None:
        raise file_error(folder / "run.json", "missing or not valid JSON: the run folder is incomplete")
    events, summary, sigma = (_read_csv(folder / name) for name in RUN_TABLES)
    summary = _standard(summary, folder / "summary.csv", SPINDLE_SUMMARY.names, _SUMMARY_DTYPES)
    summary["note"] = summary["note"].fillna("")  # an empty note reads back as NaN
    sigma = _standard(sigma, folder / "sigma.csv", SIGMA.names, _SIGMA_DTYPES)
    try:
        events = SPINDLES.conform(events)
    except ValueError as exc:
        raise file_error(folder / "events.csv", str(exc)) from None
    return RunTables(events=events, summary=summary, sigma=sigma, run=run)
