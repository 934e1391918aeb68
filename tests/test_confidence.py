"""Per-spindle confidence (a7) and quality columns: the model, its calibration on DREAMS, ``min_confidence``."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from test_detect_a7 import _script

from sleepspindles.config import Config, DetectionConfig
from sleepspindles.detection import detect_spindles
from sleepspindles.detection.spindles import a7, confidence
from sleepspindles.errors import ConfigError
from sleepspindles.evaluation.calibration import calibration_table, fit_logistic, leave_one_group_out
from sleepspindles.schema import SPINDLES
from sleepspindles.synthetic import make_synthetic_night

QUALITY = ("sigma_snr", "rms_ratio", "peak_prominence")


@pytest.fixture(scope="module")
def night():
    return make_synthetic_night(duration_hours=0.5, seed=3, sf=100.0, eog_emg=False)


def test_a7_events_carry_a_confidence_and_quality(night):
    rec = night.recording
    events = detect_spindles(rec, rec.hypnogram)
    assert len(events) > 50 and list(events.columns) == list(SPINDLES.names)
    assert events.confidence.between(0, 1).all()
    # Planted spindles stand well above their background.
    assert (events.sigma_snr > 3).mean() > 0.9 and (events.peak_prominence > 5).mean() > 0.9
    assert events.rms_ratio.gt(1).mean() > 0.9


def test_fast_computes_quality_but_no_confidence(night):
    rec = night.recording
    events = detect_spindles(rec, rec.hypnogram, Config().replace("detection", method="fast"))
    assert len(events) > 50 and events.confidence.isna().all()
    assert all(events[c].notna().mean() > 0.95 for c in QUALITY)


def test_min_confidence_drops_exactly_the_events_below_it(night):
    rec = night.recording
    every = detect_spindles(rec, rec.hypnogram)
    cut = float(np.median(every.confidence))
    kept = detect_spindles(rec, rec.hypnogram, Config().replace("detection", min_confidence=cut))
    expected = every[every.confidence >= cut].reset_index(drop=True)
    assert 0 < len(kept) < len(every)
    pd.testing.assert_frame_equal(kept, expected)
    # The cheap decision (tuning) applies it too.
    feats = a7.a7_features(rec, rec.hypnogram, DetectionConfig())
    decided = a7.a7_decide(feats[0], dataclasses.replace(DetectionConfig(), min_confidence=cut))
    assert (decided.confidence >= cut).all()


def test_min_confidence_is_refused_where_no_confidence_is_computed():
    with pytest.raises(ConfigError, match="detection.min_confidence"):
        Config().replace("detection", method="fast", min_confidence=0.5)
    with pytest.raises(ConfigError, match="detection.min_confidence"):
        Config().replace("detection", min_confidence=1.5)


def test_logistic_fit_recovers_a_known_model():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2)) * [1.0, 3.0] + [0.0, 5.0]
    truth = np.array([-1.0, 2.0, -0.5])
    y = rng.random(4000) < confidence.logistic(x, truth)
    np.testing.assert_allclose(fit_logistic(x, y, l2=0.0), truth, atol=0.2)
    assert confidence.logistic(np.array([[1e4, 0.0], [-1e4, 0.0]]), truth).tolist() == [1.0, 0.0]  # no overflow
    groups = np.repeat([1, 2, 3, 4], 1000)
    held = leave_one_group_out(x, y, groups)
    assert held.shape == (4000,) and np.isfinite(held).all()
    table = calibration_table(held, y)
    assert table.n_events.sum() == 4000
    assert np.all(np.abs(table.fraction_right - table.mean_confidence) < 0.1)  # a calibrated model


def test_calibration_on_dreams_holds_out_of_excerpt(shared_data):
    """The calibration table of scripts/calibrate_confidence.py, reproduced.

    Leave-one-excerpt-out (each excerpt's events scored by a model fitted on the other three):
    measured 156 of 304 detections at confidence >= 0.8, 0.949 of them matched by an expert (the
    union on 0-1000 s, expert 2 after); the issue asks at least 0.8. The stored coefficients are
    the fit on all four excerpts.
    """
    calib = _script("calibrate_confidence")
    events = calib.labelled_events(shared_data / "dreams_spindles", [1, 2, 3, 4], "default")
    held = calib.held_out(events, events)
    top = held >= 0.8
    assert top.sum() >= 100 and events.right[top].mean() >= 0.9
    table = calibration_table(held, events.right)
    assert table.fraction_right.iloc[-1] == pytest.approx(events.right[top].mean())
    assert table.fraction_right.iloc[-1] > table.fraction_right.iloc[1]  # confidence ranks the events
    coef = fit_logistic(events[list(confidence.INPUTS)], events.right)
    np.testing.assert_allclose(coef, confidence.COEFFICIENTS, atol=2e-3)


def test_calibration_holds_for_the_reference_preset(shared_data):
    """The same model scores ``a7.preset: reference`` detections (each excerpt by the model fitted on the
    other three excerpts' default detections): measured 140 of 307 at confidence >= 0.8, 0.943 right."""
    calib = _script("calibrate_confidence")
    folder = shared_data / "dreams_spindles"
    train = calib.labelled_events(folder, [1, 2, 3, 4], "default")
    events = calib.labelled_events(folder, [1, 2, 3, 4], "reference")
    held = calib.held_out(train, events)
    top = held >= 0.8
    assert top.sum() >= 100 and events.right[top].mean() >= 0.85
