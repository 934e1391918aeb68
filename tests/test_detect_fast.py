"""The fast engine: parity with YASA, sampling-rate and block invariance, parallel equality,
exclusion of NaN / flat / artefact time."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from scipy.signal import lfilter, resample_poly

from sleepspindles import Hypnogram, Recording
from sleepspindles.config import DetectionConfig
from sleepspindles.detection import run_detection
from sleepspindles.detection.core import streaming as st
from sleepspindles.detection.spindles import fast, yasa_ref
from sleepspindles.evaluation.matching import match_events

# YASA's own band and durations: the engine is compared with YASA at them.
CFG = DetectionConfig(method="fast", band=(12.0, 15.0), duration=(0.5, 2.0))


def _setup(rec, cfg):
    return fast._setup(rec, cfg, cfg.broadband, st.stage_codes(cfg.stages))


def _plan(rec, cfg):
    return _setup(rec, cfg).plan


def _signal(sf: float, seconds: float = 600, n_ch: int = 1, seed: int = 0, every: float = 7.0):
    """Coloured noise plus waxing-waning 11.5-15 Hz bursts every ``every`` s (same bursts per channel)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sf)
    t = np.arange(n) / sf
    data = np.empty((n_ch, n))
    for c in range(n_ch):
        w = rng.standard_normal(n)
        data[c] = lfilter([1], [1, -0.95], w) * 3 + rng.standard_normal(n) * 2
    bursts = []
    brng = np.random.default_rng(seed + 1000)
    for s0 in np.arange(5, seconds - 5, every):
        d, f, a = brng.uniform(0.6, 1.8), brng.uniform(11.5, 15), brng.uniform(15, 40)
        sel = (t >= s0) & (t < s0 + d)
        tt = t[sel] - s0
        data[:, sel] += a * np.sin(np.pi * tt / d) ** 2 * np.sin(2 * np.pi * f * tt)
        bursts.append((s0, s0 + d))
    return data, np.array(bursts)


def _f1(a: pd.DataFrame, b: pd.DataFrame, iou: float = 0.5):
    return match_events(a.start, a.end, b.start, b.end, iou=iou)


@pytest.fixture(scope="module")
def night100():
    data, bursts = _signal(100.0, seconds=900)
    return Recording(data, 100.0, ("C3",)), bursts


def test_parity_with_yasa_at_100_hz(night100):
    rec, bursts = night100
    ours = fast.detect(rec, None, CFG).events
    ref = yasa_ref.detect(rec, None, replace(CFG, method="yasa")).events
    m = _f1(ref, ours)
    assert m.f1 >= 0.98
    a, b = ref.iloc[m.ref].reset_index(drop=True), ours.iloc[m.det].reset_index(drop=True)
    assert np.percentile(np.abs(b.start - a.start), 90) <= 0.011
    assert np.percentile(np.abs(b.end - a.end), 90) <= 0.011
    assert np.median(np.abs(b.frequency / a.frequency - 1)) < 0.005
    assert np.median(np.abs(b.rms / a.rms - 1)) < 0.01
    # Amplitude: ours interpolates the extremes between samples, so it is never smaller by much.
    assert np.median(b.amplitude / a.amplitude - 1) == pytest.approx(0.0, abs=0.03)
    assert np.mean(np.abs(b.oscillations - a.oscillations) <= 1) >= 0.95
    # And it finds the planted bursts.
    truth = pd.DataFrame({"start": bursts[:, 0], "end": bursts[:, 1]})
    assert _f1(truth, ours, iou=0.3).recall >= 0.9


@pytest.mark.parametrize("sf", [128.0, 200.0, 256.0, 512.0])
def test_same_spindles_at_every_sampling_rate(night100, sf):
    """The 512 Hz signal resampled to each rate gives the 512 Hz result (YASA's pitfall)."""
    data, _ = _signal(512.0, seconds=600, seed=3)
    base = fast.detect(Recording(data, 512.0, ("C3",)), None, CFG).events
    up, down = {128: (1, 4), 200: (25, 64), 256: (1, 2), 512: (1, 1)}[int(sf)]
    rec = Recording(resample_poly(data, up, down, axis=1), sf, ("C3",))
    ev = fast.detect(rec, None, CFG).events
    m = _f1(base, ev)
    assert m.f1 >= 0.97
    a, b = base.iloc[m.ref], ev.iloc[m.det]
    assert np.median(np.abs(b.start.to_numpy() - a.start.to_numpy())) <= 0.0101
    assert np.median(np.abs(b.amplitude.to_numpy() / a.amplitude.to_numpy() - 1)) < 0.01


