"""Read spindle event files: our events table (CSV or Parquet) or the DREAMS scoring format.

Both give a table with at least ``start``, ``end`` and ``duration`` in seconds, sorted, for
:mod:`sleepspindles.evaluation`. Our own table keeps all its columns (a ``recording`` or
``channel`` column is used by the evaluation to separate recordings and channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import file_error, param_error
from .dreams import read_dreams_scoring

__all__ = ["EVENT_FORMATS", "read_events", "detect_format"]

#: Formats :func:`read_events` understands.
EVENT_FORMATS = ("events", "dreams")


def detect_format(path: str | Path) -> str:
    """Guess the format of an event file from its name and first line.

    ``.parquet`` is our table; a first line in square brackets (``[vis1_Spindles/C3-A1]``) is a
    DREAMS scoring; anything else is read as our CSV table.
    """
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return "events"
    try:
        with path.open("r", encoding="utf-8", errors="replace") as handle:
            first = handle.readline().strip()
    except OSError as exc:
        raise file_error(path, f"cannot read event file ({exc.strerror})") from None
    return "dreams" if first.startswith("[") else "events"


def read_events(path: str | Path, format: str | None = None) -> pd.DataFrame:  # noqa: A002 - public name
    """Read spindle events from a file.

    Parameters
    ----------
    path : str or Path
        An ``events.csv`` / ``.parquet`` written by sleepspindles (or any table with ``start`` and
        ``end`` columns in seconds), or a DREAMS scoring file (``Visual_scoring1_excerpt1.txt``,
        ``Automatic_detection_excerpt1.txt``).
    format : {"events", "dreams"}, optional
        Force the format; detected from the file by default (see :func:`detect_format`).

    Returns
    -------
    pandas.DataFrame
        At least ``start``, ``end``, ``duration`` (seconds), sorted by channel (when present) and
        start; empty with those columns when the file has no event.

    Raises
    ------
    DataError
        Naming the file and what is wrong (missing columns, non-numeric or invalid times).
    """
    path = Path(path)
    if format is None:
        format = detect_format(path)  # noqa: A001
    if format not in EVENT_FORMATS:
        raise param_error("format", f"one of {EVENT_FORMATS} or None", format)
    if format == "dreams":
        return read_dreams_scoring(path)
    return _read_table(path)


def _read_table(path: Path) -> pd.DataFrame:
    """Our events table, checked for usable ``start``/``end`` columns."""
    try:
        frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    except FileNotFoundError:
        raise file_error(path, "event file not found") from None
    except pd.errors.EmptyDataError:
        raise file_error(path, "empty file: expected an events table with a header row") from None
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise file_error(path, f"cannot read as an events table ({exc})") from None
    missing = [c for c in ("start", "end") if c not in frame.columns]
    if missing:
        raise file_error(
            path,
            f"not an events table: no {' or '.join(repr(c) for c in missing)} column "
            f"(columns: {', '.join(map(str, frame.columns)) or 'none'}); "
            "expected a sleepspindles events.csv or a DREAMS scoring file",
        )
    for col in ("start", "end"):
        values = pd.to_numeric(frame[col], errors="coerce")
        bad = values.isna() | ~np.isfinite(values.to_numpy(np.float64, na_value=np.nan))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise file_error(path, f"column {col!r} has a missing or non-numeric value on data row {row + 1}")
        frame[col] = values.astype(np.float64)
    backwards = frame["end"] < frame["start"]
    if backwards.any():
        row = int(np.flatnonzero(backwards.to_numpy())[0])
        raise file_error(path, f"event on data row {row + 1} ends before it starts")
    frame["duration"] = frame["end"] - frame["start"]
    keys = [c for c in ("recording", "channel") if c in frame.columns] + ["start"]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)
