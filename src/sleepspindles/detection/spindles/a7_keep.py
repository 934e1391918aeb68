"""What pass 1 of the ``a7`` engine keeps for pass 2: the filtered signals around candidate spindles.

An A7 spindle never leaves the segments whose absolute sigma power exceeds its threshold (the
events grow only while it holds), and that power is known block by block in pass 1, long before
the z-scores (which need the whole night's percentiles) decide which candidates are spindles. So
pass 1 keeps, per channel and block, each run of *candidate* segments (some window covering it
above the threshold minus :data:`MARGIN`, the events starting in the block's core, with room
for the longest event after the core): the broadband and analytic sigma signals over it, which
samples are valid, and the valid sigma and broadband power of the quality measures' background
window around every centre an event in it can have (prefix sums: a few numbers per 0.05 s).
Pass 2 then measures the spindles from those, without filtering the night again: the values are
the block's own and the background powers are summed as on a block filtered again
(:func:`~sleepspindles.detection.spindles.kernels_kept.grid_band_powers`), so the events table
is the same, bit for bit, whatever was kept (an out-of-core recording keeps nothing).

What it keeps stays within the group's memory share
(:func:`sleepspindles.detection.core.streaming.cache_share`): a block that would exceed it, or
whose background windows would leave the block, keeps nothing, and pass 2 filters it again; so
does an event the candidates do not hold (an event ending on the recording's last sample, or
the absolute-power criterion disabled with a full share).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..core import streaming as st
from . import kernels_a7_candidates, kernels_kept
from .parameters import BACKGROUND_SECONDS, EventSignals

__all__ = ["Keeper", "MARGIN"]

#: log10 units below the absolute-power threshold at which a window still marks its segments as
#: candidates (a segment's power is a mean of its windows': never above their maximum; the margin
#: covers float32 rounding with room to spare).
MARGIN = 0.01


def _ranges(first: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``first[i], first[i] + 1, ..., first[i] + lengths[i] - 1`` for every ``i``, end to end."""
    total = int(lengths.sum())
    step = np.ones(total, np.int64)
    ends = np.cumsum(lengths)
    step[0] = first[0]
    step[ends[:-1]] = first[1:] - (first[:-1] + lengths[:-1] - 1)
    return np.cumsum(step)


@dataclass(frozen=True)
class _Kept:
    """One channel's candidate runs, block after block (global segments; samples end to end)."""

    block: np.ndarray  # block of each run
    seg0: np.ndarray  # first segment of each run
    seg1: np.ndarray  # last segment of each run
    at: np.ndarray  # position of each run's first sample in broad / analytic / valid
    broad: np.ndarray  # float32
    analytic: np.ndarray  # complex64
    valid: np.ndarray  # bool
    centre_at: np.ndarray  # row of each run's first centre in sums
    sums: np.ndarray  # (n, 3): valid sigma^2, broad^2 and count over the background window of each centre

    @staticmethod
    def concat(parts: list[_Kept]) -> _Kept:
        at = np.cumsum([0] + [p.broad.size for p in parts[:-1]])
        rows = np.cumsum([0] + [p.sums.shape[0] for p in parts[:-1]])
        return _Kept(
            block=np.concatenate([p.block for p in parts]), seg0=np.concatenate([p.seg0 for p in parts]),
            seg1=np.concatenate([p.seg1 for p in parts]), at=np.concatenate([p.at + a for p, a in zip(parts, at)]),
            broad=np.concatenate([p.broad for p in parts]), analytic=np.concatenate([p.analytic for p in parts]),
            valid=np.concatenate([p.valid for p in parts]),
            centre_at=np.concatenate([p.centre_at + r for p, r in zip(parts, rows)]),
            sums=np.concatenate([p.sums for p in parts]),
        )  # fmt: skip