def test_block_edges_do_not_change_events():
    """Tiny blocks (30 s) give exactly the events of one block, including one across an edge."""
    sf = 100.0
    data, _ = _signal(sf, seconds=400, seed=5)
    small = replace(CFG, block_seconds=30.0)
    plan = _plan(Recording(data.copy(), sf, ("C3",)), small)
    edge = plan.hop / plan.rate  # first block edge, in seconds
    t = np.arange(data.shape[1]) / sf
    sel = (t >= edge - 0.6) & (t < edge + 0.6)
    data[0, sel] += 35 * np.sin(np.pi * (t[sel] - edge + 0.6) / 1.2) ** 2 * np.sin(2 * np.pi * 13 * t[sel])
    rec = Recording(data, sf, ("C3",))
    one = fast.detect(rec, None, replace(CFG, block_seconds=3600.0)).events
    many = fast.detect(rec, None, small).events
    assert plan.n_blocks > 5
    straddle = one[(one.start < edge) & (one.end > edge)]
    assert len(straddle) == 1
    assert len(many[(many.start < edge) & (many.end > edge)]) == 1
    pd.testing.assert_frame_equal(one[["start", "end", "peak"]], many[["start", "end", "peak"]])
    np.testing.assert_allclose(one.amplitude, many.amplitude, rtol=1e-4)


