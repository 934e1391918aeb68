"""Slow-oscillation figures: the trough-locked average SO with its sigma envelope, coupling roses, SWA.

As in :mod:`.figures`, every function returns a plain :class:`matplotlib.figure.Figure` (or
``None`` when there is nothing to draw) and writes nothing; channels keep the styles of
:func:`~.channels.channel_styles`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.collections import LineCollection, PolyCollection
from matplotlib.figure import Figure

from .canvas import FULL_WIDTH, channel_lines, figure_title, new_figure, non_negative, title_height
from .channels import ChannelStyle, homologous_groups
from .tables import of_stage
from .windows import LockedAverage

__all__ = ["PHASE_BINS", "coupling_rose_figure", "phase_counts", "so_waveform_figure", "swa_cycles_figure"]

#: Bins of a coupling rose (20 degrees each).
PHASE_BINS = 18
_ROSE_COLUMNS = 6  # roses per row: three homologous pairs
_ARC = 6  # points along each wedge's arc


def so_waveform_figure(averages: dict[str, LockedAverage], band: tuple[float, float],
                       styles: dict[str, ChannelStyle]) -> Figure | None:
    """One column per homologous group: the average SO (top) and its sigma envelope (bottom).

    None when no channel has a slow oscillation.
    """
    if not any(a.n for a in averages.values()):
        return None
    groups = homologous_groups(averages)
    ncols = min(4, len(groups))
    nrows = -(-len(groups) // ncols)
    width = max(2.7 * ncols + 0.9, 6.0)
    title = (f"Average slow oscillation locked to its trough: raw EEG (mean +/- SEM), below it the {band[0]:g}-"
             f"{band[1]:g} Hz sigma envelope\nleft solid, right dashed")
    top = title_height(title, width) + 0.2  # a narrow figure wraps its title onto more lines: room for them
    fig = new_figure(width, 2.9 * nrows + 0.1 + top, left=0.8, right=0.15, top=top, bottom=0.45)
    outer = fig.add_gridspec(nrows, ncols, wspace=0.12, hspace=0.3)
    first_eeg = first_sigma = None
    for i, group in enumerate(groups):
        cell = outer[divmod(i, ncols)].subgridspec(2, 1, height_ratios=[2, 1], hspace=0.06)
        eeg = fig.add_subplot(cell[0], sharex=first_eeg, sharey=first_eeg)
        sigma = fig.add_subplot(cell[1], sharex=eeg, sharey=first_sigma)
        first_eeg, first_sigma = first_eeg or eeg, first_sigma or sigma
        for k, channel in enumerate(group):
            _draw_average(eeg, sigma, channel, averages[channel], styles[channel], k)
        eeg.tick_params(labelbottom=False)
        if i % ncols:
            eeg.tick_params(labelleft=False)
            sigma.tick_params(labelleft=False)
        else:
            eeg.set_ylabel("EEG (uV)")
            sigma.set_ylabel("Sigma (uV)")
        if i >= len(groups) - ncols:
            sigma.set_xlabel("Time from SO trough (s)")
    figure_title(fig, title)
    return fig


def _draw_average(eeg, sigma, channel: str, average: LockedAverage, style: ChannelStyle, k: int) -> None:
    """One channel's mean SO (+/- SEM) on ``eeg``, its mean sigma envelope on ``sigma``, its label ``k``-th."""
    for ax in (eeg, sigma):
        ax.axvline(0, color="#bbbbbb", lw=0.8)
        ax.grid(alpha=0.3)
    eeg.text(0.02, 0.06 + 0.12 * k, f"{channel} (n = {average.n})" if average.n else f"{channel}: no SO",
             color=style.ink, transform=eeg.transAxes, fontsize=8, weight="bold")
    if average.n:
        eeg.fill_between(average.time, average.mean - average.sem, average.mean + average.sem, color=style.colour,
                         alpha=0.25, lw=0)
        eeg.plot(average.time, average.mean, color=style.colour, ls=style.linestyle, lw=1.1)
        sigma.plot(average.time, average.sigma, color=style.colour, ls=style.linestyle, lw=1.1)


def phase_counts(phases_deg: np.ndarray) -> np.ndarray:
    """Counts of SO phases (degrees) in :data:`PHASE_BINS` equal bins from -180 to 180."""
    return np.histogram(np.asarray(phases_deg, dtype=float), bins=np.linspace(-180.0, 180.0, PHASE_BINS + 1))[0]


