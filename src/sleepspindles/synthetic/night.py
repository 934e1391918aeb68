"""Synthetic polysomnography with planted spindles and slow oscillations: exact ground truth.

:func:`make_synthetic_night` builds a :class:`~sleepspindles.recording.Recording` (microvolts,
float32) from a plausible hypnogram (:func:`synthetic_hypnogram`) and returns it with a table of
every planted spindle (and of every slow oscillation). The signal is

* a stage-dependent background: aperiodic 1/f^k noise, alpha (8-12 Hz) in wake, theta (4-7 Hz)
  in N1 and REM, high-amplitude delta (0.5-2 Hz) in N3 and some in N2. Each component is a
  stationary Gaussian process shaped in the frequency domain and multiplied by a stage gain
  that ramps over one second at stage changes, so transitions add no broadband artefact;
* a component shared by all EEG channels (mixed in with weight ``correlation``) so channels are
  partly correlated like real scalp EEG;
* slow oscillations (SOs; off by default, ``so_density``): single clean cycles in N2 and N3,
  see :mod:`.slow_oscillations` (phase convention included). On a channel with SOs they are the
  slow waves of N2 and N3: the background there loses its content below ~1.5 Hz;
* spindles: Tukey-windowed (waxing-waning) sinusoids with known onset, duration, frequency and
  amplitude, planted independently per channel (a fraction ``shared_fraction`` on every channel
  at once) at the requested density per minute of N2, non-overlapping within a channel; a
  fraction ``coupled_fraction`` sits inside the channel's SOs, peaks at von Mises phases
  (see :mod:`.spindles`).

Everything is drawn from :class:`numpy.random.Generator` streams keyed by (seed, purpose,
channel), so the same configuration gives identical arrays and adding a channel does not change
the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import pandas as pd
import scipy.fft
from scipy.ndimage import uniform_filter1d
from scipy.signal import lfilter

from ..errors import param_error
from ..hypnogram import Hypnogram, Stage
from ..recording import Recording
from .placement import RNG_AUX, RNG_BACKGROUND, RNG_HYPNOGRAM, RNG_SHARED, per_channel, rng_for
from .slow_oscillations import SO_PER_CHANNEL, check_so_config, empty_so_truth, plant_slow_oscillations
from .spindles import plant_spindles

__all__ = [
    "SyntheticConfig",
    "SyntheticNight",
    "synthetic_hypnogram",
    "make_synthetic_night",
]

# Background components: rms gain per stage, in units of ``background_uv``. Rows follow
# _STAGE_ROWS; unscored and artefact epochs look like wake.
_COMPONENTS = ("aperiodic", "alpha", "theta", "delta")
_STAGE_ROWS = {Stage.W: 0, Stage.N1: 1, Stage.N2: 2, Stage.N3: 3, Stage.REM: 4}
_GAINS = np.array(
    [
        # aperiodic alpha theta delta
        [0.8, 1.0, 0.2, 0.2],  # W: posterior alpha dominates
        [0.9, 0.3, 0.8, 0.3],  # N1: alpha drops out, theta appears
        [1.0, 0.1, 0.4, 0.8],  # N2
        [1.1, 0.05, 0.4, 3.0],  # N3: high-amplitude slow waves
        [0.8, 0.3, 0.8, 0.2],  # REM: low-voltage mixed frequency, theta
    ],
    dtype=np.float32,
)
# On a channel with planted SOs, the SOs are its N2/N3 slow waves: there the background loses
# its content below ~_SO_QUIET_HZ (the delta rhythm, and the slow part of the aperiodic noise,
# which a correction component subtracts). Otherwise it makes SO-like waves of its own
# (yasa.sw_detect finds ~28/min in the default N3 background) and its slow wander moves the zero
# crossings that bound the planted SOs (yasa then finds ~80 % of them; ~96 % once it is gone).
_SO_QUIET_HZ = 1.5
_APERIODIC, _DELTA = _COMPONENTS.index("aperiodic"), _COMPONENTS.index("delta")
_QUIET_ROWS = [_STAGE_ROWS[Stage.N2], _STAGE_ROWS[Stage.N3]]
_GAINS_WITH_SO = np.zeros((len(_STAGE_ROWS), 2), dtype=np.float32)  # delta, slow-aperiodic correction
_GAINS_WITH_SO[:, 0] = _GAINS[:, _DELTA]
_GAINS_WITH_SO[_QUIET_ROWS, 0] = 0.0
_GAINS_WITH_SO[_QUIET_ROWS, 1] = -_GAINS[_QUIET_ROWS, _APERIODIC]
# Narrow-band rhythms as Gaussian spectral bumps: (centre Hz, standard deviation Hz).
_BUMPS = {"alpha": (10.0, 0.8), "theta": (5.5, 1.0), "delta": (1.0, 0.5)}
_HIGHPASS_HZ = 0.3  # like the analogue high-pass of a PSG amplifier
_CROSSFADE_S = 1.0  # ramp length of stage gains at transitions
_MAX_DENSITY = 10.0  # per minute; beyond any physiological density and keeps placement feasible
# Per-channel parameters: (name, value of channels a mapping leaves out, low, high, what).
_PER_CHANNEL = (("density", 2.0, 0.0, _MAX_DENSITY, "spindles per minute"), *SO_PER_CHANNEL)


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of a synthetic night (seconds, Hz, microvolts)."""

    #: Length of the night in hours (ignored when a hypnogram is passed).
    duration_hours: float = 8.0
    #: Sampling rate in Hz.
    sf: float = 256.0
    #: EEG channel names.
    channels: tuple[str, ...] = ("C3", "C4")
    #: Spindles per minute of N2, per channel: one number for all, a sequence aligned with
    #: ``channels``, or a mapping channel -> density (channels left out get 2.0). Different
    #: values plant a left/right asymmetry.
    density: float | tuple[float, ...] | Mapping[str, float] = 2.0
    #: Spindle density in N3 as a fraction of the N2 density.
    n3_ratio: float = 0.5
    #: Fraction of each channel's spindles that are global (planted on every EEG channel).
    shared_fraction: float = 0.0
    #: Spindle frequency range in Hz: the support of the frequency distribution.
    freq_range: tuple[float, float] = (11.0, 16.0)
    #: Standard deviation in Hz of the frequencies, normal around the middle of ``freq_range``
    #: and truncated to it (real spindles cluster near 13-14 Hz); ``None`` draws them uniformly.
    freq_sd: float | None = 1.0
    #: Spindle duration range in seconds (uniform), envelope support.
    duration_range: tuple[float, float] = (0.5, 2.0)
    #: Peak spindle amplitude range in microvolts (half the peak-to-peak), uniform.
    amplitude_range: tuple[float, float] = (15.0, 50.0)
    #: Minimum gap in seconds between consecutive spindles of a channel.
    min_gap: float = 1.0
    #: RMS in microvolts of the aperiodic background in N2 (the stage rhythms scale with it).
    background_uv: float = 10.0
    #: Exponent k of the aperiodic 1/f^k power spectrum.
    aperiodic_exponent: float = 1.5
    #: Weight of the component shared by all EEG channels (0 = independent, 1 = identical).
    correlation: float = 0.5
    #: Amplitude in microvolts of mains interference on EEG channels (0 = none).
    line_noise_uv: float = 0.0
    #: Mains frequency in Hz.
    line_freq: float = 50.0
    #: Add two EOG channels (E1, E2) and a chin EMG channel, for automatic staging.
    eog_emg: bool = False
    #: Epoch length of the synthetic hypnogram in seconds.
    epoch_length: float = 30.0
    #: Seed of every random draw.
    seed: int = 0
    #: Slow oscillations per minute of N3, per channel (one number, a sequence aligned with
    #: ``channels``, or a mapping channel -> density, channels left out get 0); 0 plants none.
    so_density: float | tuple[float, ...] | Mapping[str, float] = 0.0
    #: SO density in N2 as a fraction of the N3 density.
    so_n2_ratio: float = 0.25
    #: SO frequency range in Hz (uniform); an SO is one cycle of 1 / frequency seconds.
    so_frequency_range: tuple[float, float] = (0.6, 1.1)
    #: SO peak-to-peak amplitude range in microvolts (uniform); the trough is -ptp / 2.
    so_amplitude_range: tuple[float, float] = (80.0, 200.0)
    #: Fraction of each channel's SOs that are global: same time and frequency on every EEG
    #: channel (of the lowest channel density), amplitude drawn per channel.
    so_shared_fraction: float = 0.0
    #: Fraction of each channel's N2/N3 spindles planted inside one of its SOs, the spindle peak
    #: at a phase drawn from VonMises(``coupling_phase``, ``coupling_kappa``); per channel like
    #: ``density`` (left out: 0). They replace free spindles: the density stays ``density``.
    coupled_fraction: float | tuple[float, ...] | Mapping[str, float] = 0.0
    #: Mean SO phase in degrees of the coupled spindles' peaks, in [-180, 180] (0 = up-state
    #: peak, +-180 = trough); per channel like ``density`` (left out: 0).
    coupling_phase: float | tuple[float, ...] | Mapping[str, float] = 0.0
    #: Von Mises concentration of the coupled spindles' phases (0 = uniform); per channel like
    #: ``density`` (left out: 2).
    coupling_kappa: float | tuple[float, ...] | Mapping[str, float] = 2.0

    def __post_init__(self) -> None:
        channels = tuple(str(c) for c in self.channels)
        if not channels or len(set(channels)) != len(channels):
            raise param_error("channels", "a non-empty list of unique names", self.channels)
        object.__setattr__(self, "channels", channels)
        for name, default, low, high, what in _PER_CHANNEL:
            values = per_channel(name, getattr(self, name), channels, default, low, high, what)
            object.__setattr__(self, name, values)
        _check_positive("duration_hours", self.duration_hours)
        _check_positive("sf", self.sf)
        _check_positive("epoch_length", self.epoch_length)
        _check_positive("background_uv", self.background_uv)
        _check_positive("min_gap", self.min_gap)
        for name in ("freq_range", "duration_range", "amplitude_range", "so_frequency_range", "so_amplitude_range"):
            value = tuple(float(v) for v in getattr(self, name))
            if len(value) != 2 or not 0.0 < value[0] <= value[1] or not np.isfinite(value[1]):
                raise param_error(name, "two positive numbers (low, high) with low <= high", value)
            object.__setattr__(self, name, value)
        if self.freq_range[1] >= self.sf / 2:
            nyquist = f"below the Nyquist frequency {self.sf / 2:g} Hz"
            raise param_error("freq_range", nyquist, self.freq_range)
        if self.freq_sd is not None:
            _check_positive("freq_sd", self.freq_sd)
        for name in ("n3_ratio", "shared_fraction", "correlation", "so_n2_ratio", "so_shared_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise param_error(name, "a number in [0, 1]", getattr(self, name))
        check_so_config(self)
        # The mains frequency only matters when there is mains interference to plant.
        if self.line_noise_uv < 0 or (self.line_noise_uv > 0 and not 0 < self.line_freq < self.sf / 2):
            raise param_error("line_noise_uv/line_freq", "amplitude >= 0 and 0 < frequency < sf/2",
                              (self.line_noise_uv, self.line_freq))

    def density_of(self, channel: str) -> float:
        """Requested spindles per minute of N2 on ``channel``."""
        return self.density[self.channels.index(channel)]


def _check_positive(name: str, value) -> None:
    if not (isinstance(value, (int, float, np.number)) and np.isfinite(value) and value > 0):
        raise param_error(name, "a positive finite number", value)


@dataclass(frozen=True)
class SyntheticNight:
    """A synthetic recording and the spindles and slow oscillations planted in it.

    Attributes
    ----------
    recording : Recording
        Signals in microvolts (float32), hypnogram attached, ``source`` None.
    truth : pandas.DataFrame
        One row per planted spindle and channel, columns
        :data:`~sleepspindles.synthetic.spindles.TRUTH_COLUMNS`; ``amplitude`` is the
        peak-to-peak amplitude of the planted sinusoid, ``stage`` its stage name.
    config : SyntheticConfig
        The parameters used.
    so_truth : pandas.DataFrame
        One row per planted slow oscillation and channel, columns
        :data:`~sleepspindles.synthetic.slow_oscillations.SO_TRUTH_COLUMNS` (seconds, uV, Hz);
        empty, with those columns, when no SO was planted.
    """

    recording: Recording
    truth: pd.DataFrame
    config: SyntheticConfig = field(repr=False)
    so_truth: pd.DataFrame = field(default_factory=empty_so_truth)


# ---------------------------------------------------------------------------------- hypnogram


def synthetic_hypnogram(duration_hours: float = 8.0, epoch_length: float = 30.0, seed: int = 0) -> Hypnogram:
    """A plausible night of sleep stages.

    Wake until sleep onset (10-25 min), then ~90 min NREM-REM cycles: N3 mostly in the first
    two cycles, REM periods lengthening towards morning, a brief awakening after most REM
    periods and scattered one-epoch arousals; N2 is about half of sleep.

    Parameters
    ----------
    duration_hours : float
        Length of the night.
    epoch_length : float
        Epoch length in seconds.
    seed : int
        Seed of the random draws.

    Returns
    -------
    Hypnogram
        ``source="synthetic"``, offset 0, ``round(duration / epoch_length)`` epochs.
    """
    _check_positive("duration_hours", duration_hours)
    _check_positive("epoch_length", epoch_length)
    n_epochs = max(1, int(round(duration_hours * 3600.0 / epoch_length)))
    rng = rng_for(seed, RNG_HYPNOGRAM)
    per_min = 60.0 / epoch_length
    minutes: list[tuple[Stage, float]] = [(Stage.W, rng.uniform(10, 25)), (Stage.N1, rng.uniform(3, 7))]
    cycle = 0
    while sum(m for _, m in minutes) < n_epochs / per_min:
        length = rng.normal(90, 8)
        n3 = max(0.0, (45 - 15 * cycle) * rng.uniform(0.8, 1.2))
        rem = min(45.0, (8 + 7 * cycle) * rng.uniform(0.8, 1.2))
        n1 = rng.uniform(3, 6) if cycle else 0.0
        n2 = max(10.0, length - n3 - rem - n1)
        descending = n2 * (0.7 if n3 > 0 else 1.0)
        minutes += [(Stage.N1, n1), (Stage.N2, descending), (Stage.N3, n3), (Stage.N2, n2 - descending),
                    (Stage.REM, rem)]
        if rng.random() < 0.8:  # awakening at the end of the REM period
            minutes.append((Stage.W, rng.uniform(1, 4)))
        cycle += 1
    stages = np.concatenate([np.full(int(round(m * per_min)), int(s), dtype=np.int8) for s, m in minutes])
    stages = stages[:n_epochs]
    # Scattered arousals: single wake epochs inside N2 and REM.
    arousal = np.isin(stages, [Stage.N2, Stage.REM]) & (rng.random(stages.size) < 0.015)
    stages[arousal] = Stage.W
    if stages.size < n_epochs:  # only when rounding left the night short: final wake
        stages = np.concatenate([stages, np.full(n_epochs - stages.size, int(Stage.W), np.int8)])
    return Hypnogram(stages, epoch_length=epoch_length, offset=0.0, source="synthetic")


# --------------------------------------------------------------------------------- background


def _stage_gains(hypnogram: Hypnogram, sf: float, n: int, table: np.ndarray) -> np.ndarray:
    """Per-sample gains ``table[stage row, k]``, crossfaded at stage changes: (k, n) float32."""
    codes = hypnogram.to_samples(sf, n)
    row_of_code = np.zeros(256, dtype=np.intp)  # indexed by code & 0xFF; unscored/artefact -> W
    for stage, row in _STAGE_ROWS.items():
        row_of_code[int(stage)] = row
    rows = row_of_code[codes.astype(np.intp) & 0xFF]
    size = max(1, int(round(_CROSSFADE_S * sf)))
    out = np.empty((table.shape[1], n), dtype=np.float32)
    for k in range(table.shape[1]):
        # A moving average of the step function is a linear crossfade over one second.
        uniform_filter1d(table[rows, k], size, output=out[k], mode="nearest")
    return out


def _spectral_shapes(n: int, sf: float, exponent: float) -> np.ndarray:
    """Amplitude spectra (rfft bins) of the background components, each with unit variance."""
    freqs = np.fft.rfftfreq(n, 1.0 / sf).astype(np.float32)
    highpass = freqs**2 / (freqs**2 + np.float32(_HIGHPASS_HZ**2))
    shapes = np.empty((len(_COMPONENTS), freqs.size), dtype=np.float32)
    safe = np.maximum(freqs, freqs[1] if freqs.size > 1 else 1.0)
    shapes[0] = safe ** np.float32(-exponent / 2.0)
    for k, name in enumerate(_COMPONENTS[1:], start=1):
        centre, width = _BUMPS[name]
        shapes[k] = np.exp(-0.5 * ((freqs - centre) / width) ** 2)
    shapes *= highpass
    shapes[:, 0] = 0.0
    # With norm="ortho" and unit complex noise, variance = sum over full spectrum / n.
    power = 2.0 * np.sum(shapes.astype(np.float64) ** 2, axis=1) / n
    shapes /= np.sqrt(power)[:, None].astype(np.float32)
    return shapes


def _complex_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Circular complex Gaussian noise with unit expected power per bin."""
    z = np.empty(size, dtype=np.complex64)
    z.real = rng.standard_normal(size, dtype=np.float32)
    z.imag = rng.standard_normal(size, dtype=np.float32)
    z *= np.float32(np.sqrt(0.5))
    return z


def _background(out: np.ndarray, spectrum: np.ndarray, shapes: Sequence[np.ndarray],
                gains: Sequence[np.ndarray], scale: float) -> None:
    """Write sum_k gain_k(t) * irfft(spectrum * shape_k) * scale into ``out`` (float32)."""
    out[:] = 0.0
    n = out.size
    for shape, gain in zip(shapes, gains):
        component = scipy.fft.irfft(spectrum * shape, n, norm="ortho")
        component *= gain
        out += component
    out *= np.float32(scale)


def _eeg_background(data: np.ndarray, config: SyntheticConfig, hypnogram: Hypnogram) -> None:
    """Write the background of every EEG channel into the rows of ``data`` (float32)."""
    sf, n = config.sf, data.shape[1]
    gains = list(_stage_gains(hypnogram, sf, n, _GAINS))
    shapes = _spectral_shapes(n, sf, config.aperiodic_exponent)
    if any(config.so_density):
        # Channels with SOs: no delta rhythm in N2/N3, and a fifth component that takes the slow
        # part of the aperiodic noise out there (its gain is minus the aperiodic gain).
        delta, correction = _stage_gains(hypnogram, sf, n, _GAINS_WITH_SO)
        freqs = np.fft.rfftfreq(n, 1.0 / sf).astype(np.float32)
        highpass = 1.0 / np.sqrt(1.0 + (_SO_QUIET_HZ / np.maximum(freqs, freqs[1])) ** 8)  # 4th order
        so_shapes = [*shapes, shapes[_APERIODIC] * (1.0 - highpass)]
        so_gains = [*gains[:_DELTA], delta, *gains[_DELTA + 1:], correction]
    shared = _complex_noise(rng_for(config.seed, RNG_SHARED), shapes.shape[1])
    shared *= np.float32(np.sqrt(config.correlation))
    for i, so_density in enumerate(config.so_density):
        spectrum = _complex_noise(rng_for(config.seed, RNG_BACKGROUND, i), shapes.shape[1])
        spectrum *= np.float32(np.sqrt(1.0 - config.correlation))
        spectrum += shared
        if so_density > 0:
            _background(data[i], spectrum, so_shapes, so_gains, config.background_uv)
        else:
            _background(data[i], spectrum, shapes, gains, config.background_uv)


# ------------------------------------------------------------------------------ EOG and EMG

# Stage gains (rows as _STAGE_ROWS) of: slow eye movements, saccades per second, chin EMG.
_AUX_GAINS = np.array(
    [
        [0.3, 0.1, 1.0],  # W: occasional saccades and blinks, high tone
        [1.0, 0.05, 0.6],  # N1: slow rolling eye movements
        [0.2, 0.0, 0.4],  # N2
        [0.0, 0.0, 0.35],  # N3
        [0.1, 1.0, 0.1],  # REM: rapid eye movements, atonia
    ],
    dtype=np.float32,
)
_EOG_SLOW_UV = 40.0  # rms of slow eye movements at gain 1
_EOG_SACCADE_UV = (50.0, 150.0)  # saccade step amplitude range
_EOG_DECAY_S = 1.0  # AC-coupling time constant of the EOG amplifier
_EOG_EEG_LEAK = 0.3  # fraction of the first EEG channel seen at the EOG electrodes
_EMG_UV = 20.0  # rms chin EMG at gain 1 (wake)


def _shaped_noise(rng: np.random.Generator, n: int, sf: float, shape) -> np.ndarray:
    """Unit-variance Gaussian noise with amplitude spectrum ``shape(freqs)``, float32."""
    freqs = np.fft.rfftfreq(n, 1.0 / sf)
    amp = np.asarray(shape(freqs), dtype=np.float32)
    amp[0] = 0.0
    amp /= np.float32(np.sqrt(2.0 * np.sum(amp.astype(np.float64) ** 2) / n))
    return scipy.fft.irfft(_complex_noise(rng, freqs.size) * amp, n, norm="ortho")


def _aux_channels(out: np.ndarray, eeg: np.ndarray, config: SyntheticConfig, hypnogram: Hypnogram) -> None:
    """Write E1, E2 (conjugate eye movements, opposite polarity) and chin EMG into ``out`` (3, n)."""
    n, sf = out.shape[1], config.sf
    rng = rng_for(config.seed, RNG_AUX)
    gains = _stage_gains(hypnogram, sf, n, _AUX_GAINS)
    slow = _shaped_noise(rng, n, sf, lambda f: np.exp(-0.5 * ((f - 0.3) / 0.15) ** 2))
    slow *= gains[0] * np.float32(_EOG_SLOW_UV)
    # Saccades: Poisson impulses at the stage rate, smoothed over 20 ms, decaying like a step
    # through the amplifier's high-pass.
    events = rng.random(n) < gains[1] / sf
    impulses = np.zeros(n, dtype=np.float64)
    n_events = int(events.sum())
    impulses[events] = rng.uniform(*_EOG_SACCADE_UV, size=n_events) * rng.choice([-1.0, 1.0], n_events)
    decay = np.exp(-1.0 / (_EOG_DECAY_S * sf))
    saccades = uniform_filter1d(lfilter([1.0], [1.0, -decay], impulses), max(1, int(0.02 * sf)))
    eye = slow + saccades.astype(np.float32)
    leak = np.float32(_EOG_EEG_LEAK) * eeg
    for row, sign in ((0, 1.0), (1, -1.0)):
        noise = _shaped_noise(rng, n, sf, lambda f: np.maximum(f, 0.5) ** -0.5) * np.float32(3.0)
        out[row] = np.float32(sign) * eye + leak + noise
    emg = _shaped_noise(rng, n, sf, lambda f: f**2 / (f**2 + 100.0) * (f < 0.45 * sf))
    out[2] = emg * gains[2] * np.float32(_EMG_UV)


# ------------------------------------------------------------------------------------ public


def make_synthetic_night(config: SyntheticConfig | None = None, *, hypnogram: Hypnogram | None = None,
                         **kwargs) -> SyntheticNight:
    """Generate a synthetic night with planted spindles (and slow oscillations on request).

    Parameters
    ----------
    config : SyntheticConfig, optional
        Parameters; keyword arguments override its fields (or build one when it is None).
    hypnogram : Hypnogram, optional
        Stages to follow (offset >= 0); default :func:`synthetic_hypnogram` for
        ``config.duration_hours``, ``config.epoch_length`` and ``config.seed``.
    **kwargs
        Fields of :class:`SyntheticConfig`, e.g. ``duration_hours=2, density={"C3": 2, "C4": 3}``
        or ``so_density=8, coupled_fraction=0.5, coupling_kappa={"C3": 1, "C4": 4}``.

    Returns
    -------
    SyntheticNight
        The recording (EEG channels, then E1, E2, EMG when ``eog_emg``; references
        ``"linked-mastoid"`` for EEG), the spindle truth table and the SO truth table.
    """
    known = {f.name for f in fields(SyntheticConfig)}
    unknown = sorted(set(kwargs) - known)
    if unknown:
        raise param_error(unknown[0], f"one of the SyntheticConfig fields {sorted(known)}", unknown)
    config = replace(config, **kwargs) if config is not None else SyntheticConfig(**kwargs)
    if hypnogram is None:
        hypnogram = synthetic_hypnogram(config.duration_hours, config.epoch_length, config.seed)
    elif not hypnogram.offset >= 0:
        raise param_error("hypnogram", "a hypnogram with offset >= 0", hypnogram.offset)
    sf = config.sf
    n = int(round((hypnogram.offset + hypnogram.duration) * sf))
    n_eeg = len(config.channels)
    data = np.empty((n_eeg + (3 if config.eog_emg else 0), n), dtype=np.float32)
    _eeg_background(data[:n_eeg], config, hypnogram)
    if config.line_noise_uv > 0:
        phase = rng_for(config.seed, RNG_AUX, 1).uniform(0, 2 * np.pi)
        mains = config.line_noise_uv * np.sin(2 * np.pi * config.line_freq * np.arange(n) / sf + phase)
        data[:n_eeg] += mains.astype(np.float32)
    so_truth = plant_slow_oscillations(data[:n_eeg], config, hypnogram)
    truth = plant_spindles(data, config, hypnogram, so_truth)
    names = list(config.channels)
    kinds = ["eeg"] * n_eeg
    if config.eog_emg:
        _aux_channels(data[n_eeg:], data[0], config, hypnogram)
        names += ["E1", "E2", "EMG"]
        kinds += ["eog", "eog", "emg"]
    labels = {"eeg": "EEG {}", "eog": "EOG {}", "emg": "EMG Chin"}  # as PSG montages label them
    recording = Recording(
        data=data,
        sf=sf,
        channels=tuple(names),
        original_names=tuple(labels[k].format(c) for c, k in zip(names, kinds)),
        references=tuple("linked-mastoid" if k == "eeg" else None for k in kinds),
        kinds=tuple(kinds),
        start_time=None,
        source=None,
        hypnogram=hypnogram,
    )
    return SyntheticNight(recording=recording, truth=truth, config=config, so_truth=so_truth)
