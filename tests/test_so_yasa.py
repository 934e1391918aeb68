"""Our slow oscillations (SO) and SO-spindle phases against ``yasa.sw_detect`` (YASA 0.8.1), same signals and criteria.

What runs. Our pipeline (``detect_all``: spindles, then the SO engine annotating them) and
``yasa.sw_detect(coupling=True, coupling_params={"freq_sp": <our spindle band>})`` on the same
data and hypnogram (N2 and N3), with the criteria of ``scripts/bench_slow_oscillations.py``
(``YASA_SW``, ``matched_config``; the benchmark prints the same agreement): band 0.3-1.5 Hz,
negative half-wave 0.3-1.5 s, positive 0.1-1 s, trough <= -40 uV, peak-to-peak >= 75 uV, YASA's
upper amplitude limits off (``inf``), and our cycle length bounded as YASA's is (below).

SO agreement: by-event F1 at IoU >= 0.5 (``match_events``, YASA's SOs as the reference). Start
and end are compared as they are: YASA's are the sample *before* each zero crossing (its
``_zerocrossings``), ours the first sample *after* it, on our 100 Hz internal grid.

Phase conversion (from YASA's source): ``PhaseAtSigmaPeak = np.angle(hilbert(data_filt))`` at
the sigma peak, in radians; ours is ``np.angle`` of the analytic SO-band signal, in degrees
(:data:`sleepspindles.schema.PHASE_CONVENTION`). Both put 0 at the up-state peak, +-180 at the
trough and +90 at the down-going zero crossing, so ``ours_deg = degrees(PhaseAtSigmaPeak)``:
no sign change, no offset. Verified here on a pure 0.8 Hz cosine with 13 Hz bursts planted at
-60 deg and at 150 deg: both tools read the planted phase (circular means within 5 deg); a sign
error would read +60 / -150, an offset of 180 deg 120 / -30.

Phase comparison, two ways:

* pipeline pairs (the comparison asked for): each spindle we call coupled whose SO matches a YASA
  SO, our ``so_phase`` against that SO's converted ``PhaseAtSigmaPeak``. The two tools read the
  phase at *their own* sigma maximum (below), so the pairs are compared where the two maxima
  coincide (within ``SAME_PEAK``, 50 ms; at least half the pairs must): circular correlation
  (Jammalamadaka-SenGupta, ``pingouin.circ_corrcc``) >= 0.9; over every pair, no systematic
  offset (circular mean difference < 10 deg).
* same times: YASA's ``SigmaPeak`` times handed to our SO engine as spindle peaks, so both phases
  are read at one instant: this isolates the SO filter and phase (>= 0.99).

Measured (working tree of this writing): synthetic night (2 h, 128 Hz, 2 channels) SO F1 1.000
(0.999 with our default cycle bounds, 741 SOs); 124 pipeline pairs, 92 at the same sigma peak,
circular correlation 0.991 there, 0.76 over all pairs, mean offset 0.8 deg; same times: 519
phases, correlation 0.9999, median difference 0.6 deg. DREAMS excerpts 1-4: SO F1 1.000, 0.993,
0.985, 1.000 (with our default cycle bounds 0.94, 0.99, 0.92, 1.00); 11 pipeline pairs (real
spindles inside an SO are few), 8 at the same sigma peak, each within 9 deg (correlation 0.99);
same times: 250 phases, correlation 0.9997.

Where we differ on purpose (and what each difference does to the numbers above):

* Coupling. YASA computes ``PhaseAtSigmaPeak`` (and ``ndPAC``) for *every* slow wave, spindle
  or not: the phase at the maximum sigma amplitude within +-1 s of the SO's negative peak,
  which may be noise, another spindle, or a spindle outside the SO (that window is 2 s, an SO
  0.8-2 s). We give a phase only to a detected spindle whose ``sigma_peak`` lies inside an SO
  of its channel, read at that peak: a phase without a spindle measures nothing. Pairs whose
  spindle lies outside YASA's window disagree by construction (YASA read another time).
* Sigma peak. YASA's is the maximum of its own sigma envelope (FIR ``freq_sp`` with 1.5 Hz
  transitions, at the recording's rate) anywhere in the +-1 s window; ours is the spindle
  engine's ``sigma_peak``, the envelope maximum *within the detected spindle*, from that
  engine's sigma filter. About a quarter of the synthetic pairs have maxima 50-500 ms apart
  (up to ~150 deg of a 0.8 Hz SO): that, not the SO phase, is why the correlation over all
  pairs is lower (0.99 in an earlier run of this test, 0.76 with the A7 engine as it is being
  rewritten in the working tree of this writing).
* Amplitude. YASA has upper limits (defaults trough 200 uV, positive peak 150 uV,
  peak-to-peak 350 uV) that drop the largest SOs; we have none (disabled in YASA here).
* Crest and trough. YASA pairs *every* local minimum deeper than 40 uV with the *first* local
  maximum (>= ``amp_pos[0]``) after it, measures peak-to-peak there, then drops every candidate
  sharing a Start or an End with another (``drop_duplicates(keep=False)``). We take one
  candidate per cycle: the first minimum of the negative half-wave and the maximum of the
  positive one. So an SO with two troughs in its down-state (DREAMS excerpt 2 at 234 s: -53
  and -46 uV) is dropped by YASA and kept by us, and one whose up-state starts with a small
  bump (excerpt 2 at 1182.5 s: first maximum 9 uV, highest 44.5 uV) fails YASA's 75 uV
  peak-to-peak and passes ours.
* Cycle length. YASA bounds it only through the half-waves (0.4-2.5 s); ours has its own bound
  (``crossing``, default 0.8-2 s, i.e. 0.5-1.25 Hz), set to 0.4-2.5 s here. With our default,
  YASA's extra SOs on DREAMS are 0.68-0.79 s cycles (1.3-1.5 Hz, delta rather than SO).
* Stages and signal. YASA checks the stage only at the two peaks; we require the whole cycle
  inside the searched stages and on usable signal (excerpt 2 at 1458.8 s: a cycle ending in
  wake, found by YASA only). YASA's duration bounds are strict, ours inclusive.
* Filter. YASA filters at the recording's rate (MNE FIR); we filter once at 100 Hz, streamed
  (same 0.2 Hz transitions): landmarks differ by a sample, amplitudes by well under 1 uV.
"""

