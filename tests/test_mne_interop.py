"""Python interop with MNE: Recording <-> Raw, detections <-> mne.Annotations, lossless to the sample."""

import datetime as dt

import mne
import numpy as np
import pandas as pd
import pytest

from sleepspindles.errors import ConfigError
from sleepspindles.hypnogram import Hypnogram
from sleepspindles.io.annotations import annotation_events, hypnogram_from_mne, mne_events
from sleepspindles.output.review import event_annotations, events_to_mne
from sleepspindles.recording import Recording

STAGES = np.array([0, 0, 1, 2, 2, 3, 3, 2, 4, -1, -2], dtype=np.int8)


def _recording(sf=100.0):
    rng = np.random.default_rng(0)
    n = int(len(STAGES) * 30 * sf)
    return Recording(data=rng.normal(0, 20, (3, n)), sf=sf, channels=("C3", "C4", "E1"), kinds=("eeg", "eeg", "eog"),
                     start_time=dt.datetime(2024, 3, 1, 22, 30, 5), hypnogram=Hypnogram(STAGES))


def _events(sf, n=200, seed=1):
    """Events on the sample grid (start and end whole samples), as the detectors give them."""
    rng = np.random.default_rng(seed)
    start = np.sort(rng.integers(0, int(300 * sf), n))
    end = start + rng.integers(int(0.5 * sf), int(2.5 * sf), n)
    channel = rng.choice(["C3", "C4", "Fp1"], n)
    return pd.DataFrame({"channel": channel, "start": start / sf, "end": end / sf}).assign(
        duration=lambda f: f["end"] - f["start"])


def test_recording_to_mne_and_back():
    rec = _recording()
    raw = rec.to_mne()
    assert raw.ch_names == ["C3", "C4", "E1"] and raw.get_channel_types() == ["eeg", "eeg", "eog"]
    assert raw.info["sfreq"] == 100.0
    assert raw.info["meas_date"] == dt.datetime(2024, 3, 1, 22, 30, 5, tzinfo=dt.UTC)
    np.testing.assert_allclose(raw.get_data(), rec.values() * 1e-6, rtol=1e-12)  # stored in volts
    assert list(raw.annotations.description[:4]) == ["Sleep stage W", "Sleep stage W", "Sleep stage N1",
                                                     "Sleep stage N2"]
    back = Recording.from_mne(raw, hypnogram=hypnogram_from_mne(raw))
    assert back.channels == rec.channels and back.kinds == rec.kinds and back.sf == rec.sf
    assert back.start_time == rec.start_time
    np.testing.assert_allclose(back.values(), rec.values(), rtol=1e-12)
    np.testing.assert_array_equal(back.hypnogram.stages, STAGES)  # artefact and unscored epochs included


def test_from_mne_keeps_eeg_eog_emg_only():
    info = mne.create_info(["C3", "ECG", "STI", "Chin"], 128.0, ["eeg", "ecg", "stim", "emg"])
    raw = mne.io.RawArray(np.ones((4, 256)) * 1e-5, info, verbose="error")
    rec = Recording.from_mne(raw)
    assert rec.channels == ("C3", "Chin") and rec.kinds == ("eeg", "emg")
    np.testing.assert_allclose(rec.values(), 10.0)  # 1e-5 V = 10 uV
    raw = mne.io.RawArray(np.ones((1, 10)), mne.create_info(["ECG"], 128.0, ["ecg"]), verbose="error")
    with pytest.raises(ConfigError, match="'raw' parameter must be an mne Raw with EEG"):
        Recording.from_mne(raw)


@pytest.mark.parametrize("sf", [100.0, 256.0, 200.0 / 3])
def test_events_to_mne_annotations_and_back_are_lossless_to_the_sample(sf):
    spindles, sos = _events(sf), _events(sf, 50, seed=2)
    ann = events_to_mne({"spindles": spindles, "slow_oscillations": sos})
    assert len(ann) == 250
    first = int(np.argmin(ann.onset))
    assert ann.ch_names[first] == (ann.description[first].split()[-1],)  # the channel in ch_names too
    back = mne_events(ann, sf=sf)
    for events, got in ((spindles, back["spindles"]), (sos, back["slow_oscillations"])):
        want = events.sort_values(["channel", "start"], kind="stable").reset_index(drop=True)
        np.testing.assert_array_equal(np.rint(got["start"] * sf), np.rint(want["start"] * sf))
        np.testing.assert_array_equal(np.rint(got["end"] * sf), np.rint(want["end"] * sf))
        assert (got["start"].to_numpy() == want["start"].to_numpy()).all()  # the same floats, not just close
        assert (got["end"].to_numpy() == want["end"].to_numpy()).all()
        assert list(got["channel"]) == list(want["channel"])


def test_annotations_name_the_channel_in_text_or_in_ch_names():
    events = annotation_events([1.0, 2.0, 3.0, 4.0, 5.0], [1.0, 1.0, 0.5, 30.0, 1.0],
                               ["spindle", "Spindle_C4", "SO Fz", "Sleep stage N2", "Lights off"],
                               ch_names=[("C3", "C4"), (), (), (), ()], sf=100.0)
    spindles = events["spindles"]
    assert list(spindles["channel"]) == ["C3", "C4", "C4"]  # one event per channel named in ch_names
    assert list(spindles["start"]) == [1.0, 1.0, 2.0]
    assert list(events["slow_oscillations"]["channel"]) == ["Fz"]


def test_event_annotations_text():
    spindles = pd.DataFrame({"channel": ["C3"], "start": [10.0], "end": [11.25]})
    ann = event_annotations({"spindles": spindles, "spindle_summary": pd.DataFrame({"x": [1]})})
    assert ann.to_dict("records") == [{"onset": 10.0, "duration": 1.25, "description": "spindle C3", "channel": "C3",
                                       "kind": "spindles"}]
