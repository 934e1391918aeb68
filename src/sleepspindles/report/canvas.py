"""Figure building blocks shared by every report figure: fixed-margin figures, titles, bars and lines.

No pyplot and no layout engine: a figure is a plain :class:`matplotlib.figure.Figure` on an Agg
canvas with margins given in inches. A layout engine (constrained or tight) draws every figure
twice and measures every text; fixed margins draw it once, which is most of the report's speed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .channels import ChannelStyle

__all__ = ["FULL_WIDTH", "STAGE_COLOURS", "channel_lines", "figure_title", "grouped_bars", "new_figure",
           "non_negative", "title_height", "title_lines"]

#: Width (inches) of a figure spanning the page (1100 px at the report's 100 dpi).
FULL_WIDTH = 11.0
#: One colour per stage, and per stage group, in every figure.
STAGE_COLOURS = {"W": "#e3b23c", "N1": "#9ecae1", "N2": "#4292c6", "N3": "#08306b", "REM": "#cb4b4b",
                 "N2+N3": "#7b6fb0"}
_MANY_LINES = 8  # more channels than this: their median and spread instead of one line each
# A 10-pt title: DejaVu Sans averages 0.07 in per character of a sentence, capitals more; a line is 0.19 in.
_TITLE_CHAR = 0.08
_TITLE_LINE = 0.19
_TITLE_X = 0.12  # inches from the left edge (and at least as much kept free on the right)
_TITLE_Y = 0.08  # inches from the top edge


def new_figure(width: float, height: float, *, left: float = 0.75, right: float = 0.2, top: float = 0.4,
               bottom: float = 0.5, wspace: float = 0.25, hspace: float = 0.35) -> Figure:
    """An empty figure on an Agg canvas whose subplots keep the given margins (inches)."""
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=left / width, right=1 - right / width, top=1 - top / height, bottom=bottom / height,
                        wspace=wspace, hspace=hspace)
    return fig


def title_lines(text: str, width: float) -> list[str]:
    """The lines of a figure title ``width`` inches wide: each line of ``text`` wrapped at words to fit.

    Counted in characters, not measured (measuring text costs a draw): a narrow single-panel
    figure would otherwise cut a full-width title off at its right edge.
    """
    chars = max(int((width - 2 * _TITLE_X) / _TITLE_CHAR), 20)
    return [part for line in text.split("\n") for part in textwrap.wrap(line, chars) or [""]]


def title_height(text: str, width: float) -> float:
    """Inches from the top of a figure ``width`` inches wide to the bottom of its title ``text``."""
    return _TITLE_Y + _TITLE_LINE * len(title_lines(text, width))


def figure_title(fig: Figure, text: str) -> None:
    """``text`` at the top left of the figure, wrapped to its width (:func:`title_lines`)."""
    width, height = fig.get_size_inches()
    fig.text(_TITLE_X / width, 1 - _TITLE_Y / height, "\n".join(title_lines(text, width)), ha="left", va="top",
             fontsize=10)


def non_negative(ax, values) -> None:
    """y from 0 to a little above the largest finite value (1 when there is none): rates and counts."""
    top = float(np.nanmax(np.asarray(values, dtype=float), initial=0.0))
    ax.set_ylim(0, top * 1.12 if top > 0 else 1.0)


def grouped_bars(ax, channels: Sequence[str], series: Sequence[tuple[str, np.ndarray, str]], ylabel: str) -> None:
    """Bars per channel, one per ``(label, values, colour)`` series side by side, with a legend.

    Values line up with ``channels``; a NaN draws no bar.
    """
    x = np.arange(len(channels))
    width = 0.8 / max(len(series), 1)
    for k, (label, values, colour) in enumerate(series):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, values, width=width, color=colour, label=label)
    ax.set_xticks(x, channels, rotation=90 if len(channels) > 10 else 0, fontsize=8 if len(channels) > 10 else 9)
    ax.set_xlim(-0.6, len(channels) - 0.4)
    ax.set_ylabel(ylabel)
    non_negative(ax, [v for _, values, _ in series for v in values])
    ax.spines[["top", "right"]].set_visible(False)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)


def channel_lines(ax, x: np.ndarray, table: pd.DataFrame, styles: dict[str, ChannelStyle],
                  highlight: Sequence[str] = (), faint: np.ndarray | None = None, faint_label: str = "") -> None:
    """One line per channel column of ``table`` against ``x`` (each in its style), with a legend beside.

    More than a few channels give their median and 10-90% range across channels instead, with
    the ``highlight`` channels (the motor pair) drawn on top in their own styles.

    Parameters
    ----------
    ax : matplotlib Axes
    x : numpy.ndarray
        One position per row of ``table``.
    table : pandas.DataFrame
        One column per channel.
    styles : dict of str to ChannelStyle
    highlight : sequence of str
        Channels drawn over the median of many.
    faint : numpy.ndarray of bool, optional
        Rows resting on too little data to read as the others: drawn as hollow grey markers, left
        out of the lines (and the range), with one legend entry, ``faint_label``.
    faint_label : str
    """
    faint = np.zeros(len(table), dtype=bool) if faint is None else np.asarray(faint, dtype=bool)
    many = len(table.columns) > _MANY_LINES
    shown = [c for c in highlight if c in table.columns] if many else list(table.columns)
    drawn = []  # (label, values, line style, marker): every line, its faint points drawn after them all
    if many:
        values = table.to_numpy(dtype=float)
        finite = np.isfinite(values).any(axis=1)
        low, mid, high = (np.where(finite, np.nanpercentile(np.where(finite[:, None], values, 0), q, axis=1), np.nan)
                          for q in (10, 50, 90))
        ax.fill_between(x, np.where(faint, np.nan, low), np.where(faint, np.nan, high), color="#cccccc", lw=0,
                        label=f"10-90% of {len(table.columns)} channels")
        drawn.append((f"median of {len(table.columns)} channels", mid, {"color": "#555555", "lw": 1.6}, "o"))
    for channel in shown:
        style = styles[channel]
        drawn.append((channel, table[channel].to_numpy(dtype=float),
                      {"color": style.colour, "ls": style.linestyle, "marker": style.marker, "ms": 4, "lw": 1.3},
                      style.marker))
    for label, values, line, _ in drawn:
        ax.plot(x, np.where(faint, np.nan, values), label=label, **line)
    for k, (_, values, _, marker) in enumerate(drawn if faint.any() else ()):
        ax.plot(np.asarray(x)[faint], values[faint], ls="none", marker=marker, ms=5, mfc="none", mec="#999999",
                mew=1.0, clip_on=False, label=faint_label if k == 0 else "_faint")  # a 0 stays whole on the axis
    if len(table.columns):
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
