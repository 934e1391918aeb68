"""Slow oscillations (SOs) planted in a synthetic night, and spindles locked to their phase.

Phase convention (the project's, everywhere): the phase of the SO-band signal is the angle of
its analytic (Hilbert) signal; 0 deg is the SO positive peak (up-state), +-180 deg the trough
(down-state), +90 deg the down-going (positive-to-negative) zero crossing and -90 deg the
up-going (negative-to-positive) zero crossing.

An SO is planted as one clean cycle ``x(t) = A cos(phi(t))`` of duration ``T = 1 / frequency``,
``phi`` rising linearly from +90 deg at ``start`` (down-going crossing) through 180 (trough,
``neg_peak = start + T/4``), 270 = -90 (up-going crossing, ``mid_crossing = start + T/2``) and
360 = 0 (positive peak, ``pos_peak = start + 3T/4``) to 450 = +90 (``end = start + T``, the next
down-going crossing); :func:`so_phase` gives ``phi`` wrapped to [-180, 180). Coupled spindles
are placed by it: a spindle's peak (the centre of its envelope, the truth's ``peak``) falls
where ``phi`` equals a phase drawn from VonMises(``coupling_phase``, ``coupling_kappa``).

The Hilbert phase of the band-passed (0.3-1.5 Hz) signal follows ``phi``, not exactly: a lone
cycle is not a pure tone, and its band-limited analytic signal bends the phase towards the mid
crossing by up to ~15 deg near the trough and the peak for the fastest (1.1 Hz) cycles, ~7 deg
on average over the default frequencies at the positive peak (second-order Butterworth,
zero-phase), a few degrees near the crossings; background noise adds scatter.

On a channel with SOs, the night's N2/N3 background loses its content below ~1.5 Hz (see
:mod:`.night`): its slow waves are the planted SOs, so that a standard detector finds them and
little else (``yasa.sw_detect`` with its defaults: recall ~0.96, precision ~1.0 at 8 SOs per
minute of N3).

SOs lie wholly inside runs of N2 or N3 epochs, at least :data:`SO_MIN_GAP` apart on a channel
and :data:`SO_EDGE` away from the ends of the night; a fraction ``so_shared_fraction`` is global
(same time and frequency on every EEG channel, amplitude drawn per channel).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ..errors import param_error
from ..hypnogram import Hypnogram, Stage
from .placement import (
    RNG_SO,
    RNG_SO_SHARED,
    draw_intervals,
    fits,
    on_grid,
    rng_for,
    stage_segments,
    subtract,
    take,
)

if TYPE_CHECKING:
    from .night import SyntheticConfig

__all__ = [
    "SO_TRUTH_COLUMNS",
    "SO_PER_CHANNEL",
    "SO_MIN_GAP",
    "SO_EDGE",
    "check_so_config",
    "empty_so_truth",
    "plant_slow_oscillations",
    "couple_spindles",
    "so_phase",
]

logger = logging.getLogger(__name__)

#: Columns of :attr:`~sleepspindles.synthetic.SyntheticNight.so_truth`: landmarks in seconds
#: (as in the module docstring), ``val_neg`` / ``val_pos`` the planted trough (negative) and
#: peak in uV, ``ptp`` their difference, ``frequency`` 1 / ``duration`` in Hz, ``shared`` True
#: for global SOs (planted on every EEG channel at once).
SO_TRUTH_COLUMNS: tuple[str, ...] = (
    "channel", "stage", "start", "neg_peak", "mid_crossing", "pos_peak", "end", "duration",
    "val_neg", "val_pos", "ptp", "frequency", "shared",
)
SO_MIN_GAP = 0.5  # seconds between consecutive SOs of a channel: each stays one isolated cycle
SO_EDGE = 5.0  # seconds kept free of SOs at both ends of the night, where filters ring
_STAGES = (Stage.N3, Stage.N2)
_MAX_SO_DENSITY = 20.0  # per minute; cycles of ~1.3 s 0.5 s apart would fit ~33
_SO_BAND = (0.1, 4.0)  # Hz: SO frequencies allowed, one slow cycle no faster than delta
_MAX_KAPPA = 1000.0  # von Mises concentration; phases within ~2 deg of the mean already
#: The per-channel SO and coupling fields of :class:`~sleepspindles.synthetic.SyntheticConfig`:
#: (name, value of channels a mapping leaves out, low, high, what the values are).
SO_PER_CHANNEL = (
    ("so_density", 0.0, 0.0, _MAX_SO_DENSITY, "slow oscillations per minute"),
    ("coupled_fraction", 0.0, 0.0, 1.0, "fractions"),
    ("coupling_phase", 0.0, -180.0, 180.0, "phases in degrees"),
    ("coupling_kappa", 2.0, 0.0, _MAX_KAPPA, "von Mises concentrations"),
)


def check_so_config(config: SyntheticConfig) -> None:
    """Rules of the SO and coupling fields beyond each one's own range (checked already)."""
    low, high = config.so_frequency_range
    if not _SO_BAND[0] <= low <= high <= _SO_BAND[1]:
        raise param_error("so_frequency_range", f"inside {_SO_BAND} Hz", config.so_frequency_range)
    for channel, coupled, so_density in zip(config.channels, config.coupled_fraction, config.so_density):
        if coupled > 0 and so_density == 0:
            raise param_error("coupled_fraction", "0 on channels without slow oscillations (so_density 0)",
                              {channel: coupled})
        if coupled + config.shared_fraction > 1.0:
            raise param_error("coupled_fraction", f"at most 1 - shared_fraction = {1 - config.shared_fraction:g}",
                              {channel: coupled})


