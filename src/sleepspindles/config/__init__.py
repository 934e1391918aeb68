"""Configuration: YAML files mapped onto frozen dataclasses.

``configs/default.yaml`` documents every key; the defaults below are the same values (a test
keeps the two in step). Unknown or misspelt keys are errors, so a typo never silently falls back
to a default.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ..errors import ConfigError, param_error
from ..hypnogram import Stage, parse_stages
from ..io.channels import REFERENCES
from ..io.config_file import read_config_file
from ..schema import engine_names
from .building import MOVED_KEYS, build, config_to_dict, merged

__all__ = [
    "A7_PUBLISHED",
    "MOVED_KEYS",
    "A7Config",
    "BatchConfig",
    "Config",
    "DetectionConfig",
    "FastConfig",
    "LateralityConfig",
    "ReportConfig",
    "REPORT_FORMATS",
    "LoadConfig",
    "SlowOscillationConfig",
    "StagingConfig",
    "SummaryConfig",
    "config_to_dict",
    "load_config",
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
    #: Seconds per epoch of a hypnogram file (one stage per row of a text hypnogram); ``None``:
    #: the format's own (30 s; 5 s for DREAMS; annotation files give their durations).
    hypnogram_epoch: float | None = None
    #: Hold the signals in memory (``True``), read them from the file block by block while
    #: detecting (``False``: memory bounded by block and channel-group size, not by the night's
    #: length), or ``None``: in memory up to 512 MB of samples, streamed beyond. Identical
    #: results either way; files whose channels need resampling are always loaded.
    preload: bool | None = None
    #: Channels to leave out of every recording (file labels or canonical names), reported as
    #: dropped; a manifest's ``bad_channels`` and a BIDS ``_channels.tsv`` (status bad) add to it per row.
    exclude: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.reference not in REFERENCE_MODES:
            raise param_error("load.reference", f"one of {REFERENCE_MODES}", self.reference)
        if self.hypnogram_scheme not in HYPNOGRAM_SCHEMES:
            raise param_error("load.hypnogram_scheme", f"one of {HYPNOGRAM_SCHEMES}", self.hypnogram_scheme)
        if self.resample is not None and not self.resample > 0:
            raise param_error("load.resample", "a positive rate in Hz or null", self.resample)
        if self.hypnogram_epoch is not None and not self.hypnogram_epoch > 0:
            raise param_error("load.hypnogram_epoch", "a positive number of seconds or null", self.hypnogram_epoch)

    def loader_options(self) -> dict[str, Any]:
        """These settings as :func:`sleepspindles.io.load_recording`'s keyword arguments."""
        return {"channels": list(self.channels) or None, "reference": self.reference, "resample": self.resample,
                "longest_segment": self.longest_segment, "hypnogram_scheme": self.hypnogram_scheme,
                "epoch_length": self.hypnogram_epoch, "preload": self.preload, "exclude": self.exclude}


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


def _check_method(key: str, kind: str, method: str) -> None:
    methods = engine_names(kind)
    if method not in methods:
        raise param_error(key, f"one of {methods}", method)


def _check_range(key: str, span: tuple[float, float]) -> None:
    if not 0 < span[0] < span[1]:
        raise param_error(key, "(min, max) seconds with 0 < min < max", span)


def _check_stages(key: str, stages) -> None:
    """Refuse stage names the hypnogram does not have now, naming the key (not at detection time)."""
    try:
        parse_stages(stages)
    except ConfigError:
        raise param_error(key, f"a non-empty list of stages among {[s.name for s in Stage]}", stages) from None


#: A7's published thresholds and durations (s) (``a7MainScript.m``, release 1.1.2), set by ``preset: reference``.
A7_PUBLISHED: dict[str, Any] = {"thresh_abs_pow": 1.25, "thresh_rel_pow_z": 1.6, "thresh_cov_z": 1.3,
                                "thresh_corr": 0.69, "duration": (0.3, 2.5)}


