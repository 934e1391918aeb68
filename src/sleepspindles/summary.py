"""Aggregate an events table per channel x stage x band (all, fast, slow spindles)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .config import Config, DetectionConfig, SummaryConfig
from .events import EVENT_COLUMNS
from .hypnogram import Hypnogram, Stage, parse_stages
from .recording import Recording

__all__ = ["SUMMARY_COLUMNS", "summarize"]

#: Columns of the summary table (one row per channel x stage x band).
SUMMARY_COLUMNS = (
    "channel",
    "stage",
    "band",
    "n_spindles",
    "minutes",
    "density",
    "duration",
    "amplitude",
    "rms",
    "frequency",
)
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
) -> pd.DataFrame:
    """Spindle count, density and mean properties per channel, stage and band.

    Parameters
    ----------
    events : pandas.DataFrame
        Standard events table.
    hypnogram : Hypnogram or None
        The stages used for detection; ``None`` means the whole recording was searched.
    recording : Recording
        The recording (for its EEG channels and duration).
    config : Config, optional
        Supplies the searched stages and the fast/slow frequency threshold.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SUMMARY_COLUMNS`. ``band`` is ``"all"``, ``"fast"`` (frequency >=
        ``summary.fast_threshold``) or ``"slow"``; ``stage`` is a stage name or a union such as
        ``"N2+N3"``; ``minutes`` is the time in that stage; ``density`` is spindles per minute;
        the means are NaN where there is no spindle. Channels with no spindle get rows with 0.
    """
    config = config or Config()
    det: DetectionConfig = config.detection
    summ: SummaryConfig = config.summary
    groups = _stage_groups(hypnogram, parse_stages(det.stages))
    ev = events.loc[:, list(EVENT_COLUMNS)]
    fast = ev["frequency"].to_numpy() >= summ.fast_threshold
    bands = {"all": np.ones(len(ev), dtype=bool), "fast": fast, "slow": ~fast}
    rows = []
    for channel in recording.eeg_channels:
        on_channel = (ev["channel"] == channel).to_numpy()
        for label, names in groups:
            minutes = recording.duration / 60.0 if hypnogram is None else hypnogram.minutes(names)
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
                    "density": n / minutes if minutes > 0 else np.nan,
                }
                row.update({c: float(sel[c].mean()) if n else np.nan for c in _MEANS})
                rows.append(row)
    table = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return table.astype({"n_spindles": "int64"})
