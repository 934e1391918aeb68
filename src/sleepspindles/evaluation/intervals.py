"""Interval arithmetic on event sets, by-sample counts on a time grid, and scored windows.

Events are half-open intervals ``[start, end)`` in seconds. :func:`merge_intervals` and
:func:`intersect_intervals` give unions and overlaps of interval sets (two experts' scorings
combined, the spindle samples both sides agree on); :func:`sample_counts` turns two event sets
into by-sample confusion counts on a regular grid without building masks: sample ``k`` (time
``k * resolution``) counts as spindle when ``start <= k * resolution < end``, and events are
clipped to ``[0, n_samples)``.

Scored windows: a scorer may have scored only part of a recording. An event counts as inside a
window ``[start, end)`` when its midpoint ``(start + end) / 2`` lies in it (:func:`in_window`,
:func:`restrict_to_window`), which puts an event straddling an edge on exactly one side; where
several scorers are combined, :func:`intersect_windows` gives the interval all of them scored.
:mod:`sleepspindles.evaluation.scoring` builds the accuracy scores on these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import param_error

__all__ = [
    "SampleCounts",
    "merge_intervals",
    "intersect_intervals",
    "sample_counts",
    "in_window",
    "restrict_to_window",
    "intersect_windows",
]

# Times are divided by the resolution; this absorbs float noise such as 282.24 * 100 = 28224.000000000004.
_GRID_EPS = 1e-6


@dataclass(frozen=True)
class SampleCounts:
    """By-sample confusion counts (numbers of grid samples)."""

    tp: int
    fp: int
    fn: int
    tn: int

    def __add__(self, other: "SampleCounts") -> "SampleCounts":
        # An unknown tn (-1, recording length not given) stays unknown when pooled.
        tn = -1 if min(self.tn, other.tn) < 0 else self.tn + other.tn
        return SampleCounts(self.tp + other.tp, self.fp + other.fp, self.fn + other.fn, tn)

    @property
    def f1(self) -> float:
        """``2 TP / (2 TP + FP + FN)``; NaN when neither set has a spindle sample."""
        denom = 2 * self.tp + self.fp + self.fn
        return 2 * self.tp / denom if denom else float("nan")

    @property
    def kappa(self) -> float:
        """Cohen's kappa of the two masks; NaN when ``tn`` is unknown (negative) or chance is 1."""
        if self.tn < 0:
            return float("nan")
        n = self.tp + self.fp + self.fn + self.tn
        if n == 0:
            return float("nan")
        observed = (self.tp + self.tn) / n
        # Chance agreement from the marginals: both say spindle, plus both say no spindle.
        chance = ((self.tp + self.fp) * (self.tp + self.fn) + (self.fn + self.tn) * (self.fp + self.tn)) / n**2
        return (observed - chance) / (1 - chance) if chance < 1 else float("nan")


# ---------------------------------------------------------------- interval kernels


def merge_intervals(start, end) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals: sorted, with overlapping or touching intervals merged.

    Parameters
    ----------
    start, end : array-like of float
        Intervals ``[start, end)``.

    Returns
    -------
    start, end : numpy.ndarray of float
        Disjoint, sorted intervals covering the same points.
    """
    s = np.asarray(start, dtype=np.float64).ravel()
    e = np.asarray(end, dtype=np.float64).ravel()
    if s.size == 0:
        return s.copy(), e.copy()
    order = np.argsort(s, kind="stable")
    s, e = s[order], e[order]
    reach = np.maximum.accumulate(e)
    # A new block starts where an interval begins after everything before it has ended.
    new = np.empty(s.size, dtype=bool)
    new[0] = True
    new[1:] = s[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.r_[first[1:], s.size] - 1
    return s[first], reach[last]


def intersect_intervals(a_start, a_end, b_start, b_end) -> tuple[np.ndarray, np.ndarray]:
    """Points covered by both interval sets, as sorted disjoint intervals of positive length."""
    a_s, a_e = merge_intervals(a_start, a_end)
    b_s, b_e = merge_intervals(b_start, b_end)
    if a_s.size == 0 or b_s.size == 0:
        return np.empty(0), np.empty(0)
    # For each a-block, the b-blocks that can overlap it form a contiguous run.
    lo = np.searchsorted(b_e, a_s, side="right")
    hi = np.searchsorted(b_s, a_e, side="left")
    counts = np.maximum(hi - lo, 0)
    ai = np.repeat(np.arange(a_s.size), counts)
    bi = np.repeat(lo, counts) + np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    s = np.maximum(a_s[ai], b_s[bi])
    e = np.minimum(a_e[ai], b_e[bi])
    keep = e > s
    return s[keep], e[keep]


def _grid_ranges(start, end, resolution: float, n_samples: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Sample index ranges ``[i0, i1)`` of the samples ``k`` with ``start <= k * res < end``."""
    s = np.asarray(start, dtype=np.float64)
    e = np.asarray(end, dtype=np.float64)
    i0 = np.ceil(s / resolution - _GRID_EPS).astype(np.int64)
    i1 = np.ceil(e / resolution - _GRID_EPS).astype(np.int64)
    i0 = np.maximum(i0, 0)
    if n_samples is not None:
        i1 = np.minimum(i1, n_samples)
    keep = i1 > i0
    return i0[keep], i1[keep]


