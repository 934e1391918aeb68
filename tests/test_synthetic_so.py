"""Slow oscillations and SO-locked spindles planted by the synthetic generator, with their truth.

Phase convention: the angle of the analytic (Hilbert) signal of the 0.3-1.5 Hz band; 0 deg = SO
positive peak, +-180 = trough, +90 = down-going and -90 = up-going zero crossing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.signal import butter, hilbert, sosfiltfilt

from sleepspindles.errors import ConfigError
from sleepspindles.evaluation.matching import match_events
from sleepspindles.hypnogram import Stage
from sleepspindles.synthetic import (
    SO_TRUTH_COLUMNS,
    TRUTH_COLUMNS,
    SyntheticConfig,
    make_synthetic_night,
)
from sleepspindles.synthetic.slow_oscillations import so_phase

SO_DENSITY = 8.0  # per minute of N3
PHASES = {"C3": 0.0, "C4": -60.0, "Cz": 0.0}  # planted mean phases (degrees)
KAPPAS = {"C3": 8.0, "C4": 8.0, "Cz": 0.0}  # Cz: uniform phases


@pytest.fixture(scope="module")
def night():
    """2 h at 128 Hz: SOs at 8/min of N3 (30 % global), half of the spindles SO-locked."""
    return make_synthetic_night(duration_hours=2.0, sf=128.0, channels=tuple(PHASES), so_density=SO_DENSITY,
                                so_shared_fraction=0.3, coupled_fraction=0.5, coupling_phase=PHASES,
                                coupling_kappa=KAPPAS, seed=0)


def _so_band(x: np.ndarray, sf: float) -> np.ndarray:
    return sosfiltfilt(butter(2, [0.3, 1.5], btype="band", fs=sf, output="sos"), x.astype(np.float64))


def _samples(times, sf: float) -> np.ndarray:
    return np.round(np.asarray(times) * sf).astype(np.int64)


def _circular_mean(degrees) -> tuple[float, float]:
    """Mean direction (degrees) and resultant length of angles in degrees."""
    z = np.mean(np.exp(1j * np.deg2rad(np.asarray(degrees, dtype=np.float64))))
    return float(np.rad2deg(np.angle(z))), float(np.abs(z))


def _angle_diff(a, b) -> np.ndarray:
    return (np.asarray(a) - np.asarray(b) + 180.0) % 360.0 - 180.0


# ------------------------------------------------------------------------------- defaults


def test_so_parameters_are_inert_while_so_density_is_zero():
    base = dict(duration_hours=1.0, sf=100.0, shared_fraction=0.3, seed=4)
    default = make_synthetic_night(**base)
    off = make_synthetic_night(**base, so_density=0.0, coupled_fraction=0.0, so_shared_fraction=0.5,
                               so_n2_ratio=0.5, so_frequency_range=(0.7, 0.9), so_amplitude_range=(90.0, 150.0),
                               coupling_phase=45.0, coupling_kappa=5.0)
    assert np.array_equal(default.recording.data, off.recording.data)
    new = ["so_coupled", "so_phase"]
    assert default.truth.drop(columns=new).equals(off.truth.drop(columns=new))
    assert tuple(default.truth.columns) == TRUTH_COLUMNS and TRUTH_COLUMNS[-2:] == tuple(new)
    assert default.truth.so_coupled.dtype == bool and not default.truth.so_coupled.any()
    assert default.truth.so_phase.isna().all()
    assert default.so_truth.empty and tuple(default.so_truth.columns) == SO_TRUTH_COLUMNS


def test_sos_leave_spindles_and_channels_without_sos_unchanged():
    base = dict(duration_hours=1.0, sf=100.0, seed=5)
    plain = make_synthetic_night(**base)
    with_so = make_synthetic_night(**base, so_density={"C3": SO_DENSITY})
    assert with_so.truth.equals(plain.truth)  # the spindle streams do not see the SOs
    np.testing.assert_array_equal(with_so.recording.signal("C4"), plain.recording.signal("C4"))
    assert set(with_so.so_truth.channel) == {"C3"}
    # C3 changes only in N2/N3 (SOs, quieter slow background) and the 1 s crossfades around them.
    hyp = plain.recording.hypnogram
    stages = hyp.to_samples(100.0, plain.recording.n_samples)
    nrem = np.convolve(np.isin(stages, [Stage.N2, Stage.N3]), np.ones(201), mode="same") > 0
    diff = with_so.recording.signal("C3") - plain.recording.signal("C3")
    assert np.abs(diff[~nrem]).max() < 1e-3


# ---------------------------------------------------------------------------- SO truth


def test_so_truth_landmarks_and_ranges(night):
    so = night.so_truth
    assert tuple(so.columns) == SO_TRUTH_COLUMNS and len(so) > 0
    assert (so.start < so.neg_peak).all() and (so.neg_peak < so.mid_crossing).all()
    assert (so.mid_crossing < so.pos_peak).all() and (so.pos_peak < so.end).all()
    np.testing.assert_allclose(so.duration, so.end - so.start)
    np.testing.assert_allclose(so.frequency, 1.0 / so.duration)
    assert so.frequency.between(0.6 - 0.01, 1.1 + 0.01).all()  # whole-sample cycles
    np.testing.assert_allclose(so.ptp, so.val_pos - so.val_neg)
    np.testing.assert_allclose(so.val_neg, -so.val_pos)
    assert so.ptp.between(80.0, 200.0).all() and (so.val_neg < 0).all()
    np.testing.assert_allclose(so.start * 128, np.round(so.start * 128), atol=1e-6)


def test_sos_lie_wholly_in_n2_n3_apart_and_away_from_the_edges(night):
    so = night.so_truth
    hyp = night.recording.hypnogram
    assert set(so.stage) == {"N2", "N3"}
    for column, shift in (("start", 0.0), ("end", -1e-6)):
        assert [Stage(int(s)).name for s in hyp.stage_at(so[column] + shift)] == so.stage.tolist()
    assert so.start.min() >= 5.0 and so.end.max() <= night.recording.duration - 5.0
    for _, one in so.groupby("channel"):
        assert (one.start.to_numpy()[1:] - one.end.to_numpy()[:-1]).min() >= 0.5 - 1e-9


def test_so_counts_follow_the_densities_and_global_sos_are_shared(night):
    so = night.so_truth
    hyp = night.recording.hypnogram
    expected = {"N3": SO_DENSITY * hyp.minutes("N3"), "N2": 0.25 * SO_DENSITY * hyp.minutes("N2")}
    for channel in PHASES:
        one = so[so.channel == channel]
        assert abs(len(one) / sum(expected.values()) - 1) < 0.15, (channel, len(one))
        for stage, n in expected.items():
            assert abs((one.stage == stage).sum() - n) < 4 * np.sqrt(n)
    shared = so[so.shared]
    starts = [shared[shared.channel == c].start.to_numpy() for c in PHASES]
    assert all(np.array_equal(starts[0], s) for s in starts[1:])
    assert 0.2 < len(starts[0]) / (so.channel == "C3").sum() < 0.4
    ptp = [shared[shared.channel == c].ptp.to_numpy() for c in ("C3", "C4")]
    assert not np.allclose(ptp[0], ptp[1])  # amplitudes drawn per channel


def test_the_signal_has_the_planted_shape(night):
    rec = night.recording
    for channel in PHASES:
        x = _so_band(rec.signal(channel), rec.sf)
        so = night.so_truth[night.so_truth.channel == channel]
        assert np.mean(x[_samples(so.neg_peak, rec.sf)] < -30.0) > 0.9
        assert np.mean(x[_samples(so.pos_peak, rec.sf)] > 30.0) > 0.9
        # The band-passed trough keeps the planted amplitude (background noise aside).
        ratio = -x[_samples(so.neg_peak, rec.sf)] / -so.val_neg.to_numpy()
        assert 0.85 < np.median(ratio) < 1.1


def test_yasa_sw_detect_finds_the_planted_sos_and_little_else(night):
    yasa = pytest.importorskip("yasa")
    rec = night.recording
    hypno = rec.hypnogram.to_samples(rec.sf, rec.n_samples)
    found = yasa.sw_detect(rec.data.astype(np.float64), rec.sf, ch_names=list(rec.channels), hypno=hypno,
                           include=(2, 3), verbose=False).summary()
    for channel in PHASES:
        truth = night.so_truth[night.so_truth.channel == channel]
        det = found[found.Channel == channel]
        scores = match_events(truth.start, truth.end, det.Start, det.End, iou=0.5)
        assert scores.recall >= 0.9 and scores.precision >= 0.9, (channel, scores.recall, scores.precision)


# ------------------------------------------------------------------------ coupled spindles


def test_coupled_spindles_sit_in_their_sos_at_the_recorded_phase(night):
    truth, so = night.truth, night.so_truth
    coupled = truth[truth.so_coupled]
    assert coupled.so_phase.notna().all() and truth[~truth.so_coupled].so_phase.isna().all()
    assert not coupled.shared.any()
    for channel in PHASES:
        mine = coupled[coupled.channel == channel]
        hosts = so[so.channel == channel]
        k = np.searchsorted(hosts.start.to_numpy(), mine.peak.to_numpy(), side="right") - 1
        host = hosts.iloc[k]
        # Peak inside the SO (up to half a sample of onset rounding), same stage, recorded phase.
        assert np.all(mine.peak.to_numpy() >= host.start.to_numpy() - 0.5 / 128)
        assert np.all(mine.peak.to_numpy() <= host.end.to_numpy() + 0.5 / 128)
        assert mine.stage.tolist() == host.stage.tolist()
        phase = so_phase(mine.peak.to_numpy(), host.start.to_numpy(), host.duration.to_numpy())
        np.testing.assert_allclose(_angle_diff(phase, mine.so_phase), 0.0, atol=1e-9)
        assert len(set(k)) == len(k)  # one spindle per SO


def test_spindle_density_and_gaps_hold_with_coupling(night):
    truth = night.truth
    hyp = night.recording.hypnogram
    expected = 2.0 * hyp.minutes("N2") + 0.5 * 2.0 * hyp.minutes("N3")
    for channel in PHASES:
        one = truth[truth.channel == channel]
        assert abs(len(one) - expected) < 4 * np.sqrt(expected)  # coupled ones replace free ones
        assert 0.35 < one.so_coupled.mean() < 0.65
        assert (one.start.to_numpy()[1:] - one.end.to_numpy()[:-1]).min() >= 1.0 - 1e-9
        for column, shift in (("start", 0.0), ("end", -1e-6)):
            assert [Stage(int(s)).name for s in hyp.stage_at(one[column] + shift)] == one.stage.tolist()


def test_hilbert_phase_at_spindle_peaks_recovers_the_planted_coupling(night):
    pingouin = pytest.importorskip("pingouin")
    rec = night.recording
    strength = {}
    for channel in PHASES:
        spindles = night.truth[(night.truth.channel == channel) & night.truth.so_coupled]
        analytic = hilbert(_so_band(rec.signal(channel), rec.sf))
        measured = np.rad2deg(np.angle(analytic[_samples(spindles.peak, rec.sf)]))
        assert np.median(np.abs(_angle_diff(measured, spindles.so_phase))) < 10.0
        mean, strength[channel] = _circular_mean(measured)
        if KAPPAS[channel] > 0:
            assert abs(_angle_diff(mean, PHASES[channel])) < 15.0, (channel, mean)
            assert abs(_angle_diff(_circular_mean(spindles.so_phase)[0], PHASES[channel])) < 15.0
        else:
            _, p_value = pingouin.circ_rayleigh(np.deg2rad(measured))
            assert p_value > 0.01
    # Per-channel concentration: strong coupling on C3/C4, none on Cz, with equal densities.
    assert min(strength["C3"], strength["C4"]) > 0.8 > 0.3 > strength["Cz"]


# ----------------------------------------------------------------------------- parameters


def test_per_channel_parameters_are_normalised():
    cfg = SyntheticConfig(channels=("C3", "C4"), so_density={"C4": 6.0}, coupled_fraction={"C4": 0.4},
                          coupling_phase=[-30, 30], coupling_kappa={"C3": 1.0})
    assert cfg.so_density == (0.0, 6.0) and cfg.coupled_fraction == (0.0, 0.4)
    assert cfg.coupling_phase == (-30.0, 30.0) and cfg.coupling_kappa == (1.0, 2.0)
    assert SyntheticConfig().so_density == (0.0, 0.0)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"so_density": -1.0}, "so_density"),
        ({"so_density": 25.0}, "so_density"),
        ({"so_density": [1.0]}, "so_density"),
        ({"so_density": {"C5": 1.0}}, "so_density"),
        ({"so_n2_ratio": 1.5}, "so_n2_ratio"),
        ({"so_frequency_range": (1.1, 0.6)}, "so_frequency_range"),
        ({"so_frequency_range": (0.6, 5.0)}, "so_frequency_range"),
        ({"so_frequency_range": (0.6,)}, "so_frequency_range"),
        ({"so_amplitude_range": (0.0, 100.0)}, "so_amplitude_range"),
        ({"so_amplitude_range": (200.0, 80.0)}, "so_amplitude_range"),
        ({"so_shared_fraction": -0.1}, "so_shared_fraction"),
        ({"so_density": 8.0, "coupled_fraction": 1.5}, "coupled_fraction"),
        ({"coupled_fraction": 0.5}, "coupled_fraction"),  # no SOs to couple to
        ({"so_density": {"C3": 8.0}, "coupled_fraction": 0.5}, "coupled_fraction"),  # none on C4
        ({"so_density": 8.0, "coupled_fraction": 0.8, "shared_fraction": 0.5}, "coupled_fraction"),
        ({"coupling_phase": 200.0}, "coupling_phase"),
        ({"coupling_phase": [0.0, 0.0, 0.0]}, "coupling_phase"),
        ({"coupling_kappa": -1.0}, "coupling_kappa"),
        ({"coupling_kappa": float("nan")}, "coupling_kappa"),
        ({"coupling_kappa": 1e4}, "coupling_kappa"),
    ],
)
def test_bad_so_parameters_are_refused(kwargs, name):
    with pytest.raises(ConfigError, match=f"'{name}' parameter"):
        SyntheticConfig(**kwargs)


def test_empty_so_truth_has_stable_dtypes(night):
    empty = make_synthetic_night(duration_hours=0.25, sf=100.0, density=0.0).so_truth
    assert empty.empty
    pd.testing.assert_series_equal(empty.dtypes, night.so_truth.dtypes)
