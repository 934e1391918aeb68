"""Staging: scored hypnogram first, YASA's classifier otherwise, clear errors where it cannot run."""

import numpy as np
import pytest

from sleepspindles import Recording, Stage
from sleepspindles.config import StagingConfig
from sleepspindles.errors import DataError
from sleepspindles.staging import pick_staging_channels, stage
from sleepspindles.synthetic import SyntheticConfig, make_synthetic_night


@pytest.fixture(scope="module")
def night():
    return make_synthetic_night(SyntheticConfig(duration_hours=1.5, sf=100.0, eog_emg=True, seed=4))


def test_scored_hypnogram_is_used_when_present(night):
    hyp = stage(night.recording)
    assert hyp is night.recording.hypnogram and hyp.source == "synthetic"


def test_automatic_staging_with_yasa(night):
    rec = night.recording.with_hypnogram(None)
    hyp = stage(rec)
    truth = night.recording.hypnogram
    assert hyp.source == "yasa" and hyp.epoch_length == 30.0
    assert abs(hyp.n_epochs - truth.n_epochs) <= 1
    assert set(np.unique(hyp.stages)) <= {int(s) for s in (Stage.W, Stage.N1, Stage.N2, Stage.N3, Stage.REM)}
    # The classifier is not trained on synthetic EEG; the check is that it runs end to end and
    # separates sleep from wake at least somewhat better than chance on this night.
    n = min(hyp.n_epochs, truth.n_epochs)
    asleep_pred = hyp.stages[:n] != Stage.W
    asleep_true = truth.stages[:n] != Stage.W
    assert asleep_pred.any()
    assert np.mean(asleep_pred == asleep_true) > 0.5


def test_use_scored_false_forces_automatic_staging(night):
    hyp = stage(night.recording, StagingConfig(use_scored=False))
    assert hyp.source == "yasa"


def test_staging_channel_choice(night):
    eeg, eog, emg = pick_staging_channels(night.recording, StagingConfig())
    assert eeg == "C4" and night.recording.kinds[night.recording.index(eog)] == "eog"
    assert night.recording.kinds[night.recording.index(emg)] == "emg"
    with pytest.raises(DataError, match="channel 'Fz' not found"):
        pick_staging_channels(night.recording, StagingConfig(eeg="Fz"))


def test_low_sampling_rate_cannot_be_auto_staged():
    rec = Recording(np.random.default_rng(0).normal(0, 20, (1, 50 * 120)), 50.0, ("C3",), source="low.edf")
    with pytest.raises(DataError, match=r"low.edf: automatic staging needs a sampling rate of at least 80 Hz"):
        stage(rec)


def test_too_short_cannot_be_auto_staged():
    rec = Recording(np.random.default_rng(0).normal(0, 20, (1, 100 * 20)), 100.0, ("C3",))
    with pytest.raises(DataError, match="at least 30 s"):
        stage(rec)
