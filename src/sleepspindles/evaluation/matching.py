"""One-to-one matching of detected events to reference events by intersection over union.

Used by the synthetic ground-truth tests, the YASA parity checks and the expert evaluation,
so every score in the project is computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import param_error

__all__ = ["Matches", "match_events", "pairwise_iou"]


@dataclass(frozen=True)
class Matches:
    """Result of :func:`match_events`.

    Attributes
    ----------
    ref : numpy.ndarray of int
        Index of each matched reference event.
    det : numpy.ndarray of int
        Index of the detected event matched to it (same length as ``ref``).
    iou : numpy.ndarray of float
        Intersection over union of each matched pair.
    n_ref, n_det : int
        Number of reference and detected events.
    """

    ref: np.ndarray
    det: np.ndarray
    iou: np.ndarray
    n_ref: int
    n_det: int

    @property
    def n_matched(self) -> int:
        """Number of matched pairs (true positives)."""
        return int(self.ref.size)

    @property
    def precision(self) -> float:
        """Matched / detected (NaN when nothing was detected)."""
        return self.n_matched / self.n_det if self.n_det else float("nan")

    @property
    def recall(self) -> float:
        """Matched / reference (NaN when there is no reference event)."""
        return self.n_matched / self.n_ref if self.n_ref else float("nan")

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall: ``2 TP / (n_ref + n_det)``."""
        total = self.n_ref + self.n_det
        return 2 * self.n_matched / total if total else float("nan")


def _as_intervals(start, end, name: str) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(start, dtype=np.float64).ravel()
    e = np.asarray(end, dtype=np.float64).ravel()
    if s.shape != e.shape:
        raise param_error(f"{name}_end", f"as many values as {name}_start ({s.size})", e.size)
    if np.any(~np.isfinite(s)) or np.any(~np.isfinite(e)) or np.any(e < s):
        raise param_error(name, "finite intervals with end >= start", "invalid intervals")
    return s, e


def pairwise_iou(ref_start, ref_end, det_start, det_end) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All overlapping (reference, detection) pairs and their IoU.

    Runs in O((n + m) log(n + m) + overlaps) by sweeping sorted starts, not O(n m).

    Returns
    -------
    ref_idx, det_idx : numpy.ndarray of int
    iou : numpy.ndarray of float
        Only pairs whose intersection is positive.
    """
    rs, re = _as_intervals(ref_start, ref_end, "ref")
    ds, de = _as_intervals(det_start, det_end, "det")
    if rs.size == 0 or ds.size == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty.copy(), np.empty(0)
    order = np.argsort(ds, kind="stable")
    ds_sorted = ds[order]
    # Detections that can overlap reference i start before re[i]; the longest detection bounds
    # how far back one can start and still reach rs[i].
    max_len = float(np.max(de - ds))
    lo = np.searchsorted(ds_sorted, rs - max_len, side="left")
    hi = np.searchsorted(ds_sorted, re, side="left")
    counts = hi - lo
    ref_idx = np.repeat(np.arange(rs.size), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    det_idx = order[np.repeat(lo, counts) + offsets]
    inter = np.minimum(re[ref_idx], de[det_idx]) - np.maximum(rs[ref_idx], ds[det_idx])
    union = np.maximum(re[ref_idx], de[det_idx]) - np.minimum(rs[ref_idx], ds[det_idx])
    keep = inter > 0
    ref_idx, det_idx = ref_idx[keep], det_idx[keep]
    iou = inter[keep] / union[keep]
    return ref_idx, det_idx, iou


def match_events(ref_start, ref_end, det_start, det_end, iou: float = 0.2) -> Matches:
    """Match detections to references one-to-one.

    Pairs are taken greedily in decreasing order of IoU (ties broken by earlier reference, then
    earlier detection), each event used at most once; a pair counts when its IoU is ``>= iou``.

    Parameters
    ----------
    ref_start, ref_end : array-like of float
        Reference (ground-truth) intervals in seconds.
    det_start, det_end : array-like of float
        Detected intervals in seconds.
    iou : float
        Minimum intersection over union, in (0, 1].

    Returns
    -------
    Matches
    """
    if not 0 < iou <= 1:
        raise param_error("iou", "a number in (0, 1]", iou)
    n_ref = int(np.size(ref_start))
    n_det = int(np.size(det_start))
    r, d, v = pairwise_iou(ref_start, ref_end, det_start, det_end)
    keep = v >= iou - 1e-12
    r, d, v = r[keep], d[keep], v[keep]
    order = np.lexsort((d, r, -v))
    used_r = np.zeros(n_ref, dtype=bool)
    used_d = np.zeros(n_det, dtype=bool)
    out_r, out_d, out_v = [], [], []
    for k in order:
        if not used_r[r[k]] and not used_d[d[k]]:
            used_r[r[k]] = used_d[d[k]] = True
            out_r.append(r[k])
            out_d.append(d[k])
            out_v.append(v[k])
    sort = np.argsort(out_r, kind="stable")
    return Matches(
        ref=np.asarray(out_r, dtype=np.int64)[sort],
        det=np.asarray(out_d, dtype=np.int64)[sort],
        iou=np.asarray(out_v, dtype=np.float64)[sort],
        n_ref=n_ref,
        n_det=n_det,
    )
