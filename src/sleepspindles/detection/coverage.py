"""The time each channel can actually be measured in, per sleep stage.

Rates (spindles per minute) must be taken over the time that was analysed, not the time that
was scored: a channel that is NaN or flat (an electrode off, a saturated amplifier) for half of
N2 has half the N2 minutes to find spindles in. :func:`coverage` counts, per channel and stage,
the scored seconds and the seconds excluded because the signal there is not finite or lies in a
run of identical samples at least ``flat_seconds`` long (the detection engines leave exactly
those samples out). A channel that cannot be measured at all (:func:`unmeasurable`) has all of
its time excluded, and its rates are NaN with the reason, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ..hypnogram import Hypnogram, Stage
from ..recording import Recording, block_spans

__all__ = ["COVERAGE_COLUMNS", "Coverage", "coverage", "unmeasurable"]

#: Columns of the coverage table: one row per EEG channel x stage present in the recording.
COVERAGE_COLUMNS = ("channel", "stage", "seconds", "excluded_seconds")

_CODES = np.array(sorted(int(s) for s in Stage))  # -2 .. 4


def unmeasurable(recording: Recording) -> dict[str, str]:
    """EEG channels that cannot be measured, with the reason.

    The channels the loader dropped (:attr:`Recording.dropped`) and the EEG channels of the
    recording that :func:`~sleepspindles.recording.channel_problems` refuses (all NaN, flat,
    implausible amplitude): a hand-built recording gets the same checks as a loaded one.
    """
    return {**{d.channel: d.reason for d in recording.dropped}, **recording.eeg_problems}


@dataclass(frozen=True)
class Coverage:
    """Per EEG channel and stage, the time scored and the time excluded from measurement.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`COVERAGE_COLUMNS`, one row per channel x stage present.
    unmeasurable : dict of str to str
        Channels with no measurable time at all, with the reason (their time is all excluded).
    epoch_seconds : numpy.ndarray
        Seconds of signal in each epoch of the hypnogram (empty without one).
    epochs : dict of str to numpy.ndarray
        Per measured channel, the seconds excluded in each epoch: the same exclusions per epoch,
        for rates over windows of the night (empty without a hypnogram).
    """

    table: pd.DataFrame
    unmeasurable: dict = field(default_factory=dict)
    epoch_seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))
    epochs: dict = field(default_factory=dict)

    @cached_property
    def _seconds(self) -> dict[tuple[str, str], tuple[float, float]]:
        """(channel, stage) -> (scored, excluded) seconds: one lookup per summary group."""
        t = self.table
        return {(c, st): (float(a), float(b)) for c, st, a, b in
                zip(t["channel"], t["stage"], t["seconds"], t["excluded_seconds"])}

    def minutes(self, channel: str, stages) -> tuple[float, float]:
        """``(analysed, excluded)`` minutes of ``channel`` over the stage names ``stages``."""
        found = [self._seconds.get((channel, st), (0.0, 0.0)) for st in stages]
        seconds, excluded = sum(a for a, _ in found), sum(b for _, b in found)
        return (seconds - excluded) / 60.0, excluded / 60.0


def coverage(
    recording: Recording,
    hypnogram: Hypnogram | None,
    flat_seconds: float = 1.0,
    unusable: dict[str, str] | None = None,
) -> Coverage:
    """Scored and excluded seconds per EEG channel and stage.

    Parameters
    ----------
    recording : Recording
    hypnogram : Hypnogram or None
        Stages aligned to ``recording``; ``None`` counts the whole recording as ``UNSCORED``.
    flat_seconds : float
        Runs of identical samples at least this long are excluded (as in detection).
    unusable : dict of str to str, optional
        :func:`unmeasurable` of the recording, when already known.

    Returns
    -------
    Coverage
        Channels of :func:`unmeasurable` (dropped ones included) have every second excluded.
    """
    sf = recording.sf
    # Exclusions are counted per epoch (bin n_epochs: outside the hypnogram), then summed per stage.
    n_epochs = hypnogram.n_epochs if hypnogram is not None else 0
    stage_of_bin = np.append(hypnogram.stages if hypnogram is not None else [], int(Stage.UNSCORED))
    stage_of_bin = stage_of_bin.astype(np.int64) - int(_CODES[0])
    flat_len = max(int(round(flat_seconds * sf)), 2)
    bad_channels = unmeasurable(recording) if unusable is None else dict(unusable)
    measured = [c for c in recording.eeg_channels if c not in bad_channels]
    per_bin, per_channel = _seconds_per_epoch(recording, measured, hypnogram, flat_len)
    excluded = dict(zip(measured, per_channel))
    scored = np.bincount(stage_of_bin, weights=per_bin, minlength=_CODES.size)
    present = np.flatnonzero(scored > 0)
    rows = []
    for name in (*recording.eeg_channels, *(d.channel for d in recording.dropped)):
        per_stage = (np.bincount(stage_of_bin, weights=excluded[name], minlength=_CODES.size) if name in excluded
                     else scored)
        rows += [(name, Stage(int(_CODES[k])).name, float(scored[k]), float(per_stage[k])) for k in present]
    epochs = {c: e[:n_epochs] for c, e in excluded.items()} if hypnogram is not None else {}
    return Coverage(pd.DataFrame(rows, columns=list(COVERAGE_COLUMNS)), bad_channels, per_bin[:n_epochs], epochs)


def _epoch_edges(hypnogram: Hypnogram | None, sf: float, n: int) -> np.ndarray:
    """First sample of each epoch, and the end of the last: ``(n_epochs + 1,)``, clipped to ``[0, n]``.

    Sample ``i`` lies in epoch ``floor((i / sf - offset) / epoch_length)`` (the stage the engines
    give it); that is monotone in ``i``, so each epoch is one run of samples. The formula is
    evaluated only next to each epoch's start, so the runs are exactly those of evaluating it on
    every sample. Empty without a hypnogram.
    """
    if hypnogram is None:
        return np.zeros(0, dtype=np.int64)
    length, offset = hypnogram.epoch_length, hypnogram.offset
    e = np.arange(hypnogram.n_epochs + 1)
    near = np.ceil((e * length + offset) * sf).astype(np.int64)[:, None] + np.arange(-2, 3)
    reached = np.floor((near / sf - offset) / length) >= e[:, None]
    return np.clip(near[e, np.argmax(reached, axis=1)], 0, n)


def _epoch_of(edges: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """Epoch of each sample index (``len(edges) - 1``, the last bin, outside the hypnogram)."""
    n_epochs = max(edges.size - 1, 0)
    epoch = np.searchsorted(edges, samples, side="right") - 1
    return np.where((epoch >= 0) & (epoch < n_epochs), epoch, n_epochs)


def _seconds_per_epoch(recording: Recording, channels: list[str], hypnogram: Hypnogram | None,
                       flat_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Seconds of signal per epoch, and per channel those that are non-finite or inside a flat run.

    Returns ``(epochs + 1,)`` and ``(channels, epochs + 1)`` arrays: the last column holds the
    samples outside the hypnogram (every sample without one).

    Reads the channels block by block (a recording streamed from its file is never whole in
    memory); each block is read with ``flat_len`` samples on either side, enough to see the
    whole of any flat run long enough to count that touches it. Only the excluded samples are
    placed in their epochs (few, on a usable recording).
    """
    from .core.kernels import flat_mask

    n = recording.n_samples
    edges = _epoch_edges(hypnogram, recording.sf, n)
    inside = np.diff(edges).astype(float)
    scored = np.append(inside, n - inside.sum())
    excluded = np.zeros((len(channels), scored.size))
    rows = [recording.index(c) for c in channels]
    for start, stop in block_spans(n, max(len(rows), 1)) if rows else ():
        a, b = max(start - flat_len, 0), min(stop + flat_len, n)
        block = recording.read(rows, a, b)
        core = slice(start - a, stop - a)
        for k, x in enumerate(block):
            # NaN breaks runs of equal samples (it equals nothing), as in the engines' masks.
            bad = np.flatnonzero((flat_mask(x, flat_len) | ~np.isfinite(x))[core]) + start
            excluded[k] += np.bincount(_epoch_of(edges, bad), minlength=scored.size)
    return scored / recording.sf, excluded / recording.sf
