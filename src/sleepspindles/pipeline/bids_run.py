"""BIDS in and out, and review export: the glue the command line calls.

* :func:`cohort_source`: what ``batch``/``cohort`` take in place of a manifest path: a
  :class:`~sleepspindles.io.bids.BidsSource` when the path is a BIDS root (with the
  ``--subjects/--sessions/--task`` filters), else the path (a manifest CSV). Batch and cohort
  runs read either through :func:`sleepspindles.io.manifest.read_manifest`.
* :func:`write_derivatives`: a finished ``run``, ``batch`` or ``cohort`` folder (its run folders
  and ``status.csv``, read back from disk, so it works for manifest runs too) written as
  ``<bids_out>/derivatives/sleepspindles/`` (:mod:`sleepspindles.output.bids`).
* :func:`export_run`: ``sleepspindles export RUN_DIR --to edf|fif|csv [--from FILE]``: the
  detections beside the signal for review (:mod:`sleepspindles.output.review`), or a
  reviewer's annotations read back (:mod:`sleepspindles.io.annotations`) into events tables
  that ``sleepspindles evaluate`` scores.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .. import output
from ..config import Config, load_config
from ..errors import DataError, file_error, param_error
from ..io.bids import BidsColumns, BidsSource, is_bids_root
from ..io.results import RunTables, read_run_tables, read_status
from ..output.bids import DerivativeRecording, bids_entities, write_bids_derivatives
from ..output.review import REVIEW_FORMATS, write_review, write_review_csv
from ..schema import EVENT_KINDS

__all__ = ["cohort_source", "write_derivatives", "export_run", "review_file", "REVIEWED_FILES", "add_bids_arguments",
           "bids_options", "bids_output"]

logger = logging.getLogger(__name__)

#: Files ``export --from FILE --to csv`` writes into the run folder, by event kind.
REVIEWED_FILES = {k.name: f"reviewed_{k.events.file}" for k in EVENT_KINDS}


def cohort_source(path: str | Path, *, subjects: Sequence[str] = (), sessions: Sequence[str] = (),
                  task: str | None = None, columns: BidsColumns | None = None,
                  hypnograms: str | None = None):
    """A manifest path, or a :class:`BidsSource` when ``path`` is a BIDS root folder.

    Raises
    ------
    ConfigError
        When BIDS filters are given for a manifest CSV.
    """
    if is_bids_root(path):
        return BidsSource(str(path), tuple(subjects), tuple(sessions), task, columns or BidsColumns(), hypnograms)
    if subjects or sessions or task is not None or hypnograms is not None:
        raise param_error("manifest", "a BIDS root folder when --subjects, --sessions, --task or --hypnograms is "
                          "given", str(path))
    return Path(path)


# ----------------------------------------------------------------------------- BIDS derivatives


def _entities_by_row(source) -> dict[int, dict[str, str]]:
    """Manifest row -> BIDS entities, when the rows came from a BIDS dataset."""
    if source is None or not (isinstance(source, BidsSource) or is_bids_root(source)):
        return {}
    from ..io.manifest import read_manifest

    return {r.row: dict(r.bids) for r in read_manifest(source).rows}


def _recording(stored: RunTables, entities: Mapping[str, str], laterality: pd.DataFrame | None) -> DerivativeRecording:
    rec = stored.record
    rows = pd.DataFrame()
    if laterality is not None and len(laterality):
        rows = laterality[(laterality["subject"] == rec.subject) & (laterality["night"] == rec.night)]
    return DerivativeRecording(entities=entities, tables=stored.tables, sf=rec.recording.sf, laterality=rows)


def _run_entities(rec, task: str) -> dict[str, str]:
    """Entities of a single run: the file's own when it is named like BIDS, else from subject/night or the file name."""
    name = Path(rec.inputs["recording"].path).name if "recording" in rec.inputs else ""
    if name.startswith("sub-"):
        from mne_bids import get_entities_from_fname

        found = get_entities_from_fname(name, on_error="ignore")
        entities = {k: found[k] for k in ("subject", "session", "task", "acquisition", "run") if found.get(k)}
        if entities.get("subject") and entities.get("task"):
            return entities
    return bids_entities(rec.subject or Path(name).stem or "01", rec.night or "1", task)


