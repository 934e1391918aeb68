"""Kernels of the events' signals gathered between passes: spans end to end and their band powers.

The streamed spindle engines measure a channel's events at once, after the blocks they were found
in are gone, from each event's samples copied end to end (:func:`gather_events`). The ``a7``
engine keeps, in pass 1, the signals over its candidate spindles and the valid power of the
quality measures' background window around every centre an event can have
(:func:`keep_runs`, by :func:`window_sums`' prefix sums), then takes each event's samples and
band powers from those (:func:`kept_events`, by :func:`event_sums`): the same table as
:func:`sleepspindles.detection.spindles.kernels_events.band_powers` on the block, to float
rounding (sums in another order). Arrays in, arrays out; the wrappers validate and allocate, the
loops are in :mod:`sleepspindles.detection.spindles.kernels_events_numba`; each has a ``*_ref``
numpy twin, which the tests compare it against.
"""

from __future__ import annotations

import numpy as np

from ...errors import param_error
from ..core.kernels import as_events, as_strided_vector, as_vector
from . import kernels_events_numba as _k
from .kernels_events import as_signals

__all__ = [
    "gather_events",
    "event_sums",
    "event_sums_ref",
    "window_sums",
    "window_sums_ref",
    "grid_band_powers",
    "keep_runs",
    "keep_runs_ref",
    "kept_events",
    "kept_events_ref",
]


