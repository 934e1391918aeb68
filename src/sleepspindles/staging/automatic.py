"""Automatic sleep staging with YASA's bundled LightGBM classifier (imported only when used)."""

from __future__ import annotations

import logging
import warnings

import numpy as np

from ..config import StagingConfig
from ..errors import file_error
from ..hypnogram import Hypnogram, Stage
from ..recording import Recording

__all__ = ["auto_stage", "pick_staging_channels"]

logger = logging.getLogger(__name__)

#: Preference order for the staging EEG channel: YASA's model was trained on central channels.
_EEG_PREFERENCE = ("C4", "C3", "Cz", "C2", "C1", "C6", "C5", "Fz", "F4", "F3", "Pz", "Fpz")
_YASA_LABELS = {"W": Stage.W, "WAKE": Stage.W, "N1": Stage.N1, "N2": Stage.N2, "N3": Stage.N3,
                "R": Stage.REM, "REM": Stage.REM}
_MIN_STAGING_SF = 80.0  # YASA's SleepStaging refuses lower rates


def pick_staging_channels(recording: Recording, cfg: StagingConfig) -> tuple[str, str | None, str | None]:
    """Choose the EEG, EOG and EMG channels for automatic staging.

    Returns
    -------
    eeg, eog, emg : str, str or None, str or None
    """
    eeg = cfg.eeg
    if eeg is None:
        present = recording.eeg_channels
        eeg = next((c for c in _EEG_PREFERENCE if c in present), present[0] if present else None)
    if eeg is None:
        raise file_error(recording.source, "automatic staging needs an EEG channel; none is present")
    recording.index(eeg)  # a clear error when a configured channel is absent

    def first(kind: str, wanted: str | None) -> str | None:
        if wanted is not None:
            recording.index(wanted)
            return wanted
        return next((c for c, k in zip(recording.channels, recording.kinds) if k == kind), None)

    return eeg, first("eog", cfg.eog), first("emg", cfg.emg)


def auto_stage(recording: Recording, cfg: StagingConfig | None = None) -> Hypnogram:
    """Stage ``recording`` with YASA's bundled LightGBM model (30 s epochs).

    Raises
    ------
    DataError
        When the recording is shorter than one epoch or sampled below 80 Hz (the model's limit).
    """
    import mne
    import yasa

    cfg = cfg or StagingConfig()
    if recording.sf < _MIN_STAGING_SF:
        raise file_error(
            recording.source,
            f"automatic staging needs a sampling rate of at least {_MIN_STAGING_SF:g} Hz; the "
            f"recording has {recording.sf:g} Hz (provide a scored hypnogram instead)",
        )
    if recording.duration < 30.0:
        raise file_error(recording.source, f"automatic staging needs at least 30 s; got {recording.duration:.1f} s")
    eeg, eog, emg = pick_staging_channels(recording, cfg)
    names = [c for c in (eeg, eog, emg) if c is not None]
    types = ["eeg"] + (["eog"] if eog else []) + (["emg"] if emg else [])
    data = np.vstack([np.nan_to_num(recording.signal(c), nan=0.0) for c in names]).astype(np.float64) * 1e-6
    info = mne.create_info(names, recording.sf, types)
    raw = mne.io.RawArray(data, info, verbose="error")
    logger.info("automatic staging with YASA (eeg=%s, eog=%s, emg=%s)", eeg, eog, emg)
    with warnings.catch_warnings():
        # YASA's bundled model was pickled with an older scikit-learn; the warning is about that
        # file, not about our data, and YASA's own tests run the same model.
        warnings.filterwarnings("ignore", message=".*Trying to unpickle estimator.*")
        predicted = yasa.SleepStaging(raw, eeg_name=eeg, eog_name=eog, emg_name=emg).predict()
    stages = _yasa_codes(predicted)
    return Hypnogram(stages, epoch_length=30.0, offset=0.0, source="yasa")


def _yasa_codes(predicted) -> np.ndarray:
    """Stage codes from YASA's prediction (a ``yasa.Hypnogram`` in YASA >= 0.7, labels before)."""
    labels = predicted.hypno if hasattr(predicted, "hypno") else predicted
    return np.array([_YASA_LABELS[str(lab).upper()] for lab in labels], dtype=np.int8)
