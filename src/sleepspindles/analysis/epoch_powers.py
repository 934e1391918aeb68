"""Welch band power per epoch, computed once per recording for every table that averages it.

Sigma power (``sigma.csv``: the ``laterality.sigma_stages`` epochs) and SWA (``swa.csv``: the
slow-oscillation stages' epochs, per stage, sleep cycle and the first hour) integrate the same
per-epoch periodograms (:func:`.spectral.epoch_band_powers`) over different bands and epochs. In
a run both come from one pass over the union of their epochs and bands (:func:`shared_powers`):
an epoch's band power does not depend on the other epochs computed with it, so the tables are
exactly those of a pass each.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import Config
from ..hypnogram import Hypnogram
from ..recording import Recording
from .spectral import (
    epoch_band_powers,
    epoch_starts,
    mean_usable,
    reference_band,
    select_epochs,
    sigma_power_bands,
    sigma_table,
)

__all__ = ["EpochPowers", "epoch_powers", "shared_powers", "sigma_table_of", "swa_bands"]

#: Key of the shared powers in :attr:`sleepspindles.detection.RecordingContext.shared`.
_KEY = "epoch_powers"


@dataclass(frozen=True)
class EpochPowers:
    """Band power (uV^2) of each channel in each of a set of epochs, and which epochs are usable.

    Attributes
    ----------
    channels : tuple of str
    epochs : numpy.ndarray of int64
        Hypnogram epoch indices, increasing.
    bands : tuple of (float, float)
    powers : numpy.ndarray, shape (n_bands, n_channels, n_epochs)
    usable : numpy.ndarray of bool, shape (n_channels, n_epochs)
        False for an epoch with a non-finite sample or a constant signal on that channel.
    """

    channels: tuple[str, ...]
    epochs: np.ndarray
    bands: tuple[tuple[float, float], ...]
    powers: np.ndarray
    usable: np.ndarray

    def mean(self, bands: Sequence[tuple[float, float]], channels: Sequence[str], epochs: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
        """Mean power of ``bands`` over the usable ones of ``epochs`` (among :attr:`epochs`).

        Returns ``(n_bands, n_channels)`` powers and the per-channel counts of epochs used.
        """
        rows = [self.channels.index(c) for c in channels]
        cols = np.searchsorted(self.epochs, epochs)
        picked = self.powers[np.ix_([self.bands.index(tuple(b)) for b in bands], rows)]
        return mean_usable(picked, self.usable[rows], cols)


def epoch_powers(recording: Recording, hypnogram: Hypnogram, channels: Sequence[str], epochs: np.ndarray,
                 bands: Sequence[tuple[float, float]], window: float) -> EpochPowers:
    """:func:`.spectral.epoch_band_powers` of ``channels`` over the hypnogram's ``epochs`` (Welch ``window`` s)."""
    sub = recording.pick(list(channels))
    powers, usable = epoch_band_powers(sub.data, sub.sf, epoch_starts(hypnogram, sub.sf, epochs),
                                       int(round(hypnogram.epoch_length * sub.sf)), bands, window)
    return EpochPowers(tuple(channels), np.asarray(epochs, dtype=np.int64), tuple(map(tuple, bands)), powers,
                       usable)


def shared_powers(context) -> EpochPowers:
    """The epoch powers the sigma and SWA tables of a recording context need, computed on first use.

    The union of the epochs and bands of the tables whose event kind was detected (sigma:
    spindles; SWA: slow oscillations) that the sampling rate resolves, on the EEG channels that
    either kind could measure; kept in ``context.shared``. Callers check their own conditions
    (hypnogram, resolved band) first.
    """
    if _KEY not in context.shared:
        context.shared[_KEY] = _night_powers(context)
    return context.shared[_KEY]


def swa_bands(config: Config, sf: float) -> list[tuple[float, float]]:
    """The bands SWA integrates: ``slow_oscillations.swa_band``, then its reference band (its low edge to
    the top of ``laterality.total_band``, so the relative value is a fraction)."""
    band = config.slow_oscillations.swa_band
    return [band, reference_band((band[0], config.laterality.total_band[1]), sf)]


def _night_powers(context) -> EpochPowers:
    recording, hypnogram, config = context.recording, context.hypnogram, context.config
    sf, n = recording.sf, recording.n_samples
    lat, so = config.laterality, config.slow_oscillations
    stages, bands = [], []
    if "spindles" in context.detections and sf / 2 > config.detection.band[1]:
        stages.append(lat.sigma_stages)
        bands += sigma_power_bands(config, sf)
    if "slow_oscillations" in context.detections and sf / 2 > so.swa_band[1]:
        stages.append(so.stages)
        bands += swa_bands(config, sf)
    epochs = np.unique(np.concatenate([select_epochs(hypnogram, sf, n, s) for s in stages] or [np.zeros(0, np.int64)]))
    skipped = [set(found.coverage.unmeasurable) for found in context.detections.values() if found.coverage]
    unusable = set.intersection(*skipped) if skipped else set()
    channels = [c for c in recording.eeg_channels if c not in unusable]
    bands = list(dict.fromkeys(map(tuple, bands)))
    if not (channels and epochs.size and bands):
        return EpochPowers(tuple(channels), epochs, tuple(bands), np.zeros((len(bands), len(channels), epochs.size)),
                           np.zeros((len(channels), epochs.size), dtype=bool))
    return epoch_powers(recording, hypnogram, channels, epochs, bands, lat.welch_window)


def sigma_table_of(context) -> pd.DataFrame:
    """:func:`.spectral.sigma_table` of a recording context (the producer of :data:`sleepspindles.schema.SIGMA`)."""
    unmeasurable = context.detections["spindles"].coverage.unmeasurable
    return sigma_table(context.recording, context.hypnogram, context.config, skip=list(unmeasurable),
                       powers=shared_powers(context) if context.hypnogram is not None else None)
