"""The synthetic PSG generator: exact, detectable ground truth and a faithful EDF+ writer."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt, welch

from sleepspindles.errors import ConfigError, DataError
from sleepspindles.evaluation.matching import match_events
from sleepspindles.hypnogram import Hypnogram, Stage
from sleepspindles.output import write_edf
from sleepspindles.recording import Recording
from sleepspindles.synthetic import TRUTH_COLUMNS
from sleepspindles.synthetic.night import (
    _GAINS,
    SyntheticConfig,
    _stage_gains,
    make_synthetic_night,
    synthetic_hypnogram,
)

DENSITY = {"C3": 2.0, "C4": 3.0}  # a planted right > left asymmetry


@pytest.fixture(scope="module")
def night():
    """A full 8 h night, two channels, asymmetric densities, some global spindles."""
    return make_synthetic_night(density=DENSITY, shared_fraction=0.3, seed=3)


@pytest.fixture(scope="module")
def background():
    """The same night's signal without spindles (the background streams do not depend on them)."""
    return make_synthetic_night(density=0.0, seed=3)


def _band(x, sf, low, high):
    return sosfiltfilt(butter(4, [low, high], btype="band", fs=sf, output="sos"), x)


# ------------------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_night_and_other_seed_differs():
    a = make_synthetic_night(duration_hours=0.25, seed=7)
    b = make_synthetic_night(duration_hours=0.25, seed=7)
    c = make_synthetic_night(duration_hours=0.25, seed=8)
    assert a.recording == b.recording
    assert a.truth.equals(b.truth)
    assert not np.array_equal(a.recording.data, c.recording.data)


def test_adding_a_channel_leaves_the_others_unchanged():
    two = make_synthetic_night(duration_hours=0.25, channels=("C3", "C4"), seed=1)
    three = make_synthetic_night(duration_hours=0.25, channels=("C3", "C4", "Pz"), seed=1)
    np.testing.assert_array_equal(two.recording.data, three.recording.data[:2])


def test_recording_metadata():
    rec = make_synthetic_night(duration_hours=0.25, channels=("F3", "F4", "O1")).recording
    assert rec.channels == ("F3", "F4", "O1")
    assert rec.kinds == ("eeg",) * 3
    assert rec.references == ("linked-mastoid",) * 3
    assert rec.original_names == ("EEG F3", "EEG F4", "EEG O1")
    assert rec.data.dtype == np.float32 and rec.sf == 256.0 and rec.source is None
    assert rec.hypnogram.source == "synthetic"
    assert rec.n_samples == rec.hypnogram.n_epochs * 30 * 256


# ------------------------------------------------------------------------------- hypnogram


@pytest.mark.parametrize("seed", range(5))
def test_hypnogram_is_a_plausible_night(seed):
    hyp = synthetic_hypnogram(8.0, 30.0, seed=seed)
    assert hyp.n_epochs == 960 and hyp.source == "synthetic"
    st = hyp.stages
    sleep = hyp.minutes()
    frac = {s: hyp.minutes(s) / sleep for s in ("N1", "N2", "N3", "REM")}
    assert 0.44 <= frac["N2"] <= 0.58
    assert 0.12 <= frac["N3"] <= 0.25 and 0.15 <= frac["REM"] <= 0.3 and frac["N1"] < 0.1
    onset = np.flatnonzero(st != Stage.W)[0]
    assert 10 <= onset / 2 <= 25  # minutes of wake before sleep onset
    assert np.any(st[onset:] == Stage.W)  # awakenings during the night
    half = st.size // 2
    assert (st[:half] == Stage.N3).sum() > 0.7 * (st == Stage.N3).sum()
    assert (st[half:] == Stage.REM).sum() > 0.6 * (st == Stage.REM).sum()
    # REM periods (runs allowing a few interruptions) lengthen towards morning (the last one
    # may be cut short by the end of the night).
    rem = np.flatnonzero(st == Stage.REM)
    lengths = [p.size for p in np.split(rem, np.flatnonzero(np.diff(rem) > 10) + 1)]
    assert len(lengths) >= 4 and max(lengths[2:]) > 1.5 * lengths[0]


