"""SO-spindle coupling per channel x stage group x band: how many, at which phase, how consistently.

Inputs are what detection produced (:class:`~sleepspindles.detection.RecordingContext`): the
spindles annotated by the slow-oscillation engine (``so_coupled``: peak inside an SO of its
channel; ``so_phase``: the SO phase there, degrees, :data:`~sleepspindles.schema.PHASE_CONVENTION`,
NaN for uncoupled spindles), the SO events, and the engine's surrogate phases (each coupled
spindle's peak moved to ``n_surrogates`` uniform random times within its own SO).

Rows follow the spindle summary (:func:`.summary.stage_groups`): every EEG channel (dropped
and unmeasurable ones included, NaN with the reason), each searched spindle stage and their
union (``UNSCORED`` without a hypnogram), and the bands ``all``, ``fast`` (frequency >=
``summary.fast_threshold``) and ``slow``. Per row:

* counts: spindles, SOs whose negative peak lies in the stage group, coupled spindles; the
  percentage of spindles that are coupled and of SOs holding at least one spindle peak of the
  band (a spindle of any stage: the SO's stage decides the row);
* coupled and uncoupled densities per minute of the spindle detection's analysed time;
* the phase statistics of the coupled spindles (:mod:`.circular`): circular mean (degrees in
  (-180, 180]), mean vector length (biased upwards by few spindles), pairwise phase consistency
  (unbiased, compare this one across channels or subjects), Rayleigh's z and asymptotic p, and
  the surrogate test of the MVL. Rayleigh's p assumes phases uniform under the null; the
  surrogates draw the null from the spindles' own SOs instead (peak times uniform within each,
  whatever phases those times give), with the seed recorded. With fewer than two coupled
  spindles every phase statistic is NaN and ``note`` says so: a phase is never made up as 0.

Surrogate rows. ``SurrogatePhases.rows`` are *positions* (0 .. n - 1) in the annotated spindle
table exactly as the engine returned it (``context.detections["spindles"].events``), not index
labels: the table is read here by position, and a table whose coupled spindles are not those
rows (re-sorted or filtered after the engine) is refused rather than paired with the wrong
surrogates.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import ConfigError, param_error
from ..schema import COUPLING
from .circular import circular_mean, mvl, ppc, rayleigh, surrogate_test_of_resultants
from .summary import StageGroup, rate, stage_groups

if TYPE_CHECKING:
    from ..detection import RecordingContext
    from ..detection.slow_oscillations.engine import SurrogatePhases

__all__ = ["coupling_table"]

_PHASE_COLUMNS = ("phase_deg", "mvl", "ppc", "rayleigh_z", "rayleigh_p", "surrogate_z", "surrogate_p")
_MIN_COUPLED = 2  # the fewest phases a consistency (PPC, Rayleigh, surrogates) can be measured on
_BANDS = ("all", "fast", "slow")


class _Annotated:
    """A recording's annotated spindles read by position, with their channel's SOs and surrogates.

    Attributes
    ----------
    spindles : pandas.DataFrame
        The annotated spindle table with its index replaced by the positions 0 .. n - 1.
    surrogates : mapping of str to SurrogatePhases
        The SO engine's, per channel.
    channel : numpy.ndarray of object
        Per spindle: its channel.
    coupled : numpy.ndarray of bool
        Per spindle: its peak lies inside an SO of its channel.
    phase : numpy.ndarray of float
        Per spindle: SO phase in radians (NaN when uncoupled).
    in_band : dict of str to numpy.ndarray of bool
        Per band (``all``, ``fast``, ``slow``): the spindles in it.
    surrogate_row : numpy.ndarray of int
        Per spindle: its row in its channel's ``SurrogatePhases.units`` (-1 when uncoupled).
    holder : numpy.ndarray of int
        Per spindle: index in :attr:`so_stage` of its channel of the SO holding its peak (-1 when uncoupled).
    so_stage : dict of str to numpy.ndarray
        Per channel: the stage of each of its SOs (at the negative peak), in start order.
    """

    def __init__(self, spindles: pd.DataFrame, sos: pd.DataFrame, surrogates: Mapping[str, SurrogatePhases],
                 fast_threshold: float) -> None:
        self.spindles = spindles.reset_index(drop=True)  # labels = positions, as the surrogate rows
        self.surrogates = surrogates
        self.channel = self.spindles["channel"].to_numpy(dtype=object)
        # NA ("not computed") cannot come from the SO engine, which annotates every spindle.
        self.coupled = self.spindles["so_coupled"].to_numpy(dtype=bool, na_value=False)
        self.phase = np.deg2rad(self.spindles["so_phase"].to_numpy(dtype=np.float64))
        fast = self.spindles["frequency"].to_numpy(dtype=np.float64) >= fast_threshold
        self.in_band = dict(zip(_BANDS, (np.ones(fast.size, dtype=bool), fast, ~fast)))
        self.surrogate_row = _surrogate_rows(self.channel, self.coupled, surrogates)
        self.holder = np.full(len(self.spindles), -1, dtype=np.int64)
        self.so_stage: dict[str, np.ndarray] = {}
        peaks = self.spindles["sigma_peak"].to_numpy(dtype=np.float64)
        for name, one in sos.groupby("channel", sort=False):
            one = one.sort_values("start", kind="stable")
            self.so_stage[name] = one["stage"].to_numpy(dtype=object)
            mine = np.flatnonzero(self.coupled & (self.channel == name))
            start, end = one["start"].to_numpy(np.float64), one["end"].to_numpy(np.float64)
            self.holder[mine] = _holders(peaks[mine], start, end)

    def null_resultants(self, channel: str, coupled: np.ndarray) -> np.ndarray:
        """Per surrogate, the resultant of the coupled spindles at positions ``coupled`` of ``channel``.

        The sum of their surrogate phases' unit vectors (accumulated in complex128), in position
        order: the values :func:`.circular.surrogate_test` computes from those phases.
        """
        return self.surrogates[channel].units[self.surrogate_row[coupled]].sum(axis=0, dtype=np.complex128)


def _surrogate_rows(channel: np.ndarray, coupled: np.ndarray, surrogates: Mapping[str, SurrogatePhases]) -> np.ndarray:
    """Per spindle position, its row in its channel's surrogate phases (-1 for an uncoupled spindle).

    Refuses surrogates that do not index exactly the coupled spindles of their channel: a table
    re-sorted or filtered after the engine would otherwise pair phases with other spindles' nulls.
    """
    out = np.full(channel.size, -1, dtype=np.int64)
    for name, found in surrogates.items():
        rows = np.asarray(found.rows, dtype=np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= channel.size or (channel[rows] != name).any()):
            raise _not_the_engines_table()
        out[rows] = np.arange(rows.size)
    if not np.array_equal(out >= 0, coupled):
        raise _not_the_engines_table()
    return out


def _not_the_engines_table() -> ConfigError:
    """The error for surrogates that do not index the spindle table given."""
    return param_error("context", "the spindle table the slow-oscillation engine annotated, by position "
                       "(extra['surrogates'] rows are positions in it)",
                       "a spindle table whose coupled spindles are not the surrogates' rows")


def _holders(peaks: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Index of the SO holding each coupled spindle's peak: the SO interval nearest to it.

    The engine decided coupling on its internal sample grid; the nearest interval (0 s away for
    a peak inside it) absorbs that rounding at an SO's edges without redoing the engine's grid.
    """
    if peaks.size == 0:
        return np.zeros(0, dtype=np.int64)
    after = np.clip(np.searchsorted(start, peaks, side="right"), 1, start.size)
    before, later = after - 1, np.minimum(after, start.size - 1)

    def gap(k: np.ndarray) -> np.ndarray:
        return np.maximum(np.maximum(start[k] - peaks, peaks - end[k]), 0.0)

    return np.where(gap(before) <= gap(later), before, later)


