"""The spindle events table: fixed, documented columns shared by every detector.

Columns (one row per spindle, times in seconds from the recording start):

============  ======  =============================================================
column        unit    meaning
============  ======  =============================================================
channel       -       canonical channel name (``"C3"``)
stage         -       sleep stage at the spindle peak (``"N2"``, ``"N3"``...)
start         s       onset
peak          s       time of the most prominent sigma-band peak
end           s       offset
duration      s       ``end - start``
amplitude     uV      peak-to-peak amplitude of the detrended broadband signal
rms           uV      root mean square of the detrended broadband signal
frequency     Hz      median instantaneous frequency in the sigma band
oscillations  -       number of positive peaks of the sigma-filtered signal
symmetry      -       position of the peak within the event (0 = start, 1 = end)
============  ======  =============================================================
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["EVENT_COLUMNS", "EVENT_DTYPES", "empty_events", "as_events"]

EVENT_DTYPES: dict[str, str] = {
    "channel": "object",
    "stage": "object",
    "start": "float64",
    "peak": "float64",
    "end": "float64",
    "duration": "float64",
    "amplitude": "float64",
    "rms": "float64",
    "frequency": "float64",
    "oscillations": "int64",
    "symmetry": "float64",
}
EVENT_COLUMNS: tuple[str, ...] = tuple(EVENT_DTYPES)


def empty_events() -> pd.DataFrame:
    """An events table with the standard columns and no rows."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in EVENT_DTYPES.items()})


def as_events(frame: pd.DataFrame) -> pd.DataFrame:
    """Return ``frame`` with exactly the standard columns, dtypes and order, sorted by channel and start."""
    if frame is None or len(frame) == 0:
        return empty_events()
    missing = [c for c in EVENT_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"events table lacks column(s) {missing}")
    out = frame.loc[:, list(EVENT_COLUMNS)].astype(EVENT_DTYPES)
    out = out.sort_values(["channel", "start"], kind="stable").reset_index(drop=True)
    return out


def interval_arrays(events: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """``(start, end)`` float arrays of an events table."""
    return events["start"].to_numpy(np.float64), events["end"].to_numpy(np.float64)
