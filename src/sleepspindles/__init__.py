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

# The public functions live in their stage's module; they are imported on first use so that
# ``import sleepspindles`` stays fast and does not pull in mne, yasa or numba.
_LAZY = {
    "load_recording": "sleepspindles.io",
    "read_hypnogram": "sleepspindles.io",
    "stage": "sleepspindles.staging",
    "detect_spindles": "sleepspindles.detection",
    "summarize": "sleepspindles.analysis.summary",
    "lateralise": "sleepspindles.analysis.laterality",
    "evaluate": "sleepspindles.evaluation",
    "load_config": "sleepspindles.config",
    "Config": "sleepspindles.config",
    "process_recording": "sleepspindles.pipeline",
    "make_synthetic_night": "sleepspindles.synthetic",
}

__all__ = [
    "__version__",
    "SleepSpindlesError",
    "DataError",
    "ConfigError",
    "Recording",
    "Hypnogram",
    "Stage",
    *_LAZY,
]


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sleepspindles' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
