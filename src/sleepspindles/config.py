"""Configuration: YAML files mapped onto frozen dataclasses.

``configs/default.yaml`` documents every key; the defaults below are the same values (a test
keeps the two in step). Unknown or misspelt keys are errors, so a typo never silently falls back
to a default.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .errors import ConfigError, param_error
from .io.channels import REFERENCES
from .io.config_file import read_config_file
from .schema import engine_names

__all__ = [
    "LoadConfig",
    "StagingConfig",
    "DetectionConfig",
    "A7Config",
    "FastConfig",
    "SlowOscillationConfig",
    "MOVED_KEYS",
    "SummaryConfig",
    "LateralityConfig",
    "BatchConfig",
    "Config",
    "load_config",
    "config_to_dict",
]


#: Re-referencing modes of ``load.reference``.
REFERENCE_MODES = REFERENCES
#: Numeric stage-code schemes of ``load.hypnogram_scheme`` (``None``: decided from the file).
HYPNOGRAM_SCHEMES = (None, "aasm", "rk")


@dataclass(frozen=True)
class LoadConfig:
    """How recordings are read."""

    #: EEG channels to keep (canonical names); empty keeps every EEG channel.
    channels: tuple[str, ...] = ()
    #: Resample every channel to this rate in Hz; ``None`` keeps the highest EEG rate.
    resample: float | None = None
    #: ``"auto"`` (as recorded when every EEG channel has the same reference, else linked
    #: mastoids when they can be computed), ``"as-recorded"``, ``"linked-mastoid"`` or ``"average"``.
    reference: str = "auto"
    #: EDF+D files: ``False`` refuses them, ``True`` keeps the longest continuous segment.
    longest_segment: bool = False
    #: Numeric stage codes of text hypnograms: ``"aasm"`` (0 W, 1 N1, 2 N2, 3 N3, 4 REM, as
    #: YASA), ``"rk"`` (Rechtschaffen & Kales: 3 and 4 are N3, 5 REM) or ``None`` (decided from
    #: the file when it can be: a 5 means R&K; codes 0-4 without a 5 are ambiguous, an error).
    hypnogram_scheme: str | None = None

    def __post_init__(self) -> None:
        if self.reference not in REFERENCE_MODES:
            raise param_error("load.reference", f"one of {REFERENCE_MODES}", self.reference)
        if self.hypnogram_scheme not in HYPNOGRAM_SCHEMES:
            raise param_error("load.hypnogram_scheme", f"one of {HYPNOGRAM_SCHEMES}", self.hypnogram_scheme)
        if self.resample is not None and not self.resample > 0:
            raise param_error("load.resample", "a positive rate in Hz or null", self.resample)


@dataclass(frozen=True)
class StagingConfig:
    """How sleep stages are obtained."""

    #: Use the scored hypnogram when the recording has one.
    use_scored: bool = True
    #: EEG channel for automatic staging; ``None`` picks the best central channel.
    eeg: str | None = None
    #: EOG and EMG channels for automatic staging; ``None`` uses the first one present.
    eog: str | None = None
    emg: str | None = None


def _check_band(key: str, band: tuple[float, float]) -> None:
    if not 0 < band[0] < band[1]:
        raise param_error(key, "a (low, high) band in Hz with 0 < low < high", band)


def _check_range(key: str, span: tuple[float, float]) -> None:
    if not 0 < span[0] < span[1]:
        raise param_error(key, "(min, max) seconds with 0 < min < max", span)


@dataclass(frozen=True)
class A7Config:
    """Thresholds of the ``a7`` engine (Lacourse et al. 2019).

    The defaults are the median over the folds of leave-one-excerpt-out tuning on DREAMS
    (scripts/tune_accuracy.py: expert 1 and union scored on the 1000 s expert 1 scored, objective
    the mean F1 over the three references); A7's published values are 1.25, 1.6, 1.3, 0.69.
    """

    #: Absolute sigma power threshold, log10 of the mean square in uV^2; ``None`` disables it.
    thresh_abs_pow: float | None = 1.25
    #: Relative sigma power threshold, z-score against the local baseline; ``None`` disables it.
    thresh_rel_pow_z: float | None = 1.9
    #: Sigma covariance threshold, z-score against the local baseline; ``None`` disables it.
    thresh_cov_z: float | None = 1.3
    #: Sigma/broadband correlation threshold (-1 to 1); ``None`` disables it.
    thresh_corr: float | None = 0.645
    #: Seconds of valid signal in the local baseline of the z-scores.
    baseline: float = 30.0

    def __post_init__(self) -> None:
        if not self.baseline >= 1:
            raise param_error("detection.a7.baseline", "a number of seconds >= 1", self.baseline)


@dataclass(frozen=True)
class FastConfig:
    """Thresholds of YASA's method: the ``fast`` engine and the reference ``yasa`` engine."""

    #: Relative sigma power threshold (0-1); ``None`` disables the criterion.
    thresh_rel_pow: float | None = 0.2
    #: Sigma/broadband moving correlation threshold (0-1); ``None`` disables the criterion.
    thresh_corr: float | None = 0.65
    #: Moving RMS threshold, in trimmed standard deviations; ``None`` disables it.
    thresh_rms: float | None = 1.5
    #: Events closer than this (seconds) are merged.
    min_distance: float = 0.5

    def __post_init__(self) -> None:
        if self.min_distance < 0:
            raise param_error("detection.fast.min_distance", "a non-negative number of seconds", self.min_distance)


