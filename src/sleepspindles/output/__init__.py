"""Writers: every file the package writes goes through here, atomically.

:mod:`.files` holds the atomic writers, the run folder written as a set and the EDF+ writer;
:mod:`.bids` writes a run's results as a BIDS derivative dataset; :mod:`.review` writes the
detections beside the signal for visual review (EDF+ annotations, MNE FIF) or as a CSV of
annotations. Every public name of :mod:`.files` is importable from here
(``sleepspindles.output.write_csv``).
"""

from __future__ import annotations

from . import files
from .files import *  # every public name of .files

__all__ = list(files.__all__)
