"""Slow-oscillation kernels: exact landmarks on built cycles, the compiled loop against its numpy
twin (compiled and as plain Python), and recovery of planted cycles next to ``yasa.sw_detect``."""

from __future__ import annotations

import mne
import numpy as np
import pytest
import yasa

from sleepspindles.detection.core._numba import HAS_NUMBA
from sleepspindles.detection.slow_oscillations import kernels as K
from sleepspindles.detection.slow_oscillations import kernels_numba as KN
from sleepspindles.errors import ConfigError
from sleepspindles.evaluation.matching import match_events

PATHS = ["jit", "python"] if HAS_NUMBA else ["python"]
SF = 100.0
FIELDS = ("start", "neg_peak", "mid", "pos_peak", "end", "val_neg", "val_pos")


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    """Run the wrapper on the compiled loop or as plain Python (as under SLEEPSPINDLES_NO_NUMBA=1)."""
    if request.param == "python":
        for func in (KN.find_candidates, KN._in_limits):  # already plain without numba
            monkeypatch.setattr(KN, func.__name__, getattr(func, "py_func", func))
    return request.param


def _so_band(x):
    """The SO band-pass YASA uses (FIR, 0.3-1.5 Hz, 0.2 Hz transition bands)."""
    return mne.filter.filter_data(
        x, SF, 0.3, 1.5, l_trans_bandwidth=0.2, h_trans_bandwidth=0.2, method="fir", verbose=False
    )


def _assert_same(got, ref):
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(got, name), getattr(ref, name), err_msg=name)


def _half_waves(halves):
    """Half-sine lobes ``amp * sin(pi * (j + 0.5) / length)``, j < length, end to end.

    Sampling at half-sample offsets keeps every sample off zero, so each sign change is a crossing
    between two samples, and an odd ``length`` puts the lobe's extreme on one sample
    (``(length - 1) // 2``) with the value ``amp`` exactly.
    """
    return np.concatenate([amp * np.sin(np.pi * (np.arange(n) + 0.5) / n) for n, amp in halves])


# (negative lobe, positive lobe) per cycle, lengths in samples at 100 Hz.
CYCLES = [
    ((41, -60.0), (51, 50.0)),  # 0.92 s: kept
    ((31, -90.0), (49, 20.0)),  # 0.80 s exactly: kept (bounds are inclusive)
    ((31, -90.0), (48, 20.0)),  # 0.79 s: too short
    ((101, -45.0), (99, 45.0)),  # 2.00 s exactly: kept
    ((29, -80.0), (71, 70.0)),  # negative half-wave 0.29 s: too short
    ((45, -70.0), (101, 70.0)),  # positive half-wave 1.01 s: too long
    ((61, -75.0), (45, 35.0)),  # kept
]
KEPT = [0, 1, 3, 6]


def _train():
    """The cycles above, bracketed by a leading positive lobe and a trailing negative one so
    that the first and last cycles have their opening and closing crossings."""
    halves = [(21, 10.0)] + [lobe for cycle in CYCLES for lobe in cycle] + [(21, -10.0)]
    x = _half_waves(halves)
    lengths = np.array([n for n, _ in halves])
    starts = np.cumsum(lengths)[:-1][::2]  # first sample of every negative lobe
    return x, starts


