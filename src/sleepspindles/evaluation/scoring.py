"""Accuracy of detected spindles against a reference (human experts or another detector).

By event: reference and detected events are matched one-to-one by intersection over union with
:func:`sleepspindles.evaluation.matching.match_events` (the same matching as every other score in the
project), giving precision, recall and F1. By sample: both event sets become spindle/no-spindle
masks on a regular time grid (the signal's samples, or a chosen resolution) over the recording,
giving a by-sample F1 and Cohen's kappa.

Events are evaluated per recording and per channel (when both tables name channels, a reference
spindle on C3 can only match a detection on C3), and pooled over all of them by summing counts
(micro-average), so a long recording weighs more than a short one.

Recording edges: by-sample counts use the interval ``[0, duration)``; an event that starts before 0
or runs past the end is clipped to the recording, and an event wholly outside it is an error (the
events and the recording do not belong together). An event ending exactly at ``duration`` covers
the last sample. Sample ``k`` (time ``k * resolution``) counts as spindle when
``start <= k * resolution < end``.

Scored windows: a scorer may have scored only part of a recording (the DREAMS expert 1 scored
the first 1000 s of each excerpt, see :mod:`sleepspindles.io.dreams`). Outside that window a
detection is neither right nor wrong, so ``evaluate(..., window=(start, end))`` keeps only the
reference *and* detected events whose midpoint ``(start + end) / 2`` lies in ``[start, end)``;
the midpoint rule puts an event that straddles an edge on exactly one side, wherever it is
matched. By-sample counts then run over the window only (events clipped to it, the grid starting
at the window's start), so kappa's true negatives are the window's spindle-free samples. Two
scorers' combined reference is only complete where both scored: evaluate it on the intersection
of their windows (:func:`~sleepspindles.evaluation.intervals.intersect_windows`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import file_error, param_error
from ..io.events import read_events
from .intervals import (
    _GRID_EPS,
    SampleCounts,
    _check_window,
    _require_intervals,
    in_window,
    intersect_intervals,
    merge_intervals,
    sample_counts,
)
from .matching import Matches, match_events

__all__ = [
    "EvaluationResult",
    "evaluate",
    "evaluate_files",
    "combine_experts",
    "RESULT_COLUMNS",
    "POOLED",
]

#: Columns of :attr:`EvaluationResult.table`, in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "recording",
    "channel",
    "n_ref",
    "n_det",
    "tp",
    "precision",
    "recall",
    "f1",
    "f1_sample",
    "kappa",
)
#: Label of the pooled row in the ``recording`` and ``channel`` columns.
POOLED = "pooled"
#: Label of the channel when the events do not name one.
_ANY_CHANNEL = "all"
#: Default by-sample time resolution in seconds when no sampling rate is given.
DEFAULT_RESOLUTION = 0.01


@dataclass(frozen=True, eq=False)
class EvaluationResult:
    """Scores of one evaluation.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per (recording, channel) and a last row ``recording == channel == "pooled"``, with
        the columns of :data:`RESULT_COLUMNS`: event counts, matched pairs ``tp``, by-event
        precision, recall and F1, by-sample F1 and Cohen's kappa (NaN when the recording
        duration was not given, since kappa needs the true negatives).
    iou : float
        Minimum intersection over union of a match.
    resolution : dict
        By-sample resolution in seconds used for each recording.
    """

    table: pd.DataFrame
    iou: float
    resolution: dict

    def __str__(self) -> str:
        body = self.table.to_string(index=False, float_format=lambda v: f"{v:.3f}")
        return f"{body}\n(by event: one-to-one matching at IoU >= {self.iou:g}; pooled = summed counts)"

    @property
    def pooled(self) -> pd.Series:
        """The pooled row (micro-average over recordings and channels)."""
        return self.table.iloc[-1]

    @property
    def per_recording(self) -> pd.DataFrame:
        """The table without the pooled row."""
        return self.table.iloc[:-1].reset_index(drop=True)


# ---------------------------------------------------------------- experts


def combine_experts(a: pd.DataFrame, b: pd.DataFrame, how: str = "union") -> pd.DataFrame:
    """Combine two scorings into one reference, on intervals.

    Parameters
    ----------
    a, b : pandas.DataFrame
        Events with ``start`` and ``end`` (seconds); ``channel`` and ``recording`` columns, when
        both have them, keep each channel and recording separate.
    how : {"union", "intersection"}
        ``"union"``: every stretch either expert scored, overlapping events merged into one.
        ``"intersection"``: only the stretches both experts scored (the overlap of their events).

    Returns
    -------
    pandas.DataFrame
        ``start``, ``end``, ``duration`` (plus the shared key columns), sorted.
    """
    if how not in ("union", "intersection"):
        raise param_error("how", "'union' or 'intersection'", how)
    keys = [k for k in ("recording", "channel") if k in a.columns and k in b.columns]
    for name, frame in (("a", a), ("b", b)):
        _require_intervals(frame, name)
    parts = []
    groups_a = dict(iter(a.groupby(keys, sort=True))) if keys else {(): a}
    groups_b = dict(iter(b.groupby(keys, sort=True))) if keys else {(): b}
    empty = a.iloc[0:0]
    for key in sorted(set(groups_a) | set(groups_b), key=str):
        ga, gb = groups_a.get(key, empty), groups_b.get(key, empty)
        if how == "union":
            s, e = merge_intervals(np.r_[ga["start"], gb["start"]], np.r_[ga["end"], gb["end"]])
        else:
            s, e = intersect_intervals(ga["start"], ga["end"], gb["start"], gb["end"])
        part = pd.DataFrame({"start": s, "end": e, "duration": e - s})
        for k, v in zip(keys, key):
            part[k] = v
        parts.append(part)
    columns = keys + ["start", "end", "duration"]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object" if c in keys else "float64") for c in columns})
    return pd.concat(parts, ignore_index=True)[columns]


# ---------------------------------------------------------------- evaluation


def _by_recording(events, name: str) -> dict[str, pd.DataFrame]:
    """``{recording: events}`` from a mapping, a table with a ``recording`` column, or one table."""
    if isinstance(events, Mapping):
        out = {str(k): v for k, v in events.items()}
    elif isinstance(events, pd.DataFrame) and "recording" in events.columns:
        out = {str(k): g for k, g in events.groupby("recording", sort=True)}
    else:
        out = {"recording": events}
    for key, frame in out.items():
        _require_intervals(frame, f"{name}[{key!r}]" if len(out) > 1 else name)
    return out


def _per_recording(value, recording: str, name: str):
    """A scalar setting, or its entry for ``recording`` in a mapping (``None`` when absent)."""
    if isinstance(value, Mapping):
        value = value.get(recording)
    if value is not None and not (np.isfinite(value) and value > 0):
        raise param_error(name, "a positive number (or a mapping of recording to one)", value)
    return value


def _check_inside(frame: pd.DataFrame, duration: float, label: str) -> None:
    """Refuse events wholly outside ``[0, duration]`` (the events belong to another recording)."""
    outside = (frame["end"] <= 0) | (frame["start"] >= duration)
    if outside.any():
        first = frame.loc[outside].iloc[0]
        raise param_error(
            label,
            f"events inside the recording (0 to {duration:g} s)",
            f"{int(outside.sum())} event(s) outside it, the first at {first['start']:g}-{first['end']:g} s",
        )


def _units(ref: pd.DataFrame, det: pd.DataFrame, channels) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """Split one recording's events by channel when both tables name channels."""
    if "channel" not in ref.columns or "channel" not in det.columns:
        return [(_ANY_CHANNEL, ref, det)]
    names = set(ref["channel"].astype(str)) | set(det["channel"].astype(str))
    if channels is not None:
        names &= {str(c) for c in channels}
    return [
        (ch, ref[ref["channel"].astype(str) == ch], det[det["channel"].astype(str) == ch])
        for ch in sorted(names)
    ]