@dataclass(frozen=True)
class DetectionConfig:
    """Spindle detection (seconds and Hz): what every engine shares, then each engine's thresholds."""

    #: Engine: see :data:`sleepspindles.schema.SPINDLE_KIND` (``a7``, ``fast`` or ``yasa``).
    method: str = "a7"
    #: Stages searched for spindles.
    stages: tuple[str, ...] = ("N2", "N3")
    #: The spindle (sigma) band in Hz, for every engine, for sigma power and for laterality.
    band: tuple[float, float] = (11.0, 16.0)
    #: Broadband reference band in Hz (lowered below Nyquist on low-rate recordings).
    broadband: tuple[float, float] = (1.0, 30.0)
    #: Shortest and longest spindle in seconds, for every engine.
    duration: tuple[float, float] = (0.5, 2.5)
    #: Parallel channel workers (1 = serial, -1 = all cores).
    n_jobs: int = 1
    #: Seconds of signal per processing block (memory is bounded by this, not by the night).
    block_seconds: float = 300.0
    #: Runs of identical samples at least this long (s) are flat: excluded and not analysed.
    flat_seconds: float = 1.0
    #: Thresholds of the ``a7`` engine.
    a7: A7Config = field(default_factory=A7Config)
    #: Thresholds of YASA's method (the ``fast`` and ``yasa`` engines).
    fast: FastConfig = field(default_factory=FastConfig)

    def __post_init__(self) -> None:
        methods = engine_names("spindles")
        if self.method not in methods:
            raise param_error("detection.method", f"one of {methods}", self.method)
        _check_band("detection.band", self.band)
        _check_band("detection.broadband", self.broadband)
        _check_range("detection.duration", self.duration)
        if self.n_jobs == 0 or self.n_jobs < -1:
            raise param_error("detection.n_jobs", "a positive integer or -1", self.n_jobs)
        if not self.block_seconds >= 30:
            raise param_error("detection.block_seconds", "a number of seconds >= 30", self.block_seconds)
        if not self.flat_seconds > 0:
            raise param_error("detection.flat_seconds", "a positive number of seconds", self.flat_seconds)


#: Keys of earlier versions -> where they live now (a user's old YAML gets an error naming it).
MOVED_KEYS = {
    "detection.freq_sp": "detection.band",
    "detection.a7_band": "detection.band",
    "laterality.sigma_band": "detection.band",
    "detection.freq_broad": "detection.broadband",
    "detection.a7_duration": "detection.duration",
    "detection.min_distance": "detection.fast.min_distance",
    "detection.thresh_rel_pow": "detection.fast.thresh_rel_pow",
    "detection.thresh_corr": "detection.fast.thresh_corr",
    "detection.thresh_rms": "detection.fast.thresh_rms",
    "detection.thresh_abs_pow": "detection.a7.thresh_abs_pow",
    "detection.thresh_rel_pow_z": "detection.a7.thresh_rel_pow_z",
    "detection.thresh_cov_z": "detection.a7.thresh_cov_z",
    "detection.thresh_corr_a7": "detection.a7.thresh_corr",
    "detection.a7_baseline": "detection.a7.baseline",
}


