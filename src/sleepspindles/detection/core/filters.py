"""Filter design for the streaming core in plain numpy: MNE's band-pass FIR, Butterworth gains.

The designs are MNE's and scipy's, reproduced coefficient for coefficient (the tests compare
with ``mne.filter.create_filter`` and ``scipy.signal.butter``/``sosfreqz`` to 1e-12): designing
costs microseconds, but importing ``scipy.signal`` (which MNE's filter design needs) costs 1-2 s
of a command's start, more than detecting spindles in a whole night.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["band_pass_fir", "butterworth_gain"]

#: MNE's filter length per transition bandwidth for a Hamming window (``mne.filter._length_factors``).
_HAMMING_LENGTH_FACTOR = 3.3


def _firwin_low_pass(numtaps: int, cutoff: float) -> np.ndarray:
    """``scipy.signal.firwin(numtaps, cutoff, window="hamming", fs=2)``: windowed sinc, unit gain at DC."""
    m = np.arange(numtaps, dtype=np.float64) - 0.5 * (numtaps - 1)
    h = cutoff * np.sinc(cutoff * m)
    h *= 0.54 + 0.46 * np.cos(np.linspace(-np.pi, np.pi, numtaps))  # symmetric Hamming window
    return h / np.sum(h)


def band_pass_fir(rate: float, lo: float, hi: float, l_trans: float, h_trans: float) -> np.ndarray:
    """MNE's zero-phase band-pass FIR: ``create_filter(None, rate, lo, hi, l_trans_bandwidth=l_trans,
    h_trans_bandwidth=h_trans, method="fir", fir_design="firwin")`` (Hamming window, automatic length).

    The taps are a difference of windowed-sinc low-passes, one per transition band, each as long
    as its own transition needs and centred in the filter's full length.
    """
    nyquist = rate / 2.0
    stop_lo, stop_hi = lo - l_trans, hi + h_trans
    if not (0 <= stop_lo < lo < hi < stop_hi <= nyquist):
        raise ValueError(f"band {lo}-{hi} Hz with transitions {l_trans}, {h_trans} Hz does not fit 0-{nyquist} Hz")
    # MNE writes the length as a time string ("{3.3 / trans}s") and rounds it up to odd samples.
    seconds = float(f"{_HAMMING_LENGTH_FACTOR / min(l_trans, h_trans)}")
    n_taps = max(math.ceil(seconds * rate), 1)
    n_taps += (n_taps - 1) % 2
    freq = [stop_lo, lo, hi, stop_hi] + ([nyquist] if stop_hi != nyquist else [])
    gain = [0, 1, 1, 0] + ([0] if stop_hi != nyquist else [])
    if stop_lo != 0:
        freq, gain = [0.0, *freq], [0, *gain]
    norm = np.asarray(freq, dtype=np.float64) / nyquist
    h = np.zeros(n_taps)
    prev_freq, prev_gain = norm[-1], gain[-1]
    for this_freq, this_gain in zip(norm[::-1][1:], gain[::-1][1:]):
        if this_gain != prev_gain:
            this_n = int(round(_HAMMING_LENGTH_FACTOR / ((prev_freq - this_freq) / 2.0)))
            this_n += 1 - this_n % 2
            if this_n > n_taps:
                raise ValueError(f"filter length {n_taps} too short for a transition needing {this_n} taps")
            offset = (n_taps - this_n) // 2
            part = _firwin_low_pass(this_n, (prev_freq + this_freq) / 2.0)
            h[offset : n_taps - offset] += part if this_gain else -part
        prev_freq, prev_gain = this_freq, this_gain
    return h


def butterworth_gain(freqs: np.ndarray, edge: float, order: int, kind: str, rate: float) -> np.ndarray:
    """Magnitude response at ``freqs`` (Hz) of ``scipy.signal.butter(order, edge, kind, fs=rate)``.

    The digital Butterworth of the bilinear transform (pre-warped at ``edge``) has
    ``|H|^2 = 1 / (1 + (tan(pi f / rate) / tan(pi edge / rate)) ** (2 order))`` as a low-pass,
    the ratio inverted as a high-pass.
    """
    if kind not in ("lowpass", "highpass"):
        raise ValueError(f"kind must be 'lowpass' or 'highpass'; got {kind!r}")
    ratio = np.tan(np.pi * np.asarray(freqs, dtype=np.float64) / rate) / math.tan(math.pi * edge / rate)
    with np.errstate(divide="ignore", over="ignore"):  # inf power: gain 0 (a stop band's far end)
        power = ratio ** (2 * order) if kind == "lowpass" else ratio ** (-2 * order)
    return 1.0 / np.sqrt(1.0 + power)