def evaluate(
    reference,
    detected,
    iou: float = 0.2,
    *,
    duration=None,
    sf=None,
    resolution: float | None = None,
    channels: Sequence[str] | None = None,
    window=None,
) -> EvaluationResult:
    """Score detected spindles against reference spindles, per recording and pooled.

    Parameters
    ----------
    reference, detected : pandas.DataFrame or mapping of str to DataFrame
        Events with ``start`` and ``end`` in seconds. Several recordings are given either as a
        mapping ``{recording: events}`` or as one table with a ``recording`` column. When both
        tables have a ``channel`` column, channels are scored separately.
    iou : float
        Minimum intersection over union for a reference and a detection to match.
    duration : float or mapping, optional
        Recording length in seconds (per recording with a mapping). Needed for kappa (which
        counts the spindle-free samples both agree on) and to clip events to the recording; without
        it kappa is NaN.
    sf : float or mapping, optional
        Sampling rate in Hz: the by-sample grid is then the signal's own samples.
    resolution : float, optional
        By-sample grid step in seconds when ``sf`` is not given (default 0.01 s).
    channels : sequence of str, optional
        Only score these channels (default: every channel in either table).
    window : (float, float) or mapping, optional
        The interval ``[start, end)`` in seconds that the reference scorer scored (per recording
        with a mapping; a recording missing from it is scored whole). Only events whose midpoint
        is inside count, on both sides, and the by-sample scores cover the window only (see the
        module docstring). ``end`` may be ``inf``; with ``duration`` it is capped at the end of
        the recording.

    Returns
    -------
    EvaluationResult
    """
    if sf is not None and resolution is not None:
        raise param_error("resolution", "omitted when 'sf' is given", resolution)
    if resolution is not None and not (np.isfinite(resolution) and resolution > 0):
        raise param_error("resolution", "a positive number of seconds", resolution)
    refs, dets = _by_recording(reference, "reference"), _by_recording(detected, "detected")
    rows, steps, all_matches, counts = [], {}, [], []
    for rec in sorted(set(refs) | set(dets)):
        # A recording missing on one side has no events there (same columns as the other side).
        ref = refs[rec] if rec in refs else dets[rec].iloc[0:0]
        det = dets[rec] if rec in dets else ref.iloc[0:0]
        dur = _per_recording(duration, rec, "duration")
        rate = _per_recording(sf, rec, "sf")
        step = 1.0 / rate if rate else (resolution or DEFAULT_RESOLUTION)
        steps[rec] = step
        n_samples = None
        if dur is not None:
            _check_inside(ref, dur, "reference")
            _check_inside(det, dur, "detected")
        win = window.get(rec) if isinstance(window, Mapping) else window
        if win is not None:
            ref, det, dur = _windowed(ref, det, _check_window(win, f"window[{rec!r}]"), dur)
        if dur is not None:
            n_samples = int(np.ceil(dur / step - _GRID_EPS))
        for channel, r, d in _units(ref, det, channels):
            m = match_events(r["start"], r["end"], d["start"], d["end"], iou=iou)
            c = sample_counts(r["start"], r["end"], d["start"], d["end"], step, n_samples)
            all_matches.append(m)
            counts.append(c)
            rows.append(_row(rec, channel, m, c))
    pooled_counts = sum(counts[1:], counts[0]) if counts else SampleCounts(0, 0, 0, -1)
    rows.append(_row(POOLED, POOLED, _pool(all_matches), pooled_counts))
    table = pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
    return EvaluationResult(table=table, iou=float(iou), resolution=steps)