def test_relative_power_only_where_it_can_tip_the_vote(night100):
    """The gated vote (relative power computed only near passing windows) equals the full one."""
    from sleepspindles.detection.spindles import kernels_yasa as K

    rec, _ = night100
    setup = _setup(rec, CFG)
    plan, w = setup.plan, setup.windows
    include = st.included(None, np.array([]), -plan.margin, plan)
    block = st.block(st.spectrum(rec.data, [0], 0, plan, keep=False), 0, plan, include, analytic=True, broad=True)
    start, stop = plan.margin, plan.margin + plan.hop
    passing = []
    for rms_thr in (2.0, 6.0, 12.0):
        got = fast._supra(block, 0, start, stop, w, CFG, rms_thr)
        sigma, broad = block.band[0].real.astype(np.float64), block.broad[0]
        first = (start // w.knot_step) * w.knot_step
        n_knots = (stop - 1 - first) // w.knot_step + 2
        rms, corr = K.moving_rms_corr_ref(sigma, broad, first, w.knot_step, w.knot_half, n_knots)
        f0 = (start - w.frame_len // 2) // w.frame_step
        f1 = -(-(stop - w.frame_len // 2) // w.frame_step)
        ratio = K.stft_band_ratio(broad[f0 * w.frame_step : f1 * w.frame_step + w.frame_len],
                                  w.frame_len, w.frame_step, w.sig_bins, w.broad_bins)
        crit = np.vstack([
            K.interp_knots_ref(ratio, f0 * w.frame_step + w.frame_len // 2, w.frame_step, start, stop - start),
            K.interp_knots_ref(corr, first, w.knot_step, start, stop - start),
            K.interp_knots_ref(rms, first, w.knot_step, start, stop - start),
        ])
        votes = K.count_votes_ref(crit, [CFG.fast.thresh_rel_pow, CFG.fast.thresh_corr, rms_thr])
        full = K.soft_vote_ref(votes, np.ones(stop - start, bool), w.soft_w, 2)
        np.testing.assert_array_equal(got, full)
        passing.append(int(full.sum()))
    assert passing[0] > passing[1] > 100  # stricter RMS thresholds pass fewer samples, not none


def test_kept_spectra_do_not_change_events(monkeypatch):
    """Pass 2 from the spectra kept by pass 1 or from a fresh FFT: the same events."""
    data, _ = _signal(128.0, seconds=400, n_ch=2, seed=11)
    data[1, 5000:6000] = np.nan
    rec = Recording(data, 128.0, ("C3", "C4"))
    small = replace(CFG, block_seconds=60.0)
    kept = fast.detect(rec, None, small)
    monkeypatch.setattr(st, "_CACHE_FRACTION", 0.0)
    fresh = fast.detect(rec, None, small)
    assert len(kept.events) > 20
    pd.testing.assert_frame_equal(kept.events, fresh.events)


def test_parallel_equals_serial():
    data, _ = _signal(128.0, seconds=300, n_ch=4, seed=7)
    rec = Recording(data, 128.0, ("C3", "C4", "F3", "F4"))
    serial = fast.detect(rec, None, CFG)
    parallel = fast.detect(rec, None, replace(CFG, n_jobs=2))
    assert len(serial.events) > 20
    pd.testing.assert_frame_equal(serial.events, parallel.events)


def test_nan_flat_and_artefact_time_is_excluded_and_reported():
    sf = 100.0
    data, _ = _signal(sf, seconds=600, n_ch=3, seed=9)
    data[0, 6000:9000] = np.nan  # 30 s of NaN on C3
    data[1, 12000:15000] = 4.2  # 30 s flat on C4
    data[2] = 1.0  # Cz flat all night
    stages = np.full(20, 2)
    stages[[5, 6]] = -1  # one minute marked as artefact
    hyp = Hypnogram(stages)
    res = run_detection(Recording(data, sf, ("C3", "C4", "Cz")), hyp, CFG)
    assert res.excluded_seconds["C3"] == pytest.approx(30.0, abs=0.1)
    assert res.excluded_seconds["C4"] == pytest.approx(30.0, abs=0.1)
    assert res.excluded_seconds["Cz"] == pytest.approx(540.0, abs=0.1)
    assert any("Cz" in n for n in res.notes) and any("artefact" in n for n in res.notes)
    ev = res.events
    assert set(ev.channel) == {"C3", "C4"} and set(ev.stage) == {"N2"}
    for ch, (a, b) in {"C3": (60, 90), "C4": (120, 150)}.items():
        e = ev[ev.channel == ch]
        assert not ((e.end > a) & (e.start < b)).any()
    assert not ((ev.end > 150) & (ev.start < 210)).any()  # artefact epochs 5-6


def test_whole_recording_searched_without_hypnogram(night100):
    rec, _ = night100
    ev = fast.detect(rec, None, CFG).events
    assert len(ev) > 50 and set(ev.stage) == {"UNSCORED"}


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_parity_with_yasa_on_dreams(shared_data, n):
    from sleepspindles.io.dreams import load_dreams_excerpt

    ex = load_dreams_excerpt(shared_data / "dreams_spindles", n)
    rec = ex.recording
    ours = fast.detect(rec, ex.hypnogram, CFG)
    ref = yasa_ref.detect(rec, ex.hypnogram, replace(CFG, method="yasa"))
    m = _f1(ref.events, ours.events)
    assert len(ref.events) >= 3 and m.recall == 1.0
    # Excerpt 3 is sampled at 50 Hz, where YASA's sample-count windows (soft threshold of
    # int(0.1 * sf) = 5 samples) are coarsest: we find three extra events just above 0.5 s.
    assert m.f1 >= (0.9 if rec.sf < 100 else 0.95)


def test_flat_stretch_ended_by_nan_is_excluded_whole():
    """A flat run that ends in NaN samples is unusable up to the NaN (not only the NaN)."""
    sf = 100.0
    data, _ = _signal(sf, seconds=300, seed=13)
    data[0, 10000:13000] = 4.2  # 30 s flat ...
    data[0, 13000:13100] = np.nan  # ... then 1 s of NaN
    res = run_detection(Recording(data, sf, ("C3",)), None, CFG)
    assert res.excluded_seconds["C3"] == pytest.approx(31.0, abs=0.05)
    e = res.events
    assert not ((e.end > 100) & (e.start < 131)).any()
