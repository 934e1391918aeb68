"""Read a cohort manifest: which recording belongs to which subject, night and trained hand.

The manifest is a CSV file with a header::

    subject,night,recording,hypnogram,trained_hand,score_pre,score_post[,age,sex,...]

* ``subject``, ``night``, ``recording`` and ``trained_hand`` are required and non-empty; a batch
  (no laterality) reads the manifest with ``hand=False``, where ``trained_hand`` may be left out
  or empty (its rows' reports then have no lateralisation section).
* ``night`` is free text; the value of ``config.laterality.baseline_night`` (``"baseline"``)
  marks the no-training night that learning nights are contrasted against.
* ``recording`` and ``hypnogram`` are paths, relative to the manifest's folder unless
  absolute. ``hypnogram`` may be empty (stages in the EDF+ file, or automatic staging).
* ``trained_hand`` is ``left`` or ``right`` (any case) and must be the same on every row of a
  subject: it says which hemisphere is contralateral, also on the baseline night.
* ``score_pre`` / ``score_post`` are optional numbers (empty = missing).
* ``bad_channels`` (optional) lists channels to leave out of the recording, ``;``-separated
  (``F3;Fp1``): the loader excludes them and reports them as dropped ("marked bad in the manifest").
* Any other column is kept as a covariate.

A BIDS dataset stands in for the CSV: :func:`read_manifest` given a folder (or a
:class:`~sleepspindles.io.bids.BidsSource` with filters and column names) reads it with
:func:`~sleepspindles.io.bids.read_bids` into the same :class:`Manifest`.

Rows are numbered from 1 for the first data row (the header is not counted), and every
problem is reported as ``"<manifest> row <n>: field '<name>' ..."``. File existence is not
checked here: a missing recording makes only its own row fail when the cohort is run.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError, file_error

__all__ = ["MANIFEST_COLUMNS", "REQUIRED_COLUMNS", "OPTIONAL_COLUMNS", "ManifestRow", "Manifest", "read_manifest"]

#: The standard columns, in output order.
MANIFEST_COLUMNS: tuple[str, ...] = (
    "subject",
    "night",
    "recording",
    "hypnogram",
    "trained_hand",
    "score_pre",
    "score_post",
)
#: Columns a manifest must have.
REQUIRED_COLUMNS: tuple[str, ...] = ("subject", "night", "recording", "trained_hand")
#: Columns with a meaning of their own that are not covariates (and not in :attr:`Manifest.table`).
OPTIONAL_COLUMNS: tuple[str, ...] = ("bad_channels",)
#: Reason of a channel listed in a manifest's ``bad_channels`` column.
MANIFEST_BAD = "marked bad in the manifest"
_HANDS = ("left", "right")


@dataclass(frozen=True)
class ManifestRow:
    """One validated manifest row.

    Attributes
    ----------
    row : int
        1-based data row number (the header is not counted).
    subject, night : str
    recording : str
        Absolute path.
    hypnogram : str or None
        Absolute path, or None (stages in the EDF+ file, or automatic staging).
    trained_hand : str or None
        ``"left"`` or ``"right"``; None only in a manifest read with ``hand=False`` (a batch).
    score_pre, score_post : float
        NaN when missing.
    covariates : mapping of str to str
        The extra columns of this row.
    bad_channels : mapping of str to str
        Channels (file label or canonical name) to leave out of the recording, each with the
        reason reported for it (a BIDS ``_channels.tsv`` with ``status`` bad, or the manifest).
    bids : mapping of str to str
        The recording's BIDS entities (``subject``, ``session``, ``task``, ``acquisition``,
        ``run``) when the row came from a BIDS dataset; empty for a CSV row.
    """

    row: int
    subject: str
    night: str
    recording: str
    hypnogram: str | None
    trained_hand: str | None
    score_pre: float = math.nan
    score_post: float = math.nan
    covariates: Mapping[str, str] = field(default_factory=dict)
    bad_channels: Mapping[str, str] = field(default_factory=dict)
    bids: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Manifest:
    """A validated cohort manifest.

    Attributes
    ----------
    path : str
        Absolute path of the manifest file.
    rows : tuple of ManifestRow
        One per recording, in file order.
    covariates : tuple of str
        Names of the extra columns.
    """

    path: str
    rows: tuple[ManifestRow, ...]
    covariates: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.rows)

    def where(self, row: int) -> str:
        """``"<manifest name> row <n>"``, the prefix of every message about that row."""
        return f"{Path(self.path).name} row {row}"

    def row(self, number: int) -> ManifestRow:
        """The row numbered ``number``."""
        return next(r for r in self.rows if r.row == number)

    @property
    def table(self) -> pd.DataFrame:
        """The rows as a table: ``row``, the standard columns, then the covariates (for display)."""
        records = [{**{f: getattr(r, f) for f in ("row", *MANIFEST_COLUMNS)}, **r.covariates} for r in self.rows]
        table = pd.DataFrame(records, columns=["row", *MANIFEST_COLUMNS, *self.covariates])
        table["hypnogram"] = pd.Series([r.hypnogram for r in self.rows], dtype=object)
        return table


def read_manifest(path, *, hand: bool = True) -> Manifest:
    """Read and validate a cohort manifest.

    Parameters
    ----------
    path : str, Path or BidsSource
        The CSV file; or a BIDS dataset: its root folder, or a
        :class:`~sleepspindles.io.bids.BidsSource` (filters, column names), read by
        :func:`~sleepspindles.io.bids.read_bids`.
    hand : bool
        Whether every row needs its ``trained_hand`` (a cohort, which lateralises). A batch
        passes False: the column may be absent or empty; a value given is still checked.

    Returns
    -------
    Manifest

    Raises
    ------
    DataError
        For an unreadable file, missing columns, or a bad row (naming the row and the field),
        e.g. ``manifest.csv row 3: field 'trained_hand' must be 'left' or 'right'; got 'lft'``.
    """
    from .bids import BidsSource, read_bids

    if isinstance(path, BidsSource) or Path(path).is_dir():
        return read_bids(path)
    path = Path(path).resolve()
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            records = list(csv.reader(handle))
    except OSError as exc:
        raise file_error(path, f"cannot read manifest ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise file_error(path, "manifest is not UTF-8 text") from None
    records = [r for r in records if any(cell.strip() for cell in r)]
    if not records:
        raise file_error(path, "manifest is empty; expected a header line " + ",".join(MANIFEST_COLUMNS))
    header = [h.strip() for h in records[0]]
    required = REQUIRED_COLUMNS if hand else tuple(c for c in REQUIRED_COLUMNS if c != "trained_hand")
    _check_header(path, header, required)
    rows = []
    for number, cells in enumerate(records[1:], start=1):
        if len(cells) != len(header):
            raise DataError(
                f"{path.name} row {number}: has {len(cells)} fields but the header has {len(header)}"
            )
        raw = {name: cell.strip() for name, cell in zip(header, cells)}
        rows.append(_parse_row(path, number, raw, required))
    if not rows:
        raise file_error(path, "manifest has a header but no rows")
    covariates = tuple(h for h in header if h not in MANIFEST_COLUMNS + OPTIONAL_COLUMNS)
    _check_consistency(path, rows)
    return Manifest(path=str(path), rows=tuple(rows), covariates=covariates)


def _check_header(path: Path, header: list[str], required: tuple[str, ...]) -> None:
    """Refuse missing ``required`` columns, empty or duplicated column names."""
    if any(not h for h in header):
        raise file_error(path, "manifest header has an empty column name")
    duplicated = sorted({h for h in header if header.count(h) > 1})
    if duplicated:
        raise file_error(path, f"manifest header repeats column(s) {duplicated}")
    missing = [c for c in required if c not in header]
    if missing:
        raise file_error(path, f"manifest lacks required column(s) {missing}; the header must include "
                               + ",".join(required))


def _parse_row(path: Path, number: int, raw: dict[str, str], required: tuple[str, ...]) -> ManifestRow:
    """Validate one data row (``required`` fields non-empty) and return it parsed."""
    where = f"{path.name} row {number}"
    for name in required:
        if not raw.get(name):
            raise DataError(f"{where}: field {name!r} is empty")
    hand = raw.get("trained_hand", "").lower() or None
    if hand is not None and hand not in _HANDS:
        raise DataError(f"{where}: field 'trained_hand' must be 'left' or 'right'; got {raw['trained_hand']!r}")
    return ManifestRow(
        row=number,
        subject=raw["subject"],
        night=raw["night"],
        recording=_resolve(path, raw["recording"]),
        hypnogram=_resolve(path, raw["hypnogram"]) if raw.get("hypnogram") else None,
        trained_hand=hand,
        score_pre=_number(where, "score_pre", raw.get("score_pre", "")),
        score_post=_number(where, "score_post", raw.get("score_post", "")),
        covariates={k: v for k, v in raw.items() if k not in MANIFEST_COLUMNS + OPTIONAL_COLUMNS},
        bad_channels={c.strip(): MANIFEST_BAD for c in raw.get("bad_channels", "").split(";") if c.strip()},
    )


def _resolve(manifest: Path, value: str) -> str:
    """Absolute path of ``value``, relative to the manifest's folder unless already absolute."""
    candidate = Path(value).expanduser()
    if not candidate.is_absolute():
        candidate = manifest.parent / candidate
    return str(candidate.resolve())