def _phase_statistics(data: _Annotated, channel: str, coupled: np.ndarray) -> dict[str, float]:
    """The phase columns of the coupled spindles at positions ``coupled`` of ``channel``."""
    if coupled.size < _MIN_COUPLED:
        return dict.fromkeys(_PHASE_COLUMNS, math.nan)
    phases = data.phase[coupled]
    rayleigh_z, rayleigh_p = rayleigh(phases)
    surrogate_z, surrogate_p, _ = surrogate_test_of_resultants(phases, data.null_resultants(channel, coupled), "mvl")
    return {"phase_deg": math.degrees(circular_mean(phases)), "mvl": mvl(phases), "ppc": ppc(phases),
            "rayleigh_z": rayleigh_z, "rayleigh_p": rayleigh_p, "surrogate_z": surrogate_z,
            "surrogate_p": surrogate_p}


def _note(group: StageGroup, band: str, n_spindles: int, n_so: int, n_coupled: int) -> str:
    """Why the row's values are NaN: the analysed time's note, then what coupling lacked."""
    reasons = [group.note] if group.note else []
    if group.minutes <= 0:  # nothing was measured: the time's note says all
        return "; ".join(reasons)
    if n_spindles == 0:
        reasons.append(f"no spindle{'' if band == 'all' else f' in the {band} band'}")
    elif n_coupled < _MIN_COUPLED:
        reasons.append(f"fewer than {_MIN_COUPLED} coupled spindles ({n_coupled}): no phase statistics")
    if n_so == 0:
        reasons.append("no slow oscillation")
    return "; ".join(reasons)


