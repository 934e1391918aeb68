"""A7's relative sigma power as its authors compute it: a band-power ratio of each window's periodogram.

The authors' ``a7subRelSigPow.m`` takes, on every 0.3 s window, the periodogram of the broadband
signal (mean removed, symmetric Hann window, zero-padded to 2 s: 0.5 Hz bins) and divides the
power of the sigma bins by the power of the 4.5-30 Hz bins. :func:`periodogram_ratio` computes
the same ratio without a transform: summed over a band, the bins' power is a weighted sum of the
windowed window's autocorrelation (a Toeplitz quadratic form), one set of lag weights per band and
one autocorrelation (``win^2 / 2`` multiply-adds) shared by both (compiled loop through
:func:`sleepspindles.detection.core._numba.jit`); :func:`periodogram_ratio_ref` is its twin with
``np.fft``, which the tests compare it against.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

from ...errors import param_error
from ..core._numba import jit

__all__ = ["periodogram_ratio", "periodogram_ratio_ref"]


@lru_cache(maxsize=8)
def _lag_weights(win: int, n_fft: int, bins: tuple[int, int]) -> np.ndarray:
    """``c`` with ``sum_d c[d] r[d]`` = the power of bins ``bins[0]..bins[1]`` of a window's periodogram.

    ``r[d] = sum_n u[n] u[n + d]`` is the autocorrelation of the windowed window ``u`` (mean
    removed, symmetric Hann window, as A7's authors take it) at lag ``d``. Summed over a band, the
    bins' power ``|sum_n u_n e^(-2 pi i k n / n_fft)|^2`` is ``u @ C @ u`` with the Toeplitz matrix
    ``C[n, m] = sum_k cos(2 pi k (n - m) / n_fft)`` (the zero-padding's offset only turns the
    phase), so ``c[0] = C[0, 0]`` and ``c[d] = 2 C[d, 0]``. Constant scale factors (one-sided
    doubling, noise gain) are left out: they cancel in a ratio.
    """
    lag = np.arange(win)
    k = np.arange(bins[0], bins[1] + 1)
    c = np.cos(2 * np.pi * lag[:, None] * k / n_fft).sum(axis=1)
    c[1:] *= 2
    c.setflags(write=False)  # shared by every call (cached)
    return c


@lru_cache(maxsize=8)
def _hann(win: int) -> np.ndarray:
    """The symmetric Hann window of ``win`` points (MATLAB's ``hann(win)``, A7's)."""
    h = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / (win - 1))
    h.setflags(write=False)
    return h


#: Windows computed side by side: the innermost loops run across them (contiguous, vectorised).
_LANES = 64


@jit(fastmath={"reassoc", "contract", "arcp", "nsz"})
def _periodogram_ratio(x, first, step, hann, num, den, out):  # pragma: no cover - compiled
    """Fill ``out[w]`` with log10 of ``sum_d num[d] r[d] / sum_d den[d] r[d]`` on the window at ``first + w * step``.

    ``r`` is the autocorrelation of the window, mean removed, times ``hann``: about ``win^2 / 2``
    multiply-adds per window, shared by both bands. A window's lags are short (``win`` ~ 30), so
    the loops run over ``_LANES`` windows at a time, held transposed, with the window index
    innermost: each lag's products then vectorise across windows.
    """
    win = hann.shape[0]
    lanes = _LANES
    u = np.empty((win, lanes))
    r = np.empty(lanes)
    p_num = np.empty(lanes)
    p_den = np.empty(lanes)
    n_windows = out.shape[0]
    for w0 in range(0, n_windows, lanes):
        m = min(lanes, n_windows - w0)
        for j in range(m):
            a = first + (w0 + j) * step
            mean = 0.0
            for t in range(win):
                mean += np.float64(x[a + t])
            mean /= win
            for t in range(win):
                u[t, j] = (np.float64(x[a + t]) - mean) * hann[t]
        p_num[:m] = 0.0
        p_den[:m] = 0.0
        for d in range(win):
            r[:m] = 0.0
            for n in range(win - d):
                for j in range(m):
                    r[j] += u[n, j] * u[n + d, j]
            for j in range(m):
                p_num[j] += num[d] * r[j]
                p_den[j] += den[d] * r[j]
        for j in range(m):
            ok = p_num[j] > 0.0 and p_den[j] > 0.0
            out[w0 + j] = math.log10(p_num[j] / p_den[j]) if ok else np.nan


def periodogram_ratio(broad, first: int, step: int, win: int, n_windows: int, n_fft: int,
                      num_bins: tuple[int, int], den_bins: tuple[int, int]) -> np.ndarray:
    """A7's relative sigma power as its authors compute it, per window: log10 of a periodogram band ratio.

    Parameters
    ----------
    broad : array of float, shape (n,)
        The broadband signal (uV); read in place when strided.
    first, step, win, n_windows : int
        First window start, window step and length (samples), number of windows; every window
        must lie inside the array.
    n_fft : int
        Points of the zero-padded periodogram (A7: 2 s of samples, 0.5 Hz bins).
    num_bins, den_bins : (int, int)
        First and last (inclusive) periodogram bin of the numerator band (sigma) and of the
        denominator band (A7: 4.5-30 Hz).

    Returns
    -------
    numpy.ndarray of float64
        ``log10(P_num / P_den)`` per window (NaN where either power is zero).
    """
    x = np.asarray(broad)
    if x.ndim != 1 or np.iscomplexobj(x):
        raise param_error("broad", "a one-dimensional real array", f"shape {x.shape}, dtype {x.dtype}")
    if step < 1 or win < 3 or n_windows < 0 or n_fft < win:
        raise param_error("step/win/n_windows/n_fft", "step >= 1, win >= 3, n_windows >= 0, n_fft >= win",
                          (step, win, n_windows, n_fft))
    for name, (k0, k1) in (("num_bins", num_bins), ("den_bins", den_bins)):
        if not 0 <= k0 <= k1 <= n_fft // 2:
            raise param_error(name, f"bins (first, last) with 0 <= first <= last <= {n_fft // 2}", (k0, k1))
    if n_windows and (first < 0 or first + (n_windows - 1) * step + win > x.size):
        raise param_error("first/n_windows", f"windows inside the {x.size} samples", (first, n_windows))
    out = np.empty(n_windows)
    _periodogram_ratio(x, int(first), int(step), _hann(int(win)),
                       _lag_weights(int(win), int(n_fft), tuple(map(int, num_bins))),
                       _lag_weights(int(win), int(n_fft), tuple(map(int, den_bins))), out)
    return out


def periodogram_ratio_ref(broad, first: int, step: int, win: int, n_windows: int, n_fft: int,
                          num_bins: tuple[int, int], den_bins: tuple[int, int]) -> np.ndarray:
    """Numpy twin of :func:`periodogram_ratio`: each window's periodogram with ``np.fft``, bins summed."""
    hann = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / (win - 1))
    out = np.full(n_windows, np.nan)
    for w in range(n_windows):
        y = np.asarray(broad[first + w * step : first + w * step + win], dtype=np.float64)
        padded = np.zeros(n_fft)
        padded[(n_fft - win) // 2 : (n_fft - win) // 2 + win] = (y - y.mean()) * hann
        power = np.abs(np.fft.rfft(padded)) ** 2
        p_num, p_den = power[num_bins[0] : num_bins[1] + 1].sum(), power[den_bins[0] : den_bins[1] + 1].sum()
        if p_num > 0 and p_den > 0:
            out[w] = np.log10(p_num / p_den)
    return out