def empty_so_truth() -> pd.DataFrame:
    """The SO truth table of a night without SOs (columns only)."""
    return _so_rows("", np.empty((0, 3)), np.empty(0), False)


def _so_segments(hypnogram: Hypnogram, stage: Stage, duration: float) -> np.ndarray:
    """Runs of ``stage`` where SOs may go: half a gap inside stage changes, away from the ends."""
    segments = np.clip(stage_segments(hypnogram, stage, duration, SO_MIN_GAP / 2.0), SO_EDGE, duration - SO_EDGE)
    return segments[segments[:, 1] > segments[:, 0]]


def _render(row: np.ndarray, intervals: np.ndarray, amps: np.ndarray, sf: float) -> None:
    """Add one cycle ``amp * cos(phi)``, phi from 90 to 450 deg, per interval to ``row`` in place."""
    for (start, end), amp in zip(intervals[:, :2], amps):
        first = int(round(start * sf))
        n = int(round((end - start) * sf))
        phi = np.pi / 2.0 + 2.0 * np.pi * np.arange(n) / n
        row[first:first + n] += (amp * np.cos(phi)).astype(np.float32)


def _so_rows(channel: str, intervals: np.ndarray, amps: np.ndarray, shared: bool) -> pd.DataFrame:
    start, end = intervals[:, 0], intervals[:, 1]
    period = end - start
    return pd.DataFrame(
        {
            "channel": channel,
            "stage": [Stage(int(c)).name for c in intervals[:, 2]],
            "start": start,
            "neg_peak": start + period / 4.0,
            "mid_crossing": start + period / 2.0,
            "pos_peak": start + 3.0 * period / 4.0,
            "end": end,
            "duration": period,
            "val_neg": -amps,
            "val_pos": amps,
            "ptp": 2.0 * amps,
            "frequency": 1.0 / period,
            "shared": shared,
        },
        columns=list(SO_TRUTH_COLUMNS),
    ).astype({"channel": "object", "stage": "object", "shared": "bool"})


def plant_slow_oscillations(data: np.ndarray, config: SyntheticConfig, hypnogram: Hypnogram) -> pd.DataFrame:
    """Plant SOs in the EEG rows of ``data`` (in place); return the SO truth table.

    Each channel gets Poisson(``so_density`` x N3 minutes) SOs in N3 and Poisson(``so_density``
    x ``so_n2_ratio`` x N2 minutes) in N2, laid out uniformly at random without overlap; the
    frequency is uniform over ``so_frequency_range`` (the cycle is whole samples long, so the
    truth's ``frequency`` is 1 / the planted duration), the peak-to-peak amplitude uniform over
    ``so_amplitude_range``. Global SOs (``so_shared_fraction`` of the lowest channel density)
    are placed first and the channel's own SOs in the time left.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`SO_TRUTH_COLUMNS`, sorted by channel and start.
    """
    sf = config.sf
    duration = data.shape[1] / sf
    segments = {s: _so_segments(hypnogram, s, duration) for s in _STAGES}
    exposure = {Stage.N3: hypnogram.minutes(Stage.N3), Stage.N2: config.so_n2_ratio * hypnogram.minutes(Stage.N2)}
    shared_density = config.so_shared_fraction * min(config.so_density)
    rng = rng_for(config.seed, RNG_SO_SHARED)
    shared = draw_intervals(segments, {s: shared_density * exposure[s] for s in _STAGES},
                            _period_drawer(config, rng), SO_MIN_GAP, sf, rng)
    tables = [empty_so_truth()]
    for i, channel in enumerate(config.channels):
        if config.so_density[i] == 0:
            continue
        rng = rng_for(config.seed, RNG_SO, i)
        free = {s: subtract(seg, shared[:, :2], SO_MIN_GAP + 1.0 / sf) for s, seg in segments.items()}
        own_density = max(0.0, config.so_density[i] - shared_density)
        own = draw_intervals(free, {s: own_density * exposure[s] for s in _STAGES},
                             _period_drawer(config, rng), SO_MIN_GAP, sf, rng)
        for intervals, is_shared in ((own, False), (shared, True)):
            amps = rng.uniform(*config.so_amplitude_range, size=len(intervals)) / 2.0
            _render(data[i], intervals, amps, sf)
            tables.append(_so_rows(channel, intervals, amps, is_shared))
    truth = pd.concat(tables, ignore_index=True)
    return truth.sort_values(["channel", "start"], kind="stable").reset_index(drop=True)


