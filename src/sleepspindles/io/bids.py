"""Read a BIDS dataset (EEG-BIDS, as mne-bids writes it) into the cohort :class:`~sleepspindles.io.manifest.Manifest`.

A BIDS root stands in for a manifest CSV: :func:`read_bids` returns the same ``Manifest`` that
:func:`~sleepspindles.io.manifest.read_manifest` returns for a CSV (``read_manifest`` calls it for
a folder or a :class:`BidsSource`), so batch and cohort runs do not know where the rows came from.

One row per EEG recording ``sub-<S>[/ses-<N>]/eeg/sub-<S>[_ses-<N>]_task-<T>[_acq-<A>][_run-<R>]_eeg.<ext>``
(``.edf`` or ``.bdf`` are read; a recording in another format is listed and fails its own row):

* ``subject`` is the ``participant_id`` (``sub-01``); ``night`` the sessions.tsv column
  :attr:`BidsColumns.night` when it has one, else the session label (``ses-baseline`` ->
  ``baseline``), else the task label; ``_acq-``/``_run-`` are appended when one subject and night
  would otherwise hold several recordings.
* ``trained_hand``, ``score_pre``, ``score_post``: the columns named by :class:`BidsColumns`
  (defaults ``trained_hand``, ``score_pre``, ``score_post``), looked up in the subject's
  ``sub-<S>_sessions.tsv`` row first, then in ``participants.tsv``. BIDS's own ``hand`` column is
  handedness, not the trained hand: it is never taken for it unless named explicitly.
* covariates: every other column of ``participants.tsv`` and ``sessions.tsv`` (``n/a`` -> empty)
  that has a value on at least one row.
* bad channels: the rows of the recording's ``_channels.tsv`` with ``status`` ``bad``, with the
  file (and ``status_description``) as the reason; the loader leaves them out and reports them.
* hypnogram: a file of the configured derivatives folder (:attr:`BidsSource.hypnograms`) whose
  name starts with the recording's entities, else the recording's ``_events.tsv`` when it has
  sleep-stage rows (:func:`read_bids_hypnogram`), else none (stages in the EDF+, or automatic
  staging, as for an empty manifest cell).

What a cohort needs and the dataset lacks (no ``participants.tsv``, no trained-hand column, a
subject without a valid hand, no recording matching the filters) is reported in one error
listing every problem.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import file_error, param_error
from ..hypnogram import Hypnogram
from .hypnogram import stages_from_annotations
from .stage_codes import RK_LABELS, annotation_label

__all__ = ["BidsColumns", "BidsSource", "read_bids", "read_bids_hypnogram", "read_bad_channels", "is_bids_root",
           "RECORDING_EXTENSIONS"]

#: Extensions of the recordings listed (only EDF and BDF can be loaded; others fail their row).
RECORDING_EXTENSIONS = (".edf", ".bdf", ".vhdr", ".set", ".fif", ".cnt", ".mef")
_NA = ("n/a", "N/A", "NA", "nan", "")
_HAND_ALIASES = {"l": "left", "r": "right", "left": "left", "right": "right"}
# Columns that identify a row, never covariates.
_IDENTIFIERS = ("participant_id", "session_id", "acq_time")


@dataclass(frozen=True)
class BidsColumns:
    """Names of the columns a cohort needs, in ``participants.tsv`` / ``sessions.tsv`` / ``_events.tsv``.

    Attributes
    ----------
    trained_hand : str
        ``left``/``right`` (or ``l``/``r``), same for every session of a subject (default ``trained_hand``).
    score_pre, score_post : str
        Behavioural scores before and after sleep (optional; default ``score_pre``, ``score_post``).
    night : str
        sessions.tsv column naming the night (``baseline``/``post``); default ``night``, and the
        session label when the column is absent.
    stage : str
        ``_events.tsv`` column holding sleep-stage labels (default ``trial_type``).
    """

    trained_hand: str = "trained_hand"
    score_pre: str = "score_pre"
    score_post: str = "score_post"
    night: str = "night"
    stage: str = "trial_type"


@dataclass(frozen=True)
class BidsSource:
    """A BIDS root and what to take from it; accepted wherever a manifest path is.

    Attributes
    ----------
    root : str
        The dataset folder (holding ``dataset_description.json`` and ``participants.tsv``).
    subjects, sessions : tuple of str
        Labels to keep, with or without their ``sub-``/``ses-`` prefix (default all).
    task : str or None
        Task label to keep (default all).
    columns : BidsColumns
    hypnograms : str or None
        A derivatives folder with scored hypnograms (absolute, or relative to ``root``): a file
        whose name starts with the recording's entities (``sub-01_ses-1_task-sleep``) is its
        hypnogram, before any stage rows of its ``_events.tsv``.
    """

    root: str
    subjects: tuple[str, ...] = ()
    sessions: tuple[str, ...] = ()
    task: str | None = None
    columns: BidsColumns = field(default_factory=BidsColumns)
    hypnograms: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", str(Path(self.root).expanduser().resolve()))
        object.__setattr__(self, "subjects", tuple(_strip(s, "sub-") for s in self.subjects))
        object.__setattr__(self, "sessions", tuple(_strip(s, "ses-") for s in self.sessions))
        if self.task is not None:
            object.__setattr__(self, "task", _strip(self.task, "task-"))


def _strip(label: str, prefix: str) -> str:
    label = str(label).strip()
    return label[len(prefix):] if label.startswith(prefix) else label


def is_bids_root(path: str | Path) -> bool:
    """Whether ``path`` is a folder with a ``dataset_description.json`` or ``sub-*`` folders."""
    path = Path(path)
    return path.is_dir() and ((path / "dataset_description.json").is_file() or any(path.glob("sub-*")))


def _read_tsv(path: Path) -> pd.DataFrame:
    """A BIDS TSV as text, ``n/a`` as empty strings."""
    try:
        frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise file_error(path, f"cannot read as a BIDS TSV file ({exc})") from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame.apply(lambda col: col.str.strip().where(~col.str.strip().isin(_NA), ""))


# ----------------------------------------------------------------------------- sidecars


def read_bad_channels(path: str | Path) -> dict[str, str]:
    """The channels a ``_channels.tsv`` marks bad (``status`` ``bad``), each with its reason.

    Returns
    -------
    dict of str to str
        Channel name as in the file -> ``"marked bad in <file> (<status_description>)"``;
        empty when the file has no ``status`` column.

    Raises
    ------
    DataError
        When the file cannot be read or has no ``name`` column.
    """
    path = Path(path)
    frame = _read_tsv(path)
    if "name" not in frame.columns:
        raise file_error(path, f"a _channels.tsv needs a 'name' column; columns: {list(frame.columns)}")
    if "status" not in frame.columns:
        return {}
    bad = frame[frame["status"].str.lower() == "bad"]
    notes = bad["status_description"] if "status_description" in bad.columns else pd.Series("", index=bad.index)
    return {name: f"marked bad in {path.name}" + (f" ({note})" if note else "")
            for name, note in zip(bad["name"], notes)}


def _stage_text(value: str) -> str | None:
    """``"Sleep stage <label>"`` for a stage label (``N2``, ``Sleep stage 2``, ``sleep_stage_R``), else None.

    Bare labels are taken only when they name a stage unambiguously (W, N1-N4, R, REM, S1-S4,
    Wake); ``?`` and movement codes only after a ``Sleep stage`` prefix.
    """
    if annotation_label(value) is not None:
        return value
    key = value.strip().upper().replace(" ", "")
    bare = {"W", "WAKE", "N1", "N2", "N3", "N4", "R", "REM", "S1", "S2", "S3", "S4"}
    return f"Sleep stage {key}" if key in bare and key in RK_LABELS else None


def read_bids_hypnogram(path: str | Path, *, epoch_length: float | None = None, column: str = "trial_type",
                        duration: float | None = None) -> Hypnogram | None:
    """The hypnogram scored in the sleep-stage rows of a BIDS ``_events.tsv``.

    A row scores a stage when its ``column`` holds ``Sleep stage <label>`` (as mne-bids writes
    EDF+ stage annotations) or a bare stage label (``W``, ``N1``... ``N3``, ``R``/``REM``); its
    ``onset`` and ``duration`` (seconds) place it. Other rows (other events) are ignored. A
    duration spanning several epochs is split into epochs, as for EDF+ annotations.

    Parameters
    ----------
    path : str or Path
    epoch_length : float, optional
        Epoch length in seconds (default 30).
    column : str
        Column with the stage labels (default ``trial_type``).
    duration : float, optional
        Signal length in seconds: the hypnogram is then aligned to it.

    Returns
    -------
    Hypnogram or None
        None when no row scores a stage.

    Raises
    ------
    DataError
        Unreadable file, missing ``onset``/``duration``/``column``, non-numeric times, unknown
        ``Sleep stage`` labels, onsets off the epoch grid, or a length mismatch with ``duration``.
    """
    from .hypnogram import align_hypnogram

    path = Path(path)
    frame = _read_tsv(path)
    missing = [c for c in ("onset", "duration", column) if c not in frame.columns]
    if missing:
        raise file_error(path, f"a BIDS _events.tsv with stages needs column(s) {missing}; columns: "
                               f"{list(frame.columns)}")
    texts = frame[column].map(_stage_text)
    rows = frame[texts.notna()]
    if rows.empty:
        return None
    onsets = pd.to_numeric(rows["onset"], errors="coerce").to_numpy(float)
    durations = pd.to_numeric(rows["duration"].replace("", "0"), errors="coerce").to_numpy(float)
    bad = ~(np.isfinite(onsets) & np.isfinite(durations))
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise file_error(path, f"stage row {int(rows.index[k]) + 1}: onset {rows['onset'].iloc[k]!r} and duration "
                               f"{rows['duration'].iloc[k]!r} must be numbers of seconds")
    hyp = stages_from_annotations(onsets, durations, texts[texts.notna()].to_numpy(object),
                                  epoch_length=epoch_length, path=path)
    return hyp if hyp is None or duration is None else align_hypnogram(hyp, duration, path)


def _has_stages(path: Path, column: str) -> bool:
    """Whether an ``_events.tsv`` has at least one sleep-stage row (it may have none, or no such column)."""
    frame = _read_tsv(path)
    return column in frame.columns and frame[column].map(_stage_text).notna().any()


# ----------------------------------------------------------------------------- the dataset


@dataclass(frozen=True)
class _Found:
    """One recording file and its entities."""

    path: Path
    entities: dict[str, str]

    @property
    def prefix(self) -> str:
        """``sub-01_ses-1_task-sleep[_acq-x][_run-1]``: the entities, in BIDS order."""
        keys = (("sub", "subject"), ("ses", "session"), ("task", "task"), ("acq", "acquisition"), ("run", "run"))
        return "_".join(f"{short}-{self.entities[long]}" for short, long in keys if self.entities.get(long))

    def sidecar(self, suffix: str) -> Path:
        return self.path.with_name(f"{self.prefix}_{suffix}.tsv")


def _find(source: BidsSource) -> list[_Found]:
    from mne_bids import get_entities_from_fname

    root = Path(source.root)
    found = []
    for path in sorted(root.glob("sub-*/**/eeg/sub-*_eeg.*")):
        if path.suffix.lower() not in RECORDING_EXTENSIONS or "derivatives" in path.relative_to(root).parts:
            continue
        entities = {k: v for k, v in get_entities_from_fname(path.name, on_error="ignore").items() if v is not None}
        if not entities.get("subject") or (source.subjects and entities["subject"] not in source.subjects):
            continue
        if source.sessions and entities.get("session") not in source.sessions:
            continue
        if source.task is not None and entities.get("task") != source.task:
            continue
        if entities.get("split"):
            continue
        found.append(_Found(path, entities))
    return found


def _table(path: Path, key: str, problems: list[str]) -> dict[str, dict[str, str]]:
    """A participants/sessions TSV as ``{identifier: {column: value}}`` (empty when absent)."""
    if not path.is_file():
        return {}
    frame = _read_tsv(path)
    if key not in frame.columns:
        problems.append(f"{path.name} has no {key!r} column")
        return {}
    return {row[key]: row for row in frame.to_dict("records")}


def _number(value: str, where: str, name: str, problems: list[str]) -> float:
    if not value:
        return math.nan
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        problems.append(f"{where}: {name!r} must be a number or n/a; got {value!r}")
        return math.nan
    return number


def _hypnogram(source: BidsSource, found: _Found) -> str | None:
    """The recording's hypnogram file: in the derivatives folder, else its stage-scored _events.tsv."""
    if source.hypnograms is not None:
        folder = Path(source.hypnograms)
        folder = folder if folder.is_absolute() else Path(source.root) / folder
        if not folder.is_dir():
            raise file_error(folder, "the hypnogram derivatives folder does not exist")
        matches = sorted(p for p in folder.rglob(f"{found.prefix}_*") if p.is_file() and not p.name.endswith(".json"))
        if len(matches) > 1:
            raise file_error(folder, f"several hypnograms for {found.prefix}: {[p.name for p in matches]}")
        if matches:
            return str(matches[0])
    events = found.sidecar("events")
    if events.is_file() and _has_stages(events, source.columns.stage):
        return str(events)
    return None


