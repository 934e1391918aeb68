"""Private compiled loops of the per-spindle parameters: loops only, no validation, no allocation of large arrays.

Called through :func:`sleepspindles.detection.spindles.kernels_events.event_params`, which checks
shapes and dtypes, allocates the outputs and has the ``scipy.signal`` twin the tests compare
against. The peak helpers follow ``scipy.signal.find_peaks`` (local maxima, distance selection,
prominence); indices are local to the arrays passed, events are first and last (inclusive) samples.
"""

from __future__ import annotations

import math

import numpy as np

from ..core._numba import jit


@jit
def local_maxima(x, peaks):  # pragma: no cover - compiled
    """Indices of local maxima, plateaus reduced to their middle (as ``scipy.signal.find_peaks``)."""
    n_pk = 0
    i = 1
    i_max = x.shape[0] - 1
    while i < i_max:
        if x[i - 1] < x[i]:
            i_ahead = i + 1
            while i_ahead < i_max and x[i_ahead] == x[i]:
                i_ahead += 1
            if x[i_ahead] < x[i]:
                peaks[n_pk] = (i + i_ahead - 1) // 2
                n_pk += 1
                i = i_ahead
        i += 1
    return n_pk


@jit
def select_by_distance(x, peaks, distance, keep):  # pragma: no cover - compiled
    """Drop peaks closer than ``distance`` to a higher one (scipy's rule, ties to the later peak)."""
    n = peaks.shape[0]
    order = np.argsort(x[peaks], kind="mergesort")
    for t in range(n):
        keep[t] = True
    for t in range(n - 1, -1, -1):
        i = order[t]
        if not keep[i]:
            continue
        j = i - 1
        while j >= 0 and peaks[i] - peaks[j] < distance:
            keep[j] = False
            j -= 1
        j = i + 1
        while j < n and peaks[j] - peaks[i] < distance:
            keep[j] = False
            j += 1


@jit
def prominence(x, peak):  # pragma: no cover - compiled
    """Prominence of one peak over the whole array (``scipy.signal.peak_prominences``, no wlen)."""
    left_min = x[peak]
    i = peak
    while i >= 0 and x[i] <= x[peak]:
        if x[i] < left_min:
            left_min = x[i]
        i -= 1
    right_min = x[peak]
    i = peak
    while i < x.shape[0] and x[i] <= x[peak]:
        if x[i] < right_min:
            right_min = x[i]
        i += 1
    return x[peak] - max(left_min, right_min)


@jit
def detrend_linear(x):  # pragma: no cover - compiled
    """Remove the least-squares line (float64 result)."""
    n = x.shape[0]
    out = np.empty(n)
    mid = (n - 1) / 2.0
    mean = 0.0
    for i in range(n):
        mean += x[i]
    mean /= n
    num = 0.0
    den = 0.0
    for i in range(n):
        t = i - mid
        num += t * x[i]
        den += t * t
    slope = num / den if den > 0 else 0.0
    for i in range(n):
        out[i] = x[i] - mean - (i - mid) * slope
    return out


@jit
def parabolic_extreme(d, i):  # pragma: no cover - compiled
    """Value of the parabola through ``d[i-1], d[i], d[i+1]`` at its vertex (``d[i]`` at the ends)."""
    if i <= 0 or i >= d.shape[0] - 1:
        return d[i]
    y0 = d[i - 1]
    y1 = d[i]
    y2 = d[i + 1]
    den = y0 - 2.0 * y1 + y2
    if den == 0.0:
        return y1
    p = 0.5 * (y0 - y2) / den
    return y1 - 0.25 * (y0 - y2) * p


@jit
def gather_spans(z, starts, lasts, re, im):  # pragma: no cover - compiled
    """Real and imaginary parts (float64) of ``z[starts[e] : lasts[e] + 2]``, event after event."""
    p = 0
    for e in range(starts.shape[0]):
        for t in range(starts[e], lasts[e] + 2):
            re[p] = z[t].real
            im[p] = z[t].imag
            p += 1


@jit
def event_params(broad, phase, magnitude, starts, lasts, sf, distance, out):  # pragma: no cover
    """Per-event amplitude, rms, frequency, oscillations, peak offset, symmetry, envelope peak.

    ``phase`` and ``magnitude`` hold the analytic signal's angle and modulus over
    ``starts[e] .. lasts[e] + 1``, event after event (see :func:`gather_spans`). ``out`` has shape
    (n_events, 7): columns amplitude, rms, frequency, oscillations, peak offset in samples from
    the start, symmetry, offset of the envelope's maximum.
    """
    at = 0  # this event's first phase
    for e in range(starts.shape[0]):
        s = starts[e]
        last = lasts[e]
        d = detrend_linear(broad[s : last + 1])
        n = d.shape[0]
        i_max = np.argmax(d)
        i_min = np.argmin(d)
        out[e, 0] = parabolic_extreme(d, i_max) - parabolic_extreme(d, i_min)
        out[e, 1] = math.sqrt(np.mean(d * d))
        freqs = np.empty(n)
        n_pos = 0
        for t in range(at, at + n):
            f = sf / (2.0 * math.pi) * (phase[t + 1] - phase[t])
            if f > 0:
                freqs[n_pos] = f
                n_pos += 1
        out[e, 6] = np.argmax(magnitude[at : at + n])
        at += n + 1
        out[e, 2] = np.median(freqs[:n_pos]) if n_pos > 0 else np.nan
        peaks = np.empty(n, dtype=np.int64)
        n_pk = local_maxima(d, peaks)
        peaks = peaks[:n_pk]
        keep = np.empty(n_pk, dtype=np.bool_)
        select_by_distance(d, peaks, distance, keep)
        peaks = peaks[keep]
        best = -1
        best_prom = -np.inf
        for t in range(peaks.shape[0]):
            p = prominence(d, peaks[t])
            if p > best_prom:
                best_prom = p
                best = peaks[t]
        if best < 0:
            best = i_max
        out[e, 3] = peaks.shape[0]
        out[e, 4] = best
        out[e, 5] = best / n
