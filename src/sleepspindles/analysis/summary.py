"""Aggregate an events table per channel x stage x band (all, fast, slow spindles).

Densities are spindles per minute of the time actually analysed on that channel: the scored
minutes of the stage minus those excluded because the signal was NaN or flat there
(:mod:`sleepspindles.detection.coverage`). A channel with no analysed time in a stage group, or one that
could not be measured at all (dropped at loading, flat, implausible amplitude), gets NaN rates
and a ``note`` saying why, never 0.

:func:`stage_groups` (the channel x stage groups with their analysed minutes, note and
reference), :func:`rate` and :func:`event_means` are shared with the slow-oscillation summary
(:mod:`.slow_waves`), which follows the same rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..config import Config, DetectionConfig, SummaryConfig
from ..detection.coverage import Coverage
from ..errors import param_error
from ..hypnogram import Hypnogram, Stage, parse_stages
from ..recording import Recording
from ..schema import SPINDLE_SUMMARY

__all__ = [
    "UNSTATED_REFERENCE",
    "UNMEASURABLE_NOTE",
    "StageGroup",
    "stage_groups",
    "rate",
    "event_means",
    "summarize",
    "summary_table",
]

#: ``reference`` value of a channel whose file label names no reference.
UNSTATED_REFERENCE = "unstated"
#: Start of the ``note`` of a channel that could not be measured at all (the reason follows).
UNMEASURABLE_NOTE = "not measurable: "
_MEANS = ("duration", "amplitude", "rms", "frequency")


class StageGroup(NamedTuple):
    """One channel x stage group of a summary and the time its rates rest on.

    Attributes
    ----------
    channel : str
    stage : str
        The group's label: a stage (``"N2"``), their union (``"N2+N3"``) or ``"UNSCORED"``.
    stages : list of str
        The stage names of the group.
    minutes, excluded_minutes : float
        Analysed and excluded minutes of the channel in those stages.
    note : str
        Why its rates are NaN or rest on less than the scored time (``""`` when they do not).
    reference : str
        The channel's reference (:data:`UNSTATED_REFERENCE` when the file names none).
    """

    channel: str
    stage: str
    stages: list[str]
    minutes: float
    excluded_minutes: float
    note: str
    reference: str

    def columns(self) -> dict[str, object]:
        """The columns every summary shares (channel, stage, minutes, reference, note)."""
        return {"channel": self.channel, "stage": self.stage, "minutes": self.minutes,
                "excluded_minutes": self.excluded_minutes, "reference": self.reference, "note": self.note}


def stage_groups(
    events: pd.DataFrame,
    recording: Recording,
    hypnogram: Hypnogram | None,
    stages,
    coverage: Coverage | None = None,
    flat_seconds: float = 1.0,
) -> Iterator[tuple[StageGroup, pd.DataFrame]]:
    """Every channel x stage group of a summary, with the events that fall in it.

    Parameters
    ----------
    events : pandas.DataFrame
        An events table with ``channel`` and ``stage`` columns.
    recording : Recording
        Its EEG channels, then its dropped channels, are summarised in that order.
    hypnogram : Hypnogram or None
        ``None``: one ``UNSCORED`` group per channel (the whole recording was searched).
    stages : sequence of str
        The stages searched: one group each, plus their union when there are several.
    coverage : Coverage, optional
        The analysed time; measured on ``recording`` (with ``flat_seconds``) when omitted.
    flat_seconds : float
        Runs of identical samples at least this long are not analysed (as in detection).

    Yields
    ------
    (StageGroup, pandas.DataFrame)
        The group and its events (the rows of ``events`` on its channel and in its stages).
    """
    from ..detection.coverage import coverage as measure

    if coverage is None:
        coverage = measure(recording, hypnogram, flat_seconds)
    groups = _stage_groups(hypnogram, parse_stages(stages))
    references = dict(zip(recording.channels, recording.references))
    by_channel = dict(tuple(events.groupby("channel", sort=False))) if len(events) else {}
    for channel in (*recording.eeg_channels, *(d.channel for d in recording.dropped)):
        on_channel = by_channel.get(channel, events.iloc[:0])
        reference = references.get(channel) or UNSTATED_REFERENCE
        for label, names in groups:
            minutes, excluded = coverage.minutes(channel, names)
            note = _note(channel, label, minutes, excluded, coverage.unmeasurable)
            group = StageGroup(channel, label, names, minutes, excluded, note, reference)
            yield group, on_channel.loc[on_channel["stage"].isin(names)]


def rate(n: int, minutes: float) -> float:
    """Events per analysed minute; NaN without analysed time (its note says why), never 0."""
    return n / minutes if minutes > 0 else np.nan


def event_means(events: pd.DataFrame, columns) -> dict[str, float]:
    """Mean of each column over ``events`` (NaN when there is none)."""
    return {c: float(events[c].mean()) if len(events) else np.nan for c in columns}


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
    if not isinstance(events, pd.DataFrame):
        raise param_error("events", "an events table (pandas.DataFrame, as detect_spindles returns)",
                          type(events).__name__)
    config = config or Config()
    det: DetectionConfig = config.detection
    summ: SummaryConfig = config.summary
    rows = []
    for group, found in stage_groups(events, recording, hypnogram, det.stages, coverage, det.flat_seconds):
        fast = found["frequency"] >= summ.fast_threshold
        for band, sel in (("all", found), ("fast", found[fast]), ("slow", found[~fast])):
            n = len(sel)
            rows.append({**group.columns(), "band": band, "n_spindles": n, "density": rate(n, group.minutes),
                         **event_means(sel, _MEANS)})
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
