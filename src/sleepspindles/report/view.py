"""What a subject report draws channel by channel: the shown channels, their styles and event-locked averages.

Built once per report (:func:`report_view`): the selection of a dense montage, one style per
channel shared by every figure, and the spindle and SO averages cut from one read of the signal.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..schema import SLOW_OSCILLATIONS, SO_SUMMARY
from .channels import ChannelStyle, channel_styles, order_channels, select_channels
from .figures import overview_figure
from .render import Section
from .tables import of_stage, searched_stage
from .windows import LockedAverage, evenly_spaced, event_windows, locked_average

__all__ = ["SIGMA_PAD", "SO_HALF_WIDTH", "SPINDLE_HALF_WIDTH", "ReportView", "report_view"]

#: Seconds shown either side of a spindle peak and of an SO trough.
SPINDLE_HALF_WIDTH = 1.0
SO_HALF_WIDTH = 1.5
#: Seconds of signal either side of an SO window for its sigma envelope (cut off after filtering).
SIGMA_PAD = 1.0


@dataclass(frozen=True)
class ReportView:
    """The channels of a subject report and what is drawn for each.

    Attributes
    ----------
    channels : list of str
        Every EEG channel, front to back.
    shown : list of str
        Those with their own bar, panel or rose (all of them unless the montage is dense).
    styles : dict of str to ChannelStyle
        Colour, line style and marker of each shown channel.
    highlight : tuple of str
        The motor pair (the first configured laterality pair present), drawn over a summary of
        many channels.
    spindle_averages, so_averages : dict of str to LockedAverage
        Per shown channel (``so_averages`` empty without SO results).
    """

    channels: list[str]
    shown: list[str]
    styles: dict[str, ChannelStyle]
    highlight: tuple[str, ...]
    spindle_averages: dict[str, LockedAverage]
    so_averages: dict[str, LockedAverage]

    @property
    def capped(self) -> bool:
        """Whether only some channels are drawn one by one."""
        return len(self.shown) < len(self.channels)

    @property
    def caveat(self) -> str:
        """A sentence for the lead of a capped figure ("" when every channel is drawn)."""
        return (f" Drawn: {len(self.shown)} of {len(self.channels)} channels (see Channels shown); every channel is in "
                "the table and the CSV files.") if self.capped else ""

    def montage_section(self, result) -> Section:
        """Which channels are drawn, and every channel's spindle (and SO) density at a glance."""
        from ..analysis.scalp import positions

        stage = searched_stage(result.summary)
        maps = {of_stage("Spindles / min", stage): _rates(result.summary[result.summary["band"] == "all"], stage)}
        so_summary = result.tables.get(SO_SUMMARY.name)
        if so_summary is not None and len(so_summary):
            stage = searched_stage(so_summary)
            maps[of_stage("SOs / min", stage)] = _rates(so_summary, stage)
        text = (f"{len(self.channels)} EEG channels. The figures below draw {len(self.shown)} of them one by one: the "
                f"laterality pairs and the 10-20 sites present ({', '.join(self.shown)}). Every channel is in the "
                "tables of this report and in the CSV files.")
        return Section("montage", "Channels shown", text,
                       figures=(overview_figure(maps, positions(self.channels), self.shown),))


def _rates(table: pd.DataFrame, stage: str) -> pd.Series:
    return table[table["stage"] == stage].set_index("channel")["density"].astype(float)


def report_view(result) -> ReportView:
    """The view of ``result``: selection, styles and the averages (one pass over the signal)."""
    rec, cfg = result.recording, result.config
    channels = order_channels(rec.eeg_channels)
    shown = select_channels(channels, cfg.laterality.pairs)
    highlight = next((tuple(p) for p in cfg.laterality.pairs if set(p) <= set(shown)), ())
    sos = result.tables.get(SLOW_OSCILLATIONS.name)
    spindle_peaks = result.events.groupby("channel")["peak"]
    so_troughs = sos.groupby("channel")["neg_peak"] if sos is not None else None

    def times(groups, channel: str) -> np.ndarray:
        return evenly_spaced(groups.get_group(channel).to_numpy(dtype=float) if channel in groups.groups else
                             np.empty(0))

    requests = {ch: [(times(spindle_peaks, ch), SPINDLE_HALF_WIDTH)]
                + ([(times(so_troughs, ch), SO_HALF_WIDTH + SIGMA_PAD)] if so_troughs is not None else [])
                for ch in shown}
    windows = event_windows(rec, requests)
    band = tuple(cfg.detection.band)
    return ReportView(
        channels=channels, shown=shown, styles=channel_styles(shown), highlight=highlight,
        spindle_averages={ch: locked_average(w[0], rec.sf) for ch, w in windows.items()},
        so_averages={ch: locked_average(w[1], rec.sf, SIGMA_PAD, band) for ch, w in windows.items()
                     if so_troughs is not None},
    )
