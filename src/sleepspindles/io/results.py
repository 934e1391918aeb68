"""Read back the outputs of one ``sleepspindles run`` folder (``run.json``, ``events.csv``, ``summary.csv``).

Used by batch runs to tell a complete folder from a missing or stale one, and to gather the
results of every recording into cohort tables.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..errors import file_error
from ..events import as_events
from ..summary import SUMMARY_COLUMNS

__all__ = ["read_run_json", "read_run_tables"]

_SUMMARY_DTYPES = {c: "float64" for c in SUMMARY_COLUMNS} | {
    "channel": "object",
    "stage": "object",
    "band": "object",
    "n_spindles": "int64",
}


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


def read_run_tables(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(events, summary)`` of a run folder, with the standard columns and dtypes.

    Raises
    ------
    DataError
        When a file is missing or unreadable.
    """
    folder = Path(folder)
    frames = []
    for name in ("events.csv", "summary.csv"):
        path = folder / name
        try:
            frames.append(pd.read_csv(path, keep_default_na=False, na_values=[""]))
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise file_error(path, f"cannot read run output ({exc})") from None
    events, summary = frames
    missing = [c for c in SUMMARY_COLUMNS if c not in summary.columns]
    if missing:
        raise file_error(folder / "summary.csv", f"lacks column(s) {missing}")
    summary = summary.loc[:, list(SUMMARY_COLUMNS)].astype(_SUMMARY_DTYPES)
    try:
        events = as_events(events)
    except ValueError as exc:
        raise file_error(folder / "events.csv", str(exc)) from None
    return events, summary
