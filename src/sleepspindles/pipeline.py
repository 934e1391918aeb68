"""One recording end to end: path -> Recording -> Hypnogram -> events -> summary and sigma power.

This module computes; it reads through :mod:`sleepspindles.io` and writes nothing (see
:mod:`sleepspindles.output`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .analysis.laterality import sigma_table
from .analysis.summary import summarize
from .config import Config
from .detection import DetectionResult, run_detection
from .hypnogram import Hypnogram
from .provenance import run_metadata
from .recording import Recording
from .staging import stage

__all__ = ["RecordingResult", "process_recording", "analyse_recording"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordingResult:
    """Everything computed for one recording.

    Attributes
    ----------
    recording : Recording
    hypnogram : Hypnogram or None
        Stages used (scored or automatic); ``None`` when the whole recording was searched.
    detection : DetectionResult
        Events plus excluded time and engine notes.
    summary : pandas.DataFrame
        Per channel x stage x band aggregates (:data:`sleepspindles.schema.SPINDLE_SUMMARY`).
    sigma : pandas.DataFrame
        Sigma power per EEG channel x band over the ``laterality.sigma_stages`` epochs
        (:func:`sleepspindles.analysis.laterality.sigma_table`); empty when not staged.
    config : Config
    metadata : dict
        The provenance written to ``run.json``.
    """

    recording: Recording
    hypnogram: Hypnogram | None
    detection: DetectionResult
    summary: pd.DataFrame
    sigma: pd.DataFrame
    config: Config
    metadata: dict

    @property
    def events(self) -> pd.DataFrame:
        """The events table."""
        return self.detection.events


def analyse_recording(
    recording: Recording, config: Config | None = None, *, staging: bool = True, **extra: Any
) -> RecordingResult:
    """Stage (or take the scored hypnogram), detect, summarise and measure sigma power.

    Parameters
    ----------
    recording : Recording
    config : Config, optional
    staging : bool
        ``False`` skips staging and searches the whole recording.
    **extra
        Additional provenance entries for ``run.json`` (input checksum...).
    """
    config = config or Config()
    hypnogram = stage(recording, config) if staging else None
    detection = run_detection(recording, hypnogram, config)
    summary = summarize(detection.events, hypnogram, recording, config, coverage=detection.coverage)
    sigma = sigma_table(recording, hypnogram, config, skip=list(detection.coverage.unmeasurable))
    metadata = run_metadata(
        config,
        **extra,
        recording={
            "source": recording.source,
            "sf": recording.sf,
            "duration_seconds": recording.duration,
            "channels": list(recording.channels),
            "original_names": list(recording.original_names),
            "references": list(recording.references),
            "kinds": list(recording.kinds),
            "start_time": recording.start_time,
            "reference_mode": config.load.reference,
            "dropped_channels": {d.channel: d.reason for d in recording.dropped},
        },
        staging={
            "source": hypnogram.source if hypnogram is not None else "none",
            "path": hypnogram.path if hypnogram is not None else None,
            "epoch_length": hypnogram.epoch_length if hypnogram is not None else None,
            "stage_minutes": hypnogram.stage_minutes() if hypnogram is not None else None,
        },
        detection={
            "method": config.detection.method,
            "n_events": int(len(detection.events)),
            "excluded_seconds": detection.excluded_seconds,
            "unmeasurable_channels": detection.coverage.unmeasurable,
            "notes": list(detection.notes),
        },
    )
    logger.info("%d spindles on %d channels", len(detection.events), len(recording.eeg_channels))
    return RecordingResult(recording=recording, hypnogram=hypnogram, detection=detection, summary=summary,
                           sigma=sigma, config=config, metadata=metadata)


def process_recording(
    path: str | Path,
    hypnogram: str | Path | None = None,
    config: Config | None = None,
    *,
    staging: bool = True,
) -> RecordingResult:
    """Load ``path`` (and its hypnogram), stage, detect, summarise and measure sigma power.

    Parameters
    ----------
    path : str or Path
        EDF, EDF+ or BDF file.
    hypnogram : str or Path, optional
        Hypnogram file; ``None`` uses stage annotations inside the EDF+ when present, and
        automatic staging otherwise.
    config : Config, optional
    staging : bool
        ``False`` searches the whole recording without staging.

    Returns
    -------
    RecordingResult
    """
    from .io import load_recording
    from .io.checksum import sha256_file

    config = config or Config()
    load = config.load
    recording = load_recording(
        path,
        hypnogram=hypnogram,
        channels=list(load.channels) or None,
        reference=load.reference,
        resample=load.resample,
        longest_segment=load.longest_segment,
        hypnogram_scheme=load.hypnogram_scheme,
    )
    inputs = {"recording": {"path": str(path), "sha256": sha256_file(path)}}
    if hypnogram is not None:
        inputs["hypnogram"] = {"path": str(hypnogram), "sha256": sha256_file(hypnogram)}
    return analyse_recording(recording, config, staging=staging, inputs=inputs)