def coupling_rose_figure(phases: dict[str, np.ndarray], stats: pd.DataFrame, stage: str,
                         styles: dict[str, ChannelStyle]) -> Figure:
    """Rose histograms of the coupled spindles' SO phases, one per channel, homologues side by side.

    All roses share one plain axes (polar axes cost ten times more to draw). Phase runs clockwise
    as time does: the trough (+/-180 deg) at the bottom, the up-going zero crossing (-90) on the
    left, the up-state (0) at the top, the down-going crossing (+90) on the right. Wedge area is
    proportional to the count (the ring is the tallest bin); the arrow is the circular mean, its
    length the mean vector length (the ring = 1).

    Parameters
    ----------
    phases : dict of str to numpy.ndarray
        Per channel, the coupled spindles' SO phases in degrees.
    stats : pandas.DataFrame
        Coupling rows of one stage group and band ``all``, indexed by channel (``n_coupled``,
        ``phase_deg``, ``mvl``, ``ppc``, ``surrogate_p``).
    stage : str
        The stage group (as in the tables: ``UNSCORED`` reads as the whole recording), for the title.
    styles : dict of str to ChannelStyle
    """
    ncols = min(_ROSE_COLUMNS, max(len(phases), 1))
    slots = _slots(homologous_groups(phases), ncols)
    nrows = max((row for _, row, _ in slots), default=0) + 1
    width = max(1.75 * ncols, 6.0)
    title = (f"{of_stage('SO phase of the coupled spindles', stage)}: time runs clockwise, trough at the bottom\nwedge area = "
             "count (ring = tallest bin); arrow = circular mean, length = mean vector length (ring = 1)")
    top = title_height(title, width) + 0.29  # a narrow figure wraps its title onto more lines: room for them
    fig = new_figure(width, 2.05 * nrows + top, left=0.1, right=0.1, top=top, bottom=0.05)
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_aspect("equal")
    edges = np.radians(np.linspace(-180.0, 180.0, PHASE_BINS + 1))
    arc = np.linspace(0.0, 1.0, _ARC)
    wedges, colours, rings, arrows = [], [], [], []
    circle = np.linspace(0, 2 * np.pi, 73)
    for channel, row, col in slots:
        x0, y0 = 3.0 * col, -3.6 * row
        counts = phase_counts(phases[channel])
        radius = np.sqrt(counts / max(counts.max(), 1))
        for r, a, b in zip(radius, edges[:-1], edges[1:]):
            theta = a + (b - a) * arc
            wedges.append(np.vstack([[x0, y0], np.c_[x0 + r * np.sin(theta), y0 + r * np.cos(theta)]]))
        colours += [styles[channel].colour] * PHASE_BINS
        rings.append(np.c_[x0 + np.sin(circle), y0 + np.cos(circle)])
        rings.append([[x0, y0 - 1.08], [x0, y0 + 1.08]])
        stat = stats.loc[channel] if channel in stats.index else None
        if stat is not None and np.isfinite(stat["phase_deg"]):
            angle = np.radians(stat["phase_deg"])
            arrows.append([[x0, y0], [x0 + stat["mvl"] * np.sin(angle), y0 + stat["mvl"] * np.cos(angle)]])
        ax.text(x0, y0 - 1.2, _rose_label(channel, stat), ha="center", va="top", fontsize=8,
                color=styles[channel].ink, weight="bold")
    ax.add_collection(PolyCollection(wedges, facecolors=colours, edgecolors="white", linewidths=0.4, alpha=0.85))
    ax.add_collection(LineCollection(rings, colors="#999999", linewidths=0.7))
    ax.add_collection(LineCollection(arrows, colors="black", linewidths=2.0))
    ax.plot([a[1][0] for a in arrows], [a[1][1] for a in arrows], "o", color="black", ms=3.5)
    first_x = 3.0 * slots[0][2] if slots else 0.0
    for text, (dx, dy, ha) in zip(("0\u00b0 up", "+90\u00b0", "\u00b1180\u00b0", "-90\u00b0"),
                                  ((0, 1.12, "center"), (1.12, 0, "left"), (0.9, -1.05, "left"), (-1.12, 0, "right"))):
        ax.text(first_x + dx, dy, text, ha=ha, va="center", fontsize=7, color="#555555")
    ax.set_xlim(-1.7, 3.0 * (ncols - 1) + 1.7)
    ax.set_ylim(-3.6 * (nrows - 1) - 2.2, 1.35)
    figure_title(fig, title)
    return fig


def _slots(groups: list[tuple[str, ...]], ncols: int) -> list[tuple[str, int, int]]:
    """``(channel, row, column)`` of each channel, a homologous pair never split across two rows."""
    slots, row, col = [], 0, 0
    for group in groups:
        if col + len(group) > ncols:
            row, col = row + 1, 0
        slots += [(channel, row, col + k) for k, channel in enumerate(group)]
        col += len(group)
    return slots


def _rose_label(channel: str, row: pd.Series | None) -> str:
    """``"C3: n = 27"`` over ``"PPC 0.33, p = 0.001"`` (n/a where a statistic is NaN)."""
    if row is None:
        return f"{channel}: not computed"

    def fmt(value: float, spec: str) -> str:
        return format(value, spec) if np.isfinite(value) else "n/a"

    p = row["surrogate_p"]
    shown = "p < 0.001" if p < 0.001 else f"p = {fmt(p, '.3f')}"  # the surrogates resolve 1 / (1 + n) at best
    return f"{channel}: n = {int(row['n_coupled'])}\nPPC {fmt(row['ppc'], '.2f')}, {shown}"


def swa_cycles_figure(table: pd.DataFrame, band: tuple[float, float], styles: dict[str, ChannelStyle],
                      highlight: tuple[str, ...] = ()) -> Figure | None:
    """SWA per sleep cycle, one line per channel (or their median and range); None under two cycles.

    Parameters
    ----------
    table : pandas.DataFrame
        Index: cycle number (1, 2...); columns: channels; values: SWA in uV^2.
    band : (float, float)
        The SWA band in Hz, for the title.
    styles : dict of str to ChannelStyle
    highlight : tuple of str
        Channels drawn on top when there are too many for a line each.
    """
    if len(table) < 2:
        return None
    fig = new_figure(FULL_WIDTH, 2.8, right=1.6, top=0.4)
    ax = fig.add_subplot()
    cycles = table.index.to_numpy(dtype=int)
    channel_lines(ax, cycles, table, styles, highlight)
    ax.set_xticks(cycles, [str(c) for c in cycles])
    ax.set_xlim(cycles.min() - 0.3, cycles.max() + 0.3)
    non_negative(ax, table.to_numpy(dtype=float))
    ax.set_xlabel("Sleep cycle (its NREM epochs)")
    ax.set_ylabel("SWA (uV^2)")
    ax.grid(alpha=0.3)
    figure_title(fig, f"Slow-wave activity ({band[0]:g}-{band[1]:g} Hz power) per sleep cycle")
    return fig
