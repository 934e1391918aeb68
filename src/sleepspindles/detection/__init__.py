"""Spindle detection: one public entry point, several engines behind it.

``detect_spindles`` validates its inputs, picks the engine named by ``config.detection.method``
and returns the standard events table (:mod:`sleepspindles.events`). Engines share one signature::

    engine(recording, hypnogram, cfg: DetectionConfig) -> DetectionResult
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import pandas as pd

from ..config import Config, DetectionConfig
from ..errors import param_error
from ..hypnogram import Hypnogram, Stage, parse_stages
from ..recording import Recording

__all__ = ["DetectionResult", "detect_spindles", "run_detection", "included_mask"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DetectionResult:
    """What an engine returns.

    Attributes
    ----------
    events : pandas.DataFrame
        Standard events table (possibly empty, never None).
    excluded_seconds : dict of str to float
        Per channel, seconds of the searched stages left out of thresholds and detection
        (NaN samples, flat stretches, whole flat channels).
    notes : tuple of str
        Human-readable remarks (a skipped channel, a clamped filter edge...).
    """

    events: pd.DataFrame
    excluded_seconds: dict = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def included_mask(recording: Recording, hypnogram: Hypnogram | None, cfg: DetectionConfig) -> np.ndarray:
    """Boolean per sample: inside the stages searched (everything when there is no hypnogram)."""
    if hypnogram is None:
        return np.ones(recording.n_samples, dtype=bool)
    codes = [int(s) for s in parse_stages(cfg.stages)]
    return np.isin(hypnogram.to_samples(recording.sf, recording.n_samples), codes)


def _engines() -> dict[str, Callable[..., DetectionResult]]:
    # Imported lazily so that importing the package does not import yasa or compile kernels.
    from . import yasa_ref

    engines = {"yasa": yasa_ref.detect}
    try:
        from . import fast
    except ImportError:  # the fast engine is optional while it is being built
        return engines
    engines["fast"] = fast.detect
    from . import a7

    engines["a7"] = a7.detect
    return engines


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
    if not isinstance(recording, Recording):
        raise param_error("recording", "a sleepspindles.Recording", type(recording).__name__)
    if hypnogram is not None and not isinstance(hypnogram, Hypnogram):
        raise param_error("hypnogram", "a sleepspindles.Hypnogram or None", type(hypnogram).__name__)
    cfg = config.detection if isinstance(config, Config) else (config or DetectionConfig())
    engines = _engines()
    if cfg.method not in engines:
        raise param_error("detection.method", f"one of {sorted(engines)}", cfg.method)
    eeg = recording.pick(recording.eeg_channels) if recording.eeg_channels else None
    if eeg is None:
        raise param_error("recording", "a recording with at least one EEG channel", recording.channels)
    result = engines[cfg.method](eeg, hypnogram, cfg)
    for note in result.notes:
        logger.info("%s", note)
    return result


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
        The standard events table (:data:`sleepspindles.events.EVENT_COLUMNS`), one row per
        spindle, empty (never None) when nothing is found.
    """
    return run_detection(recording, hypnogram, config).events


def stage_names(codes: np.ndarray) -> np.ndarray:
    """Stage names for integer stage codes."""
    lookup = {int(s): s.name for s in Stage}
    return np.array([lookup[int(c)] for c in codes], dtype=object)
