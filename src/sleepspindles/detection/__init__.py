"""Event detection: one public entry point per event kind, engines behind it.

``detect_spindles`` validates its inputs, runs the engine that ``config.detection.method``
names in the one registry (:data:`sleepspindles.schema.SPINDLE_KIND`, also used by config
validation and the CLI's choices) on the channels that can be measured, and returns the
standard events table (:data:`sleepspindles.schema.SPINDLES`). Engines share one signature::

    engine(recording, hypnogram, cfg) -> DetectionResult

Folders: :mod:`.core` (streaming, kernels), one room per kind (:mod:`.spindles`), and
:mod:`.coverage` (the time each channel can be measured in: every rate's denominator).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..config import Config, DetectionConfig
from ..errors import file_error, param_error
from ..hypnogram import Hypnogram, Stage, parse_stages
from ..recording import Recording
from ..schema import EVENT_KINDS
from ..schema import kind as schema_kind
from .coverage import Coverage, coverage, unmeasurable

__all__ = [
    "DetectionResult",
    "RecordingContext",
    "detect_spindles",
    "run_detection",
    "detect_all",
    "detect_kind",
    "included_mask",
    "check_inputs",
    "searched_stages",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionResult:
    """What detection found and over how much time.

    Attributes
    ----------
    events : pandas.DataFrame
        The kind's events table (possibly empty, never None).
    excluded_seconds : dict of str to float
        Per EEG channel, seconds of the searched stages left out of thresholds and detection
        (NaN samples, flat stretches; all of them for an unmeasurable channel).
    notes : tuple of str
        Human-readable remarks (a skipped channel, a clamped filter edge...).
    coverage : Coverage or None
        Scored and excluded time per channel and stage, and the channels that could not be
        measured at all with the reason: the denominators of every rate. Set by
        :func:`detect_kind` (engines leave it ``None``).
    tables : mapping of str to pandas.DataFrame
        Further tables an engine produces, by name; a table of an earlier kind's events name
        replaces it (a later kind annotating an earlier kind's events), the others are for the
        derived tables' producers.
    extra : mapping of str to object
        Other engine products for the producers (arrays: the coupling surrogates).
    """

    events: pd.DataFrame
    excluded_seconds: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    coverage: Coverage | None = None
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    extra: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordingContext:
    """One recording and what was detected in it: what the derived tables are computed from."""

    recording: Recording
    hypnogram: Hypnogram | None
    config: Config
    detections: Mapping[str, DetectionResult]
    #: What the derived tables' producers compute once and share, filled as they run (the
    #: per-epoch Welch powers of sigma and SWA: :func:`sleepspindles.analysis.epoch_powers.shared_powers`).
    shared: dict = field(default_factory=dict, compare=False, repr=False)


def included_mask(recording: Recording, hypnogram: Hypnogram | None, cfg: DetectionConfig) -> np.ndarray:
    """Boolean per sample: inside the stages searched (everything when there is no hypnogram)."""
    if hypnogram is None:
        return np.ones(recording.n_samples, dtype=bool)
    codes = [int(s) for s in parse_stages(cfg.stages)]
    return np.isin(hypnogram.to_samples(recording.sf, recording.n_samples), codes)


def run_detection(
    recording: Recording, hypnogram: Hypnogram | None = None, config: Config | DetectionConfig | None = None
) -> DetectionResult:
    """Detect spindles on every EEG channel and report what was excluded.

    Parameters
    ----------
    recording : Recording
        Signals in microvolts.
    hypnogram : Hypnogram, optional
        Stages aligned to ``recording``; ``None`` searches the whole recording.
    config : Config or DetectionConfig, optional
        Detection settings; defaults when ``None``.

    Returns
    -------
    DetectionResult
    """
    if isinstance(config, DetectionConfig):
        config = Config(detection=config)
    return detect_kind("spindles", recording, hypnogram, config or Config())


def detect_all(recording: Recording, hypnogram: Hypnogram | None, config: Config) -> dict[str, DetectionResult]:
    """Every event kind the config enables, in declaration order (a kind sees the earlier ones).

    An engine's table named like an earlier kind's events replaces those events: the
    slow-oscillation engine returns the spindles with ``so_coupled`` and ``so_phase`` filled in.
    """
    check_inputs(recording, hypnogram)
    bad = unmeasurable(recording)
    covered = coverage(recording, hypnogram, config.detection.flat_seconds, bad)
    found: dict[str, DetectionResult] = {}
    for kind in EVENT_KINDS:
        if getattr(getattr(config, kind.config_section), "enabled", True):
            found[kind.name] = detect_kind(kind.name, recording, hypnogram, config, found, covered)
            for earlier in [k for k in EVENT_KINDS if k.name in found and k.events.name in found[kind.name].tables]:
                # a later kind annotates an earlier kind's events (spindles with their SO phase)
                found[earlier.name] = replace(found[earlier.name], events=found[kind.name].tables[earlier.events.name])
    return found


def detect_kind(
    name: str,
    recording: Recording,
    hypnogram: Hypnogram | None,
    config: Config,
    previous: Mapping[str, DetectionResult] | None = None,
    covered: Coverage | None = None,
) -> DetectionResult:
    """Run the configured engine of event kind ``name`` on the channels that can be measured.

    Parameters
    ----------
    name : str
        The event kind (``"spindles"``).
    recording, hypnogram, config
        The recording, its stages (``None``: the whole recording) and the settings; the kind's
        config section (``kind.config_section``) names the engine.
    previous : mapping of str to DetectionResult, optional
        Earlier kinds' results: an engine of a kind that uses them (``kind.uses``) receives
        them, with the whole config, as a :class:`RecordingContext` (``detect(..., context)``).
    covered : Coverage, optional
        The recording's coverage, when already computed (:func:`detect_all`).

    Raises
    ------
    DataError
        When no EEG channel can be measured (each with its reason).
    """
    check_inputs(recording, hypnogram)
    kind = schema_kind(name)
    cfg = getattr(config, kind.config_section)
    engine = kind.engine(cfg.method).load()  # the config has checked the name
    bad = covered.unmeasurable if covered is not None else unmeasurable(recording)
    usable = [c for c in recording.eeg_channels if c not in bad]
    if not usable:
        listed = "; ".join(f"{c}: {r}" for c, r in bad.items()) or "none in the recording"
        raise file_error(recording.source, f"no EEG channel can be measured ({listed})")
    covered = covered or coverage(recording, hypnogram, config.detection.flat_seconds, bad)
    eeg = recording.pick(usable)
    if kind.uses:  # the engine sees the earlier kinds' results (and the whole config)
        used = {k: v for k, v in (previous or {}).items() if k in kind.uses}
        result = engine(eeg, hypnogram, cfg, RecordingContext(eeg, hypnogram, config, used))
    else:
        result = engine(eeg, hypnogram, cfg)
    searched = searched_stages(hypnogram, cfg)
    excluded = {c: covered.minutes(c, searched)[1] * 60.0 for c in (*usable, *bad)}
    notes = [f"channel {c} not measured: {r}" for c, r in bad.items()] + list(result.notes)
    for note in notes:
        logger.info("%s", note)
    return replace(result, excluded_seconds=excluded, notes=tuple(notes), coverage=covered)


def searched_stages(hypnogram: Hypnogram | None, cfg) -> list[str]:
    """Names of the stages searched: ``cfg.stages``, or ``["UNSCORED"]`` without a hypnogram."""
    return [s.name for s in parse_stages(cfg.stages)] if hypnogram is not None else [Stage.UNSCORED.name]


def check_inputs(recording: Recording, hypnogram: Hypnogram | None) -> None:
    """Refuse what is not a Recording with an EEG channel, or a hypnogram that is not one."""
    if not isinstance(recording, Recording):
        raise param_error("recording", "a sleepspindles.Recording", type(recording).__name__)
    if hypnogram is not None and not isinstance(hypnogram, Hypnogram):
        raise param_error("hypnogram", "a sleepspindles.Hypnogram or None", type(hypnogram).__name__)
    if not recording.eeg_channels and not recording.dropped:
        raise param_error("recording", "a recording with at least one EEG channel", recording.channels)
    if hypnogram is not None and not hypnogram.matches(recording.duration):
        # The loader refuses these; a hand-built pair must not silently lose or misplace stages.
        raise param_error("hypnogram", f"stages of the same night, ending within one epoch of the recording's "
                          f"end ({recording.duration:g} s)",
                          f"{hypnogram.n_epochs} epochs of {hypnogram.epoch_length:g} s from {hypnogram.offset:g} s")


def detect_spindles(
    recording: Recording, hypnogram: Hypnogram | None = None, config: Config | DetectionConfig | None = None
) -> pd.DataFrame:
    """Detect sleep spindles on every EEG channel of ``recording``.

    Parameters
    ----------
    recording : Recording
        Signals in microvolts.
    hypnogram : Hypnogram, optional
        Stages aligned to ``recording``; only ``config.detection.stages`` are searched. ``None``
        searches the whole recording (events then have stage ``"UNSCORED"``).
    config : Config or DetectionConfig, optional
        Detection settings; defaults when ``None``.

    Returns
    -------
    pandas.DataFrame
        The standard events table (:data:`sleepspindles.schema.SPINDLES`), one row per
        spindle, empty (never None) when nothing is found.
    """
    return run_detection(recording, hypnogram, config).events
