"""Read spindle event files: our events table (CSV or Parquet), the DREAMS scoring format, or SUMOv2's ``.npz``.

All give a table with at least ``start``, ``end`` and ``duration`` in seconds, sorted, for
:mod:`sleepspindles.evaluation`. Our own table keeps all its columns (a ``recording`` or
``channel`` column is used by the evaluation to separate recordings and channels).

SUMOv2 (Kaulen et al., Sci Rep 2022; github.com/dslaborg/sumov2) saves its detections as a NumPy
``.npz`` archive: one array per recording and channel, named ``<recording>_<channel>_fold-<k>_agg``
(``excerpt1_C3-A1_fold-0_agg``), one row per spindle: start (s), end (s), frequency (Hz),
peak-to-peak amplitude (uV), RMS (uV).
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import file_error, param_error
from .channels import normalise_channel
from .dreams import read_dreams_scoring

__all__ = ["EVENT_FORMATS", "read_events", "detect_format", "read_sumo"]

#: Formats :func:`read_events` understands.
EVENT_FORMATS = ("events", "dreams", "sumo")
#: Columns of a SUMOv2 array, in order.
SUMO_COLUMNS = ("start", "end", "frequency", "amplitude", "rms")
_SUMO_NAME = re.compile(r"^(?P<recording>.+?)_(?P<label>[^_]+)_fold-\d+_agg$")


def detect_format(path: str | Path) -> str:
    """Guess the format of an event file from its name and first line.

    ``.parquet`` is our table, ``.npz`` SUMOv2's detections; a first line in square brackets
    (``[vis1_Spindles/C3-A1]``) is a DREAMS scoring; anything else is read as our CSV table.
    """
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        return "events"
    if path.suffix.lower() == ".npz":
        return "sumo"
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
        ``end`` columns in seconds), a DREAMS scoring file (``Visual_scoring1_excerpt1.txt``,
        ``Automatic_detection_excerpt1.txt``) or SUMOv2's detections (``excerpt1.npz``).
    format : {"events", "dreams", "sumo"}, optional
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
    if format == "sumo":
        return read_sumo(path)
    return _read_table(path)


def read_sumo(path: str | Path) -> pd.DataFrame:
    """Read SUMOv2's detections (an ``.npz`` archive, see the module docstring).

    Returns
    -------
    pandas.DataFrame
        ``start``, ``end``, ``duration`` (s), ``frequency`` (Hz), ``amplitude`` (uV peak to peak)
        and ``rms`` (uV), plus ``channel`` (canonical name) when every array's name gives it;
        sorted by channel and start.

    Raises
    ------
    DataError
        For a missing or unreadable archive, or an array that is not one row of five finite
        values per spindle with ``end >= start``.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise file_error(path, "SUMOv2 event file not found") from None
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise file_error(path, f"cannot read as a NumPy .npz archive of SUMOv2 detections ({exc})") from None
    frames = []
    for name, values in arrays.items():
        values = np.asarray(values, dtype=np.float64) if values.dtype.kind in "fiu" else values
        if values.dtype.kind != "f" or values.ndim != 2 or values.shape[1] != len(SUMO_COLUMNS):
            raise file_error(path, f"array {name!r}: expected one row of {len(SUMO_COLUMNS)} numbers per spindle "
                                   f"({', '.join(SUMO_COLUMNS)}); got shape {values.shape}, dtype {values.dtype}")
        if not (np.isfinite(values).all() and (values[:, 1] >= values[:, 0]).all()):
            raise file_error(path, f"array {name!r}: a non-finite value or an event ending before it starts")
        frame = pd.DataFrame(values, columns=list(SUMO_COLUMNS))
        match = _SUMO_NAME.match(name)
        if match is not None:
            frame.insert(0, "channel", normalise_channel(match["label"]).name)
        frames.append(frame)
    if not frames:
        raise file_error(path, "no array in the archive: expected SUMOv2 detections")
    frame = pd.concat(frames, ignore_index=True)
    if "channel" in frame.columns and frame["channel"].isna().any():
        frame = frame.drop(columns="channel")  # not every array named its channel
    frame.insert(frame.columns.get_loc("end") + 1, "duration", frame["end"] - frame["start"])
    keys = ["channel", "start"] if "channel" in frame.columns else ["start"]
    return frame.sort_values(keys, kind="stable").reset_index(drop=True)


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
