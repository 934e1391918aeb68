"""Pass-1 kernels of the A7 engine: valid segments and candidate spindles, block by block.

:func:`segments_all` tells which 0.1 s segments are wholly usable; :func:`candidate_runs` finds
the runs of segments whose absolute sigma power can pass its threshold (some covering window
above it), which :mod:`sleepspindles.detection.spindles.a7_keep` keeps the signals of. Each
public function validates its inputs, allocates its outputs and calls a compiled loop (through
:func:`sleepspindles.detection.core._numba.jit`); each has a ``*_ref`` numpy twin, which the
tests compare against.
"""

from __future__ import annotations

import numpy as np

from ...errors import param_error
from ..core._numba import jit
from ..core.kernels import as_vector

__all__ = ["candidate_runs", "candidate_runs_ref", "segments_all", "segments_all_ref"]


def candidate_runs(window_values, threshold: float | None, per: int, n_first: int) -> tuple[np.ndarray, np.ndarray]:
    """Runs of segments with a covering window above ``threshold`` that start among the first ``n_first``.

    Segment ``j`` is covered by ``window_values[j .. j + per - 1]`` (the windows are given from
    ``per - 1`` before the first segment); NaN is not above; ``threshold`` None makes every
    segment a candidate.

    Returns
    -------
    starts, lasts : numpy.ndarray of int64
        First and last (inclusive) segment of each run, sorted.
    """
    x = as_vector(window_values, "window_values", np.float64)
    if per < 1 or x.size < per - 1:
        raise param_error("per", f"1 <= per <= {x.size + 1}", per)
    n_seg = x.size - per + 1
    starts, lasts = np.empty(n_seg, np.int64), np.empty(n_seg, np.int64)
    thr = -np.inf if threshold is None else float(threshold)
    n = _candidate_runs(x, thr, threshold is None, int(per), int(n_first), starts, lasts)
    return starts[:n].copy(), lasts[:n].copy()


@jit
def _candidate_runs(x, thr, every, per, n_first, starts, lasts):  # pragma: no cover - compiled
    """Fill ``starts``/``lasts`` with :func:`candidate_runs`'s runs; returns their number."""
    n_seg = x.shape[0] - per + 1
    n = 0
    inside = False
    since = -1  # last window above the threshold
    for j in range(n_seg):
        w = j + per - 1  # the last window covering segment j
        if every:
            since = w
        else:
            lo = j if j == 0 else w  # the first segment looks at all its windows
            for v in range(lo, w + 1):
                if x[v] > thr:
                    since = v
        cand = since >= j
        if cand and not inside:
            if j >= n_first:
                break
            starts[n] = j
            inside = True
        elif not cand and inside:
            lasts[n] = j - 1
            n += 1
            inside = False
    if inside:  # a run reaching the last segment
        lasts[n] = n_seg - 1
        n += 1
    return n


def candidate_runs_ref(window_values, threshold: float | None, per: int,
                       n_first: int) -> tuple[np.ndarray, np.ndarray]:
    """Numpy twin of :func:`candidate_runs`."""
    x = np.asarray(window_values, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        above = np.ones(x.size, bool) if threshold is None else x > threshold
    seg = np.array([above[j : j + per].any() for j in range(x.size - per + 1)], dtype=bool)
    edges = np.diff(np.r_[0, seg.astype(np.int8), 0])
    starts, lasts = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    keep = starts < n_first
    return starts[keep].astype(np.int64), lasts[keep].astype(np.int64)


def segments_all(mask, first: int, step: int, n: int) -> np.ndarray:
    """Per row of a 2-D bool ``mask``: is each of ``n`` segments (``step`` samples from ``first + j * step``) all on."""
    mask = np.asarray(mask)
    if mask.ndim != 2 or mask.dtype != np.bool_ or step < 1 or n < 0 or first < 0 or first + n * step > mask.shape[1]:
        raise param_error("mask/first/step/n", "a 2-D bool mask holding the segments", (mask.shape, first, step, n))
    out = np.empty((mask.shape[0], n), np.bool_)
    _segments_all(mask, int(first), int(step), out)
    return out


@jit
def _segments_all(mask, first, step, out):  # pragma: no cover - compiled
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            ok = True
            a = first + j * step
            for t in range(a, a + step):
                if not mask[i, t]:
                    ok = False
                    break
            out[i, j] = ok


def segments_all_ref(mask, first: int, step: int, n: int) -> np.ndarray:
    """Numpy twin of :func:`segments_all`."""
    mask = np.asarray(mask, bool)
    return mask[:, first : first + n * step].reshape(mask.shape[0], n, step).all(axis=2)
