"""Write results as a BIDS derivative dataset: ``<bids_out>/derivatives/sleepspindles/``.

Layout (BIDS 1.9 derivatives; every TSV with a JSON sidecar describing each of its columns)::

    derivatives/sleepspindles/
        dataset_description.json       DatasetType "derivative", GeneratedBy (name, version, config), HEDVersion
        sub-01/ses-1/eeg/
            sub-01_ses-1_task-sleep_desc-spindles_events.tsv          onset, duration, trial_type, channel, sample, ...
            sub-01_ses-1_task-sleep_desc-slowoscillations_events.tsv  (when SOs were detected)
            sub-01_ses-1_task-sleep_desc-spindles_summary.tsv         summary.csv
            sub-01_ses-1_task-sleep_desc-laterality_summary.tsv       the recording's laterality.csv rows
            ... one _desc-<table>_summary.tsv per other table of the run (sigma, swa, coupling...)

Events files start with ``onset`` and ``duration`` (seconds, from the recording start),
``trial_type`` (``spindle`` or ``slow_oscillation``), ``channel`` and ``sample`` (the onset's sample
index), then our event columns (:mod:`sleepspindles.schema`) except ``start`` (= onset). Empty
cells are ``n/a``. Sidecars give each column's ``Description``, ``Units`` (CMIXF: ``s``, ``uV``,
``Hz``...) and ``Levels`` for categorical columns, and HED tags from the HED-SCORE library
(``sc:``, score 2.1.0 with standard 8.4.0): ``sc:Sleep-spindles`` for a spindle,
``sc:Sleep-stage-N1/N2/N3/REM`` for the stage levels (``Awake`` from the standard schema for W),
``sc:Sensor-list/#`` for the channel, ``sc:Feature-frequency/# Hz`` and
``sc:Feature-amplitude/# uV`` for frequency and amplitude. SCORE has no slow-oscillation
graphoelement: a slow oscillation is tagged ``sc:Delta-activity`` (rhythmic activity under
4 Hz) with a ``Description``; K-complex is not used because a detected SO need not be one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import DataError, param_error
from ..hypnogram import Stage
from ..schema import EVENT_KINDS, LATERALITY, RUN_TABLES, TableSchema
from .files import write_json, write_text

__all__ = ["PIPELINE", "BIDS_VERSION", "HED_VERSION", "DerivativeRecording", "bids_entities", "bids_prefix",
           "events_tsv", "write_bids_derivatives"]

#: Name of the pipeline folder under ``derivatives/``.
PIPELINE = "sleepspindles"
BIDS_VERSION = "1.9.0"
#: The HED schemas the sidecars' tags come from: the standard schema and the SCORE library as ``sc:``.
HED_VERSION = ["8.4.0", "sc:score_2.1.0"]
_ENTITIES = (("sub", "subject"), ("ses", "session"), ("task", "task"), ("acq", "acquisition"), ("run", "run"))
_LABEL = re.compile(r"[A-Za-z0-9]+")
# The names this module gives a recording's files after its entities (see _recording_files).
_OWNED = re.compile(r"_desc-[A-Za-z0-9]+_(events|summary)\.(tsv|json)")
# Per event kind: trial_type value, desc label, what it is, its HED tag.
_KIND_TAGS = {
    "spindles": ("spindle", "spindles", "Sleep spindle: an 11-16 Hz burst of 0.5-2.5 s", "sc:Sleep-spindles"),
    "slow_oscillations": ("slow_oscillation", "slowoscillations",
                          "Slow oscillation: a 0.5-1.25 Hz wave of large amplitude (down-state, then up-state)",
                          "sc:Delta-activity"),
}
_STAGE_HED = {"W": "Awake", "N1": "sc:Sleep-stage-N1", "N2": "sc:Sleep-stage-N2", "N3": "sc:Sleep-stage-N3",
              "REM": "sc:Sleep-stage-REM"}
_STAGE_TEXT = {"W": "wake", "N1": "NREM stage 1", "N2": "NREM stage 2", "N3": "NREM stage 3", "REM": "REM sleep",
               "ARTEFACT": "artefact or movement", "UNSCORED": "not scored (or no staging)"}
_LEVELS = {
    "band": {"all": "every spindle", "fast": "spindles at or above summary.fast_threshold",
             "slow": "spindles below it"},
    "so_coupled": {"True": "peak inside a slow oscillation of its channel", "False": "peak outside every one"},
    "role": {"motor": "the motor pair (first configured pair present)", "control": "another configured pair",
             "scalp": "a homologous pair found from the electrode positions"},
    "trained_hand": {"left": "left hand trained", "right": "right hand trained"},
}
_VALUE_HED = {"channel": "sc:Sensor-list/#", "frequency": "sc:Feature-frequency/# Hz",
              "amplitude": "sc:Feature-amplitude/# uV"}
# Columns written before our own in an events file.
_LEADING = {
    "onset": {"Description": "Onset of the event, from the recording's first sample (our 'start')", "Units": "s"},
    "duration": {"Description": "Duration of the event (end - start)", "Units": "s"},
    "trial_type": {"Description": "Kind of event"},
    "channel": {"Description": "Channel the event was detected on (canonical name, as in the _channels.tsv of "
                               "the raw data when the input was BIDS)"},
    "sample": {"Description": "Onset as a sample index, first sample 0 (round(onset x sampling rate))"},
}


def bids_entities(subject: str, night: str, task: str = "sleep") -> dict[str, str]:
    """Entities of a recording that came from no BIDS dataset: ``subject``, ``session`` = night, ``task``.

    Labels keep only letters and digits (``s_01`` -> ``s01``; a ``sub-``/``ses-`` prefix is dropped).

    Raises
    ------
    DataError
        When nothing is left of a label.
    """
    def label(value: str, prefix: str) -> str:
        value = str(value).strip()
        return "".join(_LABEL.findall(value[len(prefix):] if value.startswith(prefix) else value))

    entities = {"subject": label(subject, "sub-"), "session": label(night, "ses-"), "task": label(task, "task-")}
    empty = [k for k, v in entities.items() if not v]
    if empty:
        raise DataError(f"subject {subject!r}, night {night!r}, task {task!r}: no letter or digit left for the "
                        f"BIDS {', '.join(empty)} label")
    return entities


def bids_prefix(entities: Mapping[str, str]) -> str:
    """``sub-01_ses-1_task-sleep[_acq-x][_run-1]`` from the entities (``subject`` and ``task`` required)."""
    for key in ("subject", "task"):
        if not entities.get(key) or not _LABEL.fullmatch(str(entities[key])):
            raise param_error(f"entities['{key}']", "an alphanumeric BIDS label", entities.get(key))
    return "_".join(f"{short}-{entities[long]}" for short, long in _ENTITIES if entities.get(long))


@dataclass(frozen=True)
class DerivativeRecording:
    """One recording's results to write as BIDS derivatives.

    Attributes
    ----------
    entities : mapping of str to str
        ``subject``, ``task`` and optionally ``session``, ``acquisition``, ``run`` (labels).
    tables : mapping of str to pandas.DataFrame
        The run folder's tables by schema name (:class:`sleepspindles.io.results.RunTables`).
    sf : float
        Sampling rate of the analysed signal (for the ``sample`` column).
    laterality : pandas.DataFrame
        This recording's rows of ``laterality.csv`` (empty when not lateralised).
    """

    entities: Mapping[str, str]
    tables: Mapping[str, pd.DataFrame]
    sf: float
    laterality: pd.DataFrame = field(default_factory=pd.DataFrame)


def _cell_text(frame: pd.DataFrame) -> pd.DataFrame:
    """Every cell as BIDS TSV text: missing values (NaN, NA, empty text) as ``n/a``."""
    out = frame.astype(object).where(frame.notna(), "n/a")
    return out.replace({"": "n/a"})


def _tsv(frame: pd.DataFrame) -> str:
    return _cell_text(frame).to_csv(sep="\t", index=False, lineterminator="\n")


def events_tsv(kind_name: str, events: pd.DataFrame, sf: float) -> pd.DataFrame:
    """A BIDS events table from one of our events tables (see the module docstring for the columns)."""
    trial_type = _KIND_TAGS[kind_name][0]
    start = events["start"].to_numpy(np.float64)
    lead = pd.DataFrame({"onset": start, "duration": events["end"].to_numpy(np.float64) - start,
                         "trial_type": trial_type, "channel": events["channel"].astype(str).to_numpy(),
                         "sample": np.rint(start * sf).astype(np.int64)})
    rest = events.drop(columns=[c for c in ("start", "duration", "channel") if c in events.columns])
    return pd.concat([lead, rest.reset_index(drop=True)], axis=1)


def _column_doc(col) -> dict[str, Any]:
    doc: dict[str, Any] = {"Description": col.description or col.name.replace("_", " ")}
    if col.unit not in ("-", "", "measure's"):
        doc["Units"] = col.unit
    elif col.unit == "measure's":
        doc["Description"] += " (in the unit of the measure named in 'measure')"
    return doc


def _sidecar(schema: TableSchema, columns: Sequence[str], kind_name: str | None = None) -> dict[str, Any]:
    """JSON sidecar describing every column of a TSV written from ``schema`` (plus the leading BIDS columns)."""
    docs = {c.name: _column_doc(c) for c in schema.columns}
    out: dict[str, Any] = {}
    for name in columns:
        doc = dict(_LEADING[name]) if kind_name is not None and name in _LEADING else dict(docs[name])
        if name == "stage" and kind_name is not None:  # a summary's stage may be a union (N2+N3)
            doc["Levels"] = {s.name: _STAGE_TEXT[s.name] for s in Stage}
            doc["HED"] = dict(_STAGE_HED)
        elif name == "trial_type" and kind_name is not None:
            value, _, text, tag = _KIND_TAGS[kind_name]
            doc["Levels"] = {value: text}
            doc["HED"] = {value: tag}
        elif name in _LEVELS:
            doc["Levels"] = dict(_LEVELS[name])
        if kind_name is not None and name in _VALUE_HED:
            doc["HED"] = _VALUE_HED[name]
        out[name] = doc
    return out


def _write_pair(folder: Path, stem: str, frame: pd.DataFrame, sidecar: Mapping[str, Any]) -> list[Path]:
    return [write_text(folder / f"{stem}.tsv", _tsv(frame)), write_json(folder / f"{stem}.json", sidecar)]


def _recording_files(base: Path, rec: DerivativeRecording) -> list[Path]:
    prefix = bids_prefix(rec.entities)
    folder = base / f"sub-{rec.entities['subject']}"
    if rec.entities.get("session"):
        folder = folder / f"ses-{rec.entities['session']}"
    folder = folder / "eeg"
    files: list[Path] = []
    for kind in EVENT_KINDS:
        if kind.events.name not in rec.tables:
            continue
        frame = events_tsv(kind.name, rec.tables[kind.events.name], rec.sf)
        stem = f"{prefix}_desc-{_KIND_TAGS[kind.name][1]}_events"
        files += _write_pair(folder, stem, frame, _sidecar(kind.events, frame.columns, kind.name))
    event_tables = {k.events.name for k in EVENT_KINDS}
    for schema in RUN_TABLES:
        if schema.name in rec.tables and schema.name not in event_tables:
            desc = {"spindle_summary": "spindles", "so_summary": "slowoscillations"}.get(
                schema.name, "".join(_LABEL.findall(schema.name)))
            frame = rec.tables[schema.name]
            files += _write_pair(folder, f"{prefix}_desc-{desc}_summary", frame, _sidecar(schema, frame.columns))
    if len(rec.laterality):
        frame = LATERALITY.conform(rec.laterality)
        files += _write_pair(folder, f"{prefix}_desc-laterality_summary", frame, _sidecar(LATERALITY, frame.columns))
    # This recording's files of an earlier write that this one did not make (SOs since switched
    # off, a table no longer produced) would contradict the new ones.
    for stale in set(folder.glob(f"{prefix}_desc-*")) - set(files):
        if _OWNED.fullmatch(stale.name[len(prefix):]):
            stale.unlink(missing_ok=True)
    return files


def write_bids_derivatives(bids_out: str | Path, recordings: Sequence[DerivativeRecording], *, version: str,
                           config: Mapping[str, Any], source: str | None = None) -> dict[str, Path]:
    """Write ``<bids_out>/derivatives/sleepspindles/``: the dataset description and every recording's files.

    Parameters
    ----------
    bids_out : str or Path
        Folder to hold ``derivatives/`` (a BIDS root, or any folder).
    recordings : sequence of DerivativeRecording
    version : str
        sleepspindles version (``GeneratedBy``).
    config : mapping
        The configuration the results were computed with (``GeneratedBy[0].Config``).
    source : str, optional
        The source BIDS dataset (``SourceDatasets``, as a ``file://`` URL).

    Returns
    -------
    dict of str to Path
        ``dataset_description`` and every file written, by path relative to the pipeline folder.

    Raises
    ------
    DataError
        When two recordings have the same entities (their files would collide).
    """
    base = Path(bids_out) / "derivatives" / PIPELINE
    seen: dict[str, int] = {}
    for i, rec in enumerate(recordings):
        prefix = bids_prefix(rec.entities)
        if prefix in seen:
            raise DataError(f"recordings {seen[prefix] + 1} and {i + 1} would both be written as {prefix}: give them "
                            "distinct subject/session labels")
        seen[prefix] = i
    description: dict[str, Any] = {
        "Name": "sleepspindles: sleep spindles, slow oscillations and their lateralisation",
        "BIDSVersion": BIDS_VERSION,
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": PIPELINE, "Version": version,
                         "Description": "Spindle and slow-oscillation detection per EEG channel, summaries and "
                                        "contralateral/ipsilateral laterality; Config is the full configuration",
                         "Config": dict(config)}],
        "HEDVersion": list(HED_VERSION),
    }
    if source is not None:
        description["SourceDatasets"] = [{"URL": Path(source).resolve().as_uri()}]
    files = {"dataset_description": write_json(base / "dataset_description.json", description)}
    for rec in recordings:
        for path in _recording_files(base, rec):
            files[str(path.relative_to(base))] = path
    return files
