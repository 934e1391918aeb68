"""Read detections back from annotations: EDF+/BDF+, MNE FIF, annotation CSV, or ``mne.Annotations``.

The inverse of :mod:`sleepspindles.output.review`: an annotation ``"<noun> <channel>"``
(``"spindle C3"``, ``"slow oscillation C4"``; any letter case, ``_`` for a space, ``SO`` for a
slow oscillation) is one event of that kind on that channel. In FIF the channel may come from
the annotation's ``ch_names`` instead (``"spindle"`` on channel C3), one event per named channel.
Stage annotations are the hypnogram, not events; any other annotation (``Lights off``, an
arousal) is not an event, and the descriptions left out are logged.

With the sampling rate (from the EDF header or the FIF, or given), onsets and ends are snapped
to the nearest sample, so events -> annotations -> events gives back the same sample indices
(and, for times on the sample grid, the same floats).

Read into a run (``channels`` and ``duration`` given, as ``sleepspindles export --from`` should),
each event's channel is matched to the run's channels ignoring letter case and, failing that, by
its canonical electrode (:func:`sleepspindles.io.channels.normalise_channel`: ``"c3"`` and
``"EEG C3-M2"`` are ``C3``), and written with the run's spelling, so ``evaluate`` pairs it with the
run's detections. An event on a channel the run does not have, naming none, or lying (partly)
outside the recording refuses the whole file, listing the offending annotations: dropping or
clipping them would change the reference silently, and a reviewer fixes a stray mark in seconds.

The events tables have ``channel``, ``start``, ``end``, ``duration`` (seconds) and
``description``, sorted by channel and start: what :func:`sleepspindles.io.events.read_events`
and ``sleepspindles evaluate`` read.
"""

from __future__ import annotations

import logging
import numbers
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, file_error, param_error
from ..hypnogram import Hypnogram
from ..schema import EVENT_KINDS
from .channels import normalise_channel
from .hypnogram import reader_error, stages_from_annotations
from .stage_codes import annotation_label

__all__ = ["EVENT_COLUMNS", "annotation_events", "mne_events", "read_annotation_events", "hypnogram_from_mne"]

logger = logging.getLogger(__name__)

#: Columns of each events table returned.
EVENT_COLUMNS = ("channel", "start", "end", "duration", "description")
# Noun (normalised) -> kind name; "so" is the short name of a slow oscillation.
_NOUNS = {**{k.noun.lower(): k.name for k in EVENT_KINDS}, "so": "slow_oscillations"}
_SPACES = re.compile(r"[\s_]+")
# Annotations that do not fit the run quoted in its error; the rest are counted.
_MAX_SHOWN = 10


def _parse(description: str) -> tuple[str, str] | None:
    """``(kind, channel)`` of an event annotation (channel ``""`` when it names none), else None."""
    text = _SPACES.sub(" ", str(description)).strip()
    low = text.lower()
    for noun in sorted(_NOUNS, key=len, reverse=True):
        if low == noun or low.startswith(noun + " "):
            return _NOUNS[noun], text[len(noun):].strip()
    return None


def _run_channel(name: str, channels: Sequence[str]) -> tuple[str | None, str]:
    """The run's spelling of the channel an annotation names, or ``(None, why not)``."""
    if not name:
        return None, "names no channel (write one, as in 'spindle C3')"
    if name in channels:
        return name, ""
    for key in (str.casefold, lambda c: normalise_channel(c).name.casefold()):  # case first, then canonical
        found = [c for c in channels if key(c) == key(name)]
        if len(found) == 1:
            return found[0], ""
        if len(found) > 1:
            return None, f"channel {name!r} matches several of the run's channels {found}"
    return None, f"the run has no channel {name!r}"


def _check_run(channels: Sequence[str] | None, duration: float | None) -> None:
    """Refuse ``channels``/``duration`` that cannot describe a run."""
    if channels is not None and (isinstance(channels, str) or not all(isinstance(c, str) and c for c in channels)):
        raise param_error("channels", "a sequence of channel names or None", channels)
    if duration is not None and not (isinstance(duration, numbers.Real) and not isinstance(duration, bool)
                                     and np.isfinite(duration) and duration > 0):
        raise param_error("duration", "the recording length in seconds (> 0) or None", duration)


def _misfit_error(source: str | Path | None, misfits: list[str], channels: Sequence[str] | None,
                  duration: float | None) -> DataError:
    """One line naming the file, the run's channels and span, and the first annotations that do not fit."""
    run = "; ".join(part for part in (
        f"channels {', '.join(channels)}" if channels is not None else "",
        f"0 to {duration:.12g} s" if duration is not None else "") if part)
    shown = "; ".join(misfits[:_MAX_SHOWN])
    more = f"; and {len(misfits) - _MAX_SHOWN} more" if len(misfits) > _MAX_SHOWN else ""
    return file_error(source, f"{len(misfits)} event annotation(s) do not fit the run ({run}), so none is read: "
                              f"{shown}{more}")


