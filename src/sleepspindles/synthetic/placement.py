"""Where planted events go: the layout every planter of a synthetic night shares.

The spindles (:mod:`.spindles`) and the slow oscillations (:mod:`.slow_oscillations`) follow
the same rules: events lie wholly inside runs of their stage, never closer than a gap to each
other on a channel, with onsets on the sample grid. Also here: per-channel parameters and the
seeded random streams, keyed by (seed, purpose, channel).

Times are in seconds; intervals are ``(start, end[, stage code])`` rows of float arrays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import numpy as np

from ..errors import param_error
from ..hypnogram import Hypnogram, Stage

__all__ = [
    "rng_for",
    "per_channel",
    "on_grid",
    "stage_segments",
    "subtract",
    "fits",
    "take",
    "place",
    "draw_intervals",
]

logger = logging.getLogger(__name__)

# Purposes of the random streams rng_for(seed, purpose, channel). A new component takes a new
# number, so the streams of the others, and the nights they make, stay as they were.
RNG_HYPNOGRAM, RNG_BACKGROUND, RNG_SHARED, RNG_SPINDLES, RNG_AUX = 0, 1, 2, 3, 4
RNG_SO, RNG_SO_SHARED, RNG_COUPLED = 5, 6, 7


def rng_for(seed: int, purpose: int, index: int = 0) -> np.random.Generator:
    """The random stream of one (seed, purpose, channel): independent of every other stream."""
    return np.random.default_rng([int(seed), purpose, index])


def per_channel(name: str, value, channels: tuple[str, ...], default: float, low: float, high: float,
                what: str) -> tuple[float, ...]:
    """Normalise a per-channel parameter to one float per channel, each in ``[low, high]``.

    Parameters
    ----------
    name : str
        Parameter name, for the error message.
    value : float or sequence of float or Mapping[str, float]
        One number for all channels, one per channel (aligned with ``channels``), or a mapping
        channel -> value (channels left out get ``default``).
    channels : tuple of str
        The channel names.
    default : float
        Value of the channels a mapping leaves out.
    low, high : float
        Inclusive bounds.
    what : str
        What the values are, for the error message (e.g. ``"spindles per minute"``).

    Returns
    -------
    tuple of float
    """
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(channels))
        if unknown:
            raise param_error(name, f"a mapping over the channels {list(channels)}", unknown)
        out = tuple(float(value.get(c, default)) for c in channels)
    elif np.ndim(value) == 0:
        out = (float(value),) * len(channels)
    else:
        out = tuple(float(v) for v in value)
        if len(out) != len(channels):
            raise param_error(name, f"{len(channels)} values, one per channel", value)
    if not all(low <= v <= high for v in out):
        raise param_error(name, f"{what} in [{low:g}, {high:g}]", out)
    return out


def on_grid(durations: np.ndarray, sf: float) -> np.ndarray:
    """Durations rounded to whole samples, at least two."""
    return np.maximum(np.round(durations * sf), 2) * (1.0 / sf)


def stage_segments(hypnogram: Hypnogram, stage: Stage, duration: float, margin: float) -> np.ndarray:
    """Runs of consecutive ``stage`` epochs as (start, end) seconds, shrunk by ``margin``."""
    is_stage = np.concatenate([[False], hypnogram.stages == int(stage), [False]])
    edges = np.flatnonzero(np.diff(is_stage.astype(np.int8)))
    first, last = edges[0::2], edges[1::2]
    starts = hypnogram.offset + first * hypnogram.epoch_length + margin
    ends = np.minimum(hypnogram.offset + last * hypnogram.epoch_length, duration) - margin
    keep = ends > starts
    return np.column_stack([starts[keep], ends[keep]]).reshape(-1, 2)


def subtract(segments: np.ndarray, busy: np.ndarray, gap: float) -> np.ndarray:
    """Parts of ``segments`` at least ``gap`` away from every interval of ``busy``."""
    if busy.size == 0:
        return segments
    order = np.argsort(busy[:, 0])
    blocked_start = busy[order, 0] - gap
    blocked_end = busy[order, 1] + gap
    pieces = []
    for seg_start, seg_end in segments:
        lo = np.searchsorted(blocked_end, seg_start, side="right")
        hi = np.searchsorted(blocked_start, seg_end, side="left")
        cursor = seg_start
        for b_start, b_end in zip(blocked_start[lo:hi], blocked_end[lo:hi]):
            if b_start > cursor:
                pieces.append((cursor, b_start))
            cursor = max(cursor, b_end)
        if seg_end > cursor:
            pieces.append((cursor, seg_end))
    return np.asarray(pieces, dtype=np.float64).reshape(-1, 2)


def fits(free: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each interval lies wholly inside one piece of ``free`` (sorted, disjoint)."""
    piece = np.searchsorted(free[:, 0], starts, side="right") - 1
    inside = piece >= 0
    inside[inside] = ends[inside] <= free[piece[inside], 1]
    return inside


