"""Spindle trains: spindles grouped in time on one channel.

Spindles tend to come in trains (Boutin & Doyon 2020, Phil Trans R Soc B 375:20190232): two
consecutive spindles of a channel belong to one train when the gap between them, from the end
of the first to the start of the second, is at most :data:`TRAIN_MAX_GAP` (6 s). A train holds
at least two spindles; a spindle with no neighbour that close is isolated.

Rows follow the spindle summary (:func:`.summary.stage_groups`): every EEG channel (dropped and
unmeasurable ones included, NaN with the reason) and stage group (each searched stage and their
union). Within a stage group, trains are formed from that group's spindles in time order, so an
N3 spindle between two N2 spindles does not break an N2 train.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config
from ..detection.coverage import Coverage
from ..hypnogram import Hypnogram
from ..recording import Recording
from ..schema import TRAINS
from .summary import rate, stage_groups

__all__ = ["TRAIN_MAX_GAP", "train_runs", "spindle_trains", "trains_table"]

#: Largest gap (s, one spindle's end to the next one's start) between consecutive spindles of a train.
TRAIN_MAX_GAP = 6.0


def train_runs(start: np.ndarray, end: np.ndarray, max_gap: float = TRAIN_MAX_GAP) -> np.ndarray:
    """Number of spindles in each train of one channel's spindles.

    Parameters
    ----------
    start, end : numpy.ndarray of float
        Onsets and offsets in seconds, sorted by onset.
    max_gap : float
        Largest end-to-start gap (s) between consecutive spindles of a train.

    Returns
    -------
    numpy.ndarray of int
        One entry per train (each at least 2), in time order; empty without a train.
    """
    linked = (np.asarray(start, float)[1:] - np.asarray(end, float)[:-1]) <= max_gap
    edges = np.diff(np.concatenate(([0], linked.astype(np.int8), [0])))
    first, stop = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return stop - first + 1  # k links join k + 1 spindles


def spindle_trains(
    events: pd.DataFrame,
    hypnogram: Hypnogram | None,
    recording: Recording,
    config: Config | None = None,
    *,
    coverage: Coverage | None = None,
    max_gap: float = TRAIN_MAX_GAP,
) -> pd.DataFrame:
    """Trains per channel and stage group of a spindle events table.

    Parameters
    ----------
    events : pandas.DataFrame
        Standard spindle events table.
    hypnogram : Hypnogram or None
        The stages used for detection (``None``: one ``UNSCORED`` group per channel).
    recording : Recording
    config : Config, optional
        ``detection.stages`` and ``flat_seconds``.
    coverage : Coverage, optional
        The analysed time (the detection's); measured on ``recording`` when omitted.
    max_gap : float
        Largest gap (s) inside a train.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`sleepspindles.schema.TRAINS`: ``train_density`` is trains per analysed
        minute (NaN without analysed time, with a ``note``), ``fraction_in_trains`` the share of
        the group's spindles that belong to a train (NaN without spindles).
    """
    config = config or Config()
    det = config.detection
    rows = []
    for group, found in stage_groups(events, recording, hypnogram, det.stages, coverage, det.flat_seconds):
        found = found.sort_values("start", kind="stable")
        runs = train_runs(found["start"].to_numpy(float), found["end"].to_numpy(float), max_gap)
        n, in_trains = len(found), int(runs.sum())
        rows.append({**group.columns(), "n_spindles": n, "n_trains": runs.size, "n_in_trains": in_trains,
                     "train_density": rate(runs.size, group.minutes),
                     "fraction_in_trains": in_trains / n if n else np.nan,
                     "mean_train_length": float(runs.mean()) if runs.size else np.nan, "max_gap": max_gap})
    return TRAINS.conform(pd.DataFrame(rows, columns=list(TRAINS.names)))


def trains_table(context) -> pd.DataFrame:
    """:func:`spindle_trains` of a recording context (the producer of :data:`sleepspindles.schema.TRAINS`)."""
    found = context.detections["spindles"]
    return spindle_trains(found.events, context.hypnogram, context.recording, context.config,
                          coverage=found.coverage)