def test_hypnogram_other_epoch_length_and_bad_input():
    hyp = synthetic_hypnogram(1.0, 20.0)
    assert hyp.n_epochs == 180 and hyp.epoch_length == 20.0
    with pytest.raises(ConfigError, match="duration_hours"):
        synthetic_hypnogram(-1.0)


# -------------------------------------------------------------------------------- spindles


def test_truth_table_columns_and_ranges(night):
    truth = night.truth
    assert tuple(truth.columns) == TRUTH_COLUMNS
    assert set(truth.channel) == {"C3", "C4"}
    assert set(truth.stage) == {"N2", "N3"}
    assert truth.frequency.between(11.0, 16.0).all()
    assert truth.duration.between(0.5 - 1e-9, 2.0 + 1e-9).all()
    assert truth.amplitude.between(30.0, 100.0).all()  # peak-to-peak = 2 x peak amplitude
    np.testing.assert_allclose(truth.end - truth.start, truth.duration)
    np.testing.assert_allclose(truth.peak, (truth.start + truth.end) / 2)
    # Onsets lie on the sample grid.
    np.testing.assert_allclose(truth.start * 256, np.round(truth.start * 256), atol=1e-6)


def test_spindles_lie_entirely_in_their_stage_and_do_not_overlap(night):
    hyp = night.recording.hypnogram
    truth = night.truth
    for col in ("start", "peak"):
        stages = [Stage(int(s)).name for s in hyp.stage_at(truth[col])]
        assert stages == truth.stage.tolist()
    end_stage = [Stage(int(s)).name for s in hyp.stage_at(truth.end - 1e-6)]
    assert end_stage == truth.stage.tolist()
    for _, one in truth.groupby("channel"):
        gaps = one.start.to_numpy()[1:] - one.end.to_numpy()[:-1]
        assert gaps.min() >= 1.0 - 1e-9


def test_densities_match_the_requested_asymmetry(night):
    hyp = night.recording.hypnogram
    truth = night.truth
    counts = {}
    for channel, density in DENSITY.items():
        for stage, rate in (("N2", density), ("N3", 0.5 * density)):
            expected = rate * hyp.minutes(stage)
            count = int(((truth.channel == channel) & (truth.stage == stage)).sum())
            assert abs(count - expected) < 4 * np.sqrt(expected), (channel, stage, count, expected)
            counts[channel, stage] = count
    # The planted asymmetry is far outside the sampling error.
    assert counts["C4", "N2"] - counts["C3", "N2"] > 6 * np.sqrt(counts["C4", "N2"] + counts["C3", "N2"])


def test_shared_spindles_are_on_every_channel(night):
    shared = night.truth[night.truth.shared]
    c3, c4 = (shared[shared.channel == c] for c in ("C3", "C4"))
    np.testing.assert_array_equal(c3.start.to_numpy(), c4.start.to_numpy())
    np.testing.assert_array_equal(c3.frequency.to_numpy(), c4.frequency.to_numpy())
    # About 30 % of the lower density is global.
    n2 = night.recording.hypnogram.minutes("N2")
    assert abs((c3.stage == "N2").sum() - 0.3 * 2.0 * n2) < 4 * np.sqrt(0.6 * n2)


def test_signal_minus_background_is_exactly_the_planted_spindles(night, background):
    sf = night.recording.sf
    planted = night.recording.data.astype(np.float64) - background.recording.data
    for row, channel in enumerate(night.recording.channels):
        truth = night.truth[night.truth.channel == channel]
        inside = np.zeros(planted.shape[1], dtype=bool)
        for start, end, amp in zip(truth.start, truth.end, truth.amplitude):
            a, b = int(round(start * sf)), int(round(end * sf))
            inside[a:b] = True
            seg = planted[row, a:b]
            assert np.ptp(seg) == pytest.approx(amp, rel=0.03)
            assert abs(seg[0]) < 1e-3 and abs(seg[-1]) < 1e-3  # waxing from and waning to zero
        assert np.abs(planted[row, ~inside]).max() < 1e-3


