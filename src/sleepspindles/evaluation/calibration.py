"""Calibration of a per-event confidence: a logistic model fitted and checked leave-one-group-out.

:func:`fit_logistic` fits ``P(right) = 1 / (1 + exp(-(b0 + x . b)))`` by penalised maximum
likelihood (inputs standardised for the fit, coefficients returned on the raw inputs, so they
can be stored as constants and applied by
:func:`sleepspindles.detection.spindles.confidence.logistic`); :func:`leave_one_group_out`
scores every event with a model fitted on the other groups (recordings) only;
:func:`calibration_table` bins the confidences and gives the fraction of right events per bin.
Used by ``scripts/calibrate_confidence.py`` on the a7 detections of the DREAMS excerpts.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from ..detection.spindles.confidence import logistic
from ..errors import param_error

__all__ = ["fit_logistic", "leave_one_group_out", "calibration_table", "CALIBRATION_COLUMNS"]

#: Columns of :func:`calibration_table`.
CALIBRATION_COLUMNS = ("confidence", "n_events", "mean_confidence", "fraction_right")


def fit_logistic(x, y, l2: float = 0.01) -> np.ndarray:
    """Intercept and coefficients of a logistic regression of ``y`` (0/1) on ``x``.

    Parameters
    ----------
    x : array of float, shape (n, k)
        Inputs, one row per event (rows with a NaN are left out).
    y : array of bool, shape (n,)
        Whether each event is right.
    l2 : float
        Ridge penalty on the coefficients of the standardised inputs (not the intercept): keeps
        the fit finite when a few events separate perfectly.

    Returns
    -------
    numpy.ndarray, shape (k + 1,)
        ``b0, b1 .. bk`` on the raw inputs.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise param_error("x/y", "an (n, k) array and n labels", (x.shape, y.shape))
    keep = np.isfinite(x).all(axis=1)
    x, y = x[keep], y[keep]
    if y.size < 2 or y.min() == y.max():
        raise param_error("y", "both right and wrong events", f"{y.size} events, {int(y.sum())} right")
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd == 0] = 1.0
    z = np.c_[np.ones(y.size), (x - mu) / sd]

    def loss(b: np.ndarray) -> tuple[float, np.ndarray]:
        eta = z @ b
        p = logistic(z[:, 1:], b)
        grad = z.T @ (p - y)
        grad[1:] += 2 * l2 * b[1:]
        return float(np.sum(np.logaddexp(0.0, eta) - y * eta) + l2 * np.sum(b[1:] ** 2)), grad

    b = minimize(loss, np.zeros(z.shape[1]), jac=True, method="BFGS", options={"gtol": 1e-8}).x
    coef = b[1:] / sd
    return np.r_[b[0] - coef @ mu, coef]


def leave_one_group_out(x, y, groups: Sequence, l2: float = 0.01, evaluate: tuple | None = None) -> np.ndarray:
    """Each event's confidence from a model fitted on the events of the other groups only.

    Parameters
    ----------
    x, y, groups : array-like
        Training inputs (n, k), labels (n,) and group (recording) of each event.
    l2 : float
        Ridge penalty of :func:`fit_logistic`.
    evaluate : (x, groups), optional
        Other events to score, each by the model fitted without its group (another detector's
        events on the same recordings); default: the training events themselves.

    Returns
    -------
    numpy.ndarray
        One held-out confidence per scored event.
    """
    x, y, groups = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=bool), np.asarray(groups)
    x_eval, g_eval = (x, groups) if evaluate is None else (np.asarray(evaluate[0], np.float64), np.asarray(evaluate[1]))
    if len(set(groups.tolist())) < 2:
        raise param_error("groups", "at least two groups", sorted(set(groups.tolist())))
    out = np.full(g_eval.size, np.nan)
    for g in sorted(set(g_eval.tolist()), key=str):
        held = groups == g
        out[g_eval == g] = logistic(x_eval[g_eval == g], fit_logistic(x[~held], y[~held], l2))
    return out


def calibration_table(p, y, edges: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)) -> pd.DataFrame:
    """Events per confidence bin ``[edges[i], edges[i+1])`` (the last bin closed), with the fraction right.

    With the default edges the last row answers "how often is an event with confidence >= 0.8 right".

    Returns
    -------
    pandas.DataFrame
        :data:`CALIBRATION_COLUMNS`; ``fraction_right`` NaN for an empty bin.
    """
    p, y = np.asarray(p, dtype=np.float64), np.asarray(y, dtype=bool)
    rows = []
    for i, (lo, hi) in enumerate(pairwise(edges)):
        last = i == len(edges) - 2
        inside = (p >= lo) & ((p <= hi) if last else (p < hi))
        n = int(inside.sum())
        rows.append({"confidence": f"{lo:.1f}-{hi:.1f}", "n_events": n,
                     "mean_confidence": float(p[inside].mean()) if n else np.nan,
                     "fraction_right": float(y[inside].mean()) if n else np.nan})
    return pd.DataFrame(rows, columns=list(CALIBRATION_COLUMNS))
