"""The reference engine: YASA's ``spindles_detect``, one channel at a time.

Kept selectable (``method: yasa``) so every result of our own engine can be checked against the
field's reference implementation in the same run.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from ...config import DetectionConfig
from ...hypnogram import Hypnogram, Stage, stage_names
from ...recording import Recording
from ...schema import SPINDLES
from .. import DetectionResult, included_mask

__all__ = ["detect"]

logger = logging.getLogger(__name__)

_COLUMNS = {
    "Start": "start",
    "Peak": "peak",
    "End": "end",
    "Duration": "duration",
    "Amplitude": "amplitude",
    "RMS": "rms",
    "Frequency": "frequency",
    "Oscillations": "oscillations",
    "Symmetry": "symmetry",
}


def detect(recording: Recording, hypnogram: Hypnogram | None, cfg: DetectionConfig) -> DetectionResult:
    """Run ``yasa.spindles_detect`` on each channel with the settings of ``cfg``.

    ``band``, ``broadband``, ``duration`` and the thresholds of ``fast`` (YASA's method). NaN
    samples are zeroed and masked out (YASA cannot take NaN); flat channels are skipped and
    reported. The broadband upper edge is lowered below Nyquist when needed (YASA would fail).
    """
    sf = recording.sf
    include = included_mask(recording, hypnogram, cfg)
    stages = (
        hypnogram.to_samples(sf, recording.n_samples)
        if hypnogram is not None
        else np.full(recording.n_samples, Stage.UNSCORED, dtype=np.int8)
    )
    lo, hi = cfg.broadband
    notes: list[str] = []
    nyquist_edge = 0.45 * sf
    if hi > nyquist_edge:
        notes.append(f"yasa: broadband upper edge lowered from {hi:g} to {nyquist_edge:g} Hz (sf={sf:g})")
        hi = nyquist_edge
    frames = []
    for name in recording.channels:
        x = np.asarray(recording.signal(name), dtype=np.float64)
        finite = np.isfinite(x)
        mask = include & finite
        if not mask.any() or np.ptp(x[mask]) == 0:
            notes.append(f"yasa: channel {name} skipped (no usable samples in the searched stages)")
            continue
        table = _detect_channel(np.where(finite, x, 0.0), sf, mask, (lo, hi), cfg)
        if table is None:
            continue
        peak_idx = np.clip(np.round(table["peak"].to_numpy() * sf).astype(np.int64), 0, len(x) - 1)
        table["stage"] = stage_names(stages[peak_idx])
        table["sigma_peak"] = _sigma_peaks(np.where(finite, x, 0.0), sf, table, cfg.band)
        table["channel"] = name
        frames.append(table)
    events = SPINDLES.conform(pd.concat(frames, ignore_index=True)) if frames else SPINDLES.empty()
    return DetectionResult(events=events, notes=tuple(notes))


def _sigma_peaks(x: np.ndarray, sf: float, table: pd.DataFrame, band: tuple[float, float]) -> np.ndarray:
    """Time of each event's sigma amplitude-envelope maximum (YASA reports no such peak)."""
    from mne.filter import filter_data
    from scipy.signal import hilbert

    sigma = filter_data(x, sf, band[0], band[1], l_trans_bandwidth=1.5, h_trans_bandwidth=1.5, method="fir",
                        verbose="error")
    envelope = np.abs(hilbert(sigma))
    first = np.round(table["start"].to_numpy() * sf).astype(np.int64)
    last = np.round(table["end"].to_numpy() * sf).astype(np.int64)
    return np.array([(a + np.argmax(envelope[a : b + 1])) / sf for a, b in zip(first, last)])


def _detect_channel(
    x: np.ndarray, sf: float, mask: np.ndarray, freq_broad: tuple[float, float], cfg: DetectionConfig
) -> pd.DataFrame | None:
    """One ``yasa.spindles_detect`` call restricted to ``mask``; its summary in our column names."""
    import yasa

    with warnings.catch_warnings():
        # Zeroed NaN stretches give 0/0 relative power inside YASA; they are masked out anyway.
        warnings.simplefilter("ignore", RuntimeWarning)
        sp = yasa.spindles_detect(
            x,
            sf,
            hypno=mask.astype(np.int8),
            include=1,
            freq_sp=cfg.band,
            freq_broad=freq_broad,
            duration=cfg.duration,
            min_distance=cfg.fast.min_distance * 1000.0,
            thresh={"rel_pow": cfg.fast.thresh_rel_pow, "corr": cfg.fast.thresh_corr, "rms": cfg.fast.thresh_rms},
            verbose="error",
        )
    return None if sp is None else sp.summary().rename(columns=_COLUMNS)
