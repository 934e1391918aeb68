"""Cohort figures: contralateral vs ipsilateral per subject, every measure at once, windows, LI vs gain.

Plain :class:`matplotlib.figure.Figure` objects on :mod:`.canvas`, as in :mod:`.figures`; each
title names the measure and the night it shows. Subjects are coloured by the hand they trained,
so a fixed left/right asymmetry (which reverses between the hand groups) is visible.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .canvas import FULL_WIDTH, figure_title, new_figure
from .cohort_tables import SMALL_N, window_measure_label
from .tables import measure_label, measure_unit

__all__ = ["HAND_COLOURS", "li_gain_figure", "measures_figure", "paired_figure", "scalp_maps_figure",
           "windows_figure"]

#: Subject lines by trained hand.
HAND_COLOURS = {"left": "#1f77b4", "right": "#d95f02"}
_OTHER = "#999999"
_NIGHT_COLOURS = ("#4c72b0", "#c44e52", "#55a868", "#8172b2", "#937860")
_MEASURE_COLUMNS = 5  # panels per row of the every-measure figure
_MAP_COLUMNS = 4  # scalp maps per row


def _paired_panel(ax, rows: pd.DataFrame, *, lw: float = 0.8, ms: float = 3.0) -> int:
    """Each subject a line from ipsilateral (0) to contralateral (1), coloured by hand; the mean on top.

    Returns the number of subjects with both sides.
    """
    ipsi, contra = rows["ipsi"].to_numpy(float), rows["contra"].to_numpy(float)
    hands = rows["trained_hand"].to_numpy(object) if "trained_hand" in rows else np.full(len(rows), "")
    for i, c, hand in zip(ipsi, contra, hands):
        ax.plot([0, 1], [i, c], color=HAND_COLOURS.get(hand, _OTHER), marker="o", ms=ms, lw=lw, alpha=0.75)
    both = np.isfinite(ipsi) & np.isfinite(contra)
    if both.any():
        ax.plot([0, 1], [ipsi[both].mean(), contra[both].mean()], color="black", marker="s", lw=2.2, ms=ms + 2)
    ax.set_xticks([0, 1], ["ipsi", "contra"])
    ax.set_xlim(-0.3, 1.3)
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    return int(both.sum())


def _hand_legend(fig: Figure, hands: Sequence[str]) -> None:
    """A one-line legend of the subject colours and the mean, on the line below the figure's title."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=HAND_COLOURS[h], marker="o", ms=3, lw=0.8, label=f"{h}-hand trained")
               for h in ("left", "right") if h in set(hands)]
    handles.append(Line2D([], [], color="black", marker="s", lw=2.2, ms=5, label="mean"))
    height = fig.get_size_inches()[1]
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.05 / fig.get_size_inches()[0], 1 - 0.3 / height),
               ncols=len(handles), fontsize=8, frameon=False, borderaxespad=0)


def paired_figure(table: pd.DataFrame, value_label: str = "Spindles / min", *, title: str = "") -> Figure:
    """One panel per night (rows) and pair (columns): each subject a line from ipsilateral to contralateral.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``pair``, ``subject``, ``contra``, ``ipsi`` and optionally ``night``, ``role`` and
        ``trained_hand`` (one row per subject, night and pair), in the order to draw.
    value_label : str
        The y label: the measure and its unit.
    title : str
        Names the measure (default: "Contralateral vs ipsilateral, per subject").
    """
    pairs = list(dict.fromkeys(table["pair"]))
    nights = list(dict.fromkeys(table["night"])) if "night" in table else [""]
    roles = table.drop_duplicates("pair").set_index("pair")["role"] if "role" in table else pd.Series(dtype=object)
    ncols = max(len(pairs), 1)
    fig = new_figure(max(2.6 * ncols + 1.0, 5.0), 2.7 * len(nights) + 0.85, left=0.8, top=0.85, bottom=0.35,
                     wspace=0.15, hspace=0.45)
    axes = fig.subplots(len(nights), ncols, squeeze=False, sharey=True)
    for row, night in zip(axes, nights):
        for ax, pair in zip(row, pairs):
            sel = table[(table["pair"] == pair) & ((table["night"] == night) if night else True)]
            n = _paired_panel(ax, sel)
            role = f" ({roles[pair]})" if pair in roles.index and roles[pair] in ("motor", "control") else ""
            ax.set_title(f"{pair}{role}{', ' + night if night else ''}: n = {n}", fontsize=9)
        row[0].set_ylabel(value_label, fontsize=9)
    _hand_legend(fig, table.get("trained_hand", []))
    figure_title(fig, title or "Contralateral vs ipsilateral, per subject")
    return fig


def _phase_panel(ax, rows: pd.DataFrame) -> None:
    """Each subject's circular difference contra - ipsi (degrees) as a dot, coloured by hand."""
    d = rows["D"].to_numpy(float)
    hands = rows["trained_hand"] if "trained_hand" in rows else [""] * len(d)
    ax.axhline(0, color="#bbbbbb", lw=0.8)
    ax.scatter(np.linspace(-0.2, 0.2, len(d)), d, s=12, c=[HAND_COLOURS.get(h, _OTHER) for h in hands])
    ax.set_xticks([0], ["contra - ipsi (deg)"])
    ax.set_xlim(-0.6, 0.6)
    ax.set_ylim(-180, 180)
    ax.spines[["top", "right"]].set_visible(False)