def _period_drawer(config: SyntheticConfig, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    """``count -> durations``: one cycle of a frequency uniform over ``so_frequency_range``."""
    return lambda count: 1.0 / rng.uniform(*config.so_frequency_range, size=count)


def so_phase(times: float | np.ndarray, start: float | np.ndarray,
             duration: float | np.ndarray) -> float | np.ndarray:
    """Phase in degrees, in [-180, 180), at ``times`` of planted SOs (``start``, ``duration``).

    Parameters
    ----------
    times, start, duration : float or numpy.ndarray
        Seconds; broadcast together.

    Returns
    -------
    float or numpy.ndarray
        ``phi(times)`` of the module docstring, wrapped: 90 at ``start``, 180 at the trough,
        -90 at the mid crossing, 0 at the positive peak.
    """
    phi = 90.0 + 360.0 * (np.asarray(times) - start) / duration
    return (phi + 180.0) % 360.0 - 180.0


def couple_spindles(
    free: dict[Stage, np.ndarray],
    sos: pd.DataFrame,
    expected: dict[Stage, float],
    draw_durations: Callable[[int], np.ndarray],
    phase: float,
    kappa: float,
    gap: float,
    sf: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Place spindles inside the SOs of one channel, peaks at von Mises phases.

    Per stage, Poisson(``expected[stage]``) spindles with durations ``draw_durations(count)``
    (whole samples) and peak phases from VonMises(``phase``, ``kappa``). Each phase is kept as
    drawn (so the phases follow that law exactly) and the spindle goes to an SO chosen uniformly
    among those where the spindle, its envelope centre at that phase, lies in ``free``: it keeps
    ``gap`` from every other spindle and stays inside the SO's stage run. One spindle per SO; a
    spindle that fits no SO is dropped with a warning.

    Parameters
    ----------
    free : dict of Stage to numpy.ndarray
        Free (start, end) pieces per stage; the placed spindles are taken out, in place.
    sos : pandas.DataFrame
        The channel's SO truth rows (``stage``, ``start``, ``duration``).
    expected : dict of Stage to float
        Expected number of coupled spindles per stage.
    draw_durations : callable
        ``count -> durations`` in seconds.
    phase, kappa : float
        Mean phase in degrees and von Mises concentration (0 = uniform).
    gap : float
        Minimum gap in seconds around each spindle taken out of ``free``.
    sf : float
        Sampling rate: onsets go on the sample grid.
    rng : numpy.random.Generator

    Returns
    -------
    intervals : numpy.ndarray, shape (k, 3)
        (start, end, stage code) of the placed spindles, sorted by start.
    phases : numpy.ndarray, shape (k,)
        SO phase in degrees at each spindle's peak ``(start + end) / 2``.
    """
    rows, wanted = [np.empty((0, 4))], 0
    for stage in free:
        durations = on_grid(draw_durations(rng.poisson(expected[stage])), sf)
        drawn = np.rad2deg(rng.vonmises(np.deg2rad(phase), kappa, size=durations.size))
        free[stage], placed = _couple_in_stage(free[stage], sos[sos.stage == stage.name], durations, drawn, gap,
                                               sf, rng)
        rows.append(np.insert(placed, 2, int(stage), axis=1))
        wanted += durations.size
    out = np.concatenate(rows)
    if len(out) < wanted:
        logger.warning("dropped %d coupled spindle(s) that fit in no slow oscillation", wanted - len(out))
    out = out[np.argsort(out[:, 0], kind="stable")]
    return out[:, :3], out[:, 3]


def _couple_in_stage(pieces: np.ndarray, hosts: pd.DataFrame, durations: np.ndarray, phases: np.ndarray,
                     gap: float, sf: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Spindles of one stage into distinct SOs of ``hosts``: (free pieces left, (start, end, phase) rows)."""
    start, period = hosts.start.to_numpy(), hosts.duration.to_numpy()
    # Where each phase falls in a cycle that starts at +90 deg, as a fraction of the cycle.
    offsets = np.mod(phases - 90.0, 360.0) / 360.0
    used = np.zeros(len(hosts), dtype=bool)
    rows = []
    for length, offset in zip(durations, offsets):
        onsets = np.round((start + offset * period - length / 2.0) * sf) / sf
        ok = np.flatnonzero(~used & fits(pieces, onsets, onsets + length))
        if ok.size:
            k = rng.choice(ok)
            used[k] = True
            pieces = take(pieces, onsets[k], onsets[k] + length, gap)
            peak = onsets[k] + length / 2.0
            rows.append((onsets[k], onsets[k] + length, so_phase(peak, start[k], period[k])))
    return pieces, np.asarray(rows, dtype=np.float64).reshape(-1, 3)
