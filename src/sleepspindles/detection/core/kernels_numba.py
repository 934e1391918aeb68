"""Private compiled loops of the shared kernels: loops only, no validation, no allocation of large arrays.

Every function here is called through a wrapper in :mod:`sleepspindles.detection.core.kernels`, which
checks shapes and dtypes, allocates the outputs and documents the maths; each has a plain numpy
twin there that the tests compare against. Indices are local to the arrays passed; runs are
first and last (inclusive) indices.
"""

from __future__ import annotations

import numpy as np

from ._numba import jit


@jit
def _copy_row(x, out, min_flat):  # pragma: no cover - compiled
    """Copy one row as float32; return True when it may hold a non-finite sample or a flat run
    (a run of ``min_flat`` equal samples needs ``min_flat - 1`` equal neighbour pairs).

    No state is carried from sample to sample, so the loop is vectorised.
    """
    n = x.shape[0]
    n_bad = 0
    n_equal = 0
    if n:
        out[0] = x[0]
        n_bad += (x[0] - x[0]) != 0.0
    for t in range(1, n):
        v = x[t]
        out[t] = v
        n_bad += (v - v) != 0.0  # NaN for NaN and infinities (no fastmath here)
        n_equal += (v - x[t - 1]) == 0.0
    return n_bad > 0 or n_equal >= min_flat - 1


@jit
def prepare_rows(src, rows, lo, hi, dst_off, min_flat, seg, bad):  # pragma: no cover - compiled
    """Copy ``src[rows, lo:hi]`` into ``seg[:, dst_off:]`` as float32 and write ``bad`` over the
    same range: True on non-finite samples (zeroed) and on runs of at least ``min_flat``
    identical samples, False elsewhere."""
    for i in range(rows.shape[0]):
        r = rows[i]
        if not _copy_row(src[r, lo:hi], seg[i, dst_off : dst_off + hi - lo], min_flat):
            for t in range(dst_off, dst_off + hi - lo):
                bad[i, t] = False
            continue
        run_start = 0
        prev = np.nan
        for t in range(hi - lo):
            v = src[r, lo + t]
            d = dst_off + t
            if not np.isfinite(v):
                seg[i, d] = 0.0
                bad[i, d] = True
                if t - run_start >= min_flat:  # a flat run ended by a non-finite sample
                    for u in range(dst_off + run_start, d):
                        bad[i, u] = True
                prev = np.nan
                run_start = t + 1
                continue
            seg[i, d] = v
            bad[i, d] = False
            if v != prev:
                if t - run_start >= min_flat:
                    for u in range(dst_off + run_start, d):
                        bad[i, u] = True
                run_start = t
                prev = v
        if hi - lo - run_start >= min_flat and prev == prev:
            for u in range(dst_off + run_start, dst_off + hi - lo):
                bad[i, u] = True


@jit
def flat_mask(x, min_len, out):  # pragma: no cover - compiled
    """Mark runs of at least ``min_len`` exactly equal consecutive samples."""
    n = x.shape[0]
    i = 0
    while i < n:
        j = i + 1
        while j < n and x[j] == x[i]:
            j += 1
        if j - i >= min_len:
            for t in range(i, j):
                out[t] = True
        i = j


@jit
def mask_runs(mask, starts, lasts):  # pragma: no cover - compiled
    """Write first and last index of each run of True; return the number of runs."""
    n_runs = 0
    inside = False
    for i in range(mask.shape[0]):
        if mask[i] and not inside:
            starts[n_runs] = i
            inside = True
        elif not mask[i] and inside:
            lasts[n_runs] = i - 1
            n_runs += 1
            inside = False
    if inside:
        lasts[n_runs] = mask.shape[0] - 1
        n_runs += 1
    return n_runs


@jit
def merge_runs(starts, lasts, min_distance):  # pragma: no cover - compiled
    """Merge runs whose index step (next start - previous last) is below ``min_distance``, in place."""
    n = starts.shape[0]
    if n == 0:
        return 0
    k = 0
    for i in range(1, n):
        if starts[i] - lasts[k] < min_distance:
            lasts[k] = lasts[i]
        else:
            k += 1
            starts[k] = starts[i]
            lasts[k] = lasts[i]
    return k + 1


@jit
def sum_groups(seg, group, out):  # pragma: no cover - compiled
    """``out[i, j] = sum(seg[i, j * group : (j + 1) * group])`` (left to right, in float32)."""
    for i in range(out.shape[0]):
        row = seg[i]
        dest = out[i]
        for j in range(dest.shape[0]):
            total = row[j * group]
            for r in range(1, group):
                total += row[j * group + r]
            dest[j] = total