def gather_events(broad, analytic, starts, lasts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each event's samples ``starts[i] .. lasts[i] + 1`` of both signals, end to end.

    Returns
    -------
    broad, analytic : numpy.ndarray
        The spans concatenated (dtypes of the inputs).
    offsets : numpy.ndarray of int64
        Where each event's first sample is in them.
    """
    broad, analytic = as_strided_vector(broad, "broad"), np.asarray(analytic)
    if analytic.shape != broad.shape:
        raise param_error("analytic", f"an array of {broad.size} samples", analytic.shape)
    starts, lasts = as_events(starts, lasts, broad.size, margin=1)
    sizes = lasts - starts + 2
    offsets = np.zeros(starts.size, np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    total = int(sizes.sum())
    out_broad, out_analytic = np.empty(total, broad.dtype), np.empty(total, analytic.dtype)
    _k.gather_events(broad, analytic, starts, lasts, offsets, out_broad, out_analytic)
    return out_broad, out_analytic, offsets


def event_sums(sigma, broad, valid, starts, lasts) -> np.ndarray:
    """Per event ``[starts[i], lasts[i]]``: sums of ``sigma^2`` and ``broad^2``, then over its valid samples, a count.

    Columns: sigma, broad (every sample, in :func:`band_powers`'s order), valid sigma, valid broad,
    valid samples (float64).
    """
    sigma, broad, valid = as_signals(sigma, broad, valid)
    starts, lasts = as_events(starts, lasts, broad.size)
    out = np.empty((starts.size, 5))
    _k.event_sums(sigma, broad, valid, starts, lasts, out)
    return out


def event_sums_ref(sigma, broad, valid, starts, lasts) -> np.ndarray:
    """Numpy twin of :func:`event_sums`."""
    s2 = np.asarray(sigma, np.float64) ** 2
    b2 = np.asarray(broad, np.float64) ** 2
    valid = np.asarray(valid, bool)
    out = np.empty((len(starts), 5))
    for i, (a, e) in enumerate(zip(starts, lasts)):
        v = valid[a : e + 1]
        out[i] = s2[a : e + 1].sum(), b2[a : e + 1].sum(), s2[a : e + 1][v].sum(), b2[a : e + 1][v].sum(), v.sum()
    return out


def window_sums(sigma, broad, valid, centres, half: int, chunk: int) -> np.ndarray:
    """Sums of ``sigma^2``, ``broad^2`` and the count over the valid samples of ``[c - half, c + half)``, per centre.

    By prefix sums over chunks of ``chunk`` samples: every window must lie inside the arrays and
    ``centres - half`` must fall on one chunk grid (``half`` a multiple of ``chunk``). Rows:
    centres; columns: sigma, broad, count (float64).
    """
    sigma, broad, valid = as_signals(sigma, broad, valid)
    centres = as_vector(centres, "centres", np.int64)
    if chunk < 1 or half < 1 or half % chunk:
        raise param_error("half/chunk", "a positive half that is a multiple of the positive chunk", (half, chunk))
    if not centres.size:
        return np.zeros((0, 3))
    lo, hi = int(centres.min()) - half, int(centres.max()) + half
    if lo < 0 or hi > broad.size or np.any((centres - lo) % chunk):
        raise param_error("centres", f"windows inside the {broad.size} samples, on one {chunk}-sample grid",
                          (lo, hi))
    prefix = np.empty(((hi - lo) // chunk + 1, 3))
    _k.chunk_prefix(sigma, broad, valid, lo, chunk, prefix)
    first = (centres - half - lo) // chunk
    return prefix[first + 2 * half // chunk] - prefix[first]


def window_sums_ref(sigma, broad, valid, centres, half: int, chunk: int) -> np.ndarray:
    """Numpy twin of :func:`window_sums`: each window summed directly."""
    s2 = np.asarray(sigma, np.float64) ** 2
    b2 = np.asarray(broad, np.float64) ** 2
    valid = np.asarray(valid, bool)
    out = np.empty((len(centres), 3))
    for i, c in enumerate(centres):
        v = valid[c - half : c + half]
        out[i] = s2[c - half : c + half][v].sum(), b2[c - half : c + half][v].sum(), v.sum()
    return out


def keep_runs(analytic, broad, valid, first, size, centres, half: int, chunk: int):
    """Spans ``[first[r], first[r] + size[r])`` of the analytic sigma, broadband and valid arrays, end to end, and
    the :func:`window_sums` of ``centres`` (one compiled pass; :func:`keep_runs_ref` is its twin).

    Returns
    -------
    broad, analytic, valid : numpy.ndarray
        The spans (dtypes of the inputs, bool).
    sums : numpy.ndarray, shape (len(centres), 3)
    """
    broad, analytic, valid = as_strided_vector(broad, "broad"), np.asarray(analytic), np.asarray(valid)
    first, size = as_vector(first, "first", np.int64), as_vector(size, "size", np.int64)
    centres = as_vector(centres, "centres", np.int64)
    if analytic.shape != broad.shape or valid.shape != broad.shape or valid.dtype != np.bool_:
        raise param_error("analytic/valid", f"arrays of {broad.size} samples (valid: bool)",
                          (analytic.shape, valid.dtype))
    if first.size and (first.min() < 0 or (first + size).max() > broad.size or size.min() < 1):
        raise param_error("first/size", f"spans inside the {broad.size} samples", "out of range")
    if chunk < 1 or half < 1 or half % chunk:
        raise param_error("half/chunk", "a positive half that is a multiple of the positive chunk", (half, chunk))
    if centres.size and (centres.min() - half < 0 or centres.max() + half > broad.size
                         or np.any((centres - half) % chunk)):
        raise param_error("centres", f"windows inside the {broad.size} samples, on one {chunk}-sample grid",
                          (int(centres.min()), int(centres.max())))
    total = int(size.sum())
    out_b, out_a, out_v = np.empty(total, broad.dtype), np.empty(total, analytic.dtype), np.empty(total, np.bool_)
    sums = np.empty((centres.size, 3))
    _k.keep_runs(analytic, broad, valid, first, size, centres, int(half), int(chunk), out_b, out_a, out_v, sums)
    return out_b, out_a, out_v, sums


def grid_band_powers(analytic, broad, valid, starts, lasts, half: int, chunk: int) -> np.ndarray:
    """:func:`~sleepspindles.detection.spindles.kernels_events.band_powers`' table, as the ``a7`` engine takes it.

    The background window of an event whose window starts on a multiple of ``chunk`` inside the
    arrays is summed by prefix sums over chunks from sample 0 (as :func:`keep_runs`, so the kept
    and the refiltered paths give the same numbers); any other sample by sample.
    ``analytic``: the analytic sigma signal (its real part is summed).
    """
    broad, analytic, valid = as_strided_vector(broad, "broad"), np.asarray(analytic), np.asarray(valid, np.bool_)
    if analytic.shape != broad.shape or valid.shape != broad.shape:
        raise param_error("analytic/valid", f"arrays of {broad.size} samples", (analytic.shape, valid.shape))
    starts, lasts = as_events(starts, lasts, broad.size)
    if chunk < 1 or half < 1 or half % chunk:
        raise param_error("half/chunk", "a positive half that is a multiple of the positive chunk", (half, chunk))
    out = np.empty((starts.size, 5))
    _k.grid_powers(analytic, broad, valid, starts, lasts, int(half), int(chunk), out)
    return out


def keep_runs_ref(analytic, broad, valid, first, size, centres, half: int, chunk: int):
    """Numpy twin of :func:`keep_runs`."""
    idx = np.concatenate([np.arange(a, a + n) for a, n in zip(first, size)]) if len(first) else np.zeros(0, int)
    return (np.asarray(broad)[idx], np.asarray(analytic)[idx], np.asarray(valid)[idx],
            window_sums_ref(np.asarray(analytic).real, broad, valid, centres, half, chunk))


def kept_events(broad, analytic, valid, sums, p0, p1, row):
    """Events ``[p0[i], p1[i]]`` of kept spans: :func:`gather_events`'s arrays and :func:`band_powers`' table.

    ``sums[row[i]]`` holds the valid power of the event's background window with the event in it
    (:func:`window_sums`); the event's own valid samples are taken out of it here.

    Returns
    -------
    broad, analytic, offsets, powers
    """
    broad, analytic, valid = as_strided_vector(broad, "broad"), np.asarray(analytic), np.asarray(valid, np.bool_)
    p0, p1, row = as_vector(p0, "p0", np.int64), as_vector(p1, "p1", np.int64), as_vector(row, "row", np.int64)
    sums = np.asarray(sums, np.float64)
    if analytic.shape != broad.shape or valid.shape != broad.shape:
        raise param_error("analytic/valid", f"arrays of {broad.size} samples", (analytic.shape, valid.shape))
    if p0.size and (p0.min() < 0 or (p1 + 1).max() >= broad.size or np.any(p1 < p0) or row.min() < 0
                    or row.max() >= sums.shape[0]):
        raise param_error("p0/p1/row", f"events with p0 <= p1, p1 + 1 < {broad.size}, rows of sums", "out of range")
    total = int((p1 - p0 + 2).sum())
    offsets = np.empty(p0.size, np.int64)
    out_b, out_a = np.empty(total, broad.dtype), np.empty(total, analytic.dtype)
    powers = np.empty((p0.size, 5))
    _k.kept_events(broad, analytic, valid, sums, p0, p1, row, offsets, out_b, out_a, powers)
    return out_b, out_a, offsets, powers


def kept_events_ref(broad, analytic, valid, sums, p0, p1, row):
    """Numpy twin of :func:`kept_events` (:func:`gather_events` and :func:`event_sums_ref`)."""
    out_b, out_a, offsets = gather_events(broad, analytic, p0, p1)
    ev = event_sums_ref(np.asarray(analytic).real, broad, valid, p0, p1)
    win = np.asarray(sums)[row]
    left = win[:, 2] - ev[:, 4]
    n = p1 - p0 + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        powers = np.column_stack([ev[:, 0] / n, ev[:, 1] / n, np.where(left > 0, (win[:, 0] - ev[:, 2]) / left, np.nan),
                                  np.where(left > 0, (win[:, 1] - ev[:, 3]) / left, np.nan), left])
    return out_b, out_a, offsets, powers