@dataclass(frozen=True)
class A7Config:
    """Thresholds and preset of the ``a7`` engine (Lacourse et al. 2019; features as the authors compute them).

    The default thresholds are the median over the folds of leave-one-excerpt-out tuning on DREAMS
    (scripts/tune_accuracy.py: expert 1 and union scored on the 1000 s expert 1 scored, objective
    the mean F1 over the three references); A7's published values are :data:`A7_PUBLISHED`.
    """

    #: ``"default"``: the thresholds below and ``detection.duration``; ``"reference"``: A7 as its authors run it,
    #: each of them still at its default set to the published value (stored: the recorded config shows it).
    preset: str = "default"
    #: Absolute sigma power threshold, log10 of the mean square in uV^2; ``None`` disables it.
    thresh_abs_pow: float | None = 1.375
    #: Relative sigma power threshold, z-score against the local baseline; ``None`` disables it.
    thresh_rel_pow_z: float | None = 1.6
    #: Sigma covariance threshold, z-score against the local baseline; ``None`` disables it.
    thresh_cov_z: float | None = 1.3
    #: Sigma/broadband correlation threshold (-1 to 1); ``None`` disables it.
    thresh_corr: float | None = 0.6
    #: Seconds of valid signal in the local baseline of the z-scores.
    baseline: float = 30.0

    def __post_init__(self) -> None:
        if self.preset not in ("default", "reference"):
            raise param_error("detection.a7.preset", "'default' or 'reference'", self.preset)
        if not self.baseline >= 1:
            raise param_error("detection.a7.baseline", "a number of seconds >= 1", self.baseline)
        if self.preset == "reference":
            _published(self)


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
        for name in ("thresh_rel_pow", "thresh_corr"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise param_error(f"detection.fast.{name}", "a number from 0 to 1, or null (criterion off)", value)
        if self.thresh_rms is not None and not self.thresh_rms >= 0:
            raise param_error("detection.fast.thresh_rms", "a non-negative number of standard deviations, or null",
                              self.thresh_rms)


def _published(cfg: Any) -> None:
    """Set every field of ``cfg`` in :data:`A7_PUBLISHED` still at its default to the published value."""
    for f in fields(cfg):
        if f.name in A7_PUBLISHED and getattr(cfg, f.name) == f.default:
            object.__setattr__(cfg, f.name, A7_PUBLISHED[f.name])  # frozen: set once, while validating


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
    #: Shortest and longest spindle in seconds, for every engine (``a7.preset: reference``: 0.3-2.5 s).
    duration: tuple[float, float] = (0.5, 2.5)
    #: Parallel channel workers (1 = serial, -1 = all cores).
    n_jobs: int = 1
    #: Seconds of signal per processing block (memory is bounded by this, not by the night).
    block_seconds: float = 300.0
    #: Runs of identical samples at least this long (s) are flat: excluded and not analysed.
    flat_seconds: float = 1.0
    #: Spindles with a ``confidence`` below this are dropped (0 keeps all; above 0 needs ``a7``).
    min_confidence: float = 0.0
    #: Thresholds of the ``a7`` engine.
    a7: A7Config = field(default_factory=A7Config)
    #: Thresholds of YASA's method (the ``fast`` and ``yasa`` engines).
    fast: FastConfig = field(default_factory=FastConfig)

    def __post_init__(self) -> None:
        _check_method("detection.method", "spindles", self.method)
        _check_stages("detection.stages", self.stages)
        _check_band("detection.band", self.band)
        _check_band("detection.broadband", self.broadband)
        _check_range("detection.duration", self.duration)
        if self.n_jobs == 0 or self.n_jobs < -1:
            raise param_error("detection.n_jobs", "a positive integer or -1", self.n_jobs)
        if not self.block_seconds >= 30:
            raise param_error("detection.block_seconds", "a number of seconds >= 30", self.block_seconds)
        if not self.flat_seconds > 0:
            raise param_error("detection.flat_seconds", "a positive number of seconds", self.flat_seconds)
        if not 0 <= self.min_confidence <= (1 if self.method == "a7" else 0):
            raise param_error("detection.min_confidence", "from 0 to 1 (0 unless the method is a7)", self.min_confidence)
        if self.method == "a7" and self.a7.preset == "reference":
            _published(self)  # the duration


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
        _check_method("slow_oscillations.method", "slow_oscillations", self.method)
        _check_stages("slow_oscillations.stages", self.stages)
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


#: Formats of ``report.format``: a self-contained HTML page, or that page printed to PDF.
REPORT_FORMATS = ("html", "pdf")


@dataclass(frozen=True)
class ReportConfig:
    """The per-recording and cohort reports."""

    #: ``html`` (self-contained page) or ``pdf`` (the same page printed; needs the ``pdf`` extra).
    format: str = "html"

    def __post_init__(self) -> None:
        if self.format not in REPORT_FORMATS:
            raise param_error("report.format", f"one of {REPORT_FORMATS}", self.format)


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
    #: Manifest columns entering the mixed and count models as covariates of the asymmetry.
    model_covariates: tuple[str, ...] = ()
    #: Sign-flip permutations of the whole-scalp cluster test.
    n_cluster_perm: int = 1000

    def __post_init__(self) -> None:
        _check_band("laterality.total_band", self.total_band)
        _check_stages("laterality.sigma_stages", self.sigma_stages)
        for left, right in self.pairs:
            if not left or not right or left == right:
                raise param_error("laterality.pairs", "(left, right) pairs of two distinct channels", (left, right))
        for key in ("n_boot", "n_perm", "n_cluster_perm"):
            if getattr(self, key) < 100:
                raise param_error(f"laterality.{key}", "at least 100 resamples", getattr(self, key))
        if not self.welch_window > 0:
            raise param_error("laterality.welch_window", "a positive number of seconds", self.welch_window)
        if self.min_subjects < 3:
            raise param_error("laterality.min_subjects", "an integer of at least 3", self.min_subjects)


@dataclass(frozen=True)
class BatchConfig:
    """Cohort batch runs: where tasks run (no key here changes an output)."""

    #: Worker processes on this machine (the local pool, or the workers of ``scheduler: local``).
    jobs: int = 1
    #: Dask scheduler address (``tcp://host:port``), ``local`` (a Dask LocalCluster of ``jobs``
    #: workers here) or ``None`` (the local pool).
    scheduler: str | None = None
    #: Dask: resubmissions of a task that raised or, on ``local``, was lost with its worker.
    retries: int = 1
    #: Memory limit of each worker of ``scheduler: local`` (``"4GB"``; ``None``: memory / jobs).
    worker_memory: str | None = None

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise param_error("batch.retries", "an integer >= 0", self.retries)
        # A positive number and an optional unit, as Dask's parse_bytes reads them (Dask not imported here).
        size = r"\s*(?=[0-9.]*[1-9])[0-9]*\.?[0-9]+\s*(b|[kmgtp]i?b?)?\s*"
        if not re.fullmatch(size, self.worker_memory or "1", re.IGNORECASE):
            raise param_error("batch.worker_memory", "a size such as '4GB' or '512MiB', or null", self.worker_memory)


@dataclass(frozen=True)
class Config:
    """All settings of a run."""

    load: LoadConfig = field(default_factory=LoadConfig)
    staging: StagingConfig = field(default_factory=StagingConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    slow_oscillations: SlowOscillationConfig = field(default_factory=SlowOscillationConfig)
    summary: SummaryConfig = field(default_factory=SummaryConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    laterality: LateralityConfig = field(default_factory=LateralityConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)

    def replace(self, section: str, **changes: Any) -> Config:
        """A copy with some keys of one section changed (validated like YAML values).

        A sub-section takes a mapping of its changed keys: ``replace("detection", fast={"thresh_rms": 2})``.
        """
        current = getattr(self, section)
        values = merged(config_to_dict(current), changes)
        return dataclasses.replace(self, **{section: build(type(current), values, section)})


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
        raw[section] = merged(raw.get(section) or {}, values)
    where = f"{path}: " if path is not None else ""
    try:
        return build(Config, raw, "")
    except ConfigError as exc:
        raise ConfigError(f"{where}{exc}") from None
