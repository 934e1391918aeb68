"""The cohort report: lateralisation of every measure, models, scalp maps, reference robustness, recordings.

Sections appear when the cohort result holds what they show: the paired plot and statistics of
the main measure (:data:`MAIN_MEASURE`), every measure of the motor pair as small multiples, the
windows of the night, LI vs gain, the model table (mixed and count models, Steiger/Williams,
circular tests), the mirrored scalp maps with the cluster table, the reference panel (with
``robustness``) and every recording's status. Tables are shaped in :mod:`.cohort_tables`,
figures drawn in :mod:`.figures_cohort` and :mod:`sleepspindles.analysis.scalp_maps`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Config
from ..output import write_bytes, write_text
from . import figures_cohort as FC
from .cohort_tables import (
    ALPHA,
    MODEL_TESTS,
    SMALL_N,
    STATUS_WORDS,
    clusters_table,
    model_table,
    robustness_table,
    stats_table,
    status_table,
    windows_summary,
)
from .render import Section, check_format, pdf_bytes, render
from .tables import MAIN_MEASURE, measure_label

__all__ = ["MAIN_MEASURE", "cohort_sections", "write_cohort_report"]

_NIGHT = "night"  # window of the whole-night rows
_MAX_MAPS = 8  # scalp maps drawn at most (clusters.csv has every measure)
# The control pairs' tests shown (the rank and partial variants stay in cohort_stats.csv).
_CONTROL_TESTS = ("paired_t", "one_sample_t", "pearson", "motor_vs_control")


@dataclass(frozen=True)
class _Cohort:
    """What the sections share: the tables, the main measure, the nights and the motor pair."""

    laterality: pd.DataFrame
    stats: pd.DataFrame
    clusters: pd.DataFrame
    measure: str
    config: Config
    nights: tuple[str, ...]  # baseline first
    learning: str  # the night the per-night figures show
    contrast: str  # "<learning>-<baseline>", or "" without a baseline night
    motor: str

    @classmethod
    def of(cls, result, measure: str, config: Config) -> _Cohort:
        lat = result.laterality
        baseline = config.laterality.baseline_night
        nights = sorted(dict.fromkeys(lat["night"]), key=lambda n: n != baseline)
        learning = next((n for n in nights if n != baseline), nights[0])
        contrast = f"{learning}-{baseline}" if baseline in nights and learning != baseline else ""
        motor = lat.loc[lat["role"] == "motor", "pair"]
        return cls(lat, result.stats, result.clusters, measure, config, tuple(nights), learning, contrast,
                   motor.iloc[0] if len(motor) else str(lat["pair"].iloc[0]))

    def whole_night(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of band ``all`` and the whole night."""
        if frame.empty:
            return frame
        return frame.loc[(frame["band"] == "all") & (frame["window"] == _NIGHT)]


def cohort_sections(laterality, status: pd.DataFrame, *, measure: str = MAIN_MEASURE,
                    robustness: pd.DataFrame | None = None, config: Config | None = None) -> list[Section]:
    """Sections of the cohort report, in page order.

    Parameters
    ----------
    laterality : sleepspindles.analysis.laterality.LateralityResult or None
        ``None`` gives a status-only report (a batch run).
    status : pandas.DataFrame
        ``status.csv``.
    measure : str
        The main measure (a value of the ``measure`` column).
    robustness : pandas.DataFrame, optional
        ``reference_robustness.csv`` of a run with several references.
    config : Config, optional
        ``laterality.baseline_night`` (default configuration when omitted).
    """
    sections = []
    if laterality is not None and len(laterality.laterality):
        cohort = _Cohort.of(laterality, measure, config or Config())
        sections += [s for s in (_paired_section(cohort), _measures_section(cohort), _windows_section(cohort),
                                 _gain_section(cohort), _stats_section(cohort, laterality.problems),
                                 _models_section(cohort), _maps_section(cohort)) if s is not None]
    elif laterality is not None:
        sections.append(Section("stats", "Cohort statistics", "No lateralisation table: no night had a usable pair.",
                                notes=tuple(laterality.problems)))
    if robustness is not None and len(robustness):
        sections.append(_robustness_section(robustness, measure))
    sections.append(Section("status", "Recordings", "Status of every recording of the manifest: done (computed in "
                            "this run), reused (complete and current from an earlier run) or failed (with its error).",
                            tables=(("status.csv", status_table(status)),)))
    return sections


