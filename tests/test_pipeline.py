"""End to end with the default configuration: EDF+ file on disk -> events recovering planted spindles."""

import json

import numpy as np
import pandas as pd
import pytest

from sleepspindles.config import Config
from sleepspindles.output import write_edf
from sleepspindles.pipeline.demo import DEMO_CHANNELS, run_demo, score_against_truth
from sleepspindles.pipeline.run import analyse_recording, process_recording
from sleepspindles.synthetic import SyntheticConfig, make_synthetic_night


@pytest.fixture(scope="module")
def night_file(tmp_path_factory):
    night = make_synthetic_night(SyntheticConfig(duration_hours=1.0, sf=200.0, channels=("C3", "C4"),
                                                 density={"C3": 2.0, "C4": 3.0}, seed=11))
    path = tmp_path_factory.mktemp("pipe") / "night.edf"
    write_edf(night.recording, path)
    return path, night


def test_default_pipeline_recovers_planted_spindles(night_file):
    path, night = night_file
    result = process_recording(path)
    assert result.config.detection.method == Config().detection.method
    assert result.hypnogram.source == "scored"  # read back from the EDF+ annotations
    truth = night.truth[night.truth.stage.isin(["N2", "N3"])]
    scores = score_against_truth(truth, result.events, iou=0.2).set_index("channel")
    assert (scores["recall"] >= 0.8).all(), scores
    assert (scores["precision"] >= 0.8).all(), scores
    # the planted asymmetry (C4 denser) shows in the N2 densities
    n2 = result.summary.query("stage == 'N2' and band == 'all'").set_index("channel")["density"]
    assert n2["C4"] > n2["C3"] * 1.2
    assert set(result.sigma["channel"]) == {"C3", "C4"}


def test_in_memory_and_file_paths_agree(night_file):
    path, night = night_file
    from_file = process_recording(path).events
    in_memory = analyse_recording(night.recording).events
    # EDF stores 16-bit samples: the same spindles, bounds within a few samples
    assert abs(len(from_file) - len(in_memory)) <= 2
    merged = pd.merge_asof(from_file.sort_values("start"), in_memory.sort_values("start"), on="start",
                           by="channel", tolerance=0.05, direction="nearest", suffixes=("", "_mem"))
    assert merged["end_mem"].notna().mean() > 0.97


def test_demo_writes_everything_and_scores_well(tmp_path):
    demo = run_demo(tmp_path, hours=0.75, seed=3)
    for name in ("demo.edf", "truth.csv", "scores.csv", "events.csv", "summary.csv", "sigma.csv", "run.json"):
        assert (tmp_path / name).is_file(), name
    scores = pd.read_csv(tmp_path / "scores.csv")
    assert set(scores.channel) == set(DEMO_CHANNELS)
    assert scores.matched.sum() / scores.planted.sum() >= 0.8
    assert scores.matched.sum() / scores.detected.sum() >= 0.8
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["demo"]["trained_hand"] == "left" and run["demo"]["seed"] == 3
    assert "recall" in str(demo) and np.isfinite(scores.f1).all()


def test_dead_channel_is_dropped_and_the_rest_of_the_recording_analysed(tmp_path):
    """A dead F4 used to fail the whole recording, losing the subject's good C3/C4."""
    from sleepspindles.analysis.laterality import lateralise, night_from_tables
    from sleepspindles.output import write_run
    from sleepspindles.recording import Recording

    night = make_synthetic_night(SyntheticConfig(duration_hours=0.5, sf=128.0, channels=("F3", "F4", "C3", "C4"),
                                                 seed=5))
    data = np.array(night.recording.data)
    data[1] = 0.0  # F4: electrode never connected
    rec = night.recording
    dead = Recording(data, rec.sf, rec.channels, rec.original_names, rec.references, rec.kinds,
                     hypnogram=rec.hypnogram)
    path = tmp_path / "dead_f4.edf"
    write_edf(dead, path)
    result = process_recording(path)
    assert result.recording.eeg_channels == ("F3", "C3", "C4")
    assert list(result.record.recording.dropped_channels) == ["F4"]
    assert "flat" in result.record.recording.dropped_channels["F4"]
    f4 = result.summary[result.summary.channel == "F4"]
    assert len(f4) and f4["density"].isna().all() and f4["note"].str.startswith("not measurable").all()
    write_run(tmp_path / "out", result.tables, result.record)
    night_in = night_from_tables(result.summary, result.sigma, result.hypnogram.minutes("N2"), subject="s1",
                                 night="post", trained_hand="left")
    lat = lateralise([night_in])
    assert set(lat.laterality["pair"]) == {"C3/C4"}
    assert any("F3/F4 not lateralised: F4 not measurable" in p for p in lat.problems)


def test_demo_of_a_night_without_sleep_says_so_instead_of_nan(tmp_path):
    demo = run_demo(tmp_path, hours=0.15, seed=0)
    assert demo.scores["planted"].sum() == 0
    assert "no spindle was planted" in str(demo) and "nan" not in str(demo)


def test_hypnogram_scheme_of_the_config_reaches_the_reader(night_file, tmp_path):
    """Numeric codes 0-4 without a 5 are ambiguous: refused unless the scheme is declared."""
    from sleepspindles import DataError

    path, night = night_file
    hyp = tmp_path / "hyp.txt"
    codes = np.array(night.recording.hypnogram.stages)
    codes[-10:] = 4  # five minutes coded 4: REM in AASM numbering, stage 4 (N3) in R&K
    hyp.write_text("\n".join(str(int(s)) for s in codes) + "\n")
    with pytest.raises(DataError, match="ambiguous"):
        process_recording(path, hyp)
    aasm = process_recording(path, hyp, Config().replace("load", hypnogram_scheme="aasm"))
    assert aasm.hypnogram.minutes("REM") == 5.0
    rk = process_recording(path, hyp, Config().replace("load", hypnogram_scheme="rk"))
    assert rk.hypnogram.minutes("REM") == 0 and rk.hypnogram.minutes("N3") >= 5.0
