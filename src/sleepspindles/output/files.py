"""Every file the package writes goes through here, atomically.

Each writer writes a temporary file in the destination folder and renames it into place, so a
crash or Ctrl-C never leaves a half-written file that a later (resumed) run could take as done.
A killed writer can leave its empty temporary file (``.NAME.XXXXXXXX.part``) behind;
:func:`prepare_folder` removes those when a folder is written again. One recording's outputs
are written as a set through :class:`RunFolder`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import file_error, param_error
from ..records import RunRecord, StatusRow
from ..schema import RUN_TABLES, STATUS

__all__ = [
    "RUN_FILES",
    "REVIEW_FILES",
    "RunFolder",
    "prepare_folder",
    "atomic_path",
    "write_text",
    "write_bytes",
    "write_json",
    "write_csv",
    "write_parquet",
    "write_run",
    "write_status",
    "write_edf",
]

logger = logging.getLogger(__name__)

#: The run's detections exported for review (``sleepspindles export RUN --to FORMAT``), by format.
REVIEW_FILES = {"edf": "review.edf", "fif": "review_raw.fif", "csv": "review_annotations.csv"}
#: Files a run folder (``run``, ``demo``, one recording of ``batch``) owns: a new run removes
#: those it does not write itself, so nothing left from an earlier run contradicts the new one
#: (an export of the earlier detections included; a reviewer's ``reviewed_*.csv`` is not the run's).
RUN_FILES = (*(t.file for t in RUN_TABLES), "report.html", "report.pdf", "demo.edf", "truth.csv", "scores.csv",
             *REVIEW_FILES.values(), "run.json")
_RUN_JSON = "run.json"
# Temporary files of atomic_path (and of tempfile.mkstemp, which earlier versions used).
_PART = re.compile(r"\..+\.[a-z0-9_]{8}\.part")


def _reserve(path: Path) -> Path:
    """Create an empty ``.NAME.XXXXXXXX.part`` file beside ``path``, with the user's umask.

    ``tempfile.mkstemp`` would make it 0600, and the rename would keep that mode.
    """
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:  # another writer drew the same name: draw again
            continue
        return tmp


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file is removed when the block raises, and the destination is untouched. The
    file gets the mode a plain ``open`` would give (``0666`` less the umask).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _reserve(path)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def prepare_folder(path: str | Path, *, rewrite: bool = False) -> Path:
    """Create an output folder, check that it can be written and remove leftover ``.part`` files.

    Cheap: call it before any long computation, so a bad output folder fails at once.

    Parameters
    ----------
    path : str or Path
    rewrite : bool
        The folder's set of outputs is about to be rewritten: remove its ``run.json`` first, so
        that an interrupted run never leaves old and new files looking like one complete set.

    Returns
    -------
    Path

    Raises
    ------
    DataError
        When ``path`` is a file, or the folder cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise file_error(path, "--out must be a folder; a file of that name exists")
    try:
        path.mkdir(parents=True, exist_ok=True)
        _reserve(path / "write-probe").unlink()  # creating a file is what every writer needs
    except OSError as exc:
        raise file_error(path, f"cannot write to this output folder ({exc.strerror or exc})") from None
    for leftover in path.iterdir():
        if _PART.fullmatch(leftover.name) and leftover.is_file():
            logger.debug("removing %s, left by an interrupted write", leftover)
            leftover.unlink(missing_ok=True)
    if rewrite:
        (path / _RUN_JSON).unlink(missing_ok=True)
    return path


class RunFolder:
    """One recording's output folder, written as a set.

    Opening it prepares the folder (:func:`prepare_folder`) and removes ``run.json``, so a
    half-rewritten folder never looks complete. Each file the run writes is declared with
    :meth:`add` (:meth:`write_tables` writes and declares the tables); :meth:`finish` removes the
    :data:`RUN_FILES` this run did not write (stale outputs of an earlier run; files the folder
    does not own are never touched) and writes ``run.json`` last, listing the files written: its
    presence marks a complete folder.

    Parameters
    ----------
    path : str or Path
        The folder (created).

    Raises
    ------
    DataError
        When the folder cannot be written (see :func:`prepare_folder`).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = prepare_folder(path, rewrite=True)
        self._files: dict[str, Path] = {}

    def add(self, path: str | Path) -> Path:
        """Declare a file this run wrote into the folder (one of :data:`RUN_FILES`); returns it."""
        path = Path(path)
        if path.parent != self.path or path.name not in RUN_FILES or path.name == _RUN_JSON:
            raise ValueError(f"{path} is not an output file that the run folder {self.path} owns")
        self._files[path.name] = path
        return path

    def write_tables(self, tables: Mapping[str, pd.DataFrame]) -> None:
        """Write (and declare) each table to its schema's file (:data:`sleepspindles.schema.RUN_TABLES`)."""
        for table in RUN_TABLES:
            if table.name in tables:
                self.add(write_csv(self.path / table.file, tables[table.name]))

    def finish(self, record: RunRecord) -> dict[str, Path]:
        """Remove the owned files this run did not write, then write ``run.json`` (last).

        Parameters
        ----------
        record : RunRecord
            What ``run.json`` holds; a file named in its ``inputs`` is never removed, and its
            ``files`` are set to the files written.

        Returns
        -------
        dict of str to Path
            Every file written by this run, by name, ``run.json`` last.
        """
        inputs = {Path(i.path).resolve() for i in record.inputs.values()}
        for name in RUN_FILES:
            stale = self.path / name
            if name not in self._files and name != _RUN_JSON and stale.resolve() not in inputs:
                stale.unlink(missing_ok=True)
        run = write_json(self.path / _RUN_JSON, record.with_(files=tuple(sorted(self._files))).to_json())
        return {**self._files, _RUN_JSON: run}


