"""Event-locked averages: raw EEG windows around spindle peaks and SO troughs, and their sigma envelope.

One pass over the signal serves every average: the windows of all shown channels and event kinds
are cut from one read (a view of the array in memory, or blocks of the shown rows when the
recording streams from its file, so a 256-channel night is never read channel by channel).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.fft import irfft, next_fast_len, rfft

from ..recording import Recording, block_spans

__all__ = ["MAX_EVENTS", "LockedAverage", "evenly_spaced", "event_windows", "locked_average", "peak_windows",
           "sigma_envelope"]

#: Events averaged per channel at most: the mean is stable well before this.
MAX_EVENTS = 300


@dataclass(frozen=True)
class LockedAverage:
    """One channel's average around its events.

    Attributes
    ----------
    time : numpy.ndarray
        Seconds from the event (peak or trough).
    mean, sem : numpy.ndarray
        Mean raw EEG (uV) and its standard error (NaN without events).
    sigma : numpy.ndarray or None
        Mean sigma-band amplitude envelope (uV) of the same windows, when asked for.
    n : int
        Events averaged (at most :data:`MAX_EVENTS`, evenly spaced through the night).
    """

    time: np.ndarray
    mean: np.ndarray
    sem: np.ndarray
    sigma: np.ndarray | None
    n: int


def evenly_spaced(times: np.ndarray, limit: int = MAX_EVENTS) -> np.ndarray:
    """At most ``limit`` of ``times``, evenly spaced through them (all of them when fewer)."""
    if len(times) <= limit:
        return times
    return times[np.linspace(0, len(times) - 1, limit).astype(int)]


def peak_windows(signal: np.ndarray, sf: float, peaks: np.ndarray, half_width: float, offset: int = 0) -> np.ndarray:
    """Segments of ``signal`` centred on each peak time, ``half_width`` seconds either side (rows).

    ``signal`` starts at sample ``offset`` of the recording. Rows running past either end of it,
    or holding a NaN, are dropped.
    """
    half = round(half_width * sf)
    centre = np.round(np.asarray(peaks, dtype=np.float64) * sf).astype(np.int64) - offset
    centre = centre[(centre - half >= 0) & (centre + half < len(signal))]
    if not len(centre):
        return np.empty((0, 2 * half + 1))
    segments = signal[centre[:, None] + np.arange(-half, half + 1)[None, :]].astype(np.float64)
    return segments[np.isfinite(segments).all(axis=1)]


def event_windows(recording: Recording, requests: Mapping[str, Sequence[tuple[np.ndarray, float]]]
                  ) -> dict[str, list[np.ndarray]]:
    """Per channel, the windows of each ``(event times, half width)`` request, in request order.

    A recording in memory is cut channel by channel (views, no copy); a streamed one is read once,
    block by block, for all requested channels together.
    """
    if recording.in_memory:
        return {ch: [peak_windows(recording.signal(ch), recording.sf, t, h) for t, h in asks]
                for ch, asks in requests.items()}
    channels = list(requests)
    rows = [recording.index(ch) for ch in channels]
    margin = max((round(h * recording.sf) + 1 for asks in requests.values() for _, h in asks), default=0)
    parts: dict[str, list[list[np.ndarray]]] = {ch: [[] for _ in requests[ch]] for ch in channels}
    for start, stop in block_spans(recording.n_samples, len(rows)):
        first = max(start - margin, 0)
        block = recording.read(rows, first, min(stop + margin, recording.n_samples))
        for ch, row in zip(channels, block):
            for k, (times, half) in enumerate(requests[ch]):
                mine = times[(times * recording.sf >= start - 0.5) & (times * recording.sf < stop - 0.5)]  # its core
                parts[ch][k].append(peak_windows(row, recording.sf, mine, half, offset=first))
    return {ch: [np.concatenate(p) if p else peak_windows(np.empty(0), recording.sf, np.empty(0), h)
                 for p, (_, h) in zip(parts[ch], requests[ch])] for ch in channels}


def sigma_envelope(windows: np.ndarray, sf: float, band: tuple[float, float]) -> np.ndarray:
    """Amplitude envelope of each row band-passed to ``band`` (zero-phase), rows in, rows out.

    One FFT per row: a raised-cosine band-pass (transition bands as MNE's default FIR, -6 dB at
    the band edges) applied to the positive frequencies only, whose inverse is the analytic
    signal. The filter's impulse response decays within ~0.5 s, so a row padded by more than that
    either side has an exact envelope away from its ends.
    """
    low, high = band
    n = next_fast_len(windows.shape[1])
    freqs = np.arange(n // 2 + 1) * sf / n
    low_trans, high_trans = min(max(0.25 * low, 2.0), low), min(max(0.25 * high, 2.0), sf / 2 - high)
    rise = np.clip((freqs - low + low_trans / 2) / low_trans, 0, 1)
    fall = np.clip((high + high_trans / 2 - freqs) / high_trans, 0, 1)
    gain = np.sin(np.pi / 2 * rise) ** 2 * np.sin(np.pi / 2 * fall) ** 2
    spectrum = rfft(windows, n, axis=-1) * gain
    # The analytic signal: twice the positive frequencies; its real part is irfft, its imaginary
    # part the same spectrum turned by -90 degrees.
    real = irfft(spectrum, n, axis=-1)
    imag = irfft(-1j * spectrum, n, axis=-1)
    return np.hypot(real, imag)[:, : windows.shape[1]]


def locked_average(windows: np.ndarray, sf: float, pad: float = 0.0, band: tuple[float, float] | None = None
                   ) -> LockedAverage:
    """Mean, SEM (and with ``band`` the mean sigma envelope) of windows, ``pad`` seconds cut off each end."""
    cut = round(pad * sf)
    shown = windows[:, cut : windows.shape[1] - cut]
    time = (np.arange(shown.shape[1]) - shown.shape[1] // 2) / sf
    if not len(windows):
        empty = np.full(shown.shape[1], np.nan)
        return LockedAverage(time, empty, empty, empty if band else None, 0)
    sem = shown.std(axis=0, ddof=1) / np.sqrt(len(shown)) if len(shown) > 1 else np.zeros(shown.shape[1])
    sigma = None
    if band is not None:
        sigma = sigma_envelope(windows, sf, band)[:, cut : windows.shape[1] - cut].mean(axis=0)
    return LockedAverage(time, shown.mean(axis=0), sem, sigma, len(shown))
