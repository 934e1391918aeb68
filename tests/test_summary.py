"""Aggregation per channel x stage x band against hand-counted tables."""

import numpy as np
import pandas as pd
import pytest

from sleepspindles import Hypnogram, Recording
from sleepspindles.analysis.summary import summarize
from sleepspindles.config import Config
from sleepspindles.schema import SPINDLE_SUMMARY, SPINDLES


def _events(rows):
    base = dict(peak=0.0, end=0.0, duration=1.0, amplitude=40.0, rms=10.0, oscillations=12, symmetry=0.5)
    return SPINDLES.conform(pd.DataFrame([{**base, **r} for r in rows]))


@pytest.fixture()
def setup():
    hyp = Hypnogram([2] * 10 + [3] * 4 + [4] * 2)  # 5 min N2, 2 min N3, 1 min REM
    rec = Recording(np.random.default_rng(0).normal(0, 20, (2, 16 * 30 * 10)), 10.0, ("C3", "C4"))
    ev = _events(
        [
            {"channel": "C3", "stage": "N2", "start": 10, "frequency": 12.0, "duration": 1.0},
            {"channel": "C3", "stage": "N2", "start": 40, "frequency": 14.0, "duration": 2.0},
            {"channel": "C3", "stage": "N3", "start": 320, "frequency": 12.5, "duration": 0.6},
            {"channel": "C4", "stage": "N2", "start": 12, "frequency": 13.0, "duration": 1.5},
        ]
    )
    return ev, hyp, rec


def test_counts_densities_and_means(setup):
    ev, hyp, rec = setup
    table = summarize(ev, hyp, rec, Config()).set_index(["channel", "stage", "band"])
    assert list(table.reset_index().columns) == list(SPINDLE_SUMMARY.names)
    c3n2 = table.loc[("C3", "N2", "all")]
    assert c3n2.n_spindles == 2 and c3n2.minutes == 5.0 and c3n2.density == pytest.approx(0.4)
    assert c3n2.duration == pytest.approx(1.5) and c3n2.frequency == pytest.approx(13.0)
    assert table.loc[("C3", "N2", "fast")].n_spindles == 1  # 14 Hz >= 13 Hz
    assert table.loc[("C3", "N2", "slow")].n_spindles == 1
    assert table.loc[("C4", "N2", "fast")].n_spindles == 1  # 13 Hz counts as fast
    both = table.loc[("C3", "N2+N3", "all")]
    assert both.n_spindles == 3 and both.minutes == 7.0
    assert table.loc[("C4", "N3", "all")].n_spindles == 0
    assert np.isnan(table.loc[("C4", "N3", "all")].amplitude)


def test_empty_events_give_zero_rows_for_every_channel(setup):
    _, hyp, rec = setup
    table = summarize(SPINDLES.empty(), hyp, rec)
    assert set(table.channel) == {"C3", "C4"}
    assert (table.n_spindles == 0).all() and (table.density == 0).all()


def test_no_hypnogram_uses_whole_recording(setup):
    ev, _, rec = setup
    ev = ev.assign(stage="UNSCORED")
    table = summarize(ev, None, rec)
    row = table[(table.channel == "C3") & (table.band == "all")].iloc[0]
    assert row.stage == "UNSCORED" and row.minutes == pytest.approx(rec.duration / 60)
    assert row.n_spindles == 3


def test_fast_threshold_is_configurable(setup):
    ev, hyp, rec = setup
    cfg = Config().replace("summary", fast_threshold=11.5)
    table = summarize(ev, hyp, rec, cfg).set_index(["channel", "stage", "band"])
    assert table.loc[("C3", "N2", "fast")].n_spindles == 2
