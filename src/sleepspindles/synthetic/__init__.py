"""Synthetic polysomnography with planted ground truth (for the demo, the tests and the studies).

:func:`make_synthetic_night` draws a night: a realistic hypnogram, a 1/f background with stage
rhythms, and spindles planted at known times, frequencies and amplitudes per channel.
"""

from .night import TRUTH_COLUMNS, SyntheticConfig, SyntheticNight, make_synthetic_night, synthetic_hypnogram

__all__ = ["TRUTH_COLUMNS", "SyntheticConfig", "SyntheticNight", "make_synthetic_night", "synthetic_hypnogram"]
