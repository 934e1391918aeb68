"""Numeric kernels that every streamed detection engine uses: arrays in, arrays out, no I/O.

Holds the input checks shared by all kernel modules (:func:`as_vector`, :func:`as_strided_vector`),
the preparation of a block's rows (:func:`prepare_rows`: float32 copy, non-finite and flat-run
flags; :func:`sum_groups`: sums of consecutive samples), flat-run detection (:func:`flat_mask`)
and runs of a boolean mask (:func:`mask_runs`, :func:`merge_runs`). The method-specific kernels
live with their engines: :mod:`sleepspindles.detection.spindles.kernels_yasa` (YASA's criteria),
:mod:`sleepspindles.detection.spindles.kernels_events` (per-spindle parameters),
:mod:`sleepspindles.detection.spindles.kernels_a7` and
:mod:`sleepspindles.detection.slow_oscillations.kernels`.

Each public function validates its inputs, allocates its outputs and calls a compiled loop
from :mod:`sleepspindles.detection.core.kernels_numba`; each has a ``*_ref`` twin written with plain
numpy, which the tests compare it against.

Conventions: sample indices are local to the arrays passed; runs are given by their first and
*last* (inclusive) index, as YASA reports them.
"""

from __future__ import annotations

import numpy as np

from ...errors import param_error
from . import kernels_numba as _k

__all__ = [
    "as_vector",
    "as_strided_vector",
    "as_events",
    "prepare_rows",
    "prepare_rows_ref",
    "sum_groups",
    "sum_groups_ref",
    "flat_mask",
    "flat_mask_ref",
    "mask_runs",
    "mask_runs_ref",
    "merge_runs",
    "merge_runs_ref",
]


def as_vector(x, name: str, dtype=None) -> np.ndarray:
    arr = np.ascontiguousarray(x, dtype=dtype)
    if arr.ndim != 1:
        raise param_error(name, "a one-dimensional array", f"shape {arr.shape}")
    return arr


def as_strided_vector(x, name: str) -> np.ndarray:
    """A one-dimensional real array, not copied when it is a strided view (the kernels accept any layout)."""
    arr = np.asarray(x)
    if arr.ndim != 1 or np.iscomplexobj(arr):
        raise param_error(name, "a one-dimensional real array", f"shape {arr.shape}, dtype {arr.dtype}")
    return arr


