"""Writers: every file the package writes goes through here, atomically.

:mod:`.files` holds the atomic writers, the run folder written as a set and the EDF+ writer;
:mod:`.bids` writes a run's results as a BIDS derivative dataset; :mod:`.review` writes the
detections beside the signal for visual review (EDF+ annotations, MNE FIF) or as a CSV of
annotations. Every public name of :mod:`.files` is importable from here
(``sleepspindles.output.write_csv``).
"""

from __future__ import annotations

from .files import (
    REVIEW_FILES,
    RUN_FILES,
    RunFolder,
    atomic_path,
    prepare_folder,
    write_bytes,
    write_csv,
    write_edf,
    write_json,
    write_parquet,
    write_run,
    write_status,
    write_text,
)

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
