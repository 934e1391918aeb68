"""Band power per channel over chosen sleep stages (sigma power for the laterality measures).

The power of a band is computed on the complete hypnogram epochs of the chosen stages: a
Welch periodogram (Hann segments of ``window`` seconds, 50 % overlap, constant detrend,
one-sided density in uV^2/Hz) per epoch and channel, averaged over epochs, then integrated
over the band with the trapezoid rule -> uV^2. Relative power is the band's power divided by
the power of a broad reference band (1-30 Hz by default).

Arrays in, arrays or tables out, no I/O. :func:`band_power_reference` is the plain numpy twin
of :func:`welch_band_power` that the tests compare against.
"""

from __future__ import annotations

import logging
import math
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import Config
from ..errors import param_error
from ..hypnogram import Hypnogram, parse_stages
from ..recording import Recording, is_source
from ..schema import SIGMA
from .kernels_welch import detrended_segments, hann, power_mean

__all__ = [
    "stage_epoch_starts",
    "select_epochs",
    "epoch_starts",
    "reference_band",
    "resolves",
    "epoch_band_powers",
    "mean_usable",
    "welch_density",
    "welch_band_power",
    "band_power_reference",
    "sigma_power",
    "sigma_bands",
    "sigma_power_bands",
    "sigma_table",
]


logger = logging.getLogger(__name__)

# Samples (all channels) per Welch call: its segments and their FFT stay a couple of MB whatever
# the number of channels (5 epochs of 6 channels at 256 Hz; 1 of 64), in cache and reused from
# chunk to chunk (see _buffer); chunks of tens of MB cost three times the arithmetic in page faults.
_CHUNK_VALUES = 1 << 18


def stage_epoch_starts(hypnogram: Hypnogram, sf: float, n_samples: int, stages) -> np.ndarray:
    """First sample (int64) of every complete epoch scored in ``stages`` (e.g. ``("N2",)``) and inside the signal.

    :func:`epoch_starts` of :func:`select_epochs` over the whole night (same parameters).
    """
    return epoch_starts(hypnogram, sf, select_epochs(hypnogram, sf, n_samples, stages))


def select_epochs(
    hypnogram: Hypnogram, sf: float, n_samples: int, stages, first: int = 0, stop: int | None = None
) -> np.ndarray:
    """Indices of the complete epochs inside the signal scored in ``stages``, within ``[first, stop)``.

    Parameters
    ----------
    hypnogram : Hypnogram
    sf : float
        Sampling rate in Hz.
    n_samples : int
        Signal length in samples.
    stages : sequence of str or Stage
        Stages to keep, e.g. ``("N2", "N3")``.
    first, stop : int, optional
        Epoch range (``stop`` exclusive; ``None``: to the last epoch), e.g. a sleep cycle's.

    Returns
    -------
    numpy.ndarray of int64
        In increasing order; :func:`epoch_starts` gives their first samples.
    """
    wanted = [int(s) for s in parse_stages(stages)]
    keep = np.flatnonzero(np.isin(hypnogram.stages, wanted))
    keep = keep[(keep >= first) & (keep < (hypnogram.n_epochs if stop is None else stop))]
    starts = epoch_starts(hypnogram, sf, keep)
    length = int(round(hypnogram.epoch_length * sf))
    return keep[(starts >= 0) & (starts + length <= n_samples)]


def epoch_starts(hypnogram: Hypnogram, sf: float, epochs: np.ndarray) -> np.ndarray:
    """First sample (int64) of each epoch index in ``epochs`` (the hypnogram's offset included)."""
    return np.round((hypnogram.offset + np.asarray(epochs) * hypnogram.epoch_length) * sf).astype(np.int64)


def reference_band(total_band: tuple[float, float], sf: float) -> tuple[float, float]:
    """The band relative power is divided by: ``total_band`` cut to 0.45 ``sf``.

    The reference band stops below Nyquist on low-rate recordings (e.g. 1-22.5 Hz at 50 Hz),
    as the detectors' broadband filters do; relative power is then over that narrower band.

    Raises
    ------
    ConfigError
        When nothing of the band is left below that limit.
    """
    lo, hi = total_band
    total = (lo, min(hi, 0.45 * sf))
    _check_bands({"total_band": total}, sf)
    return total


