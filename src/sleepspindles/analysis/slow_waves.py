"""Slow oscillations (SO) per channel and stage, and slow-wave activity (SWA) per window of the night.

The SO summary follows the spindle summary's rules (:mod:`.summary`, whose helpers it shares):
one row per EEG channel (dropped and unmeasurable ones included, NaN with the reason) and stage
group (each searched stage and their union), densities per minute of the time actually analysed
on that channel, and the amplitude criterion and polarity check the engine applied per channel.

SWA is the Welch power (:func:`.spectral.epoch_band_powers`) in ``slow_oscillations.swa_band``,
absolute (uV^2) and relative to the power from the SWA band's low edge to the top of
``laterality.total_band`` (0.5-30 Hz: the reference band holds the SWA band, so the relative
value is a fraction), averaged over the complete epochs of a window: each searched stage,
``NREM`` (their union), the NREM period of each sleep cycle
(:meth:`~sleepspindles.hypnogram.Hypnogram.cycles`) and the first ``swa_first_minutes`` minutes
of NREM sleep (the searched stages) from sleep onset.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ..config import Config
from ..detection.coverage import unmeasurable
from ..errors import param_error
from ..hypnogram import Hypnogram, parse_stages
from ..recording import Recording
from ..schema import SO_SUMMARY, SWA
from .epoch_powers import EpochPowers, epoch_powers, shared_powers, swa_bands
from .spectral import resolves, select_epochs
from .summary import event_means, rate, stage_groups

__all__ = ["so_summary_table", "swa_windows", "slow_wave_activity", "swa_table"]

_MEANS = ("duration", "val_neg", "ptp", "slope", "frequency")
_CRITERIA = ("threshold", "polarity")  # columns of the engine's per-channel "so_channels" table


def so_summary_table(context) -> pd.DataFrame:
    """SO count, density and mean properties per channel and stage group.

    The producer of :data:`sleepspindles.schema.SO_SUMMARY`, by the spindle summary's rules
    (:func:`.summary.stage_groups`).

    Parameters
    ----------
    context : RecordingContext
        Its ``detections["slow_oscillations"]``: the SO events (``stage`` the stage at the
        negative peak), their coverage (measured on the recording when ``None``) and the
        engine's per-channel table ``tables["so_channels"]`` (``channel``, ``threshold``,
        ``polarity``); ``config.slow_oscillations.stages`` are the stages searched.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`sleepspindles.schema.SO_SUMMARY`, one row per EEG channel (dropped and
        unmeasurable ones included) and stage group: ``density`` is SOs per analysed minute (NaN
        with a ``note`` when there is none), the means NaN without an SO, ``threshold`` and
        ``polarity`` ``""`` for a channel the engine did not report.
    """
    found, config = context.detections["slow_oscillations"], context.config
    criteria = _criteria(found.tables.get("so_channels"))
    absent = dict.fromkeys(_CRITERIA, "")
    groups = stage_groups(found.events, context.recording, context.hypnogram, config.slow_oscillations.stages,
                          found.coverage, config.detection.flat_seconds)
    rows = [{**group.columns(), "n_so": len(sel), "density": rate(len(sel), group.minutes),
             **event_means(sel, _MEANS), **criteria.get(group.channel, absent)}
            for group, sel in groups]
    return SO_SUMMARY.conform(pd.DataFrame(rows, columns=list(SO_SUMMARY.names)))


def _criteria(channels: pd.DataFrame | None) -> dict[str, dict[str, str]]:
    """Channel -> its ``threshold`` and ``polarity`` texts, from the engine's per-channel table."""
    if channels is None or len(channels) == 0:
        return {}
    return {str(row["channel"]): {c: str(row[c]) for c in _CRITERIA} for _, row in channels.iterrows()}


def swa_windows(
    hypnogram: Hypnogram, stages: Sequence[str], first_minutes: float, sf: float, n_samples: int
) -> list[tuple[str, str, np.ndarray]]:
    """The windows SWA is averaged over, each with its complete epochs inside the signal.

    Parameters
    ----------
    hypnogram : Hypnogram
    stages : sequence of str
        The NREM stages searched (``("N2", "N3")``).
    first_minutes : float
        Length of the early-night window, in minutes of those stages.
    sf : float
        Sampling rate in Hz.
    n_samples : int
        Signal length in samples.

    Returns
    -------
    list of (window, stages label, epoch indices)
        In order: each stage (``"N2"``), ``"NREM"`` (their union, when there are several), the
        epochs of those stages in each cycle's NREM period (``"cycle 1"``...), and the first
        ``first_minutes`` minutes of them from sleep onset (``"first 60 min NREM"``; fewer when
        the night has fewer).
    """
    names = [s.name for s in parse_stages(stages)]
    label = "+".join(names)

    def pick(wanted: list[str], first: int = 0, stop: int | None = None) -> np.ndarray:
        return select_epochs(hypnogram, sf, n_samples, wanted, first, stop)

    windows = [(n, n, pick([n])) for n in names]
    if len(names) > 1:
        windows.append(("NREM", label, pick(names)))
    windows += [(f"cycle {c.index}", label, pick(names, c.start, c.nrem_end)) for c in hypnogram.cycles()]
    onset = hypnogram.sleep_onset()
    n_first = int(round(first_minutes * 60.0 / hypnogram.epoch_length))
    early = pick(names, hypnogram.n_epochs if onset is None else onset)[:n_first]
    windows.append((f"first {first_minutes:g} min NREM", label, early))
    return windows