def _band_rows(data: _Annotated, group: StageGroup, positions: np.ndarray) -> list[dict]:
    """The rows of one channel x stage group, one per band (``positions``: its spindles)."""
    so_stage = data.so_stage.get(group.channel, np.zeros(0, dtype=object))
    in_group = np.isin(so_stage, group.stages)
    n_so = int(in_group.sum())
    on_channel = data.channel == group.channel
    rows = []
    for band, in_band in data.in_band.items():
        chosen = positions[in_band[positions]]
        coupled = chosen[data.coupled[chosen]]
        n, n_coupled = chosen.size, coupled.size
        # An SO of the group holds a spindle of the band whatever the spindle's own stage.
        holding = np.zeros(so_stage.size, dtype=bool)
        holding[data.holder[data.coupled & on_channel & in_band]] = True
        rows.append({
            **group.columns(), "band": band, "n_spindles": n, "n_so": n_so, "n_coupled": n_coupled,
            "pct_coupled": 100.0 * n_coupled / n if n else math.nan,
            "pct_so_with_spindle": 100.0 * float(holding[in_group].mean()) if n_so else math.nan,
            "coupled_density": rate(n_coupled, group.minutes),
            "uncoupled_density": rate(n - n_coupled, group.minutes),
            **_phase_statistics(data, group.channel, coupled),
            "note": _note(group, band, n, n_so, n_coupled),
        })  # fmt: skip
    return rows


def coupling_table(context: RecordingContext) -> pd.DataFrame:
    """SO-spindle coupling per channel x stage group x band (the producer of :data:`~sleepspindles.schema.COUPLING`).

    Parameters
    ----------
    context : RecordingContext
        A recording with its ``spindles`` and ``slow_oscillations`` detections: the spindle
        events annotated by the SO engine, exactly as it returned them (its surrogate rows are
        positions in that table), with their coverage; the SO events; ``extra["surrogates"]``
        and ``extra["seed"]`` of the SO detection.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`sleepspindles.schema.COUPLING`, one row per EEG channel (dropped and
        unmeasurable ones included) x stage group (each of ``detection.stages`` and their
        union; ``UNSCORED`` without a hypnogram) x band (``all``, ``fast``, ``slow``). Phase
        statistics are NaN with fewer than two coupled spindles, rates NaN without analysed
        time, percentages NaN without spindles or SOs; ``note`` says why.

    Raises
    ------
    ConfigError
        When the surrogates' rows are not the positions of the coupled spindles in the table
        (a spindle table re-sorted or filtered after the SO engine).
    """
    spindles, so = context.detections["spindles"], context.detections["slow_oscillations"]
    config = context.config
    data = _Annotated(spindles.events, so.events, so.extra["surrogates"], config.summary.fast_threshold)
    run = {"n_surrogates": config.slow_oscillations.n_surrogates, "seed": int(so.extra["seed"])}
    groups = stage_groups(data.spindles, context.recording, context.hypnogram, config.detection.stages,
                          spindles.coverage, config.detection.flat_seconds)
    rows = [{**row, **run} for group, found in groups for row in _band_rows(data, group, found.index.to_numpy())]
    return COUPLING.conform(pd.DataFrame(rows, columns=list(COUPLING.names)))
