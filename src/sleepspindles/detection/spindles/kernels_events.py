"""Per-spindle parameters of the streamed spindle engines: arrays in, arrays out, no I/O.

Holds :class:`EventParams` and :func:`event_params` (amplitude, RMS, frequency, oscillations,
most prominent peak and symmetry of each event), which
:mod:`sleepspindles.detection.spindles.parameters` calls for both ``fast`` and ``a7``. The
wrapper validates its inputs, allocates its outputs and calls the compiled loops of
:mod:`sleepspindles.detection.spindles.kernels_events_numba`; :func:`event_params_ref` is its twin
with ``scipy.signal`` (detrend, find_peaks) and YASA's formulas, which the tests compare it against.

Conventions: sample indices are local to the arrays passed; events are given by their first and
*last* (inclusive) sample, as YASA reports them, and the sample after the last must exist (the
frequency reads one phase difference past it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import param_error
from ..core.kernels import as_strided_vector, as_vector
from . import kernels_events_numba as _k

__all__ = [
    "EventParams",
    "event_params",
    "event_params_ref",
]


@dataclass(frozen=True)
class EventParams:
    """Per-event parameters (one value per event, all numpy arrays).

    amplitude : peak-to-peak of the linearly detrended broadband signal (vertex-interpolated)
    rms : root mean square of the same
    frequency : median positive instantaneous frequency of the sigma analytic signal (Hz)
    oscillations : number of peaks at least ``distance`` samples apart
    peak : sample offset from the start of the most prominent peak (YASA's definition)
    symmetry : ``peak / n_samples``
    envelope_peak : sample offset from the start of the maximum of the sigma amplitude envelope
        (the spindle's own maximum, where its SO phase is read)
    """

    amplitude: np.ndarray
    rms: np.ndarray
    frequency: np.ndarray
    oscillations: np.ndarray
    peak: np.ndarray
    symmetry: np.ndarray
    envelope_peak: np.ndarray


def _params_from_table(table: np.ndarray) -> EventParams:
    return EventParams(
        amplitude=table[:, 0],
        rms=table[:, 1],
        frequency=table[:, 2],
        oscillations=table[:, 3].astype(np.int64),
        peak=table[:, 4].astype(np.int64),
        symmetry=table[:, 5],
        envelope_peak=table[:, 6].astype(np.int64),
    )


def event_params(broad, analytic, starts, lasts, sf: float, distance: int) -> EventParams:
    """Parameters of events ``[starts[i], lasts[i]]`` (inclusive, ``lasts + 1`` must exist).

    Parameters
    ----------
    broad : array of float, shape (n,)
        Broadband-filtered signal (uV).
    analytic : array of complex, shape (n,)
        Analytic sigma-band signal (real part = sigma-filtered signal).
    starts, lasts : array of int
        First and last sample of each event.
    sf : float
        Sampling rate of the arrays (Hz).
    distance : int
        Minimum samples between counted peaks (YASA: 60 ms).
    """
    broad = as_strided_vector(broad, "broad")
    analytic = np.asarray(analytic)
    starts = as_vector(starts, "starts", np.int64)
    lasts = as_vector(lasts, "lasts", np.int64)
    if analytic.shape != broad.shape or not np.iscomplexobj(analytic):
        raise param_error("analytic", f"a complex array of {broad.size} samples", f"{analytic.dtype} {analytic.shape}")
    if starts.size and (starts.min() < 0 or lasts.max() + 1 >= broad.size or np.any(lasts <= starts)):
        raise param_error("starts/lasts", f"events with start < last and last + 1 < {broad.size}", "out of range")
    # Phases of the events' samples only, by numpy's vectorised arctan2.
    n_phase = int((lasts - starts + 2).sum())
    re, im = np.empty(n_phase), np.empty(n_phase)
    _k.gather_spans(analytic, starts, lasts, re, im)
    magnitude = np.hypot(re, im)
    phase = np.arctan2(im, re, out=re)
    table = np.empty((starts.size, 7))
    _k.event_params(broad, phase, magnitude, starts, lasts, float(sf), int(max(distance, 1)), table)
    return _params_from_table(table)


def _vertex(d: np.ndarray, i: int) -> float:
    if i <= 0 or i >= d.size - 1 or d[i - 1] - 2 * d[i] + d[i + 1] == 0:
        return float(d[i])
    y0, y1, y2 = d[i - 1 : i + 2]
    p = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
    return float(y1 - 0.25 * (y0 - y2) * p)


def event_params_ref(broad, analytic, starts, lasts, sf: float, distance: int) -> EventParams:
    """Twin of :func:`event_params` with ``scipy.signal`` (detrend, find_peaks), YASA's formulas."""
    from scipy import signal

    rows = []
    for s, e in zip(starts, lasts):
        d = signal.detrend(np.asarray(broad[s : e + 1], dtype=np.float64), type="linear")
        z = np.asarray(analytic[s : e + 2])
        inst = sf / (2 * np.pi) * np.diff(np.angle(z))
        peaks, props = signal.find_peaks(d, distance=max(distance, 1), prominence=(None, None))
        pk = int(peaks[props["prominences"].argmax()]) if peaks.size else int(d.argmax())
        amp = _vertex(d, int(d.argmax())) - _vertex(d, int(d.argmin()))
        freq = float(np.median(inst[inst > 0])) if np.any(inst > 0) else np.nan
        rows.append([amp, np.sqrt(np.mean(d**2)), freq, peaks.size, pk, pk / d.size, np.argmax(np.abs(z[: d.size]))])
    return _params_from_table(np.asarray(rows, dtype=np.float64).reshape(-1, 7))
