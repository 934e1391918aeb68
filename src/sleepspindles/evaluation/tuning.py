"""Leave-one-recording-out tuning of the A7 thresholds against expert scorings.

The features of each recording are computed once (:func:`sleepspindles.detection.spindles.a7.a7_features`);
every point of a small grid of thresholds is then scored on every recording by one-to-one
matching (IoU >= 0.2). In each fold one recording is held out, the grid point with the best
*pooled* F1 (counts summed over the training recordings) against the objective reference is
chosen on the others, and the held-out recording is scored with it. No recording is ever scored
with thresholds fitted on it.

Each reference is scored only inside the window its scorer scored (``TuningRecording.windows``,
midpoint rule of :func:`sleepspindles.evaluation.intervals.in_window`), on both sides: a detection where a
scorer did not look is neither a hit nor a false alarm.

The objective is either one reference or ``"mean"``, the mean over the references of their pooled
F1; the scripts use ``"mean"`` (over expert 1, expert 2 and their union). The union alone is a
natural target (it keeps every spindle either expert saw and penalises only what neither saw), but
it is complete only where both experts scored: on DREAMS that is the first 1000 s, so a
union-only objective throws away expert 2's scoring of the rest of each excerpt (over half of its
spindles). The mean uses every scored stretch and is the quantity the project reports. On DREAMS
the two objectives tie: held-out F1 against expert 1 / expert 2 / union 0.557 / 0.659 / 0.639
with the mean, 0.574 / 0.629 / 0.667 with the union (averages 0.618 and 0.623; with the earlier
FIR features the mean had won on every reference, 0.536 / 0.546 / 0.621 against 0.525 / 0.532 /
0.613). Fitting one expert alone teaches that scorer's habits (the experts agree at by-event F1
0.23 to 0.70).
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import DetectionConfig
from ..detection.spindles.a7 import A7Features, a7_decide
from ..errors import param_error
from .intervals import in_window
from .matching import match_events

__all__ = ["GRID", "TuningRecording", "Fold", "CrossValidation", "with_changes", "score_grid", "restrict",
           "cross_validate", "consensus", "pinned_ablation"]

#: The thresholds searched (few, each around A7's published value) and the minimum duration.
GRID: dict[str, tuple] = {
    "a7.thresh_abs_pow": (None, 1.25, 1.5),
    "a7.thresh_rel_pow_z": (1.0, 1.3, 1.6, 1.9, 2.2),
    "a7.thresh_cov_z": (1.0, 1.3, 1.6, 2.0),
    "a7.thresh_corr": (0.6, 0.69, 0.75),
    "duration": ((0.3, 2.5), (0.5, 2.5)),
}


@dataclass(frozen=True)
class TuningRecording:
    """One recording for tuning: a channel's A7 features and its reference scorings by name.

    ``windows`` maps a reference name to the interval ``(start, end)`` s its scorer scored; a
    reference without one is scored over the whole recording.
    """

    name: str
    features: A7Features
    references: Mapping[str, pd.DataFrame]
    windows: Mapping[str, tuple[float, float]] = dataclasses.field(default_factory=dict)

    def scored(self, name: str, events: pd.DataFrame) -> pd.DataFrame:
        """``events`` restricted to the window of reference ``name`` (all of them without one)."""
        window = self.windows.get(name)
        return events if window is None else events[in_window(events["start"], events["end"], window)]


@dataclass(frozen=True)
class Fold:
    """One fold: the held-out recording, the chosen settings, training and held-out F1."""

    held_out: str
    params: dict
    train_f1: float
    test_f1: dict  # reference name -> F1 on the held-out recording


@dataclass(frozen=True)
class CrossValidation:
    """All folds and the mean held-out F1 per reference."""

    objective: str
    folds: tuple[Fold, ...]

    @property
    def mean_f1(self) -> dict:
        """Mean over folds of the held-out F1, per reference."""
        refs = self.folds[0].test_f1 if self.folds else {}
        return {r: float(np.mean([f.test_f1[r] for f in self.folds])) for r in refs}


def _points(grid: Mapping[str, Sequence]) -> list[dict]:
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))]


def with_changes(base: DetectionConfig, change: Mapping[str, object]) -> DetectionConfig:
    """``base`` with grid-point changes applied; ``"a7.x"`` keys change the ``a7`` sub-section."""
    a7 = {k.removeprefix("a7."): v for k, v in change.items() if k.startswith("a7.")}
    top = {k: v for k, v in change.items() if not k.startswith("a7.")}
    return dataclasses.replace(base, a7=dataclasses.replace(base.a7, **a7), **top)


def score_grid(recordings: Sequence[TuningRecording], base: DetectionConfig, grid: Mapping[str, Sequence] = GRID
               ) -> tuple[list[dict], np.ndarray]:
    """Counts of every grid point on every recording and reference.

    Returns
    -------
    points : list of dict
        The grid points (config changes).
    counts : numpy.ndarray of int, shape (n_points, n_recordings, n_references, 3)
        Matched pairs, reference events and detected events (references in the order of the
        first recording's ``references``).
    """
    points = _points(grid)
    refs = list(recordings[0].references)
    counts = np.zeros((len(points), len(recordings), len(refs), 3), dtype=np.int64)
    scored_refs = [{name: rec.scored(name, rec.references[name]) for name in refs} for rec in recordings]
    for p, change in enumerate(points):
        cfg = with_changes(base, change)
        for r, rec in enumerate(recordings):
            found = a7_decide(rec.features, cfg)
            for k, name in enumerate(refs):
                ref, ev = scored_refs[r][name], rec.scored(name, found)
                m = match_events(ref.start, ref.end, ev.start, ev.end, iou=0.2)
                counts[p, r, k] = (m.n_matched, m.n_ref, m.n_det)
    return points, counts


def _f1(c: np.ndarray) -> np.ndarray:
    total = c[..., 1] + c[..., 2]
    return np.where(total > 0, 2 * c[..., 0] / np.maximum(total, 1), np.nan)


def restrict(points: Sequence[dict], counts: np.ndarray, grid: Mapping[str, Sequence]) -> tuple[list[dict], np.ndarray]:
    """The grid points of :func:`score_grid` (and their counts) whose every value is in ``grid``.

    ``grid`` has the keys of the scored grid, each with a subset of its values: scoring a grid
    once and restricting it is how :func:`pinned_ablation` compares sub-grids cheaply.
    """
    keep = [i for i, point in enumerate(points) if all(point[k] in grid[k] for k in point)]
    if not keep:
        raise param_error("grid", "a sub-grid of the scored grid", dict(grid))
    return [points[i] for i in keep], counts[keep]


def cross_validate(recordings: Sequence[TuningRecording], base: DetectionConfig, grid: Mapping[str, Sequence] = GRID,
                   objective: str = "mean", scored: tuple[list[dict], np.ndarray] | None = None) -> CrossValidation:
    """Leave-one-recording-out cross-validation of the A7 thresholds (see the module docstring).

    Ties in training F1 go to the first grid point, so the result is deterministic. ``scored``:
    the ``(points, counts)`` of :func:`score_grid` on a grid that contains ``grid`` (restricted
    to ``grid`` here), to skip re-scoring.
    """
    if len(recordings) < 2:
        raise param_error("recordings", "at least two recordings", len(recordings))
    refs = list(recordings[0].references)
    if objective not in refs + ["mean"]:
        raise param_error("objective", f"one of {refs + ['mean']}", objective)
    points, counts = score_grid(recordings, base, grid) if scored is None else restrict(*scored, grid)
    k_obj = list(range(len(refs))) if objective == "mean" else [refs.index(objective)]
    folds = []
    for held in range(len(recordings)):
        train = [r for r in range(len(recordings)) if r != held]
        pooled = _f1(counts[:, train][:, :, k_obj].sum(axis=1)).mean(axis=1)
        best = int(np.nanargmax(pooled))
        test = _f1(counts[best, held])
        folds.append(Fold(held_out=recordings[held].name, params=points[best], train_f1=float(pooled[best]),
                          test_f1={name: float(test[k]) for k, name in enumerate(refs)}))
    return CrossValidation(objective=objective, folds=tuple(folds))


def consensus(cv: CrossValidation) -> dict:
    """Settings for defaults: per parameter, the median over folds (the most frequent for tuples/None)."""
    out = {}
    for key in cv.folds[0].params:
        values = [f.params[key] for f in cv.folds]
        numeric = [v for v in values if isinstance(v, (int, float))]
        if len(numeric) == len(values):
            out[key] = float(np.median(numeric))
        else:
            out[key] = max(values, key=lambda v: (values.count(v), -values.index(v)))
    return out


def pinned_ablation(recordings: Sequence[TuningRecording], base: DetectionConfig, published: Mapping[str, object],
                    grid: Mapping[str, Sequence] = GRID, objective: str = "mean") -> dict[str, CrossValidation]:
    """Does tuning each setting help held out? Cross-validation with settings pinned at ``published``.

    Returns, by label: ``"tune all"`` (the whole ``grid``), ``"pin <key>"`` for every key of
    ``grid`` (that key pinned at its ``published`` value, the others tuned) and ``"pin all"``
    (every key pinned: no tuning, each recording scored with the published values). Pinning a
    key that the folds tune to no benefit leaves the held-out F1 equal or higher; a setting
    should depart from its published value only when pinning it lowers the held-out F1.
    ``published`` maps every key of ``grid`` to a value of that key's grid.
    """
    missing = [k for k in grid if k not in published or published[k] not in grid[k]]
    if missing:
        raise param_error("published", f"a value of the grid for every key ({', '.join(missing)})", dict(published))
    scored = score_grid(recordings, base, grid)
    out = {"tune all": cross_validate(recordings, base, grid, objective, scored)}
    for key in grid:
        out[f"pin {key}"] = cross_validate(recordings, base, {**grid, key: (published[key],)}, objective, scored)
    out["pin all"] = cross_validate(recordings, base, {k: (published[k],) for k in grid}, objective, scored)
    return out