def write_text(path: str | Path, text: str) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write bytes atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as indented JSON atomically (non-JSON values via ``str``)."""
    return write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def write_csv(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write a table as CSV (no index) atomically."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)
    return Path(path)


def write_parquet(path: str | Path, frame: pd.DataFrame) -> Path:
    """Write a table as Parquet (no index) atomically."""
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)
    return Path(path)


def write_run(out_dir: str | Path, tables: Mapping[str, pd.DataFrame], record: RunRecord) -> dict[str, Path]:
    """Write one recording's tables and ``run.json`` as a set: a :class:`RunFolder` with no other file.

    Returns
    -------
    dict of str to Path
        The files written, by name (see :meth:`RunFolder.finish`).
    """
    folder = RunFolder(out_dir)
    folder.write_tables(tables)
    return folder.finish(record)


def write_status(path: str | Path, rows: Sequence[StatusRow]) -> Path:
    """Write a batch's ``status.csv`` (:data:`sleepspindles.schema.STATUS`), in manifest order."""
    frame = pd.DataFrame([r.to_record() for r in sorted(rows, key=lambda r: r.row)], columns=list(STATUS.names))
    return write_csv(path, STATUS.conform(frame))


#: EDF+ annotation text per stage code (AASM names; artefact and unscored epochs are "?").
_EDF_STAGE_TEXT = {0: "W", 1: "N1", 2: "N2", 3: "N3", 4: "R", -1: "?", -2: "?"}
_EDF_LABEL_MAX = 16  # EDF header field width for signal labels
_EDF_MAX_RECORD_S = 60  # longest data record tried when the sampling rate is not a whole number


def _edf_record_duration(sf: float) -> int:
    """Shortest whole-second data record holding a whole number of samples."""
    for seconds in range(1, _EDF_MAX_RECORD_S + 1):
        if abs(sf * seconds - round(sf * seconds)) < 1e-6:
            return seconds
    raise ValueError(f"sampling rate {sf} Hz gives no whole number of samples in <= 60 s records")


def write_edf(recording, path: str | Path, annotations: Sequence[tuple[float, float, str]] = ()) -> Path:
    """Write a recording (and its hypnogram) as an EDF+ file, atomically.

    Each channel is stored in microvolts (physical dimension ``"uV"``) with the physical range
    set to the channel's own minimum and maximum, so nothing is clipped and the 16-bit
    quantisation step is ``(max - min) / 65535``. Labels are ``recording.original_names``.
    The hypnogram becomes one EDF+ annotation per epoch, ``"Sleep stage W|N1|N2|N3|R|?"``,
    at ``offset + i * epoch_length`` lasting one epoch. Data records last 1 s (or the shortest
    whole number of seconds that holds whole samples); the signal is padded at the end with its
    last value to a whole number of records.

    Parameters
    ----------
    recording : Recording
        Signals in microvolts; all finite.
    path : str or Path
        Destination ``.edf`` file.
    annotations : sequence of (onset, duration, text)
        More EDF+ annotations (seconds from the start; detections for review). Onsets are
        written as the shortest decimal that reads back as the same float, so an onset on the
        sample grid stays on it.

    Returns
    -------
    Path
    """
    import edfio  # heavy import kept local: only this writer needs it
    import numpy as np

    bad = [n for n in recording.original_names if len(n) > _EDF_LABEL_MAX or not n.isascii()]
    if bad:
        must = f"ASCII labels of at most {_EDF_LABEL_MAX} characters"
        raise param_error("recording.original_names", must, bad)
    data = recording.values()
    finite = np.isfinite(data).all(axis=1)
    if not finite.all():
        raise file_error(path, f"cannot write non-finite samples (channel(s) "
                               f"{[c for c, ok in zip(recording.channels, finite) if not ok]}) to EDF")
    try:
        record = _edf_record_duration(recording.sf)
    except ValueError as exc:
        raise file_error(path, str(exc)) from None
    per_record = int(round(recording.sf * record))
    n_pad = -recording.n_samples % per_record
    signals = []
    for row, label in zip(data, recording.original_names):
        values = np.pad(np.asarray(row, dtype=np.float64), (0, n_pad), mode="edge")
        low, high = float(values.min()), float(values.max())
        if high - low < 1e-3:  # a flat channel still needs a non-empty physical range
            low, high = low - 1.0, high + 1.0
        signals.append(edfio.EdfSignal(values, recording.sf, label=label, physical_dimension="uV",
                                       physical_range=(low, high)))
    tals = []
    hypnogram = recording.hypnogram
    if hypnogram is not None:
        for i, code in enumerate(hypnogram.stages):
            onset = hypnogram.offset + i * hypnogram.epoch_length
            tals.append(edfio.EdfAnnotation(onset, hypnogram.epoch_length,
                                                   f"Sleep stage {_EDF_STAGE_TEXT[int(code)]}"))
    bad = [a for a in annotations if not (np.isfinite(a[0]) and np.isfinite(a[1]) and a[0] >= 0 and a[1] >= 0)]
    if bad:
        raise param_error("annotations", "finite, non-negative onsets and durations", bad[:3])
    tals += [edfio.EdfAnnotation(float(onset), float(duration), str(text)) for onset, duration, text in annotations]
    start = recording.start_time
    edf = edfio.Edf(
        signals,
        recording=edfio.Recording(startdate=start.date()) if start is not None else None,
        starttime=start.time().replace(microsecond=0, tzinfo=None) if start is not None else None,
        data_record_duration=record,
        annotations=tals,
    )
    with atomic_path(path) as tmp:
        edf.write(tmp)
    return Path(path)
