"""Recording validation and the signal checks that catch unusable input."""

import numpy as np
import pytest

from sleepspindles import Recording
from sleepspindles.errors import ConfigError, DataError
from sleepspindles.recording import channel_problems, check_signal


def _noise(n_ch=2, n=1000, scale=20.0, seed=0):
    return np.random.default_rng(seed).normal(0, scale, (n_ch, n))


def test_recording_basic_properties():
    rec = Recording(_noise(), 100.0, ("C3", "C4"), references=("M2", "M1"))
    assert rec.n_samples == 1000 and rec.duration == 10.0
    assert rec.eeg_channels == ("C3", "C4") and rec.reference_of("C4") == "M1"
    assert np.array_equal(rec.pick(["C4"]).data[0], rec.data[1])
    with pytest.raises(ValueError):
        rec.data[0, 0] = 1.0  # read-only


def test_missing_channel_lists_present_ones():
    rec = Recording(_noise(), 100.0, ("C3", "C4"), source="night.edf")
    with pytest.raises(DataError, match=r"night.edf: channel 'Cz' not found; channels present: C3, C4"):
        rec.signal("Cz")


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"channels": ("C3",)}, "'channels'"),
        ({"channels": ("C3", "C3")}, "unique"),
        ({"sf": 0}, "'sf'"),
        ({"kinds": ("eeg", "ecg")}, "'kinds'"),
    ],
)
def test_recording_rejects_inconsistent_metadata(kwargs, fragment):
    args = {"data": _noise(), "sf": 100.0, "channels": ("C3", "C4"), **kwargs}
    with pytest.raises(ConfigError, match=fragment):
        Recording(**args)


def test_check_signal_accepts_plausible_eeg():
    check_signal(_noise(), ["C3", "C4"], "ok.edf")


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda x: x.__setitem__(1, np.nan), "channel 'C4': no finite samples (all NaN or inf)"),
        (lambda x: x.__setitem__(0, 3.0), "channel 'C3': flat (constant 3)"),
        (lambda x: x.__imul__(1e-6), "below 1 uV: not plausible scalp EEG in microvolts (volts or millivolts"),
        (lambda x: x.__imul__(1e5), "above 500 uV: not plausible scalp EEG in microvolts (microvolts labelled"),
    ],
)
def test_check_signal_errors_name_file_channel_and_problem(mutate, fragment):
    data = _noise()
    mutate(data)
    with pytest.raises(DataError) as info:
        check_signal(data, ["C3", "C4"], "bad.edf")
    assert str(info.value).startswith("bad.edf: ") and fragment in str(info.value)


def test_check_signal_lists_every_unusable_channel_with_its_scale():
    data = _noise()
    data[0] = 0.0
    data[1] *= 1000  # microvolts labelled as millivolts
    with pytest.raises(DataError) as info:
        check_signal(data, ["C3", "C4"], "bad.edf", scales=["scale A", "scale B"])
    message = str(info.value)
    assert message.startswith("bad.edf: channel 'C3': flat (constant 0) [scale A]; channel 'C4': median")
    assert message.endswith("[scale B]")


def test_channel_problems_both_ways_and_only_for_bad_channels():
    data = _noise(4)
    data[1] *= 1e-3  # millivolts read as microvolts: MAD ~0.013 uV
    data[2] *= 100  # MAD ~1300 uV
    data[3, :600] = 2.0  # a dead electrode with glitches: MAD 0
    problems = channel_problems(data, ["C3", "C4", "F3", "F4"])
    assert list(problems) == ["C4", "F3", "F4"]
    assert "below 1 uV" in problems["C4"] and "above 500 uV" in problems["F3"]
    assert problems["F4"].startswith("almost flat (at least half of the samples equal 2")
    # Other kinds: only unusable (non-finite, flat) counts, whatever the amplitude.
    assert channel_problems(data, ["C3", "E1", "EMG", "X"], ["eeg", "eog", "emg", "emg"]) == {}


def test_a_dead_electrode_s_amplifier_noise_is_not_plausible_eeg():
    """0.3 uV of noise (MAD ~0.2 uV) passed as EEG and gave a contralateral density of 0 and LI = 1."""
    data = _noise(2, n=30000)
    data[1] *= 0.3 / 20.0
    problems = channel_problems(data, ["C3", "C4"])
    assert list(problems) == ["C4"] and "below 1 uV" in problems["C4"] and "dead electrode" in problems["C4"]
    data[1] *= 10  # 3 uV of noise (MAD ~2 uV): quiet, but plausible
    assert channel_problems(data, ["C3", "C4"]) == {}


def test_channel_problems_partial_nan_uses_the_finite_samples():
    row = np.full(3_000_000, np.nan)
    row[1::3] = _noise(1, 1_000_000)[0]  # the regular subsample lands on NaN only
    assert channel_problems(row[np.newaxis], ["C3"]) == {}


def test_check_signal_ignores_units_of_non_eeg_channels():
    data = _noise()
    data[1] *= 1e-6  # e.g. an EMG channel in other units is not an EEG unit error
    check_signal(data, ["C3", "EMG"], "x.edf", kinds=["eeg", "emg"])