def sample_counts(
    ref_start, ref_end, det_start, det_end, resolution: float, n_samples: int | None = None
) -> SampleCounts:
    """By-sample confusion counts of two event sets, computed on intervals (no mask is built).

    Parameters
    ----------
    ref_start, ref_end, det_start, det_end : array-like of float
        Event intervals in seconds.
    resolution : float
        Grid step in seconds (``1 / sf`` for the signal's own samples).
    n_samples : int, optional
        Length of the recording in samples; events are clipped to it. ``None`` when unknown:
        then ``tn`` is ``-1`` (so kappa is NaN) and the F1 is still exact.

    Returns
    -------
    SampleCounts
    """
    r0, r1 = merge_intervals(*_grid_ranges(ref_start, ref_end, resolution, n_samples))
    d0, d1 = merge_intervals(*_grid_ranges(det_start, det_end, resolution, n_samples))
    i0, i1 = intersect_intervals(r0, r1, d0, d1)
    n_ref, n_det, tp = int((r1 - r0).sum()), int((d1 - d0).sum()), int((i1 - i0).sum())
    tn = -1 if n_samples is None else n_samples - n_ref - n_det + tp
    return SampleCounts(tp=tp, fp=n_det - tp, fn=n_ref - tp, tn=tn)


# ---------------------------------------------------------------- scored windows


def _check_window(window, name: str = "window") -> tuple[float, float]:
    """``(start, end)`` as floats, refusing anything but ``0 <= start < end`` (``end`` may be inf)."""
    try:
        start, end = (float(v) for v in window)
    except (TypeError, ValueError):
        raise param_error(name, "a (start, end) pair of seconds", window) from None
    if not (np.isfinite(start) and start >= 0 and end > start):
        raise param_error(name, "a (start, end) pair of seconds with 0 <= start < end", window)
    return start, end


def in_window(start, end, window) -> np.ndarray:
    """Which events count as inside a scored window: their midpoint lies in ``[start, end)``.

    Parameters
    ----------
    start, end : array-like of float
        Event intervals in seconds.
    window : (float, float)
        The scored interval ``[window[0], window[1])`` in seconds.

    Returns
    -------
    numpy.ndarray of bool
    """
    w0, w1 = _check_window(window)
    mid = (np.asarray(start, dtype=np.float64) + np.asarray(end, dtype=np.float64)) / 2
    return (mid >= w0) & (mid < w1)


def restrict_to_window(events: pd.DataFrame, window) -> pd.DataFrame:
    """The events of ``events`` inside ``window`` (midpoint rule of :func:`in_window`)."""
    _require_intervals(events, "events")
    return events[in_window(events["start"], events["end"], window)]


def intersect_windows(*windows) -> tuple[float, float]:
    """The interval every window covers (where all scorers scored); an error when they are disjoint."""
    checked = [_check_window(w) for w in windows]
    start, end = max(w[0] for w in checked), min(w[1] for w in checked)
    if not end > start:
        raise param_error("windows", "intervals that overlap", checked)
    return start, end


def _require_intervals(frame: pd.DataFrame, name: str) -> None:
    """Refuse a table without valid ``start``/``end`` columns."""
    if not isinstance(frame, pd.DataFrame):
        raise param_error(name, "a DataFrame of events with 'start' and 'end' columns", type(frame).__name__)
    missing = [c for c in ("start", "end") if c not in frame.columns]
    if missing:
        raise param_error(name, "an events table with 'start' and 'end' columns", f"no {missing}")
    s = frame["start"].to_numpy(np.float64)
    e = frame["end"].to_numpy(np.float64)
    if not (np.isfinite(s).all() and np.isfinite(e).all() and (e >= s).all()):
        raise param_error(name, "events with finite start <= end", "invalid intervals")
