"""Numeric kernels of the A7 spindle detector (Lacourse et al. 2019): arrays in, arrays out.

Each public function validates its inputs, allocates its outputs and either calls a compiled loop
(below, through :func:`sleepspindles.detection.core._numba.jit`) or is a short vectorised numpy expression; each
has a ``*_ref`` twin written as a plain loop over windows, which the tests compare against.

Vocabulary: a *window* is ``win`` samples starting every ``step`` samples (A7: 0.3 s every 0.1 s);
a *segment* is the ``step`` samples a window starts with. Window ``w`` covers segments
``w .. w + win // step - 1``, so segment ``j`` is covered by windows ``j - per + 1 .. j``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...errors import param_error
from ..core._numba import jit
from ..core.kernels import as_events, as_vector

__all__ = [
    "WindowFeatures",
    "window_features",
    "window_features_ref",
    "baseline_zscore",
    "baseline_zscore_ref",
    "segment_means",
    "segment_means_ref",
    "segment_feature",
    "segment_feature_ref",
    "span_means",
    "span_means_ref",
    "extend_runs",
    "extend_runs_ref",
]


# --------------------------------------------------------------------------- window features
@dataclass(frozen=True)
class WindowFeatures:
    """Three of the four A7 features of each window (float64 arrays, NaN where undefined).

    abs_pow : log10 of the mean square of the sigma signal (log10 uV^2)
    cov : log10(1 + max(covariance(broad, sigma), 0)) (covariance with ddof=1, uV^2)
    corr : Pearson correlation of the broadband and sigma signals

    The fourth, relative sigma power, is
    :func:`sleepspindles.detection.spindles.kernels_a7_periodogram.periodogram_ratio`.
    """

    abs_pow: np.ndarray
    cov: np.ndarray
    corr: np.ndarray


@jit(fastmath={"reassoc", "contract", "arcp", "nsz"})
def _window_features(sigma, broad, first, step, win, piece, out):  # pragma: no cover - compiled
    """Fill ``out[k, w]`` (k: abs, cov, corr) for windows at ``first + w * step``.

    Windows overlap, so the five sums are taken once per ``piece`` samples (a divisor of ``step``
    and ``win``) and each window adds its pieces.
    """
    n_w = out.shape[1]
    if n_w == 0:
        return
    per_step = step // piece
    per_win = win // piece
    n_p = (n_w - 1) * per_step + per_win
    p = np.empty((n_p, 5))  # sigma, broad, sigma^2, broad^2, sigma * broad
    for j in range(n_p):
        a = first + j * piece
        ss = 0.0
        sb = 0.0
        sss = 0.0
        sbb = 0.0
        ssb = 0.0
        for t in range(a, a + piece):
            s = np.float64(sigma[t])
            b = np.float64(broad[t])
            ss += s
            sb += b
            sss += s * s
            sbb += b * b
            ssb += s * b
        p[j, 0] = ss
        p[j, 1] = sb
        p[j, 2] = sss
        p[j, 3] = sbb
        p[j, 4] = ssb
    for w in range(n_w):
        ss = 0.0
        sb = 0.0
        sss = 0.0
        sbb = 0.0
        ssb = 0.0
        for r in range(w * per_step, w * per_step + per_win):
            ss += p[r, 0]
            sb += p[r, 1]
            sss += p[r, 2]
            sbb += p[r, 3]
            ssb += p[r, 4]
        out[0, w] = math.log10(sss / win) if sss > 0.0 else np.nan
        c = (ssb - ss * sb / win) / (win - 1)
        out[1, w] = math.log10(1.0 + max(c, 0.0))
        vs = max(sss - ss * ss / win, 0.0)
        vb = max(sbb - sb * sb / win, 0.0)
        den = math.sqrt(vs * vb)
        out[2, w] = (ssb - ss * sb / win) / den if den > 0.0 else np.nan


def window_features(sigma, broad, first: int, step: int, win: int, n_windows: int) -> WindowFeatures:
    """A7's absolute power, covariance and correlation of ``n_windows`` windows ``[first + w * step, first + w * step + win)``.

    Parameters
    ----------
    sigma, broad : array of float, shape (n,)
        Sigma-band and broadband filtered signals (uV).
    first, step, win, n_windows : int
        First window start, window step and length (samples), number of windows; every window
        must lie inside the arrays.
    """
    # Strided views (the real part of an analytic signal) are read in place.
    sigma = np.asarray(sigma)
    broad = np.asarray(broad)
    if sigma.ndim != 1 or broad.ndim != 1:
        raise param_error("sigma/broad", "one-dimensional arrays", (sigma.shape, broad.shape))
    if sigma.shape != broad.shape:
        raise param_error("broad", f"an array of the same length as sigma ({sigma.size})", broad.size)
    if step < 1 or win < 2 or n_windows < 0:
        raise param_error("step/win/n_windows", "step >= 1, win >= 2, n_windows >= 0", (step, win, n_windows))
    if n_windows and (first < 0 or first + (n_windows - 1) * step + win > sigma.size):
        raise param_error("first/n_windows", f"windows inside the {sigma.size} samples", (first, n_windows))
    out = np.empty((3, n_windows))
    _window_features(sigma, broad, int(first), int(step), int(win), math.gcd(int(step), int(win)), out)
    return WindowFeatures(*out)


def window_features_ref(sigma, broad, first: int, step: int, win: int, n_windows: int) -> WindowFeatures:
    """Numpy twin of :func:`window_features` (``np.cov``, ``np.corrcoef``, one window at a time)."""
    out = np.full((3, n_windows), np.nan)
    for w in range(n_windows):
        s = np.asarray(sigma[first + w * step : first + w * step + win], dtype=np.float64)
        b = np.asarray(broad[first + w * step : first + w * step + win], dtype=np.float64)
        if np.sum(s**2) > 0:
            out[0, w] = np.log10(np.mean(s**2))
        out[1, w] = np.log10(1 + max(np.cov(b, s)[0, 1], 0.0))
        if s.std() > 0 and b.std() > 0:
            out[2, w] = np.corrcoef(b, s)[0, 1]
    return WindowFeatures(*out)


# --------------------------------------------------------------------------- local baseline
def baseline_zscore(values, valid, n_base: int, lo: float, hi: float) -> np.ndarray:
    """Z-score of every value against a local baseline of valid values (A7's adaptive threshold).

    The baseline of value ``i`` is the ``n_base`` valid values nearest to it in order: the valid
    positions ``[p - n_base // 2, p - n_base // 2 + n_base)``, shifted to stay inside the valid
    values, where ``p`` is the rank of the first valid value at or after ``i`` (all valid values
    when there are fewer than ``n_base``). Only baseline values inside ``[lo, hi]`` (A7: the 10th
    and 90th percentiles of the whole recording) enter its mean and standard deviation (ddof=1),
    so spindles and artefacts do not inflate it.

    Returns
    -------
    numpy.ndarray of float64
        ``(values - mean) / sd``; NaN where the baseline has fewer than 2 values inside the
        limits or no spread.
    """
    values = as_vector(values, "values", np.float64)
    valid = as_vector(valid, "valid", np.bool_)
    if valid.shape != values.shape or n_base < 2:
        raise param_error("valid/n_base", f"{values.size} booleans and n_base >= 2", (valid.size, n_base))
    out = np.full(values.size, np.nan)
    _baseline_zscore(values, valid, int(n_base), float(lo), float(hi), out)
    return out


@jit
def _baseline_zscore(values, valid, n_base, lo, hi, out):  # pragma: no cover - compiled
    """Fill ``out`` (NaN on entry) with :func:`baseline_zscore`'s z-scores.

    Prefix sums over the valid values (those inside ``[lo, hi]`` only); no fastmath, so the
    arithmetic is numpy's (sequential prefix sums, no fused multiply-add).
    """
    n = values.shape[0]
    pos = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        if valid[i] and np.isfinite(values[i]):
            pos[m] = i
            m += 1
    if m < 2:
        return
    c1 = np.zeros(m + 1, np.int64)
    s1 = np.zeros(m + 1)
    s2 = np.zeros(m + 1)
    for r in range(m):
        v = values[pos[r]]
        inside = v >= lo and v <= hi
        c1[r + 1] = c1[r] + (1 if inside else 0)
        s1[r + 1] = s1[r] + (v if inside else 0.0)
        s2[r + 1] = s2[r] + (v * v if inside else 0.0)
    nb = min(n_base, m)
    rank = 0  # first valid position at or after i
    for i in range(n):
        while rank < m and pos[rank] < i:
            rank += 1
        a = min(max(min(rank, m - 1) - nb // 2, 0), m - nb)
        b = a + nb
        count = c1[b] - c1[a]
        if count < 2:
            continue
        total = s1[b] - s1[a]
        mean = total / count
        var = (s2[b] - s2[a] - total * mean) / (count - 1)
        sd = math.sqrt(max(var, 0.0))
        if sd > 1e-12 * max(abs(mean), 1.0):
            out[i] = (values[i] - mean) / sd


def baseline_zscore_ref(values, valid, n_base: int, lo: float, hi: float) -> np.ndarray:
    """Numpy twin of :func:`baseline_zscore`: the baseline of each value built explicitly."""
    values = np.asarray(values, dtype=np.float64)
    pos = np.flatnonzero(np.asarray(valid) & np.isfinite(values))
    out = np.full(values.size, np.nan)
    if pos.size < 2:
        return out
    n = min(n_base, pos.size)
    for i in range(values.size):
        later = np.flatnonzero(pos >= i)
        p = later[0] if later.size else pos.size - 1
        a = min(max(p - n // 2, 0), pos.size - n)
        base = values[pos[a : a + n]]
        base = base[(base >= lo) & (base <= hi)]
        if base.size >= 2 and np.std(base, ddof=1) > 1e-12 * max(abs(base.mean()), 1.0):
            out[i] = (values[i] - base.mean()) / np.std(base, ddof=1)
    return out


# --------------------------------------------------------------------------- windows -> segments
def segment_means(window_values, per: int) -> np.ndarray:
    """Per segment, the mean of the finite values of the ``per`` windows covering it.

    ``window_values[w]`` belongs to window ``w`` (covering segments ``w .. w + per - 1``); there
    are as many segments as windows. NaN where no covering window has a finite value.
    """
    x = as_vector(window_values, "window_values", np.float64)
    if per < 1:
        raise param_error("per", "a positive number of segments per window", per)
    out = np.empty(x.size)
    _segment_means(x, int(per), out)
    return out


@jit
def _segment_means(x, per, out):  # pragma: no cover - compiled
    """Fill ``out`` with :func:`segment_means` by prefix sums of the finite values (as numpy would)."""
    n = x.shape[0]
    c = np.zeros(n + 1, np.int64)
    s = np.zeros(n + 1)
    for j in range(n):
        finite = np.isfinite(x[j])
        c[j + 1] = c[j] + (1 if finite else 0)
        s[j + 1] = s[j] + (x[j] if finite else 0.0)
    for j in range(n):
        lo = max(j + 1 - per, 0)
        count = c[j + 1] - c[lo]
        out[j] = (s[j + 1] - s[lo]) / count if count > 0 else np.nan


def segment_feature(window_values, per: int, of_powers: bool = False) -> np.ndarray:
    """:func:`segment_means` as float32, in one compiled pass over the windows.

    With ``of_powers``, ``window_values`` are log10 powers: each segment's feature is log10 of the
    mean of ``10 ** value`` (A7's absolute sigma power: the power averaged, then its log; -inf for
    no power). :func:`segment_feature_ref` is the numpy twin.
    """
    x = np.asarray(window_values)
    if x.ndim != 1 or x.dtype.kind != "f":
        raise param_error("window_values", "a one-dimensional float array", f"{x.dtype} {x.shape}")
    if per < 1:
        raise param_error("per", "a positive number of segments per window", per)
    out = np.empty(x.size, np.float32)
    with np.errstate(divide="ignore"):  # log10(0) = -inf, as plain Python (SLEEPSPINDLES_NO_NUMBA=1)
        _segment_feature(x, int(per), bool(of_powers), out)
    return out


@jit
def _segment_feature(x, per, of_powers, out):  # pragma: no cover - compiled
    """Fill ``out`` with :func:`segment_feature`: :func:`_segment_means`'s prefix sums, numpy's arithmetic."""
    n = x.shape[0]
    c = np.zeros(n + 1, np.int64)
    s = np.zeros(n + 1)
    for j in range(n):
        v = np.float64(x[j])
        if of_powers:
            v = 10.0**v
        finite = np.isfinite(v)
        c[j + 1] = c[j] + (1 if finite else 0)
        s[j + 1] = s[j] + (v if finite else 0.0)
    for j in range(n):
        lo = max(j + 1 - per, 0)
        count = c[j + 1] - c[lo]
        m = (s[j + 1] - s[lo]) / count if count > 0 else np.nan
        if of_powers:
            m = np.log10(m)
        out[j] = np.float32(m)


def segment_feature_ref(window_values, per: int, of_powers: bool = False) -> np.ndarray:
    """Numpy twin of :func:`segment_feature`."""
    x = np.asarray(window_values, dtype=np.float64)
    if of_powers:
        with np.errstate(divide="ignore"):
            return np.log10(segment_means(10.0**x, per)).astype(np.float32)
    return segment_means(x, per).astype(np.float32)


def segment_means_ref(window_values, per: int) -> np.ndarray:
    """Numpy twin of :func:`segment_means`."""
    x = np.asarray(window_values, dtype=np.float64)
    out = np.full(x.size, np.nan)
    for j in range(x.size):
        cover = x[max(j - per + 1, 0) : j + 1]
        cover = cover[np.isfinite(cover)]
        if cover.size:
            out[j] = cover.mean()
    return out


def span_means(values, starts, lasts) -> np.ndarray:
    """Mean of the finite values of ``values[starts[i] : lasts[i] + 1]`` for each span (NaN when none).

    By prefix sums of the finite values: one pass whatever the number of spans.
    """
    x = as_vector(values, "values", np.float64)
    starts, lasts = as_events(starts, lasts, x.size)
    finite = np.isfinite(x)
    count = np.r_[0, np.cumsum(finite)]
    total = np.r_[0.0, np.cumsum(np.where(finite, x, 0.0))]
    n = count[lasts + 1] - count[starts]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (total[lasts + 1] - total[starts]) / n, np.nan)


def span_means_ref(values, starts, lasts) -> np.ndarray:
    """Twin of :func:`span_means`: ``np.nanmean`` of each span."""
    x = np.asarray(values, dtype=np.float64)
    out = np.full(len(starts), np.nan)
    for i, (a, b) in enumerate(zip(starts, lasts)):
        span = x[a : b + 1]
        if np.isfinite(span).any():
            out[i] = np.nanmean(span)
    return out


# --------------------------------------------------------------------------- decision
def extend_runs(core, extend) -> tuple[np.ndarray, np.ndarray]:
    """A7's event boundaries: every run of ``core`` grown while ``extend`` holds on each side.

    ``core`` must imply ``extend`` (A7: all four criteria imply absolute power and covariance),
    so each event is a run of ``extend`` that contains at least one ``core`` sample.

    Returns
    -------
    starts, lasts : numpy.ndarray of int64
        First and last (inclusive) index of each event, sorted, without duplicates.
    """
    core = as_vector(core, "core", np.bool_)
    extend = as_vector(extend, "extend", np.bool_)
    if core.shape != extend.shape or np.any(core & ~extend):
        raise param_error("extend", "a mask of the same length that is True wherever core is", "a mismatch")
    edges = np.diff(np.r_[0, extend.astype(np.int8), 0])
    starts = np.flatnonzero(edges == 1)
    lasts = np.flatnonzero(edges == -1) - 1
    c = np.r_[0, np.cumsum(core)]
    keep = c[lasts + 1] > c[starts]
    return starts[keep].astype(np.int64), lasts[keep].astype(np.int64)


def extend_runs_ref(core, extend) -> tuple[np.ndarray, np.ndarray]:
    """Twin of :func:`extend_runs`: A7's loop, growing each core run one sample at a time."""
    core = np.asarray(core, dtype=bool)
    extend = np.asarray(extend, dtype=bool)
    events = set()
    i = 0
    while i < core.size:
        if not core[i]:
            i += 1
            continue
        j = i
        while j + 1 < core.size and core[j + 1]:
            j += 1
        s, e = i, j
        while s - 1 >= 0 and extend[s - 1]:
            s -= 1
        while e + 1 < core.size and extend[e + 1]:
            e += 1
        events.add((s, e))
        i = j + 1
    pairs = sorted(events)
    return np.array([p[0] for p in pairs], dtype=np.int64), np.array([p[1] for p in pairs], dtype=np.int64)
