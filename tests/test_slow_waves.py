"""SO summary and slow-wave activity against hand-built recordings, events and known sine powers."""

import numpy as np
import pandas as pd
import pytest

from sleepspindles import Hypnogram, Recording
from sleepspindles.analysis.slow_waves import so_summary_table, swa_table, swa_windows
from sleepspindles.config import Config
from sleepspindles.detection import DetectionResult, RecordingContext
from sleepspindles.detection.coverage import coverage
from sleepspindles.errors import ConfigError
from sleepspindles.recording import DroppedChannel
from sleepspindles.schema import SLOW_OSCILLATIONS, SO_SUMMARY, SWA
from sleepspindles.synthetic import make_synthetic_night

SF = 100.0


def _context(rec, hyp, events=None, so_channels=None, config=None):
    """A recording context holding hand-made SO results (no engine involved)."""
    found = DetectionResult(
        events=SLOW_OSCILLATIONS.empty() if events is None else events,
        coverage=coverage(rec, hyp),
        tables={} if so_channels is None else {"so_channels": so_channels},
    )
    return RecordingContext(rec, hyp, config or Config(), {"slow_oscillations": found})


# ----------------------------------------------------------------------------- SO summary
def _so_events(rows):
    base = {"neg_peak": 0.0, "mid_crossing": 0.0, "pos_peak": 0.0, "end": 0.0, "duration": 1.0, "val_neg": -60.0,
            "val_pos": 40.0, "ptp": 100.0, "slope": 300.0, "frequency": 1.0}
    return pd.DataFrame([{**base, **r} for r in rows])[list(SLOW_OSCILLATIONS.names)]


@pytest.fixture()
def summary_setup():
    """C3 clean, C4 flat for half of its N2 time, F3 all NaN, O1 dropped at loading."""
    hyp = Hypnogram([2] * 10 + [3] * 4 + [4] * 2)  # 5 min N2, 2 min N3, 1 min REM
    data = np.random.default_rng(0).normal(0, 20, (3, int(16 * 30 * SF)))
    data[1, : int(5 * 30 * SF)] = 0.0  # C4: the first 2.5 min of N2 flat
    data[2] = np.nan
    rec = Recording(data, SF, ("C3", "C4", "F3"), references=("M2", None, "M1"),
                    dropped=(DroppedChannel("O1", "flat (constant 0)"),))
    c3 = [{"channel": "C3", "stage": "N2", "start": 20.0 + 30 * k} for k in range(4)]
    c3 += [{"channel": "C3", "stage": "N3", "start": 310.0, "ptp": 150.0, "duration": 1.2},
           {"channel": "C3", "stage": "N3", "start": 340.0, "ptp": 250.0, "duration": 0.8}]
    c4 = [{"channel": "C4", "stage": "N2", "start": 170.0 + 30 * k} for k in range(2)]
    events = _so_events(c3 + c4)
    so_channels = pd.DataFrame({"channel": ["C3", "C4"], "threshold": ["absolute: neg <= -40 uV, ptp >= 75 uV"] * 2,
                                "polarity": ["ok", "inverted? mean val_neg > 0"]})
    return rec, hyp, events, so_channels


def test_so_counts_densities_and_means(summary_setup):
    rec, hyp, events, so_channels = summary_setup
    table = so_summary_table(_context(rec, hyp, events, so_channels))
    assert list(table.columns) == list(SO_SUMMARY.names)
    assert list(table.stage.unique()) == ["N2", "N3", "N2+N3"]
    t = table.set_index(["channel", "stage"])
    c3 = t.loc[("C3", "N2")]
    assert c3.n_so == 4 and c3.minutes == 5.0 and c3.density == pytest.approx(0.8) and c3.note == ""
    assert c3.reference == "M2" and c3.val_neg == -60.0 and c3.slope == 300.0
    n3 = t.loc[("C3", "N3")]
    assert n3.n_so == 2 and n3.density == pytest.approx(1.0)
    assert n3.ptp == pytest.approx(200.0) and n3.duration == pytest.approx(1.0)
    both = t.loc[("C3", "N2+N3")]
    assert both.n_so == 6 and both.minutes == 7.0 and both.density == pytest.approx(6 / 7)