def write_derivatives(out_dir: str | Path, bids_out: str | Path, *, source=None,
                      laterality: pd.DataFrame | None = None, task: str = "sleep") -> dict[str, Path]:
    """Write a finished run, batch or cohort folder as ``<bids_out>/derivatives/sleepspindles/``.

    Parameters
    ----------
    out_dir : str or Path
        A ``run`` folder (``run.json``) or a ``batch``/``cohort`` folder (``status.csv``: every
        recording that succeeded is written).
    bids_out : str or Path
        Folder that receives ``derivatives/sleepspindles/``.
    source : BidsSource, str or Path, optional
        The BIDS dataset the rows came from: their files keep its entities (``sub``, ``ses``,
        ``task``, ``acq``, ``run``). Otherwise (a manifest CSV, a single file) the subject and
        night become ``sub-`` and ``ses-`` labels (letters and digits only) and the task is ``task``.
    laterality : pandas.DataFrame, optional
        The cohort's ``laterality.csv`` table: each recording's rows are written beside it.
    task : str
        Task label for rows from no BIDS dataset.

    Returns
    -------
    dict of str to Path
        Every file written (see :func:`sleepspindles.output.bids.write_bids_derivatives`).

    Raises
    ------
    DataError
        When ``out_dir`` holds neither ``status.csv`` nor a complete ``run.json``, or two
        recordings would get the same BIDS name.
    """
    out = Path(out_dir)
    by_row = _entities_by_row(source)
    recordings: list[DerivativeRecording] = []
    config: dict = {}
    version = "unknown"
    if (out / "status.csv").is_file():
        for row in read_status(out / "status.csv"):
            if not row.succeeded:
                logger.warning("%s/%s failed; not written to the BIDS derivatives", row.subject, row.night)
                continue
            stored = read_run_tables(row.out_dir)
            config = config or dict(stored.record.config)
            version = stored.record.versions.get("sleepspindles", version)
            entities = by_row.get(row.row) or bids_entities(row.subject, row.night, task)
            recordings.append(_recording(stored, entities, laterality))
        if not recordings:
            raise file_error(out / "status.csv", "no recording succeeded: nothing to write as BIDS derivatives")
    else:
        stored = read_run_tables(out)
        rec = stored.record
        config = dict(rec.config)
        version = rec.versions.get("sleepspindles", version)
        recordings.append(_recording(stored, _run_entities(rec, task), laterality))
    where = None
    if source is not None and (isinstance(source, BidsSource) or is_bids_root(source)):
        where = source.root if isinstance(source, BidsSource) else str(source)
    return write_bids_derivatives(bids_out, recordings, version=version, config=config, source=where)


# ----------------------------------------------------------------------------- review export


def _config_of(stored: RunTables) -> Config:
    try:
        return load_config(None, {k: v for k, v in stored.record.config.items()})
    except Exception as exc:  # noqa: BLE001 - a config of another version: say so, do not guess
        raise DataError(f"the run's configuration cannot be used again ({exc}); rerun it with this version") from None


def _signal(stored: RunTables, run_dir: Path):
    """The recording the run analysed, loaded again as the run loaded it (channels, reference, exclusions)."""
    from ..io import load_recording

    rec = stored.record
    if "recording" not in rec.inputs:
        raise file_error(run_dir / "run.json", "names no recording file: the signal cannot be exported")
    hyp = rec.inputs.get("hypnogram")
    recording = load_recording(rec.inputs["recording"].path, hypnogram=hyp.path if hyp else None,
                               **{**_config_of(stored).load.loader_options(), "preload": True})
    if tuple(recording.channels) != tuple(rec.recording.channels) or recording.sf != rec.recording.sf:
        raise file_error(rec.inputs["recording"].path, f"loads as channels {list(recording.channels)} at "
                         f"{recording.sf:g} Hz, but the run analysed {list(rec.recording.channels)} at "
                         f"{rec.recording.sf:g} Hz: the file or the loader changed; rerun it")
    return recording


def review_file(run_dir: str | Path, to: str) -> Path:
    """The default file of :func:`export_run`: ``review.edf``, ``review_raw.fif`` or ``review_annotations.csv``."""
    if to not in REVIEW_FORMATS:
        raise param_error("to", f"one of {REVIEW_FORMATS}", to)
    return Path(run_dir) / output.REVIEW_FILES[to]


