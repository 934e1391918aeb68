"""Spindles planted in a synthetic night: how they are drawn, rendered and recorded as truth.

A spindle is a Tukey-windowed (waxing-waning) sinusoid: duration uniform over
``duration_range`` (whole samples), frequency a normal truncated to ``freq_range`` (or
uniform), peak amplitude uniform over ``amplitude_range``, carrier phase uniform. These draws
are shared by the free and global spindles planted here and by the SO-coupled ones
(:func:`plant_coupled_spindles`); where the
intervals go follows the common layout rules of :mod:`.placement`. Every planted spindle
becomes one row of the truth table (:data:`TRUTH_COLUMNS`).

Times are in seconds; intervals are ``(start, end, stage code)`` rows of float arrays.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.signal.windows import tukey
from scipy.stats import truncnorm

from ..hypnogram import Hypnogram, Stage
from .placement import RNG_COUPLED, RNG_SHARED, RNG_SPINDLES, draw_intervals, rng_for, stage_segments, subtract
from .slow_oscillations import couple_spindles

if TYPE_CHECKING:
    from .night import SyntheticConfig

__all__ = [
    "TRUTH_COLUMNS",
    "spindle_durations",
    "draw_frequencies",
    "render_spindles",
    "truth_rows",
]

#: Columns of :attr:`~sleepspindles.synthetic.SyntheticNight.truth` (meaning as in
#: :mod:`sleepspindles.events`, plus ``shared``: the spindle was planted on every EEG channel at
#: once; ``so_coupled``: planted inside a slow oscillation of its channel; ``so_phase``: that
#: SO's phase in degrees at the spindle's ``peak``, NaN when not coupled).
TRUTH_COLUMNS: tuple[str, ...] = (
    "channel", "stage", "start", "peak", "end", "duration", "amplitude", "frequency", "shared",
    "so_coupled", "so_phase",
)


# ---------------------------------------------------------------------------- spindle draws

_SPINDLE_TAPER = 0.5  # Tukey alpha: a quarter of the duration waxing, a quarter waning


def draw_frequencies(config: SyntheticConfig, size: int, rng: np.random.Generator) -> np.ndarray:
    """Spindle frequencies: truncated normal (or uniform) over ``config.freq_range``."""
    low, high = config.freq_range
    if config.freq_sd is None or high == low:
        return rng.uniform(low, high, size=size)
    centre = (low + high) / 2.0
    bound = (high - low) / 2.0 / config.freq_sd
    return truncnorm.rvs(-bound, bound, loc=centre, scale=config.freq_sd, size=size, random_state=rng)


def render_spindles(row: np.ndarray, intervals: np.ndarray, freqs: np.ndarray, amps: np.ndarray,
                    phases: np.ndarray, sf: float) -> None:
    """Add Tukey-windowed sinusoids (peak amplitude ``amps``) to ``row`` in place."""
    for (start, end), freq, amp, phase in zip(intervals[:, :2], freqs, amps, phases):
        first = int(round(start * sf))
        n = int(round((end - start) * sf))
        t = np.arange(n) / sf
        wave = amp * tukey(n, _SPINDLE_TAPER) * np.sin(2.0 * np.pi * freq * t + phase)
        row[first:first + n] += wave.astype(np.float32)


def truth_rows(channel: str, intervals: np.ndarray, freqs: np.ndarray, amps: np.ndarray,
               shared: bool, so_phase: np.ndarray | None = None) -> pd.DataFrame:
    """Truth table rows (:data:`TRUTH_COLUMNS`) of spindles planted on ``channel``."""
    start, end = intervals[:, 0], intervals[:, 1]
    so_phase = np.full(len(intervals), np.nan) if so_phase is None else so_phase
    return pd.DataFrame(
        {
            "channel": channel,
            "stage": [Stage(int(c)).name for c in intervals[:, 2]],
            "start": start,
            "peak": (start + end) / 2.0,
            "end": end,
            "duration": end - start,
            "amplitude": 2.0 * amps,
            "frequency": freqs,
            "shared": shared,
            "so_coupled": np.isfinite(so_phase),
            "so_phase": so_phase,
        },
        columns=list(TRUTH_COLUMNS),
    )


def spindle_durations(config: SyntheticConfig, rng: np.random.Generator) -> Callable[[int], np.ndarray]:
    """``count -> durations``: uniform over ``duration_range``."""
    return lambda count: rng.uniform(*config.duration_range, size=count)


# ---------------------------------------------------------------------------------- planting


def plant_spindles(data: np.ndarray, config: SyntheticConfig, hypnogram: Hypnogram,
                    so_truth: pd.DataFrame) -> pd.DataFrame:
    """Plant spindles in the EEG rows of ``data`` (in place); return the truth table.

    Global spindles go first, then each channel's SO-coupled ones (inside its SOs of
    ``so_truth``), then its free ones in the time left.
    """
    duration = data.shape[1] / config.sf
    gap = config.min_gap
    segments = {s: stage_segments(hypnogram, s, duration, gap / 2.0) for s in (Stage.N2, Stage.N3)}
    # Expected spindles per unit of N2 density: N2 minutes, and N3 minutes at the N3 ratio.
    exposure = {
        Stage.N2: hypnogram.minutes(Stage.N2),
        Stage.N3: config.n3_ratio * hypnogram.minutes(Stage.N3),
    }
    shared_density = config.shared_fraction * min(config.density)
    rng = rng_for(config.seed, RNG_SHARED, 1)
    shared = draw_intervals(segments, {s: shared_density * exposure[s] for s in segments},
                            spindle_durations(config, rng), gap, config.sf, rng)
    shared_freqs = draw_frequencies(config, len(shared), rng)
    shared_phases = rng.uniform(0.0, 2.0 * np.pi, size=len(shared))
    tables = []
    for i, channel in enumerate(config.channels):
        free = {s: subtract(seg, shared[:, :2], gap + 1.0 / config.sf) for s, seg in segments.items()}
        coupled_density = config.coupled_fraction[i] * config.density[i]
        if coupled_density > 0:
            expected = {s: coupled_density * exposure[s] for s in segments}
            sos = so_truth[so_truth.channel == channel]
            tables.append(plant_coupled_spindles(data[i], config, i, free, sos, expected))
        rng = rng_for(config.seed, RNG_SPINDLES, i)
        own_density = max(0.0, config.density[i] - shared_density - coupled_density)
        own = draw_intervals(free, {s: own_density * exposure[s] for s in segments},
                             spindle_durations(config, rng), gap, config.sf, rng)
        freqs = draw_frequencies(config, len(own), rng)
        phases = rng.uniform(0.0, 2.0 * np.pi, size=len(own))
        amps = rng.uniform(*config.amplitude_range, size=len(own) + len(shared))
        render_spindles(data[i], own, freqs, amps[: len(own)], phases, config.sf)
        render_spindles(data[i], shared, shared_freqs, amps[len(own):], shared_phases, config.sf)
        tables += [truth_rows(channel, own, freqs, amps[: len(own)], False),
                   truth_rows(channel, shared, shared_freqs, amps[len(own):], True)]
    truth = pd.concat(tables, ignore_index=True)
    truth = truth.sort_values(["channel", "start"], kind="stable").reset_index(drop=True)
    return truth.astype({"start": "float64", "amplitude": "float64", "shared": "bool", "so_coupled": "bool",
                         "so_phase": "float64"})


def plant_coupled_spindles(row: np.ndarray, config: SyntheticConfig, index: int, free: dict[Stage, np.ndarray],
                           sos: pd.DataFrame, expected: dict[Stage, float]) -> pd.DataFrame:
    """Plant channel ``index``'s SO-coupled spindles in ``row`` (in place).

    Placed by :func:`couple_spindles` (taking them out of ``free``), drawn like the channel's
    other spindles, from their own stream so that the others' streams do not change.

    Returns
    -------
    pandas.DataFrame
        Their truth rows (:data:`~sleepspindles.synthetic.spindles.TRUTH_COLUMNS`).
    """
    rng = rng_for(config.seed, RNG_COUPLED, index)
    intervals, phases = couple_spindles(
        free, sos, expected, spindle_durations(config, rng), config.coupling_phase[index],
        config.coupling_kappa[index], config.min_gap + 1.0 / config.sf, config.sf, rng,
    )
    freqs = draw_frequencies(config, len(intervals), rng)
    amps = rng.uniform(*config.amplitude_range, size=len(intervals))
    carriers = rng.uniform(0.0, 2.0 * np.pi, size=len(intervals))
    render_spindles(row, intervals, freqs, amps, carriers, config.sf)
    return truth_rows(config.channels[index], intervals, freqs, amps, False, phases)
