"""Shared kernels (``detection.core.kernels``) against their plain numpy twins, both code paths.

Each kernel is exercised compiled and as plain Python (``.py_func``), the second path being what
runs under ``SLEEPSPINDLES_NO_NUMBA=1``. :func:`path_fixture` builds that fixture for the other
kernel test files (``test_kernels_yasa.py``, ``test_kernels_events.py``).
"""

import numpy as np
import pytest

from sleepspindles.detection.core import kernels as K
from sleepspindles.detection.core import kernels_numba as KN
from sleepspindles.detection.core._numba import HAS_NUMBA
from sleepspindles.errors import ConfigError

PATHS = ["jit", "python"] if HAS_NUMBA else ["python"]


def path_fixture(*modules):
    """A ``path`` fixture: the wrappers run on the compiled loops of ``modules`` or on their
    pure-Python originals."""

    @pytest.fixture(params=PATHS)
    def path(request, monkeypatch):
        """Run the wrappers on the compiled kernels or on their pure-Python originals."""
        if request.param == "python":
            for module in modules:
                for name in dir(module):
                    func = getattr(module, name)
                    if hasattr(func, "py_func"):
                        monkeypatch.setattr(module, name, func.py_func)
        return request.param

    return path


path = path_fixture(KN)


def test_runs_and_merging_match_yasa_index_logic(path):
    rng = np.random.default_rng(5)
    mask = rng.random(2000) > 0.7
    starts, lasts = K.mask_runs(mask)
    s_ref, l_ref = K.mask_runs_ref(mask)
    np.testing.assert_array_equal(starts, s_ref)
    np.testing.assert_array_equal(lasts, l_ref)
    for gap in (1.5, 4.0, 12.5):
        got = K.merge_runs(starts, lasts, gap)
        ref = K.merge_runs_ref(starts, lasts, gap)
        np.testing.assert_array_equal(got[0], ref[0])
        np.testing.assert_array_equal(got[1], ref[1])
    assert K.mask_runs(np.ones(5, bool))[1].tolist() == [4]


def test_flat_mask(path):
    x = np.r_[np.arange(10.0), np.full(6, 3.0), np.arange(5.0), np.full(3, 1.0)]
    got = K.flat_mask(x, 5)
    np.testing.assert_array_equal(got, K.flat_mask_ref(x, 5))
    assert got.sum() == 6 and got[10:16].all()


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # inf - inf on the Python path
def test_prepare_rows_matches_numpy(path):
    """Copy, non-finite and flat flags, on quantised data (equal neighbours are common)."""
    rng = np.random.default_rng(15)
    for trial in range(60):
        n = int(rng.integers(50, 400))
        src = np.round(rng.standard_normal((3, n)) * rng.choice([0.5, 3.0, 100.0]))
        for _ in range(int(rng.integers(0, 4))):
            a = int(rng.integers(0, n))
            src[rng.integers(0, 3), a : a + int(rng.integers(1, 40))] = rng.choice([np.nan, np.inf, 1.0, 2.0])
        lo, off, min_flat = int(rng.integers(0, 8)), int(rng.integers(0, 5)), int(rng.integers(2, 25))
        hi = int(rng.integers(max(lo, n - 8), n + 1))
        seg = np.full((2, n + 10), -1, np.float32)
        bad = rng.random((2, n + 10)) > 0.5  # outside [off, off + hi - lo) must stay untouched
        seg_ref, bad_ref = seg.copy(), bad.copy()
        K.prepare_rows(src, [2, 0], lo, hi, off, min_flat, seg, bad)
        K.prepare_rows_ref(src, [2, 0], lo, hi, off, min_flat, seg_ref, bad_ref)
        np.testing.assert_array_equal(seg, seg_ref, err_msg=str(trial))
        np.testing.assert_array_equal(bad, bad_ref, err_msg=str(trial))
    # A flat run ended by a NaN is flagged (as one ended by a change of value).
    x = np.r_[np.arange(10.0), np.full(8, 5.0), np.nan, np.arange(10.0)][None, :]
    seg, bad = np.empty((1, 29), np.float32), np.zeros((1, 29), bool)
    K.prepare_rows(x, [0], 0, 29, 0, 6, seg, bad)
    assert np.flatnonzero(bad[0]).tolist() == list(range(10, 19)) and seg[0, 18] == 0


@pytest.mark.parametrize("group", [1, 2, 4, 5])
def test_sum_groups_is_its_twin(path, group):
    seg = np.random.default_rng(group).standard_normal((3, 40 * group)).astype(np.float32) * 100
    out = np.empty((3, 40), np.float32)
    np.testing.assert_array_equal(K.sum_groups(seg, group, out), K.sum_groups_ref(seg, group))
    with pytest.raises(ConfigError, match="seg/out"):
        K.sum_groups(seg[:, 1:], group if group > 1 else 2, out)