def export_run(run_dir: str | Path, to: str, *, source: str | Path | None = None,
               out: str | Path | None = None) -> dict[str, Path]:
    """Export a run's detections for review, or read a reviewer's annotations back.

    Parameters
    ----------
    run_dir : str or Path
        A finished run folder (``run.json``, ``events.csv``...).
    to : {"edf", "fif", "csv"}
        Without ``source``: ``edf`` writes the signal as the run analysed it with the stages and
        one annotation per event (``"spindle C3"``) as EDF+; ``fif`` the same as MNE FIF (events
        also carry their channel in ``ch_names``); ``csv`` the annotations alone. With
        ``source``, ``csv`` writes the events found in it as ``reviewed_events.csv`` (spindles)
        and ``reviewed_slow_oscillations.csv`` (when it has any) in the run folder, which
        ``sleepspindles evaluate`` scores; ``edf``/``fif`` write them beside the signal.
    source : str or Path, optional
        EDF+/BDF+, FIF or annotation CSV whose annotations are the events (a reviewer's copy).
    out : str or Path, optional
        Output file (default :func:`review_file`; with ``source`` and ``csv``, a folder for the
        reviewed tables, default ``run_dir``).

    Returns
    -------
    dict of str to Path
        The files written, by name.

    Raises
    ------
    DataError
        Incomplete run folder, unreadable source, or a signal that no longer loads as analysed.
    ConfigError
        Unknown ``to``.
    """
    from ..io.annotations import read_annotation_events

    run_dir = Path(run_dir)
    if to not in REVIEW_FORMATS:
        raise param_error("to", f"one of {REVIEW_FORMATS}", to)
    stored = read_run_tables(run_dir)
    rec = stored.record.recording
    sf = rec.sf
    if source is None:
        tables = {k.events.name: stored.tables[k.events.name] for k in EVENT_KINDS if k.events.name in stored.tables}
    else:
        # Matched to the run's channels (its spelling) and length: a mark the run cannot hold is refused.
        found = read_annotation_events(source, sf=sf, channels=rec.channels, duration=rec.duration_seconds)
        tables = {k.events.name: found[k.name] for k in EVENT_KINDS}
        if to == "csv":
            folder = Path(out) if out is not None else run_dir
            written = {}
            for kind in EVENT_KINDS:
                if kind.name == "spindles" or len(found[kind.name]):
                    name = REVIEWED_FILES[kind.name]
                    written[name] = output.write_csv(folder / name, found[kind.name])
            return written
    path = Path(out) if out is not None else review_file(run_dir, to)
    recording = None if to == "csv" else _signal(stored, run_dir)
    if to == "csv":
        return {path.name: write_review_csv(tables, path, sf)}
    return {path.name: write_review(recording, tables, path, to)}


# ----------------------------------------------------------------------------- command-line options


def add_bids_arguments(parser, *, inputs: bool = True) -> None:
    """The BIDS options of a command: ``--bids-out`` and, with ``inputs``, the BIDS-root filters and column names."""
    parser.add_argument("--bids-out", dest="bids_out", type=Path, metavar="DIR",
                        help="also write the results as a BIDS derivative dataset, DIR/derivatives/sleepspindles/ "
                             "(default with a BIDS root as input: the --out folder)")
    if not inputs:
        return
    parser.add_argument("--subjects", nargs="+", default=(), metavar="LABEL",
                        help="BIDS root only: subjects to analyse (01 or sub-01; default all)")
    parser.add_argument("--sessions", nargs="+", default=(), metavar="LABEL",
                        help="BIDS root only: sessions to analyse (default all)")
    parser.add_argument("--task", help="BIDS root only: task label to analyse (default all)")
    parser.add_argument("--hypnograms", metavar="DIR",
                        help="BIDS root only: derivatives folder with scored hypnograms named like the recordings "
                             "(default: the sleep-stage rows of each recording's _events.tsv)")
    parser.add_argument("--bids-column", dest="bids_columns", action="append", default=[], metavar="KEY=NAME",
                        help="BIDS root only: column names in participants.tsv/sessions.tsv/_events.tsv, KEY among "
                             "trained_hand, score_pre, score_post, night, stage (defaults: the same names; stage: "
                             "trial_type)")


def bids_options(args) -> dict:
    """The :func:`cohort_source` keywords from the options :func:`add_bids_arguments` added.

    Raises
    ------
    ConfigError
        For a ``--bids-column`` that is not ``KEY=NAME`` with a known key.
    """
    known = {f for f in BidsColumns.__dataclass_fields__}
    columns = {}
    for item in getattr(args, "bids_columns", []) or []:
        key, sep, name = str(item).partition("=")
        if not sep or key.strip() not in known or not name.strip():
            raise param_error("--bids-column", f"KEY=NAME with KEY among {sorted(known)}", item)
        columns[key.strip()] = name.strip()
    return {"subjects": tuple(getattr(args, "subjects", ()) or ()),
            "sessions": tuple(getattr(args, "sessions", ()) or ()), "task": getattr(args, "task", None),
            "columns": BidsColumns(**columns), "hypnograms": getattr(args, "hypnograms", None)}


def bids_output(args, out_dir: str | Path, source=None, laterality: pd.DataFrame | None = None) -> dict[str, Path]:
    """Write the BIDS derivatives a command asked for (``--bids-out``; by default for a BIDS input); {} for none."""
    bids_out = getattr(args, "bids_out", None)
    if bids_out is None and isinstance(source, BidsSource):
        bids_out = out_dir
    if bids_out is None:
        return {}
    return write_derivatives(out_dir, bids_out, source=source, laterality=laterality)
