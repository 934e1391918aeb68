"""Numeric kernels of slow-oscillation (SO) detection: arrays in, arrays out, no I/O.

An SO candidate is one full cycle of the SO-band signal between two consecutive
positive-to-negative zero crossings: a negative half-wave (down-state) followed by a positive
one (up-state). :func:`find_slow_oscillations` returns every cycle that passes the duration
rules, with its landmarks; the amplitude criteria are separate masks over those candidates, so
absolute (:func:`amplitude_mask` with fixed thresholds) and relative criteria
(:func:`relative_thresholds`, possibly pooled over channels, then :func:`amplitude_mask`) are
both applied without detecting again.

Units: the signal is in uV and the rules in seconds (converted to whole samples); the kernels
return sample indices local to the arrays passed. Each public kernel has a plain numpy
``*_ref`` twin, written independently, which the tests compare it against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import param_error
from ..core.kernels import as_strided_vector, as_vector
from . import kernels_numba as _k

__all__ = [
    "DurationRules",
    "SlowOscillations",
    "find_slow_oscillations",
    "find_slow_oscillations_ref",
    "amplitude_mask",
    "relative_thresholds",
    "phase_units",
    "phase_units_ref",
]

# Tolerance when a rule in seconds is turned into samples: 0.3 s * 100 Hz is 30.000000000000004.
_EPS = 1e-9


@dataclass(frozen=True)
class SlowOscillations:
    """SO candidates of one channel, one element per cycle, in time order.

    Attributes
    ----------
    start, neg_peak, mid, pos_peak, end : numpy.ndarray of int64
        Sample indices: ``start`` is the first negative sample after the positive-to-negative
        crossing that opens the cycle, ``mid`` the first non-negative sample after the
        negative-to-positive crossing, ``end`` the first negative sample after the next
        positive-to-negative crossing (the next cycle's ``start``). ``neg_peak`` is the first
        minimum of ``x`` on ``[start, mid)``, ``pos_peak`` the first maximum on ``[mid, end)``.
    val_neg, val_pos : numpy.ndarray of float64
        ``x`` at ``neg_peak`` (always < 0) and at ``pos_peak`` (always >= 0), in uV.
    sf : float
        Sampling frequency in Hz, for the properties in seconds.
    """

    start: np.ndarray
    neg_peak: np.ndarray
    mid: np.ndarray
    pos_peak: np.ndarray
    end: np.ndarray
    val_neg: np.ndarray
    val_pos: np.ndarray
    sf: float

    def __len__(self) -> int:
        return int(self.start.size)

    @property
    def duration(self) -> np.ndarray:
        """Cycle length ``(end - start) / sf`` in seconds."""
        return (self.end - self.start) / self.sf

    @property
    def frequency(self) -> np.ndarray:
        """``1 / duration`` in Hz."""
        return self.sf / (self.end - self.start)

    @property
    def ptp(self) -> np.ndarray:
        """Peak-to-peak amplitude ``val_pos - val_neg`` in uV."""
        return self.val_pos - self.val_neg

    @property
    def slope(self) -> np.ndarray:
        """Down-to-up slope in uV/s: ``ptp`` over the time from the trough to the crest.

        This is the slope of the down-to-up-state transition (trough to crest), not YASA's
        ``Slope`` (``|val_neg|`` over the time from the trough to the mid crossing).
        """
        return self.ptp * self.sf / (self.pos_peak - self.neg_peak)


@dataclass(frozen=True)
class DurationRules:
    """Duration rules of an SO candidate: inclusive ``(min, max)`` bounds in seconds.

    Attributes
    ----------
    crossing : (float, float)
        Cycle length ``(end - start) / sf`` (default 0.8-2 s, i.e. 0.5-1.25 Hz).
    neg_duration : (float, float)
        Negative half-wave ``(mid - start) / sf`` (default 0.3-1.5 s).
    pos_duration : (float, float)
        Positive half-wave ``(end - mid) / sf`` (default 0.1-1 s).
    """

    crossing: tuple[float, float] = (0.8, 2.0)
    neg_duration: tuple[float, float] = (0.3, 1.5)
    pos_duration: tuple[float, float] = (0.1, 1.0)

    def in_samples(self, sf: float) -> np.ndarray:
        """The six bounds as the whole sample counts that satisfy them (int64, in field order)."""
        limits = []
        for name in ("crossing", "neg_duration", "pos_duration"):
            bounds = getattr(self, name)
            try:
                lo, hi = (float(b) for b in bounds)
            except (TypeError, ValueError):
                raise param_error(f"rules.{name}", "a (min, max) pair of seconds", bounds) from None
            if not (0 <= lo <= hi < math.inf):
                raise param_error(f"rules.{name}", "a (min, max) pair of seconds with 0 <= min <= max", bounds)
            limits += [math.ceil(lo * sf - _EPS), math.floor(hi * sf + _EPS)]
        return np.array(limits, dtype=np.int64)


def _check_signal(x, valid, sf: float) -> tuple[np.ndarray, np.ndarray]:
    # Not copied: the engine passes the real part of its analytic signal, a strided float32 view.
    x = as_strided_vector(x, "x")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    valid = as_vector(valid, "valid", np.bool_)
    if valid.shape != x.shape:
        raise param_error("valid", f"{x.size} booleans (one per sample of x)", valid.size)
    if not (0 < sf < math.inf):
        raise param_error("sf", "a positive sampling frequency in Hz", sf)
    return x, valid


def find_slow_oscillations(x, valid, sf: float, rules: DurationRules = DurationRules()) -> SlowOscillations:
    """Every SO cycle of one channel that passes the duration rules (no amplitude criterion).

    A candidate runs from one positive-to-negative zero crossing to the next. A sample counts
    as negative when ``x < 0``, so crossings alternate and the two bounding crossings always
    enclose exactly one negative-to-positive (mid) crossing. Crossings are located to the
    sample: ``start``, ``mid`` and ``end`` are the first samples *after* their crossing (up to
    one sample late; sub-sample precision does not matter at SO time scales).

    Parameters
    ----------
    x : array-like of float, shape (n_samples,)
        One channel, already band-passed to the SO band (e.g. 0.3-1.5 Hz), in uV.
    valid : array-like of bool, shape (n_samples,)
        Samples inside the searched stages and usable. A candidate is kept only when every
        sample from the one before ``start`` to ``end`` is valid and finite, so that both
        bounding crossings are seen on valid data (a cycle cut by an artefact or a stage
        boundary is not measured).
    sf : float
        Sampling frequency in Hz.
    rules : DurationRules
        Bounds on the cycle length and on each half-wave, in seconds (see :class:`DurationRules`).

    Returns
    -------
    SlowOscillations
        Sample indices and peak values of the candidates; select with :func:`amplitude_mask`.

    Notes
    -----
    One O(n) pass; compiled, about 7 ms for 8 h at 100 Hz (2.9 M samples).
    """
    x, valid = _check_signal(x, valid, sf)
    limits = rules.in_samples(sf)
    # Consecutive candidates' starts are at least the shortest cycle apart.
    capacity = x.size // max(int(limits[0]), 1) + 1
    idx = np.empty((capacity, 5), dtype=np.int64)
    val = np.empty((capacity, 2), dtype=np.float64)
    n = _k.find_candidates(x, valid, limits, idx, val)
    cols = [np.ascontiguousarray(idx[:n, j]) for j in range(5)]
    return SlowOscillations(*cols, val[:n, 0].copy(), val[:n, 1].copy(), float(sf))


def find_slow_oscillations_ref(x, valid, sf: float, rules: DurationRules = DurationRules()) -> SlowOscillations:
    """Numpy twin of :func:`find_slow_oscillations`: crossings by ``np.diff``, rules in seconds."""
    x = np.asarray(x, dtype=np.float64)
    neg = x < 0
    after = np.flatnonzero(neg[1:] != neg[:-1]) + 1
    down, up = after[neg[after]], after[~neg[after]]
    start, end = down[:-1], down[1:]
    mid = up[np.searchsorted(up, start)]
    n_bad = np.concatenate([[0], np.cumsum(~(np.asarray(valid, dtype=bool) & np.isfinite(x)))])
    keep = (n_bad[end + 1] - n_bad[start - 1]) == 0

    def within(samples, bounds):
        return (samples / sf >= bounds[0] - _EPS) & (samples / sf <= bounds[1] + _EPS)

    keep &= within(end - start, rules.crossing) & within(mid - start, rules.neg_duration)
    keep &= within(end - mid, rules.pos_duration)
    start, mid, end = start[keep], mid[keep], end[keep]
    neg_peak = np.array([s + np.argmin(x[s:m]) for s, m in zip(start, mid)], dtype=np.int64)
    pos_peak = np.array([m + np.argmax(x[m:e]) for m, e in zip(mid, end)], dtype=np.int64)
    return SlowOscillations(start, neg_peak, mid, pos_peak, end, x[neg_peak], x[pos_peak], float(sf))


def amplitude_mask(val_neg, ptp, *, neg_max: float | None = -40.0, ptp_min: float | None = 75.0) -> np.ndarray:
    """Candidates deep and large enough: ``val_neg <= neg_max`` and ``ptp >= ptp_min``.

    Parameters
    ----------
    val_neg, ptp : array-like of float
        Trough values and peak-to-peak amplitudes of the candidates, in uV (the
        ``val_neg`` and ``ptp`` of :class:`SlowOscillations`).
    neg_max : float or None
        Highest trough value kept, in uV (default -40); None: no trough criterion.
    ptp_min : float or None
        Smallest peak-to-peak amplitude kept, in uV (default 75); None: no ptp criterion.
        The defaults are YASA's lower limits; there are no upper limits here.

    Returns
    -------
    numpy.ndarray of bool
    """
    val_neg = np.asarray(val_neg, dtype=np.float64)
    ptp = np.asarray(ptp, dtype=np.float64)
    if val_neg.shape != ptp.shape:
        raise param_error("ptp", f"an array of the same shape as val_neg {val_neg.shape}", ptp.shape)
    keep = np.ones(val_neg.shape, dtype=bool)
    if neg_max is not None:
        keep &= val_neg <= neg_max
    if ptp_min is not None:
        keep &= ptp >= ptp_min
    return keep


def relative_thresholds(val_neg, ptp, percentile: float) -> tuple[float, float]:
    """Thresholds that keep the candidates in the top ``percentile`` % of both trough depth and ptp.

    Pass the result to :func:`amplitude_mask` as ``neg_max, ptp_min``. Each criterion keeps the
    top ``percentile`` % of the candidates given; a candidate must pass both, so fewer may pass.

    Pool the candidates of homologous channels (e.g. C3 and C4) and apply the common thresholds
    to each: a percentile taken per channel keeps the same share of each channel's candidates,
    which equalises SO counts across hemispheres by construction and hides a real asymmetry in
    SO amplitude; a pooled threshold lets the channel with larger SOs keep more of them.

    Parameters
    ----------
    val_neg, ptp : array-like of float
        Trough values (negative, uV) and peak-to-peak amplitudes (uV) of the candidates.
    percentile : float
        Share kept by each criterion, in percent, in (0, 100].

    Returns
    -------
    neg_max, ptp_min : float
        The ``percentile``-th percentile of ``val_neg`` and the ``(100 - percentile)``-th of
        ``ptp`` (linear interpolation); NaN for no candidates (then nothing passes).
    """
    val_neg = np.asarray(val_neg, dtype=np.float64).ravel()
    ptp = np.asarray(ptp, dtype=np.float64).ravel()
    if not 0 < percentile <= 100:
        raise param_error("percentile", "a share in percent, in (0, 100]", percentile)
    if val_neg.size != ptp.size:
        raise param_error("ptp", f"{val_neg.size} values (one per candidate)", ptp.size)
    if val_neg.size == 0:
        return math.nan, math.nan
    return float(np.percentile(val_neg, percentile)), float(np.percentile(ptp, 100 - percentile))


def phase_units(analytic, times, offset: int, src, dst, out) -> None:
    """Write the SO phases' unit vectors at random times: ``out[dst[m]]`` from ``times[src[m]]``.

    Parameters
    ----------
    analytic : numpy.ndarray of complex64, shape (n,)
        One channel's analytic SO-band signal over a block; sample ``t`` of the night is
        ``analytic[t - offset]``.
    times : numpy.ndarray of float, shape (n_rows, n_times)
        Times in samples of the night (rounded to the nearest sample).
    src, dst : array-like of int
        Rows of ``times`` to read and the rows of ``out`` they fill.
    out : numpy.ndarray of complex64, shape (n_out, n_times)
        ``analytic / abs(analytic)`` there (1, phase 0, where the signal is exactly 0), in place.
    """
    src = np.ascontiguousarray(src, dtype=np.int64)
    dst = np.ascontiguousarray(dst, dtype=np.int64)
    if analytic.ndim != 1 or analytic.dtype != np.complex64 or out.dtype != np.complex64 or out.ndim != 2:
        raise param_error("analytic/out", "a complex64 vector and a complex64 matrix", (analytic.shape, out.shape))
    if src.shape != dst.shape or times.ndim != 2 or times.shape[1] != out.shape[1]:
        raise param_error("src/dst/times", f"rows of times ({times.shape}) for rows of out ({out.shape})",
                          (src.size, dst.size))
    if src.size and (min(src.min(), dst.min()) < 0 or src.max() >= times.shape[0] or dst.max() >= out.shape[0]):
        raise param_error("src/dst", "row indices inside times and out", (src.max(), dst.max()))
    outside = _k.phase_units(analytic, times, int(offset), src, dst, out)
    if outside:  # checked in the loop: a pass of its own would cost a third of the work
        raise param_error("times", f"sample times inside the {analytic.size} samples from {offset}",
                          f"{outside} outside")


def phase_units_ref(analytic, times, offset: int, src, dst, out) -> None:
    """Numpy twin of :func:`phase_units`."""
    values = analytic[np.rint(times[np.asarray(src, dtype=np.int64)]).astype(np.int64) - offset]
    size = np.abs(values)
    out[np.asarray(dst, dtype=np.int64)] = np.divide(values, size, out=np.ones_like(values), where=size > 0)