def resolves(recording: Recording, high: float, key: str, measure: str) -> bool:
    """Whether ``recording``'s sampling rate resolves a band up to ``high`` Hz (config ``key``).

    When it does not, a warning says that ``measure`` is not computed: the detections stay valid
    without it.
    """
    if recording.sf / 2 > high:
        return True
    logger.warning("%s: sampling rate %g Hz does not resolve %s (up to %g Hz); no %s",
                   recording.source, recording.sf, key, high, measure)
    return False


def _check_bands(bands: Mapping[str, tuple[float, float]], sf: float) -> None:
    for name, (lo, hi) in bands.items():
        if not 0 <= lo < hi <= sf / 2:
            raise param_error(
                f"{name} band", f"(low, high) Hz with 0 <= low < high <= Nyquist ({sf / 2:g} Hz)", (lo, hi)
            )


def epoch_band_powers(
    data: np.ndarray,
    sf: float,
    starts: np.ndarray,
    epoch_samples: int,
    bands: Sequence[tuple[float, float]],
    window: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Absolute band power (uV^2) of every epoch beginning at ``starts``, and which are usable.

    One Welch periodogram per epoch (Hann segments of ``window`` seconds, 50 % overlap, mean
    removed), integrated over each band with the trapezoid rule. Averaging these per-epoch
    powers equals integrating the mean spectrum, so windows of the night that share epochs
    (a stage, a sleep cycle, the first hour) reuse one pass over the signal.

    Returns
    -------
    powers : numpy.ndarray, shape (n_bands, n_channels, n_epochs)
    usable : numpy.ndarray of bool, shape (n_channels, n_epochs)
        False for an epoch with a non-finite sample, or constant (a disconnected electrode).
    """
    n_ch = data.shape[0]  # an array or a signal source: epochs are read chunk by chunk
    nperseg = min(int(round(window * sf)), int(epoch_samples))
    freqs = np.fft.rfftfreq(nperseg, 1.0 / sf)
    freqs = freqs[: np.searchsorted(freqs, max(hi for _, hi in bands), side="right")]  # the bins any band reads
    weights = _trapezoid_weights(freqs, bands)
    powers = np.zeros((len(bands), n_ch, len(starts)))
    usable = np.zeros((n_ch, len(starts)), dtype=bool)
    per_chunk = max(1, _CHUNK_VALUES // max(n_ch * int(epoch_samples), 1))
    pool: dict[str, np.ndarray] = {}  # every chunk's segments, in the same memory
    for first in range(0, len(starts), per_chunk):
        chunk_starts = np.asarray(starts[first : first + per_chunk])
        psd = _density(_segments(data, chunk_starts, int(epoch_samples), nperseg, pool), sf, freqs.size)
        chunk = slice(first, first + chunk_starts.size)
        # A non-finite sample spoils an epoch's spectrum; a constant epoch has none once the mean is removed.
        usable[:, chunk] = np.isfinite(psd).all(axis=-1) & (psd.sum(axis=-1) > 0)
        powers[:, :, chunk] = np.moveaxis(psd @ weights, -1, 0)
    return powers, usable


def _trapezoid_weights(freqs: np.ndarray, bands: Sequence[tuple[float, float]]) -> np.ndarray:
    """``(n_freqs, n_bands)`` weights: ``psd @ weights`` is the trapezoid rule over each band's bins
    (``lo <= f <= hi``; 0 for a band holding fewer than two bins, as :func:`numpy.trapezoid`)."""
    weights = np.zeros((freqs.size, len(bands)))
    for b, (lo, hi) in enumerate(bands):
        keep = np.flatnonzero((freqs >= lo) & (freqs <= hi))
        half = np.diff(freqs[keep]) / 2
        weights[keep[:-1], b] += half
        weights[keep[1:], b] += half
    return weights


def _step(nperseg: int) -> int:
    """Hop between Welch segments: scipy's default overlap is ``nperseg // 2``."""
    return nperseg - nperseg // 2


def _buffer(pool: dict[str, np.ndarray] | None, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised array of ``shape``: the front of ``pool[name]`` (grown when too small), or new without a pool.

    Multi-megabyte temporaries freed and allocated again come back as fresh pages, whose faults
    cost as much as the arithmetic on them (as :class:`~sleepspindles.detection.core.streaming.Work`
    says); the chunks of one call reuse one set.
    """
    size = math.prod(shape)
    if pool is None:
        return np.empty(shape, dtype)
    if name not in pool or pool[name].size < size:
        pool[name] = np.empty(size, dtype)
    return pool[name][:size].reshape(shape)


def _segments(data, starts: np.ndarray, epoch_samples: int, nperseg: int,
              pool: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """The tapered, mean-removed Welch segments of the epochs beginning at ``starts``, float32
    (n_ch, n_epochs, n_segments, nperseg) (:func:`.kernels_welch.detrended_segments`).

    Gathered straight from the night into one array (from ``pool``). A signal source is read
    once per run of adjacent epochs, so only these epochs are read.
    """
    step = _step(nperseg)
    n_segments = (epoch_samples - nperseg) // step + 1
    out = _buffer(pool, "segments", (data.shape[0], starts.size, n_segments, nperseg), np.float32)
    if not is_source(data):
        return detrended_segments(data, starts, n_segments, step, nperseg, out)
    breaks = np.flatnonzero(np.diff(starts) != epoch_samples) + 1
    for run in np.split(np.arange(starts.size), breaks):
        if run.size:
            first = int(starts[run[0]])
            span = data.read(range(data.shape[0]), first, int(starts[run[-1]]) + epoch_samples)
            detrended_segments(span, starts[run] - first, n_segments, step, nperseg, out[:, run[0] : run[-1] + 1])
    return out


def welch_density(x: np.ndarray, sf: float, nperseg: int) -> np.ndarray:
    """Welch's one-sided power density (uV^2/Hz) along the last axis, in float32.

    ``scipy.signal.welch(x, sf, window="hann", nperseg=nperseg)`` (periodic Hann, 50 % overlap,
    segment means removed), to float32 precision (relative ~1e-6, far below what band power is
    reported to), computed as one batched FFT over every leading axis: about four times faster
    than scipy's general implementation on the hundreds of epochs of a night.
    """
    x = np.asarray(x)
    rows = x.reshape(-1, x.shape[-1])
    step = _step(nperseg)
    segments = detrended_segments(rows, [0], (x.shape[-1] - nperseg) // step + 1, step, nperseg)
    return _density(segments, sf, nperseg // 2 + 1).reshape(*x.shape[:-1], -1)


def _density(segments: np.ndarray, sf: float, n_bins: int) -> np.ndarray:
    """Welch density of the first ``n_bins`` frequencies from :func:`_segments`' segments (overwritten),
    (n_rows, n_epochs, n_bins): the bands' bins only, as the power of the others would be computed for nothing."""
    import scipy.fft

    nperseg = segments.shape[-1]
    spectrum = scipy.fft.rfft(segments, axis=-1, workers=1, overwrite_x=True)
    # mean over segments of |X|^2, then / (sf sum(taper^2)) on the (n_segments times) smaller mean
    density = power_mean(spectrum, n_bins)
    density /= np.float32(sf * np.sum(hann(nperseg).astype(np.float64) ** 2))
    density[..., 1 : (None if nperseg % 2 else nperseg // 2)] *= 2.0  # one-sided: all but DC (and Nyquist)
    return density


def mean_usable(powers: np.ndarray, usable: np.ndarray, epochs: np.ndarray | slice = slice(None)
                ) -> tuple[np.ndarray, np.ndarray]:
    """Mean of :func:`epoch_band_powers` over the usable ones of ``epochs``: (n_bands, n_ch), counts."""
    ok = usable[:, epochs]
    count = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(ok, powers[:, :, epochs], 0.0).sum(axis=-1) / count
    return mean, count.astype(np.int64)


def welch_band_power(
    data: np.ndarray,
    sf: float,
    starts: np.ndarray,
    epoch_samples: int,
    bands: Sequence[tuple[float, float]],
    window: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean absolute band power (uV^2) over the usable epochs beginning at ``starts``.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_channels, n_samples)
        Signals in microvolts.
    sf : float
        Sampling rate in Hz.
    starts : numpy.ndarray of int
        First sample of each epoch (see :func:`stage_epoch_starts`).
    epoch_samples : int
        Epoch length in samples.
    bands : sequence of (low, high)
        Bands in Hz (bins with ``low <= f <= high`` are integrated).
    window : float
        Welch segment length in seconds (shortened to the epoch when longer).

    Returns
    -------
    power : numpy.ndarray, shape (n_bands, n_channels)
        NaN for a channel without any usable epoch (or when there is no epoch). Epochs with a
        non-finite sample, or constant (a disconnected electrode), are skipped for that channel:
        averaging their zero power in would lower the channel's power silently.
    used : numpy.ndarray of int, shape (n_channels,)
        Epochs averaged per channel.
    """
    return mean_usable(*epoch_band_powers(data, sf, starts, epoch_samples, bands, window))


def band_power_reference(
    data: np.ndarray,
    sf: float,
    starts: np.ndarray,
    epoch_samples: int,
    bands: Sequence[tuple[float, float]],
    window: float = 4.0,
) -> np.ndarray:
    """Plain numpy twin of :func:`welch_band_power` (loops, explicit FFT), for the tests (power only)."""
    data = np.asarray(data, dtype=np.float64)
    nperseg = min(int(round(window * sf)), int(epoch_samples))
    step = nperseg - nperseg // 2
    taper = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(nperseg) / nperseg)  # periodic Hann
    scale = 1.0 / (sf * np.sum(taper**2))
    freqs = np.arange(nperseg // 2 + 1) * sf / nperseg
    out = np.full((len(bands), data.shape[0]), np.nan)
    for ch, signal in enumerate(data):
        spectra = []
        for start in starts:
            epoch = signal[start : start + epoch_samples]
            if not np.all(np.isfinite(epoch)) or np.ptp(epoch) == 0:
                continue
            segments = []
            for s in range(0, epoch_samples - nperseg + 1, step):
                seg = epoch[s : s + nperseg]
                spec = np.abs(np.fft.rfft((seg - seg.mean()) * taper)) ** 2 * scale
                spec[1 : -1 if nperseg % 2 == 0 else None] *= 2.0
                segments.append(spec)
            spectra.append(np.mean(segments, axis=0))
        if not spectra:
            continue
        psd = np.mean(spectra, axis=0)
        for b, (lo, hi) in enumerate(bands):
            sel = (freqs >= lo) & (freqs <= hi)
            f, p = freqs[sel], psd[sel]
            out[b, ch] = float(np.sum((p[1:] + p[:-1]) * np.diff(f)) / 2.0)
    return out


def sigma_power(
    data: np.ndarray,
    sf: float,
    channels: Sequence[str],
    hypnogram: Hypnogram,
    *,
    bands: Mapping[str, tuple[float, float]],
    total_band: tuple[float, float] = (1.0, 30.0),
    stages: Sequence[str] = ("N2",),
    window: float = 4.0,
) -> pd.DataFrame:
    """Absolute and relative power of named bands per channel over the epochs of ``stages``.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_channels, n_samples)
        Signals in microvolts.
    sf : float
        Sampling rate in Hz.
    channels : sequence of str
        One name per row of ``data``.
    hypnogram : Hypnogram
        Stages aligned to ``data``.
    bands : mapping of str to (low, high)
        Named bands in Hz, e.g. ``{"all": (11, 16), "slow": (11, 13), "fast": (13, 16)}``.
    total_band : (low, high)
        Reference band for relative power.
    stages : sequence of str
        Stages whose complete epochs are used.
    window : float
        Welch segment length in seconds.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`sleepspindles.schema.SIGMA`, one row per channel x band: ``power`` in uV^2,
        ``relative`` = power / power in ``total_band`` (both NaN when no usable epoch is scored
        in ``stages``), ``n_epochs`` the epochs used on that channel (those with a NaN or a
        constant signal are left out), ``stages`` e.g. ``"N2"`` or ``"N2+N3"``.
    """
    data = data if is_source(data) else np.asarray(data)
    if data.ndim != 2 or data.shape[0] != len(channels):
        raise param_error("data", f"a (channels x samples) array with {len(channels)} rows", data.shape)
    _check_bands(bands, sf)
    named = {**dict(bands), "__total__": reference_band(total_band, sf)}
    starts = stage_epoch_starts(hypnogram, sf, data.shape[1], stages)
    epoch_samples = int(round(hypnogram.epoch_length * sf))
    power, used = welch_band_power(data, sf, starts, epoch_samples, list(named.values()), window)
    return _sigma_frame(channels, bands, stages, power, used)


def _sigma_frame(channels: Sequence[str], bands: Mapping[str, tuple[float, float]], stages,
                 power: np.ndarray, used: np.ndarray) -> pd.DataFrame:
    """The sigma table of mean ``power`` (named bands then the reference band, x channels) over ``used`` epochs."""
    label = "+".join(s.name for s in parse_stages(stages))
    rows = []
    for b, (name, (lo, hi)) in enumerate(bands.items()):
        for c, channel in enumerate(channels):
            with np.errstate(invalid="ignore", divide="ignore"):
                relative = power[b, c] / power[-1, c]
            rows.append((channel, name, label, lo, hi, used[c], power[b, c], relative))
    return SIGMA.conform(pd.DataFrame(rows, columns=list(SIGMA.names)))


def sigma_bands(config: Config) -> dict[str, tuple[float, float]]:
    """Named sigma bands: all, and the slow/fast halves split at the fast threshold (when inside)."""
    lo, hi = config.detection.band
    split = config.summary.fast_threshold
    if not lo < split < hi:
        return {"all": (lo, hi)}
    return {"all": (lo, hi), "fast": (split, hi), "slow": (lo, split)}


def sigma_power_bands(config: Config, sf: float) -> list[tuple[float, float]]:
    """The bands the sigma table integrates: :func:`sigma_bands`, then the reference (``laterality.total_band``)."""
    return [*sigma_bands(config).values(), reference_band(config.laterality.total_band, sf)]


def sigma_table(
    recording: Recording, hypnogram: Hypnogram | None, config: Config | None = None, skip: Sequence[str] = (),
    powers=None,
) -> pd.DataFrame:
    """Sigma power of every EEG channel of a recording, with the laterality settings.

    Bands are ``all`` (the spindle band, ``detection.band``) and its ``slow``/``fast`` halves split at
    ``summary.fast_threshold``; power is averaged over the ``laterality.sigma_stages`` epochs
    (Welch window ``laterality.welch_window``) and divided by the power in
    ``laterality.total_band`` for the relative value.

    Parameters
    ----------
    recording : Recording
    hypnogram : Hypnogram or None
        Stages aligned to ``recording``; ``None`` (not staged) gives an empty table.
    config : Config, optional
    skip : sequence of str
        Channels left out (those that cannot be measured).
    powers : EpochPowers, optional
        Epoch powers already computed over (at least) these channels, the sigma stages' epochs
        and the bands (:func:`sleepspindles.analysis.epoch_powers.shared_powers`); computed here
        when not given, with the same result.

    Returns
    -------
    pandas.DataFrame
        :func:`sleepspindles.analysis.spectral.sigma_power` table (columns :data:`SIGMA.names`), empty
        when there is no hypnogram, no EEG channel, or the sampling rate does not resolve the
        sigma band (a warning says so: the spindle results stay valid without sigma power).
    """
    config = config or Config()
    lat = config.laterality
    channels = [c for c in recording.eeg_channels if c not in skip]
    empty = pd.DataFrame(columns=list(SIGMA.names))
    top = config.detection.band[1]  # the reference band itself is cut below Nyquist by sigma_power
    if hypnogram is None or not channels or not resolves(recording, top, "detection.band", "sigma power"):
        return empty
    bands = sigma_bands(config)
    if powers is None:
        sub = recording.pick(channels)
        return sigma_power(sub.data, sub.sf, sub.channels, hypnogram, bands=bands, total_band=lat.total_band,
                           stages=lat.sigma_stages, window=lat.welch_window)
    sf = recording.sf
    power, used = powers.mean(sigma_power_bands(config, sf), channels,
                              select_epochs(hypnogram, sf, recording.n_samples, lat.sigma_stages))
    return _sigma_frame(channels, bands, lat.sigma_stages, power, used)
