"""Rates use the time actually analysed; unmeasurable channels are NaN with a reason, never 0.

Issue "Nothing silently wrong", items 2 and the API checks: each test fails on the code that
divided by the scored minutes and reported density 0.0 for dead or hand-built bad recordings.
"""

import numpy as np
import pytest

from sleepspindles import DataError, Hypnogram, Recording
from sleepspindles.hypnogram import Stage
from sleepspindles.analysis.laterality import lateralise, night_data
from sleepspindles.analysis.summary import summarize
from sleepspindles.config import Config
from sleepspindles.detection import detect_spindles, run_detection
from sleepspindles.detection.coverage import coverage
from sleepspindles.synthetic import make_synthetic_night


@pytest.fixture(scope="module")
def half_flat():
    """C3 and C4 with the same planted density (3.6/min of N2); C4 flat for half of its N2 time."""
    night = make_synthetic_night(duration_hours=2.0, sf=128.0, channels=("C3", "C4"), density=3.6, seed=21)
    rec, hyp = night.recording, night.recording.hypnogram
    data = np.array(rec.data)
    n2 = np.flatnonzero(hyp.stages == 2)
    dead_epochs = n2[: n2.size // 2]
    spe = int(hyp.epoch_length * rec.sf)
    for e in dead_epochs:
        data[1, e * spe : (e + 1) * spe] = 0.0  # electrode off: a flat line
    return Recording(data, rec.sf, rec.channels, hypnogram=hyp), hyp, dead_epochs.size * hyp.epoch_length / 60


def test_density_is_per_minute_of_analysed_time(half_flat):
    rec, hyp, dead_minutes = half_flat
    result = run_detection(rec, hyp)
    table = summarize(result.events, hyp, rec, coverage=result.coverage)
    n2 = table[(table.stage == "N2") & (table.band == "all")].set_index("channel")
    assert n2.loc["C4", "excluded_minutes"] == pytest.approx(dead_minutes, abs=0.05)
    assert n2.loc["C4", "minutes"] == pytest.approx(hyp.minutes("N2") - dead_minutes, abs=0.05)
    assert n2.loc["C3", "minutes"] == pytest.approx(hyp.minutes("N2"))
    # Both channels carry 3.6/min where they can be measured; the flat half does not halve C4's.
    assert n2.loc["C4", "density"] == pytest.approx(n2.loc["C3", "density"], rel=0.2)
    assert n2.loc["C4", "density"] == pytest.approx(3.6, rel=0.2)
    assert "excluded" in n2.loc["C4", "note"] and n2.loc["C3", "note"] == ""
    assert result.excluded_seconds["C4"] == pytest.approx(dead_minutes * 60, abs=1.0)


def test_summarize_alone_computes_the_same_analysed_time(half_flat):
    rec, hyp, _ = half_flat
    events = detect_spindles(rec, hyp)
    result = run_detection(rec, hyp)
    direct = summarize(events, hyp, rec)
    via = summarize(result.events, hyp, rec, coverage=result.coverage)
    assert direct.equals(via)


def test_laterality_of_a_half_flat_channel_is_not_biased(half_flat):
    rec, hyp, _ = half_flat
    events = detect_spindles(rec, hyp)
    night = night_data(events, hyp, rec, subject="s1", night="post", trained_hand="left")
    table = lateralise([night]).laterality
    li = table.query("measure == 'density_n2' and band == 'all'")["LI"].iloc[0]
    assert abs(li) < 0.1  # the old denominator gave C4 (contralateral) about half the density


def test_coverage_counts_nan_and_flat_runs_per_stage():
    sf = 10.0
    data = np.random.default_rng(1).normal(0, 10, (2, 600))  # 60 s: 2 epochs
    data[0, 10:60] = np.nan  # 5 s NaN in epoch 0
    data[1, 400:430] = 7.0  # 3 s flat in epoch 1
    data[1, 100:105] = 7.0  # 0.5 s: shorter than flat_seconds, kept
    rec = Recording(data, sf, ("C3", "C4"))
    hyp = Hypnogram([2, 3])
    table = coverage(rec, hyp, flat_seconds=1.0).table.set_index(["channel", "stage"])
    assert table.loc[("C3", "N2"), "excluded_seconds"] == pytest.approx(5.0)
    assert table.loc[("C3", "N3"), "excluded_seconds"] == 0.0
    assert table.loc[("C4", "N3"), "excluded_seconds"] == pytest.approx(3.0)
    assert table.loc[("C4", "N2"), "excluded_seconds"] == 0.0
    assert (table["seconds"] == 30.0).all()


def _noise(n_ch=2, seconds=600, sf=100.0, seed=0):
    return np.random.default_rng(seed).normal(0, 10, (n_ch, int(seconds * sf)))


def test_all_nan_recording_built_by_hand_is_refused():
    data = np.full((2, 60_000), np.nan)
    with pytest.raises(DataError, match=r"no EEG channel can be measured .*C3: no finite samples"):
        detect_spindles(Recording(data, 100.0, ("C3", "C4")))


def test_volts_scaled_recording_built_by_hand_is_refused():
    rec = Recording(_noise() * 1e-6, 100.0, ("C3", "C4"))
    with pytest.raises(DataError, match=r"median absolute deviation .* below 1 uV"):
        detect_spindles(rec)


def test_one_unmeasurable_channel_is_nan_with_its_reason_not_zero():
    data = _noise()
    data[1] *= 1e-6  # C4 in volts
    rec = Recording(data, 100.0, ("C3", "C4"))
    hyp = Hypnogram([2] * 20)
    result = run_detection(rec, hyp)
    assert set(result.coverage.unmeasurable) == {"C4"}
    assert any("channel C4 not measured" in n for n in result.notes)
    for table in (summarize(result.events, hyp, rec, coverage=result.coverage), summarize(result.events, hyp, rec)):
        c4 = table[table.channel == "C4"]
        assert c4["density"].isna().all() and (c4["minutes"] == 0).all()
        assert c4["note"].str.startswith("not measurable: median absolute deviation").all()
        assert table.loc[(table.channel == "C3") & (table.stage == "N2"), "density"].notna().all()


def test_dropped_channels_appear_with_nan_and_their_reason():
    from sleepspindles.recording import DroppedChannel

    rec = Recording(_noise(1), 100.0, ("C3",), dropped=(DroppedChannel("C4", "flat (constant 0)"),))
    hyp = Hypnogram([2] * 20)
    table = summarize(detect_spindles(rec, hyp), hyp, rec)
    c4 = table[table.channel == "C4"]
    assert len(c4) == 9 and c4["density"].isna().all()  # N2, N3, N2+N3 x all, fast, slow
    assert (c4["note"] == "not measurable: flat (constant 0)").all()


def test_no_searched_time_gives_nan_with_a_note():
    rec = Recording(_noise(), 100.0, ("C3", "C4"))
    hyp = Hypnogram([0] * 10 + [4] * 10)  # no N2/N3 at all
    table = summarize(detect_spindles(rec, hyp), hyp, rec)
    n2 = table[table.stage == "N2"]
    assert n2["density"].isna().all() and (n2["note"] == "no N2 time").all()


def test_pair_with_an_unmeasurable_side_is_skipped_with_a_note():
    data = _noise(4, seed=3)
    data[3] = np.nan  # F4 dead
    rec = Recording(data, 100.0, ("C3", "C4", "F3", "F4"))
    hyp = Hypnogram([2] * 20)
    night = night_data(detect_spindles(rec, hyp), hyp, rec, subject="s1", night="post", trained_hand="left")
    result = lateralise([night])
    assert set(result.laterality["pair"]) == {"C3/C4"}
    assert any("pair F3/F4 not lateralised: F4 not measurable (no finite samples" in p for p in result.problems)


def test_pair_on_different_references_is_refused_unless_as_recorded_is_explicit():
    rec = Recording(_noise(2, seed=4), 100.0, ("C3", "C4"), references=("M2", "M1"))
    hyp = Hypnogram([2] * 20)
    events = detect_spindles(rec, hyp)
    auto = lateralise([night_data(events, hyp, rec, subject="s1", night="post", trained_hand="left")])
    assert auto.laterality.empty
    assert any("different references (C3 against M2, C4 against M1)" in p for p in auto.problems)
    explicit = Config().replace("load", reference="as-recorded")
    night = night_data(events, hyp, rec, subject="s1", night="post", trained_hand="left", config=explicit)
    table = lateralise([night], explicit).laterality
    assert len(table) and (table["reference"] == "M2 vs M1").all()


def test_common_reference_is_recorded_on_every_row():
    rec = Recording(_noise(2, seed=5), 100.0, ("C3", "C4"), references=("linked-mastoid",) * 2)
    hyp = Hypnogram([2] * 20)
    night = night_data(detect_spindles(rec, hyp), hyp, rec, subject="s1", night="post", trained_hand="right")
    assert (lateralise([night]).laterality["reference"] == "linked-mastoid").all()


@pytest.mark.parametrize("sf", [100.0, 128.0, 200.0, 256.0, 500.0, 1000 / 3, 173.61])
def test_epoch_runs_are_those_of_the_per_sample_stage_rule(sf):
    """Coverage places samples in epochs by their runs' edges: exactly floor((t - offset) / epoch) per sample."""
    from sleepspindles.detection.coverage import _epoch_edges, _epoch_of

    rng = np.random.default_rng(int(sf))
    for _ in range(40):
        length = float(rng.choice([30.0, 20.0, 29.97]))
        n_epochs = int(rng.integers(1, 30))
        offset = float(rng.choice([0.0, 1 / 3, -7.3, 12.25, rng.uniform(-90, 90)]))
        n = int(rng.integers(0, int((n_epochs + 3) * length * sf)))
        t = np.arange(n)
        epoch = np.floor((t / sf - offset) / length).astype(np.int64)
        expected = np.where((epoch >= 0) & (epoch < n_epochs), epoch, n_epochs)
        hyp = Hypnogram(np.full(n_epochs, 2), length, offset=offset)
        np.testing.assert_array_equal(_epoch_of(_epoch_edges(hyp, sf, n), t), expected)


def test_api_refuses_a_hypnogram_of_another_length_as_the_loader_does():
    """Half the stages, twice the stages or 20 s epochs read as 30 s: refused, not silently fewer N2 minutes."""
    from sleepspindles import ConfigError

    night = make_synthetic_night(duration_hours=0.5, sf=100.0, channels=("C3",), density=3.0, seed=3)
    rec, hyp = night.recording, night.recording.hypnogram
    stages = np.asarray(hyp.stages)
    for wrong in (Hypnogram(stages[: stages.size // 2], 30.0), Hypnogram(np.tile(stages, 2), 30.0),
                  Hypnogram(stages, 20.0)):
        with pytest.raises(ConfigError, match=r"'hypnogram' parameter must be stages of the same night"):
            detect_spindles(rec, wrong)
    # within one epoch, or unscored epochs past the end (Sleep-EDF), still match
    assert Hypnogram(stages[:-1], 30.0).matches(rec.duration)
    assert Hypnogram(np.r_[stages, [int(Stage.UNSCORED)] * 50], 30.0).matches(rec.duration)
    assert not Hypnogram(np.r_[stages, [int(Stage.N2)] * 2], 30.0).matches(rec.duration)
    assert len(detect_spindles(rec, hyp)) > 0


def test_summarize_refuses_what_is_not_an_events_table():
    from sleepspindles import ConfigError

    rec = Recording(np.zeros((1, 3000)), 100.0, ("C3",))
    with pytest.raises(ConfigError, match="'events' parameter must be an events table"):
        summarize(None, None, rec)