def as_events(starts, lasts, n: int, *, strict: bool = False, margin: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Events' first and last samples as int64 vectors, checked against a signal of ``n`` samples.

    Every event must have ``0 <= start <= last`` (``start < last`` when ``strict``) and
    ``last + margin < n`` (``margin``: samples a kernel reads past the event).
    """
    starts, lasts = as_vector(starts, "starts", np.int64), as_vector(lasts, "lasts", np.int64)
    if starts.shape != lasts.shape:
        raise param_error("starts/lasts", "two vectors of one length", (starts.size, lasts.size))
    if starts.size and (starts.min() < 0 or lasts.max() + margin >= n or np.any(lasts < starts + strict)):
        end = f"last + {margin} < {n}" if margin else f"last < {n}"
        raise param_error("starts/lasts", f"events with {'start < last' if strict else 'start <= last'} and {end}",
                          "out of range")
    return starts, lasts


# --------------------------------------------------------------------------- block rows
def prepare_rows(src, rows, lo: int, hi: int, dst_off: int, min_flat: int, seg, bad) -> None:
    """Copy ``src[rows, lo:hi]`` into ``seg[:, dst_off:]`` (float32, non-finite samples zeroed)
    and write ``bad`` over the same range: non-finite or inside a run of at least ``min_flat``
    identical samples (in place; the rest of ``seg`` and ``bad`` is left untouched).

    Equivalent to ``seg[...] = nan_to_num(src[...]); bad[...] = ~isfinite | flat_mask``; one pass,
    no temporaries.
    """
    rows = np.asarray(rows, dtype=np.int64)
    if seg.dtype != np.float32 or bad.dtype != np.bool_ or seg.shape != bad.shape or seg.shape[0] != rows.size:
        raise param_error("seg/bad", f"float32 and bool arrays of shape ({rows.size}, n)", (seg.shape, bad.shape))
    if not (0 <= lo <= hi <= src.shape[1] and 0 <= dst_off and dst_off + hi - lo <= seg.shape[1]):
        raise param_error("lo/hi/dst_off", "a range inside src and seg", (lo, hi, dst_off))
    _k.prepare_rows(src, rows, int(lo), int(hi), int(dst_off), int(max(min_flat, 2)), seg, bad)


def prepare_rows_ref(src, rows, lo: int, hi: int, dst_off: int, min_flat: int, seg, bad) -> None:
    """Numpy twin of :func:`prepare_rows` (a non-finite sample ends a flat run)."""
    part = np.asarray(src)[np.asarray(rows, dtype=np.int64), lo:hi]
    finite = np.isfinite(part)
    seg[:, dst_off : dst_off + hi - lo] = np.where(finite, part, 0.0)
    for i, row in enumerate(part):
        # NaN differs from everything, itself included: it breaks runs as in the kernel.
        flat = flat_mask_ref(np.where(finite[i], row, np.nan), min_flat)
        bad[i, dst_off : dst_off + hi - lo] = ~finite[i] | flat


def sum_groups(seg, group: int, out) -> np.ndarray:
    """Sums of ``group`` consecutive samples of each row of float32 ``seg`` into ``out``
    ``(n_rows, n_samples // group)``; ``n_samples`` must be a multiple of ``group``."""
    if (seg.dtype != np.float32 or out.dtype != np.float32 or seg.ndim != 2 or group < 1
            or seg.shape[1] % group or out.shape != (seg.shape[0], seg.shape[1] // group)):
        raise param_error("seg/out", f"float32 arrays of shapes (n, m * {group}) and (n, m)", (seg.shape, out.shape))
    _k.sum_groups(seg, int(group), out)
    return out


def sum_groups_ref(seg, group: int) -> np.ndarray:
    """Numpy twin of :func:`sum_groups` (same order of additions)."""
    groups = np.asarray(seg).reshape(seg.shape[0], -1, group)
    total = groups[..., 0].copy()
    for r in range(1, group):
        total += groups[..., r]
    return total


def flat_mask(x, min_len: int) -> np.ndarray:
    """True on runs of at least ``min_len`` exactly equal consecutive samples."""
    x = as_vector(x, "x")
    out = np.zeros(x.size, dtype=np.bool_)
    _k.flat_mask(x, int(max(min_len, 2)), out)
    return out


def flat_mask_ref(x, min_len: int) -> np.ndarray:
    """Numpy twin of :func:`flat_mask`."""
    x = np.asarray(x)
    out = np.zeros(x.size, dtype=bool)
    if x.size == 0:
        return out
    edges = np.flatnonzero(np.diff(x) != 0) + 1
    for a, b in zip(np.r_[0, edges], np.r_[edges, x.size]):
        if b - a >= max(min_len, 2):
            out[a:b] = True
    return out


# --------------------------------------------------------------------------- runs
def mask_runs(mask) -> tuple[np.ndarray, np.ndarray]:
    """First and last (inclusive) index of every run of True in ``mask``."""
    mask = as_vector(mask, "mask", np.bool_)
    starts = np.empty(mask.size // 2 + 1, dtype=np.int64)
    lasts = np.empty_like(starts)
    n = _k.mask_runs(mask, starts, lasts)
    return starts[:n].copy(), lasts[:n].copy()


def mask_runs_ref(mask) -> tuple[np.ndarray, np.ndarray]:
    """Numpy twin of :func:`mask_runs`."""
    where = np.flatnonzero(mask)
    if where.size == 0:
        return where.astype(np.int64), where.astype(np.int64)
    runs = np.split(where, np.flatnonzero(np.diff(where) != 1) + 1)
    return np.array([r[0] for r in runs]), np.array([r[-1] for r in runs])


def merge_runs(starts, lasts, min_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Merge runs whose index step from one run's last sample to the next start is < ``min_distance``."""
    starts = as_vector(starts, "starts", np.int64).copy()
    lasts = as_vector(lasts, "lasts", np.int64).copy()
    if starts.size != lasts.size:
        raise param_error("lasts", f"{starts.size} indices", lasts.size)
    n = _k.merge_runs(starts, lasts, float(min_distance))
    return starts[:n], lasts[:n]


def merge_runs_ref(starts, lasts, min_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Numpy twin of :func:`merge_runs`: YASA's ``_merge_close`` on the expanded indices."""
    if len(starts) == 0:
        return np.asarray(starts, np.int64), np.asarray(lasts, np.int64)
    index = np.concatenate([np.arange(s, e + 1) for s, e in zip(starts, lasts)])
    diff = np.diff(index)
    bad = np.flatnonzero((diff > 1) & (diff < min_distance))
    if bad.size:
        fill = np.hstack([np.arange(index[j] + 1, index[j + 1]) for j in bad])
        index = np.sort(np.append(index, fill))
    mask = np.zeros(index.max() + 1, dtype=bool)
    mask[index] = True
    return mask_runs_ref(mask)