def _test_line(stats: pd.DataFrame, measure: str) -> str:
    """``"C-I 0.41 [0.12, 0.70]\\nuncorr. p = 0.027 (FDR 0.082)"`` from a measure's paired-t (or circular) row.

    "" without a row. The uncorrected ``p_value`` is named so and ``p_fdr`` (Benjamini-Hochberg,
    as in cohort_stats.csv) stands beside it: a panel shows many measures at once, and the bare
    p of one of them is not the one to cite. Two lines, so that a panel's title is no wider than
    the panel (five panels share a row).
    """
    rows = stats.loc[(stats["measure"] == measure) & stats["test"].isin(["paired_t", "circular"])]
    if rows.empty or not np.isfinite(rows["estimate"].iloc[0]):
        return "no test (too few subjects)" if len(rows) else ""
    r = rows.iloc[0]
    interval = f" [{r['ci_low']:.3g}, {r['ci_high']:.3g}]" if np.isfinite(r["ci_low"]) else ""
    fdr = f" (FDR {r['p_fdr']:.2g})" if np.isfinite(r["p_fdr"]) else " (FDR n/a)"
    return f"C-I {r['estimate']:.3g}{interval}\nuncorr. p = {r['p_value']:.2g}{fdr}"


def measures_figure(laterality: pd.DataFrame, stats: pd.DataFrame, night: str, pair: str) -> Figure | None:
    """Every whole-night measure of one pair and night: a small paired panel each, its test beneath the title.

    Parameters
    ----------
    laterality : pandas.DataFrame
        Rows of one pair, night, band ``all`` and window ``night`` (every measure).
    stats : pandas.DataFrame
        The statistics of the same pair, night, band and window (``paired_t`` and ``circular``
        rows give each panel's test line: estimate, interval, ``p_value`` and ``p_fdr``).
    night, pair : str
        For the title.

    Returns
    -------
    Figure or None
        None when there is no measure.
    """
    measures = list(dict.fromkeys(laterality["measure"]))
    if not measures:
        return None
    ncols = min(_MEASURE_COLUMNS, len(measures))
    nrows = -(-len(measures) // ncols)
    fig = new_figure(FULL_WIDTH, 2.55 * nrows + 1.0, left=0.55, right=0.15, top=1.0, bottom=0.3, wspace=0.45,
                     hspace=0.75)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(measures):]:
        ax.set_axis_off()
    for ax, measure in zip(axes, measures):
        rows = laterality[laterality["measure"] == measure]
        if measure_unit(measure) == "deg":  # a phase: the circular difference per subject, never two means
            _phase_panel(ax, rows)
        else:
            _paired_panel(ax, rows, lw=0.6, ms=2.0)
        ax.tick_params(labelsize=7)
        label = textwrap.fill(measure_label(measure), 30)
        ax.set_title(f"{label}\n{_test_line(stats, measure)}", fontsize=7.5)
    _hand_legend(fig, laterality.get("trained_hand", []))
    figure_title(fig, f"Every measure, {pair}, night {night}: ipsilateral vs contralateral per subject "
                      "(phases: the circular difference)")
    return fig


def windows_figure(stats: pd.DataFrame, pair: str) -> Figure | None:
    """Mean C - I with its 95% interval per window of the night (sleep cycles, first minutes), per night.

    Parameters
    ----------
    stats : pandas.DataFrame
        ``paired_t`` rows (variable ``C-I``) of one pair and band ``all``, for windows other than
        the whole night.
    pair : str
        For the title.

    Returns
    -------
    Figure or None
        None without a window that has an estimate (no rows, or too few subjects in every one).
    """
    if not np.isfinite(stats["estimate"].to_numpy(float)).any():
        return None
    measures = list(dict.fromkeys(stats["measure"]))
    nights = list(dict.fromkeys(stats["night"]))
    fig = new_figure(FULL_WIDTH, 3.1, left=0.65, right=1.7, top=0.7, bottom=0.75, wspace=0.35)
    axes = fig.subplots(1, len(measures), squeeze=False)[0]
    for ax, measure in zip(axes, measures):
        rows = stats[stats["measure"] == measure]
        windows = list(dict.fromkeys(rows["window"]))
        x = np.arange(len(windows))
        for k, night in enumerate(nights):
            sel = rows[rows["night"] == night].set_index("window").reindex(windows)
            est = sel["estimate"].to_numpy(float)
            err = np.abs(np.vstack([est - sel["ci_low"].to_numpy(float), sel["ci_high"].to_numpy(float) - est]))
            ax.errorbar(x + (k - (len(nights) - 1) / 2) * 0.12, est, yerr=np.nan_to_num(err), fmt="o", ms=3.5,
                        capsize=2, lw=1, color=_NIGHT_COLOURS[k % len(_NIGHT_COLOURS)], label=night)
        ax.axhline(0, color="#888888", lw=0.8)
        ax.set_xticks(x, windows, rotation=35, ha="right", fontsize=7.5)
        ax.set_title(textwrap.fill(window_measure_label(measure), 24), fontsize=8.5)  # no stage: a window
        ax.spines[["top", "right"]].set_visible(False)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("C - I (measure's unit)", fontsize=8.5)
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False, title="night",
                    title_fontsize=8)
    figure_title(fig, f"{pair}: contralateral minus ipsilateral per window of the night (mean, bootstrap 95% CI)")
    return fig