from __future__ import annotations

import math
import runpy
from pathlib import Path

import numpy as np
import pandas as pd
import pingouin as pg
import pytest
from scipy.signal import hilbert

from sleepspindles.analysis.circular import circular_difference, circular_mean
from sleepspindles.config import Config
from sleepspindles.detection import DetectionResult, detect_all, detect_kind
from sleepspindles.io.dreams import load_dreams_excerpt
from sleepspindles.recording import Recording
from sleepspindles.schema import SPINDLES
from sleepspindles.synthetic import make_synthetic_night

bench = runpy.run_path(str(Path(__file__).resolve().parents[1] / "scripts" / "bench_slow_oscillations.py"))
CONFIG = bench["matched_config"]()
MIN_F1 = 0.9
MIN_CIRCCORR = 0.9


def _both(recording: Recording, hypnogram) -> dict:
    """Our detections, YASA's slow waves, their SO matches and the phase pairs."""
    found = detect_all(recording, hypnogram, CONFIG)
    hypno = hypnogram.to_samples(recording.sf, recording.n_samples) if hypnogram is not None else None
    yasa = bench["yasa_slow_waves"](np.asarray(recording.data, dtype=np.float64), recording.sf, recording.channels,
                                    hypno, CONFIG.detection.band)
    so = found["slow_oscillations"].events
    matches = bench["so_agreement"](so, yasa)
    pairs = bench["phase_pairs"](found["spindles"].events, so, yasa, matches)
    return {"found": found, "yasa": yasa, "matches": matches, "pairs": pairs}


def _gap(a, b) -> np.ndarray:
    """``|a - b|`` in degrees, wrapped (a and b in degrees)."""
    return np.degrees(np.abs(circular_difference(np.radians(a), np.radians(b))))


