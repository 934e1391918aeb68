"""Read scored hypnograms: Sleep-EDF/EDF+ annotations, DREAMS text, generic text/CSV, NSRR XML.

Every reader returns a :class:`~sleepspindles.hypnogram.Hypnogram` with ``source="scored"``
and the file path; :func:`align_hypnogram` fits it to a signal's length.

Rechtschaffen & Kales stages 3 and 4 both become N3; "movement time" becomes ``ARTEFACT``;
"?" and unscored codes become ``UNSCORED``. What bare numeric codes in text files mean is
declared (``scheme``), or decided from the file only when unambiguous; labels no scheme
knows are errors, never silently unscored.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..errors import DataError, file_error, param_error
from ..hypnogram import Hypnogram, Stage
from .edf_header import first_record_onset, read_edf_header
from .hypnogram_align import align_hypnogram, delayed
from .stage_codes import (
    DREAMS_CODES,
    NSRR_CODES,
    RK_LABELS,
    SCHEMES,
    annotation_label,
    describe_codes,
    numeric_codes,
    parse_label,
    stage_code,
)

__all__ = ["FORMATS", "align_hypnogram", "read_hypnogram", "stages_from_annotations"]

logger = logging.getLogger(__name__)

#: Formats understood by :func:`read_hypnogram` (``"csv"`` is an alias of ``"text"``).
FORMATS = ("edf", "dreams", "text", "xml", "bids")
_FORMAT_ALIASES = {"csv": "text", "sleep-edf": "edf", "nsrr": "xml", "nsrr-xml": "xml", "txt": "text"}

_EPOCH_S = 30.0  # AASM epoch, the default for every format that does not fix its own
_DREAMS_EPOCH_S = 5.0  # DREAMS hypnograms give one code per 5 s
_GRID_TOLERANCE = 0.01  # fraction of an epoch an onset may miss the epoch grid by

_MAX_EPOCHS = 10_000_000  # years of 30 s epochs: more means damaged onsets or durations
_MAX_LISTED = 10  # unknown labels quoted in one message
_STAGE_COLUMNS = ("stage", "stages", "hypnogram", "sleep stage", "sleep_stage", "label", "hypno")
_ONSET_COLUMNS = ("onset", "start")  # seconds from the recording start, in a table with a stage column


def _unknown_labels_error(path, unknown: dict[str, str], understood: str) -> DataError:
    """The error for stage labels no scheme knows: each label with where it occurs, and what is known.

    ``unknown`` maps each label to a description of where it occurs (``"3 epochs, first epoch 7"``).
    """
    listed = [f"{label!r} ({where})" for label, where in list(unknown.items())[:_MAX_LISTED]]
    if len(unknown) > _MAX_LISTED:
        listed.append(f"and {len(unknown) - _MAX_LISTED} more")
    return file_error(
        path, f"unknown sleep-stage label(s) {', '.join(listed)}; labels understood: {understood}"
    )


def _stage_changes(onsets: np.ndarray, durations: np.ndarray, stages: Sequence[Stage], epoch_length: float) -> bool:
    """Whether sorted zero-duration stage annotations mark changes: gaps longer than an epoch, no stage twice in a row.

    One zero-duration annotation per epoch repeats stages; a missing one is an unscored gap.
    """
    if onsets.size < 2 or (durations > 0).any():
        return False
    repeats = any(a == b for a, b in zip(stages, stages[1:]))
    return not repeats and bool(np.diff(onsets).max() > epoch_length * (1 + _GRID_TOLERANCE))


def _events_to_stages(
    onsets: np.ndarray, durations: np.ndarray, stages: Sequence[Stage], epoch_length: float, path,
    end: float | None = None,
) -> Hypnogram:
    """Expand scored intervals (onset, duration, stage) to one stage per epoch.

    ``end`` (seconds, when known: the signal's length) is where the last of a series of stage
    changes ends (see :func:`_stage_changes`).
    """
    onsets, durations = np.asarray(onsets, float), np.asarray(durations, float)
    damaged = ~(np.isfinite(onsets) & np.isfinite(durations) & (durations >= 0))
    if damaged.any():
        k = int(np.flatnonzero(damaged)[0])
        raise file_error(
            path, f"stage {stages[k].name} has onset {onsets[k]:g} s and duration {durations[k]:g} s: "
            "both must be finite and the duration not negative"
        )  # fmt: skip
    order = np.argsort(onsets, kind="stable")
    onsets, durations = onsets[order], durations[order]
    stages = [stages[i] for i in order]
    offset = float(onsets[0])
    if offset < 0:
        raise file_error(path, f"a stage starts before the recording (onset {offset:g} s)")
    starts = (onsets - offset) / epoch_length
    if _stage_changes(onsets, durations, stages, epoch_length):
        last = epoch_length if end is None else max(np.floor((end - onsets[-1]) / epoch_length), 1) * epoch_length
        logger.warning("%s: stage annotations without durations, more than an epoch apart and each a new "
                       "stage: read as stage changes (each lasting until the next; the last %g s)", path, last)
        durations = np.append(np.diff(onsets), last)
    elif onsets.size > 1 and not (durations > 0).any():
        gaps = np.diff(onsets) - epoch_length
        unscored = float(gaps[gaps > _GRID_TOLERANCE * epoch_length].sum())
        if unscored:  # not changes (a stage repeats): the gaps stay unscored, which the reader should know
            logger.warning("%s: stage annotations without durations, read as one epoch each, leave %g s unscored "
                           "between them", path, unscored)
    # Otherwise a zero duration (some exports) means one epoch.
    counts = np.where(durations > 0, durations / epoch_length, 1.0)
    for name, values in (("onset", starts), ("duration", counts)):
        off_grid = np.abs(values - np.round(values)) > _GRID_TOLERANCE
        if off_grid.any():
            k = int(np.flatnonzero(off_grid)[0])
            raise file_error(
                path,
                f"stage {name} at {onsets[k]:g} s (duration {durations[k]:g} s) is not a whole "
                f"number of {epoch_length:g} s epochs (epoch length: load.hypnogram_epoch, --hypnogram-epoch)",
            )
    n_epochs = float((np.round(starts) + np.round(counts)).max())
    if n_epochs > _MAX_EPOCHS:
        raise file_error(
            path, f"the stages span {n_epochs * epoch_length:g} s ({n_epochs:g} epochs of "
            f"{epoch_length:g} s): implausibly long (damaged onsets or durations?)"
        )  # fmt: skip
    starts, counts = np.round(starts).astype(np.int64), np.round(counts).astype(np.int64)
    out = np.full(int(n_epochs), Stage.UNSCORED, dtype=np.int8)
    for start, count, stage in zip(starts, counts, stages):
        out[start : start + count] = stage  # later intervals overwrite overlaps
    return Hypnogram(out, epoch_length, offset, "scored", None if path is None else str(path))


def stages_from_annotations(
    onsets: Sequence[float],
    durations: Sequence[float],
    descriptions: Sequence[str],
    *,
    epoch_length: float | None = None,
    path: str | Path | None = None,
    end: float | None = None,
) -> Hypnogram | None:
    """Build a hypnogram from EDF+ annotations (``Sleep stage W/1/2/3/4/R/?``, ``N1/N2/N3``).

    Digits are Rechtschaffen & Kales stages (``Sleep stage 4`` is N3); ``Sleep stage ?`` is
    unscored. Any other label after ``Sleep stage`` is an error, not silently unscored.

    Parameters
    ----------
    onsets, durations : sequence of float
        Annotation onsets (seconds from the recording start) and durations in seconds.
    descriptions : sequence of str
        Annotation texts; those that score no stage are ignored.
    epoch_length : float, optional
        Epoch length in seconds (default 30). Variable-length annotations are split into epochs.
    path : str or Path, optional
        The file, for messages and :attr:`Hypnogram.path`.
    end : float, optional
        The signal's length (s): annotations without durations that mark stage changes
        (more than an epoch apart, each a new stage) each last until the next, the last until
        ``end`` (one epoch when not given).

    Returns
    -------
    Hypnogram or None
        None when no annotation scores a stage. ``offset`` is the first stage's onset.

    Raises
    ------
    DataError
        Unknown stage labels (the message lists each with the annotations and seconds it
        covers, and the labels understood), damaged onsets or durations.
    """
    epoch = _epoch_length(epoch_length, _EPOCH_S)
    picked, unknown = [], {}
    for onset, duration, description in zip(onsets, durations, descriptions):
        label = annotation_label(str(description))
        if label is None:
            continue
        stage = RK_LABELS.get(label)
        if stage is None:
            unknown.setdefault(str(description).strip(), []).append(float(duration))
        else:
            picked.append((onset, duration, stage))
    if unknown:
        where = {d: f"{len(v)} annotation(s) covering {sum(v):g} s" for d, v in unknown.items()}
        raise _unknown_labels_error(path, where, "'Sleep stage ' followed by " + ", ".join(RK_LABELS)
                                    + "; 'Movement time'")  # fmt: skip
    if not picked:
        return None
    on, du, st = zip(*picked)
    return _events_to_stages(np.array(on), np.array(du), st, epoch, path, end)


def reader_error(path, what: str, exc: Exception) -> DataError:
    """``"<path>: cannot read <what> (<exception type>: <message on one line>)"``.

    For the assorted exceptions mne and edfio raise on damaged files.
    """
    return file_error(path, f"cannot read {what} ({type(exc).__name__}: {' '.join(str(exc).split())})")


def _epoch_length(value: float | None, default: float) -> float:
    if value is None:
        return default
    if not (isinstance(value, (int, float)) and np.isfinite(value) and value > 0):
        raise param_error("epoch_length", "a positive number of seconds", value)
    return float(value)


def _read_edf(path: Path, epoch_length: float | None, start_time: _dt.datetime | None,
              duration: float | None) -> Hypnogram:
    import mne

    try:
        annotations = mne.read_annotations(path)
    except Exception as exc:  # mne raises assorted errors on damaged files
        raise reader_error(path, "EDF+ annotations", exc) from exc
    hyp = stages_from_annotations(
        annotations.onset, annotations.duration, annotations.description,
        epoch_length=epoch_length, path=path, end=duration,
    )  # fmt: skip
    if hyp is None:
        found = sorted(set(annotations.description))[:10]
        raise file_error(path, f"no sleep-stage annotations found (annotations present: {found})")
    if start_time is None or duration is None:  # nothing to place it against: the header is not read
        return hyp
    header = read_edf_header(path)
    if header.start is None:
        return hyp
    # mne counts onsets from the file's first data record: place that on the recording's clock.
    first = header.start + _dt.timedelta(seconds=first_record_onset(path, header))
    return delayed(hyp, (first - start_time).total_seconds(), path, duration)


def _interior_blank(path: Path, lines: list[str], first: int = 1) -> DataError | None:
    """The error for a blank line between stage lines (rows placed in order would shift), or None.

    ``first`` is the file's line number of ``lines[0]``.
    """
    filled = [n for n, line in enumerate(lines) if line.strip()]
    blank = next((n for n in range(filled[0], filled[-1]) if not lines[n].strip()), None) if filled else None
    if blank is None:
        return None
    return file_error(path, f"line {blank + first} is blank between stage lines: stages are placed in line order, so "
                            "a missing epoch would shift every later one (write its stage, '?' when unscored)")


def _read_dreams(path: Path, lines: list[str], epoch_length: float | None) -> Hypnogram:
    if (blank := _interior_blank(path, lines[1:], first=2)) is not None:
        raise blank
    codes = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            codes.append(DREAMS_CODES[int(line.strip())])
        except (ValueError, KeyError):
            raise file_error(
                path, f"line {number}: {line.strip()!r} is not a DREAMS stage code (5,4,3,2,1,0,-1,-2)"
            ) from None
    if not codes:
        raise file_error(path, "the DREAMS hypnogram has no stage codes after its header")
    epoch = _epoch_length(epoch_length, _DREAMS_EPOCH_S)
    return Hypnogram(np.array(codes, dtype=np.int8), epoch, 0.0, "scored", str(path))


def _split(line: str) -> list[str]:
    return [f.strip().strip('"') for f in re.split(r"[,;\t]", line)]


def _read_text(path: Path, lines: list[str], epoch_length: float | None, scheme: str | None) -> Hypnogram:
    rows = [_split(line) for line in lines if line.strip()]
    if not rows:
        raise file_error(path, "the hypnogram file is empty")
    column = len(rows[0]) - 1  # one label per line, or the last column of a table
    header = [c.lower() for c in rows[0]]
    named = next((header.index(c) for c in _STAGE_COLUMNS if c in header), None)
    if named is not None:
        column, rows = named, rows[1:]
    values = [r[column] if column < len(r) else "" for r in rows]
    if named is None and values and stage_code(values[0]) is None and parse_label(values[0], {}) is None:
        values = values[1:]  # an unnamed header line
    numeric = numeric_codes(values, scheme, path)
    stages, unknown = [], {}
    for number, value in enumerate(values, start=1):
        stage = parse_label(value, numeric)
        if stage is None:
            unknown.setdefault(value, []).append(number)
        stages.append(stage)
    if unknown:
        where = {v: f"{len(n)} epoch(s), first epoch {n[0]}" for v, n in unknown.items()}
        labels = ", ".join(k for k in RK_LABELS if stage_code(k) is None)
        raise _unknown_labels_error(path, where, f"numeric codes {describe_codes(numeric)}; labels "
                                    f"{labels}, optionally after 'Stage ' or 'Sleep stage '")  # fmt: skip
    if not stages:
        raise file_error(path, "the hypnogram file has no stage labels")
    epoch = _epoch_length(epoch_length, _EPOCH_S)
    onset = next((header.index(c) for c in _ONSET_COLUMNS if c in header), None) if named is not None else None
    if onset is None:  # rows in file order: nothing may be missing or out of order
        if (blank := _interior_blank(path, lines)) is not None:
            raise blank
        if named is not None and "epoch" in header:
            _check_consecutive(path, rows, header.index("epoch"))
        return Hypnogram(np.array(stages, dtype=np.int8), epoch, 0.0, "scored", str(path))
    # A table with onsets places each stage at its onset (not by row order): a first epoch
    # scored at 30 s, or a missing row, must not shift every later stage.
    onsets = _seconds_column(path, rows, onset, header[onset])
    durations = (_seconds_column(path, rows, header.index("duration"), "duration") if "duration" in header
                 else np.full(len(rows), epoch))
    # Two rows scoring the same time would leave one of them silently overwritten.
    order = np.argsort(onsets, kind="stable")
    ends = onsets + np.where(durations > 0, durations, epoch)  # a zero duration is one epoch
    overlap = np.flatnonzero(onsets[order][1:] < ends[order][:-1] - _GRID_TOLERANCE * epoch)
    if overlap.size:
        first, second = sorted(int(order[k]) + 1 for k in (overlap[0], overlap[0] + 1))
        raise file_error(path, f"hypnogram rows {first} and {second} both score the time from "
                               f"{onsets[order][overlap[0] + 1]:g} s; each epoch must have one stage")
    return _events_to_stages(onsets, durations, stages, epoch, path)


def _check_consecutive(path: Path, rows: list[list[str]], column: int) -> None:
    """Refuse an ``epoch`` column that does not count up by one from row to row (rows are placed in order)."""
    try:
        numbers = [int(float(r[column])) for r in rows]
    except (ValueError, IndexError):
        raise file_error(path, "the 'epoch' column holds a value that is not an epoch number") from None
    step = next((k for k in range(1, len(numbers)) if numbers[k] != numbers[k - 1] + 1), None)
    if step is not None:
        raise file_error(path, f"data row {step + 1} is epoch {numbers[step]} after epoch {numbers[step - 1]}: "
                               "stages are placed in row order (sort the rows, score every epoch, or give an "
                               "'onset' column in seconds)")


def _seconds_column(path: Path, rows: list[list[str]], column: int, name: str) -> np.ndarray:
    """Column ``column`` of a hypnogram table as seconds (an error naming the first value that is not)."""
    seconds = []
    for row in rows:
        value = row[column] if column < len(row) else ""
        try:
            seconds.append(float(value))
        except ValueError:
            raise file_error(path, f"the hypnogram's '{name}' column must hold seconds from the recording "
                                   f"start; got {value!r}") from None
    return np.array(seconds)


def _read_xml(path: Path, epoch_length: float | None) -> Hypnogram:
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise file_error(path, f"not well-formed XML ({exc})") from None
    onsets, durations, stages, unknown = [], [], [], {}
    for event in root.iter("ScoredEvent"):
        kind = (event.findtext("EventType") or "").strip()
        if not kind.lower().startswith("stages"):
            continue
        concept = (event.findtext("EventConcept") or "").strip()
        code = concept.rsplit("|", 1)[-1].strip()
        if code not in NSRR_CODES:
            unknown[concept] = unknown.get(concept, 0) + 1
            continue
        try:
            onsets.append(float(event.findtext("Start")))
            durations.append(float(event.findtext("Duration")))
        except (TypeError, ValueError):
            raise file_error(path, f"stage event {concept!r} lacks a numeric Start/Duration") from None
        stages.append(NSRR_CODES[code])
    if unknown:
        where = {concept: f"{n} event(s)" for concept, n in unknown.items()}
        codes = describe_codes(NSRR_CODES)
        raise _unknown_labels_error(path, where, f"EventConcept codes after '|': {codes}")
    if not stages:
        raise file_error(
            path, "no <ScoredEvent> with EventType 'Stages' found (not an NSRR XML hypnogram?)"
        )
    epoch = _epoch_length(epoch_length, _EPOCH_S)
    return _events_to_stages(np.array(onsets), np.array(durations), stages, epoch, path)


def _detect_format(path: Path, head: bytes) -> str:
    """Guess the format from the first bytes, then the extension."""
    if head.startswith(b"0       ") or path.suffix.lower() in (".edf", ".rec"):
        return "edf"
    if path.name.endswith("_events.tsv"):
        return "bids"
    text = head.decode("latin-1").lstrip("\ufeff\xef\xbb\xbf \t\r\n")
    if text.startswith("<") or path.suffix.lower() == ".xml":
        return "xml"
    if text.lower().startswith("[hypnogram]"):
        return "dreams"
    return "text"


def read_hypnogram(
    path: str | Path,
    *,
    format: str | None = None,
    epoch_length: float | None = None,
    duration: float | None = None,
    scheme: str | None = None,
    start_time: _dt.datetime | None = None,
) -> Hypnogram:
    """Read a scored hypnogram.

    Parameters
    ----------
    path : str or Path
        The hypnogram file.
    format : {"edf", "dreams", "text", "xml"}, optional
        ``"edf"``: EDF+ stage annotations, either a Sleep-EDF ``*-Hypnogram.edf``
        (``Sleep stage W/1/2/3/4/R/?``, ``Movement time``; variable durations split into
        epochs) or a PSG EDF+ with AASM annotations (``Sleep stage N1/N2/N3/R/W``).
        ``"dreams"``: ``[Hypnogram]`` then one code per 5 s. ``"text"`` (or ``"csv"``): one
        label or numeric code per epoch, optionally a header line, or a table whose ``stage``
        column (else its last column) holds them. ``"xml"``: NSRR XML (``<ScoredEvent>`` with
        ``EventType`` ``Stages|Stages``). Default: detected from the content and extension.
    epoch_length : float, optional
        Epoch length in seconds: default 30, 5 for DREAMS.
    duration : float, optional
        Signal length in seconds: when given, the result goes through
        :func:`align_hypnogram`.
    scheme : {None, "aasm", "rk"}
        What bare numeric codes mean in ``"text"`` files. ``"aasm"``: YASA's integers, 0 W,
        1 N1, 2 N2, 3 N3, 4 REM, -1 artefact, -2 unscored. ``"rk"``: Rechtschaffen & Kales,
        0 W, 1 N1, 2 N2, 3 and 4 N3, 5 REM, 6 movement (artefact), 9 unscored (NSRR's
        numbering). ``None`` decides from the file only when that is unambiguous: a 5, 6 or 9
        means R&K; codes 0-3 (and -1, -2) mean the same in both; a 4 without a 5 is an error
        asking for the scheme. The other formats fix their own meaning and ignore ``scheme``:
        DREAMS codes are always 5 W, 4 REM, 3 N1, 2 N2, 1 and 0 N3, -1 unscored, -2 movement;
        NSRR ``EventConcept`` codes are always R&K's; EDF+ annotations use labels, whose
        digits are R&K stages (``Sleep stage 4`` is N3). Labels in text files (W, N1, N2, N3,
        N4, R, REM, ?, MT, ``Stage 4``...) are read the same under every scheme.
    start_time : datetime.datetime, optional
        The recording's start: the stages of an EDF+ hypnogram file whose own start time (its
        header's, plus its first record's onset) differs are moved by the difference (with a
        warning), before ``duration`` is checked. Ignored when either has no date, without
        ``duration``, when the clocks would put the hypnogram wholly outside the signal (not
        comparable: a default or anonymised time, with a warning), and by the formats that carry
        no clock time.

    Returns
    -------
    Hypnogram
        ``source="scored"``, ``path`` set.

    Raises
    ------
    DataError
        Missing or unreadable file, unknown labels (all listed, with where they occur, and
        the labels understood), ambiguous numeric codes or codes ``scheme`` does not have,
        or a length mismatch with ``duration``.
    ConfigError
        Unknown ``format`` or ``scheme``.
    """
    path = Path(path)
    if scheme not in SCHEMES:
        raise param_error("scheme", f"one of {SCHEMES}", scheme)
    if not path.is_file():
        raise file_error(path, "hypnogram file not found")
    with open(path, "rb") as fh:
        head = fh.read(256)
    if format is None:
        fmt = _detect_format(path, head)
    else:
        fmt = _FORMAT_ALIASES.get(str(format).lower(), str(format).lower())
    if fmt not in FORMATS:
        raise param_error("format", f"one of {FORMATS} or None (auto)", format)
    if fmt == "bids":
        from .bids import read_bids_hypnogram

        hyp = read_bids_hypnogram(path, epoch_length=epoch_length)
        if hyp is None:
            raise file_error(path, "no sleep-stage rows (trial_type 'Sleep stage N2', 'N2'...) in this BIDS "
                                   "events file")
    elif fmt == "edf":
        hyp = _read_edf(path, epoch_length, start_time, duration)
    elif fmt == "xml":
        hyp = _read_xml(path, epoch_length)
    else:
        lines = path.read_bytes().decode("utf-8-sig", errors="replace").splitlines()
        if fmt == "dreams":
            hyp = _read_dreams(path, lines, epoch_length)
        else:
            hyp = _read_text(path, lines, epoch_length, scheme)
    logger.info("%s: %d epochs of %g s (%s format)", path, hyp.n_epochs, hyp.epoch_length, fmt)
    return hyp if duration is None else align_hypnogram(hyp, duration, path)
