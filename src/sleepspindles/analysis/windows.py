"""Event rates per window of the night: the whole night, each sleep cycle, the early night.

Local measures change across the night (spindles and slow waves have different time courses,
and a learning effect may be strongest early), so ``windows.csv`` gives, per EEG channel,
window and measure, the events counted in the window and the time analysed there:

==================  ===================================================================
window              epochs
==================  ===================================================================
night               every epoch of the searched spindle stages (``detection.stages``)
cycle k             those of the NREM period of sleep cycle k (:meth:`Hypnogram.cycles`)
first 20 min N2     the first :data:`EARLY_N2_MINUTES` of N2 from sleep onset
first 60 min NREM   the first ``slow_oscillations.swa_first_minutes`` of the searched stages
==================  ===================================================================

(the windows of :func:`.slow_waves.swa_windows`, whose SWA per cycle and early window is in
``swa.csv``). Measures: ``spindle_density`` (spindle peaks in the searched spindle stages),
``so_density`` (SO negative peaks in the searched SO stages) and ``coupled_density`` (coupled
spindles), each per analysed minute of the window in the measure's stages: the scored time
minus the samples that are not finite or flat (as :mod:`sleepspindles.detection.coverage`
counts them), so an electrode that came off in cycle 3 lowers cycle 3's minutes, not its rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import Config
from ..detection.coverage import Coverage
from ..hypnogram import Hypnogram, parse_stages
from ..recording import Recording
from ..schema import WINDOWS
from .slow_waves import swa_windows
from .summary import UNMEASURABLE_NOTE, rate

__all__ = ["EARLY_N2_MINUTES", "analysed_minutes", "night_windows", "window_rates", "windows_table"]

#: Length of the early-night N2 window, in minutes of N2 from sleep onset.
EARLY_N2_MINUTES = 20.0


def night_windows(
    hypnogram: Hypnogram, config: Config, sf: float, n_samples: int
) -> list[tuple[str, str, np.ndarray]]:
    """The windows of the module docstring, each with its complete epochs inside the signal.

    Returns
    -------
    list of (window, stages label, epoch indices)
        ``night``, ``cycle 1``..., ``first <n> min N2`` (when N2 is searched) and
        ``first <m> min NREM``.
    """
    stages = config.detection.stages
    names = [s.name for s in parse_stages(stages)]
    windows = swa_windows(hypnogram, stages, config.slow_oscillations.swa_first_minutes, sf, n_samples)
    whole = "NREM" if len(names) > 1 else names[0]
    out = [("night", label, epochs) for name, label, epochs in windows if name == whole]
    out += [w for w in windows[:-1] if w[0].startswith("cycle ")]
    if "N2" in names:
        early = swa_windows(hypnogram, ["N2"], EARLY_N2_MINUTES, sf, n_samples)[-1][2]
        out.append((f"first {EARLY_N2_MINUTES:g} min N2", "N2", early))
    return [*out, windows[-1]]


def analysed_minutes(coverage: Coverage, channels: Sequence[str]) -> dict[str, np.ndarray]:
    """Analysed minutes of every epoch, per channel (zeros for an unmeasurable one).

    The signal's time in each epoch minus its samples that are not finite or lie in a flat run:
    the exclusions :func:`sleepspindles.detection.coverage.coverage` counted, per epoch.
    """
    zeros = np.zeros_like(coverage.epoch_seconds)
    return {c: (coverage.epoch_seconds - coverage.epochs[c]) / 60.0 if c in coverage.epochs else zeros
            for c in channels}


def window_rates(
    recording: Recording,
    hypnogram: Hypnogram,
    events: Mapping[str, tuple[pd.DataFrame, str, Sequence[str]]],
    coverage: Coverage,
    config: Config | None = None,
) -> pd.DataFrame:
    """Events per analysed minute of every window, channel and measure.

    Parameters
    ----------
    recording : Recording
    hypnogram : Hypnogram
    events : mapping of str to (events table, time column, stages)
        Per measure name: its events (``channel`` and ``stage`` columns), the column holding the
        time that places an event in an epoch (``peak``, ``neg_peak``) and the stages its events
        are searched in.
    coverage : Coverage
        The analysed time of the detections (from ``hypnogram``); its unmeasurable channels
        get NaN values with the reason.
    config : Config, optional

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`sleepspindles.schema.WINDOWS`, per channel (EEG channels, then the
        unmeasurable ones the recording dropped), window and measure.
    """
    config = config or Config()
    unusable = coverage.unmeasurable
    windows = night_windows(hypnogram, config, recording.sf, recording.n_samples)
    channels = [*recording.eeg_channels, *(c for c in unusable if c not in recording.eeg_channels)]
    minutes = analysed_minutes(coverage, channels)
    rows = []
    for measure, (frame, column, stages) in events.items():
        searched = np.isin(hypnogram.stages, [int(s) for s in parse_stages(stages)])
        names = [s.name for s in parse_stages(stages)]
        # an event counts in a window when its epoch is one of the window's, in its searched stages
        epoch = _epochs_of(frame[column].to_numpy(float), hypnogram)
        kept = frame["stage"].isin(names).to_numpy()
        channel_of = frame["channel"].to_numpy(dtype=object)
        for window, label, epochs in windows:
            wanted = np.zeros(hypnogram.n_epochs + 1, dtype=bool)  # the extra slot: outside the hypnogram
            wanted[epochs] = searched[epochs]
            counted = kept & wanted[epoch]
            start, end = (hypnogram.offset + np.array([epochs[0], epochs[-1] + 1]) * hypnogram.epoch_length
                          if len(epochs) else (np.nan, np.nan))
            for channel in channels:
                analysed = float(minutes[channel][wanted[:-1]].sum()) if channel in minutes else 0.0
                n = int(np.count_nonzero(counted & (channel_of == channel)))
                note = UNMEASURABLE_NOTE + unusable[channel] if channel in unusable else (
                    "" if analysed > 0 else f"no analysed time in {window}")
                rows.append((channel, window, label, start, end, measure, n, analysed, rate(n, analysed), note))
    order = {c: i for i, c in enumerate(channels)}
    windows_order = {w[0]: i for i, w in enumerate(windows)}
    rows.sort(key=lambda row: (order[row[0]], windows_order[row[1]]))  # stable: measures keep their order
    return WINDOWS.conform(pd.DataFrame(rows, columns=list(WINDOWS.names)))


def _epochs_of(times: np.ndarray, hypnogram: Hypnogram) -> np.ndarray:
    """Epoch index of each time; ``n_epochs`` (in no window) for a time outside the hypnogram or NaN."""
    epoch = np.floor((times - hypnogram.offset) / hypnogram.epoch_length)
    inside = (epoch >= 0) & (epoch < hypnogram.n_epochs)
    return np.where(inside, epoch, hypnogram.n_epochs).astype(np.int64)


def windows_table(context) -> pd.DataFrame:
    """:func:`window_rates` of a recording context (the producer of :data:`sleepspindles.schema.WINDOWS`).

    Spindle density always; SO and coupled-spindle densities when slow oscillations were
    detected. Empty without a hypnogram (no cycle nor early window exists then).
    """
    if context.hypnogram is None:
        return WINDOWS.empty()
    config, found = context.config, context.detections
    spindles = found["spindles"]
    events = {"spindle_density": (spindles.events, "peak", config.detection.stages)}
    if "slow_oscillations" in found:
        events["so_density"] = (found["slow_oscillations"].events, "neg_peak", config.slow_oscillations.stages)
        coupled = spindles.events["so_coupled"].to_numpy(dtype=bool, na_value=False)
        events["coupled_density"] = (spindles.events.loc[coupled], "peak", config.detection.stages)
    return window_rates(context.recording, context.hypnogram, events, spindles.coverage, config)
