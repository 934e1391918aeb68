"""Welch periodogram kernels: the segments of many epochs, and their mean power; arrays in and out, no I/O.

:func:`detrended_segments` gathers the Hann-tapered, mean-removed segments of epochs straight
from the night (one pass, no copies of the night's epochs); :func:`power_mean` averages the
power of their transforms over the segments, for the bins asked only. Each public function
validates, allocates and calls a compiled loop from
:mod:`sleepspindles.analysis.kernels_welch_numba`; each has a ``*_ref`` twin in plain numpy that
the tests compare against.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import param_error
from . import kernels_welch_numba as _k

__all__ = ["hann", "detrended_segments", "detrended_segments_ref", "power_mean", "power_mean_ref"]


@lru_cache(maxsize=8)
def hann(nperseg: int) -> np.ndarray:
    """The periodic Hann taper of ``nperseg`` samples (scipy's ``get_window("hann", n)``), float32, read-only."""
    taper = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nperseg) / nperseg)).astype(np.float32)
    taper.setflags(write=False)  # shared by every call (cached)
    return taper


def _check_segments(x: np.ndarray, starts: np.ndarray, n_segments: int, step: int, nperseg: int) -> None:
    if x.ndim != 2:
        raise param_error("x", "a (n_rows, n_samples) array", f"shape {x.shape}")
    last = starts.max() + (n_segments - 1) * step + nperseg if starts.size and n_segments else 0
    if starts.size and (starts.min() < 0 or last > x.shape[1]):
        raise param_error("starts", f"epochs whose {n_segments} segments lie inside {x.shape[1]} samples",
                          f"{starts.min()}..{last}")


def detrended_segments(x, starts, n_segments: int, step: int, nperseg: int, out: np.ndarray | None = None
                       ) -> np.ndarray:
    """The Welch segments of the epochs beginning at ``starts``, each minus its mean, times :func:`hann`.

    Parameters
    ----------
    x : numpy.ndarray, shape (n_rows, n_samples)
        float32 or float64 signals.
    starts : array-like of int
        First sample of each epoch.
    n_segments, step, nperseg : int
        Segments per epoch, samples between segment starts, samples per segment.
    out : numpy.ndarray of float32, shape (n_rows, n_epochs, n_segments, nperseg), optional
        Where to write (a fresh array when None).

    Returns
    -------
    numpy.ndarray of float32, shape (n_rows, n_epochs, n_segments, nperseg)
        Samples are taken as float32, their means summed in float64: a constant segment gives
        exactly 0 (a flat epoch has no power); a non-finite sample makes its segments non-finite.
    """
    x = np.asarray(x)
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float64)
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    _check_segments(x, starts, n_segments, step, nperseg)
    shape = (x.shape[0], starts.size, n_segments, nperseg)
    if out is None:
        out = np.empty(shape, np.float32)
    elif out.shape != shape or out.dtype != np.float32:
        raise param_error("out", f"a float32 array of shape {shape}", f"{out.dtype} {out.shape}")
    _k.detrended_segments(x, starts, int(step), hann(nperseg), out)
    return out


def detrended_segments_ref(x, starts, n_segments: int, step: int, nperseg: int) -> np.ndarray:
    """Numpy twin of :func:`detrended_segments`."""
    x = np.asarray(x).astype(np.float32)
    index = np.asarray(starts, np.int64)[:, None, None] + step * np.arange(n_segments)[:, None] + np.arange(nperseg)
    segments = x[:, index]
    means = segments.mean(axis=-1, keepdims=True, dtype=np.float64).astype(np.float32)
    return (segments - means) * hann(nperseg)


def power_mean(spectrum: np.ndarray, n_bins: int) -> np.ndarray:
    """Mean over segments of ``|spectrum|^2`` for the first ``n_bins`` bins.

    Parameters
    ----------
    spectrum : numpy.ndarray of complex, shape (n_rows, n_epochs, n_segments, n_freqs)
    n_bins : int
        At most ``n_freqs``.

    Returns
    -------
    numpy.ndarray of float32, shape (n_rows, n_epochs, n_bins)
        Accumulated in float64.
    """
    if spectrum.ndim != 4 or not np.iscomplexobj(spectrum) or not 0 <= n_bins <= spectrum.shape[-1]:
        raise param_error("spectrum", f"a complex (rows, epochs, segments, >= {n_bins} bins) array",
                          f"{spectrum.dtype} {spectrum.shape}")
    out = np.empty(spectrum.shape[:2] + (n_bins,), np.float32)
    _k.power_mean(spectrum, out)
    return out


def power_mean_ref(spectrum: np.ndarray, n_bins: int) -> np.ndarray:
    """Numpy twin of :func:`power_mean`."""
    part = spectrum[..., :n_bins].astype(np.complex128)
    return (part.real**2 + part.imag**2).mean(axis=-2).astype(np.float32)