def _paired_section(c: _Cohort) -> Section | None:
    """The main measure, every configured pair and night: ipsilateral to contralateral per subject."""
    lat = c.whole_night(c.laterality)
    rows = lat.loc[(lat["measure"] == c.measure) & (lat["role"] != "scalp")]
    if rows.empty:
        return Section("paired", "Contralateral vs ipsilateral", f"No value of {c.measure} in the cohort.")
    label = measure_label(c.measure)
    rows = rows.assign(_n=rows["night"].map({n: k for k, n in enumerate(c.nights)})).sort_values("_n", kind="stable")
    return Section("paired", "Contralateral vs ipsilateral",
                   f"Measure: {label} ({c.measure}), all spindles, whole night; night(s): {', '.join(c.nights)}. "
                   "Each line a subject (coloured by the hand trained), black the mean.",
                   figures=(FC.paired_figure(rows, label, title=f"Contralateral vs ipsilateral {label}, per subject"),))


def _measures_section(c: _Cohort) -> Section | None:
    """Every whole-night measure of the motor pair on the learning night, as small multiples."""
    lat = c.whole_night(c.laterality)
    rows = lat.loc[(lat["pair"] == c.motor) & (lat["night"] == c.learning)]
    if rows["measure"].nunique() < 2:
        return None
    stats = c.whole_night(c.stats)
    stats = stats.loc[(stats["pair"] == c.motor) & (stats["night"] == c.learning)] if len(stats) else stats
    return Section("measures", "Every measure",
                   f"Motor pair {c.motor}, night {c.learning}: one panel per measure (values in its unit), with the "
                   "paired test of contra - ipsi beneath its name (the circular test for a phase): uncorr. p is the "
                   "uncorrected p (p_value of cohort_stats.csv), FDR the Benjamini-Hochberg corrected p across pairs "
                   "and bands (p_fdr), the one to cite. The statistics of every measure, pair and night are in "
                   "cohort_stats.csv.",
                   figures=(FC.measures_figure(rows, stats, c.learning, c.motor),))


def _windows_section(c: _Cohort) -> Section | None:
    """C - I per sleep cycle and early-night window, for the motor pair."""
    stats = c.stats
    if stats.empty:
        return None
    rows = stats.loc[(stats["test"] == "paired_t") & (stats["variable"] == "C-I") & (stats["pair"] == c.motor)
                     & (stats["band"] == "all") & (stats["window"] != _NIGHT)]
    rows = rows.loc[rows["night"] != c.config.laterality.baseline_night] if c.contrast else rows
    if rows.empty:
        return None
    figure = FC.windows_figure(rows, c.motor)  # None when no window could be tested: no empty axes
    text = (f"Motor pair {c.motor}: contralateral minus ipsilateral in each NREM-REM cycle and over the first "
            "minutes of N2 / NREM sleep (windows.csv), mean and bootstrap 95% interval; a window differs from 0 when "
            f"its paired-t p (FDR) < {ALPHA:g}. {windows_summary(rows)}")
    return Section("windows", "Windows of the night", text.strip(), figures=(figure,) if figure is not None else ())


def _gain_section(c: _Cohort) -> Section:
    """LI of the main measure vs the behavioural gain, motor pair, learning night; the Steiger test beside it."""
    lat = c.whole_night(c.laterality)
    motor = lat.loc[(lat["measure"] == c.measure) & (lat["pair"] == c.motor) & (lat["night"] == c.learning)]
    per_subject = motor.groupby("subject", sort=True)[["LI", "gain"]].mean()
    label = measure_label(c.measure, unit=False)
    text = (f"Each point a subject: LI of {label} ({c.measure}) at the motor pair {c.motor} on night {c.learning}; "
            "least-squares line with its 95% confidence band.")
    steiger = c.whole_night(c.stats)
    steiger = steiger.loc[(steiger["test"] == "steiger") & (steiger["pair"] == c.motor)
                          & (steiger["measure"] == c.measure) & (steiger["night"] == c.learning)] if len(steiger) \
        else steiger
    if len(steiger) and np.isfinite(steiger["estimate"].iloc[0]):
        row = steiger.iloc[0]
        text += (f" Does the contralateral side track the gain more than the ipsilateral side? r(contra, gain) - "
                 f"r(ipsi, gain) = {row['estimate']:+.2f}, Williams' test p = {row['p_value']:.2g} (n = {row['n']}).")
    if not np.isfinite(per_subject["gain"].to_numpy(float)).any():
        return Section("gain", "Laterality index vs behavioural gain", text,
                       notes=("No subject has a behavioural gain (score_pre and score_post in the manifest).",))
    figure = FC.li_gain_figure(per_subject["LI"].to_numpy(), per_subject["gain"].to_numpy(),
                               labels=per_subject.index.to_numpy(), pair=c.motor, measure=label, night=c.learning)
    return Section("gain", "Laterality index vs behavioural gain", text, figures=(figure,))


