"""The fast paths of the SO pass give exactly what the plain computations give.

The SO engine draws every surrogate time of a block in one call and reads phases only for
candidates its absolute criterion can keep; coupling sums each channel's surrogate unit
vectors computed once; SWA gathers Welch segments straight from the night, chunk by chunk.
Each is checked here against the straightforward computation, for identical values (not
merely close ones: the seeds and the p-values depend on it).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sleepspindles.analysis import circular as C
from sleepspindles.analysis import spectral
from sleepspindles.config import Config
from sleepspindles.detection import detect_all
from sleepspindles.detection.slow_oscillations import engine
from sleepspindles.detection.slow_oscillations.kernels import SlowOscillations
from sleepspindles.synthetic import make_synthetic_night


def test_one_uniform_draw_with_row_bounds_is_consecutive_draws():
    """What the engine's single draw per block relies on: rows are filled one after the other."""
    for seed in range(10):
        shape = np.random.default_rng(seed)
        m, n = int(shape.integers(1, 12)), int(shape.integers(1, 1200))
        low = shape.integers(0, 10**7, m)
        high = low + shape.integers(1, 300, m)
        one, rows = np.random.default_rng([42, seed]), np.random.default_rng([42, seed])
        expected = np.stack([one.uniform(low[k], high[k], n) for k in range(m)])
        np.testing.assert_array_equal(rows.uniform(low[:, None], high[:, None], (m, n)), expected)
        assert one.random() == rows.random()  # the generators are left in the same state


def _candidates(start: np.ndarray, end: np.ndarray) -> SlowOscillations:
    zeros = np.zeros(start.size)
    return SlowOscillations(start, start, start, start, end, zeros, zeros, 100.0)


def test_held_peaks_are_the_pairs_of_the_double_loop():
    rng = np.random.default_rng(0)
    for _ in range(50):
        # Candidates that sometimes touch (one's end the next one's start), peaks on those samples too.
        edges = np.cumsum(rng.integers(0, 60, 2 * int(rng.integers(0, 15)) + 2))
        start, end = edges[0::2], edges[1::2]
        touching = rng.random(start.size) < 0.3
        end[:-1] = np.where(touching[:-1], start[1:], end[:-1])
        peaks = np.sort(np.concatenate([rng.integers(0, edges[-1] + 5, 20), start[:2], end[:2]]))
        first, last = np.searchsorted(peaks, start), np.searchsorted(peaks, end, side="right")
        expected = [(k, i) for k in np.flatnonzero(last > first) for i in range(first[k], last[k])]
        candidate, peak = engine._held_peaks(peaks, _candidates(start, end))
        assert list(zip(candidate.tolist(), peak.tolist())) == expected


@pytest.fixture(scope="module")
def night():
    return make_synthetic_night(duration_hours=0.75, sf=128.0, channels=("C3", "C4"), so_density=10.0,
                                coupled_fraction=0.6, coupling_kappa=2.0, seed=5)


def test_surrogates_of_dropped_candidates_are_not_needed(night, monkeypatch):
    """Reading every candidate's surrogate phases (as a relative criterion must) changes nothing."""
    rec = night.recording
    skipped = detect_all(rec, rec.hypnogram, Config())
    assert engine._setup(rec, Config().slow_oscillations, 1.0).limits is not None
    setup = engine._setup
    monkeypatch.setattr(engine, "_setup", lambda *args: replace(setup(*args), limits=None))
    every = detect_all(rec, rec.hypnogram, Config())
    a, b = skipped["slow_oscillations"], every["slow_oscillations"]
    assert a.events.equals(b.events) and a.tables["spindles"].equals(b.tables["spindles"])
    assert a.tables["spindles"]["so_coupled"].sum() >= 10
    for name, found in a.extra["surrogates"].items():
        np.testing.assert_array_equal(found.rows, b.extra["surrogates"][name].rows)
        np.testing.assert_array_equal(found.phases, b.extra["surrogates"][name].phases)
        assert np.isfinite(found.phases).all()


@pytest.mark.parametrize("statistic", ["mvl", "ppc"])
def test_summed_unit_vectors_give_the_surrogate_test_exactly(statistic):
    rng = np.random.default_rng(3)
    surrogates = rng.vonmises(0.5, 1.0, (40, 300)).astype(np.float32)  # the engine stores float32
    units = C.unit_vectors(surrogates)
    for size in (2, 7, 40):
        rows = np.sort(rng.choice(40, size, replace=False))
        observed = rng.vonmises(0.0, 2.0, size)
        expected = C.surrogate_test(observed, surrogates[rows], statistic)
        assert C.surrogate_test_of_resultants(observed, units[rows].sum(axis=0), statistic) == expected


def test_surrogate_test_of_resultants_refuses_bad_input():
    with pytest.raises(Exception, match="null_resultants"):
        C.surrogate_test_of_resultants([0.1, 0.2], np.ones(1, complex))
    with pytest.raises(Exception, match="statistic"):
        C.surrogate_test_of_resultants([0.1, 0.2], np.ones(5, complex), "kappa")
    with pytest.raises(Exception, match="phases"):
        C.unit_vectors([0.0, np.nan])


def test_epoch_band_powers_are_welch_density_of_copied_epochs(monkeypatch):
    """Segments gathered from the night, in chunks of any size: the values of Welch on each epoch's copy."""
    rng = np.random.default_rng(1)
    sf, epoch = 100.0, 3000
    data = (rng.standard_normal((3, 40 * epoch)) * 30).astype(np.float32)
    data[1, 5 * epoch : 6 * epoch] = 7.0  # a flat epoch: unusable
    starts = np.array([0, 3000, 9000, 12000, 12000 + 57, 15000, 60000, 111000])
    bands = [(0.5, 4.5), (0.5, 30.0)]
    freqs = np.fft.rfftfreq(400, 1 / sf)
    psd = spectral.welch_density(np.stack([data[:, s : s + epoch] for s in starts], axis=1), sf, 400)
    expected = np.stack([np.trapezoid(psd[..., (freqs >= lo) & (freqs <= hi)], freqs[(freqs >= lo) & (freqs <= hi)])
                         for lo, hi in bands])
    for chunk in (1, 3 * epoch * 3, 1 << 20):  # 1, 3 (the last chunk 2) or all epochs
        monkeypatch.setattr(spectral, "_CHUNK_VALUES", chunk)
        powers, usable = spectral.epoch_band_powers(data, sf, starts, epoch, bands, window=4.0)
        # one float64 weights product, where np.trapezoid adds the float32 densities in float32 first
        np.testing.assert_allclose(powers, expected, rtol=1e-7, atol=0)
        np.testing.assert_array_equal(usable, np.isfinite(psd).all(axis=-1) & (psd.sum(axis=-1) > 0))
    assert usable.sum() == usable.size - 1 and not usable[1, 5]
