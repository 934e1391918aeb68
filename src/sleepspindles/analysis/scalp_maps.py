"""Cohort maps of lateralisation over the scalp: one value per homologous pair, drawn mirrored.

A pair has one value (mean D, mean LI or the one-sample t of D across subjects), drawn with mne
as a topomap where the **right** hemisphere stands for the contralateral side of every subject
(whatever hand they trained) and the left hemisphere shows the mirror image with the opposite
sign: red on the right means contralateral larger. Pairs of a cluster with p < 0.05
(``clusters.csv``) are marked on both electrodes. Functions return matplotlib Figures and write
nothing; the report decides where they go.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..config import Config
from .measures import NIGHT
from .scalp import positions

__all__ = ["pair_summary", "scalp_map", "cohort_maps"]

_LABELS = {"t": "t of D", "D": "mean D (contra - ipsi)", "LI": "mean LI"}


def pair_summary(laterality: pd.DataFrame, night: str, measure: str, *, band: str = "all", window: str = NIGHT,
                 config: Config | None = None) -> pd.DataFrame:
    """Per pair: subjects, mean D, mean LI and the one-sample t of D, for one night (or contrast).

    Parameters
    ----------
    laterality : pandas.DataFrame
        The laterality table (contrast nights such as ``post-baseline`` are derived from it).
    night, measure, band, window : str
    config : Config, optional
        ``laterality.baseline_night`` for the contrasts.

    Returns
    -------
    pandas.DataFrame
        Columns ``pair, n, D, LI, t``, one row per pair measured there.
    """
    from .stats import with_contrasts

    config = config or Config()
    frame = with_contrasts(laterality, config.laterality.baseline_night)
    sel = frame.loc[(frame["night"] == night) & (frame["measure"] == measure) & (frame["band"] == band)
                    & (frame["window"] == window)]
    rows = []
    for pair, group in sel.groupby("pair", sort=False):
        d = group["D"].to_numpy(float)
        d = d[np.isfinite(d)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # constant D: t undefined, NaN
            t = float(sps.ttest_1samp(d, 0.0).statistic) if d.size > 1 else np.nan
        rows.append({"pair": pair, "n": d.size, "D": float(d.mean()) if d.size else np.nan,
                     "LI": float(np.nanmean(group["LI"])) if group["LI"].notna().any() else np.nan, "t": t})
    return pd.DataFrame(rows, columns=["pair", "n", "D", "LI", "t"])


def scalp_map(values: pd.Series, *, clusters: Sequence[str] = (), title: str = "", label: str = "t",
              axes=None, limit: float | None = None):
    """A mirrored topomap of one value per pair.

    Parameters
    ----------
    values : pandas.Series
        Value per pair label (``"C3/C4"``, left electrode first).
    clusters : sequence of str
        Pairs to mark (those of significant clusters).
    title, label : str
        Title, and the colour bar's label.
    axes : matplotlib.axes.Axes, optional
        Where to draw; a new figure when omitted.
    limit : float, optional
        Symmetric colour limit (default: the largest absolute value).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import mne
    from matplotlib.figure import Figure

    pairs = [tuple(p.split("/")) for p in values.index]
    pos = positions([c for p in pairs for c in p])
    shown = [(p, float(v)) for p, v in zip(pairs, values.to_numpy(float)) if p[0] in pos and p[1] in pos]
    channels = [c for p, _ in shown for c in p]
    data = np.array([s * v for _, v in shown for s in (-1.0, 1.0)])  # left: mirror image, right: contralateral
    marked = {c for p, _ in shown if "/".join(p) in set(clusters) for c in p}
    if axes is None:
        figure = Figure(figsize=(4.2, 3.6))
        axes = figure.add_subplot()
    figure = axes.figure
    if len(shown) < 3:
        axes.text(0.5, 0.5, "fewer than 3 pairs with electrode positions", ha="center", va="center")
        axes.set_axis_off()
        return figure
    info = mne.create_info(channels, 100.0, "eeg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        info.set_montage(mne.channels.make_dig_montage(ch_pos={c: pos[c] for c in channels}, coord_frame="head"))
        finite = np.abs(data[np.isfinite(data)])
        top = limit or (float(finite.max()) if finite.size and finite.max() > 0 else 1.0)
        image, _ = mne.viz.plot_topomap(
            np.nan_to_num(data), info, axes=axes, show=False, cmap="RdBu_r", vlim=(-top, top), contours=0,
            mask=np.array([c in marked for c in channels]),
            mask_params=dict(marker="o", markerfacecolor="k", markeredgecolor="w", markersize=6))
    figure.colorbar(image, ax=axes, shrink=0.7, label=label)
    axes.set_title(f"{title}\n(right = contralateral)" if title else "right = contralateral", fontsize=9)
    return figure


def cohort_maps(laterality: pd.DataFrame, clusters: pd.DataFrame, night: str, measures: Sequence[str] | None = None,
                *, variable: str = "t", config: Config | None = None):
    """One mirrored map per measure for a night (or contrast), clusters with p < 0.05 marked.

    Parameters
    ----------
    laterality, clusters : pandas.DataFrame
        ``laterality.csv`` and ``clusters.csv`` of a cohort.
    night : str
        A night or a contrast (``post-baseline``).
    measures : sequence of str, optional
        Default: every measure of the cluster table for that night.
    variable : {"t", "D", "LI"}
        What each pair shows.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.figure import Figure

    tested = clusters.loc[clusters["night"] == night]
    measures = list(measures) if measures is not None else list(dict.fromkeys(tested["measure"]))
    columns = min(4, max(len(measures), 1))
    rows = -(-max(len(measures), 1) // columns)
    figure = Figure(figsize=(4.2 * columns, 3.8 * rows))
    for k, measure in enumerate(measures):
        summary = pair_summary(laterality, night, measure, config=config).set_index("pair")[variable]
        found = tested.loc[(tested["measure"] == measure) & (tested["p_value"] < 0.05), "pairs"]
        marked = [p for text in found for p in str(text).split(";")]
        scalp_map(summary, clusters=marked, title=f"{measure}, {night}", label=_LABELS[variable],
                  axes=figure.add_subplot(rows, columns, k + 1))
    return figure
