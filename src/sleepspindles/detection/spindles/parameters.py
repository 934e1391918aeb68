"""Per-spindle parameters and the events table, shared by the streamed spindle engines.

Both ``fast`` and ``a7`` find each spindle's first and last internal sample, then measure it on
the block's filtered signals with :func:`sleepspindles.detection.spindles.kernels_events.event_params`
(amplitude, RMS, frequency, oscillations, symmetry, peak) and
:func:`~sleepspindles.detection.spindles.kernels_events.event_quality` (sigma SNR, RMS ratio and
spectral peak prominence against the :data:`BACKGROUND_SECONDS` around the event), and build the
standard events table (:data:`sleepspindles.schema.SPINDLES`) from the parts found block by block.
Engines gather each block's events with :func:`take` (their signals end to end and their band
powers, which need the block around them) and measure a channel's events at once with
:func:`finish`: the kernels' fixed costs are paid once per channel, not once per block.

The background is taken from the block: the engine's block margins decide whether it is always
whole. ``a7`` gives its blocks margins wider than half the background, so its measures do not
depend on the block layout; ``fast``'s margins are about 7 s, so for an event within
:data:`BACKGROUND_SECONDS` / 2 of a block edge the window is shifted into the block (same length,
off-centre). The spectral peak is searched in the sigma filter's passband and the power law fitted
inside the broadband filter's (response at least half its maximum: the -6 dB points).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...hypnogram import Hypnogram, Stage, stage_names
from ...schema import SPINDLES
from .. import DetectionResult
from ..core.streaming import Block, Plan
from . import kernels_events as kernels
from . import kernels_kept

__all__ = ["ChannelEvents", "EventSignals", "take", "finish", "measure", "events_frame", "collect",
           "BACKGROUND_SECONDS"]

#: Seconds of background around each spindle for its quality measures (event excluded, valid samples only).
BACKGROUND_SECONDS = 30.0
_MIN_BACKGROUND_SECONDS = 10.0  # fewer usable seconds leave sigma_snr and rms_ratio NaN


@dataclass(frozen=True)
class ChannelEvents:
    """Spindles of one channel found in one block, with their parameters."""

    start: np.ndarray  # global internal sample of the first sample
    last: np.ndarray  # global internal sample of the last sample
    params: kernels.EventParams
    quality: kernels.EventQuality
    confidence: np.ndarray | None = None  # from engines that compute one (a7), else NaN in the table


@dataclass(frozen=True)
class EventSignals:
    """Spindles of one channel with what their parameters are measured on, gathered block by block.

    Each event's filtered signals over its samples ``start .. last + 1`` are stored end to end
    (``offset``: where its first sample is); ``powers`` holds its band powers against its
    background (:func:`~sleepspindles.detection.spindles.kernels_events.snr_and_ratio`'s table),
    which need the block around it. :func:`finish` measures every event of a channel at once.
    """

    start: np.ndarray  # global internal sample of the first sample
    last: np.ndarray  # global internal sample of the last sample
    offset: np.ndarray  # first sample of each event in broad / analytic
    broad: np.ndarray  # float32: broadband signal
    analytic: np.ndarray  # complex64: analytic sigma signal
    powers: np.ndarray  # (n, 5) float64: band powers (event, background) and background samples

    @staticmethod
    def concat(parts: list[EventSignals]) -> EventSignals:
        """One channel's parts as one (events in the parts' order)."""
        if len(parts) == 1:
            return parts[0]
        sizes = np.array([p.broad.size for p in parts])
        shift = np.concatenate([[0], np.cumsum(sizes[:-1])])
        return EventSignals(
            start=np.concatenate([p.start for p in parts]), last=np.concatenate([p.last for p in parts]),
            offset=np.concatenate([p.offset + d for p, d in zip(parts, shift)]),
            broad=np.concatenate([p.broad for p in parts]), analytic=np.concatenate([p.analytic for p in parts]),
            powers=np.concatenate([p.powers for p in parts]),
        )  # fmt: skip

    def select(self, idx: np.ndarray) -> EventSignals:
        """The events ``idx`` (in that order)."""
        first = self.offset[idx]
        broad, analytic, offset = kernels_kept.gather_events(self.broad, self.analytic, first,
                                                        first + (self.last[idx] - self.start[idx]))
        return EventSignals(start=self.start[idx], last=self.last[idx], offset=offset, broad=broad, analytic=analytic,
                            powers=self.powers[idx])


def take(blk: Block, row: int, start: np.ndarray, last: np.ndarray, plan: Plan, chunk: int = 0) -> EventSignals:
    """The signals and band powers of the spindles ``[start, last]`` (global internal samples) of channel ``row``.

    ``chunk`` > 0 sums the background windows on that grid of the block
    (:func:`~sleepspindles.detection.spindles.kernels_kept.grid_band_powers`, as the ``a7``
    engine's kept signals do); 0 sample by sample.
    """
    s, e = start - blk.g0, last - blk.g0
    broad, analytic, offset = kernels_kept.gather_events(blk.broad[row], blk.band[row], s, e)
    half = round(BACKGROUND_SECONDS * plan.rate) // 2
    if chunk:
        powers = kernels_kept.grid_band_powers(blk.band[row], blk.broad[row], blk.valid[row], s, e, half, chunk)
    else:
        powers = kernels.band_powers(blk.band[row].real, blk.broad[row], blk.valid[row], s, e, half)
    return EventSignals(start=start, last=last, offset=offset, broad=broad, analytic=analytic, powers=powers)


def finish(sig: EventSignals, plan: Plan, confidence: np.ndarray | None = None) -> ChannelEvents:
    """Parameters and quality of every event of ``sig`` (one call per channel: the kernels run once)."""
    first, final = sig.offset, sig.offset + (sig.last - sig.start)
    params = kernels.event_params(sig.broad, sig.analytic, first, final, plan.rate, math.ceil(0.06 * plan.rate))
    snr, ratio = kernels.snr_and_ratio(sig.powers, round(_MIN_BACKGROUND_SECONDS * plan.rate))
    prominence = kernels.peak_prominence(sig.broad, first, final, plan.rate, _passband(plan.h_band_real, plan),
                                         _passband(plan.h_broad, plan))
    quality = kernels.EventQuality(sigma_snr=snr, rms_ratio=ratio, peak_prominence=prominence)
    return ChannelEvents(start=sig.start, last=sig.last, params=params, quality=quality, confidence=confidence)


def measure(blk: Block, row: int, start: np.ndarray, last: np.ndarray, plan: Plan) -> ChannelEvents:
    """Parameters and quality of the spindles ``[start, last]`` (global internal samples) of channel ``row``.

    :func:`take` then :func:`finish`; engines that find events block by block gather the parts
    with :func:`take` and finish each channel once. The peak-finding distance is 60 ms (YASA's),
    so a 15 Hz cycle still has its own peak.
    """
    return finish(take(blk, row, start, last, plan), plan)


def _passband(response: np.ndarray, plan: Plan) -> tuple[float, float]:
    """Lowest and highest frequency (Hz) where a filter's response is at least half its maximum."""
    gain = np.abs(response)
    on = np.flatnonzero(gain >= 0.5 * gain.max()) * plan.rate / plan.l_int
    return float(on[0]), float(on[-1])


def events_frame(name: str, parts: list[ChannelEvents], rate: int, hypnogram: Hypnogram | None) -> pd.DataFrame:
    """The events table of one channel from its parts (times in seconds, stage at the peak)."""
    start = np.concatenate([p.start for p in parts]) / rate
    end = np.concatenate([p.last for p in parts]) / rate
    par = {f: np.concatenate([getattr(p.params, f) for p in parts]) for f in kernels.EventParams.__dataclass_fields__}
    quality = {f: np.concatenate([getattr(p.quality, f) for p in parts]) for f in kernels.EventQuality.__dataclass_fields__}
    confidence = np.concatenate([np.full(p.start.size, np.nan) if p.confidence is None else p.confidence for p in parts])
    peak = start + par["peak"] / rate
    stage = np.full(start.size, int(Stage.UNSCORED)) if hypnogram is None else hypnogram.stage_at(peak)
    return pd.DataFrame(
        {
            "channel": name, "stage": stage_names(stage), "start": start, "peak": peak,
            "sigma_peak": start + par["envelope_peak"] / rate, "end": end, "duration": end - start,
            "amplitude": par["amplitude"], "rms": par["rms"], "frequency": par["frequency"],
            "oscillations": par["oscillations"], "symmetry": par["symmetry"], "confidence": confidence, **quality,
        }
    )  # fmt: skip


def collect(groups: list[tuple[list, list]], label: str, notes: list[str]) -> DetectionResult:
    """One result from the groups' (events frames, notes); a note when no spindle was found."""
    frames = [f for events, _ in groups for f in events]
    notes = list(notes) + [n for _, group_notes in groups for n in group_notes]
    events = SPINDLES.conform(pd.concat(frames, ignore_index=True)) if frames else SPINDLES.empty()
    if events.empty:
        notes.append(f"{label}: no spindle found on any channel")
    return DetectionResult(events=events, notes=tuple(notes))