def test_planted_frequency_is_recovered_by_fft(night, background):
    sf = night.recording.sf
    truth = night.truth[(night.truth.channel == "C3") & (night.truth.duration > 1.5)].head(30)
    errors = []
    for start, end, freq in zip(truth.start, truth.end, truth.frequency):
        seg = night.recording.signal("C3")[int(round(start * sf)) : int(round(end * sf))].astype(float)
        spec = np.abs(np.fft.rfft(seg - seg.mean(), n=16 * 1024))
        freqs = np.fft.rfftfreq(16 * 1024, 1 / sf)
        band = (freqs > 9) & (freqs < 18)
        errors.append(abs(freqs[band][np.argmax(spec[band])] - freq))
    assert len(errors) == 30
    assert np.median(errors) < 0.25 and max(errors) < 0.8


def test_sigma_power_during_spindles_dwarfs_background(night):
    rec = night.recording
    sigma = _band(rec.signal("C3").astype(float), rec.sf, 11, 16) ** 2
    truth = night.truth[(night.truth.channel == "C3") & (night.truth.stage == "N2")]
    near = np.zeros(rec.n_samples, dtype=bool)
    during = np.zeros(rec.n_samples, dtype=bool)
    for start, end in zip(truth.start, truth.end):
        a, b = int(start * rec.sf), int(end * rec.sf)
        near[max(0, a - 256) : b + 256] = True
        quarter = (b - a) // 4
        during[a + quarter : b - quarter] = True  # the flat top of the envelope
    n2 = rec.hypnogram.to_samples(rec.sf, rec.n_samples) == Stage.N2
    assert sigma[during].mean() > 20 * sigma[n2 & ~near].mean()


# ------------------------------------------------------------------------------ background


def _psd(rec, stage, channel="C3"):
    mask = rec.hypnogram.to_samples(rec.sf, rec.n_samples) == stage
    x = rec.signal(channel)[mask].astype(float)
    return welch(x, rec.sf, nperseg=int(4 * rec.sf))


def _slope(freqs, psd, low=2.0, high=30.0):
    band = (freqs >= low) & (freqs <= high)
    return np.polyfit(np.log10(freqs[band]), np.log10(psd[band]), 1)[0]


def test_background_is_aperiodic_with_the_requested_exponent(background):
    rec = background.recording
    slope = _slope(*_psd(rec, Stage.N2), low=15.0, high=60.0)  # above the rhythms
    assert slope == pytest.approx(-1.5, abs=0.15)
    assert -2.5 < _slope(*_psd(rec, Stage.N2)) < -1.0
    steep = make_synthetic_night(duration_hours=1.0, density=0.0, aperiodic_exponent=2.0).recording
    assert _slope(*_psd(steep, Stage.N2), low=15.0, high=60.0) == pytest.approx(-2.0, abs=0.15)


def test_stage_rhythms(background):
    rec = background.recording
    power = {}
    for stage in (Stage.W, Stage.N2, Stage.N3, Stage.REM):
        freqs, psd = _psd(rec, stage)
        power[stage] = {
            name: psd[(freqs >= lo) & (freqs < hi)].sum()
            for name, (lo, hi) in {"delta": (0.5, 2), "theta": (4, 7), "alpha": (8, 12)}.items()
        }
    assert power[Stage.W]["alpha"] > 5 * power[Stage.N2]["alpha"]
    assert power[Stage.N3]["delta"] > 5 * power[Stage.N2]["delta"]
    assert power[Stage.REM]["theta"] > 2 * power[Stage.N2]["theta"]
    assert power[Stage.REM]["delta"] < power[Stage.N2]["delta"]


def test_channels_share_the_requested_correlation(background):
    data = background.recording.data
    assert np.corrcoef(data)[0, 1] == pytest.approx(0.5, abs=0.03)
    independent = make_synthetic_night(duration_hours=0.5, density=0.0, correlation=0.0).recording.data
    assert abs(np.corrcoef(independent)[0, 1]) < 0.03


