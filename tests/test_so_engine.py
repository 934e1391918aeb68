"""The slow-oscillation engine against planted ground truth: recall, precision, thresholds, polarity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sleepspindles import Recording
from sleepspindles.config import Config
from sleepspindles.detection import detect_all
from sleepspindles.evaluation.matching import match_events
from sleepspindles.io.channels import homologue
from sleepspindles.schema import SLOW_OSCILLATIONS, SPINDLES
from sleepspindles.synthetic import make_synthetic_night

CHANNELS = ("C3", "C4", "Cz")


@pytest.fixture(scope="module")
def night():
    """1.5 h at 128 Hz, SOs at 8 per minute of N3 (a third of them global), half the spindles locked."""
    return make_synthetic_night(duration_hours=1.5, sf=128.0, channels=CHANNELS, so_density=8.0,
                                so_shared_fraction=0.4, coupled_fraction=0.5, coupling_phase=0.0,
                                coupling_kappa=4.0, seed=11)


@pytest.fixture(scope="module")
def found(night):
    return detect_all(night.recording, night.recording.hypnogram, Config())


def test_planted_slow_oscillations_are_found(night, found):
    events = found["slow_oscillations"].events
    assert list(events.columns) == list(SLOW_OSCILLATIONS.names)
    for channel in CHANNELS:
        truth = night.so_truth[night.so_truth.channel == channel]
        det = events[events.channel == channel]
        m = match_events(truth.start, truth.end, det.start, det.end, iou=0.5)
        assert m.recall >= 0.9 and m.precision >= 0.9, (channel, m.recall, m.precision)
    assert set(events.stage) <= {"N2", "N3"}
    assert ((events.start < events.neg_peak) & (events.neg_peak < events.mid_crossing)
            & (events.mid_crossing < events.pos_peak) & (events.pos_peak < events.end)).all()
    assert np.allclose(events.ptp, events.val_pos - events.val_neg)
    assert (events.val_neg <= -40).all() and (events.ptp >= 75).all()


def test_spindles_are_annotated_only_when_coupled(found):
    spindles = found["spindles"].events
    assert list(spindles.columns) == list(SPINDLES.names)
    coupled = spindles.so_coupled.astype(bool)
    assert 0.2 < coupled.mean() < 0.9
    assert spindles.so_phase[coupled].notna().all() and spindles.so_phase[~coupled].isna().all()
    sos = found["slow_oscillations"].events
    for row in spindles[coupled].itertuples():
        mine = sos[sos.channel == row.channel]
        assert ((mine.start <= row.sigma_peak) & (row.sigma_peak <= mine.end)).any()


def test_spindle_events_without_slow_oscillations_say_not_computed(night):
    off = detect_all(night.recording, night.recording.hypnogram, Config().replace("slow_oscillations", enabled=False))
    assert "slow_oscillations" not in off
    assert off["spindles"].events.so_coupled.isna().all() and off["spindles"].events.so_phase.isna().all()


def test_block_size_does_not_change_the_events(night, found):
    """An SO across a block edge is found once, with the same bounds (blocks of 600 s vs the night)."""
    from sleepspindles.detection.slow_oscillations import engine

    small = engine._BLOCK_SECONDS
    try:
        engine._BLOCK_SECONDS = 60.0
        again = detect_all(night.recording, night.recording.hypnogram, Config())["slow_oscillations"].events
    finally:
        engine._BLOCK_SECONDS = small
    a = found["slow_oscillations"].events
    assert len(again) == len(a)
    np.testing.assert_allclose(again[["start", "end", "val_neg"]], a[["start", "end", "val_neg"]], atol=1e-3)


def test_relative_threshold_pooled_over_the_pair_keeps_an_asymmetry(night):
    """Per-channel percentiles equalise counts across hemispheres; a pooled one keeps C4's larger SOs."""
    rec = night.recording
    data = np.array(rec.data)
    data[0] *= 0.6  # C3's slow waves (and everything else) smaller than C4's
    smaller = Recording(data, rec.sf, rec.channels, hypnogram=rec.hypnogram)
    counts = {}
    for pooling in ("channel", "pair"):
        config = Config().replace("slow_oscillations", amplitude="relative", percentile=15.0, pooling=pooling)
        found = detect_all(smaller, rec.hypnogram, config)["slow_oscillations"]
        counts[pooling] = found.events.groupby("channel").size().reindex(list(CHANNELS), fill_value=0)
        thresholds = found.tables["so_channels"].set_index("channel")["threshold"]
        assert thresholds["C3"].startswith("relative, top 15%")
        assert ("pooled over C3/C4" in thresholds["C3"]) == (pooling == "pair")
    per_channel, pooled = counts["channel"], counts["pair"]
    assert abs(per_channel["C3"] - per_channel["C4"]) < 0.15 * per_channel["C4"]
    assert pooled["C3"] < 0.7 * pooled["C4"]
    assert homologue("C3") == "C4" and homologue("Cz") is None


