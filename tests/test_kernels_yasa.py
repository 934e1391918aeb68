"""YASA's criteria (``detection.spindles.kernels_yasa``) against their numpy and scipy twins, both code paths.

Each kernel in ``kernels_yasa_numba`` is exercised compiled and as plain Python (``.py_func``), the
second path being what runs under ``SLEEPSPINDLES_NO_NUMBA=1``.
"""

import numpy as np
import pytest
import scipy.signal
from test_kernels import path_fixture

from sleepspindles.detection.spindles import kernels_yasa as K
from sleepspindles.detection.spindles import kernels_yasa_numba as KN

path = path_fixture(KN)


def test_moving_rms_corr_matches_windowwise_numpy(path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(700).astype(np.float32)
    y = (0.6 * x + rng.standard_normal(700)).astype(np.float32)
    y[300:340] = 2.0  # a flat stretch: correlation undefined there
    rms, corr = K.moving_rms_corr(x, y, 5, 10, 15, 70)
    rms_ref, corr_ref = K.moving_rms_corr_ref(x, y, 5, 10, 15, 70)
    np.testing.assert_allclose(rms, rms_ref, rtol=1e-9)
    np.testing.assert_array_equal(np.isnan(corr), np.isnan(corr_ref))
    assert np.isnan(corr[31]) and np.isnan(corr[32])  # windows [300, 330) and [310, 340): flat y
    np.testing.assert_allclose(corr[~np.isnan(corr)], corr_ref[~np.isnan(corr_ref)], atol=1e-9)


@pytest.mark.parametrize("half", [15, 12])  # 2 * half a multiple of the step (per-step sums) or not
def test_moving_rms_and_corr_on_pieces_match_windowwise_numpy(path, half):
    rng = np.random.default_rng(14)
    z = (rng.standard_normal(900) + 1j * rng.standard_normal(900)).astype(np.complex64)
    x = z.real  # a strided view: read in place
    y = (0.5 * x + rng.standard_normal(900)).astype(np.float32)
    x[400:460] = 3.0
    y[400:460] = -1.0  # flat in both: correlation undefined, RMS exact
    rms, corr = K.moving_rms_corr(x, y, -3, 10, half, 92)
    rms_ref, corr_ref = K.moving_rms_corr_ref(x, y, -3, 10, half, 92)
    np.testing.assert_allclose(rms, rms_ref, rtol=1e-9)
    np.testing.assert_allclose(K.moving_rms(x, -3, 10, half, 92), rms_ref, rtol=1e-9)
    np.testing.assert_array_equal(np.isnan(corr), np.isnan(corr_ref))
    np.testing.assert_allclose(corr[~np.isnan(corr)], corr_ref[~np.isnan(corr_ref)], atol=1e-9)
    assert np.isnan(corr[43]) and rms[43] == pytest.approx(3.0)  # window [427 - half, 427 + half)


def test_interp_knots_is_linear_interpolation(path):
    knots = np.array([0.0, 10.0, 5.0, 7.0])
    out = K.interp_knots(knots, first=20, step=10, start=15, n=40)
    np.testing.assert_allclose(out, K.interp_knots_ref(knots, 20, 10, 15, 40), atol=1e-6)
    assert out[30 - 15] == pytest.approx(10.0) and out[35 - 15] == pytest.approx(7.5)


@pytest.mark.parametrize("frame_len,step,sig,broad", [(200, 20, (24, 30), (2, 60)), (400, 40, (24, 30), (2, 60))])
def test_stft_band_ratio_matches_fft_per_frame(path, frame_len, step, sig, broad):
    rng = np.random.default_rng(2)
    t = np.arange(20 * frame_len) / (frame_len / 2)
    x = rng.standard_normal(t.size) + 3 * np.sin(2 * np.pi * 13 * t) * (t > 8)
    got = K.stft_band_ratio(x.astype(np.float32), frame_len, step, sig, broad)
    ref = K.stft_band_ratio_ref(x, frame_len, step, sig, broad)
    assert got.shape == ref.shape
    np.testing.assert_allclose(got, ref, atol=2e-5)
    assert got[-1] > 0.5 > got[0]  # the 13 Hz tone dominates the last frames only


def test_stft_band_ratio_computes_only_the_frames_asked_for(path):
    """Runs of flagged frames (each restarting the running sum) equal the full computation."""
    rng = np.random.default_rng(12)
    x = rng.standard_normal(6000).astype(np.float32)
    n_frames = 6000 // 20 - 10 + 1
    need = np.zeros(n_frames, dtype=bool)
    need[[0, 1, 2, 40, 45, 46, 47, n_frames - 1]] = True  # isolated frames, runs, both ends
    need[100:130] = True
    got = K.stft_band_ratio(x, 200, 20, (24, 30), (2, 60), need=need)
    ref = K.stft_band_ratio_ref(x, 200, 20, (24, 30), (2, 60), need=need)
    assert np.isnan(got[~need]).all() and np.isnan(ref[~need]).all()
    np.testing.assert_allclose(got[need], ref[need], atol=2e-5)
    np.testing.assert_allclose(got[need], K.stft_band_ratio(x, 200, 20, (24, 30), (2, 60))[need], atol=1e-6)


def test_stft_band_ratio_agrees_with_scipy_stft():
    """The definition YASA uses: scipy.signal.stft with zero boundary, band sums per frame."""
    rng = np.random.default_rng(3)
    sf, x = 100, rng.standard_normal(3000)
    f, _, z = scipy.signal.stft(x, sf, nperseg=200, noverlap=180, detrend=False, padded=True)
    p = np.abs(z) ** 2
    ref = p[(f >= 12) & (f <= 15)].sum(0) / p[(f >= 1) & (f <= 30)].sum(0)
    padded = np.r_[np.zeros(100), x, np.zeros(300)].astype(np.float32)
    got = K.stft_band_ratio(padded, 200, 20, (24, 30), (2, 60))
    np.testing.assert_allclose(got[: ref.size], ref, atol=2e-5)


def test_knot_votes_equal_interpolation_then_threshold(path):
    rng = np.random.default_rng(13)
    knots = rng.random(40)
    knots[7] = np.nan  # a NaN knot never votes on its two segments
    for start, thr in ((0, 0.5), (-7, 0.3), (35, 0.8)):
        count = np.ones(400, dtype=np.uint8)
        ref = count.copy()
        K.knot_votes(count, knots, 3, 10, start, thr)
        K.knot_votes_ref(ref, knots, 3, 10, start, thr)
        np.testing.assert_array_equal(count, ref)
        expected = 1 + (K.interp_knots(knots, 3, 10, start, 400) >= thr)
        np.testing.assert_array_equal(count, expected)
    assert count[70 - 35] == 1  # sample 70 sits on the NaN knot


def test_knot_votes_at_the_threshold(path):
    """Knots within float32 rounding of the threshold take the exact path, far ones the shortcut."""
    thr = 0.3
    knots = thr * (1 + np.array([0.0, 1e-8, -1e-8, 3e-7, -3e-7, 1e-3, -1e-3, 0.0, 1e-3, 1e-3, -1e-3, -1e-3]))
    count = np.zeros(130, dtype=np.uint8)
    ref = count.copy()
    K.knot_votes(count, knots, 0, 10, -5, thr)
    K.knot_votes_ref(ref, knots, 0, 10, -5, thr)
    np.testing.assert_array_equal(count, ref)
    assert 0 < count.sum() < count.size


def test_frames_needed_matches_numpy(path):
    rng = np.random.default_rng(16)
    for _ in range(200):
        could = rng.random(300) > 0.95
        offset, step, w, n_frames = int(rng.integers(-30, 30)), int(rng.integers(1, 25)), int(rng.integers(1, 15)), int(rng.integers(1, 40))
        np.testing.assert_array_equal(K.frames_needed(could, offset, step, w, n_frames),
                                      K.frames_needed_ref(could, offset, step, w, n_frames))
    need = K.frames_needed(np.eye(1, 100, 50, dtype=bool)[0], 0, 20, 10, 6)
    assert need.tolist() == [False, False, True, True, False, False]  # samples 45..54 read frames 2 and 3


def test_votes_and_soft_threshold_match_yasa_convolution(path):
    rng = np.random.default_rng(4)
    crit = rng.random((3, 500)).astype(np.float32)
    crit[1, 7] = np.nan
    thr = np.array([0.3, 0.5, 0.4])
    votes = K.count_votes(crit, thr)
    np.testing.assert_array_equal(votes, K.count_votes_ref(crit, thr))
    include = rng.random(500) > 0.1
    for w in (9, 10, 25):
        np.testing.assert_array_equal(K.soft_vote(votes, include, w, 2), K.soft_vote_ref(votes, include, w, 2))


def test_trimmed_stats_streaming_matches_trimbothstd(path):
    rng = np.random.default_rng(6)
    stats = K.TrimmedStats()
    chunks = [rng.gamma(2.0, 1.5, 5000).astype(np.float32) for _ in range(4)]
    masks = [rng.random(5000) > 0.2 for _ in range(4)]
    for c, m in zip(chunks, masks):
        stats.add(c, m)
    kept = np.concatenate([c[m] for c, m in zip(chunks, masks)])
    mean, tsd = K.trimmed_stats_ref(kept)
    assert stats.n == kept.size
    assert stats.mean() == pytest.approx(mean, rel=1e-9)
    assert stats.trimmed_std() == pytest.approx(tsd, rel=1e-3)


def test_trimmed_stats_of_interpolated_knots(path):
    """add_knots is add(interp_knots(...)) in one pass: the same bins, the same statistics."""
    rng = np.random.default_rng(17)
    knots = rng.gamma(2.0, 2.0, 300)
    knots[40] = np.nan  # its two segments are skipped
    mask = rng.random(2900) > 0.1
    fused, ref = K.TrimmedStats(), K.TrimmedStats()
    fused.add_knots(knots, 5, 10, -20, mask)
    ref.add(K.interp_knots_ref(knots, 5, 10, -20, mask.size), mask)
    np.testing.assert_array_equal(fused.counts, ref.counts)
    assert fused.n == ref.n < mask.sum()
    assert fused.mean() == pytest.approx(ref.mean(), rel=1e-12)
    assert fused.trimmed_std() == pytest.approx(ref.trimmed_std(), rel=1e-12)