def _number(where: str, name: str, value: str) -> float:
    """A finite float, or NaN for an empty cell."""
    if value == "" or value.lower() in ("na", "nan"):
        return float("nan")
    try:
        number = float(value)
    except ValueError:
        raise DataError(f"{where}: field {name!r} must be a number or empty; got {value!r}") from None
    if not np.isfinite(number):
        raise DataError(f"{where}: field {name!r} must be a finite number or empty; got {value!r}")
    return number


def _check_consistency(path: Path, rows: list[ManifestRow]) -> None:
    """One row per subject and night and per recording; one spelling per label; one trained hand per subject.

    A recording listed twice would count one night twice (or as two subjects); labels that differ
    only in case (``S03``/``s03``, ``post``/``Post``) would split one subject or night in two.
    """
    files: dict[str, int] = {}
    spelling: dict[tuple[str, str], tuple[str, int]] = {}
    for rec in rows:
        if rec.recording in files:
            raise DataError(f"{path.name} row {rec.row}: field 'recording' repeats the recording of row "
                            f"{files[rec.recording]} ({rec.recording}); each night is one recording")
        files[rec.recording] = rec.row
        for field in ("subject", "night"):
            label = getattr(rec, field)
            first = spelling.setdefault((field, label.casefold()), (label, rec.row))
            if first[0] != label:
                raise DataError(f"{path.name} row {rec.row}: field {field!r} is {label!r} but row {first[1]} "
                                f"spells it {first[0]!r}; use one spelling (labels are compared exactly)")
    seen: dict[tuple[str, str], int] = {}
    hands: dict[str, tuple[str | None, int]] = {}
    for rec in rows:
        key = (rec.subject, rec.night)
        if key in seen:
            raise DataError(
                f"{path.name} row {rec.row}: field 'night' repeats subject {rec.subject!r} night "
                f"{rec.night!r} of row {seen[key]}"
            )
        seen[key] = rec.row
        first = hands.setdefault(rec.subject, (rec.trained_hand, rec.row))
        if first[0] != rec.trained_hand:
            raise DataError(
                f"{path.name} row {rec.row}: field 'trained_hand' is {rec.trained_hand or 'empty'!r} but subject "
                f"{rec.subject!r} has {first[0] or 'empty'!r} in row {first[1]}; the trained hand must be the "
                "same on every night of a subject"
            )
