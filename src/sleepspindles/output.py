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


def write_run(out_dir: str | Path, events: pd.DataFrame, summary: pd.DataFrame, metadata: dict) -> dict[str, Path]:
    """Write one recording's ``events.csv``, ``summary.csv`` and ``run.json``.

    ``run.json`` is written last, so its presence marks a complete output folder.

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
    files["run"] = write_json(out / "run.json", {**metadata, "files": sorted(p.name for p in files.values())})
    return files