def test_stage_gains_crossfade_without_jumps():
    hyp = Hypnogram(np.array([0, 0, 2, 3, 3, 4], dtype=np.int8), epoch_length=30.0)
    sf = 100.0
    gains = _stage_gains(hyp, sf, 18000, _GAINS)
    steps = np.abs(np.diff(gains, axis=1)).max(axis=1)
    span = _GAINS.max(axis=0) - _GAINS.min(axis=0)
    assert np.all(steps <= span / sf * 1.001)
    assert gains[3, 3 * 3000 + 1500] == pytest.approx(_GAINS[3, 3])  # mid-N3: full delta gain


def test_line_noise():
    rec = make_synthetic_night(duration_hours=0.25, density=0.0, line_noise_uv=20.0).recording
    freqs, psd = welch(rec.signal("C3").astype(float), rec.sf, nperseg=1024)
    at50 = psd[np.argmin(np.abs(freqs - 50))]
    assert at50 > 100 * np.median(psd[(freqs > 40) & (freqs < 60)])


def test_eog_and_emg_follow_the_stages():
    rec = make_synthetic_night(duration_hours=2.0, eog_emg=True, seed=2).recording
    assert rec.channels == ("C3", "C4", "E1", "E2", "EMG")
    assert rec.kinds == ("eeg", "eeg", "eog", "eog", "emg")
    assert rec.original_names[-1] == "EMG Chin"
    stages = rec.hypnogram.to_samples(rec.sf, rec.n_samples)
    emg = rec.signal("EMG").astype(float)
    rms = {s: np.sqrt(np.mean(emg[stages == s] ** 2)) for s in (Stage.W, Stage.N2, Stage.REM)}
    assert rms[Stage.W] > rms[Stage.N2] > 2 * rms[Stage.REM]
    rem = stages == Stage.REM
    e1, e2 = rec.signal("E1")[rem], rec.signal("E2")[rem]
    assert np.corrcoef(e1, e2)[0, 1] < -0.5  # conjugate eye movements: opposite deflections
    assert np.std(rec.signal("E1")[rem]) > 2 * np.std(rec.signal("E1")[stages == Stage.N3])


# ----------------------------------------------------------------------------- parameters


def test_config_validation():
    cfg = SyntheticConfig(channels=("C3", "C4", "Cz"), density={"C4": 3.0})
    assert cfg.density == (2.0, 3.0, 2.0) and cfg.density_of("C4") == 3.0
    assert SyntheticConfig(density=[1, 2]).density == (1.0, 2.0)
    for kwargs, name in (
        ({"density": {"C5": 1.0}}, "density"),
        ({"density": [1.0]}, "density"),
        ({"density": -1.0}, "density"),
        ({"freq_range": (16, 11)}, "freq_range"),
        ({"channels": ("C3", "C3")}, "channels"),
        ({"correlation": 1.5}, "correlation"),
        ({"sf": 0}, "sf"),
    ):
        with pytest.raises(ConfigError, match=name):
            SyntheticConfig(**kwargs)
    with pytest.raises(ConfigError, match="colour"):
        make_synthetic_night(colour="pink")


def test_follows_a_given_hypnogram_and_config_overrides():
    hyp = Hypnogram(np.array([2] * 10 + [4] * 4, dtype=np.int8), epoch_length=30.0, source="scored")
    night = make_synthetic_night(SyntheticConfig(sf=128.0), hypnogram=hyp, density=4.0, seed=5)
    assert night.recording.hypnogram is hyp and night.recording.sf == 128.0
    assert night.recording.n_samples == 14 * 30 * 128
    assert set(night.truth.stage) == {"N2"} and night.truth.end.max() <= 300.0
    assert night.config.density == (4.0, 4.0)


# ------------------------------------------------------------------------------------ EDF


