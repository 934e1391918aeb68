"""Shaping the tables a report shows (no rendering): stage groups, notes, channel order, units."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analysis.measures import MAIN_MEASURE  # the measure of both reports' figures and the console summary
from ..analysis.summary import UNMEASURABLE_NOTE
from ..hypnogram import Stage
from ..schema import TableSchema
from .channels import order_channels

__all__ = ["MAIN_MEASURE", "NOT_STAGED", "UNSTAGED", "by_channel", "channel_notes", "measure_label", "measure_unit",
           "of_stage", "searched_stage", "stage_label", "unit_of", "unmeasured", "unmeasured_counts", "with_units"]

#: How the stage group of a recording searched without a hypnogram reads: the tables' ``UNSCORED``
#: would read as "the unscored epochs", not as the whole recording.
UNSTAGED = "whole recording (not staged)"
#: What stands in place of a section that needs sleep stages, for a recording without them.
NOT_STAGED = "Not available: the recording was not staged."

_MEASURE_WORDS = {
    "density_n2": "spindle density, N2", "density_n2n3": "spindle density, N2+N3", "amplitude": "spindle amplitude, N2",
    "sigma_abs": "sigma power", "sigma_rel": "relative sigma power", "so_density": "SO density, N2+N3",
    "so_amplitude": "SO amplitude, N2+N3", "swa_abs": "slow-wave activity, NREM", "swa_rel": "relative SWA, NREM",
    "coupled_density": "SO-coupled spindle density", "coupling_ppc": "coupling strength (PPC)",
    "coupling_phase": "coupling phase", "train_density": "spindle-train density",
    "train_fraction": "share of spindles in trains", "spindle_density": "spindle density",
}


def searched_stage(table: pd.DataFrame) -> str:
    """The stage group covering every searched stage (``"N2+N3"``, or the only one)."""
    groups = list(dict.fromkeys(table["stage"]))
    return next((g for g in groups if "+" in g), groups[0] if groups else "")


def stage_label(stage: str) -> str:
    """A stage group as the reader sees it: :data:`UNSTAGED` for ``UNSCORED``, any other unchanged."""
    return UNSTAGED if stage == Stage.UNSCORED.name else stage


def of_stage(text: str, stage: str) -> str:
    """``"Fast vs slow (N2+N3)"``, or ``"Fast vs slow, whole recording (not staged)"``: no nested brackets."""
    label = stage_label(stage)
    return f"{text} ({label})" if label == stage else f"{text}, {label}"


def channel_notes(table: pd.DataFrame) -> tuple[str, ...]:
    """Why rates are NaN or partial: one line per stage group and note, naming its channels.

    ``"N2: no N2 time (C3, C4, Cz)"`` rather than a line per channel, which on a 256-channel
    montage would bury the page.
    """
    noted = table.loc[table["note"].fillna("") != "", ["channel", "stage", "note"]]
    lines = []
    for (stage, note), rows in noted.groupby(["stage", "note"], sort=False):
        channels = order_channels(rows["channel"].unique())
        names = ", ".join(channels) if len(channels) <= 12 else f"{len(channels)} channels: {', '.join(channels[:6])}..."
        lines.append(f"{stage_label(stage)}: {note} ({names})")
    return tuple(lines)


def unmeasured(table: pd.DataFrame) -> np.ndarray:
    """Which rows are of a channel that was not measured: no minute and a note saying it was not measurable.

    Parameters
    ----------
    table : pandas.DataFrame
        A table with a ``note`` column (rows of a table without one are never unmeasured) and
        optionally ``minutes`` (a row with analysed time was measured, whatever its note says).
    """
    if "note" not in table:
        return np.zeros(len(table), dtype=bool)
    flagged = table["note"].fillna("").astype(str).str.startswith(UNMEASURABLE_NOTE).to_numpy(dtype=bool)
    if "minutes" in table:
        flagged = flagged & (table["minutes"].fillna(0).to_numpy(dtype=float) == 0)
    return flagged


def unmeasured_counts(table: pd.DataFrame, counts) -> pd.DataFrame:
    """``table`` with its ``counts`` columns missing (shown as an en dash) on :func:`unmeasured` rows.

    A count of 0 reads "measured, none found"; a channel left out (marked bad, unusable) found
    nothing because it was never searched. Only the report's copy changes: the CSV keeps its 0.
    """
    gone = unmeasured(table)
    if not gone.any():
        return table
    return table.assign(**{c: table[c].astype(float).where(~gone) for c in counts if c in table})


def by_channel(table: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered by channel front to back, homologues side by side (row order kept within one)."""
    rank = {c: i for i, c in enumerate(order_channels(table["channel"].unique()))}
    order = table["channel"].map(rank).sort_values(kind="stable").index
    return table.loc[order].reset_index(drop=True)


def with_units(frame: pd.DataFrame, schema: TableSchema, names: dict[str, str] | None = None) -> pd.DataFrame:
    """``frame`` with each of ``schema``'s columns labelled ``"name (unit)"`` and its stages as :func:`stage_label`.

    Parameters
    ----------
    frame : pandas.DataFrame
        Columns of ``schema`` (others keep their names); a ``stage`` column's values are relabelled.
    schema : TableSchema
        Where the units come from; a unit of ``"-"`` adds nothing.
    names : dict of str to str, optional
        Readable labels for some columns (``{"n_so": "SOs"}``); the unit is added to them.
    """
    names = names or {}
    labels = {}
    for column in frame.columns:
        label, unit = names.get(column, column), unit_of(schema, column)
        labels[column] = label if unit == "-" else f"{label} ({unit})"
    if "stage" in frame:
        frame = frame.assign(stage=frame["stage"].map(stage_label))
    return frame.rename(columns=labels)


def unit_of(schema: TableSchema, column: str) -> str:
    """The unit of ``schema``'s ``column`` (``"-"`` when it has none or is not one of its columns)."""
    return next((c.unit for c in schema.columns if c.name == column), "-")


def measure_unit(measure: str) -> str:
    """The unit of a laterality measure (``"1/min"``; ``"-"`` when it has none or is unknown)."""
    from ..analysis.measures import MEASURES, WINDOW_MEASURES

    units = {m.name: m.unit for m in MEASURES}
    window_units = {"spindle_density": "1/min", "so_density": "1/min", "coupled_density": "1/min"}
    return units.get(measure) or (window_units.get(measure, "-") if measure in WINDOW_MEASURES else "-")


def measure_label(measure: str, unit: bool = True) -> str:
    """A laterality measure in words, with its unit: ``"spindle density, N2+N3 (1/min)"``."""
    words = _MEASURE_WORDS.get(measure, measure)
    shown = measure_unit(measure)
    return f"{words} ({shown})" if unit and shown != "-" else words
