"""Self-contained reports: one HTML file per recording (figures embedded), one per cohort.

Figures come from :mod:`sleepspindles.report.figures` (matplotlib, no pyplot); the pages are
rendered with jinja2 from ``report/templates``. ``format="pdf"`` writes the same figures and
tables as a printable multi-page PDF with matplotlib's PDF backend (no extra dependency).
Files are written atomically through :mod:`sleepspindles.output`.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import __version__
from ..errors import param_error
from ..hypnogram import parse_stages
from ..output import write_bytes, write_text
from . import figures as F

__all__ = ["Section", "write_subject_report", "write_cohort_report", "subject_sections", "cohort_sections"]

logger = logging.getLogger(__name__)

_FORMATS = ("html", "pdf")
_DPI = 100
_MAX_HTML_ROWS = 400  # longer tables are cut (the CSV next to the report has every row)


@dataclass(frozen=True)
class Section:
    """One block of a report: a title, an optional lead text, figures and tables.

    Attributes
    ----------
    key : str
        HTML anchor (``"density"``).
    title : str
    text : str
        A sentence saying what the section shows (plain text).
    figures : tuple of matplotlib Figure
    tables : tuple of (caption, DataFrame)
    notes : tuple of str
        Remarks shown in small print (skipped pairs, missing values).
    """

    key: str
    title: str
    text: str = ""
    figures: tuple = ()
    tables: tuple = ()
    notes: tuple = ()


# ----------------------------------------------------------------------- subject sections


def _searched_stage(summary: pd.DataFrame) -> str:
    """The stage group covering every searched stage (``"N2+N3"``, or the only one)."""
    groups = list(dict.fromkeys(summary["stage"]))
    return next((g for g in groups if "+" in g), groups[0] if groups else "")


def _stage_table(result) -> pd.DataFrame:
    """Minutes and percent of recording per stage."""
    minutes = result.hypnogram.stage_minutes()
    total = result.recording.duration / 60.0
    rows = [{"stage": k, "minutes": v, "% of recording": 100.0 * v / total if total else np.nan}
            for k, v in minutes.items() if v > 0]
    return pd.DataFrame(rows)


def _density_pivot(summary: pd.DataFrame) -> pd.DataFrame:
    """Channel rows x (stage group) columns of n and density, band ``all``, channels ordered."""
    table = summary[summary["band"] == "all"]
    wide = table.pivot(index="channel", columns="stage", values=["n_spindles", "density"])
    wide = wide.reindex(F.order_channels(wide.index))
    wide.columns = [f"{'n' if a == 'n_spindles' else 'density'} {b}" for a, b in wide.columns]
    return wide.reset_index()


def _channel_notes(summary: pd.DataFrame) -> tuple[str, ...]:
    """One line per channel and stage group whose rates are NaN or rest on less than the scored time."""
    noted = summary.loc[(summary["band"] == "all") & (summary["note"] != ""), ["channel", "stage", "note"]]
    return tuple(f"{r.channel} ({r.stage}): {r.note}" for r in noted.itertuples(index=False))


def _lateral_section(result, trained_hand: str, subject: str, night: str) -> Section:
    """Contra vs ipsi per pair (lateralisation helper's tables) for one night."""
    from ..analysis.laterality import night_from_tables, night_laterality
    from ..hypnogram import Stage

    title = f"Lateralisation (trained hand: {trained_hand})"
    if result.hypnogram is None:
        return Section("lateralisation", title, "Not available: the recording was not staged.")
    night_in = night_from_tables(result.summary, result.sigma, result.hypnogram.minutes(Stage.N2),
                                 subject=subject, night=night, trained_hand=trained_hand)
    table, problems = night_laterality(night_in, result.config)
    text = "Contralateral = the hemisphere opposite the trained hand; LI > 0 means contralateral larger."
    if not len(table):
        return Section("lateralisation", title, text, notes=tuple(problems))
    main = table[(table["measure"] == "density_n2n3") & (table["band"] == "all")]
    plot = main.rename(columns={"LI": "li"})[["pair", "contra", "ipsi", "li"]]
    shown = table[table["band"] == "all"][["pair", "contra_channel", "ipsi_channel", "measure", "contra",
                                           "ipsi", "D", "LI"]]
    return Section("lateralisation", title, text,
                   figures=(F.lateralisation_figure(plot, "Spindles / min of N2+N3"),),
                   tables=(("Every measure, all spindles", shown),), notes=tuple(problems))


def subject_sections(result, trained_hand: str | None = None, *, subject: str = "", night: str = "") -> list[Section]:
    """The sections of a subject report, in page order (figures and tables, nothing written)."""
    rec, events, summary, cfg = result.recording, result.events, result.summary, result.config
    hyp = result.hypnogram
    threshold = cfg.summary.fast_threshold
    stage_group = _searched_stage(summary)
    sections = [Section(
        "staging", "Sleep staging",
        f"Stages from: {hyp.source if hyp is not None else 'none (whole recording searched)'}.",
        figures=(F.hypnogram_figure(hyp, rec.duration),)
        + ((F.stage_minutes_figure(hyp.stage_minutes()),) if hyp is not None else ()),
        tables=(("Time per stage", _stage_table(result)),) if hyp is not None else (),
    )]
    sections.append(Section(
        "density", "Spindle density",
        "Spindles per analysed minute of each searched stage (time with a NaN or flat signal is left "
        "out); left and right homologues side by side.",
        figures=(F.density_figure(summary),),
        tables=(("Count and density per channel (all spindles)", _density_pivot(summary)),),
        notes=_channel_notes(summary),
    ))
    sections.append(Section(
        "waveforms", "Average spindle waveform",
        f"Raw EEG averaged around each spindle peak (at most {F._MAX_WAVEFORM_EVENTS} spindles per channel).",
        figures=(F.waveform_figure(rec, events),),
    ))
    stages = parse_stages(cfg.detection.stages)
    width = F.night_bin_minutes(rec.duration)
    per_bin = F.night_density(events, hyp, rec.duration, stages, F.order_channels(rec.eeg_channels))
    sections.append(Section(
        "night", "Density across the night",
        "Spindles per minute of searched-stage time in each bin (bins with under 1 min of it are left out).",
        figures=(F.night_density_figure(per_bin, width),),
    ))
    sections.append(Section(
        "distributions", "Spindle properties", "Duration, frequency and peak-to-peak amplitude of every spindle.",
        figures=(F.distributions_figure(events, threshold),),
    ))
    sections.append(Section(
        "fastslow", "Fast and slow spindles",
        f"Fast: frequency >= {threshold:g} Hz; slow: below (summary.fast_threshold).",
        figures=(F.fast_slow_figure(summary, stage_group, threshold),),
    ))
    if trained_hand is not None:
        sections.append(_lateral_section(result, trained_hand, subject or "subject", night or "night"))
    sections.append(Section(
        "tables", "Summary table",
        "Per channel, stage group and band: count, minutes of the stage, density and mean properties.",
        tables=(("summary.csv", summary),),
    ))
    return sections


def _run_metadata(result) -> dict[str, Any]:
    """The run-metadata block of the report (input, config, versions, staging, exclusions)."""
    import yaml

    record = result.record
    excluded = result.detection.excluded_seconds
    return {
        "created": record.created,
        "inputs": record.inputs,
        "source": result.recording.source or "<in-memory recording>",
        "recording": record.recording,
        "staging": record.staging,
        "versions": record.versions,
        "config": yaml.safe_dump(dict(record.config), sort_keys=False, default_flow_style=None),
        "excluded": {ch: excluded.get(ch, 0.0) for ch in F.order_channels(excluded)},
        "notes": list(result.detection.notes),
    }


# ----------------------------------------------------------------------- rendering


def _png(fig) -> str:
    """A figure as a base64 PNG data URI (the figure is closed afterwards)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _number(value) -> str:
    """A table number: about 3 significant digits, no scientific notation for everyday values."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "\u2013"
    if isinstance(value, (int, np.integer)):
        return str(value)
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude < 0.001:
        return f"{value:.2g}"
    return f"{value:.3f}" if magnitude < 1 else f"{value:.2f}" if magnitude < 100 else f"{value:.1f}" \
        if magnitude < 1e4 else f"{value:.0f}"


def _html_table(frame: pd.DataFrame) -> str:
    """A table as HTML: numbers right-aligned (``num`` class), text left, long tables cut."""
    from markupsafe import escape

    shown = frame.head(_MAX_HTML_ROWS)
    numeric = [pd.api.types.is_numeric_dtype(shown[c]) and not pd.api.types.is_bool_dtype(shown[c])
               for c in shown.columns]
    head = "".join(f"<th class='{'num' if n else 'txt'}'>{escape(str(c))}</th>" for c, n in zip(shown.columns, numeric))
    body = []
    for values in shown.itertuples(index=False):
        cells = "".join(
            f"<td class='num'>{_number(v)}</td>" if n else f"<td class='txt'>{escape('' if pd.isna(v) else str(v))}</td>"
            for v, n in zip(values, numeric)
        )
        body.append(f"<tr>{cells}</tr>")
    html = f"<table class='data'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    if len(frame) > len(shown):
        html += f"<p class='note'>First {len(shown)} of {len(frame)} rows (every row is in the CSV file).</p>"
    return html


def _environment():
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("sleepspindles", "report/templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _render(template: str, sections: list[Section], **context: Any) -> str:
    """Render sections (figures to PNG, tables to HTML) into ``template``."""
    from markupsafe import Markup

    rendered = [
        {
            "key": s.key,
            "title": s.title,
            "text": s.text,
            "notes": list(s.notes),
            "images": [_png(fig) for fig in s.figures],
            "tables": [(caption, Markup(_html_table(frame))) for caption, frame in s.tables],
        }
        for s in sections
    ]
    return _environment().get_template(template).render(sections=rendered, version=__version__, **context)


def _pdf(sections: list[Section], title: str, lines: list[str]) -> bytes:
    """A printable PDF: a title page with the key facts, one page per figure, tables as text."""
    from matplotlib.backends.backend_pdf import PdfPages

    buffer = io.BytesIO()
    with PdfPages(buffer, metadata={"Title": title, "Creator": f"sleepspindles {__version__}"}) as pdf:
        for page in _text_pages([title, "", *lines]):
            pdf.savefig(page)
        for section in sections:
            for fig in section.figures:
                pdf.savefig(fig)
            for caption, frame in section.tables:
                text = frame.to_string(index=False, float_format=lambda v: f"{v:.3g}", na_rep="-")
                for page in _text_pages([f"{section.title}: {caption}", "", *text.splitlines()]):
                    pdf.savefig(page)
    return buffer.getvalue()


def _text_pages(lines: list[str], per_page: int = 70) -> list:
    """A4 portrait pages of monospaced text."""
    pages = []
    for start in range(0, max(len(lines), 1), per_page):
        fig = F._figure(8.27, 11.69)
        fig.set_layout_engine(None)
        fig.text(0.05, 0.97, "\n".join(lines[start:start + per_page]), family="monospace", fontsize=6.5,
                 va="top", ha="left")
        pages.append(fig)
    return pages


def _check_format(format: str) -> None:
    if format not in _FORMATS:
        raise param_error("format", f"one of {_FORMATS}", format)


def write_subject_report(
    result,
    out_dir: Path,
    trained_hand: str | None = None,
    format: str = "html",
    *,
    subject: str = "",
    night: str = "",
) -> Path:
    """Write ``report.html`` (or ``report.pdf``) for one recording.

    Parameters
    ----------
    result : sleepspindles.pipeline.RecordingResult
    out_dir : Path
        Folder of the recording's outputs (created when missing).
    trained_hand : {"left", "right"}, optional
        Adds the lateralisation panel (contralateral vs ipsilateral, LI per electrode pair).
    format : {"html", "pdf"}
        A self-contained HTML page (figures embedded as PNG) or a printable PDF.
    subject, night : str, optional
        Shown in the title (and used in the lateralisation table).

    Returns
    -------
    Path
        The file written.
    """
    _check_format(format)
    if trained_hand is not None and trained_hand not in ("left", "right"):
        raise param_error("trained_hand", "'left', 'right' or None", trained_hand)
    name = " / ".join(p for p in (subject, night) if p) or Path(result.recording.source or "recording").name
    sections = subject_sections(result, trained_hand, subject=subject, night=night)
    meta = _run_metadata(result)
    facts = _subject_facts(result)
    path = Path(out_dir) / f"report.{format}"
    if format == "pdf":
        lines = [f"{k}: {v}" for k, v in facts.items()] + ["", f"input: {meta['source']}"]
        lines += [f"{k}: {v}" for k, v in meta["versions"].items()] + ["", *meta["config"].splitlines()]
        return write_bytes(path, _pdf(sections, f"Sleep spindles: {name}", lines))
    html = _render("subject.html", sections, title=f"Sleep spindles: {name}", facts=facts, meta=meta)
    logger.info("report written to %s", path)
    return write_text(path, html)


def _subject_facts(result) -> dict[str, str]:
    """The headline numbers shown at the top of a subject report."""
    rec, events = result.recording, result.events
    hyp = result.hypnogram
    facts = {
        "Recording": f"{rec.duration / 3600:.2f} h, {len(rec.eeg_channels)} EEG channel(s) at {rec.sf:g} Hz",
        "Staging": hyp.source if hyp is not None else "none",
        "Detection": f"{result.config.detection.method}, stages {', '.join(result.config.detection.stages)}",
        "Spindles": f"{len(events)}",
    }
    if hyp is not None:
        facts["Total sleep"] = f"{hyp.minutes() :.0f} min"
    searched = _searched_stage(result.summary)
    mean = result.summary.query("band == 'all' and stage == @searched")["density"].mean()
    facts[f"Mean density ({searched})"] = f"{mean:.2f} / min" if np.isfinite(mean) else "n/a"
    excluded = sum(result.detection.excluded_seconds.values())
    facts["Excluded time"] = f"{excluded / 60:.1f} channel-min" if excluded else "none"
    unmeasurable = result.detection.coverage.unmeasurable
    if unmeasurable:
        facts["Channels not measured"] = "; ".join(f"{c}: {r}" for c, r in unmeasurable.items())
    return facts


# ----------------------------------------------------------------------- cohort


def cohort_sections(laterality, status: pd.DataFrame, *, measure: str = "density_n2n3") -> list[Section]:
    """Sections of the cohort report from a :class:`~sleepspindles.analysis.laterality.LateralityResult`."""
    sections = []
    if laterality is not None and len(laterality.laterality):
        sections.extend(_cohort_stat_sections(laterality, measure))
    elif laterality is not None:
        sections.append(Section("stats", "Cohort statistics", "No lateralisation table: no night had a usable pair."))
    sections.append(Section("status", "Recordings", "Status of every recording of the manifest.",
                            tables=(("status.csv", status),)))
    return sections


def _cohort_stat_sections(laterality, measure: str) -> list[Section]:
    """Paired plot, LI vs gain scatter and the statistics table."""
    lat = laterality.laterality
    sel = lat[(lat["measure"] == measure) & (lat["band"] == "all")]
    learning = sel[sel["night"] != sel["night"].iloc[0]] if sel["night"].nunique() > 1 else sel
    nights = sorted(set(learning["night"]))
    text = f"Measure: {measure}, all spindles; night(s): {', '.join(nights)}."
    paired = F.paired_figure(learning.rename(columns={"LI": "li"}), measure)
    motor = learning[learning["role"] == "motor"]
    per_subject = motor.groupby("subject", sort=True)[["LI", "gain"]].mean()
    scatter = F.li_gain_figure(per_subject["LI"].to_numpy(), per_subject["gain"].to_numpy(),
                               labels=per_subject.index.to_numpy(),
                               pair=motor["pair"].iloc[0] if len(motor) else "")
    stats = laterality.stats
    main = _compact_stats(stats[(stats["measure"] == measure) & (stats["band"] == "all")] if len(stats) else stats)
    return [
        Section("paired", "Contralateral vs ipsilateral", text, figures=(paired,)),
        Section("gain", "Laterality index vs behavioural gain",
                "Each point a subject (motor pair); least-squares line with its 95% confidence band.",
                figures=(scatter,)),
        Section("stats", "Cohort statistics", f"Tests of {measure}; every measure is in cohort_stats.csv.",
                tables=((f"Statistics ({measure}, all spindles)", main),), notes=tuple(laterality.problems)),
    ]


def _compact_stats(stats: pd.DataFrame) -> pd.DataFrame:
    """The statistics a reader scans first: one line per test, estimate with its CI, effect, p values."""
    if stats.empty:
        return stats
    ci = [f"[{lo:.3g}, {hi:.3g}]" for lo, hi in zip(stats["ci_low"], stats["ci_high"])]
    out = stats.loc[:, ["night", "pair", "role", "test", "variable", "n", "estimate"]].copy()
    out.insert(out.columns.get_loc("estimate") + 1, "95% CI", ci)
    out["effect_size"] = stats["effect_size"]
    out["p_value"] = stats["p_value"]
    out["p_fdr"] = stats["p_fdr"]
    return out.reset_index(drop=True)


def write_cohort_report(
    laterality,
    status: pd.DataFrame,
    out_dir: Path,
    *,
    title: str = "Cohort report",
    measure: str = "density_n2n3",
    format: str = "html",
) -> Path:
    """Write ``cohort_report.html`` (or ``.pdf``): statistics, figures and every recording's status.

    Parameters
    ----------
    laterality : sleepspindles.analysis.laterality.LateralityResult or None
        Cohort lateralisation; ``None`` gives a status-only report.
    status : pandas.DataFrame
        One row per recording (subject, night, status, error...).
    out_dir : Path
    title : str
    measure : str
        Laterality measure plotted (a value of the ``measure`` column).
    format : {"html", "pdf"}

    Returns
    -------
    Path
    """
    _check_format(format)
    sections = cohort_sections(laterality, status, measure=measure)
    counts = status["status"].value_counts().to_dict() if "status" in status else {}
    facts = {"Recordings": str(len(status)), **{k.capitalize(): str(v) for k, v in sorted(counts.items())}}
    path = Path(out_dir) / f"cohort_report.{format}"
    if format == "pdf":
        return write_bytes(path, _pdf(sections, title, [f"{k}: {v}" for k, v in facts.items()]))
    return write_text(path, _render("cohort.html", sections, title=title, facts=facts, meta=None))
