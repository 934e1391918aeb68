"""Private compiled loops of :mod:`sleepspindles.analysis.kernels_welch`: loops only, no validation, no allocation."""

from __future__ import annotations

import numpy as np

from ..detection.core._numba import jit

# Sums may be reordered (vectorised): NaN and infinities still propagate (no "nnan"/"ninf").
_REORDER = {"reassoc", "nsz", "contract"}


@jit(fastmath=_REORDER)
def detrended_segments(x, starts, step, taper, out):  # pragma: no cover - compiled
    """``out[c, e, s] = (segment - its mean) * taper`` for the segment at ``starts[e] + s * step`` of row ``c``.

    Samples are taken as ``out``'s float32 first, their mean summed in float64 and rounded back:
    the sum of a few thousand equal float32 values is exact, so a constant segment (of float32 or
    float64 samples) gives exactly 0, which is how a flat epoch is recognised.
    """
    nperseg = taper.shape[0]
    for c in range(out.shape[0]):
        row = x[c]
        for e in range(out.shape[1]):
            for s in range(out.shape[2]):
                segment = row[starts[e] + s * step : starts[e] + s * step + nperseg]
                total = 0.0
                for t in range(nperseg):
                    total += np.float64(np.float32(segment[t]))
                mean = np.float32(total / nperseg)
                dest = out[c, e, s]
                for t in range(nperseg):
                    dest[t] = (np.float32(segment[t]) - mean) * taper[t]


@jit(fastmath=_REORDER)
def power_mean(spectrum, out):  # pragma: no cover - compiled
    """``out[c, e, k]`` = mean over segments ``s`` of ``|spectrum[c, e, s, k]|^2`` for the first ``out.shape[2]`` bins."""
    n_seg = spectrum.shape[2]
    for c in range(out.shape[0]):
        for e in range(out.shape[1]):
            for k in range(out.shape[2]):
                total = 0.0
                for s in range(n_seg):
                    v = spectrum[c, e, s, k]
                    total += v.real * v.real + v.imag * v.imag
                out[c, e, k] = total / n_seg