def take(free: np.ndarray, start: float, end: float, gap: float) -> np.ndarray:
    """``free`` without ``[start - gap, end + gap]``, for an interval that :func:`fits` in it.

    Only the piece holding the interval changes (pieces are further than ``gap`` apart when
    they come from :func:`subtract` or :func:`stage_segments`), so this stays cheap when
    events are taken one at a time.
    """
    piece = int(np.searchsorted(free[:, 0], start, side="right")) - 1
    split = subtract(free[piece:piece + 1], np.array([[start, end]]), gap)
    return np.concatenate([free[:piece], split, free[piece + 1:]])


def place(segments: np.ndarray, durations: np.ndarray, gap: float, rng: np.random.Generator) -> np.ndarray:
    """Uniformly random non-overlapping placement of intervals inside ``segments``.

    Each interval goes to a segment with probability proportional to its length; within a
    segment, the intervals and ``gap``-long spacers are laid out in random order of their slack
    ("stars and bars"), which is uniform over all valid layouts. Intervals that do not fit (only
    at implausibly high densities) are dropped.

    Returns
    -------
    numpy.ndarray, shape (k, 2)
        (start, end) of the placed intervals, sorted by start.
    """
    if durations.size == 0 or segments.size == 0:
        return np.empty((0, 2))
    lengths = segments[:, 1] - segments[:, 0]
    which = rng.choice(lengths.size, size=durations.size, p=lengths / lengths.sum())
    placed = []
    for seg in np.unique(which):
        d = durations[which == seg]
        need = np.cumsum(d) + gap * np.arange(d.size)
        d = d[need <= lengths[seg]]
        if d.size == 0:
            continue
        slack = lengths[seg] - d.sum() - gap * (d.size - 1)
        before = np.concatenate([[0.0], np.cumsum(d[:-1] + gap)])
        starts = segments[seg, 0] + np.sort(rng.uniform(0.0, slack, d.size)) + before
        placed.append(np.column_stack([starts, starts + d]))
    out = np.concatenate(placed) if placed else np.empty((0, 2))
    if len(out) < durations.size:
        logger.info("dropped %d event(s) that did not fit (the truth tables list only those planted)", durations.size - len(out))
    return out[np.argsort(out[:, 0], kind="stable")]


def draw_intervals(
    segments: Mapping[Stage, np.ndarray],
    expected: Mapping[Stage, float],
    draw_durations: Callable[[int], np.ndarray],
    gap: float,
    sf: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Poisson(``expected[stage]``) events placed in each stage's free ``segments``.

    Parameters
    ----------
    segments : Mapping[Stage, numpy.ndarray]
        Free (start, end) pieces per stage.
    expected : Mapping[Stage, float]
        Expected number of events per stage.
    draw_durations : callable
        ``draw_durations(count)`` -> durations in seconds (drawn from ``rng``).
    gap : float
        Minimum gap between events, seconds.
    sf : float
        Sampling rate: durations are whole samples and onsets on the sample grid.
    rng : numpy.random.Generator
        The stream the counts and positions are drawn from.

    Returns
    -------
    numpy.ndarray, shape (k, 3)
        (start, end, stage code) rows sorted by start.
    """
    rows = [np.empty((0, 3))]
    step = 1.0 / sf
    for stage, free in segments.items():
        count = rng.poisson(expected[stage])
        durations = on_grid(draw_durations(count), sf)
        # One extra sample of gap leaves room to move onsets up onto the sample grid.
        placed = place(free, durations, gap + step, rng)
        starts = np.ceil(placed[:, 0] * sf - 1e-9) * step
        ends = starts + (placed[:, 1] - placed[:, 0])
        rows.append(np.column_stack([starts, ends, np.full(starts.size, int(stage))]))
    out = np.concatenate(rows)
    return out[np.argsort(out[:, 0], kind="stable")]
