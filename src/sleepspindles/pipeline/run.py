"""One recording end to end: path -> Recording -> Hypnogram -> events of every kind -> tables.

The tables are those :mod:`sleepspindles.schema` declares (:data:`~sleepspindles.schema.RUN_TABLES`):
each event kind's events, then every derived table whose kinds were detected, computed by its
declared producer. This module computes; it reads through :mod:`sleepspindles.io` and writes
nothing (see :mod:`sleepspindles.output`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..config import Config, config_to_dict
from ..detection import DetectionResult, RecordingContext, detect_all
from ..hypnogram import Hypnogram
from ..recording import Recording
from ..records import DetectionInfo, InputFile, RecordingInfo, RunRecord, StagingInfo, now, package_versions
from ..schema import EVENT_KINDS, RUN_TABLES, SIGMA, SPINDLE_SUMMARY, SPINDLES, TableSchema, resolve
from ..schema import kind as event_kind
from ..staging import stage

__all__ = ["RecordingResult", "process_recording", "analyse_recording", "run_tables", "expected_tables"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordingResult:
    """Everything computed for one recording.

    Attributes
    ----------
    recording : Recording
    hypnogram : Hypnogram or None
        Stages used (scored or automatic); ``None`` when the whole recording was searched.
    detections : mapping of str to DetectionResult
        Per event kind: events, excluded time, coverage and engine notes.
    tables : mapping of str to pandas.DataFrame
        Every table produced, by schema name, in :data:`~sleepspindles.schema.RUN_TABLES` order.
    config : Config
    record : RunRecord
        What ``run.json`` holds.
    """

    recording: Recording
    hypnogram: Hypnogram | None
    detections: Mapping[str, DetectionResult]
    tables: Mapping[str, pd.DataFrame]
    config: Config
    record: RunRecord

    @property
    def detection(self) -> DetectionResult:
        """The spindle detection."""
        return self.detections["spindles"]

    @property
    def events(self) -> pd.DataFrame:
        """The spindle events table."""
        return self.tables[SPINDLES.name]

    @property
    def summary(self) -> pd.DataFrame:
        """The spindle summary (:data:`~sleepspindles.schema.SPINDLE_SUMMARY`)."""
        return self.tables[SPINDLE_SUMMARY.name]

    @property
    def sigma(self) -> pd.DataFrame:
        """Sigma power per channel and band (:data:`~sleepspindles.schema.SIGMA`)."""
        return self.tables.get(SIGMA.name, SIGMA.empty())

    @property
    def metadata(self) -> dict:
        """The ``run.json`` form of :attr:`record`."""
        return self.record.to_json()


def expected_tables(config: Config) -> tuple[TableSchema, ...]:
    """The tables a recording's folder holds under ``config``: its kinds' events, their derived tables."""
    kinds = {k.name for k in EVENT_KINDS if getattr(getattr(config, k.config_section), "enabled", True)}
    names = {event_kind(k).events.name for k in kinds}
    return tuple(t for t in RUN_TABLES if t.name in names or (t.producer and set(t.requires) <= kinds))


def run_tables(context: RecordingContext) -> dict[str, pd.DataFrame]:
    """The declared tables of one recording: events of each kind, then the derived tables.

    A derived table is computed by its schema's producer when every kind it requires was
    detected.
    """
    tables: dict[str, pd.DataFrame] = {}
    for name, found in context.detections.items():
        tables[event_kind(name).events.name] = found.events
    for schema in RUN_TABLES:
        if schema.producer and set(schema.requires) <= set(context.detections):
            tables[schema.name] = schema.conform(resolve(schema.producer)(context))
    return {s.name: s.conform(tables[s.name]) for s in RUN_TABLES if s.name in tables}


def _record(context: RecordingContext, inputs: Mapping[str, InputFile]) -> RunRecord:
    """The run record of a computed recording."""
    rec, hyp, config = context.recording, context.hypnogram, context.config
    start = rec.start_time.isoformat() if rec.start_time is not None else None
    info = RecordingInfo(
        source=rec.source, sf=rec.sf, duration_seconds=rec.duration, channels=rec.channels,
        original_names=rec.original_names, references=rec.references, kinds=rec.kinds, start_time=start,
        reference_mode=config.load.reference, dropped_channels={d.channel: d.reason for d in rec.dropped},
        segment_offset_seconds=rec.segment_offset, discarded_seconds=rec.discarded_seconds,
    )  # fmt: skip
    staging = StagingInfo() if hyp is None else StagingInfo(hyp.source, hyp.path, hyp.epoch_length,
                                                            hyp.stage_minutes())
    detection = {
        name: DetectionInfo(
            method=getattr(config, event_kind(name).config_section).method, n_events=len(found.events),
            excluded_seconds=found.excluded_seconds, unmeasurable_channels=dict(found.coverage.unmeasurable),
            notes=found.notes,
        )  # fmt: skip
        for name, found in context.detections.items()
    }
    return RunRecord(created=now(), versions=package_versions(), config=config_to_dict(config), recording=info,
                     staging=staging, detection=detection, inputs=dict(inputs))


def analyse_recording(
    recording: Recording,
    config: Config | None = None,
    *,
    staging: bool = True,
    inputs: Mapping[str, InputFile] | None = None,
) -> RecordingResult:
    """Stage (or take the scored hypnogram), detect every enabled event kind, compute the tables.

    Parameters
    ----------
    recording : Recording
    config : Config, optional
    staging : bool
        ``False`` skips staging and searches the whole recording.
    inputs : mapping of str to InputFile, optional
        The files the recording came from, with their checksums (for ``run.json``).
    """
    config = config or Config()
    hypnogram = stage(recording, config) if staging else None
    context = RecordingContext(recording, hypnogram, config, detect_all(recording, hypnogram, config))
    tables = run_tables(context)
    for name, found in context.detections.items():
        logger.info("%d %s on %d channels", len(found.events), name, len(recording.eeg_channels))
    return RecordingResult(recording=recording, hypnogram=hypnogram, detections=context.detections, tables=tables,
                           config=config, record=_record(context, inputs or {}))


def process_recording(
    path: str | Path,
    hypnogram: str | Path | None = None,
    config: Config | None = None,
    *,
    staging: bool = True,
) -> RecordingResult:
    """Load ``path`` (and its hypnogram), stage, detect and compute every table.

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
    from ..io import load_recording
    from ..io.checksum import input_file

    config = config or Config()
    recording = load_recording(path, hypnogram=hypnogram, **config.load.loader_options())
    inputs = {"recording": input_file(path)}
    if hypnogram is not None:
        inputs["hypnogram"] = input_file(hypnogram)
    return analyse_recording(recording, config, staging=staging, inputs=inputs)
