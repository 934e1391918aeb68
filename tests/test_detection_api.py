"""The public detection entry point: validation, empty tables, NaN and flat handling, per engine."""

import numpy as np
import pytest

from sleepspindles import Hypnogram, Recording
from sleepspindles.config import Config
from sleepspindles.detection import detect_spindles, run_detection
from sleepspindles.errors import ConfigError
from sleepspindles.schema import SPINDLES, engine_names

SF = 100.0


def _bursty(seed=0, minutes=10, n_ch=2):
    """Noise with 1 s, 13 Hz bursts every 15 s from t=20 s; returns data and burst onsets."""
    rng = np.random.default_rng(seed)
    n = int(minutes * 60 * SF)
    data = rng.normal(0, 8, (n_ch, n))
    onsets = np.arange(20, minutes * 60 - 20, 15.0)
    t = np.arange(int(SF)) / SF
    burst = 30 * np.sin(2 * np.pi * 13 * t) * np.hanning(t.size)
    for t0 in onsets:
        i = int(t0 * SF)
        data[:, i : i + t.size] += burst
    return data, onsets


@pytest.fixture(scope="module")
def night():
    data, onsets = _bursty()
    rec = Recording(data, SF, ("C3", "C4"))
    hyp = Hypnogram(np.r_[np.full(10, 2), np.full(10, 4)])  # first 5 min N2, last 5 min REM
    return rec, hyp, onsets


@pytest.mark.parametrize("method", engine_names("spindles"))
def test_bursts_found_only_in_searched_stages(night, method):
    rec, hyp, onsets = night
    # YASA's method at YASA's own band (12-15 Hz): the default 11-16 Hz lets it take a few noise
    # stretches of this 8 uV white noise for spindles.
    yasa_band = {} if method == "a7" else {"band": (12.0, 15.0), "duration": (0.5, 2.0)}
    cfg = Config().replace("detection", method=method, stages=("N2",), **yasa_band)
    ev = detect_spindles(rec, hyp, cfg)
    assert list(ev.columns) == list(SPINDLES.names)
    assert set(ev.stage) == {"N2"} and (ev.end <= 300.5).all()
    expected = onsets[onsets + 1 <= 300]
    for ch in ("C3", "C4"):
        starts = ev.loc[ev.channel == ch, "start"].to_numpy()
        hits = sum(np.any(np.abs(starts - t0) < 0.5) for t0 in expected)
        assert hits >= 0.8 * expected.size
        assert starts.size <= expected.size + 1
        assert ev.loc[ev.channel == ch, "frequency"].between(12, 14).all()


@pytest.mark.parametrize("method", engine_names("spindles"))
def test_no_hypnogram_searches_everything(night, method):
    rec, _, onsets = night
    ev = detect_spindles(rec, None, Config().replace("detection", method=method))
    assert set(ev.stage) == {"UNSCORED"}
    assert ev.end.max() > 300  # REM half included when unstaged
    assert len(ev[ev.channel == "C3"]) >= 0.8 * onsets.size


@pytest.mark.parametrize("method", engine_names("spindles"))
def test_nothing_found_is_an_empty_table(method):
    rec = Recording(np.random.default_rng(1).normal(0, 10, (1, int(300 * SF))), SF, ("Cz",))
    hyp = Hypnogram(np.full(10, 4))  # all REM: nothing searched
    ev = detect_spindles(rec, hyp, Config().replace("detection", method=method))
    assert ev is not None and len(ev) == 0 and list(ev.columns) == list(SPINDLES.names)


@pytest.mark.parametrize("method", engine_names("spindles"))
def test_nan_stretch_is_excluded_and_reported(night, method):
    rec, hyp, _ = night
    data = np.array(rec.data)
    data[0, 6000:9000] = np.nan  # 30 s of NaN on C3 inside N2
    bad = Recording(data, SF, rec.channels)
    res = run_detection(bad, hyp, Config().replace("detection", method=method, stages=("N2",)))
    assert res.excluded_seconds["C3"] == pytest.approx(30.0)
    assert res.excluded_seconds["C4"] == 0.0
    c3 = res.events[res.events.channel == "C3"]
    assert not ((c3.end > 60) & (c3.start < 90)).any()
    assert len(c3) >= 10


def test_bad_arguments_are_clear_errors(night):
    rec, hyp, _ = night
    with pytest.raises(ConfigError, match="The 'recording' parameter must be"):
        detect_spindles(rec.data, hyp)
    with pytest.raises(ConfigError, match="The 'hypnogram' parameter must be"):
        detect_spindles(rec, [2, 2, 2])