def _stats_section(c: _Cohort, problems) -> Section:
    """Every per-night test of the main measure (whole night, all spindles): the motor pair, then the controls."""
    stats = c.whole_night(c.stats)
    main = stats.loc[(stats["measure"] == c.measure) & ~stats["test"].isin(MODEL_TESTS)] if len(stats) else stats
    motor = main.loc[main["pair"] == c.motor] if len(main) else main
    controls = main.loc[(main["pair"] != c.motor) & main["test"].isin(_CONTROL_TESTS)
                        & ~main["variable"].isin(["contra", "ipsi"])] if len(main) else main
    tables = [(f"Motor pair {c.motor} ({c.measure}, all spindles)", stats_table(motor))]
    if len(controls):
        caption = f"Control pairs ({c.measure}, all spindles; their rank and partial tests are in cohort_stats.csv)"
        tables.append((caption, stats_table(controls)))
    return Section("stats", "Cohort statistics",
                   f"Tests of {measure_label(c.measure)} ({c.measure}), all spindles, whole night, per night and pair "
                   "(motor_vs_control: the motor pair's D minus this control pair's). Estimates in the unit column; "
                   f"r, LI and ratios have none. A correlation of fewer than {SMALL_N} subjects is marked exploratory: "
                   "its interval spans most of [-1, 1]. Every measure is in cohort_stats.csv.",
                   tables=tuple(tables), notes=(*problems, *_map_notes(c)))


def _map_notes(c: _Cohort) -> tuple[str, ...]:
    """Why there is no scalp map (no cluster test ran), from the notes of clusters.csv."""
    clusters = c.clusters
    if clusters is None or clusters.empty or clusters["p_value"].notna().any():
        return ()
    reasons = sorted(set(clusters["note"].fillna("")) - {""})
    return tuple(f"No scalp map or cluster test: {r}." for r in reasons)


def _models_section(c: _Cohort) -> Section | None:
    """Mixed models, count models, Steiger/Williams and circular tests of the motor pair, measure by measure."""
    parts = model_table(c.stats, c.motor) if len(c.stats) else {}
    if not parts:
        return None
    baseline = c.config.laterality.baseline_night
    fitted = c.stats.loc[c.stats["test"] == "mixedlm", "night"]
    nights = f" over nights {', '.join(dict.fromkeys(fitted))}" if len(fitted) else ""
    captions = {"mixed": f"Mixed models of D (mixedlm{nights}): estimate [95% CI], p per term, in the measure's unit",
                "counts": f"Count models (GEE{nights}): rate ratio [95% CI], p per term",
                "tests": "Dependent correlations (steiger) and preferred phase (circular), per night"}
    tables = [(captions[key], table) for key, table in parts.items()]
    return Section(
        "models", "Models of the asymmetry",
        f"Motor pair {c.motor}, whole night, all spindles. mixedlm: D = contra - ipsi ~ night x hand (+ covariates) + "
        f"(1 | subject); term contra-ipsi = the contralateral excess on the reference night ({baseline} when "
        "recorded), contra-ipsi:<night> = its change on that night, left-right = the fixed left-minus-right "
        "asymmetry (the hand x hemisphere interaction, when both hands were trained). gee_poisson / gee_negbin: "
        "the same terms as rate ratios of counts with log analysed minutes as offset, clustered by subject. "
        "steiger: r(contra, gain) - r(ipsi, gain), Williams' test for dependent correlations. circular: the "
        "preferred phase, contra minus ipsi as a circular difference (cohort_stats.csv has p (FDR) and every pair).",
        tables=tuple(tables))


def _maps_section(c: _Cohort) -> Section | None:
    """Mirrored scalp maps of t per pair (right = contralateral), clusters marked, and the cluster table."""
    from ..analysis.scalp_maps import pair_summary

    clusters = c.clusters
    if clusters is None or clusters.empty:
        return None
    night = c.contrast if c.contrast in set(clusters["night"]) else c.learning
    rows = clusters.loc[clusters["night"] == night]
    table = clusters_table(clusters, night)
    text = (f"Night {night}: each pair's one-sample t of D across subjects drawn on both electrodes, mirrored so that "
            "the right hemisphere is the contralateral side of every subject (red: contralateral larger); black dots: "
            "the pairs of a cluster with family-wise p < 0.05 (cluster-based sign-flip permutation test across pairs). "
            "A tested measure without a row in the table had no pair above the cluster-forming threshold.")
    tested = rows.loc[rows["p_value"].notna()]
    if tested.empty:  # the statistics section says why (_map_notes)
        return None
    measures = _mapped_measures(c, tested)
    maps = {measure_label(m): pair_summary(c.laterality, night, m, config=c.config).set_index("pair")["t"]
            for m in measures}
    marked = {measure_label(m): [p for text in tested.loc[(tested["measure"] == m) & (tested["p_value"] < 0.05),
                                                          "pairs"] for p in str(text).split(";")] for m in measures}
    notes = (f"Maps of {len(measures)} measures; clusters.csv has every measure.",) if len(measures) == _MAX_MAPS else ()
    return Section("maps", "Scalp maps and clusters", text, figures=(FC.scalp_maps_figure(maps, marked, night),),
                   tables=(("Clusters (clusters.csv)", table),), notes=notes)


