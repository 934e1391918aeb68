"""Per-spindle parameters of the streamed spindle engines: arrays in, arrays out, no I/O.

Holds :class:`EventParams` and :func:`event_params` (amplitude, RMS, frequency, oscillations,
most prominent peak and symmetry of each event) and :class:`EventQuality` and
:func:`event_quality` (sigma SNR, RMS ratio and spectral peak prominence against the event's
background), which :mod:`sleepspindles.detection.spindles.parameters` calls for both ``fast`` and
``a7``. The wrappers validate their inputs, allocate their outputs and call the compiled loops of
:mod:`sleepspindles.detection.spindles.kernels_events_numba` (the peak prominence is a batched
numpy FFT); :func:`event_params_ref` and :func:`event_quality_ref` are their twins with
``scipy.signal`` (detrend, find_peaks, periodogram) and ``np.polyfit``, which the tests compare
them against.

Conventions: sample indices are local to the arrays passed; events are given by their first and
*last* (inclusive) sample, as YASA reports them, and the sample after the last must exist (the
frequency reads one phase difference past it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ...errors import param_error
from ..core.kernels import as_events, as_strided_vector, as_vector
from . import kernels_events_numba as _k

__all__ = [
    "EventParams",
    "event_params",
    "event_params_ref",
    "EventQuality",
    "event_quality",
    "event_quality_ref",
    "band_powers",
    "snr_and_ratio",
    "peak_prominence",
    "peak_prominence_ref",
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
    if analytic.shape != broad.shape or not np.iscomplexobj(analytic):
        raise param_error("analytic", f"a complex array of {broad.size} samples", f"{analytic.dtype} {analytic.shape}")
    starts, lasts = as_events(starts, lasts, broad.size, strict=True, margin=1)
    # Envelope and phase of the events' samples only (and of the sample after each).
    n_phase = int((lasts - starts + 2).sum())
    magnitude, phase = np.empty(n_phase), np.empty(n_phase)
    _k.polar_spans(analytic, starts, lasts, magnitude, phase)
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


# --------------------------------------------------------------------------- quality against the background
#: Seconds of signal each event's spectrum is zero-padded to (0.25 Hz bins; longer events: a multiple).
_SPECTRUM_SECONDS = 4.0


@dataclass(frozen=True)
class EventQuality:
    """How far each event stands out from its channel's background (one value per event, NaN when undefined).

    sigma_snr : sigma-band power in the event over the sigma-band power of its background (dB)
    rms_ratio : broadband RMS in the event over the broadband RMS of its background
    peak_prominence : the event's spectral peak in the sigma band over the power law (1/f) fitted
        to its spectrum outside the band (dB)
    """

    sigma_snr: np.ndarray
    rms_ratio: np.ndarray
    peak_prominence: np.ndarray


def as_signals(sigma, broad, valid) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sigma-band and broadband signals (real vectors, views kept) and the valid mask, of one length."""
    sigma, broad = as_strided_vector(sigma, "sigma"), as_strided_vector(broad, "broad")
    valid = np.asarray(valid, dtype=np.bool_)
    if sigma.shape != broad.shape or valid.shape != broad.shape:
        raise param_error("sigma/broad/valid", f"arrays of {broad.size} samples", (sigma.size, valid.size))
    return sigma, broad, valid


