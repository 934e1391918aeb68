"""Detections a person can review: EDF+ or FIF beside the signal, or a CSV of annotations.

Every detected event becomes one annotation ``"<noun> <channel>"`` (``"spindle C3"``,
``"slow oscillation C4"``: the event kind's noun from :mod:`sleepspindles.schema`) lasting from
its start to its end, so EDFbrowser, MNE's browser or Luna show each channel's events;
in FIF (MNE annotations) the channel is also set in ``ch_names``. The hypnogram goes along as
``Sleep stage N2``... annotations. :mod:`sleepspindles.io.annotations` reads any of these files
(or a reviewer's corrected copy) back into events tables.

Times stay on the sample grid: EDF+ onsets are written as the shortest decimal that reads
back as the same float, FIF stores them as floats, and the readers snap onsets and ends to the
nearest sample.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import param_error
from ..schema import EVENT_KINDS
from .files import REVIEW_FILES, atomic_path, write_csv, write_edf

__all__ = ["REVIEW_FORMATS", "ANNOTATION_COLUMNS", "event_annotations", "events_to_mne", "write_review",
           "write_review_edf", "write_review_fif", "write_review_csv"]

#: Formats :func:`write_review` writes.
REVIEW_FORMATS = tuple(REVIEW_FILES)
#: Columns of the annotation CSV (:func:`write_review_csv`).
ANNOTATION_COLUMNS = ("onset", "duration", "description", "channel", "kind", "sample")


def event_annotations(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One annotation per detected event, of every event kind in ``tables``.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Events tables by kind name (``"spindles"``, ``"slow_oscillations"``), with ``channel``,
        ``start`` and ``end`` in seconds; other tables are ignored.

    Returns
    -------
    pandas.DataFrame
        ``onset`` (= start), ``duration`` (= end - start), ``description`` (``"spindle C3"``),
        ``channel`` and ``kind``, sorted by onset.
    """
    parts = []
    for kind in EVENT_KINDS:
        events = tables.get(kind.events.name)
        if events is None or len(events) == 0:
            continue
        start = events["start"].to_numpy(np.float64)
        parts.append(pd.DataFrame({
            "onset": start, "duration": events["end"].to_numpy(np.float64) - start,
            "description": [f"{kind.noun} {c}" for c in events["channel"]],
            "channel": events["channel"].astype(str).to_numpy(), "kind": kind.name,
        }))
    if not parts:
        return pd.DataFrame({"onset": [], "duration": [], "description": [], "channel": [], "kind": []})
    table = pd.concat(parts, ignore_index=True)
    return table.sort_values(["onset", "description"], kind="stable").reset_index(drop=True)


def events_to_mne(tables: Mapping[str, pd.DataFrame], orig_time=None):
    """The detections as :class:`mne.Annotations`, each with its channel in ``ch_names``.

    Parameters
    ----------
    tables : mapping of str to pandas.DataFrame
        Events tables by kind name (see :func:`event_annotations`).
    orig_time : datetime or None
        The annotations' time origin (a Raw's ``meas_date``; None: relative to the first sample).

    Returns
    -------
    mne.Annotations
    """
    import mne

    ann = event_annotations(tables)
    return mne.Annotations(ann["onset"].to_numpy(), ann["duration"].to_numpy(), ann["description"].tolist(),
                           orig_time=orig_time, ch_names=[(c,) for c in ann["channel"]])


def _for_review(recording):
    """The recording labelled by canonical channel names (the names in the annotations)."""
    return replace(recording, original_names=recording.channels)


def write_review_edf(recording, tables: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """EDF+ with the signal, the hypnogram and one annotation per event (``"spindle C3"``), atomically.

    Channels are labelled by their canonical names (``C3``), in microvolts (see
    :func:`sleepspindles.output.write_edf`).

    Parameters
    ----------
    recording : Recording
        The signal the events were detected in (as the run loaded it).
    tables : mapping of str to pandas.DataFrame
        Events tables by kind name.
    path : str or Path
        Destination ``.edf``.

    Returns
    -------
    Path
    """
    ann = event_annotations(tables)
    return write_edf(_for_review(recording), path, list(zip(ann["onset"], ann["duration"], ann["description"])))


def write_review_fif(recording, tables: Mapping[str, pd.DataFrame], path: str | Path) -> Path:
    """MNE FIF (``..._raw.fif``) with the signal, the stages and the events as annotations, atomically.

    Each event annotation names its channel in ``ch_names`` (MNE's browser draws it on that
    channel only); the stages are ``Sleep stage X`` annotations on every channel.

    Parameters
    ----------
    recording : Recording
    tables : mapping of str to pandas.DataFrame
    path : str or Path
        Destination; MNE's convention is a name ending in ``_raw.fif``.

    Returns
    -------
    Path
    """
    raw = recording.to_mne()
    raw.set_annotations(raw.annotations + events_to_mne(tables, orig_time=raw.annotations.orig_time))
    with atomic_path(path) as tmp:
        named = tmp.with_name(tmp.name + "_raw.fif")  # mne wants a .fif name; renamed onto tmp below
        try:
            raw.save(named, overwrite=True, verbose="error")
            os.replace(named, tmp)
        finally:
            named.unlink(missing_ok=True)
    return Path(path)


def write_review_csv(tables: Mapping[str, pd.DataFrame], path: str | Path, sf: float | None = None) -> Path:
    """The annotations as CSV: ``onset, duration, description, channel, kind, sample``, atomically.

    ``sample`` is the onset's sample index (empty without ``sf``). EDFbrowser imports the first
    three columns as annotations; :func:`sleepspindles.io.annotations.read_annotation_events`
    reads the file back.
    """
    ann = event_annotations(tables)
    if sf is not None:
        ann["sample"] = np.rint(ann["onset"].to_numpy() * sf).astype(np.int64)
    else:
        ann["sample"] = pd.Series([pd.NA] * len(ann), dtype="Int64")
    return write_csv(path, ann[list(ANNOTATION_COLUMNS)])


def write_review(recording, tables: Mapping[str, pd.DataFrame], path: str | Path, to: str) -> Path:
    """Write the detections for review as ``to`` (``edf``, ``fif`` or ``csv``); see the writers.

    Raises
    ------
    ConfigError
        For another format, or ``edf``/``fif`` without a recording.
    """
    if to not in REVIEW_FORMATS:
        raise param_error("to", f"one of {REVIEW_FORMATS}", to)
    if to == "csv":
        return write_review_csv(tables, path, None if recording is None else recording.sf)
    if recording is None:
        raise param_error("recording", f"the signal, to write {to}", None)
    return (write_review_edf if to == "edf" else write_review_fif)(recording, tables, path)