def _phases_at_yasa_peaks(recording: Recording, hypnogram, yasa: pd.DataFrame) -> pd.DataFrame:
    """Our SO engine handed YASA's sigma peaks as spindle peaks: both phases (degrees) read at the same times.

    Rows: YASA's slow waves whose ``SigmaPeak`` lies inside one of our SOs (only there do we read a phase).
    """
    found = yasa[yasa["SigmaPeak"].notna()].reset_index(drop=True)
    spindles = SPINDLES.empty().reindex(range(len(found)))
    spindles["channel"] = found["Channel"].to_numpy(dtype=object)
    spindles["sigma_peak"] = found["SigmaPeak"].to_numpy(dtype=np.float64)
    result = detect_kind("slow_oscillations", recording, hypnogram, CONFIG, {"spindles": DetectionResult(spindles)})
    held = result.tables["spindles"]["so_coupled"].to_numpy(dtype=bool, na_value=False)
    return pd.DataFrame({"ours": result.tables["spindles"]["so_phase"].to_numpy()[held],
                         "yasa": bench["yasa_phase_to_ours"](found["PhaseAtSigmaPeak"].to_numpy()[held])})


def _circcorr(pairs: pd.DataFrame) -> float:
    return float(pg.circ_corrcc(np.radians(pairs["ours"].to_numpy()), np.radians(pairs["yasa"].to_numpy()))[0])


# --------------------------------------------------------------------------- the conversion, on a cosine
SO_HZ, BURST_HZ, SF = 0.8, 13.0, 100.0


def _cosine_with_bursts(phase_deg: float, minutes: float = 10.0) -> tuple[Recording, np.ndarray]:
    """A 0.8 Hz, 120 uV peak-to-peak cosine with a 13 Hz burst centred at ``phase_deg`` every third cycle."""
    t = np.arange(int(minutes * 60 * SF)) / SF
    x = 60.0 * np.cos(2 * np.pi * SO_HZ * t) + 2.0 * np.random.default_rng(0).standard_normal(t.size)
    centres = (phase_deg / 360.0 + np.arange(2, int(minutes * 60 * SO_HZ) - 2, 3)) / SO_HZ
    for c in centres:
        near = np.abs(t - c) < 0.5
        x[near] += 25.0 * np.cos(np.pi * (t[near] - c)) ** 2 * np.sin(2 * np.pi * BURST_HZ * (t[near] - c))
    return Recording(x[None, :], SF, ("C3",)), centres


def test_hilbert_phase_of_a_cosine_is_our_convention():
    """``np.angle(hilbert(cos))``, YASA's phase: 0 at the crest, +-180 at the trough, +90 going down."""
    t = np.arange(int(60 * SF)) / SF
    phase = np.degrees(np.angle(hilbert(np.cos(2 * np.pi * SO_HZ * t))))
    period = int(SF / SO_HZ)  # 125 samples
    crest, down, trough, up = 20 * period, 20 * period + period // 4, 20 * period + period // 2, 20 * period + 3 * period // 4
    assert abs(phase[crest]) < 3
    assert abs(abs(phase[trough]) - 180) < 3
    assert abs(phase[down] - 90) < 3 and abs(phase[up] + 90) < 3


@pytest.mark.parametrize("planted", [-60.0, 150.0])
def test_both_tools_read_the_planted_phase_on_a_cosine(planted):
    recording, centres = _cosine_with_bursts(planted)
    out = _both(recording, None)
    ours = out["found"]["spindles"].events
    coupled = ours[ours["so_coupled"].to_numpy(dtype=bool, na_value=False)]
    assert len(coupled) >= 0.9 * centres.size
    yasa = out["yasa"]
    at_burst = np.min(np.abs(yasa["SigmaPeak"].to_numpy()[:, None] - centres[None, :]), axis=1) < 0.1
    assert at_burst.sum() >= centres.size  # each burst lies within +-1 s of one or two troughs
    yasa_mean = math.degrees(circular_mean(np.radians(bench["yasa_phase_to_ours"](yasa["PhaseAtSigmaPeak"][at_burst]))))
    our_mean = math.degrees(circular_mean(np.radians(coupled["so_phase"].to_numpy())))
    assert _gap(yasa_mean, planted) < 5
    assert _gap(our_mean, planted) < 5
    assert bench["pooled_f1"](out["matches"]) >= 0.99


