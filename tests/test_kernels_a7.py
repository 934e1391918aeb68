"""A7 kernels against their numpy twins and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from sleepspindles.detection.spindles import kernels_a7 as k
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
    for name in ("abs_pow", "rel_pow", "cov", "corr"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("step, win", [(4, 10), (7, 5), (10, 10)])
def test_window_features_match_twin_on_strided_input_and_any_step(step, win):
    # Windows summed from pieces of gcd(step, win) samples; sigma read in place from an analytic signal.
    sigma, broad = _signals(seed=4)
    analytic = (sigma + 1j * np.roll(sigma, 3)).astype(np.complex64)
    n_win = (sigma.size - 3 - win) // step + 1
    got = k.window_features(analytic.real, broad, 3, step, win, n_win)
    ref = k.window_features_ref(sigma, broad, 3, step, win, n_win)
    for name in ("abs_pow", "rel_pow", "cov", "corr"):
        np.testing.assert_allclose(getattr(got, name), getattr(ref, name), rtol=1e-6, atol=1e-9)
    assert k.window_features(sigma, broad, 0, step, win, 0).abs_pow.shape == (0,)


def test_window_features_of_a_pure_sine():
    t = np.arange(300) / 100
    x = (4 * np.sin(2 * np.pi * 12.5 * t)).astype(np.float64)  # 0.3 s = 3.75 cycles; use whole cycles below
    f = k.window_features(x, x, 0, 8, 24, 10)  # 24 samples at 100 Hz = 3 cycles of 12.5 Hz
    np.testing.assert_allclose(f.abs_pow, np.log10(8.0), atol=1e-9)  # mean square A^2/2 = 8
    np.testing.assert_allclose(f.rel_pow, 0.0, atol=1e-9)  # sigma is all of the broadband
    np.testing.assert_allclose(f.corr, 1.0, atol=1e-9)
    np.testing.assert_allclose(f.cov, np.log10(1 + 8.0 * 24 / 23), atol=1e-9)  # ddof=1 covariance


def test_window_features_flat_window_is_nan_and_bounds_are_checked():
    z = np.zeros(100)
    f = k.window_features(z, z, 0, 10, 30, 8)
    assert np.all(np.isnan(f.abs_pow)) and np.all(np.isnan(f.corr)) and np.all(f.cov == 0)
    with pytest.raises(ConfigError, match="first/n_windows"):
        k.window_features(z, z, 0, 10, 30, 9)


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
