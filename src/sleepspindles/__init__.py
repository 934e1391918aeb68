"""sleepspindles: sleep spindle detection and hemispheric lateralisation for PSG cohorts.

Data flow: path -> :class:`Recording` -> :class:`Hypnogram` -> events -> summaries /
laterality -> report files.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .errors import ConfigError, DataError, SleepSpindlesError
from .hypnogram import Hypnogram, Stage
from .recording import Recording

try:
    __version__ = version("sleepspindles")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "__version__",
    "SleepSpindlesError",
    "DataError",
    "ConfigError",
    "Recording",
    "Hypnogram",
    "Stage",
]