# --------------------------------------------------------------------------- a synthetic night
@pytest.fixture(scope="module")
def synthetic():
    night = make_synthetic_night(duration_hours=2.0, sf=128.0, channels=("C3", "C4"), seed=0, **bench["NIGHT"])
    return night, _both(night.recording, night.recording.hypnogram)


def test_so_events_agree_on_a_synthetic_night(synthetic):
    _, out = synthetic
    assert bench["pooled_f1"](out["matches"]) >= MIN_F1
    for m in out["matches"].values():
        assert m.n_ref > 100 and m.f1 >= MIN_F1


def test_our_default_cycle_bounds_agree_on_planted_sos(synthetic):
    """The planted SOs are 0.6-1.1 Hz cycles: our default 0.8-2 s bound loses none of YASA's."""
    night, out = synthetic
    rec = night.recording
    default = detect_kind("slow_oscillations", rec, rec.hypnogram, Config(), {"spindles": out["found"]["spindles"]})
    assert bench["pooled_f1"](bench["so_agreement"](default.events, out["yasa"])) >= MIN_F1


def test_phases_of_coupled_spindles_agree_on_a_synthetic_night(synthetic):
    _, out = synthetic
    pairs = out["pairs"]
    assert len(pairs) >= 50
    same = pairs[pairs["same_peak"]]
    assert len(same) >= 0.5 * len(pairs)
    assert _circcorr(same) >= MIN_CIRCCORR
    # over every pair (some read at another sigma maximum by YASA): no systematic offset
    assert _gap(math.degrees(circular_mean(np.radians(pairs["ours"] - pairs["yasa"]))), 0.0) < 10


def test_our_phase_at_yasas_sigma_peaks_is_yasas_phase(synthetic):
    night, out = synthetic
    both = _phases_at_yasa_peaks(night.recording, night.recording.hypnogram, out["yasa"])
    assert len(both) >= 300
    assert _circcorr(both) >= 0.99
    assert np.percentile(_gap(both["ours"], both["yasa"]), 95) < 5


# --------------------------------------------------------------------------- DREAMS
@pytest.fixture(scope="module")
def dreams(shared_data):
    folder = shared_data / "dreams_spindles"
    out = {}
    for n in (1, 2, 3, 4):
        excerpt = load_dreams_excerpt(folder, n)
        out[n] = {**_both(excerpt.recording, excerpt.hypnogram), "excerpt": excerpt}
    return out


@pytest.mark.slow
@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_so_events_agree_on_dreams(dreams, n):
    matches = dreams[n]["matches"]
    assert sum(m.n_ref for m in matches.values()) >= 20
    assert bench["pooled_f1"](matches) >= MIN_F1


@pytest.mark.slow
def test_phases_agree_on_dreams(dreams):
    """Few real spindles sit inside an SO here: pairs read at the same spindle agree to what 50 ms allows.

    50 ms is up to 22.5 deg of a 1.25 Hz SO; the same-time comparison is the precise one.
    """
    pairs = pd.concat([d["pairs"] for d in dreams.values()], ignore_index=True)
    same = pairs[pairs["same_peak"]]
    assert len(same) >= 1
    assert np.all(_gap(same["ours"], same["yasa"]) < 25)
    if len(same) >= 5:
        assert _circcorr(same) >= MIN_CIRCCORR
    both = pd.concat([_phases_at_yasa_peaks(d["excerpt"].recording, d["excerpt"].hypnogram, d["yasa"])
                      for d in dreams.values()], ignore_index=True)
    assert len(both) >= 100
    assert _circcorr(both) >= 0.99
