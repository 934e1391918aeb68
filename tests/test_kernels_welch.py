"""Welch kernels (``analysis.kernels_welch``) against their numpy twins, compiled and as plain Python."""

import numpy as np
import pytest
from test_kernels import path_fixture

from sleepspindles.analysis import kernels_welch as K
from sleepspindles.analysis import kernels_welch_numba as KN
from sleepspindles.errors import ConfigError

path = path_fixture(KN)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_detrended_segments_are_the_twins(path, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((3, 5000)) * 40 + 3000).astype(dtype)  # a large offset: the means are removed
    starts = np.array([0, 700, 701, 3900])
    got = K.detrended_segments(x, starts, 7, 64, 128)
    expected = K.detrended_segments_ref(x, starts, 7, 64, 128)
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-3)
    assert got.dtype == np.float32 and got.shape == (3, 4, 7, 128)
    assert abs(got.mean()) < 0.05  # detrended
    # written into a strided view of a larger buffer, as for the runs of a signal source
    buffer = np.zeros((3, 6, 7, 128), np.float32)
    K.detrended_segments(x, starts, 7, 64, 128, buffer[:, 1:5])
    np.testing.assert_array_equal(buffer[:, 1:5], got)
    assert not buffer[:, [0, 5]].any()


def test_a_non_finite_sample_spoils_only_its_segments(path):
    x = np.ones((1, 1000))
    x[0, 300] = np.nan
    got = K.detrended_segments(x, [0], 6, 128, 256)
    spoiled = [s for s in range(6) if np.isnan(got[0, 0, s]).any()]
    assert spoiled == [s for s in range(6) if s * 128 <= 300 < s * 128 + 256] == [1, 2]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_constant_segment_is_exactly_zero(path, dtype):
    """How a flat epoch (a disconnected electrode at a constant value) is recognised: it has no power at all."""
    x = np.full((1, 2000), 7.1, dtype=dtype)  # 7.1 has no exact binary value: a float64 mean would leave a residue
    assert not K.detrended_segments(x, [0, 700], 7, 128, 256).any()


def test_power_mean_is_the_twin(path):
    rng = np.random.default_rng(1)
    spectrum = (rng.standard_normal((2, 3, 5, 33)) + 1j * rng.standard_normal((2, 3, 5, 33))).astype(np.complex64)
    np.testing.assert_allclose(K.power_mean(spectrum, 20), K.power_mean_ref(spectrum, 20), rtol=1e-6)
    assert K.power_mean(spectrum, 20).shape == (2, 3, 20)


def test_kernels_refuse_bad_input():
    with pytest.raises(ConfigError, match="'starts'"):
        K.detrended_segments(np.zeros((1, 100)), [50], 2, 32, 64)  # 50 + 32 + 64 > 100
    with pytest.raises(ConfigError, match="'x'"):
        K.detrended_segments(np.zeros(100), [0], 1, 32, 64)
    with pytest.raises(ConfigError, match="'spectrum'"):
        K.power_mean(np.zeros((1, 1, 2, 5)), 3)  # real
    with pytest.raises(ConfigError, match="'spectrum'"):
        K.power_mean(np.zeros((1, 1, 2, 5), complex), 6)
