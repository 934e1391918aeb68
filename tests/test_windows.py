"""Per-window rates (windows.csv), spindle trains (trains.csv) and the measures read from them.

Hand-built inputs with known answers: a night of two sleep cycles, spindles placed in each, a
flat stretch on one channel inside cycle 2 (it must lower cycle 2's analysed minutes there and
nothing else), trains of known lengths, and a night's stored tables read back as laterality
rows (windows, trains, coupling phase as a circular difference).
"""

import numpy as np
import pandas as pd
import pytest

from sleepspindles import Hypnogram, Recording
from sleepspindles.analysis.laterality import night_from_tables, night_laterality
from sleepspindles.analysis.measures import channel_measures
from sleepspindles.analysis.trains import spindle_trains, train_runs
from sleepspindles.analysis.windows import night_windows, window_rates
from sleepspindles.config import Config
from sleepspindles.detection.coverage import coverage
from sleepspindles.schema import COUPLING, SIGMA, SPINDLE_SUMMARY, SPINDLES, TRAINS, WINDOWS

SF = 50.0
# 2 W, cycle 1: 40 N2 + 20 N3 (30 min) + 12 REM; cycle 2: 40 N2 + 10 N3 (25 min) + 12 REM; 4 W. 30 s epochs.
STAGES = np.array([0] * 2 + [2] * 40 + [3] * 20 + [4] * 12 + [2] * 40 + [3] * 10 + [4] * 12 + [0] * 4)


def _spindles(channel, stage, starts):
    return [dict(channel=channel, stage=stage, start=t, peak=t + 0.5, end=t + 1.0, duration=1.0, amplitude=30.0,
                 rms=10.0, frequency=13.5, oscillations=13, symmetry=0.5) for t in starts]


@pytest.fixture(scope="module")
def night():
    hyp = Hypnogram(STAGES, 30.0)
    rng = np.random.default_rng(0)
    data = rng.normal(0, 10, (2, int(STAGES.size * 30 * SF)))
    flat = slice(int((74 + 5) * 30 * SF), int((74 + 9) * 30 * SF))  # 2 min of cycle 2's N2, C4 only
    data[1, flat] = 0.0
    rec = Recording(data, SF, ("C3", "C4"), hypnogram=hyp)
    cycle1_n2, cycle1_n3, cycle2_n2 = 60 + np.arange(10) * 100.0, 1300 + np.arange(5) * 60.0, 2300 + np.arange(8) * 90.0
    rows = (_spindles("C3", "N2", cycle1_n2) + _spindles("C3", "N3", cycle1_n3) + _spindles("C3", "N2", cycle2_n2)
            + _spindles("C4", "N2", cycle1_n2[:4]) + _spindles("C4", "N2", cycle2_n2[:6])
            + _spindles("C4", "REM", [2000.0]))  # a REM spindle counts nowhere
    return SPINDLES.conform(pd.DataFrame(rows)), hyp, rec


def test_windows_are_the_night_the_cycles_and_the_early_night(night):
    _, hyp, rec = night
    windows = night_windows(hyp, Config(), rec.sf, rec.n_samples)
    assert [w[0] for w in windows] == ["night", "cycle 1", "cycle 2", "first 20 min N2", "first 60 min NREM"]
    sizes = {name: len(epochs) for name, _, epochs in windows}
    assert sizes == {"night": 110, "cycle 1": 60, "cycle 2": 50, "first 20 min N2": 40, "first 60 min NREM": 110}


def test_window_rates_count_events_over_analysed_minutes(night):
    events, hyp, rec = night
    table = window_rates(rec, hyp, {"spindle_density": (events, "peak", ("N2", "N3"))}, coverage(rec, hyp))
    assert list(table.columns) == list(WINDOWS.names)
    got = table.set_index(["channel", "window"])
    assert got.loc[("C3", "cycle 1"), "n_events"] == 15 and got.loc[("C3", "cycle 1"), "minutes"] == 30.0
    assert got.loc[("C3", "cycle 2"), "n_events"] == 8 and got.loc[("C3", "cycle 2"), "minutes"] == 25.0
    assert got.loc[("C3", "night"), "value"] == pytest.approx(23 / 55)
    assert got.loc[("C3", "first 20 min N2"), "n_events"] == 10 and got.loc[("C3", "first 20 min N2"), "minutes"] == 20
    # C4's flat 2 minutes (cycle 2) come off cycle 2 and the night only; its REM spindle is in no window
    assert got.loc[("C4", "cycle 2"), "minutes"] == pytest.approx(23.0)
    assert got.loc[("C4", "cycle 1"), "minutes"] == 30.0 and got.loc[("C4", "night"), "minutes"] == pytest.approx(53.0)
    assert got.loc[("C4", "night"), "n_events"] == 10
    assert got.loc[("C4", "cycle 2"), "value"] == pytest.approx(6 / 23)


def test_window_minutes_are_the_coverage_of_the_detections_per_epoch(night):
    """The windows' analysed time sums to coverage's per stage; an unmeasurable channel has NaN with its reason."""
    events, hyp, rec = night
    cov = coverage(rec, hyp)
    assert cov.epoch_seconds.sum() == pytest.approx(rec.duration) and len(cov.epochs["C4"]) == hyp.n_epochs
    assert cov.epochs["C4"].sum() == pytest.approx(120.0) and cov.epochs["C3"].sum() == 0.0
    assert cov.minutes("C4", ["N2", "N3"])[0] == pytest.approx(53.0)
    dead = coverage(rec, hyp, unusable={"C4": "flat signal"})
    table = window_rates(rec, hyp, {"spindle_density": (events, "peak", ("N2", "N3"))}, dead).set_index(
        ["channel", "window"])
    assert np.isnan(table.loc[("C4", "night"), "value"]) and "flat signal" in table.loc[("C4", "night"), "note"]
    assert table.loc[("C3", "night"), "minutes"] == 55.0


