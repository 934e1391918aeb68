"""Report figures of staging and spindles: each function takes tables or averages and returns a Figure.

No pyplot and no file I/O here (figures are built on :mod:`.canvas`), so they are safe in worker
processes and the caller decides how to embed them. A function given nothing to draw returns
``None``: the section then says why, instead of showing empty axes with made-up limits.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..hypnogram import Hypnogram, Stage
from .canvas import FULL_WIDTH, STAGE_COLOURS, channel_lines, figure_title, grouped_bars, new_figure, non_negative
from .channels import ChannelStyle, homologous_groups
from .tables import of_stage, stage_label
from .windows import LockedAverage

__all__ = [
    "SLEEP_STAGES",
    "THIN_BIN_MINUTES",
    "aligned_bins",
    "density_figure",
    "distributions_figure",
    "fast_slow_figure",
    "lateralisation_figure",
    "night_bin_minutes",
    "night_density",
    "night_density_figure",
    "night_minutes",
    "overview_figure",
    "staging_figure",
    "waveform_figure",
]

_STAGE_ROWS = (Stage.N3, Stage.N2, Stage.N1, Stage.REM, Stage.W)  # bottom to top
_PANEL_COLUMNS = 4  # waveform panels per row
#: The stages the staging figure's bars and the report's stage table always list (0 min included).
SLEEP_STAGES = ("W", "N1", "N2", "N3", "REM")
#: Bins of density across the night with less searched-stage time (min) are drawn apart: a rate
#: over a few minutes swings by whole spindles per minute (0 or 2 in one minute of N2).
THIN_BIN_MINUTES = 5.0


def _hours(seconds) -> np.ndarray:
    return np.asarray(seconds, dtype=np.float64) / 3600.0


def staging_figure(hypnogram: Hypnogram, duration: float) -> Figure:
    """The hypnogram across the night (REM in red, artefact/unscored grey) beside minutes per stage."""
    fig = new_figure(FULL_WIDTH, 2.4, left=0.6, right=0.3, top=0.35, wspace=0.3)
    grid = fig.add_gridspec(1, 2, width_ratios=(4, 1))
    ax, bars = fig.add_subplot(grid[0]), fig.add_subplot(grid[1])
    rows = {int(s): i for i, s in enumerate(_STAGE_ROWS)}
    codes = hypnogram.stages.astype(int)
    y = np.array([rows.get(c, np.nan) for c in codes], dtype=np.float64)
    t = _hours(hypnogram.offset + np.arange(len(codes) + 1) * hypnogram.epoch_length)
    ax.step(t, np.append(y, y[-1] if len(y) else np.nan), where="post", color="#333333", lw=1.0)
    rem = np.where(codes == int(Stage.REM), rows[int(Stage.REM)], np.nan)
    ax.step(t, np.append(rem, np.nan), where="post", color=STAGE_COLOURS["REM"], lw=4)
    bad = np.append(np.isin(codes, [int(Stage.ARTEFACT), int(Stage.UNSCORED)]), False)
    if bad.any():
        ax.fill_between(t, 0, 1, where=bad, step="post", color="#dddddd", lw=0, transform=ax.get_xaxis_transform())
    ax.set_yticks(range(len(_STAGE_ROWS)), [s.name for s in _STAGE_ROWS])
    ax.set_ylim(-0.5, len(_STAGE_ROWS) - 0.5)
    ax.set_xlim(0, max(_hours(duration), t[-1]))
    ax.set_xlabel("Time from recording start (h)")
    ax.set_title(f"Hypnogram ({hypnogram.source}; grey = artefact/unscored)", loc="left", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    minutes = hypnogram.stage_minutes()
    names = [s for s in SLEEP_STAGES if s in minutes]
    values = [minutes[s] for s in names]
    drawn = bars.barh(names, values, color=[STAGE_COLOURS[s] for s in names])
    bars.bar_label(drawn, labels=[f"{v:g}" for v in values], padding=2, fontsize=8)  # 36.5 min, as the table
    bars.invert_yaxis()
    bars.set_xlim(0, max(values + [1.0]) * 1.3)
    bars.set_xlabel("Minutes")
    bars.set_title("Time per stage", loc="left", fontsize=10)
    bars.spines[["top", "right"]].set_visible(False)
    return fig


def density_figure(table: pd.DataFrame, channels: list[str], ylabel: str, title: str) -> Figure | None:
    """Density per channel, the stage groups side by side (stage colours); None when every value is NaN.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``channel``, ``stage`` (a stage group) and ``density``.
    channels : list of str
        The channels drawn, in this order.
    ylabel, title : str
    """
    series = []
    for group in dict.fromkeys(table["stage"]):
        values = table[table["stage"] == group].set_index("channel")["density"].reindex(channels)
        if values.notna().any():
            label = textwrap.fill(stage_label(group), 12)  # "whole recording (not staged)" fits the margin
            series.append((label, values.to_numpy(dtype=float), STAGE_COLOURS.get(group, "#777777")))
    if not series:
        return None
    fig = new_figure(FULL_WIDTH, 2.9, right=1.1, bottom=0.75 if len(channels) > 10 else 0.45)
    grouped_bars(fig.add_subplot(), channels, series, ylabel)
    figure_title(fig, title)
    return fig


def fast_slow_figure(summary: pd.DataFrame, stage: str, fast_threshold: float, channels: list[str]) -> Figure | None:
    """Fast vs slow spindle density per channel in one stage group; None when every value is NaN."""
    table = summary[summary["stage"] == stage]
    series = [(f"{band} ({'>=' if band == 'fast' else '<'} {fast_threshold:g} Hz)",
               table[table["band"] == band].set_index("channel")["density"].reindex(channels).to_numpy(dtype=float),
               colour) for band, colour in (("slow", "#7aa974"), ("fast", "#8e5ea2"))]
    if not any(np.isfinite(values).any() for _, values, _ in series):
        return None
    fig = new_figure(FULL_WIDTH, 2.7, right=1.5, bottom=0.75 if len(channels) > 10 else 0.45)
    grouped_bars(fig.add_subplot(), channels, series, "Spindles / min")
    figure_title(fig, of_stage("Fast vs slow spindles", stage))
    return fig


def waveform_figure(averages: dict[str, LockedAverage], styles: dict[str, ChannelStyle]) -> Figure | None:
    """Average raw EEG around the spindle peaks, one panel per homologous group (mean +/- SEM).

    None when no channel has a spindle.
    """
    if not any(a.n for a in averages.values()):
        return None
    groups = homologous_groups(averages)
    ncols = min(_PANEL_COLUMNS, len(groups))
    nrows = -(-len(groups) // ncols)
    height = 1.9 * nrows + 0.9
    fig = new_figure(FULL_WIDTH if ncols > 2 else 6.0, height, top=0.45, bottom=0.45, wspace=0.08, hspace=0.25)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[len(groups):]:
        ax.set_axis_off()
    for ax, group in zip(axes, groups):
        ax.axvline(0, color="#bbbbbb", lw=0.8)
        for k, channel in enumerate(group):
            average, style = averages[channel], styles[channel]
            ax.text(0.02, 0.97 - 0.12 * k, f"{channel} (n = {average.n})" if average.n else f"{channel}: none",
                    color=style.ink, transform=ax.transAxes, va="top", fontsize=8, weight="bold")
            if average.n:
                ax.fill_between(average.time, average.mean - average.sem, average.mean + average.sem,
                                color=style.colour, alpha=0.25, lw=0)
                ax.plot(average.time, average.mean, color=style.colour, ls=style.linestyle, lw=1.0)
        ax.grid(alpha=0.3)
    for ax in axes[(nrows - 1) * ncols:]:
        ax.set_xlabel("Time from peak (s)")
    for ax in axes[::ncols]:
        ax.set_ylabel("uV")
    figure_title(fig, "Average spindle (raw EEG, mean +/- SEM); left solid, right dashed")
    return fig


def night_bin_minutes(duration: float) -> float:
    """Bin width (minutes) for density across the night: hours for a full night, finer if short."""
    hours = duration / 3600.0
    return 60.0 if hours >= 4 else 30.0 if hours >= 1.5 else 10.0


def night_density(events: pd.DataFrame, hypnogram: Hypnogram | None, duration: float, stages, channels
                  ) -> pd.DataFrame:
    """Spindles per minute of searched-stage time in consecutive bins across the night.

    Returns
    -------
    pandas.DataFrame
        Index: bin start in hours; columns: channels; NaN where a bin has under one minute of
        searched stages.
    """
    edges = _night_edges(duration)
    minutes = night_minutes(hypnogram, duration, stages)
    peaks = events.groupby("channel")["peak"]
    out = {}
    for channel in channels:
        counts = np.histogram(peaks.get_group(channel) if channel in peaks.groups else [], bins=edges)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[channel] = np.where(minutes >= 1.0, counts / minutes, np.nan)
    return pd.DataFrame(out, index=pd.Index(_hours(edges[:-1]), name="hour"))


def _night_edges(duration: float) -> np.ndarray:
    """Edges (s) of the bins of density across the night."""
    width = night_bin_minutes(duration) * 60.0
    return np.arange(0.0, duration + width, width)


def night_minutes(hypnogram: Hypnogram | None, duration: float, stages) -> np.ndarray:
    """Minutes of searched-stage time in each bin of :func:`night_density` (of recording, without a hypnogram)."""
    edges = _night_edges(duration)
    if hypnogram is None:
        return np.diff(np.clip(edges, 0, duration)) / 60.0
    codes = [int(s) for s in stages]
    starts = hypnogram.offset + np.arange(hypnogram.n_epochs) * hypnogram.epoch_length
    searched = np.isin(hypnogram.stages, codes)
    return np.histogram(starts[searched], bins=edges)[0] * hypnogram.epoch_length / 60.0


def night_density_figure(table: pd.DataFrame, bin_minutes: float, styles: dict[str, ChannelStyle],
                         highlight: tuple[str, ...] = (), minutes: np.ndarray | None = None) -> Figure | None:
    """Density per bin across the night, a line per channel (or their median and range); None when empty.

    ``minutes`` (:func:`night_minutes`, one per bin): bins with under :data:`THIN_BIN_MINUTES` of
    searched stages are hollow grey markers, not joined to the lines.
    """
    values = table.to_numpy(dtype=float)
    if not np.isfinite(values).any():
        return None
    fig = new_figure(FULL_WIDTH, 2.7, right=1.6, top=0.4)
    ax = fig.add_subplot()
    thin = None if minutes is None else np.asarray(minutes, dtype=float) < THIN_BIN_MINUTES
    channel_lines(ax, table.index.to_numpy(dtype=float) + bin_minutes / 120.0, table, styles, highlight,  # centres
                  faint=thin, faint_label=f"bin with < {THIN_BIN_MINUTES:g} min\nof searched stages")
    ax.set_xlim(0, table.index[-1] + bin_minutes / 60.0)
    non_negative(ax, values)
    ax.set_xlabel("Time from recording start (h)")
    ax.set_ylabel("Spindles / min")
    ax.grid(alpha=0.3)
    figure_title(fig, f"Density across the night ({bin_minutes:g}-min bins; searched stages only)")
    return fig


def aligned_bins(values: np.ndarray, target: int = 30) -> np.ndarray:
    """About ``target`` histogram bins over ``values``, each an equal number of quantisation steps.

    Durations come in steps (0.1 s windows, or 1 / sf): bins that are not whole multiples of the
    step hold alternately more and fewer of them, a comb that is not in the data. A quantised
    sample gets bins of a whole number of steps, each edge halfway between two steps.
    """
    values = np.sort(values[np.isfinite(values)])
    if len(values) < 2 or values[-1] == values[0]:
        return np.histogram_bin_edges(values, bins=min(target, 10))
    unique = np.unique(np.round(values, 9))  # end - start leaves float noise on quantised durations
    step = float(np.diff(unique).min()) if len(unique) > 1 else 0.0
    offsets = (unique - unique[0]) / step if step > 0 else np.array([np.inf])
    if not np.allclose(offsets, np.round(offsets), atol=0.02):
        return np.histogram_bin_edges(values, bins=target)  # not quantised
    width = step * max(1, round((values[-1] - values[0]) / target / step))
    start = values[0] - step / 2
    return start + width * np.arange(int(np.ceil((values[-1] - start) / width)) + 1)


def distributions_figure(events: pd.DataFrame, fast_threshold: float, styles: dict[str, ChannelStyle]
                         ) -> Figure | None:
    """Histograms of duration, frequency and amplitude (an outline per channel up to 4, else pooled)."""
    if not len(events):
        return None
    fig = new_figure(FULL_WIDTH, 2.6, left=0.65, right=1.0, top=0.5, wspace=0.22)
    axes = fig.subplots(1, 3, sharey=False)
    specs = (("duration", "Duration (s)"), ("frequency", "Frequency (Hz)"), ("amplitude", "Amplitude (uV p-p)"))
    channels = [c for c in styles if c in set(events["channel"])]
    per_channel = 0 < len(channels) <= 4
    for ax, (column, label) in zip(axes, specs):
        bins = aligned_bins(events[column].to_numpy(dtype=float))
        if per_channel:
            for channel in channels:
                style = styles[channel]
                ax.hist(events.loc[events["channel"] == channel, column].to_numpy(dtype=float), bins=bins,
                        histtype="step", lw=1.3, label=channel, color=style.colour, ls=style.linestyle)
        else:
            ax.hist(events[column].to_numpy(dtype=float), bins=bins, color="#777777", histtype="stepfilled")
        if column == "frequency":
            ax.axvline(fast_threshold, color="k", ls="--", lw=0.8)
            # Above the axes: inside them the label (and its box) hid the tallest bins, which sit at the threshold.
            ax.text(fast_threshold, 1.01, "slow | fast", transform=ax.get_xaxis_transform(), va="bottom", ha="center",
                    fontsize=8, clip_on=False)
        ax.set_xlabel(label)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("Spindles")
    if per_channel:
        axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    figure_title(fig, "Distributions of spindle properties" + ("" if per_channel else " (all channels pooled)"))
    return fig


def overview_figure(maps: dict[str, pd.Series], positions: dict[str, np.ndarray], shown: list[str]) -> Figure:
    """Every channel at once: each map's values on the scalp (or sorted, when positions are unknown).

    Parameters
    ----------
    maps : dict of str to pandas.Series
        Title -> value per channel (a rate), one panel each.
    positions : dict of str to numpy.ndarray
        Electrode positions (x right, y front, z up; metres); a panel whose channels are mostly
        missing here shows the values sorted instead.
    shown : list of str
        The channels drawn one by one elsewhere in the report: ringed and named.
    """
    fig = new_figure(min(4.2 * len(maps), FULL_WIDTH), 4.1, left=0.3, right=0.1, top=0.45, bottom=0.2, wspace=0.15)
    for ax, (title, values) in zip(fig.subplots(1, len(maps), squeeze=False)[0], maps.items()):
        values = values[np.isfinite(values.to_numpy(dtype=float))]
        ax.set_title(title, fontsize=9)
        if len(values) and np.mean([c in positions for c in values.index]) >= 0.5:
            _scalp(ax, values[[c in positions for c in values.index]], positions, shown)
        else:
            ordered = values.sort_values()
            ax.plot(np.arange(len(ordered)), ordered.to_numpy(), "o", ms=3, color="#3b6ea8")
            ax.set_xlabel(f"{len(ordered)} channels, sorted")
            non_negative(ax, ordered.to_numpy())
    figure_title(fig, "All channels (the ringed and named ones have their own panels below; every channel is in "
                      "the tables and CSV files)")
    return fig


def _scalp(ax, values: pd.Series, positions: dict[str, np.ndarray], shown: list[str]) -> None:
    """Values as coloured dots on a flattened head (azimuthal projection from the vertex, nose up)."""
    xyz = np.array([positions[c] for c in values.index])
    xyz = xyz - np.r_[(xyz[:, :2].max(axis=0) + xyz[:, :2].min(axis=0)) / 2, 0.0]
    unit = xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
    radius = np.arccos(np.clip(unit[:, 2], -1, 1)) / (np.pi / 2)  # 1 at the head's equator
    angle = np.arctan2(unit[:, 1], unit[:, 0])
    x, y = radius * np.cos(angle), radius * np.sin(angle)
    circle = np.linspace(0, 2 * np.pi, 101)
    ax.plot(np.cos(circle), np.sin(circle), color="#999999", lw=1)
    ax.plot([-0.09, 0, 0.09], [0.995, 1.09, 0.995], color="#999999", lw=1)  # the nose
    dots = ax.scatter(x, y, c=values.to_numpy(dtype=float), s=max(12.0, 2500.0 / len(values)), cmap="viridis",
                      vmin=0, edgecolors="none")
    ring = np.isin(values.index, shown)
    ax.scatter(x[ring], y[ring], s=max(12.0, 2500.0 / len(values)) * 2.2, facecolors="none", edgecolors="black",
               lw=0.8)
    for xi, yi, name in zip(x[ring], y[ring], values.index[ring]):
        ax.text(xi, yi + 0.07, name, ha="center", va="bottom", fontsize=6.5)
    ax.figure.colorbar(dots, ax=ax, shrink=0.75, pad=0.02)
    ax.set_aspect("equal")
    ax.set_axis_off()


def lateralisation_figure(table: pd.DataFrame, measure_label: str, title: str) -> Figure:
    """Contralateral vs ipsilateral value per electrode pair, with the laterality index.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``pair`` (``"C3/C4"``), ``contra``, ``ipsi`` and ``li``.
    measure_label : str
        The y label: the measure and its unit.
    title : str
        Names the measure and the night.
    """
    fig = new_figure(max(6.0, 1.8 + 1.3 * len(table)), 3.1, right=0.2, top=0.45)
    ax = fig.add_subplot()
    x = np.arange(len(table))
    contra = table["contra"].to_numpy(dtype=float)
    ipsi = table["ipsi"].to_numpy(dtype=float)
    ax.bar(x - 0.2, contra, width=0.4, color="#c0392b", label="contralateral to trained hand")
    ax.bar(x + 0.2, ipsi, width=0.4, color="#95a5a6", label="ipsilateral")
    top = float(np.nanmax(np.r_[contra, ipsi, 0.0]))
    for xi, c, i, li in zip(x, contra, ipsi, table["li"].to_numpy(dtype=float)):
        label = f"LI = {li:+.3f}" if np.isfinite(li) else "LI n/a"
        ax.text(xi, max(np.nan_to_num(c), np.nan_to_num(i)) + 0.04 * (top or 1), label, ha="center", fontsize=9,
                weight="bold")
    ax.set_xticks(x, table["pair"].tolist())
    ax.set_xlim(-0.7, len(table) - 0.3)
    ax.set_ylabel(measure_label)
    non_negative(ax, [top * 1.3])
    ax.legend(fontsize=8, loc="upper right", ncols=2, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    figure_title(fig, title)
    return fig