@dataclass(frozen=True)
class SlowOscillationConfig:
    """Slow oscillations (SO), slow-wave activity (SWA) and SO-spindle coupling (seconds, Hz, uV)."""

    #: Detect SOs (and compute SWA and coupling); ``false`` turns all three off.
    enabled: bool = True
    #: Engine (:data:`sleepspindles.schema.SO_KIND`).
    method: str = "zero_crossing"
    #: Stages searched for SOs.
    stages: tuple[str, ...] = ("N2", "N3")
    #: SO band of the filter (0.16-1.25 for Staresina et al. 2015's criteria).
    band: tuple[float, float] = (0.3, 1.5)
    #: Seconds between the two positive-to-negative zero crossings that bound an SO.
    crossing: tuple[float, float] = (0.8, 2.0)
    #: Seconds of the negative half-wave (start to the negative-to-positive crossing).
    neg_duration: tuple[float, float] = (0.3, 1.5)
    #: Seconds of the positive half-wave (that crossing to the end).
    pos_duration: tuple[float, float] = (0.1, 1.0)
    #: ``"absolute"`` (``neg_max`` and ``ptp_min``) or ``"relative"`` (``percentile``).
    amplitude: str = "absolute"
    #: Absolute criterion: the negative peak at or below this (uV); ``None`` disables it.
    neg_max: float | None = -40.0
    #: Absolute criterion: peak-to-peak amplitude at least this (uV); ``None`` disables it.
    ptp_min: float | None = 75.0
    #: Relative criterion: keep the candidates in the top ``percentile`` % of |negative peak| and
    #: of peak-to-peak amplitude.
    percentile: float = 25.0
    #: Relative thresholds taken per ``"channel"`` or pooled over the homologous ``"pair"`` (C3 with
    #: C4): per-channel percentiles equalise SO counts across hemispheres by construction.
    pooling: str = "pair"
    #: Surrogates of the coupling test (spindle peaks shuffled within their SO).
    n_surrogates: int = 1000
    #: Seed of the surrogates (recorded in the outputs).
    seed: int = 42
    #: Slow-wave activity band (Hz).
    swa_band: tuple[float, float] = (0.5, 4.5)
    #: SWA over the first this many minutes of NREM sleep.
    swa_first_minutes: float = 60.0

    def __post_init__(self) -> None:
        methods = engine_names("slow_oscillations")
        if self.method not in methods:
            raise param_error("slow_oscillations.method", f"one of {methods}", self.method)
        _check_band("slow_oscillations.band", self.band)
        _check_band("slow_oscillations.swa_band", self.swa_band)
        for name in ("crossing", "neg_duration", "pos_duration"):
            _check_range(f"slow_oscillations.{name}", getattr(self, name))
        if self.amplitude not in ("absolute", "relative"):
            raise param_error("slow_oscillations.amplitude", "'absolute' or 'relative'", self.amplitude)
        if self.pooling not in ("channel", "pair"):
            raise param_error("slow_oscillations.pooling", "'channel' or 'pair'", self.pooling)
        if not 0 < self.percentile < 100:
            raise param_error("slow_oscillations.percentile", "a percentage between 0 and 100", self.percentile)
        if self.n_surrogates < 100:
            raise param_error("slow_oscillations.n_surrogates", "at least 100", self.n_surrogates)
        if not self.swa_first_minutes > 0:
            raise param_error("slow_oscillations.swa_first_minutes", "a positive number of minutes",
                              self.swa_first_minutes)


@dataclass(frozen=True)
class SummaryConfig:
    """How events are aggregated."""

    #: Spindles at or above this frequency (Hz) are "fast", below it "slow".
    fast_threshold: float = 13.0


@dataclass(frozen=True)
class LateralityConfig:
    """Homologous electrode pairs compared across hemispheres."""

    #: Left/right pairs (left first); the first present is the motor pair.
    pairs: tuple[tuple[str, str], ...] = (
        ("C3", "C4"),
        ("F3", "F4"),
        ("P3", "P4"),
        ("O1", "O2"),
        ("C5", "C6"),
        ("FC3", "FC4"),
        ("CP3", "CP4"),
    )
    #: Bootstrap resamples for confidence intervals.
    n_boot: int = 2000
    #: Sign-flip permutations.
    n_perm: int = 5000
    #: Random seed for bootstrap and permutations.
    seed: int = 42
    #: Manifest ``night`` value of the baseline (no-training) night; learning nights are
    #: contrasted against it when a subject has both.
    baseline_night: str = "baseline"
    #: Stages whose epochs enter the sigma-power measure.
    sigma_stages: tuple[str, ...] = ("N2",)
    #: Broadband (Hz) that relative sigma power is divided by.
    total_band: tuple[float, float] = (1.0, 30.0)
    #: Welch segment length in seconds for sigma power.
    welch_window: float = 4.0
    #: Fewest subjects with a finite value for a cohort test to be computed.
    min_subjects: int = 3

    def __post_init__(self) -> None:
        _check_band("laterality.total_band", self.total_band)
        for left, right in self.pairs:
            if not left or not right or left == right:
                raise param_error("laterality.pairs", "(left, right) pairs of two distinct channels", (left, right))
        if self.n_boot < 100 or self.n_perm < 100:
            raise param_error("laterality.n_boot/n_perm", "at least 100 resamples", (self.n_boot, self.n_perm))
        if not self.welch_window > 0:
            raise param_error("laterality.welch_window", "a positive number of seconds", self.welch_window)
        if self.min_subjects < 3:
            raise param_error("laterality.min_subjects", "an integer of at least 3", self.min_subjects)