def _windowed(ref: pd.DataFrame, det: pd.DataFrame, window: tuple[float, float], duration: float | None):
    """Both sides restricted to ``window``, shifted so it starts at 0, and the window's length."""
    w0, w1 = window
    if duration is not None:
        w1 = min(w1, duration)
        if not w1 > w0:
            raise param_error("window", f"an interval inside the recording (0 to {duration:g} s)", window)
    length = w1 - w0 if np.isfinite(w1) else None

    def cut(frame: pd.DataFrame) -> pd.DataFrame:
        # Shifted, not clipped: IoU matching sees the whole events; the by-sample grid clips them.
        inside = frame[in_window(frame["start"], frame["end"], (w0, w1))]
        return inside.assign(start=inside["start"] - w0, end=inside["end"] - w0)

    return cut(ref), cut(det), length


def _pool(matches: list[Matches]) -> Matches:
    """All matches as one (indices offset so they stay distinct)."""
    ref_off = np.cumsum([0] + [m.n_ref for m in matches])
    det_off = np.cumsum([0] + [m.n_det for m in matches])
    return Matches(
        ref=np.concatenate([m.ref + o for m, o in zip(matches, ref_off)] or [np.empty(0, np.int64)]),
        det=np.concatenate([m.det + o for m, o in zip(matches, det_off)] or [np.empty(0, np.int64)]),
        iou=np.concatenate([m.iou for m in matches] or [np.empty(0)]),
        n_ref=int(ref_off[-1]),
        n_det=int(det_off[-1]),
    )