def test_trains_group_spindles_at_most_6_s_apart(night):
    assert train_runs(np.array([0.0, 2, 20, 40, 44, 50]), np.array([1.0, 3, 21, 41, 45, 51])).tolist() == [2, 3]
    assert train_runs(np.array([0.0, 7.1]), np.array([1.0, 8.0])).size == 0  # a 6.1 s gap: no train
    assert train_runs(np.array([0.0]), np.array([1.0])).size == 0
    events, hyp, rec = night
    table = spindle_trains(events, hyp, rec).set_index(["channel", "stage"])
    assert list(table.reset_index().columns) == list(TRAINS.names)
    # C3 N2: cycle 1 every 100 s, cycle 2 every 90 s: no train; N3: every 60 s: none either
    assert table.loc[("C3", "N2+N3"), "n_trains"] == 0 and table.loc[("C3", "N2+N3"), "fraction_in_trains"] == 0
    close = pd.concat([events, SPINDLES.conform(pd.DataFrame(_spindles("C3", "N2", [63.0, 66.5, 2304.0])))])
    trains = spindle_trains(close.sort_values("start"), hyp, rec).set_index(["channel", "stage"])
    row = trains.loc[("C3", "N2")]  # 60-61, 63-64, 66.5-67.5 -> one train of 3; 2300, 2304 -> one of 2
    assert row["n_trains"] == 2 and row["n_in_trains"] == 5 and row["mean_train_length"] == 2.5
    assert row["train_density"] == pytest.approx(2 / 40.0) and row["fraction_in_trains"] == pytest.approx(5 / 21)


def _tables(contra_phase: float, ipsi_phase: float) -> dict:
    """A night's stored tables for C3 (ipsilateral, left hand) and C4 (contralateral)."""
    summary = SPINDLE_SUMMARY.conform(pd.DataFrame([
        dict(channel=c, stage=s, band="all", n_spindles=10, minutes=m, excluded_minutes=0.0, density=10 / m,
             duration=1.0, amplitude=30.0, rms=10.0, frequency=13.0, reference="M1", note="")
        for c in ("C3", "C4") for s, m in (("N2", 40.0), ("N2+N3", 50.0))]))
    coupling = COUPLING.conform(pd.DataFrame([
        dict(channel=c, stage="N2+N3", band="all", n_spindles=10, n_so=20, n_coupled=k, pct_coupled=10.0 * k,
             pct_so_with_spindle=20.0, coupled_density=k / 50.0, uncoupled_density=(10 - k) / 50.0, phase_deg=ph,
             mvl=0.5, ppc=p, rayleigh_z=1.0, rayleigh_p=0.3, surrogate_z=z, surrogate_p=0.1, n_surrogates=100, seed=1,
             note="") for c, k, ph, p, z in (("C3", 4, ipsi_phase, -0.01, 0.5), ("C4", 6, contra_phase, 0.2, 2.0))]))
    windows = WINDOWS.conform(pd.DataFrame([
        dict(channel=c, window=w, stages="N2+N3", start=0.0, end=1.0, measure="spindle_density", n_events=n,
             minutes=m, value=n / m, note="")
        for c, rows in (("C3", (("night", 10, 50.0), ("cycle 1", 6, 30.0))), ("C4", (("night", 10, 50.0),
                                                                                     ("cycle 1", 9, 29.0))))
        for w, n, m in rows]))
    return {"coupling": coupling, "windows": windows}, summary


def test_every_measure_is_read_and_compared_per_window_and_phases_circularly():
    tables, summary = _tables(contra_phase=170.0, ipsi_phase=-170.0)
    night = night_from_tables(summary, SIGMA.empty(), 40.0, subject="S1", night="post", trained_hand="left",
                              tables=tables)
    measures = channel_measures(night)
    assert set(measures["window"]) == {"night", "cycle 1"}
    coupled = measures[(measures["measure"] == "coupled_density") & (measures["channel"] == "C4")].iloc[0]
    assert coupled["value"] == pytest.approx(6 / 50) and coupled["minutes"] == 50.0  # the summary's N2+N3 minutes
    table, _ = night_laterality(night)
    row = table.set_index(["measure", "window"])
    assert row.loc[("coupling_phase", "night"), "D"] == pytest.approx(-20.0)  # 170 - (-170) wraps to -20 deg
    assert np.isnan(row.loc[("coupling_phase", "night"), "LI"]) and np.isnan(row.loc[("coupling_ppc", "night"), "LI"])
    assert row.loc[("coupling_ppc", "night"), "D"] == pytest.approx(0.21)
    cycle = row.loc[("spindle_density", "cycle 1")]
    assert cycle["contra"] == pytest.approx(9 / 29) and cycle["ipsi"] == pytest.approx(6 / 30)
    assert cycle["contra_minutes"] == 29.0 and cycle["ipsi_minutes"] == 30.0
    assert np.isnan(row.loc[("amplitude", "night"), "contra_minutes"])  # not a rate
    assert ("spindle_density", "night") not in row.index  # the whole night is density_n2n3's