def read_bids(source: BidsSource | str | Path) -> "Manifest":  # noqa: F821 - resolved below
    """Read a BIDS dataset into a cohort :class:`~sleepspindles.io.manifest.Manifest`.

    Parameters
    ----------
    source : BidsSource, str or Path
        The dataset and the filters; a path means every subject, session and task.

    Returns
    -------
    Manifest
        ``path`` is the root; rows ordered by subject, session, task, acquisition, run; each
        row's ``bids`` holds its entities and ``bad_channels`` its bad channels.

    Raises
    ------
    DataError
        One error listing everything a cohort needs that the dataset lacks (e.g. ``participants.tsv
        has no 'trained_hand' column``), or an unreadable TSV.
    ConfigError
        A filter or column name that is empty.
    """
    from .manifest import Manifest, ManifestRow, _check_consistency

    source = source if isinstance(source, BidsSource) else BidsSource(str(source))
    for name in ("trained_hand", "score_pre", "score_post", "night", "stage"):
        if not str(getattr(source.columns, name)).strip():
            raise param_error(f"columns.{name}", "a column name", getattr(source.columns, name))
    root = Path(source.root)
    if not root.is_dir():
        raise file_error(root, "BIDS root not found (not a folder)")
    problems: list[str] = []
    cols = source.columns
    participants = _table(root / "participants.tsv", "participant_id", problems)
    if not (root / "participants.tsv").is_file():
        problems.append(f"no participants.tsv (it must have 'participant_id' and {cols.trained_hand!r} columns)")
    elif participants and cols.trained_hand not in next(iter(participants.values())):
        hint = " (BIDS's 'hand' column is handedness; name it explicitly if it is the trained hand)" if (
            "hand" in next(iter(participants.values()))) else ""
        problems.append(f"participants.tsv has no {cols.trained_hand!r} column (the trained hand, left or right){hint}")
    found = _find(source)
    if not found:
        filters = {k: v for k, v in (("subjects", source.subjects), ("sessions", source.sessions),
                                     ("task", source.task)) if v}
        problems.append(f"no EEG recording sub-*/[ses-*/]eeg/*_eeg.<{'|'.join(RECORDING_EXTENSIONS)}>"
                        + (f" matching {filters}" if filters else ""))
    sessions: dict[str, dict[str, dict[str, str]]] = {}
    rows, covariates = [], {}
    for number, item in enumerate(found, start=1):
        sub = f"sub-{item.entities['subject']}"
        ses = item.entities.get("session")
        if sub not in sessions:
            sessions[sub] = _table(root / sub / f"{sub}_sessions.tsv", "session_id", problems)
        person = participants.get(sub, {})
        visit = sessions[sub].get(f"ses-{ses}", {}) if ses else {}
        where = f"{item.prefix}"
        if participants and not person:
            problems.append(f"{sub} is not in participants.tsv")

        def value(column: str, visit=visit, person=person) -> str:
            return visit.get(column) or person.get(column, "")

        hand = _HAND_ALIASES.get(value(cols.trained_hand).lower())
        if hand is None and person:
            problems.append(f"{where}: {cols.trained_hand!r} must be left or right; got {value(cols.trained_hand)!r}")
        extra = {k: v for table in (person, visit) for k, v in table.items()
                 if k not in _IDENTIFIERS and k not in (cols.trained_hand, cols.score_pre, cols.score_post, cols.night)}
        covariates.update(dict.fromkeys(extra))
        rows.append(ManifestRow(
            row=number, subject=sub, night=visit.get(cols.night) or ses or item.entities["task"],
            recording=str(item.path), hypnogram=_hypnogram(source, item), trained_hand=hand or "",
            score_pre=_number(value(cols.score_pre), where, cols.score_pre, problems),
            score_post=_number(value(cols.score_post), where, cols.score_post, problems),
            covariates=extra, bad_channels=read_bad_channels(item.sidecar("channels"))
            if item.sidecar("channels").is_file() else {},
            bids={k: v for k, v in item.entities.items() if k in ("subject", "session", "task", "acquisition", "run")},
        ))
    if problems:
        listed = "; ".join(dict.fromkeys(problems))
        raise file_error(root, f"cannot be read as a cohort: {listed}")
    rows = _distinct_nights(rows, found)
    # A column n/a on every row (mne-bids writes empty age, sex, hand, weight, height) says nothing.
    covariates = {k: None for k in covariates if any(r.covariates.get(k) for r in rows)}
    rows = [_with(r, covariates={k: r.covariates.get(k, "") for k in covariates}) for r in rows]
    _check_consistency(root / "participants.tsv", rows)
    return Manifest(path=str(root), rows=tuple(rows), covariates=tuple(covariates))


def _with(row, **changes):
    from dataclasses import replace

    return replace(row, **changes)


def _distinct_nights(rows: Sequence, found: Sequence[_Found]) -> list:
    """Append ``_acq-``/``_run-`` to the night of rows that share a subject and night."""
    counts: dict[tuple[str, str], int] = {}
    for r in rows:
        counts[(r.subject, r.night)] = counts.get((r.subject, r.night), 0) + 1
    out = []
    for r, item in zip(rows, found):
        if counts[(r.subject, r.night)] > 1:
            tail = "_".join(f"{short}-{item.entities[long]}" for short, long in
                            (("task", "task"), ("acq", "acquisition"), ("run", "run")) if item.entities.get(long))
            r = _with(r, night=f"{r.night}_{tail}")
        out.append(r)
    return out