def _empty() -> pd.DataFrame:
    return pd.DataFrame({"channel": pd.Series(dtype=object), "start": pd.Series(dtype=float),
                         "end": pd.Series(dtype=float), "duration": pd.Series(dtype=float),
                         "description": pd.Series(dtype=object)})


def annotation_events(onsets: Sequence[float], durations: Sequence[float], descriptions: Sequence[str],
                      ch_names: Sequence[Sequence[str]] | None = None, sf: float | None = None,
                      source: str | Path | None = None, *, channels: Sequence[str] | None = None,
                      duration: float | None = None) -> dict[str, pd.DataFrame]:
    """Events tables, by kind name, from annotations.

    Parameters
    ----------
    onsets, durations : sequence of float
        Seconds from the recording start.
    descriptions : sequence of str
    ch_names : sequence of sequence of str, optional
        Channels of each annotation (MNE); an empty entry means the channel in the description.
    sf : float, optional
        Sampling rate: onsets and ends are snapped to the nearest sample (``round(t * sf) / sf``).
    source : str or Path, optional
        The file, for messages.
    channels : sequence of str, optional
        The run's channels: each event's channel is matched to one of them (letter case ignored,
        then by canonical electrode name) and written with its spelling. None: kept as written.
    duration : float, optional
        The recording's length in seconds: every event must lie within 0 .. ``duration`` (give or
        take half a sample with ``sf``, which the snapping removes). None: not checked.

    Returns
    -------
    dict of str to pandas.DataFrame
        Every event kind of :data:`sleepspindles.schema.EVENT_KINDS` (empty tables included),
        columns :data:`EVENT_COLUMNS`.

    Raises
    ------
    DataError
        A non-finite onset or a negative duration on an event annotation; with ``channels`` or
        ``duration``, any event annotation on a channel the run lacks or outside the recording
        (the message quotes the first of them, with their onsets).
    ConfigError
        For a bad ``sf``, ``channels`` or ``duration``.
    """
    if sf is not None and not (np.isfinite(sf) and sf > 0):
        raise param_error("sf", "a positive sampling rate in Hz or None", sf)
    _check_run(channels, duration)
    # Float noise in a CSV's decimals, or up to the half sample the snapping takes off.
    slack = 0.5 / sf if sf is not None else 1e-9 * max(1.0, duration or 0.0)
    rows: dict[str, list] = {k.name: [] for k in EVENT_KINDS}
    misfits: list[str] = []
    ignored: dict[str, int] = {}
    names = ch_names if ch_names is not None else [()] * len(onsets)
    for onset, length, text, named in zip(onsets, durations, descriptions, names):
        parsed = _parse(text)
        if parsed is None:
            if annotation_label(str(text)) is None:
                ignored[str(text)] = ignored.get(str(text), 0) + 1
            continue
        kind, channel = parsed
        onset, length = float(onset), float(length)
        if not (np.isfinite(onset) and np.isfinite(length) and length >= 0):
            raise file_error(source, f"annotation {text!r} has onset {onset:g} s and duration {length:g} s: an "
                                     "event needs a finite onset and a duration of at least 0")
        end = onset + length
        where = f"{str(text)!r} at {onset:.12g} s"  # :g's 6 digits would misplace a mark late in a night
        if duration is not None and (onset < -slack or end > duration + slack):
            misfits.append(f"{where} (to {end:.12g} s) lies outside the recording")
            continue
        for ch in ([channel] if channel or not named else [str(c) for c in named]):
            if channels is not None:
                ch, why = _run_channel(ch, channels)
                if ch is None:
                    misfits.append(f"{where}: {why}")
                    continue
            rows[kind].append((ch, onset, end, str(text)))
    if misfits:
        raise _misfit_error(source, misfits, channels, duration)
    if ignored:
        shown = ", ".join(f"{t!r} ({n})" for t, n in list(ignored.items())[:10])
        logger.warning("%s: %d annotation(s) that are no events left out: %s", source or "annotations",
                       sum(ignored.values()), shown)
    return {kind: _table(found, sf) for kind, found in rows.items()}


def _table(rows: list, sf: float | None) -> pd.DataFrame:
    if not rows:
        return _empty()
    frame = pd.DataFrame(rows, columns=["channel", "start", "end", "description"])
    if sf is not None:
        frame["start"] = np.rint(frame["start"].to_numpy() * sf) / sf
        frame["end"] = np.rint(frame["end"].to_numpy() * sf) / sf
    frame["duration"] = frame["end"] - frame["start"]
    frame = frame[list(EVENT_COLUMNS)]
    return frame.sort_values(["channel", "start"], kind="stable").reset_index(drop=True)


