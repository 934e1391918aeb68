"""Per-spindle parameters and the events table, shared by the streamed spindle engines.

Both ``fast`` and ``a7`` find each spindle's first and last internal sample, then measure it on
the block's filtered signals with :func:`sleepspindles.detection.spindles.kernels_events.event_params`
(amplitude, RMS, frequency, oscillations, symmetry, peak) and build the standard events table
(:data:`sleepspindles.schema.SPINDLES`) from the parts found block by block.
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

__all__ = ["ChannelEvents", "measure", "events_frame", "collect"]


@dataclass(frozen=True)
class ChannelEvents:
    """Spindles of one channel found in one block, with their parameters."""

    start: np.ndarray  # global internal sample of the first sample
    last: np.ndarray  # global internal sample of the last sample
    params: kernels.EventParams


def measure(blk: Block, row: int, start: np.ndarray, last: np.ndarray, plan: Plan) -> ChannelEvents:
    """Parameters of the spindles ``[start, last]`` (global internal samples) of channel ``row``.

    Only the span of the events is handed to the kernel; the peak-finding distance is 60 ms
    (YASA's), so a 15 Hz cycle still has its own peak.
    """
    a, b = int(start[0]) - blk.g0, int(last[-1]) - blk.g0 + 2
    params = kernels.event_params(
        blk.broad[row, a:b], blk.band[row, a:b], start - blk.g0 - a, last - blk.g0 - a, plan.rate,
        math.ceil(0.06 * plan.rate),
    )  # fmt: skip
    return ChannelEvents(start=start, last=last, params=params)


def events_frame(name: str, parts: list[ChannelEvents], rate: int, hypnogram: Hypnogram | None) -> pd.DataFrame:
    """The events table of one channel from its parts (times in seconds, stage at the peak)."""
    start = np.concatenate([p.start for p in parts]) / rate
    end = np.concatenate([p.last for p in parts]) / rate
    par = {f: np.concatenate([getattr(p.params, f) for p in parts]) for f in kernels.EventParams.__dataclass_fields__}
    peak = start + par["peak"] / rate
    stage = np.full(start.size, int(Stage.UNSCORED)) if hypnogram is None else hypnogram.stage_at(peak)
    return pd.DataFrame(
        {
            "channel": name, "stage": stage_names(stage), "start": start, "peak": peak,
            "sigma_peak": start + par["envelope_peak"] / rate, "end": end, "duration": end - start,
            "amplitude": par["amplitude"], "rms": par["rms"], "frequency": par["frequency"],
            "oscillations": par["oscillations"], "symmetry": par["symmetry"],
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