def slow_wave_activity(
    recording: Recording, hypnogram: Hypnogram | None, config: Config | None = None, skip: Sequence[str] = (),
    powers: EpochPowers | None = None,
) -> pd.DataFrame:
    """SWA of every EEG channel of a recording per window of :func:`swa_windows`.

    Parameters
    ----------
    recording : Recording
        Signals in microvolts.
    hypnogram : Hypnogram or None
        The night's stages, which define every window (none without them).
    config : Config, optional
        ``slow_oscillations.stages``, ``swa_band`` and ``swa_first_minutes``;
        ``laterality.total_band`` and ``laterality.welch_window``.
    skip : sequence of str
        Channels not measured (``Coverage.unmeasurable``).
    powers : EpochPowers, optional
        Epoch powers already computed over (at least) these channels, the searched stages'
        epochs and the two bands (:func:`.epoch_powers.shared_powers`); computed here when not
        given, with the same result.

    Returns
    -------
    pandas.DataFrame
        Columns of :data:`sleepspindles.schema.SWA`, per channel then window: ``n_epochs`` the
        epochs averaged on that channel (those with a NaN or constant signal left out), ``power``
        and ``relative`` NaN without one, ``start``/``end`` the first epoch's start and the last
        epoch's end (s; NaN for a window without epochs). Empty without a hypnogram or channel,
        or when the sampling rate does not resolve the SWA band (a warning says so).

    Raises
    ------
    ConfigError
        When the Welch segments (``laterality.welch_window``, at most one epoch) are too short
        to resolve the band's low edge (2 s for 0.5 Hz: the frequency step is 1 / segment).
    """
    config = config or Config()
    so, lat = config.slow_oscillations, config.laterality
    channels = [c for c in recording.eeg_channels if c not in skip]
    low, high = so.swa_band
    if hypnogram is None or not channels or not resolves(recording, high, "slow_oscillations.swa_band", "SWA"):
        return SWA.empty()
    segment = min(lat.welch_window, hypnogram.epoch_length)
    if segment * low < 1.0:
        raise param_error("laterality.welch_window", f"at least {1 / low:g} s (and epochs as long) to resolve "
                          f"the SWA band's {low:g} Hz edge", segment)
    bands = swa_bands(config, recording.sf)
    windows = swa_windows(hypnogram, so.stages, so.swa_first_minutes, recording.sf, recording.n_samples)
    if powers is None:  # every window's epochs are among the searched stages': one periodogram per epoch serves all
        every = np.unique(np.concatenate([epochs for _, _, epochs in windows]))
        powers = epoch_powers(recording, hypnogram, channels, every, bands, lat.welch_window)
    rows = []
    for window, label, epochs in windows:
        power, used = powers.mean(bands, channels, epochs)
        start, end = (hypnogram.offset + np.array([epochs[0], epochs[-1] + 1]) * hypnogram.epoch_length
                      if len(epochs) else (np.nan, np.nan))
        with np.errstate(invalid="ignore", divide="ignore"):
            relative = power[0] / power[1]
        rows += [(c, window, label, start, end, used[i], low, high, power[0, i], relative[i])
                 for i, c in enumerate(channels)]
    rows.sort(key=lambda row: channels.index(row[0]))  # stable: per channel, windows in order
    return SWA.conform(pd.DataFrame(rows, columns=list(SWA.names)))


def swa_table(context) -> pd.DataFrame:
    """:func:`slow_wave_activity` of a recording context (the producer of :data:`sleepspindles.schema.SWA`)."""
    covered = context.detections["slow_oscillations"].coverage
    bad = covered.unmeasurable if covered is not None else unmeasurable(context.recording)
    shared = shared_powers(context) if context.hypnogram is not None else None
    return slow_wave_activity(context.recording, context.hypnogram, context.config, skip=list(bad), powers=shared)