def mne_events(annotations, sf: float | None = None, first_time: float = 0.0, *,
               channels: Sequence[str] | None = None, duration: float | None = None,
               source: str | Path | None = None) -> dict[str, pd.DataFrame]:
    """Events tables, by kind name, from :class:`mne.Annotations` (channels from ``ch_names`` or the text).

    Parameters
    ----------
    annotations : mne.Annotations
    sf : float, optional
        Sampling rate for snapping to samples.
    first_time : float
        Seconds to subtract from the onsets (a Raw's ``first_time`` when the annotations have an
        ``orig_time``; 0 for annotations relative to the first sample).
    channels, duration : optional
        The run's channels and length, to match and check the events against (see
        :func:`annotation_events`).
    source : str or Path, optional
        The file, for messages.
    """
    onsets = np.asarray(annotations.onset, dtype=float) - first_time
    return annotation_events(onsets, annotations.duration, annotations.description,
                             ch_names=list(annotations.ch_names), sf=sf, source=source, channels=channels,
                             duration=duration)


def hypnogram_from_mne(raw, epoch_length: float | None = None) -> Hypnogram | None:
    """The stages in a Raw's ``Sleep stage X`` annotations (None when it has none); see :class:`Recording.from_mne`."""
    ann = raw.annotations
    onsets = np.asarray(ann.onset, dtype=float) - (raw.first_time if ann.orig_time is not None else 0.0)
    return stages_from_annotations(onsets, ann.duration, ann.description, epoch_length=epoch_length)


def read_annotation_events(path: str | Path, sf: float | None = None, *, channels: Sequence[str] | None = None,
                           duration: float | None = None) -> dict[str, pd.DataFrame]:
    """Read events back from an EDF+/BDF+, a FIF (raw or annotations) or an annotation CSV.

    Parameters
    ----------
    path : str or Path
        ``.edf``/``.bdf`` (EDF+ annotations; the rate is the header's fastest signal), ``.fif``
        (a Raw with annotations, whose rate it gives, or an ``-annot.fif``), or ``.csv`` with
        ``onset``, ``duration`` and ``description`` columns (and ``channel``), as
        :func:`sleepspindles.output.review.write_review_csv` writes.
    sf : float, optional
        Sampling rate for snapping; default the file's (none for a CSV or an annotations-only FIF).
    channels : sequence of str, optional
        The channels of the run the events are read into (``run.json``'s
        ``recording.channels``): each event's channel is matched to one, ignoring letter case and
        spelling (``"c3"``, ``"EEG C3-M2"`` -> ``"C3"``), and written as the run spells it.
    duration : float, optional
        The run's recording length in seconds (``recording.duration_seconds``): every event must
        lie within it.

    Returns
    -------
    dict of str to pandas.DataFrame
        Events tables by kind name (see :func:`annotation_events`).

    Raises
    ------
    DataError
        Missing or unreadable file, a CSV without the columns, a damaged annotation or, with
        ``channels``/``duration``, events on a channel the run lacks or outside the recording
        (the whole file is refused; the message names the file and the first such annotations).
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "annotation file not found")
    suffix = path.suffix.lower()
    run = {"channels": channels, "duration": duration}
    if suffix == ".csv":
        return _read_csv(path, sf, **run)
    if suffix not in (".edf", ".bdf", ".fif"):
        raise file_error(path, "cannot read annotations from this file: expected .edf, .bdf, .fif or .csv")
    import mne

    try:
        if suffix == ".fif" and not path.name.endswith("-annot.fif"):
            raw = mne.io.read_raw_fif(path, preload=False, verbose="error")
            return mne_events(raw.annotations, sf or raw.info["sfreq"],
                              raw.first_time if raw.annotations.orig_time is not None else 0.0,
                              source=path, **run)
        ann = mne.read_annotations(path)
    except Exception as exc:  # mne raises assorted errors on damaged files
        raise reader_error(path, "the annotations", exc) from exc
    if sf is None and suffix in (".edf", ".bdf"):
        from .edf_header import read_edf_header

        header = read_edf_header(path)
        rates = [header.rate(i) for i in range(len(header.labels)) if header.is_data(i)]
        sf = max(rates) if rates else None
    return annotation_events(ann.onset, ann.duration, ann.description, ch_names=list(ann.ch_names), sf=sf,
                             source=path, **run)


def _read_csv(path: Path, sf: float | None, **run) -> dict[str, pd.DataFrame]:
    try:
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""])
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise file_error(path, f"cannot read as an annotation CSV ({exc})") from None
    missing = [c for c in ("onset", "duration", "description") if c not in frame.columns]
    if missing:
        raise file_error(path, f"an annotation CSV needs column(s) {missing}; columns: {list(frame.columns)}")
    onsets = pd.to_numeric(frame["onset"], errors="coerce").to_numpy(float)
    durations = pd.to_numeric(frame["duration"], errors="coerce").fillna(0.0).to_numpy(float)
    channels = frame["channel"].fillna("").astype(str) if "channel" in frame.columns else None
    texts = frame["description"].fillna("").astype(str)
    if channels is not None:  # a channel column names the channel when the text does not
        texts = [t if (p := _parse(t)) is None or p[1] or not c else f"{t} {c}" for t, c in zip(texts, channels)]
    return annotation_events(onsets, durations, list(texts), sf=sf, source=path, **run)