@dataclass(frozen=True)
class BatchConfig:
    """Cohort batch runs."""

    #: Worker processes on this machine.
    jobs: int = 1
    #: Dask scheduler address (``tcp://host:port``); ``None`` uses the local pool.
    scheduler: str | None = None


@dataclass(frozen=True)
class Config:
    """All settings of a run."""

    load: LoadConfig = field(default_factory=LoadConfig)
    staging: StagingConfig = field(default_factory=StagingConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    slow_oscillations: SlowOscillationConfig = field(default_factory=SlowOscillationConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    laterality: LateralityConfig = field(default_factory=LateralityConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)

    def replace(self, section: str, **changes: Any) -> "Config":
        """A copy with some keys of one section changed (validated like YAML values).

        A sub-section takes a mapping of its changed keys: ``replace("detection", fast={"thresh_rms": 2})``.
        """
        current = getattr(self, section)
        merged = _merged(config_to_dict(current), changes)
        return dataclasses.replace(self, **{section: _build(type(current), merged, section)})


def _merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes``; a mapping changes only the keys it names of a sub-mapping."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = _merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-YAML/JSON form of a config dataclass (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(cfg)


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> Config:
    """Read a YAML config onto the defaults.

    Parameters
    ----------
    path : str or Path, optional
        YAML file with any subset of the sections and keys of ``configs/default.yaml``.
    overrides : dict, optional
        ``{section: {key: value}}`` applied after the file (used by the CLI flags).

    Returns
    -------
    Config

    Raises
    ------
    ConfigError
        For an unreadable or non-UTF-8 file, an unknown section or key, or a value of the wrong type.
    """
    raw = read_config_file(path) if path is not None else {}
    for section, values in (overrides or {}).items():
        raw[section] = _merged(raw.get(section) or {}, values)
    where = f"{path}: " if path is not None else ""
    try:
        return _build(Config, raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None


def _build(cls: type, raw: Any, prefix: str) -> Any:
    """Instantiate dataclass ``cls`` from a mapping, refusing unknown keys and coercing types."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise param_error(prefix or "config", "a mapping", raw)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(raw) - known)
    moved = [(f"{prefix}.{k}" if prefix else k) for k in unknown if (f"{prefix}.{k}" if prefix else k) in MOVED_KEYS]
    if moved:
        raise ConfigError("; ".join(f"The config key {k!r} has moved: use {MOVED_KEYS[k]!r}" for k in moved) + ".")
    if unknown:
        raise ConfigError(
            f"Unknown config key(s) {', '.join(repr(prefix + '.' + k if prefix else k) for k in unknown)}; "
            f"valid keys{' of ' + repr(prefix) if prefix else ''}: {', '.join(sorted(known))}."
        )
    kwargs = {}
    for name, value in raw.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(hints[name], value, key)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the key check above
        raise ConfigError(f"{prefix}: {exc}") from None


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Convert a YAML value to the annotated type, or raise a ConfigError naming ``key``."""
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        errors = []
        for option in others:
            try:
                return _coerce(option, value, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is tuple:
        if isinstance(value, str) and args and args[0] is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise param_error(key, "a list", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, key) for v in value)
        if len(value) != len(args):
            raise param_error(key, f"a list of {len(args)} values", value)
        return tuple(_coerce(a, v, key) for a, v in zip(args, value))
    if hint is bool:
        if not isinstance(value, bool):
            raise param_error(key, "true or false", value)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise param_error(key, "an integer", value)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise param_error(key, "a number", value)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise param_error(key, "a string", value)
        return value
    return value