class Keeper:
    """Keeps, block by block, what pass 2 needs around candidate spindles (see the module docstring).

    Parameters
    ----------
    plan : Plan
        The stream's plan (the a7 engine's margins hold half the background and the longest event).
    step, win : int
        A7 segment and window (internal samples).
    n_rows : int
        Channels of the group.
    thresh_abs_pow : float or None
        The absolute sigma power threshold (None: every segment is a candidate).
    longest : float
        Longest event (s).
    cache_bytes : int
        The group's memory share.
    """

    def __init__(self, plan: st.Plan, step: int, win: int, n_rows: int, thresh_abs_pow: float | None,
                 longest: float, cache_bytes: int) -> None:
        self.plan, self.step, self.per = plan, step, win // step
        self.threshold = thresh_abs_pow
        #: Windows computed past the core: an event starting in the core ends within them.
        self.extra = math.ceil(longest * plan.rate / step) + 2
        self.half = round(BACKGROUND_SECONDS * plan.rate) // 2
        self.chunk = step // 2
        self.cache_bytes = cache_bytes
        self.used = 0
        self.parts: list[list[_Kept]] = [[] for _ in range(n_rows)]
        self.full = cache_bytes <= 0

    @staticmethod
    def merged(keepers: list[Keeper]) -> Keeper:
        """The first keeper holding what all of them kept (they kept consecutive block ranges, in order)."""
        first = keepers[0]
        for other in keepers[1:]:
            for i, parts in enumerate(other.parts):
                first.parts[i].extend(parts)
        return first

    def add(self, k: int, blk: st.Block, abs_pow: list[np.ndarray], w0: int, nw: int) -> None:
        """Keep block ``k``'s candidate runs of every row; ``abs_pow[i]``: its windows from ``w0 - per + 1`` on.

        Windows ``w0 - per + 1 .. w0 + nw + extra - 1`` (so that every segment from the core's
        first to ``extra`` past its last has all its windows).
        """
        if self.full:
            return
        plan, step, per, chunk = self.plan, self.step, self.per, self.chunk
        base = plan.margin  # local sample of segment w0
        runs = []
        size = 0
        threshold = None if self.threshold is None else self.threshold - MARGIN
        for a in abs_pow:
            # the runs an event starting in the core can lie in
            s0, s1 = kernels_a7_candidates.candidate_runs(a, threshold, per, nw)
            if s0.size:
                # samples from an event's first to the one after its last; centres every chunk
                lo, hi = base + s0[0] * step, base + (s1[-1] + 1) * step + 2
                c_lo, c_hi = base + (2 * s0[0] + 1) * chunk, base + (2 * s1[-1] + 1) * chunk
                if c_lo - self.half < 0 or c_hi + self.half > plan.l_int or hi > plan.l_int or lo < 0:
                    self.full = True  # cannot happen with the a7 margins; never measure a clipped background here
                    return
                size += int((s1 - s0 + 1).sum()) * (step * 13 + 48) + s0.size * 72
            runs.append((s0, s1))
        if self.used + size > self.cache_bytes:
            self.full = True  # later blocks are filtered again in pass 2
            return
        self.used += size
        for i, (s0, s1) in enumerate(runs):
            if not s0.size:
                continue
            first, n_seg = base + s0 * step, s1 - s0 + 1
            n_c = 2 * n_seg - 1
            centres = base + _ranges(2 * s0 + 1, n_c) * chunk
            broad, analytic, valid, sums = kernels_kept.keep_runs(blk.band[i], blk.broad[i], blk.valid[i], first,
                                                             n_seg * step + 2, centres, self.half, chunk)
            self.parts[i].append(_Kept(
                block=np.full(s0.size, k), seg0=s0 + w0, seg1=s1 + w0,
                at=np.concatenate([[0], np.cumsum(n_seg[:-1] * step + 2)]), broad=broad, analytic=analytic,
                valid=valid, centre_at=np.concatenate([[0], np.cumsum(n_c[:-1])]), sums=sums,
            ))  # fmt: skip

    def signals(self, i: int, first: np.ndarray, last: np.ndarray,
                end: np.ndarray) -> tuple[EventSignals | None, np.ndarray]:
        """Row ``i``'s events (first and last segment, last internal sample) measured from what was kept.

        Returns
        -------
        EventSignals or None
            The events held (in the given order), None when none is.
        held : numpy.ndarray of bool
            Which events those are (the others need their block filtered again).
        """
        if not self.parts[i]:
            return None, np.zeros(first.size, np.bool_)
        rec = _Kept.concat(self.parts[i])
        self.parts[i] = [rec]
        step = self.step
        r = np.searchsorted(rec.seg0, first, side="right") - 1
        ok = r >= 0
        rr = np.maximum(r, 0)
        # held: the event's own block kept it (its values are that block's), whole, not cut by the night's end
        ok &= (rec.block[rr] == first * step // self.plan.hop) & (last <= rec.seg1[rr]) & (end == (last + 1) * step)
        if not ok.any():
            return None, ok
        s, e, r = first[ok], last[ok], r[ok]
        p0 = rec.at[r] + (s - rec.seg0[r]) * step  # first sample of each event in the kept arrays
        p1 = p0 + (e + 1 - s) * step  # its last sample
        row = rec.centre_at[r] + (s + e + 1) - (2 * rec.seg0[r] + 1)  # its centre's background window
        broad, analytic, offset, powers = kernels_kept.kept_events(rec.broad, rec.analytic, rec.valid, rec.sums, p0, p1,
                                                                   row)
        return EventSignals(start=s * step, last=end[ok], offset=offset, broad=broad, analytic=analytic,
                            powers=powers), ok
