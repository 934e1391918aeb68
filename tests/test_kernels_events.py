"""Per-spindle parameters (``detection.spindles.kernels_events``) against their scipy twin, both code paths.

The loops of ``kernels_events_numba`` run compiled and as plain Python (``.py_func``), the second
path being what runs under ``SLEEPSPINDLES_NO_NUMBA=1``.
"""

import numpy as np
import pytest
import scipy.signal
from test_kernels import path_fixture

from sleepspindles.detection.spindles import kernels_events as K
from sleepspindles.detection.spindles import kernels_events_numba as KN
from sleepspindles.detection.spindles import kernels_kept as KK

path = path_fixture(KN)


def test_event_params_match_scipy_definitions(path):
    rng = np.random.default_rng(7)
    sf, n = 100.0, 3000
    t = np.arange(n) / sf
    x = rng.standard_normal(n) + 20 * np.sin(2 * np.pi * 13 * t) * ((t > 5) & (t < 6.2))
    sos = scipy.signal.butter(4, [11, 16], "bandpass", fs=sf, output="sos")
    analytic = scipy.signal.hilbert(scipy.signal.sosfiltfilt(sos, x))
    starts, lasts = np.array([500, 1500, 2200]), np.array([620, 1580, 2290])
    got = K.event_params(x, analytic, starts, lasts, sf, 6)
    ref = K.event_params_ref(x, analytic, starts, lasts, sf, 6)
    for field in ("amplitude", "rms", "frequency", "symmetry"):
        np.testing.assert_allclose(getattr(got, field), getattr(ref, field), rtol=1e-9, err_msg=field)
    np.testing.assert_array_equal(got.oscillations, ref.oscillations)
    np.testing.assert_array_equal(got.peak, ref.peak)
    assert got.frequency[0] == pytest.approx(13.0, abs=0.3)
    assert got.amplitude[0] == pytest.approx(40.0, rel=0.1)


