"""Aggregate an events table per channel x stage x band (all, fast, slow spindles).

Densities are spindles per minute of the time actually analysed on that channel: the scored
minutes of the stage minus those excluded because the signal was NaN or flat there
(:mod:`sleepspindles.detection.coverage`). A channel with no analysed time in a stage group, or one that
could not be measured at all (dropped at loading, flat, implausible amplitude), gets NaN rates
and a ``note`` saying why, never 0.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..config import Config, DetectionConfig, SummaryConfig
from ..detection.coverage import Coverage
from ..hypnogram import Hypnogram, Stage, parse_stages
from ..recording import Recording
from ..schema import SPINDLE_SUMMARY, SPINDLES

__all__ = ["UNSTATED_REFERENCE", "UNMEASURABLE_NOTE", "summarize", "summary_table"]

#: ``reference`` value of a channel whose file label names no reference.
UNSTATED_REFERENCE = "unstated"
#: Start of the ``note`` of a channel that could not be measured at all (the reason follows).
UNMEASURABLE_NOTE = "not measurable: "
_MEANS = ("duration", "amplitude", "rms", "frequency")


def _stage_groups(hypnogram: Hypnogram | None, stages: tuple[Stage, ...]) -> list[tuple[str, list[str]]]:
    """(label, stage names) groups: each searched stage, plus their union when there are several."""
    if hypnogram is None:
        return [(Stage.UNSCORED.name, [Stage.UNSCORED.name])]
    names = [s.name for s in stages]
    groups = [(n, [n]) for n in names]
    if len(names) > 1:
        groups.append(("+".join(names), names))
    return groups


def summarize(
    events: pd.DataFrame,
    hypnogram: Hypnogram | None,
    recording: Recording,
    config: Config | None = None,
    *,
    coverage: Coverage | None = None,
) -> pd.DataFrame:
    """Spindle count, density and mean properties per channel, stage and band.

    Parameters
    ----------
    events : pandas.DataFrame
        Standard events table.
    hypnogram : Hypnogram or None
        The stages used for detection; ``None`` means the whole recording was searched.
    recording : Recording
        The recording (its EEG channels, dropped channels and signals).
    config : Config, optional
        Supplies the searched stages, ``detection.flat_seconds`` and the fast/slow threshold.
    coverage : Coverage, optional
        The analysed time (``DetectionResult.coverage``); computed from ``recording`` when
        omitted.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`sleepspindles.schema.SPINDLE_SUMMARY`. ``band`` is ``"all"``, ``"fast"`` (frequency >=
        ``summary.fast_threshold``) or ``"slow"``; ``stage`` is a stage name or a union such as
        ``"N2+N3"``; ``minutes`` is the analysed time in that stage (scored minus
        ``excluded_minutes``); ``density`` is spindles per analysed minute, NaN with a ``note``
        when there is none; the means are NaN where there is no spindle; ``reference`` is the
        channel's reference (:data:`UNSTATED_REFERENCE` when the file names none).
    """
    from ..detection.coverage import coverage as measure

    config = config or Config()
    det: DetectionConfig = config.detection
    summ: SummaryConfig = config.summary
    if coverage is None:
        coverage = measure(recording, hypnogram, det.flat_seconds)
    groups = _stage_groups(hypnogram, parse_stages(det.stages))
    ev = events.loc[:, list(SPINDLES.names)]
    fast = ev["frequency"].to_numpy() >= summ.fast_threshold
    bands = {"all": np.ones(len(ev), dtype=bool), "fast": fast, "slow": ~fast}
    references = dict(zip(recording.channels, recording.references))
    rows = []
    for channel in (*recording.eeg_channels, *(d.channel for d in recording.dropped)):
        on_channel = (ev["channel"] == channel).to_numpy()
        reference = references.get(channel) or UNSTATED_REFERENCE
        for label, names in groups:
            minutes, excluded = coverage.minutes(channel, names)
            note = _note(channel, label, minutes, excluded, coverage.unmeasurable)
            in_stage = on_channel & ev["stage"].isin(names).to_numpy()
            for band, in_band in bands.items():
                sel = ev.loc[in_stage & in_band]
                n = len(sel)
                row = {
                    "channel": channel,
                    "stage": label,
                    "band": band,
                    "n_spindles": n,
                    "minutes": minutes,
                    "excluded_minutes": excluded,
                    "density": n / minutes if minutes > 0 else np.nan,
                    "reference": reference,
                    "note": note,
                }
                row.update({c: float(sel[c].mean()) if n else np.nan for c in _MEANS})
                rows.append(row)
    return SPINDLE_SUMMARY.conform(pd.DataFrame(rows, columns=list(SPINDLE_SUMMARY.names)))


def summary_table(context) -> pd.DataFrame:
    """:func:`summarize` of a recording context (the producer of :data:`sleepspindles.schema.SPINDLE_SUMMARY`)."""
    found = context.detections["spindles"]
    return summarize(found.events, context.hypnogram, context.recording, context.config, coverage=found.coverage)


def _note(channel: str, label: str, minutes: float, excluded: float, unmeasurable: dict) -> str:
    """Why a channel's rates in a stage group are NaN or rest on less than the scored time."""
    if channel in unmeasurable:
        return UNMEASURABLE_NOTE + unmeasurable[channel]
    if minutes <= 0 and excluded > 0:
        return f"no analysable {label} time: all {excluded:.1f} min excluded (NaN or flat signal)"
    if minutes <= 0:
        return f"no {label} time"
    if excluded > 0:
        return f"{excluded:.1f} min of {label} excluded (NaN or flat signal)"
    return ""
