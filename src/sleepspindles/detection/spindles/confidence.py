"""Per-spindle confidence of the ``a7`` engine: a calibrated logistic model of its own features.

Each event's inputs are how far, on average over the event's 0.1 s segments, each of the four
A7 features exceeds A7's *published* threshold (:data:`sleepspindles.config.A7_PUBLISHED`, fixed,
so an event's confidence does not move when the detection thresholds are tuned), and its
duration in seconds. The confidence is ``1 / (1 + exp(-(b0 + b . inputs)))``: the probability that
a human expert marked the event.

The coefficients (:data:`COEFFICIENTS`) were fitted on every a7 detection (default preset) of the
four DREAMS excerpts (whole excerpt, no hypnogram) by ``scripts/calibrate_confidence.py``; an event counts as right when it matches (one-to-one,
IoU >= 0.2) the union of the two experts on the 1000 s both scored, expert 2 after. That script
also prints the leave-one-excerpt-out calibration table (each excerpt scored by a model fitted on
the other three), the honest estimate of how the confidence holds on a new recording; the
features considered and left out (spindle frequency, which would mark slow spindles down; the
quality measures of :mod:`.parameters`, which add nothing held out) are in its docstring.

The other engines (``fast``, ``yasa``) compute no confidence: their ``confidence`` is NaN.
"""

from __future__ import annotations

import numpy as np

from ...config import A7_PUBLISHED
from . import kernels_a7

__all__ = ["INPUTS", "COEFFICIENTS", "model_inputs", "logistic", "confidence"]

#: Model inputs, in order: each feature's mean over the event minus its published threshold, then the duration (s).
INPUTS = ("abs_pow", "rel_pow_z", "cov_z", "corr", "duration")
_FEATURES = {"abs_pow": "thresh_abs_pow", "rel_pow_z": "thresh_rel_pow_z", "cov_z": "thresh_cov_z",
             "corr": "thresh_corr"}

#: Intercept then one coefficient per input of :data:`INPUTS`; printed by
#: ``python scripts/calibrate_confidence.py`` (fit on all four DREAMS excerpts, L2 penalty 0.01 on
#: standardised inputs). Both presets compute the same features, so one model serves both.
COEFFICIENTS: tuple[float, ...] = (-4.0141, 4.7484, 2.6315, 0.1951, 1.0473, 3.8986)


def model_inputs(features, starts: np.ndarray, lasts: np.ndarray) -> np.ndarray:
    """The model's inputs (rows: events, columns: :data:`INPUTS`) from one channel's A7 features.

    Parameters
    ----------
    features : sleepspindles.detection.spindles.a7.A7Features
        The channel's features on 0.1 s segments.
    starts, lasts : numpy.ndarray of int
        First and last (inclusive) segment of each event.
    """
    columns = [kernels_a7.span_means(getattr(features, name), starts, lasts) - A7_PUBLISHED[key]
               for name, key in _FEATURES.items()]
    columns.append((np.asarray(lasts) - np.asarray(starts) + 1) * features.segment)
    return np.column_stack(columns)


def logistic(inputs: np.ndarray, coefficients) -> np.ndarray:
    """``1 / (1 + exp(-(b0 + inputs @ b)))`` row by row (NaN where an input is NaN)."""
    b = np.asarray(coefficients, dtype=np.float64)
    z = b[0] + np.asarray(inputs, dtype=np.float64) @ b[1:]
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # the logistic function, without overflow for large |z|


def confidence(inputs: np.ndarray) -> np.ndarray:
    """Calibrated confidence (0-1) of events with model ``inputs`` (:func:`model_inputs`)."""
    return logistic(inputs, COEFFICIENTS)
