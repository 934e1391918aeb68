"""The subject report: one recording's sections (staging, spindles, slow oscillations), facts and metadata.

The slow-oscillation sections come from :mod:`.subject_so`, the lateralisation section from
:mod:`.subject_lateral`; rendering from :mod:`.render`. A figure with nothing to draw (no
searched-stage time, no spindle) is replaced by a note saying so.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import param_error
from ..hypnogram import parse_stages
from ..output import write_bytes, write_text
from ..schema import SPINDLE_SUMMARY
from . import figures as F
from .render import Section, check_format, pdf_bytes, render
from .subject_lateral import lateral_section
from .subject_so import so_facts, so_sections
from .tables import (
    UNSTAGED,
    by_channel,
    channel_notes,
    of_stage,
    searched_stage,
    stage_label,
    unmeasured_counts,
    with_units,
)
from .view import ReportView, report_view
from .windows import MAX_EVENTS

__all__ = ["NO_HAND", "subject_sections", "write_subject_report"]

logger = logging.getLogger(__name__)

_NOTHING = "Nothing to draw: {why}."
_SUMMARY_NAMES = {"n_spindles": "spindles", "excluded_minutes": "excluded"}
#: What stands in place of the lateralisation section when the trained hand was not given.
NO_HAND = ("Not shown: lateralisation needs the trained hand (sleepspindles run --trained-hand left|right; in batch "
           "or cohort, the manifest's trained_hand column; in Python, trained_hand=).")


def _stage_table(result) -> pd.DataFrame:
    """Minutes and share of the recording per stage: the five sleep stages always (as the figure's bars), others when present."""
    minutes = result.hypnogram.stage_minutes()
    total = result.recording.duration / 60.0
    return pd.DataFrame([{"stage": k, "time (min)": v, "share of recording (%)": 100.0 * v / total if total else np.nan}
                         for k, v in minutes.items() if v > 0 or k in F.SLEEP_STAGES])


def _density_pivot(summary: pd.DataFrame) -> pd.DataFrame:
    """Channel rows x (count, density) per stage group, band ``all``, channels ordered."""
    table = unmeasured_counts(summary[summary["band"] == "all"], ["n_spindles"])
    wide = table.pivot(index="channel", columns="stage", values=["n_spindles", "density"])
    wide = wide.reindex(index=by_channel(table.drop_duplicates("channel"))["channel"],
                        columns=[(v, s) for v in ("n_spindles", "density") for s in dict.fromkeys(table["stage"])])
    wide.columns = [f"spindles {stage_label(s)}" if v == "n_spindles" else f"density {stage_label(s)} (1/min)"
                    for v, s in wide.columns]
    return wide.reset_index()


def _unsearched(result) -> str:
    """The searched stages (``"N2/N3"``) when the hypnogram has none of their epochs, else ``""``."""
    stages = parse_stages(result.config.detection.stages)
    if result.hypnogram is None or result.hypnogram.minutes(stages) > 0:
        return ""
    return "/".join(s.name for s in stages)


def _no_spindle_time(result) -> str:
    """Why no spindle could be searched for (no searched-stage epoch), or ``""``."""
    names = _unsearched(result)
    if not names:
        return ""
    return (f"This recording has no {names} epoch (the stages searched for spindles): no spindle could be detected, "
            "and every spindle density is undefined (shown as \u2013), not 0.")


def _staging_section(result) -> Section:
    hyp = result.hypnogram
    if hyp is None:
        return Section("staging", "Sleep staging", "Stages from: none (whole recording searched).",
                       notes=("No hypnogram: the whole recording was searched; every rate is per minute of recording.",))
    missing = _no_spindle_time(result)
    return Section("staging", "Sleep staging", f"Stages from: {hyp.source}.",
                   figures=(F.staging_figure(hyp, result.recording.duration),),
                   tables=(("Time per stage", _stage_table(result)),), alerts=(missing,) if missing else ())


def _section(key: str, title: str, text: str, figure, why: str, **kwargs) -> Section:
    """A section with its figure, or a note saying ``why`` there is none."""
    notes = kwargs.pop("notes", ())
    if figure is None:
        return Section(key, title, text, notes=(_NOTHING.format(why=why), *notes), **kwargs)
    return Section(key, title, text, figures=(figure,), notes=notes, **kwargs)


def _spindle_sections(result, view: ReportView) -> list[Section]:
    """Density, average waveform, density across the night, properties, fast and slow spindles."""
    rec, events, summary, cfg = result.recording, result.events, result.summary, result.config
    threshold = cfg.summary.fast_threshold
    stage = searched_stage(summary)
    everywhere = summary[summary["band"] == "all"]
    width = F.night_bin_minutes(rec.duration)
    searched = parse_stages(cfg.detection.stages)
    per_bin = F.night_density(events, result.hypnogram, rec.duration, searched, view.channels)
    bin_minutes = F.night_minutes(result.hypnogram, rec.duration, searched)
    unsearched = _unsearched(result)
    no_time = f"the recording has no {unsearched} epoch, the stages searched for spindles" if unsearched else ""
    no_spindle = no_time or "no spindle was detected"
    none = no_time or (no_spindle if not len(events) else "no channel has analysed time in these stages")
    return [
        _section("density", "Spindle density",
                 "Spindles per analysed minute of each searched stage (time with a NaN or flat signal is left out), "
                 "homologues side by side." + view.caveat,
                 F.density_figure(everywhere, view.shown, "Spindles / min", "Spindle density per channel"), none,
                 tables=(("Count and density per channel (all spindles)", _density_pivot(summary)),),
                 notes=channel_notes(everywhere)),
        _section("waveforms", "Average spindle waveform",
                 f"Raw EEG averaged around each spindle peak (at most {MAX_EVENTS} spindles per channel, evenly "
                 "spaced through the night); one panel per homologous pair.",
                 F.waveform_figure(view.spindle_averages, view.styles), no_spindle),
        _section("night", "Density across the night",
                 "Spindles per minute of searched-stage time in each bin (bins with under 1 min of it are left out; "
                 f"bins with under {F.THIN_BIN_MINUTES:g} min are hollow grey markers, not joined to the lines: a rate "
                 "over so little time swings by whole spindles per minute)"
                 + ("." if len(view.channels) <= 8 else f"; with {len(view.channels)} channels, their median and "
                    "10-90% range, and the motor pair."),
                 F.night_density_figure(per_bin, width, view.styles, view.highlight, bin_minutes),
                 no_time or "no bin has a minute of searched-stage time"),
        _section("distributions", "Spindle properties", "Duration, frequency and peak-to-peak amplitude of every "
                 "spindle (bins are whole multiples of the values' resolution).",
                 F.distributions_figure(events, threshold, view.styles), no_spindle),
        _section("fastslow", "Fast and slow spindles", f"Fast: frequency >= {threshold:g} Hz; slow: below "
                 "(summary.fast_threshold).", F.fast_slow_figure(summary, stage, threshold, view.shown), none),
    ]


def subject_sections(result, trained_hand: str | None = None, *, subject: str = "", night: str = "") -> list[Section]:
    """The sections of a subject report, in page order (figures and tables, nothing written)."""
    view = report_view(result)
    sections = [_staging_section(result)]
    if view.capped:
        sections.append(view.montage_section(result))
    sections += _spindle_sections(result, view)
    sections.append(lateral_section(result, trained_hand, subject, night) if trained_hand is not None
                    else Section("lateralisation", "Lateralisation", NO_HAND))
    sections += so_sections(result, view)
    sections.append(Section(
        "tables", "Spindle summary table",
        "Per channel, stage group and band: count, minutes of the stage, density and mean properties (summary.csv).",
        tables=(("summary.csv", with_units(unmeasured_counts(by_channel(result.summary), ["n_spindles"]),
                                           SPINDLE_SUMMARY, _SUMMARY_NAMES)),),
    ))
    return sections


def _run_metadata(result) -> dict[str, Any]:
    """The run-metadata block of the report (input, config, versions, staging, exclusions).

    Its notes say first, when the data are an EDF+D file's longest segment, where that segment
    begins in the file and how much recorded data the other segments held.
    """
    import yaml

    from .channels import order_channels

    record = result.record
    excluded = _signal_excluded(result)
    info = record.recording
    segment = []
    if info.segment_offset_seconds or info.discarded_seconds:
        segment = [(f"analysed data: the longest continuous segment of the file, {info.duration_seconds:g} s from "
                    f"{info.segment_offset_seconds:g} s into it ({info.discarded_seconds:g} s of recorded data in "
                    "its other segments discarded); event and stage times count from that segment's start")]
    return {
        "created": record.created,
        "inputs": record.inputs,
        "source": result.recording.source or "<in-memory recording>",
        "recording": record.recording,
        "references": collapsed(info.references, info.channels, missing="not stated in the file"),
        "staging": record.staging,
        "versions": record.versions,
        "config": yaml.safe_dump(dict(record.config), sort_keys=False, default_flow_style=None),
        "excluded": {ch: excluded[ch] for ch in order_channels(excluded) if excluded[ch] > 0},
        "unmeasured": order_channels(result.detection.coverage.unmeasurable),
        "notes": segment + list(result.detection.notes),
    }


def write_subject_report(result, out_dir: Path, trained_hand: str | None = None, format: str | None = None, *,
                         subject: str = "", night: str = "") -> Path:
    """Write ``report.html`` (or ``report.pdf``, the same page printed) for one recording.

    Parameters
    ----------
    result : sleepspindles.pipeline.RecordingResult
    out_dir : Path
        Folder of the recording's outputs (created when missing).
    trained_hand : {"left", "right"}, optional
        Adds the lateralisation panel (contralateral vs ipsilateral, LI per electrode pair).
    format : {"html", "pdf"}, optional
        A self-contained HTML page (figures embedded as PNG), or that page printed to PDF (needs
        the optional ``pdf`` extra: weasyprint); default: the run's ``report.format``.
    subject, night : str, optional
        Shown in the title (and used in the lateralisation table).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ConfigError
        For an unknown format or hand, or ``"pdf"`` without weasyprint (before any work).
    """
    format = format or result.config.report.format
    check_format(format)
    if trained_hand is not None and trained_hand not in ("left", "right"):
        raise param_error("trained_hand", "'left', 'right' or None", trained_hand)
    name = " / ".join(p for p in (subject, night) if p) or Path(result.recording.source or "recording").name
    sections = subject_sections(result, trained_hand, subject=subject, night=night)
    html = render("subject.html", sections, title=f"Sleep spindles: {name}", facts=_subject_facts(result),
                  meta=_run_metadata(result))
    path = Path(out_dir) / f"report.{format}"
    written = write_bytes(path, pdf_bytes(html)) if format == "pdf" else write_text(path, html)
    logger.info("report written to %s", path)
    return written


def _subject_facts(result) -> dict[str, str]:
    """The headline numbers shown at the top of a subject report."""
    rec, events = result.recording, result.events
    hyp = result.hypnogram
    facts = {
        "Recording": f"{rec.duration / 3600:.2f} h, {len(rec.eeg_channels)} EEG channel(s) at {rec.sf:g} Hz",
        "Staging": hyp.source if hyp is not None else "none",
        # Without a hypnogram detection.stages is not applied: the whole recording is searched.
        "Detection": f"{result.config.detection.method}, "
                     + (f"stages {', '.join(result.config.detection.stages)}" if hyp is not None else UNSTAGED),
        "Spindles": f"{len(events)}",
    }
    if hyp is not None:
        facts["Total sleep"] = f"{hyp.minutes():.0f} min"
    searched = searched_stage(result.summary)
    mean = result.summary.query("band == 'all' and stage == @searched")["density"].mean()
    undefined = f"n/a (no {searched} time)" if _no_spindle_time(result) else "n/a"
    facts[of_stage("Mean density", searched)] = f"{mean:.2f} / min" if np.isfinite(mean) else undefined
    facts.update(so_facts(result))
    excluded = sum(_signal_excluded(result).values())
    unmeasurable = result.detection.coverage.unmeasurable
    facts["Excluded time"] = (f"{excluded / 60:.1f} channel-min (NaN or flat signal)" if excluded else "none") + (
        " in the measured channels" if unmeasurable else "")
    if unmeasurable:  # the reason the detection gave (marked bad, all NaN...), as the tables' notes say it
        facts["Channels not measured"] = "; ".join(f"{c}: {r}" for c, r in unmeasurable.items())
    return facts


def _signal_excluded(result) -> dict[str, float]:
    """Searched-stage seconds left out of each measured channel (NaN or flat signal).

    A channel not measured at all (marked bad, unusable) has all its time excluded; counting it
    here would read as a signal problem, so it is left to the "not measured" lines instead.
    """
    gone = result.detection.coverage.unmeasurable
    return {c: s for c, s in result.detection.excluded_seconds.items() if c not in gone}


def collapsed(values, channels, *, missing: str = "none") -> str:
    """Per-channel values said once each: ``"not stated in the file (all 6 channels)"``, ``"M1 (C3, C4); A2 (F3)"``.

    A falsy value (None, "") reads ``missing``.
    """
    groups: dict[str, list[str]] = {}
    for value, channel in zip(values, channels):
        groups.setdefault(str(value) if value else missing, []).append(channel)
    if not groups:
        return missing
    if len(groups) == 1:
        (value, names), = groups.items()
        return f"{value} (all {len(names)} channels)" if len(names) > 1 else f"{value} ({names[0]})"
    return "; ".join(f"{value} ({', '.join(names)})" for value, names in groups.items())