def test_an_inverted_channel_is_flagged_not_flipped(night):
    rec = night.recording
    data = np.array(rec.data)
    data[1] *= -1  # C4 recorded upside down
    flipped = Recording(data, rec.sf, rec.channels, hypnogram=rec.hypnogram)
    found = detect_all(flipped, rec.hypnogram, Config())["slow_oscillations"]
    polarity = found.tables["so_channels"].set_index("channel")["polarity"]
    assert polarity["C4"].startswith("looks inverted") and polarity["C3"] == "ok" and polarity["Cz"] == "ok"
    assert any("channel C4 looks inverted" in note for note in found.notes)
    assert np.array_equal(flipped.data, data)  # flagged, never flipped


def test_spindle_on_the_sample_two_candidates_share_couples_to_the_kept_one():
    """A kept SO between two rejected ones: a spindle peak on either of its edges is inside it.

    Consecutive candidates share a sample (one ends where the next starts); the rejected
    neighbour must not take a spindle from the kept SO (nor the other way round).
    """
    from sleepspindles.detection import DetectionResult, RecordingContext
    from sleepspindles.detection.slow_oscillations import engine

    sf = 100.0
    t = np.arange(int(20 * sf)) / sf
    amplitude = np.where(np.floor(t) % 2 == 0, 20.0, 100.0)  # 1 s cycles: small, large, small...
    x = -amplitude * np.sin(2 * np.pi * t)
    rec = Recording(np.vstack([x]), sf, ("C3",))
    config = Config().replace("slow_oscillations", amplitude="absolute")
    empty = RecordingContext(rec, None, config, {})
    sos = engine.detect(rec, None, config.slow_oscillations, empty).events
    assert len(sos) >= 5 and (sos.ptp > 150).all()  # only the large cycles are kept
    so = sos.iloc[len(sos) // 2]
    peaks = [so.start, (so.start + so.end) / 2, so.end]
    spindles = SPINDLES.conform(pd.DataFrame({
        "channel": "C3", "stage": "UNSCORED", "start": np.subtract(peaks, 0.3), "peak": peaks,
        "end": np.add(peaks, 0.3), "duration": 0.6, "amplitude": 30.0, "rms": 10.0, "frequency": 13.0,
        "oscillations": 8, "symmetry": 0.5,
    }))  # fmt: skip
    context = RecordingContext(rec, None, config, {"spindles": DetectionResult(events=spindles)})
    annotated = engine.detect(rec, None, config.slow_oscillations, context).tables["spindles"]
    assert annotated.so_coupled.tolist() == [True, True, True]
    surrogates = engine.detect(rec, None, config.slow_oscillations, context).extra["surrogates"]["C3"]
    assert np.isfinite(surrogates.phases).all() and surrogates.phases.shape[0] == 3