def test_half_flat_channel_keeps_its_density(summary_setup):
    rec, hyp, events, so_channels = summary_setup
    t = so_summary_table(_context(rec, hyp, events, so_channels)).set_index(["channel", "stage"])
    c4 = t.loc[("C4", "N2")]
    assert c4.minutes == pytest.approx(2.5) and c4.excluded_minutes == pytest.approx(2.5)
    assert c4.density == pytest.approx(t.loc[("C3", "N2")].density)  # 2 SOs in 2.5 analysed min
    assert c4.note == "2.5 min of N2 excluded (NaN or flat signal)" and c4.reference == "unstated"
    assert t.loc[("C4", "N3")].n_so == 0 and t.loc[("C4", "N3")].density == 0.0
    assert np.isnan(t.loc[("C4", "N3")].ptp)


def test_unmeasurable_and_dropped_channels_are_nan_with_their_reason(summary_setup):
    rec, hyp, events, so_channels = summary_setup
    table = so_summary_table(_context(rec, hyp, events, so_channels))
    for channel, reason in (("F3", "no finite samples"), ("O1", "flat (constant 0)")):
        rows = table[table.channel == channel]
        assert len(rows) == 3 and rows.density.isna().all() and (rows.minutes == 0).all()
        assert rows.note.str.startswith("not measurable: " + reason).all()


def test_threshold_and_polarity_come_from_the_engine_per_channel(summary_setup):
    rec, hyp, events, so_channels = summary_setup
    t = so_summary_table(_context(rec, hyp, events, so_channels)).set_index(["channel", "stage"])
    assert t.loc[("C3", "N2"), "threshold"] == "absolute: neg <= -40 uV, ptp >= 75 uV"
    assert t.loc[("C3", "N3"), "polarity"] == "ok"
    assert t.loc[("C4", "N2+N3"), "polarity"] == "inverted? mean val_neg > 0"
    assert (t.loc["F3", "threshold"] == "").all() and (t.loc["O1", "polarity"] == "").all()
    without = so_summary_table(_context(rec, hyp, events)).set_index(["channel", "stage"])
    assert (without["threshold"] == "").all() and (without["polarity"] == "").all()


def test_so_summary_without_hypnogram_is_unscored(summary_setup):
    rec, _, events, _ = summary_setup
    table = so_summary_table(_context(rec, None, events.assign(stage="UNSCORED")))
    c3 = table[table.channel == "C3"].iloc[0]
    assert list(table.stage.unique()) == ["UNSCORED"]
    assert c3.n_so == 6 and c3.minutes == pytest.approx(rec.duration / 60)


def test_searched_stages_come_from_the_so_config(summary_setup):
    rec, hyp, events, _ = summary_setup
    config = Config().replace("slow_oscillations", stages=("N3",))
    table = so_summary_table(_context(rec, hyp, events, config=config))
    assert list(table.stage.unique()) == ["N3"]


# ----------------------------------------------------------------------------- SWA
# 57 min: two cycles ((4, 44, 54) and (54, 94, 114): the last 5 min of N2 join cycle 2).
_STAGES = [0] * 4 + [2] * 20 + [3] * 20 + [4] * 10 + [2] * 30 + [3] * 10 + [4] * 10 + [2] * 10
_AMPLITUDE = {2: 20.0, 3: 40.0}  # uV of the 1 Hz sine planted in every N2 / N3 epoch
_NOISE = 5.0  # uV, white


@pytest.fixture(scope="module")
def swa_setup():
    """C3 and C4 with the planted sines (C4 with one flat N2 and one NaN N3 epoch), F3 all NaN."""
    hyp = Hypnogram(_STAGES)
    spe = int(30 * SF)
    t = np.arange(len(_STAGES) * spe) / SF
    amplitude = np.repeat([_AMPLITUDE.get(s, 0.0) for s in _STAGES], spe)
    rng = np.random.default_rng(7)
    data = amplitude * np.sin(2 * np.pi * 1.0 * t) + rng.normal(0, _NOISE, (3, t.size))
    data[1, 10 * spe: 11 * spe] = 3.0  # a flat N2 epoch (10)
    data[1, 30 * spe + 50] = np.nan  # an N3 epoch (30) with a NaN
    data[2] = np.nan
    rec = Recording(data, SF, ("C3", "C4", "F3"))
    return rec, hyp


