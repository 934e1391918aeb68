"""Every file the package writes goes through here, atomically.

Each writer writes a temporary file in the destination folder and renames it into place, so a
crash or Ctrl-C never leaves a half-written file that a later (resumed) run could take as done.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

__all__ = [
    "atomic_path",
    "write_text",
    "write_bytes",
    "write_json",
    "write_csv",
    "write_parquet",
    "write_run",
    "write_edf",
]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    The temporary file is removed when the block raises, and the destination is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


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


def write_run(
    out_dir: str | Path,
    events: pd.DataFrame,
    summary: pd.DataFrame,
    metadata: dict,
    *,
    sigma: pd.DataFrame | None = None,
) -> dict[str, Path]:
    """Write one recording's ``events.csv``, ``summary.csv``, ``sigma.csv`` and ``run.json``.

    ``run.json`` is written last and lists the other files, so its presence marks a complete
    output folder.

    Parameters
    ----------
    out_dir : str or Path
    events, summary : pandas.DataFrame
    metadata : dict
        Provenance for ``run.json``.
    sigma : pandas.DataFrame, optional
        Sigma power table (``RecordingResult.sigma``); ``sigma.csv`` is written only when given.

    Returns
    -------
    dict of str to Path
        The files written, by name.
    """
    out = Path(out_dir)
    files = {
        "events": write_csv(out / "events.csv", events),
        "summary": write_csv(out / "summary.csv", summary),
    }
    if sigma is not None:
        files["sigma"] = write_csv(out / "sigma.csv", sigma)
    files["run"] = write_json(out / "run.json", {**metadata, "files": sorted(p.name for p in files.values())})
    return files


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


def write_edf(recording, path: str | Path) -> Path:
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

    Returns
    -------
    Path
    """
    import edfio  # heavy import kept local: only this writer needs it
    import numpy as np

    from .errors import file_error, param_error

    bad = [n for n in recording.original_names if len(n) > _EDF_LABEL_MAX or not n.isascii()]
    if bad:
        must = f"ASCII labels of at most {_EDF_LABEL_MAX} characters"
        raise param_error("recording.original_names", must, bad)
    finite = np.isfinite(recording.data).all(axis=1)
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
    for row, label in zip(recording.data, recording.original_names):
        values = np.pad(np.asarray(row, dtype=np.float64), (0, n_pad), mode="edge")
        low, high = float(values.min()), float(values.max())
        if high - low < 1e-3:  # a flat channel still needs a non-empty physical range
            low, high = low - 1.0, high + 1.0
        signals.append(edfio.EdfSignal(values, recording.sf, label=label, physical_dimension="uV",
                                       physical_range=(low, high)))
    annotations = []
    hypnogram = recording.hypnogram
    if hypnogram is not None:
        for i, code in enumerate(hypnogram.stages):
            onset = hypnogram.offset + i * hypnogram.epoch_length
            annotations.append(edfio.EdfAnnotation(onset, hypnogram.epoch_length,
                                                   f"Sleep stage {_EDF_STAGE_TEXT[int(code)]}"))
    start = recording.start_time
    edf = edfio.Edf(
        signals,
        recording=edfio.Recording(startdate=start.date()) if start is not None else None,
        starttime=start.time().replace(microsecond=0, tzinfo=None) if start is not None else None,
        data_record_duration=record,
        annotations=annotations,
    )
    with atomic_path(path) as tmp:
        edf.write(tmp)
    return Path(path)
