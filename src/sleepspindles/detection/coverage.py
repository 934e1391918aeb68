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

import numpy as np
import pandas as pd

from ..hypnogram import Hypnogram, Stage
from ..recording import Recording, channel_problems

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
    eeg = recording.eeg_channels
    reasons = {d.channel: d.reason for d in recording.dropped}
    if eeg:
        rows = [recording.index(c) for c in eeg]
        reasons.update(channel_problems(recording.data[rows], eeg))
    return reasons


@dataclass(frozen=True)
class Coverage:
    """Per EEG channel and stage, the time scored and the time excluded from measurement.

    Attributes
    ----------
    table : pandas.DataFrame
        Columns :data:`COVERAGE_COLUMNS`, one row per channel x stage present.
    unmeasurable : dict of str to str
        Channels with no measurable time at all, with the reason (their time is all excluded).
    """

    table: pd.DataFrame
    unmeasurable: dict = field(default_factory=dict)

    def minutes(self, channel: str, stages) -> tuple[float, float]:
        """``(analysed, excluded)`` minutes of ``channel`` over the stage names ``stages``."""
        t = self.table
        sel = t[(t["channel"] == channel) & t["stage"].isin(list(stages))]
        seconds, excluded = float(sel["seconds"].sum()), float(sel["excluded_seconds"].sum())
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
    from .core.kernels import flat_mask

    n, sf = recording.n_samples, recording.sf
    codes = (hypnogram.to_samples(sf, n) if hypnogram is not None
             else np.full(n, int(Stage.UNSCORED), dtype=np.int8))
    offset = -int(_CODES[0])
    scored = np.bincount(codes.astype(np.int64) + offset, minlength=_CODES.size) / sf
    present = np.flatnonzero(scored > 0)
    flat_len = max(int(round(flat_seconds * sf)), 2)
    bad_channels = unmeasurable(recording) if unusable is None else dict(unusable)
    rows = []
    for name in (*recording.eeg_channels, *(d.channel for d in recording.dropped)):
        if name in bad_channels:
            excluded = scored
        else:
            x = recording.signal(name)
            # NaN breaks runs of equal samples (it equals nothing), as in the engines' masks.
            bad = flat_mask(x, flat_len)
            bad |= ~np.isfinite(x)
            excluded = np.bincount(codes[bad].astype(np.int64) + offset, minlength=_CODES.size) / sf
        rows += [(name, Stage(int(_CODES[k])).name, float(scored[k]), float(excluded[k])) for k in present]
    return Coverage(pd.DataFrame(rows, columns=list(COVERAGE_COLUMNS)), bad_channels)
