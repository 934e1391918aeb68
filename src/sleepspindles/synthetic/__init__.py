"""Synthetic polysomnography with planted ground truth (for the demo, the tests and the studies).

:func:`make_synthetic_night` draws a night: a realistic hypnogram, a 1/f background with stage
rhythms, spindles planted at known times, frequencies and amplitudes per channel and, on
request, slow oscillations with spindles locked to their phase (:mod:`.slow_oscillations`).
"""

from .night import SyntheticConfig, SyntheticNight, make_synthetic_night, synthetic_hypnogram
from .slow_oscillations import SO_TRUTH_COLUMNS
from .spindles import TRUTH_COLUMNS

__all__ = [
    "SO_TRUTH_COLUMNS",
    "TRUTH_COLUMNS",
    "SyntheticConfig",
    "SyntheticNight",
    "make_synthetic_night",
    "synthetic_hypnogram",
]