def test_edf_round_trip_with_mne(tmp_path):
    mne = pytest.importorskip("mne")
    night = make_synthetic_night(duration_hours=0.25, eog_emg=True, seed=4)
    rec = replace(night.recording, start_time=dt.datetime(2023, 5, 6, 23, 15, 7))
    path = write_edf(rec, tmp_path / "night.edf")
    assert [p.name for p in tmp_path.iterdir()] == ["night.edf"]  # no temporary file left
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    assert raw.ch_names == list(rec.original_names)
    assert raw.info["sfreq"] == rec.sf and raw.n_times == rec.n_samples
    assert raw.info["meas_date"].replace(tzinfo=None) == rec.start_time
    step = np.ptp(rec.data, axis=1) / 65535
    error = np.abs(raw.get_data() * 1e6 - rec.data).max(axis=1)
    assert np.all(error <= 0.51 * step + 1e-6)
    ann = raw.annotations
    hyp = rec.hypnogram
    names = {0: "W", 1: "N1", 2: "N2", 3: "N3", 4: "R"}
    assert list(ann.description) == [f"Sleep stage {names[int(s)]}" for s in hyp.stages]
    np.testing.assert_allclose(ann.onset, np.arange(hyp.n_epochs) * 30.0)
    np.testing.assert_allclose(ann.duration, 30.0)


def test_edf_pads_to_whole_records_and_refuses_bad_input(tmp_path):
    mne = pytest.importorskip("mne")
    data = np.vstack([np.linspace(-100, 100, 1050), np.full(1050, 5.0)])
    rec = Recording(data, sf=100.0, channels=("C3", "C4"), original_names=("EEG C3-M2", "EEG C4-M1"))
    raw = mne.io.read_raw_edf(write_edf(rec, tmp_path / "a.edf"), preload=True, verbose="error")
    assert raw.n_times == 1100  # padded to 11 one-second records with the last value
    got = raw.get_data() * 1e6
    np.testing.assert_allclose(got[:, :1050], data, atol=0.01)
    np.testing.assert_allclose(got[:, 1050:], np.repeat(data[:, -1:], 50, axis=1), atol=0.01)
    bad = Recording(np.where(np.arange(1050) == 3, np.nan, data), sf=100.0, channels=("C3", "C4"))
    with pytest.raises(DataError, match="non-finite"):
        write_edf(bad, tmp_path / "b.edf")
    long_label = replace(rec, original_names=("EEG C3-M2 very long label", "C4"))
    with pytest.raises(ConfigError, match="original_names"):
        write_edf(long_label, tmp_path / "c.edf")
    assert not (tmp_path / "b.edf").exists() and not (tmp_path / "c.edf").exists()


def test_edf_round_trip_with_the_project_loader(tmp_path):
    edf_io = pytest.importorskip("sleepspindles.io.edf")
    night = make_synthetic_night(duration_hours=0.25, seed=6)
    loaded = edf_io.load_recording(write_edf(night.recording, tmp_path / "n.edf"))
    assert loaded.channels == night.recording.channels
    np.testing.assert_allclose(loaded.data, night.recording.data, atol=0.01)
    np.testing.assert_array_equal(loaded.hypnogram.stages, night.recording.hypnogram.stages)
    assert loaded.hypnogram.epoch_length == 30.0


# ----------------------------------------------------------------------- detectability


def test_yasa_finds_the_planted_n2_spindles():
    yasa = pytest.importorskip("yasa")
    night = make_synthetic_night(duration_hours=1.5, seed=0)
    rec = night.recording
    hypno = rec.hypnogram.to_samples(rec.sf, rec.n_samples)
    found = yasa.spindles_detect(rec.data.astype(np.float64), rec.sf, ch_names=list(rec.channels),
                                 hypno=hypno, include=(2, 3), verbose=False).summary()
    for channel in rec.channels:
        truth = night.truth[night.truth.channel == channel]
        det = found[found.Channel == channel]
        all_stages = match_events(truth.start, truth.end, det.Start, det.End, iou=0.2)
        assert all_stages.precision >= 0.8
        n2 = truth[truth.stage == "N2"]
        assert len(n2) > 40
        assert match_events(n2.start, n2.end, det.Start, det.End, iou=0.2).recall >= 0.8
