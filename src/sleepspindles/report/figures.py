"""Report figures: each function takes tables or frozen results and returns a matplotlib Figure.

No pyplot and no file I/O here: figures are plain :class:`matplotlib.figure.Figure` objects
(Agg canvas), so they are safe in worker processes and the caller decides how to embed them.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..hypnogram import Hypnogram, Stage
from ..recording import Recording

__all__ = [
    "order_channels",
    "hemisphere",
    "hypnogram_figure",
    "stage_minutes_figure",
    "density_figure",
    "waveform_figure",
    "night_density_figure",
    "distributions_figure",
    "fast_slow_figure",
    "lateralisation_figure",
    "paired_figure",
    "li_gain_figure",
]

#: Hemisphere colours (left, midline, right) used in every channel plot.
HEMI_COLOURS = {"left": "#3b6ea8", "midline": "#8c8c8c", "right": "#d1762b"}
_STAGE_ROWS = (Stage.N3, Stage.N2, Stage.N1, Stage.REM, Stage.W)  # bottom to top
_STAGE_COLOURS = {"W": "#e3b23c", "N1": "#9ecae1", "N2": "#4292c6", "N3": "#08306b", "REM": "#cb4b4b"}
# Anterior-to-posterior order of 10-20/10-10 electrode prefixes.
_REGIONS = ("Fp", "AF", "F", "FT", "FC", "T", "C", "TP", "CP", "P", "PO", "O", "I")
_NAME = re.compile(r"^([A-Za-z]+?)(z|\d+)$")
_MAX_WAVEFORM_EVENTS = 300  # per channel: the mean is stable well before this
_WAVE_HALF_WIDTH = 1.0  # seconds either side of the spindle peak


def _figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def hemisphere(channel: str) -> str:
    """``"left"`` (odd 10-20 number), ``"right"`` (even), or ``"midline"`` (``z`` or unknown)."""
    match = _NAME.match(channel)
    if not match or match.group(2) == "z":
        return "midline"
    return "left" if int(match.group(2)) % 2 else "right"


def order_channels(channels) -> list[str]:
    """Channels front to back, and within a region left, midline, right (homologues side by side)."""

    def key(channel: str) -> tuple:
        match = _NAME.match(channel)
        if not match:
            return (len(_REGIONS), 1, 0, channel)
        prefix, number = match.groups()
        region = _REGIONS.index(prefix) if prefix in _REGIONS else len(_REGIONS)
        side = {"left": 0, "midline": 1, "right": 2}[hemisphere(channel)]
        return (region, side, 0 if number == "z" else int(number), channel)

    return sorted(channels, key=key)


def _hours(seconds) -> np.ndarray:
    return np.asarray(seconds, dtype=np.float64) / 3600.0


def hypnogram_figure(hypnogram: Hypnogram | None, duration: float) -> Figure:
    """Stages across the night (hours from the recording start); REM drawn in red."""
    fig = _figure(11, 2.4)
    ax = fig.add_subplot()
    if hypnogram is None:
        ax.text(0.5, 0.5, "No staging: the whole recording was searched", ha="center", va="center",
                transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    rows = {int(s): i for i, s in enumerate(_STAGE_ROWS)}
    codes = hypnogram.stages.astype(int)
    y = np.array([rows.get(c, np.nan) for c in codes], dtype=np.float64)
    t = _hours(hypnogram.offset + np.arange(len(codes) + 1) * hypnogram.epoch_length)
    y_step = np.append(y, y[-1] if len(y) else np.nan)
    ax.step(t, y_step, where="post", color="#333333", lw=1.0)
    rem = np.where(codes == int(Stage.REM), rows[int(Stage.REM)], np.nan)
    ax.step(t, np.append(rem, np.nan), where="post", color=_STAGE_COLOURS["REM"], lw=4)
    bad = np.isin(codes, [int(Stage.ARTEFACT), int(Stage.UNSCORED)])
    for i in np.flatnonzero(bad):
        ax.axvspan(t[i], t[i + 1], color="#dddddd", lw=0)
    ax.set_yticks(range(len(_STAGE_ROWS)), [s.name for s in _STAGE_ROWS])
    ax.set_ylim(-0.5, len(_STAGE_ROWS) - 0.5)
    ax.set_xlim(0, max(_hours(duration), t[-1]))
    ax.set_xlabel("Time from recording start (h)")
    ax.set_title(f"Hypnogram ({hypnogram.source}; grey = artefact/unscored)", loc="left", fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    return fig


def stage_minutes_figure(stage_minutes: dict[str, float]) -> Figure:
    """Horizontal bars of minutes per stage (W, N1, N2, N3, REM)."""
    fig = _figure(5, 2.4)
    ax = fig.add_subplot()
    names = [s for s in ("W", "N1", "N2", "N3", "REM") if s in stage_minutes]
    values = [stage_minutes[s] for s in names]
    bars = ax.barh(names, values, color=[_STAGE_COLOURS[s] for s in names])
    ax.bar_label(bars, labels=[f"{v:.0f}" for v in values], padding=3, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("Minutes")
    ax.set_xlim(0, max(values + [1.0]) * 1.15)
    ax.set_title("Time per stage", loc="left", fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def _channel_bars(ax, channels: list[str], values, ylabel: str) -> None:
    """Bars per channel coloured by hemisphere, with value labels."""
    colours = [HEMI_COLOURS[hemisphere(c)] for c in channels]
    bars = ax.bar(channels, values, color=colours)
    ax.bar_label(bars, labels=[f"{v:.2f}" if np.isfinite(v) else "" for v in values], padding=2, fontsize=7)
    ax.set_ylabel(ylabel)
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(axis="x", labelrotation=90 if len(channels) > 8 else 0)


def density_figure(summary: pd.DataFrame) -> Figure:
    """Spindle density (per minute) per channel, one panel per stage group, homologues side by side."""
    table = summary[summary["band"] == "all"]
    groups = list(dict.fromkeys(table["stage"]))
    channels = order_channels(table["channel"].unique())
    fig = _figure(min(4.0 + 3.2 * len(groups), 12), 3.0)
    axes = fig.subplots(1, max(len(groups), 1), sharey=True, squeeze=False)[0]
    top = float(np.nanmax(table["density"].to_numpy(dtype=float), initial=0.0))
    for ax, group in zip(axes, groups):
        sel = table[table["stage"] == group].set_index("channel").reindex(channels)
        _channel_bars(ax, channels, sel["density"].to_numpy(dtype=float), "Spindles / min" if ax is axes[0] else "")
        ax.set_title(group, fontsize=10)
        ax.set_ylim(0, top * 1.2 if top > 0 else 1)
    fig.suptitle("Spindle density per channel (blue = left, orange = right, grey = midline)",
                 x=0.01, ha="left", fontsize=10)
    return fig


def _peak_windows(signal: np.ndarray, sf: float, peaks: np.ndarray) -> np.ndarray:
    """Segments of ``signal`` centred on each peak time (rows), NaN rows dropped."""
    half = int(round(_WAVE_HALF_WIDTH * sf))
    centre = np.round(peaks * sf).astype(np.int64)
    centre = centre[(centre - half >= 0) & (centre + half < len(signal))]
    if not len(centre):
        return np.empty((0, 2 * half + 1))
    segments = signal[centre[:, None] + np.arange(-half, half + 1)[None, :]].astype(np.float64)
    return segments[np.isfinite(segments).all(axis=1)]


def waveform_figure(recording: Recording, events: pd.DataFrame) -> Figure:
    """Average raw EEG time-locked to the spindle peak, per channel (mean +/- SEM).

    At most ``_MAX_WAVEFORM_EVENTS`` evenly spaced spindles per channel are averaged.
    """
    channels = order_channels(recording.eeg_channels)
    ncols = min(4, max(len(channels), 1))
    nrows = int(np.ceil(len(channels) / ncols)) or 1
    fig = _figure(2.9 * ncols + 0.5, 2.2 * nrows + 0.4)
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in axes[len(channels):]:
        ax.set_axis_off()
    for ax, channel in zip(axes, channels):
        peaks = events.loc[events["channel"] == channel, "peak"].to_numpy(dtype=float)
        if len(peaks) > _MAX_WAVEFORM_EVENTS:
            peaks = peaks[np.linspace(0, len(peaks) - 1, _MAX_WAVEFORM_EVENTS).astype(int)]
        seg = _peak_windows(recording.signal(channel), recording.sf, peaks)
        ax.set_title(f"{channel} (n = {len(seg)})", fontsize=9, color=HEMI_COLOURS[hemisphere(channel)])
        ax.axvline(0, color="#bbbbbb", lw=0.8)
        if not len(seg):
            ax.text(0.5, 0.5, "no spindle", ha="center", va="center", transform=ax.transAxes, fontsize=8)
            continue
        t = (np.arange(seg.shape[1]) - seg.shape[1] // 2) / recording.sf
        mean = seg.mean(axis=0)
        sem = seg.std(axis=0, ddof=1) / np.sqrt(len(seg)) if len(seg) > 1 else np.zeros_like(mean)
        ax.fill_between(t, mean - sem, mean + sem, color=HEMI_COLOURS[hemisphere(channel)], alpha=0.3, lw=0)
        ax.plot(t, mean, color=HEMI_COLOURS[hemisphere(channel)], lw=1.0)
        ax.grid(alpha=0.3)
    for ax in axes[(nrows - 1) * ncols:]:
        ax.set_xlabel("Time from peak (s)")
    for ax in axes[::ncols]:
        ax.set_ylabel("uV")
    fig.suptitle("Average spindle (raw EEG, mean +/- SEM)", x=0.01, ha="left", fontsize=10)
    return fig


def night_bin_minutes(duration: float) -> float:
    """Bin width (minutes) for density across the night: hours for a full night, finer if short."""
    hours = duration / 3600.0
    return 60.0 if hours >= 4 else 30.0 if hours >= 1.5 else 10.0


def night_density(
    events: pd.DataFrame, hypnogram: Hypnogram | None, duration: float, stages, channels
) -> pd.DataFrame:
    """Spindles per minute of searched-stage time in consecutive bins across the night.

    Returns
    -------
    pandas.DataFrame
        Index: bin start in hours; columns: channels; NaN where a bin has under one minute of
        searched stages.
    """
    width = night_bin_minutes(duration) * 60.0
    edges = np.arange(0.0, duration + width, width)
    if hypnogram is None:
        minutes = np.diff(np.clip(edges, 0, duration)) / 60.0
    else:
        codes = [int(s) for s in stages]
        starts = hypnogram.offset + np.arange(hypnogram.n_epochs) * hypnogram.epoch_length
        searched = np.isin(hypnogram.stages, codes)
        minutes = np.histogram(starts[searched], bins=edges)[0] * hypnogram.epoch_length / 60.0
    out = {}
    for channel in channels:
        peaks = events.loc[events["channel"] == channel, "peak"].to_numpy(dtype=float)
        counts = np.histogram(peaks, bins=edges)[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            out[channel] = np.where(minutes >= 1.0, counts / minutes, np.nan)
    return pd.DataFrame(out, index=pd.Index(_hours(edges[:-1]), name="hour"))


def night_density_figure(table: pd.DataFrame, bin_minutes: float) -> Figure:
    """Density per bin across the night, one line per channel."""
    fig = _figure(11, 2.8)
    ax = fig.add_subplot()
    x = table.index.to_numpy(dtype=float) + bin_minutes / 120.0  # bin centres
    styles = {"left": "-", "midline": ":", "right": "--"}
    for channel in order_channels(table.columns):
        side = hemisphere(channel)
        ax.plot(x, table[channel], marker="o", ms=4, ls=styles[side], label=channel,
                color=HEMI_COLOURS[side] if len(table.columns) <= 3 else None)
    ax.set_xlabel("Time from recording start (h)")
    ax.set_ylabel("Spindles / min")
    ax.set_title(f"Density across the night ({bin_minutes:g}-min bins; searched stages only)", loc="left",
                 fontsize=10)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if len(table.columns):
        ax.legend(fontsize=8, ncols=min(len(table.columns), 8), loc="lower right")
    return fig


def distributions_figure(events: pd.DataFrame, fast_threshold: float) -> Figure:
    """Histograms of duration, frequency and amplitude (one outline per channel up to 4, else pooled)."""
    fig = _figure(11, 2.8)
    axes = fig.subplots(1, 3)
    specs = (("duration", "Duration (s)"), ("frequency", "Frequency (Hz)"), ("amplitude", "Amplitude (uV p-p)"))
    channels = order_channels(events["channel"].unique())
    per_channel = 0 < len(channels) <= 4
    for ax, (column, label) in zip(axes, specs):
        values = events[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        bins = np.histogram_bin_edges(values, bins=30) if len(values) else 10
        if per_channel:
            for channel in channels:
                sel = events.loc[events["channel"] == channel, column].to_numpy(dtype=float)
                colour = HEMI_COLOURS[hemisphere(channel)] if len(channels) <= 3 else None
                ax.hist(sel, bins=bins, histtype="step", lw=1.4, label=channel, color=colour)
        else:
            ax.hist(values, bins=bins, color="#777777")
        if column == "frequency":
            ax.axvline(fast_threshold, color="k", ls="--", lw=0.8)
            ax.text(fast_threshold, 0.98, " fast", transform=ax.get_xaxis_transform(), va="top", fontsize=8)
            ax.text(fast_threshold, 0.98, "slow ", transform=ax.get_xaxis_transform(), va="top", ha="right",
                    fontsize=8)
        ax.set_xlabel(label)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("Spindles")
    if per_channel:
        axes[-1].legend(fontsize=8)
    fig.suptitle("Distributions of spindle properties" + ("" if per_channel else " (all channels)"),
                 x=0.01, ha="left", fontsize=10)
    return fig


def fast_slow_figure(summary: pd.DataFrame, stage: str, fast_threshold: float) -> Figure:
    """Fast vs slow spindle density per channel in one stage group."""
    table = summary[summary["stage"] == stage]
    channels = order_channels(table["channel"].unique())
    fig = _figure(max(5.0, 1.0 + 0.7 * len(channels)), 3.0)
    ax = fig.add_subplot()
    x = np.arange(len(channels))
    for offset, band, colour in ((-0.2, "slow", "#7aa974"), (0.2, "fast", "#8e5ea2")):
        sel = table[table["band"] == band].set_index("channel").reindex(channels)["density"].to_numpy(dtype=float)
        bars = ax.bar(x + offset, sel, width=0.4, color=colour,
                      label=f"{band} ({'>=' if band == 'fast' else '<'} {fast_threshold:g} Hz)")
        ax.bar_label(bars, labels=[f"{v:.2f}" for v in sel], padding=2, fontsize=7)
    ax.set_xticks(x, channels, rotation=90 if len(channels) > 8 else 0)
    ax.set_ylabel("Spindles / min")
    ax.set_title(f"Fast vs slow spindles ({stage})", loc="left", fontsize=10)
    ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def lateralisation_figure(table: pd.DataFrame, measure_label: str = "Spindles / min") -> Figure:
    """Contralateral vs ipsilateral value per electrode pair, with the laterality index.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``pair`` (``"C3/C4"``), ``contra``, ``ipsi`` and ``li``.
    """
    fig = _figure(max(6.0, 1.2 + 1.3 * len(table)), 3.2)
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
    ax.set_ylim(0, (top or 1) * 1.45)
    ax.set_title("Lateralisation: LI = (contra - ipsi) / (contra + ipsi)", loc="left", fontsize=10)
    ax.legend(fontsize=8, loc="upper right", ncols=2, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return fig


def paired_figure(table: pd.DataFrame, value_label: str = "Spindles / min") -> Figure:
    """Cohort: one panel per pair, each subject a line from ipsilateral to contralateral.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``pair``, ``subject``, ``contra``, ``ipsi`` (one row per subject and pair).
    """
    pairs = list(dict.fromkeys(table["pair"]))
    fig = _figure(max(3.2 * len(pairs), 4.0), 3.4)
    axes = fig.subplots(1, max(len(pairs), 1), squeeze=False)[0]
    for ax, pair in zip(axes, pairs):
        sel = table[table["pair"] == pair]
        ipsi, contra = sel["ipsi"].to_numpy(dtype=float), sel["contra"].to_numpy(dtype=float)
        for i, c in zip(ipsi, contra):
            ax.plot([0, 1], [i, c], color="#999999", marker="o", ms=3, lw=0.8)
        ax.plot([0, 1], [np.nanmean(ipsi), np.nanmean(contra)], color="#c0392b", marker="s", lw=2.2,
                label="mean")
        ax.set_xticks([0, 1], ["ipsi", "contra"])
        ax.set_xlim(-0.3, 1.3)
        ax.set_title(f"{pair} (n = {int(np.isfinite(ipsi - contra).sum())})", fontsize=10)
        ax.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel(value_label)
    axes[0].legend(fontsize=8)
    fig.suptitle("Contralateral vs ipsilateral, per subject", x=0.01, ha="left", fontsize=10)
    return fig


def li_gain_figure(li: np.ndarray, gain: np.ndarray, labels=None, pair: str = "") -> Figure:
    """Cohort: laterality index vs behavioural gain, least-squares line and its 95% confidence band."""
    from scipy import stats as _stats

    fig = _figure(5.5, 4.0)
    ax = fig.add_subplot()
    li, gain = np.asarray(li, dtype=float), np.asarray(gain, dtype=float)
    ok = np.isfinite(li) & np.isfinite(gain)
    ax.scatter(li[ok], gain[ok], color="#2c3e50", zorder=3)
    if labels is not None:
        for x, y, text in zip(li[ok], gain[ok], np.asarray(labels, dtype=object)[ok]):
            ax.annotate(str(text), (x, y), xytext=(3, 3), textcoords="offset points", fontsize=7, color="#555555")
    n = int(ok.sum())
    if n >= 3 and np.ptp(li[ok]) > 0:
        fit = _stats.linregress(li[ok], gain[ok])
        grid = np.linspace(li[ok].min(), li[ok].max(), 100)
        resid = gain[ok] - (fit.intercept + fit.slope * li[ok])
        s = np.sqrt(np.sum(resid**2) / (n - 2))
        sxx = np.sum((li[ok] - li[ok].mean()) ** 2)
        half = _stats.t.ppf(0.975, n - 2) * s * np.sqrt(1.0 / n + (grid - li[ok].mean()) ** 2 / sxx)
        line = fit.intercept + fit.slope * grid
        ax.fill_between(grid, line - half, line + half, color="#c0392b", alpha=0.15, lw=0, label="95% CI of fit")
        ax.plot(grid, line, color="#c0392b", label=f"r = {fit.rvalue:+.2f}, p = {fit.pvalue:.3g}")
        ax.legend(fontsize=8)
    ax.axvline(0, color="#bbbbbb", lw=0.8)
    ax.set_xlabel(f"Laterality index{f' ({pair})' if pair else ''}")
    ax.set_ylabel("Behavioural gain (%)")
    ax.set_title(f"LI vs gain (n = {n})", loc="left", fontsize=10)
    ax.grid(alpha=0.3)
    return fig
