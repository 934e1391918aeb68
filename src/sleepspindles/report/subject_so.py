"""The slow-oscillation part of a subject report: SOs, the average SO, SO-spindle coupling, SWA.

Every section is built from the recording's tables (:data:`~sleepspindles.schema.SO_SUMMARY`,
:data:`~sleepspindles.schema.SLOW_OSCILLATIONS`, :data:`~sleepspindles.schema.COUPLING`,
:data:`~sleepspindles.schema.SWA`) and is left out, rather than drawn empty, when the recording
has no SO results or the table it rests on has no rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import COUPLING, PHASE_CONVENTION, SLOW_OSCILLATIONS, SO_SUMMARY, SWA
from . import figures_so as FS
from .figures import density_figure
from .render import Section
from .tables import (
    NOT_STAGED,
    by_channel,
    channel_notes,
    of_stage,
    searched_stage,
    stage_label,
    unit_of,
    unmeasured,
    unmeasured_counts,
    with_units,
)
from .view import SO_HALF_WIDTH, ReportView
from .windows import MAX_EVENTS

__all__ = ["inverted_channels", "so_facts", "so_sections"]

_INVERTED = "looks inverted"  # how the engine's polarity check starts a flag (the rest says why)
_SO_COLUMNS = ("channel", "stage", "n_so", "minutes", "density", "duration", "val_neg", "ptp", "slope", "frequency")
_SO_NAMES = {"n_so": "SOs", "val_neg": "negative peak", "ptp": "peak-to-peak"}
# Rayleigh's p (anti-conservative) and the densities stay in coupling.csv: the table must fit the page.
_COUPLING_COLUMNS = ("channel", "stage", "n_spindles", "n_coupled", "pct_coupled", "pct_so_with_spindle", "phase_deg",
                     "mvl", "ppc", "surrogate_p", "note")
_COUPLING_NAMES = {"n_spindles": "spindles", "n_coupled": "coupled", "pct_coupled": "coupled",
                   "pct_so_with_spindle": "SOs with a spindle", "phase_deg": "mean phase", "mvl": "MVL", "ppc": "PPC",
                   "surrogate_p": "surrogate p"}
_CYCLE = "cycle "  # prefix of the SWA windows of sleep cycles ("cycle 1")


def so_sections(result, view: ReportView) -> list[Section]:
    """The slow-oscillation sections of a subject report, in page order (none without SO results).

    Parameters
    ----------
    result : sleepspindles.pipeline.RecordingResult
        Its ``tables`` (SO events, SO summary, coupling, SWA), ``events`` (the spindles with
        their ``so_coupled`` and ``so_phase``), ``recording`` and ``config``.
    view : ReportView
        The shown channels, their styles and their trough-locked averages.
    """
    if SLOW_OSCILLATIONS.name not in result.tables:
        return []
    found = len(result.tables[SLOW_OSCILLATIONS.name]) > 0
    sections = [_so_section(result, found, view)]
    if found:
        sections += [_waveform_section(result, view), _coupling_section(result, view)]
    sections.append(_swa_section(result, view))
    return [s for s in sections if s is not None]


def so_facts(result) -> dict[str, str]:
    """Headline numbers of the SO detection (empty without SO results)."""
    if SLOW_OSCILLATIONS.name not in result.tables:
        return {}
    facts = {"Slow oscillations": str(len(result.tables[SLOW_OSCILLATIONS.name]))}
    flagged = inverted_channels(result.tables.get(SO_SUMMARY.name, SO_SUMMARY.empty()))
    if flagged:
        facts["Polarity flagged"] = ", ".join(flagged)
    return facts


def inverted_channels(summary: pd.DataFrame) -> dict[str, str]:
    """Channel -> the polarity check's text, for the channels it flags as looking inverted."""
    checks = summary.drop_duplicates("channel").set_index("channel")["polarity"]
    return {c: str(text) for c, text in checks.items() if str(text).startswith(_INVERTED)}


def _so_section(result, found: bool, view: ReportView) -> Section | None:
    """Density per channel and stage, the amplitude criterion and the polarity check per channel."""
    summary = result.tables.get(SO_SUMMARY.name, SO_SUMMARY.empty())
    if not len(summary):
        return None
    lead = ("Slow oscillations per analysed minute of each searched stage, left and right homologues side by side"
            if found else "No slow oscillation met the criteria on any channel")
    text = (f"{lead}. Below: the amplitude criterion each channel's SOs had to meet, and the polarity check (SOs "
            "are largely global, so a channel whose troughs fall on the other channels' crests looks inverted).")
    alerts = tuple(f"Channel {channel} {check}. Flagged, not flipped: its SOs, SO phases and coupling are reported "
                   f"as recorded (an inverted channel shifts every phase by 180 deg); check its montage."
                   for channel, check in inverted_channels(summary).items())
    criteria = by_channel(summary.drop_duplicates("channel"))[["channel", "threshold", "polarity", "note"]]
    counted = summary.groupby("channel")["n_so"].max()
    # An unmeasured channel found no SO because it was never searched: its note says why.
    criteria["polarity"] = [n if gone else p if counted.get(c, 0) > 0 else "not checked: no SO" for c, p, n, gone in
                            zip(criteria["channel"], criteria["polarity"], criteria["note"], unmeasured(criteria))]
    criteria = criteria.drop(columns="note")
    criteria = criteria.rename(columns={"threshold": "amplitude criterion", "polarity": "polarity check"})
    shown = with_units(unmeasured_counts(by_channel(summary), ["n_so"])[list(_SO_COLUMNS)], SO_SUMMARY, _SO_NAMES)
    figure = density_figure(summary, view.shown, "SOs / min", "Slow-oscillation density per channel") if found else None
    return Section(
        "so", "Slow oscillations", text + view.caveat,
        figures=(figure,) if figure is not None else (),
        tables=(("Amplitude criterion and polarity check per channel", criteria),)
        + ((("Count, density and mean properties per channel and stage", shown),) if found else ()),
        notes=channel_notes(summary), alerts=alerts,
    )


