"""A7 kernels against their numpy twins and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from sleepspindles.detection.spindles import kernels_a7 as k
from sleepspindles.detection.spindles import kernels_a7_candidates as kc
from sleepspindles.detection.spindles import kernels_a7_periodogram as kp
from sleepspindles.errors import ConfigError


def _signals(n=600, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 100
    sigma = (10 * np.sin(2 * np.pi * 13 * t) * (rng.random(n) > 0.1)).astype(np.float32)
    broad = (sigma + 20 * rng.standard_normal(n)).astype(np.float32)
    return sigma, broad


def test_window_features_match_twin():
    sigma, broad = _signals()
    got = k.window_features(sigma, broad, 5, 10, 30, 55)
    ref = k.window_features_ref(sigma, broad, 5, 10, 30, 55)
    for name in ("abs_pow", "cov", "corr"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("step, win", [(4, 10), (7, 5), (10, 10)])
def test_window_features_match_twin_on_strided_input_and_any_step(step, win):
    # Windows summed from pieces of gcd(step, win) samples; sigma read in place from an analytic signal.
    sigma, broad = _signals(seed=4)
    analytic = (sigma + 1j * np.roll(sigma, 3)).astype(np.complex64)
    n_win = (sigma.size - 3 - win) // step + 1
    got = k.window_features(analytic.real, broad, 3, step, win, n_win)
    ref = k.window_features_ref(sigma, broad, 3, step, win, n_win)
    for name in ("abs_pow", "cov", "corr"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-6, atol=1e-9)
    assert k.window_features(sigma, broad, 0, step, win, 0).abs_pow.shape == (0,)


def test_window_features_of_a_pure_sine():
    t = np.arange(300) / 100
    x = (4 * np.sin(2 * np.pi * 12.5 * t)).astype(np.float64)  # 0.3 s = 3.75 cycles; use whole cycles below
    f = k.window_features(x, x, 0, 8, 24, 10)  # 24 samples at 100 Hz = 3 cycles of 12.5 Hz
    np.testing.assert_allclose(f.abs_pow, np.log10(8.0), atol=1e-9)  # mean square A^2/2 = 8
    np.testing.assert_allclose(f.corr, 1.0, atol=1e-9)
    np.testing.assert_allclose(f.cov, np.log10(1 + 8.0 * 24 / 23), atol=1e-9)  # ddof=1 covariance


def test_window_features_flat_window_is_nan_and_bounds_are_checked():
    z = np.zeros(100)
    f = k.window_features(z, z, 0, 10, 30, 8)
    assert np.all(np.isnan(f.abs_pow)) and np.all(np.isnan(f.corr)) and np.all(f.cov == 0)
    with pytest.raises(ConfigError, match="first/n_windows"):
        k.window_features(z, z, 0, 10, 30, 9)


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("step, win, n_fft", [(10, 30, 200), (20, 60, 400), (7, 31, 64)])
def test_periodogram_ratio_matches_twin(step, win, n_fft, compiled, monkeypatch):
    # Lag-weighted autocorrelations per window against np.fft on the zero-padded Hann window,
    # strided input too; the loop compiled and as plain Python (SLEEPSPINDLES_NO_NUMBA=1's path).
    if not compiled:
        monkeypatch.setattr(kp, "_periodogram_ratio", getattr(kp._periodogram_ratio, "py_func", kp._periodogram_ratio))
    _, broad = _signals(n=900, seed=6)
    analytic = (broad + 1j * np.roll(broad, 3)).astype(np.complex64)
    n_win = (broad.size - 4 - win) // step + 1
    bins = (round(11 * n_fft / 100), round(16 * n_fft / 100)), (round(4.5 * n_fft / 100), n_fft // 2 - 1)
    got = kp.periodogram_ratio(analytic.real, 4, step, win, n_win, n_fft, *bins)
    np.testing.assert_allclose(got, kp.periodogram_ratio_ref(broad, 4, step, win, n_win, n_fft, *bins), rtol=1e-6)
    assert kp.periodogram_ratio(broad, 0, step, win, 0, n_fft, *bins).shape == (0,)


def test_periodogram_ratio_of_a_sine_and_its_errors():
    # A 13 Hz sine keeps most of its power in the sigma bins (a 0.3 s Hann window leaks ~6 Hz
    # either side), a 6 Hz one under 1 %.
    t = np.arange(300) / 100
    for freq, lo, hi in ((13.0, -0.1, 0.0), (6.0, -np.inf, -2.0)):
        r = kp.periodogram_ratio(np.sin(2 * np.pi * freq * t), 0, 10, 30, 27, 200, (22, 32), (9, 60))
        assert np.all((r > lo) & (r <= hi + 1e-12))
    assert np.isnan(kp.periodogram_ratio(np.zeros(100), 0, 10, 30, 8, 200, (22, 32), (9, 60))).all()
    with pytest.raises(ConfigError, match="num_bins"):
        kp.periodogram_ratio(t, 0, 10, 30, 5, 200, (22, 120), (9, 60))
    with pytest.raises(ConfigError, match="first/n_windows"):
        kp.periodogram_ratio(t, 0, 10, 30, 29, 200, (22, 32), (9, 60))


def test_span_means_match_twin():
    rng = np.random.default_rng(8)
    x = rng.standard_normal(300)
    x[rng.random(300) < 0.2] = np.nan
    x[40:50] = np.nan  # a span with no finite value
    starts = np.array([0, 40, 45, 100, 299])
    lasts = np.array([9, 49, 60, 250, 299])
    np.testing.assert_allclose(k.span_means(x, starts, lasts), k.span_means_ref(x, starts, lasts), equal_nan=True)
    assert np.isnan(k.span_means(x, starts, lasts)[1])
    with pytest.raises(ConfigError):
        k.span_means(x, np.array([5]), np.array([300]))


@pytest.mark.parametrize("n_base", [2, 7, 50, 500])
def test_baseline_zscore_matches_twin(n_base):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(300)
    x[::17] = np.nan
    valid = rng.random(300) > 0.2
    lo, hi = np.nanpercentile(x[valid], [10, 90])
    np.testing.assert_allclose(k.baseline_zscore(x, valid, n_base, lo, hi), k.baseline_zscore_ref(x, valid, n_base, lo, hi),
                               rtol=1e-7, atol=1e-7, equal_nan=True)


def test_baseline_zscore_edge_cases():
    x = np.arange(10.0)
    none = np.zeros(10, bool)
    assert np.isnan(k.baseline_zscore(x, none, 4, 0, 9)).all()  # no valid value
    assert np.isnan(k.baseline_zscore(x, ~none, 4, 20, 30)).all()  # every baseline value outside the limits
    assert np.isnan(k.baseline_zscore(np.ones(10), ~none, 4, 0, 2)).all()  # no spread
    # One valid value between invalid ones: its neighbours are scored against it and the next.
    valid = np.array([0, 0, 1, 0, 0, 1, 1, 0, 0, 0], bool)
    z = k.baseline_zscore(x, valid, 2, -np.inf, np.inf)
    np.testing.assert_allclose(z, k.baseline_zscore_ref(x, valid, 2, -np.inf, np.inf), equal_nan=True)
    assert z[0] == pytest.approx((0 - 3.5) / np.std([2.0, 5.0], ddof=1))


def test_baseline_zscore_is_local():
    # Two halves with different levels: each value is scored against its own half.
    x = np.r_[np.tile([0.0, 1.0], 100), np.tile([10.0, 11.0], 100)]
    z = k.baseline_zscore(x, np.ones(x.size, bool), 20, -np.inf, np.inf)
    sd = np.std([0.0, 1.0] * 10, ddof=1)
    assert z[50] == pytest.approx(-0.5 / sd) and z[351] == pytest.approx(0.5 / sd)


def test_segment_means_match_twin_and_hand_values():
    x = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    np.testing.assert_allclose(k.segment_means(x, 3), [1.0, 1.5, 1.5, 3.0, 4.5])
    rng = np.random.default_rng(2)
    y = rng.standard_normal(200)
    y[rng.random(200) < 0.3] = np.nan
    np.testing.assert_allclose(k.segment_means(y, 3), k.segment_means_ref(y, 3), equal_nan=True)


def test_extend_runs_matches_a7_loop():
    rng = np.random.default_rng(3)
    for _ in range(50):
        extend = rng.random(120) > 0.4
        core = extend & (rng.random(120) > 0.7)
        got = k.extend_runs(core, extend)
        ref = k.extend_runs_ref(core, extend)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])


def test_extend_runs_hand_example():
    extend = np.array([0, 1, 1, 1, 0, 1, 1, 0, 1], bool)
    core = np.array([0, 0, 1, 0, 0, 0, 0, 0, 1], bool)
    s, e = k.extend_runs(core, extend)
    assert s.tolist() == [1, 8] and e.tolist() == [3, 8]
    with pytest.raises(ConfigError):
        k.extend_runs(np.array([1], bool), np.array([0], bool))


@pytest.mark.parametrize("threshold", [0.5, None, 5.0])
def test_candidate_runs_match_twin(threshold):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(400)
    x[rng.random(400) < 0.05] = np.nan
    for n_first in (0, 37, 398):
        got = kc.candidate_runs(x, threshold, 3, n_first)
        ref = kc.candidate_runs_ref(x, threshold, 3, n_first)
        for a, b in zip(got, ref):
            np.testing.assert_array_equal(a, b)
    py = kc._candidate_runs.py_func if hasattr(kc._candidate_runs, "py_func") else kc._candidate_runs
    starts, lasts = np.empty(398, np.int64), np.empty(398, np.int64)
    n = py(x, 0.5, False, 3, 398, starts, lasts)
    np.testing.assert_array_equal(starts[:n], kc.candidate_runs_ref(x, 0.5, 3, 398)[0])


def test_segments_all_matches_twin():
    rng = np.random.default_rng(12)
    mask = rng.random((3, 500)) > 0.01
    np.testing.assert_array_equal(kc.segments_all(mask, 7, 10, 49), kc.segments_all_ref(mask, 7, 10, 49))
    with pytest.raises(ConfigError):
        kc.segments_all(mask, 7, 10, 50)


@pytest.mark.parametrize("of_powers", [False, True])
def test_segment_feature_matches_twin(of_powers):
    rng = np.random.default_rng(13)
    x = rng.standard_normal(500).astype(np.float32)
    x[rng.random(500) < 0.05] = np.nan
    x[10:14] = np.nan  # a segment with no finite window
    if of_powers:
        x[100:103] = -np.inf  # no power: log10 of 0
    got = k.segment_feature(x, 3, of_powers)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, k.segment_feature_ref(x, 3, of_powers))
    py = getattr(k._segment_feature, "py_func", k._segment_feature)
    out = np.empty(x.size, np.float32)
    with np.errstate(divide="ignore"):
        py(x, 3, of_powers, out)
    np.testing.assert_array_equal(out, got)