def _row(recording: str, channel: str, m: Matches, c: SampleCounts) -> dict:
    return {
        "recording": recording,
        "channel": channel,
        "n_ref": m.n_ref,
        "n_det": m.n_det,
        "tp": m.n_matched,
        "precision": m.precision,
        "recall": m.recall,
        "f1": m.f1,
        "f1_sample": c.f1,
        "kappa": c.kappa,
    }


def evaluate_files(
    reference_paths,
    detected_path,
    iou: float = 0.2,
    how: str = "union",
    *,
    duration: float | None = None,
    sf: float | None = None,
    window: tuple[float, float] | None = None,
) -> EvaluationResult:
    """Score an events file against one or two reference files (the ``evaluate`` command).

    Parameters
    ----------
    reference_paths : path or sequence of paths
        One scoring, or two (two experts) combined with ``how``. DREAMS scoring files or
        sleepspindles events tables (see :func:`sleepspindles.io.events.read_events`).
    detected_path : path
        The detected events, in either format.
    iou : float
        Minimum intersection over union of a match.
    how : {"union", "intersection"}
        How two reference scorings are combined (ignored for one).
    duration, sf : float, optional
        Recording length (s) and sampling rate (Hz) for the by-sample scores; see :func:`evaluate`.
    window : (float, float), optional
        The interval the reference scored; only events whose midpoint is inside count (see
        :func:`evaluate`). With two reference files, pass the interval both scored.

    Returns
    -------
    EvaluationResult
        When the reference names channels, only those channels of the detections are scored.
    """
    if how not in ("union", "intersection"):
        raise param_error("how", "'union' or 'intersection'", how)
    paths = [reference_paths] if isinstance(reference_paths, (str, Path)) else list(reference_paths)
    if not 1 <= len(paths) <= 2:
        raise param_error("reference_paths", "one or two files", [str(p) for p in paths])
    refs = [read_events(p) for p in paths]
    reference = refs[0] if len(refs) == 1 else combine_experts(refs[0], refs[1], how=how)
    detected = read_events(detected_path)
    channels = None
    if "channel" in reference.columns and len(reference):
        channels = sorted(set(reference["channel"].astype(str)))
        found = set(detected["channel"].astype(str)) if "channel" in detected.columns else set(channels)
        if found and not found & set(channels):
            raise file_error(
                detected_path, f"no events on the reference channel(s) {channels}; channels found: {sorted(found)}"
            )
    return evaluate(reference, detected, iou, duration=duration, sf=sf, channels=channels, window=window)