def _mapped_measures(c: _Cohort, tested: pd.DataFrame) -> list[str]:
    """The main measure, the measures with a significant cluster, then the others (at most :data:`_MAX_MAPS`)."""
    from ..analysis.measures import measure_kind

    lat = c.whole_night(c.laterality)
    present = [m for m in dict.fromkeys(lat["measure"]) if measure_kind(m) != "circular"]
    found = list(dict.fromkeys(tested.loc[tested["p_value"] < 0.05, "measure"]))
    ordered = [m for m in dict.fromkeys([c.measure, *found, *present]) if m in present]
    return ordered[:_MAX_MAPS]


def _robustness_section(robustness: pd.DataFrame, measure: str) -> Section:
    """The paired C - I test under each reference side by side, sign changes highlighted."""
    table, marked = robustness_table(robustness)
    references = ", ".join(dict.fromkeys(robustness["reference"]))
    flipped = table.loc[marked] if len(table) else table
    alerts = ()
    main = flipped.loc[flipped["measure"] == measure_label(measure, unit=False)] if len(flipped) else flipped
    if len(main):
        alerts = ((f"{measure_label(measure, unit=False)} changes sign with the reference at "
                   f"{', '.join(sorted(set(main['pair'])))} ({', '.join(sorted(set(main['night'])))}): the effect "
                   "there depends on the reference."),)
    text = (f"The cohort rerun under each reference ({references}): mean contra - ipsi with its bootstrap 95% interval "
            f"and the paired-t p, whole night, all spindles. {int(marked.sum())} of {len(table)} night x pair x "
            "measure rows change sign across the references (highlighted).")
    return Section("robustness", "Reference robustness", text, alerts=alerts,
                   tables=(("reference_robustness.csv (whole night, all spindles)", table, marked),))


def _facts(laterality, status: pd.DataFrame, measure: str) -> dict[str, str]:
    """The headline numbers: recordings by status, subjects, nights, the main measure."""
    counts = status["status"].value_counts().to_dict() if "status" in status else {}
    facts = {"Recordings": str(len(status))}
    facts.update({STATUS_WORDS.get(k, k).capitalize(): str(v) for k, v in sorted(counts.items())})
    if laterality is not None and len(laterality.laterality):
        lat = laterality.laterality
        facts["Subjects"] = str(lat["subject"].nunique())
        facts["Nights"] = ", ".join(dict.fromkeys(lat["night"]))
        facts["Main measure"] = f"{measure_label(measure)}"
    return facts


def write_cohort_report(laterality, status: pd.DataFrame, out_dir: Path, *, title: str = "Cohort report",
                        measure: str = MAIN_MEASURE, format: str | None = None, robustness: pd.DataFrame | None = None,
                        config: Config | None = None) -> Path:
    """Write ``cohort_report.html`` (or ``.pdf``, the same page printed): statistics, figures, every recording's status.

    Parameters
    ----------
    laterality : sleepspindles.analysis.laterality.LateralityResult or None
        Cohort lateralisation; ``None`` gives a status-only report.
    status : pandas.DataFrame
        One row per recording (subject, night, status, error...).
    out_dir : Path
    title : str
    measure : str
        The main laterality measure (a value of the ``measure`` column).
    format : {"html", "pdf"}, optional
        ``"pdf"`` needs the optional ``pdf`` extra (weasyprint); default: ``config.report.format``.
    robustness : pandas.DataFrame, optional
        ``reference_robustness.csv``: adds the reference panel.
    config : Config, optional
        The run's configuration (its baseline night); the default one when omitted.

    Returns
    -------
    Path

    Raises
    ------
    ConfigError
        For an unknown format, or ``"pdf"`` without weasyprint (before any work).
    """
    format = format or (config or Config()).report.format
    check_format(format)
    sections = cohort_sections(laterality, status, measure=measure, robustness=robustness, config=config)
    html = render("cohort.html", sections, title=title, facts=_facts(laterality, status, measure), meta=None)
    path = Path(out_dir) / f"cohort_report.{format}"
    return write_bytes(path, pdf_bytes(html)) if format == "pdf" else write_text(path, html)