def li_gain_figure(li: np.ndarray, gain: np.ndarray, labels=None, pair: str = "", *, measure: str = "",
                   night: str = "") -> Figure:
    """Laterality index vs behavioural gain, least-squares line and its 95% confidence band.

    Parameters
    ----------
    li, gain : numpy.ndarray
        One value per subject.
    labels : array-like, optional
        Subject names written beside the points.
    pair, measure, night : str
        Named in the title and axis label: which LI of which night is drawn.

    Notes
    -----
    Under :data:`~.cohort_tables.SMALL_N` subjects the legend says that r is exploratory: at
    n = 8 a correlation of 0.6 arises by chance one time in ten.
    """
    fig = new_figure(6.6, 4.1, left=0.8, right=0.2, top=0.4, bottom=0.55)
    ax = fig.add_subplot()
    li, gain = np.asarray(li, dtype=float), np.asarray(gain, dtype=float)
    ok = np.isfinite(li) & np.isfinite(gain)
    ax.scatter(li[ok], gain[ok], color="#2c3e50", zorder=3)
    if labels is not None:
        for x, y, text in zip(li[ok], gain[ok], np.asarray(labels, dtype=object)[ok]):
            ax.annotate(str(text), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7, color="#555555")
    n = int(ok.sum())
    if n >= 3 and np.ptp(li[ok]) > 0:
        _fit_with_band(ax, li[ok], gain[ok])
    ax.axvline(0, color="#bbbbbb", lw=0.8)
    ax.set_xlabel(f"Laterality index{f' of {pair}' if pair else ''}: (contra - ipsi) / (contra + ipsi)")
    ax.set_ylabel("Behavioural gain (%)")
    ax.grid(alpha=0.3)
    what = f"LI of {measure}" if measure else "LI"
    figure_title(fig, f"{what} vs gain{f', night {night}' if night else ''} (n = {n})")
    return fig


def _fit_with_band(ax, x: np.ndarray, y: np.ndarray) -> None:
    """Least-squares line of y on x with its 95% confidence band; the legend gives r, p and a small-n caveat."""
    from scipy import stats

    n = len(x)
    fit = stats.linregress(x, y)
    grid = np.linspace(x.min(), x.max(), 100)
    spread = np.sqrt(np.sum((y - (fit.intercept + fit.slope * x)) ** 2) / (n - 2))
    half = stats.t.ppf(0.975, n - 2) * spread * np.sqrt(1.0 / n + (grid - x.mean()) ** 2 / np.sum((x - x.mean()) ** 2))
    line = fit.intercept + fit.slope * grid
    caveat = f"\nn = {n} < {SMALL_N}: exploratory" if n < SMALL_N else ""
    ax.fill_between(grid, line - half, line + half, color="#c0392b", alpha=0.15, lw=0, label="95% CI of fit")
    ax.plot(grid, line, color="#c0392b", label=f"r = {fit.rvalue:+.2f}, p = {fit.pvalue:.2g}{caveat}")
    ax.legend(fontsize=8)


def scalp_maps_figure(maps: dict[str, pd.Series], marked: dict[str, Sequence[str]], night: str) -> Figure:
    """Mirrored scalp maps side by side (:func:`sleepspindles.analysis.scalp_maps.scalp_map`), one per measure.

    Parameters
    ----------
    maps : dict of str to pandas.Series
        Title (the measure) -> t of D per pair label (``"C3/C4"``).
    marked : dict of str to sequence of str
        Title -> the pairs of its significant clusters.
    night : str
        For the title.
    """
    from ..analysis.scalp_maps import scalp_map

    ncols = min(_MAP_COLUMNS, max(len(maps), 1))
    nrows = -(-max(len(maps), 1) // ncols)
    fig = new_figure(max(2.75 * ncols, 5.5), 2.6 * nrows + 0.45, left=0.1, right=0.45, top=0.55, bottom=0.1,
                     wspace=0.3, hspace=0.3)
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax in axes[len(maps):]:
        ax.set_axis_off()
    for ax, (title, values) in zip(axes, maps.items()):
        scalp_map(values, clusters=marked.get(title, ()), axes=ax, label="t of D")
        ax.set_title(textwrap.fill(title, 30), fontsize=8)
    figure_title(fig, f"t of D = contra - ipsi per pair, night {night}: right hemisphere = contralateral, "
                      "left = its mirror image")
    return fig