def _waveform_section(result, view: ReportView) -> Section:
    """The trough-locked average SO per shown channel with the sigma envelope of the same windows."""
    band = tuple(result.config.detection.band)
    return Section(
        "so_waveform", "Average slow oscillation",
        f"Raw EEG averaged around each SO's negative peak (+/-{SO_HALF_WIDTH:g} s, at most {MAX_EVENTS} SOs per "
        f"channel, evenly spaced through the night), with the {band[0]:g}-{band[1]:g} Hz sigma amplitude envelope of "
        "the same windows below it: spindles nested in the SO up-state raise the envelope after the trough.",
        figures=(FS.so_waveform_figure(view.so_averages, band, view.styles),),
    )


def _coupling_section(result, view: ReportView) -> Section | None:
    """Polar histograms of the coupled spindles' SO phases and the coupling table (band ``all``)."""
    coupling = result.tables.get(COUPLING.name, COUPLING.empty())
    coupling = coupling[coupling["band"] == "all"]
    if not len(coupling):
        return None
    stage = searched_stage(coupling)
    spindles = result.events
    coupled = spindles[spindles["so_coupled"].fillna(False).astype(bool)
                       & spindles["stage"].isin(stage.split("+")) & spindles["so_phase"].notna()]
    n_surrogates = int(coupling["n_surrogates"].max())
    shown = stage_label(stage)
    text = (f"SO phase at the sigma-envelope peak of each spindle lying inside an SO of its channel. Phase "
            f"convention: {PHASE_CONVENTION}. PPC: pairwise phase consistency (unbiased by the number of "
            f"spindles); p: surrogate test of the mean vector length ({n_surrogates} surrogates, spindle peaks "
            "moved to random times within their own SO).")
    table = with_units(unmeasured_counts(by_channel(coupling), ["n_spindles", "n_coupled"])[list(_COUPLING_COLUMNS)],
                       COUPLING, _COUPLING_NAMES)
    figures, notes = (), ()
    if len(coupled):
        by = coupled.groupby("channel")["so_phase"]
        phases = {c: by.get_group(c).to_numpy(dtype=float) if c in by.groups else np.empty(0) for c in view.shown
                  if c in set(coupling["channel"])}
        stats = coupling[coupling["stage"] == stage].set_index("channel")
        figures = (FS.coupling_rose_figure(phases, stats, stage, view.styles),)
    else:
        notes = (f"{of_stage('No spindle peak', stage)} fell inside a slow oscillation: there is no phase to plot.",)
    return Section("coupling", "SO-spindle coupling", text, figures=figures,
                   tables=((f"Coupling per channel and stage, all spindles (the figure: {shown})", table),),
                   notes=notes)


def _swa_section(result, view: ReportView) -> Section | None:
    """SWA per sleep cycle (figure) and per stage and early-night window (table); why not, when unstaged."""
    title = "Slow-wave activity across the night"
    if result.hypnogram is None:  # cycles and NREM epochs need stages: say so, as the lateralisation does
        return Section("swa", title, NOT_STAGED)
    swa = result.tables.get(SWA.name, SWA.empty())
    if not len(swa):
        return None
    cfg = result.config
    band = tuple(cfg.slow_oscillations.swa_band)
    is_cycle = swa["window"].str.startswith(_CYCLE)
    cycles = swa[is_cycle].assign(cycle=lambda t: t["window"].str.removeprefix(_CYCLE).astype(int))
    per_cycle = cycles.pivot(index="cycle", columns="channel", values="power")
    per_cycle = per_cycle.reindex(columns=[c for c in view.channels if c in per_cycle.columns])  # front to back
    windows = by_channel(swa[~is_cycle])
    empty = sorted(set(swa.loc[swa["n_epochs"] == 0, "window"]))
    text = (f"Welch power in {band[0]:g}-{band[1]:g} Hz, averaged over the complete epochs of each window: the "
            f"NREM epochs ({'+'.join(cfg.slow_oscillations.stages)}) of each sleep cycle, each stage, and the first "
            f"{cfg.slow_oscillations.swa_first_minutes:g} min of NREM sleep from sleep onset. Relative: the SWA "
            f"band's share of the power from {band[0]:g} to {cfg.laterality.total_band[1]:g} Hz.")
    figure = FS.swa_cycles_figure(per_cycle, band, view.styles, view.highlight)
    notes = (f"No usable epoch in: {', '.join(empty)} (NaN).",) if empty else ()
    if figure is None:
        notes += (f"{len(per_cycle)} sleep cycle(s): no change across cycles to draw (swa.csv has every window).",)
    return Section(
        "swa", title, text,
        figures=(figure,) if figure is not None else (),
        tables=(("SWA per stage and over the first minutes of NREM sleep", _per_window(windows, "power")),
                ("Relative SWA per stage and over the first minutes of NREM sleep", _per_window(windows, "relative"))),
        notes=notes,
    )


def _per_window(swa: pd.DataFrame, value: str) -> pd.DataFrame:
    """Channel rows x window columns of one SWA column, labelled with its unit (``"N2 (uV^2)"``), in table order."""
    unit = unit_of(SWA, value)
    wide = swa.pivot(index="channel", columns="window", values=value)
    wide = wide.reindex(index=list(dict.fromkeys(swa["channel"])), columns=list(dict.fromkeys(swa["window"])))
    wide.columns = [w if unit == "-" else f"{w} ({unit})" for w in wide.columns]
    return wide.reset_index()