def _expected(stage, band=(0.5, 4.5)):
    """Sine power (A^2/2) plus the white noise's share of the band (variance spread over 0-50 Hz)."""
    return _AMPLITUDE[stage] ** 2 / 2 + _NOISE**2 * (band[1] - band[0]) / (SF / 2)


def test_swa_of_a_planted_sine_per_stage(swa_setup):
    rec, hyp = swa_setup
    table = swa_table(_context(rec, hyp))
    assert list(table.columns) == list(SWA.names)
    assert list(table.channel.unique()) == ["C3", "C4"]  # F3 cannot be measured
    c3 = table[table.channel == "C3"].set_index("window")
    assert list(c3.index) == ["N2", "N3", "NREM", "cycle 1", "cycle 2", "first 60 min NREM"]
    assert c3.loc["N2", "power"] == pytest.approx(_expected(2), rel=0.05)
    assert c3.loc["N3", "power"] == pytest.approx(_expected(3), rel=0.05)
    assert c3.loc["N3", "power"] > 3 * c3.loc["N2", "power"]
    assert (c3.n_epochs.loc[["N2", "N3", "NREM"]] == [60, 30, 90]).all()
    assert (c3.low == 0.5).all() and (c3.high == 4.5).all() and c3.loc["NREM", "stages"] == "N2+N3"
    # Relative to 0.5-30 Hz (the SWA band's low edge to the top of total_band): a fraction.
    n3 = _AMPLITUDE[3] ** 2 / 2 + _NOISE**2 * 29.5 / (SF / 2)
    assert c3.loc["N3", "relative"] == pytest.approx(c3.loc["N3", "power"] / n3, rel=0.05)
    assert (table["relative"].dropna() < 1).all()


def test_relative_swa_is_below_one_when_the_wave_is_inside_the_reference_band(swa_setup):
    rec, hyp = swa_setup
    t = np.arange(rec.n_samples) / SF
    data = 30 * np.sin(2 * np.pi * 2.0 * t) + np.random.default_rng(1).normal(0, _NOISE, (1, t.size))
    table = swa_table(_context(Recording(data, SF, ("C3",)), hyp))
    assert (table.relative < 1).all() and (table.relative > 0.9).all()


def test_swa_per_cycle_and_first_minutes(swa_setup):
    rec, hyp = swa_setup
    c3 = swa_table(_context(rec, hyp)).query("channel == 'C3'").set_index("window")
    cycles = c3.loc[["cycle 1", "cycle 2"]]
    assert list(cycles.n_epochs) == [40, 40]  # NREM periods only: not the N2 after the last REM
    assert list(cycles.start) == [4 * 30.0, 54 * 30.0] and list(cycles.end) == [44 * 30.0, 94 * 30.0]
    # Cycle 1 holds 20 N2 + 20 N3 epochs, cycle 2 30 N2 + 10 N3: SWA falls across the night.
    assert cycles.loc["cycle 1", "power"] == pytest.approx((_expected(2) + _expected(3)) / 2, rel=0.05)
    assert cycles.loc["cycle 1", "power"] > cycles.loc["cycle 2", "power"]
    first = c3.loc["first 60 min NREM"]  # the night has 45 min of N2+N3 after onset: all of it
    assert first.n_epochs == 90 and first.start == 120.0 and first.end == len(_STAGES) * 30.0
    config = Config().replace("slow_oscillations", swa_first_minutes=15.0)
    short = swa_table(_context(rec, hyp, config=config)).query("channel == 'C3'").set_index("window")
    bounded = short.loc["first 15 min NREM"]
    assert bounded.n_epochs == 30 and bounded.start == 120.0 and bounded.end == 34 * 30.0