def test_landmarks_of_built_cycles(path):
    x, starts = _train()
    so = K.find_slow_oscillations(x, np.ones(x.size, bool), SF)
    neg_len = np.array([c[0][0] for c in CYCLES])[KEPT]
    pos_len = np.array([c[1][0] for c in CYCLES])[KEPT]
    np.testing.assert_array_equal(so.start, starts[KEPT])
    np.testing.assert_array_equal(so.mid, starts[KEPT] + neg_len)
    np.testing.assert_array_equal(so.end, starts[KEPT] + neg_len + pos_len)
    np.testing.assert_array_equal(so.neg_peak, so.start + (neg_len - 1) // 2)
    np.testing.assert_array_equal(so.pos_peak, so.mid + (pos_len - 1) // 2)
    np.testing.assert_allclose(so.val_neg, [CYCLES[i][0][1] for i in KEPT])
    np.testing.assert_allclose(so.val_pos, [CYCLES[i][1][1] for i in KEPT])
    np.testing.assert_allclose(so.duration, (neg_len + pos_len) / SF)
    np.testing.assert_allclose(so.frequency, SF / (neg_len + pos_len))
    np.testing.assert_allclose(so.ptp, so.val_pos - so.val_neg)
    np.testing.assert_allclose(so.slope, so.ptp / ((so.pos_peak - so.neg_peak) / SF))
    _assert_same(so, K.find_slow_oscillations_ref(x, np.ones(x.size, bool), SF))


def test_a_cycle_needs_valid_finite_samples_from_before_its_start_to_its_end(path):
    x, starts = _train()
    valid = np.ones(x.size, bool)
    valid[starts[0] - 1] = False  # the sample before the opening crossing: cycle 0 lost
    valid[starts[3] + 150] = False  # inside cycle 3
    x[starts[6] + 70] = np.nan  # in cycle 6's positive half-wave
    so = K.find_slow_oscillations(x, valid, SF)
    np.testing.assert_array_equal(so.start, [starts[1]])
    _assert_same(so, K.find_slow_oscillations_ref(x, valid, SF))
    valid[:] = True
    valid[starts[1] + 80] = False  # cycle 1's end sample: it is part of the cycle
    assert starts[1] not in K.find_slow_oscillations(x, valid, SF).start


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_numpy_twin_on_band_passed_noise(path, seed):
    rng = np.random.default_rng(seed)
    x = _so_band(30 * rng.standard_normal(30_000))
    valid = rng.random(x.size) > 2e-4  # scattered bad samples
    valid[5000:7000] = False
    x[12_345] = np.nan
    for rules in (K.DurationRules(), K.DurationRules((0.4, 2.5), (0.2, 2.0), (0.05, 1.5))):
        got = K.find_slow_oscillations(x, valid, SF, rules)
        assert len(got) > 50
        _assert_same(got, K.find_slow_oscillations_ref(x, valid, SF, rules))
    short = K.find_slow_oscillations(x[:1], valid[:1], SF)
    assert len(short) == 0 and short.start.dtype == np.int64


def test_amplitude_mask_and_relative_thresholds():
    val_neg = -np.arange(1.0, 101.0)
    ptp = np.arange(101.0, 201.0)[::-1] - 50  # ptp larger where the trough is shallower
    np.testing.assert_array_equal(
        K.amplitude_mask(val_neg, ptp, neg_max=-40, ptp_min=75), (val_neg <= -40) & (ptp >= 75)
    )
    assert K.amplitude_mask(val_neg, ptp, neg_max=None, ptp_min=None).all()
    neg_max, ptp_min = K.relative_thresholds(val_neg, ptp, 25)
    assert np.sum(val_neg <= neg_max) == 25 and np.sum(ptp >= ptp_min) == 25
    assert not K.amplitude_mask(val_neg, ptp, neg_max=neg_max, ptp_min=ptp_min).any()  # no candidate is top in both
    # Pooled over two channels, the larger-amplitude channel keeps more: per-channel percentiles
    # would keep 25 % of each by construction.
    small, large = -np.linspace(30, 80, 200), -np.linspace(40, 120, 200)
    neg_max, ptp_min = K.relative_thresholds(np.r_[small, large], -2 * np.r_[small, large], 25)
    kept = [K.amplitude_mask(v, -2 * v, neg_max=neg_max, ptp_min=ptp_min).sum() for v in (small, large)]
    assert kept[0] < 50 < kept[1]
    assert np.isnan(K.relative_thresholds([], [], 25)).all()


@pytest.mark.parametrize(
    "call",
    [
        lambda: K.find_slow_oscillations(np.zeros((2, 5)), np.ones((2, 5), bool), SF),
        lambda: K.find_slow_oscillations(np.zeros(5), np.ones(4, bool), SF),
        lambda: K.find_slow_oscillations(np.zeros(5), np.ones(5, bool), 0.0),
        lambda: K.find_slow_oscillations(np.zeros(5), np.ones(5, bool), SF, K.DurationRules(crossing=(2.0, 0.8))),
        lambda: K.find_slow_oscillations(np.zeros(5), np.ones(5, bool), SF, K.DurationRules(neg_duration=0.3)),
        lambda: K.amplitude_mask([-50.0], [80.0, 90.0]),
        lambda: K.relative_thresholds([-50.0], [80.0], 0),
        lambda: K.relative_thresholds([-50.0], [80.0, 90.0], 25),
    ],
)
def test_invalid_parameters_raise_config_errors(call):
    with pytest.raises(ConfigError):
        call()


# --------------------------------------------------------------------------- planted cycles, YASA
@pytest.fixture(scope="module")
def planted():
    """30 min at 100 Hz: band-passed noise (about 3 uV in the SO band) plus single cycles of
    ``-A sin(2 pi f t)`` (f 0.6-1.1 Hz, ptp 2A 80-200 uV) every 4-8 s."""
    rng = np.random.default_rng(4)
    raw = mne.filter.filter_data(20 * rng.standard_normal(180_000), SF, 0.3, 30.0, verbose=False)
    onsets = np.cumsum(rng.uniform(4, 8, 300)) + 5
    onsets = onsets[onsets < 1790]
    freq = rng.uniform(0.6, 1.1, onsets.size)
    ptp = rng.uniform(80, 200, onsets.size)
    for t0, f, a in zip(onsets, freq, ptp / 2):
        i0, m = round(t0 * SF), round(SF / f)
        raw[i0 : i0 + m] -= a * np.sin(2 * np.pi * f * np.arange(m) / SF)
    so = K.find_slow_oscillations(_so_band(raw), np.ones(raw.size, bool), SF)
    return raw, onsets, onsets + 1 / freq, so


def test_recovers_planted_cycles(planted):
    _, ref_start, ref_end, so = planted
    # Thresholds 20 % under the smallest planted cycle (trough -40, ptp 80): the band-pass takes
    # about 10 % off a 1.1 Hz cycle, so YASA's -40 / 75 would drop the smallest cycles by design
    keep = K.amplitude_mask(so.val_neg, so.ptp, neg_max=-32.0, ptp_min=64.0)
    m = match_events(ref_start, ref_end, so.start[keep] / SF, so.end[keep] / SF, iou=0.5)
    assert m.recall >= 0.95 and m.precision >= 0.95
    assert keep.sum() < len(so) / 2  # background cycles are candidates too, rejected by amplitude


def test_agrees_with_yasa_sw_detect(planted):
    raw, _, _, so = planted
    keep = K.amplitude_mask(so.val_neg, so.ptp)  # YASA's lower limits: trough <= -40, ptp >= 75
    sw = yasa.sw_detect(raw, SF, verbose=False).summary()  # filters raw with the same FIR band-pass
    m = match_events(sw["Start"], sw["End"], so.start[keep] / SF, so.end[keep] / SF, iou=0.5)
    assert m.f1 >= 0.98
    # YASA's start and end are the last sample before their crossing, ours the first sample after
    # it: exactly one sample apart on every matched cycle.
    for ours, theirs in ((so.start, "Start"), (so.end, "End")):
        np.testing.assert_array_equal(ours[keep][m.det] - np.round(sw[theirs].to_numpy()[m.ref] * SF), 1)


@pytest.mark.parametrize("numba_path", ["jit", "python"])
def test_phase_units_are_the_twins(numba_path, monkeypatch):
    if numba_path == "python":
        monkeypatch.setattr(KN, "phase_units", getattr(KN.phase_units, "py_func", KN.phase_units))
    rng = np.random.default_rng(3)
    analytic = (rng.standard_normal(500) + 1j * rng.standard_normal(500)).astype(np.complex64)
    analytic[123] = 0  # phase 0 there, as numpy.angle gives
    times = rng.uniform(1000.0, 1499.4, (6, 40))
    times[2, 5] = 1123.2
    times[0, 0] = 1000.2  # the block's first sample
    got, expected = np.full((4, 40), np.nan, np.complex64), np.full((4, 40), np.nan, np.complex64)
    K.phase_units(analytic, times, 1000, [0, 2, 5], [3, 0, 1], got)
    K.phase_units_ref(analytic, times, 1000, [0, 2, 5], [3, 0, 1], expected)
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert np.isnan(got[2]).all() and got[0, 5] == 1
    np.testing.assert_allclose(np.abs(got[[0, 1, 3]]), 1, rtol=1e-6)
    with pytest.raises(ConfigError, match="'times'"):
        K.phase_units(analytic, times, 1001, [0], [0], got)  # 1000.2 -> sample 1000, before the block
    with pytest.raises(ConfigError, match="'src/dst'"):
        K.phase_units(analytic, times, 1000, [6], [0], got)
