"""Channels in a report: their order on the page, hemisphere, homologous groups, styles and the shown selection.

Every per-channel figure draws a channel in the same colour, line style and marker
(:func:`channel_styles`): the colour names the electrode site (a homologous pair shares a hue,
the right side lighter), the line style and marker name the hemisphere. High-density montages
show a capped selection of channels (:func:`select_channels`); every channel stays in the tables
and CSV files.
"""

from __future__ import annotations

import colorsys
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from matplotlib.colors import to_hex, to_rgb

from ..io.channels import homologue

__all__ = [
    "MAX_SHOWN",
    "STANDARD_1020",
    "ChannelStyle",
    "channel_styles",
    "hemisphere",
    "homologous_groups",
    "order_channels",
    "select_channels",
]

#: Most channels given their own panel, bar or rose in a report (the rest are in the tables).
MAX_SHOWN = 20
#: The 10-20 sites (with the old temporal names), front to back: preferred when channels are capped.
STANDARD_1020 = ("Fp1", "Fpz", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "T3", "C3", "Cz", "C4", "T8", "T4", "P7",
                 "T5", "P3", "Pz", "P4", "P8", "T6", "O1", "Oz", "O2")
# Front-to-back order of 10-20, 10-10 and 10-5 site prefixes (Oostenveld & Praamstra 2001).
_REGIONS = ("N", "NFp", "Fp", "AFp", "AF", "AFF", "F", "FFT", "FFC", "FT", "FC", "FTT", "FCC", "T", "C", "TTP",
            "CCP", "TP", "CP", "TPP", "CPP", "P", "PPO", "PO", "POO", "O", "OI", "I")
_NAME = re.compile(r"^([A-Za-z]+?)(z|\d+)(h?)$")
# Site hues: tab10 without its grey (a grey line reads as "not a channel").
_HUES = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
_SIDE = {"left": ("-", "o"), "midline": (":", "^"), "right": ("--", "s")}
_LIGHTER = 0.45  # share of white mixed into the right channel's colour


@dataclass(frozen=True)
class ChannelStyle:
    """How one channel is drawn: ``colour`` (its site), ``linestyle`` and ``marker`` (its hemisphere).

    ``ink`` is the colour of its labels: the site's full colour, also for the lighter right side,
    whose own shade is too pale for text.
    """

    colour: str
    linestyle: str
    marker: str
    ink: str = ""

    def __post_init__(self) -> None:
        if not self.ink:
            object.__setattr__(self, "ink", self.colour)


def hemisphere(channel: str) -> str:
    """``"left"`` (odd 10-20 number), ``"right"`` (even), or ``"midline"`` (``z`` or unknown)."""
    match = _NAME.match(channel)
    if not match or match.group(2) == "z":
        return "midline"
    return "left" if int(match.group(2)) % 2 else "right"


def order_channels(channels: Iterable[str]) -> list[str]:
    """Channels front to back, and within a region left, midline, right (homologues side by side)."""

    def key(channel: str) -> tuple:
        match = _NAME.match(channel)
        if not match:
            return (len(_REGIONS), 1, 0, channel)
        prefix, number, _ = match.groups()
        region = _REGIONS.index(prefix) if prefix in _REGIONS else len(_REGIONS)
        side = {"left": 0, "midline": 1, "right": 2}[hemisphere(channel)]
        return (region, side, 0 if number == "z" else int(number), channel)

    return sorted(channels, key=key)


def homologous_groups(channels: Iterable[str]) -> list[tuple[str, ...]]:
    """Channels in :func:`order_channels` order, each with its homologue when present.

    ``["C3", "C4", "Cz", "F3"]`` gives ``[("F3",), ("C3", "C4"), ("Cz",)]``: left before right.
    """
    present = set(channels)
    groups, seen = [], set()
    for channel in order_channels(present):
        if channel in seen:
            continue
        mate = homologue(channel)
        group = tuple(order_channels([channel, mate])) if mate in present else (channel,)
        seen.update(group)
        groups.append(group)
    return groups


def _hue(i: int, n: int) -> str:
    """The ``i``-th of ``n`` site colours: tab10's while they last, then evenly spaced hues."""
    if n <= len(_HUES):
        return _HUES[i]
    return to_hex(colorsys.hsv_to_rgb(i / n, 0.75, 0.8))


def channel_styles(channels: Iterable[str]) -> dict[str, ChannelStyle]:
    """One style per channel: a hue per homologous group, hemisphere by line style, marker and shade.

    Left: the site's colour, solid line, circle; right: the same hue lighter, dashed, square;
    midline: the site's colour, dotted, triangle. No two channels share a colour.
    """
    groups = homologous_groups(channels)
    styles = {}
    for i, group in enumerate(groups):
        base = _hue(i, len(groups))
        for channel in group:
            side = hemisphere(channel)
            colour = base if side != "right" else to_hex([c + (1 - c) * _LIGHTER for c in to_rgb(base)])
            styles[channel] = ChannelStyle(colour, *_SIDE[side], ink=base)
    return styles


def select_channels(channels: Sequence[str], pairs: Sequence[tuple[str, str]] = (), limit: int = MAX_SHOWN) -> list[str]:
    """The channels a report draws one by one: all of them, or at most ``limit`` on a dense montage.

    The laterality pairs come first (both sides or neither), then the 10-20 sites, each with its
    homologue; a montage naming none of them (``E1``... of a net) gets evenly spaced channels.

    Parameters
    ----------
    channels : sequence of str
    pairs : sequence of (str, str)
        ``laterality.pairs`` of the configuration, in order of priority.
    limit : int

    Returns
    -------
    list of str
        In :func:`order_channels` order.
    """
    present = set(channels)
    if len(present) <= limit:
        return order_channels(present)
    wanted = [pair for pair in pairs if set(pair) <= present]
    wanted += [(site, *(m for m in (homologue(site),) if m in present)) for site in STANDARD_1020 if site in present]
    shown: list[str] = []
    for group in wanted:
        new = [c for c in group if c not in shown]
        if len(shown) + len(new) <= limit:
            shown += new
    if not shown:
        ordered = order_channels(present)
        step = len(ordered) / limit
        shown = [ordered[int(i * step)] for i in range(limit)]
    return order_channels(shown)