def test_flat_and_nan_epochs_are_skipped_per_channel(swa_setup):
    rec, hyp = swa_setup
    table = swa_table(_context(rec, hyp)).set_index(["channel", "window"])
    assert table.loc[("C4", "N2"), "n_epochs"] == 59 and table.loc[("C4", "N3"), "n_epochs"] == 29
    assert table.loc[("C4", "NREM"), "n_epochs"] == 88 and table.loc[("C3", "NREM"), "n_epochs"] == 90
    # Zero power from the flat epoch is not averaged in: C4 keeps the planted power.
    assert table.loc[("C4", "N2"), "power"] == pytest.approx(_expected(2), rel=0.05)
    assert table.loc[("C4", "N2"), "start"] == table.loc[("C3", "N2"), "start"]  # the window's, not the channel's


def test_windows_without_epochs_are_nan(swa_setup):
    rec, _ = swa_setup
    hyp = Hypnogram([0] * 10 + [2] * 100 + [0] * 4)  # no N3, no REM: one cycle
    table = swa_table(_context(rec, hyp)).query("channel == 'C3'").set_index("window")
    assert list(table.index) == ["N2", "N3", "NREM", "cycle 1", "first 60 min NREM"]
    n3 = table.loc["N3"]
    assert n3.n_epochs == 0 and np.isnan(n3.power) and np.isnan(n3.start) and np.isnan(n3.relative)


def test_swa_is_empty_without_hypnogram(swa_setup):
    rec, _ = swa_setup
    table = swa_table(_context(rec, None))
    assert table.empty and list(table.columns) == list(SWA.names)


def test_swa_is_empty_with_a_warning_when_the_rate_does_not_resolve_the_band(caplog):
    rec = Recording(np.random.default_rng(3).normal(0, 10, (1, 8 * 600)), 8.0, ("C3",))
    table = swa_table(_context(rec, Hypnogram([2] * 20)))
    assert table.empty and "does not resolve slow_oscillations.swa_band (up to 4.5 Hz); no SWA" in caplog.text


def test_welch_segments_must_resolve_the_low_edge(swa_setup):
    rec, hyp = swa_setup
    config = Config().replace("laterality", welch_window=1.5)
    with pytest.raises(ConfigError, match="laterality.welch_window"):
        swa_table(_context(rec, hyp, config=config))


def test_windows_keep_complete_epochs_and_times_respect_offset():
    hyp = Hypnogram([0, 2, 2, 3, 4, 2], epoch_length=30.0, offset=10.0)  # epochs from 10 s
    n = int(180 * SF)  # the last N2 epoch (160-190 s) runs past the signal's end
    windows = {name: (label, list(e)) for name, label, e in swa_windows(hyp, ("N2", "N3"), 1.0, SF, n)}
    # The REM 1.5 min after onset is too soon to close a cycle: one cycle, epochs 1-5.
    assert windows == {"N2": ("N2", [1, 2]), "N3": ("N3", [3]), "NREM": ("N2+N3", [1, 2, 3]),
                       "cycle 1": ("N2+N3", [1, 2, 3]), "first 1 min NREM": ("N2+N3", [1, 2])}
    rec = Recording(np.random.default_rng(2).normal(0, 10, (1, n)), SF, ("C3",))
    table = swa_table(_context(rec, hyp)).set_index("window")
    assert (table.loc["N2", "start"], table.loc["N2", "end"]) == (40.0, 100.0)
    assert (table.loc["cycle 1", "start"], table.loc["cycle 1", "end"]) == (40.0, 130.0)


def test_synthetic_night_has_more_swa_in_n3_than_n2():
    night = make_synthetic_night(duration_hours=2.0, sf=100.0, channels=("C3",), so_density=8.0, seed=5)
    rec, hyp = night.recording, night.recording.hypnogram
    table = swa_table(_context(rec, hyp)).set_index("window")
    assert table.loc["N3", "power"] > 2 * table.loc["N2", "power"]
    assert table.loc["first 60 min NREM", "n_epochs"] == 120
