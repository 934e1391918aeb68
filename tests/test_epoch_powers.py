"""Sigma power and SWA of a run share one Welch pass over their epochs, with the tables of a pass each."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sleepspindles.analysis import epoch_powers, spectral
from sleepspindles.analysis.slow_waves import slow_wave_activity
from sleepspindles.config import Config
from sleepspindles.detection import RecordingContext, detect_all
from sleepspindles.detection.coverage import unmeasurable
from sleepspindles.pipeline.run import run_tables
from sleepspindles.schema import SIGMA, SWA
from sleepspindles.synthetic.night import make_synthetic_night


@pytest.fixture(scope="module")
def context():
    night = make_synthetic_night(duration_hours=1.0, sf=128.0, channels=("C3", "C4", "O1"), so_density=6.0, seed=5)
    rec = night.recording
    hyp = rec.hypnogram
    assert hyp.offset == 0
    data = np.array(rec.data)
    first = int(np.flatnonzero(hyp.stages == 2)[10] * hyp.epoch_length * rec.sf)
    data[2, first : first + 5 * 30 * 128] = np.nan  # O1 loses N2 epochs: the usable counts differ per channel
    rec = replace(rec, data=data, checked=False)
    config = Config()
    return RecordingContext(rec, hyp, config, detect_all(rec, hyp, config))


def test_one_welch_pass_serves_sigma_and_swa(context, monkeypatch):
    calls = []
    real = epoch_powers.epoch_band_powers
    monkeypatch.setattr(epoch_powers, "epoch_band_powers", lambda *a, **k: calls.append(a[2].size) or real(*a, **k))
    fresh = RecordingContext(context.recording, context.hypnogram, context.config, context.detections)
    tables = run_tables(fresh)
    assert len(calls) == 1  # both tables, one pass
    # ...over the union of their epochs: N2 (sigma) and N2+N3 (SWA)
    stages = context.hypnogram.stages
    assert calls[0] == int(np.isin(stages, [2, 3]).sum())
    assert len(tables[SIGMA.name]) and len(tables[SWA.name])


def test_shared_tables_equal_a_pass_each(context):
    rec, hyp, config = context.recording, context.hypnogram, context.config
    skip = list(unmeasurable(rec))
    fresh = RecordingContext(rec, hyp, config, context.detections)
    shared = run_tables(fresh)
    alone_sigma = SIGMA.conform(spectral.sigma_table(rec, hyp, config, skip=skip))
    alone_swa = SWA.conform(slow_wave_activity(rec, hyp, config, skip=skip))
    pd.testing.assert_frame_equal(shared[SIGMA.name], alone_sigma, check_exact=True)
    pd.testing.assert_frame_equal(shared[SWA.name], alone_swa, check_exact=True)
    o1 = shared[SWA.name].query("channel == 'O1' and window == 'NREM'")["n_epochs"].iloc[0]
    c3 = shared[SWA.name].query("channel == 'C3' and window == 'NREM'")["n_epochs"].iloc[0]
    assert o1 < c3  # the NaN stretch's epochs are left out of O1 only


def test_epoch_powers_mean_picks_bands_channels_and_epochs(context):
    rec, hyp = context.recording, context.hypnogram
    epochs = np.flatnonzero(hyp.stages == 2)[:6]
    bands = [(11.0, 16.0), (0.5, 4.5)]
    full = epoch_powers.epoch_powers(rec, hyp, ["C3", "C4"], epochs, bands, 4.0)
    power, used = full.mean([(0.5, 4.5)], ["C4"], epochs[::2])
    alone = epoch_powers.epoch_powers(rec, hyp, ["C4"], epochs[::2], [(0.5, 4.5)], 4.0)
    np.testing.assert_array_equal(power, alone.mean([(0.5, 4.5)], ["C4"], epochs[::2])[0])
    assert used.tolist() == [3]
    assert power[0, 0] > 0