def _background_night(sf=100.0, n=6000, seed=3):
    """Noise with a 1/f-ish drift, two spindles (13 Hz strong, 12 Hz weak), filtered as the engines filter."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / sf
    x = rng.standard_normal(n) + 0.1 * np.cumsum(rng.standard_normal(n))
    x += 20 * np.sin(2 * np.pi * 13 * t) * ((t > 5) & (t < 6.2)) + 10 * np.sin(2 * np.pi * 12 * t) * ((t > 30) & (t < 30.6))
    broad = scipy.signal.sosfiltfilt(scipy.signal.butter(4, [1, 30], "bandpass", fs=sf, output="sos"), x)
    sigma = scipy.signal.sosfiltfilt(scipy.signal.butter(4, [11, 16], "bandpass", fs=sf, output="sos"), broad)
    return sigma, broad


def test_event_quality_matches_its_twin(path):
    # Events at the start (background shifted right), around an invalid stretch, at the end.
    sf = 100.0
    sigma, broad = _background_night(sf)
    valid = np.ones(sigma.size, bool)
    valid[4000:4500] = False
    starts, lasts = np.array([500, 2995, 3000, 5900]), np.array([619, 3054, 3300, 5999])
    args = (starts, lasts, sf, 3000, 1000, (11.0, 16.0), (1.0, 30.0))
    got = K.event_quality(sigma, broad, valid, *args)
    ref = K.event_quality_ref(sigma, broad, valid, *args)
    for field in ("sigma_snr", "rms_ratio", "peak_prominence"):
        np.testing.assert_allclose(getattr(got, field), getattr(ref, field), rtol=1e-9, err_msg=field)
    # The strong spindle stands out: ~28 dB of sigma power over its background, a peak far above 1/f.
    assert got.sigma_snr[0] > 20 and got.peak_prominence[0] > 20 and got.rms_ratio[0] > 5
    assert got.sigma_snr[3] < 0  # background noise scored against a background holding the spindles


def test_event_quality_needs_enough_background():
    sigma, broad = _background_night()
    valid = np.zeros(sigma.size, bool)
    valid[:1100] = True  # under 10 s usable around the event
    q = K.event_quality(sigma, broad, valid, np.array([500]), np.array([619]), 100.0, 3000, 1000, (11.0, 16.0),
                        (1.0, 30.0))
    assert np.isnan(q.sigma_snr[0]) and np.isnan(q.rms_ratio[0]) and np.isfinite(q.peak_prominence[0])
    empty = K.event_quality(sigma, broad, valid, np.array([], int), np.array([], int), 100.0, 3000, 1000,
                            (11.0, 16.0), (1.0, 30.0))
    assert empty.sigma_snr.shape == (0,)


def _events(n, count, seed, longest=260):
    rng = np.random.default_rng(seed)
    starts = np.sort(rng.choice(n - longest - 2, count, replace=False))
    return starts, starts + rng.integers(40, longest, count)


def test_peak_prominence_matches_its_numpy_twin(path):
    # Hann rows and the power-law fit compiled (or plain Python) against the vectorised numpy
    # twin, events over 4 s (an 800-point spectrum) and a batch boundary included.
    _, broad = _background_night(n=30000)
    starts, lasts = _events(broad.size, 300, 1, longest=500)
    got = K.peak_prominence(broad.astype(np.float32), starts, lasts, 100.0, (11.0, 16.0), (1.0, 30.0))
    ref = K.peak_prominence_ref(broad.astype(np.float32), starts, lasts, 100.0, (11.0, 16.0), (1.0, 30.0))
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)
    assert np.isfinite(got).mean() > 0.9
    assert K.peak_prominence(broad, np.array([], int), np.array([], int), 100.0, (11.0, 16.0), (1.0, 30.0)).size == 0


def test_event_and_window_sums_match_their_twins(path):
    sigma, broad = _background_night(n=8000)
    valid = np.ones(sigma.size, bool)
    valid[3000:3400] = False
    starts, lasts = _events(broad.size, 40, 2)
    np.testing.assert_allclose(KK.event_sums(sigma, broad, valid, starts, lasts),
                               KK.event_sums_ref(sigma, broad, valid, starts, lasts), rtol=1e-12)
    centres = np.arange(1500, 6500, 5)
    np.testing.assert_allclose(KK.window_sums(sigma, broad, valid, centres, 1500, 5),
                               KK.window_sums_ref(sigma, broad, valid, centres, 1500, 5), rtol=1e-10)
    with pytest.raises(Exception, match="centres"):
        KK.window_sums(sigma, broad, valid, np.array([1000]), 1500, 5)


def test_kept_band_powers_equal_the_grid_ones_and_the_direct_ones(path):
    # What the a7 engine keeps (spans, window sums) gives grid_band_powers' table bit for bit, and
    # that equals band_powers' (sample by sample) to float rounding; off-grid events are summed
    # sample by sample.
    sigma, broad = _background_night(n=8000)
    analytic = scipy.signal.hilbert(sigma).astype(np.complex64)
    broad = broad.astype(np.float32)
    valid = np.ones(sigma.size, bool)
    valid[3000:3400] = False
    starts = np.arange(1600, 6000, 170)
    lasts = starts + 60  # ends on a 10-sample grid: centres on the 5-sample one
    lasts[-1] += 3  # off the grid
    direct = K.band_powers(analytic.real, broad, valid, starts, lasts, 1500)
    grid = KK.grid_band_powers(analytic, broad, valid, starts, lasts, 1500, 5)
    np.testing.assert_allclose(grid, direct, rtol=1e-10)
    np.testing.assert_array_equal(grid[-1], direct[-1])
    first, size = starts[:-1] - 20, lasts[:-1] - starts[:-1] + 40
    centres = (starts[:-1] + lasts[:-1] + 1) // 2
    b, a, v, sums = KK.keep_runs(analytic, broad, valid, first, size, centres, 1500, 5)
    ref = KK.keep_runs_ref(analytic, broad, valid, first, size, centres, 1500, 5)
    for got, want in zip((b, a, v), ref[:3]):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(sums, ref[3], rtol=1e-10)
    at = np.concatenate([[0], np.cumsum(size[:-1])])
    p0 = at + 20
    p1 = p0 + lasts[:-1] - starts[:-1]
    kept = KK.kept_events(b, a, v, sums, p0, p1, np.arange(p0.size))
    np.testing.assert_array_equal(kept[3], grid[:-1])
    want = KK.kept_events_ref(b, a, v, sums, p0, p1, np.arange(p0.size))
    for got, ref_part in zip(kept[:3], want[:3]):
        np.testing.assert_array_equal(got, ref_part)
    np.testing.assert_allclose(kept[3], want[3], rtol=1e-12)


def test_gathered_events_measure_as_in_place(path):
    # Parameters and prominence of events copied end to end equal those measured in place.
    sigma, broad = _background_night(n=8000)
    analytic = scipy.signal.hilbert(sigma).astype(np.complex64)
    broad = broad.astype(np.float32)
    starts, lasts = _events(broad.size, 30, 3)
    flat_b, flat_a, offsets = KK.gather_events(broad, analytic, starts, lasts)
    assert flat_b.dtype == np.float32 and flat_a.dtype == np.complex64 and flat_b.size == (lasts - starts + 2).sum()
    moved = K.event_params(flat_b, flat_a, offsets, offsets + lasts - starts, 100.0, 6)
    here = K.event_params(broad, analytic, starts, lasts, 100.0, 6)
    for field in K.EventParams.__dataclass_fields__:
        np.testing.assert_array_equal(getattr(moved, field), getattr(here, field), err_msg=field)
    np.testing.assert_array_equal(
        K.peak_prominence(flat_b, offsets, offsets + lasts - starts, 100.0, (11.0, 16.0), (1.0, 30.0)),
        K.peak_prominence(broad, starts, lasts, 100.0, (11.0, 16.0), (1.0, 30.0)))