def event_quality(sigma, broad, valid, starts, lasts, sf: float, background: int, min_background: int,
                  band: tuple[float, float], fit: tuple[float, float]) -> EventQuality:
    """Quality measures of events ``[starts[i], lasts[i]]`` (inclusive) against their background.

    Parameters
    ----------
    sigma, broad : array of float, shape (n,)
        Sigma-band and broadband filtered signals (uV); read in place when strided.
    valid : array of bool, shape (n,)
        Samples usable as background.
    starts, lasts : array of int
        First and last sample of each event.
    sf : float
        Sampling rate of the arrays (Hz).
    background : int
        Samples of the background window centred on each event (shifted to lie inside the
        arrays); the event itself and invalid samples are left out of it.
    min_background : int
        Fewest usable background samples for ``sigma_snr`` and ``rms_ratio`` (NaN below).
    band : (float, float)
        The spindle band (Hz), where the spectral peak is searched.
    fit : (float, float)
        Frequencies (Hz) of the power-law fit, outside the band widened on each side by the
        Hann window's main-lobe half-width (``2 / duration``) and not below that half-width (where
        a short window sees only its own shape).

    Returns
    -------
    EventQuality
    """
    sigma, broad, valid = as_signals(sigma, broad, valid)
    starts, lasts = as_events(starts, lasts, broad.size, strict=True)
    if background < 2 or not 0 < band[0] < band[1] or not 0 < fit[0] < fit[1]:
        raise param_error("background/band/fit", "background >= 2 samples and (low, high) bands",
                          (background, band, fit))
    table = np.empty((starts.size, 5))
    _k.band_powers(sigma, broad, valid, starts, lasts, background // 2, table)
    snr, ratio = snr_and_ratio(table, min_background)
    prominence = peak_prominence(broad, starts, lasts, sf, band, fit)
    return EventQuality(sigma_snr=snr, rms_ratio=ratio, peak_prominence=prominence)


def band_powers(sigma, broad, valid, starts, lasts, half: int) -> np.ndarray:
    """Band-power table of events ``[starts[i], lasts[i]]`` against the ``2 * half`` samples around them.

    Columns: mean squares of ``sigma`` and ``broad`` over the event, over its background (the
    window centred on the event, shifted to lie inside the arrays, without the event and the
    samples not ``valid``), and the number of background samples. See :func:`event_quality`.
    """
    sigma, broad, valid = as_signals(sigma, broad, valid)
    starts, lasts = as_events(starts, lasts, broad.size)
    table = np.empty((starts.size, 5))
    _k.band_powers(sigma, broad, valid, starts, lasts, int(half), table)
    return table


def snr_and_ratio(table: np.ndarray, min_background: int) -> tuple[np.ndarray, np.ndarray]:
    """``sigma_snr`` (dB) and ``rms_ratio`` from a band-power table (rows: events).

    Columns: mean squares of sigma and broad over the event, over the background, and the
    number of background samples (NaN where it is below ``min_background``).
    """
    enough = table[:, 4] >= min_background
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(enough, 10 * np.log10(table[:, 0] / table[:, 2]), np.nan)
        ratio = np.where(enough, np.sqrt(table[:, 1] / table[:, 3]), np.nan)
    return snr, ratio


#: Events per batched FFT of :func:`peak_prominence` (bounds its scratch memory).
_PROMINENCE_BATCH = 256


def peak_prominence(broad, starts, lasts, sf: float, band: tuple[float, float], fit: tuple[float, float]) -> np.ndarray:
    """Each event's spectral peak in ``band`` over the power law fitted outside it (dB), see :func:`event_quality`.

    The Hann-windowed rows (compiled loop), a batched ``np.fft.rfft`` per padded length and the
    fit (compiled loop); :func:`peak_prominence_ref` is the numpy twin.
    """
    broad = as_strided_vector(broad, "broad")
    starts, lasts = as_vector(starts, "starts", np.int64), as_vector(lasts, "lasts", np.int64)
    prominence = np.full(starts.size, np.nan)
    lengths = lasts - starts + 1
    unit = round(_SPECTRUM_SECONDS * sf)
    n_ffts = unit * -(-lengths // unit)
    if not starts.size:
        return prominence
    windows = _hann_table(int(lengths.max()))
    for n_fft in np.unique(n_ffts):  # one batch per padded length (one batch unless an event is > 4 s)
        freqs = np.fft.rfftfreq(int(n_fft), 1 / sf)
        n_used = int(np.searchsorted(freqs, max(band[1], fit[1]), side="right"))  # bins past both bands: unused
        freqs = freqs[:n_used]
        log_freqs = np.log10(np.where(freqs > 0, freqs, 1.0))
        sel_all = np.flatnonzero(n_ffts == n_fft)
        batch = min(_PROMINENCE_BATCH, sel_all.size)
        # Scratch reused by every batch: fresh multi-megabyte arrays would cost more in page faults.
        rows = np.empty((batch, int(n_fft)))
        spectrum = np.empty((batch, int(n_fft) // 2 + 1), np.complex128)
        log_power = np.empty((batch, n_used))
        for b in range(0, sel_all.size, batch):
            sel = sel_all[b : b + batch]
            m = sel.size
            _k.hann_rows(broad, starts[sel], lengths[sel], windows, rows[:m])
            np.fft.rfft(rows[:m], axis=1, out=spectrum[:m])
            _k.power_rows(spectrum[:m], log_power[:m])
            with np.errstate(divide="ignore"):
                np.log10(log_power[:m], out=log_power[:m])
            out = np.empty(m)
            _k.peak_over_power_law(log_power[:m], freqs, log_freqs, lengths[sel] / sf, float(band[0]), float(band[1]),
                                   float(fit[0]), float(fit[1]), out)
            prominence[sel] = out
    return prominence


@lru_cache(maxsize=4)
def _hann_table(longest: int) -> np.ndarray:
    """Row ``m``: the symmetric Hann window of ``m`` points (zeros beyond), for ``m`` up to ``longest``."""
    m = np.arange(longest + 1)[:, None]
    j = np.arange(longest + 1)[None, :]
    table = np.where(j < m, 0.5 - 0.5 * np.cos(2 * np.pi * j / np.maximum(m - 1, 1)), 0.0)
    table.setflags(write=False)
    return table


def peak_prominence_ref(broad, starts, lasts, sf: float, band: tuple[float, float],
                        fit: tuple[float, float]) -> np.ndarray:
    """Numpy twin of :func:`peak_prominence` (vectorised rows, masks and least-squares sums)."""
    starts, lasts = np.asarray(starts, np.int64), np.asarray(lasts, np.int64)
    prominence = np.full(starts.size, np.nan)
    lengths = lasts - starts + 1
    unit = round(_SPECTRUM_SECONDS * sf)
    n_ffts = unit * -(-lengths // unit)
    for n_fft in np.unique(n_ffts):
        sel = np.flatnonzero(n_ffts == n_fft)
        power = np.abs(np.fft.rfft(_windowed(broad, starts[sel], lengths[sel], n_fft), axis=1)) ** 2
        prominence[sel] = _peak_over_power_law(power, np.fft.rfftfreq(n_fft, 1 / sf), lengths[sel] / sf, band, fit)
    return prominence


def _windowed(x: np.ndarray, starts: np.ndarray, lengths: np.ndarray, n_fft: int) -> np.ndarray:
    """Rows of ``n_fft`` samples: each event's samples, mean removed, times its Hann window, then zeros."""
    j = np.arange(min(n_fft, int(lengths.max())))
    inside = j < lengths[:, None]
    seg = np.where(inside, np.asarray(x)[np.minimum(starts[:, None] + j, x.size - 1)].astype(np.float64), 0.0)
    seg -= np.where(inside, (seg.sum(axis=1) / lengths)[:, None], 0.0)
    seg *= np.where(inside, 0.5 - 0.5 * np.cos(2 * np.pi * j / np.maximum(lengths[:, None] - 1, 1)), 0.0)
    out = np.zeros((starts.size, n_fft))
    out[:, : j.size] = seg
    return out


def _fit_mask(freqs: np.ndarray, duration: np.ndarray, band: tuple[float, float], fit: tuple[float, float]):
    """Per event (rows), the bins of the power-law fit: inside ``fit``, outside the widened band."""
    lobe = 2.0 / np.asarray(duration)[:, None]  # Hann main-lobe half-width: where the peak leaks
    inside = (freqs >= np.maximum(fit[0], lobe)) & (freqs <= fit[1])
    return inside & ((freqs < band[0] - lobe) | (freqs > band[1] + lobe))


def _peak_over_power_law(power: np.ndarray, freqs: np.ndarray, duration: np.ndarray, band: tuple[float, float],
                         fit: tuple[float, float]) -> np.ndarray:
    """10 log10 of each row's highest in-band bin over the line fitted to log10 power against log10 frequency."""
    w = _fit_mask(freqs, duration, band, fit).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        lf = np.log10(np.where(freqs > 0, freqs, 1.0))
        lp = np.log10(power)
        lp_fit = np.where(w > 0, lp, 0.0)
        n, sx, sy = w.sum(1), w @ lf, lp_fit.sum(1)
        sxx, sxy = w @ lf**2, (lp_fit * lf).sum(1)
        slope = (n * sxy - sx * sy) / (n * sxx - sx**2)
        intercept = (sy - slope * sx) / n
        inside = np.flatnonzero((freqs >= band[0]) & (freqs <= band[1]))
        if inside.size == 0:  # a band narrower than the bins
            return np.full(power.shape[0], np.nan)
        k = inside[np.argmax(lp[:, inside], axis=1)]
        rows = np.arange(power.shape[0])
        out = 10 * (lp[rows, k] - (intercept + slope * lf[k]))
    return np.where((n >= 3) & np.isfinite(out), out, np.nan)


def event_quality_ref(sigma, broad, valid, starts, lasts, sf: float, background: int, min_background: int,
                      band: tuple[float, float], fit: tuple[float, float]) -> EventQuality:
    """Twin of :func:`event_quality`: one event at a time, ``scipy.signal.periodogram`` and ``np.polyfit``."""
    from scipy import signal

    sigma, broad, valid = np.asarray(sigma, np.float64), np.asarray(broad, np.float64), np.asarray(valid, bool)
    half, n = background // 2, broad.size
    out = np.full((len(starts), 3), np.nan)
    for i, (s, e) in enumerate(zip(starts, lasts)):
        a = min(max((s + e + 1) // 2 - half, 0), max(n - 2 * half, 0))
        keep = np.zeros(n, bool)
        keep[a : a + 2 * half] = True
        keep[s : e + 1] = False
        keep &= valid
        if keep.sum() >= min_background:
            out[i, 0] = 10 * np.log10(np.mean(sigma[s : e + 1] ** 2) / np.mean(sigma[keep] ** 2))
            out[i, 1] = np.sqrt(np.mean(broad[s : e + 1] ** 2) / np.mean(broad[keep] ** 2))
        m = e + 1 - s
        n_fft = round(_SPECTRUM_SECONDS * sf) * -(-m // round(_SPECTRUM_SECONDS * sf))
        freqs, power = signal.periodogram(broad[s : e + 1], sf, window=np.hanning(m), nfft=n_fft, detrend="constant",
                                          scaling="spectrum", return_onesided=True)
        on = _fit_mask(freqs, np.array([m / sf]), band, fit)[0]
        if on.sum() >= 3:
            slope, intercept = np.polyfit(np.log10(freqs[on]), np.log10(power[on]), 1)
            inside = np.flatnonzero((freqs >= band[0]) & (freqs <= band[1]))
            if inside.size:
                k = inside[np.argmax(power[inside])]
                out[i, 2] = 10 * (np.log10(power[k]) - (intercept + slope * np.log10(freqs[k])))
    return EventQuality(*out.T)
