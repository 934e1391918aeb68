"""Private compiled loops of the slow-oscillation kernels: loops only, no validation, no allocation.

Called through :mod:`sleepspindles.detection.slow_oscillations.kernels`, which validates the
inputs, converts the duration rules to whole samples, allocates the outputs and documents the
definitions; its numpy twin is what the tests compare these loops against.
"""

from __future__ import annotations

import math

import numpy as np

from ..core._numba import jit


@jit
def _in_limits(start, mid, end, limits):  # pragma: no cover - compiled
    """Whether a cycle's length, negative and positive half-waves (in samples) are within
    ``limits`` = (len_lo, len_hi, neg_lo, neg_hi, pos_lo, pos_hi), all inclusive."""
    return (
        limits[0] <= end - start <= limits[1]
        and limits[2] <= mid - start <= limits[3]
        and limits[4] <= end - mid <= limits[5]
    )


@jit
def find_candidates(x, valid, limits, idx, val):  # pragma: no cover - compiled
    """One pass over ``x``: store every cycle between consecutive down-crossings that fits ``limits``.

    A sample is negative when ``x < 0``. A down-crossing at ``t`` (``x[t - 1] >= 0 > x[t]``)
    ends the previous cycle and starts the next; an up-crossing sets its mid. The trough (first
    minimum) and crest (first maximum) are tracked while scanning, so nothing is read twice.
    A cycle is kept when samples ``start - 1 .. end`` are all valid and finite (``last_bad``
    is the latest sample that is not). Rows of ``idx``: start, neg_peak, mid, pos_peak, end;
    of ``val``: val_neg, val_pos. Returns the number of rows written.
    """
    n_found = 0
    start = -1
    mid = -1
    last_bad = -1
    i_min = 0
    i_max = 0
    was_neg = False
    for t in range(x.shape[0]):
        v = x[t]
        if not (valid[t] and math.isfinite(v)):
            last_bad = t
        neg = v < 0.0
        if t > 0 and neg != was_neg:
            if not neg:
                mid = t
                i_max = t
            else:
                if 0 <= start < mid and last_bad < start - 1 and _in_limits(start, mid, t, limits):
                    idx[n_found, 0] = start
                    idx[n_found, 1] = i_min
                    idx[n_found, 2] = mid
                    idx[n_found, 3] = i_max
                    idx[n_found, 4] = t
                    val[n_found, 0] = x[i_min]
                    val[n_found, 1] = x[i_max]
                    n_found += 1
                start = t
                mid = -1
                i_min = t
        elif neg:
            if v < x[i_min]:
                i_min = t
        elif v > x[i_max]:
            i_max = t
        was_neg = neg
    return n_found


@jit
def phase_units(analytic, times, offset, src, dst, out):  # pragma: no cover - compiled
    """``out[dst[m], j]`` = the unit vector of ``analytic`` at sample ``rint(times[src[m], j]) - offset``
    (1 where the signal is exactly 0); returns how many times fell outside ``analytic`` (left unwritten)."""
    n = analytic.shape[0]
    outside = 0
    for m in range(src.shape[0]):
        row = times[src[m]]
        dest = out[dst[m]]
        for j in range(row.shape[0]):
            t = np.int64(np.rint(row[j])) - offset
            if t < 0 or t >= n:
                outside += 1
                continue
            v = analytic[t]
            size = math.sqrt(v.real * v.real + v.imag * v.imag)
            dest[j] = v / size if size > 0 else 1.0
    return outside
