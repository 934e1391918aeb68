"""Builders shared by the laterality, stats and cohort tests (not a test module).

Two kinds of synthetic input, so the fast tests need neither EEG nor a detector:

* :func:`simulated_laterality`: subject-level contra/ipsi values drawn directly (the
  laterality table format), for the statistics and the 200-seed null-rate checks;
* :func:`synthetic_night_data`: a short synthetic EEG night from
  :func:`sleepspindles.synthetic.make_synthetic_night` with events taken from its ``.truth``
  (exact planted spindles), turned into :class:`~sleepspindles.analysis.laterality.NightData`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sleepspindles.analysis.laterality import night_data
from sleepspindles.schema import SPINDLES
from sleepspindles.synthetic import make_synthetic_night

CHANNELS = ("C3", "C4", "F3", "F4")


def events_from_truth(truth: pd.DataFrame) -> pd.DataFrame:
    """A standard events table from a synthetic truth table (the planted spindles)."""
    frame = truth.copy()
    frame["rms"] = frame["amplitude"] / (2 * np.sqrt(2))
    frame["oscillations"] = np.round(frame["duration"] * frame["frequency"]).astype(np.int64)
    frame["symmetry"] = 0.5
    return SPINDLES.conform(frame)


def synthetic_night_data(subject, night, hand, density, seed, *, score_pre=np.nan, score_post=np.nan,
                         hours=1.5, channels=CHANNELS, config=None, hypnogram=None):
    """NightData of a synthetic night with per-channel N2 ``density`` (dict channel -> /min).

    100 Hz keeps the generation fast (sigma and the 1-30 Hz band are below Nyquist); there is
    no mains noise, but the generator requires ``line_freq < sf / 2`` regardless.
    """
    synth = make_synthetic_night(duration_hours=hours, sf=100.0, line_freq=20.0, channels=channels, density=density,
                                 seed=seed, hypnogram=hypnogram)
    rec = synth.recording
    return night_data(events_from_truth(synth.truth), rec.hypnogram, rec, subject=subject, night=night,
                      trained_hand=hand, score_pre=score_pre, score_post=score_post, config=config)


def simulated_laterality(n, seed, *, effect=0.0, gain_slope=0.0, pairs=(("C3/C4", "motor"),),
                         measure="density_n2", nights=("post",)) -> pd.DataFrame:
    """Subject-level laterality rows: contra = ipsi + ``effect`` (motor pair only) + noise.

    Each subject has a baseline density ~ N(2.5, 0.4) on both sides, independent side noise
    sd 0.3, and a gain (%) = 20 + ``gain_slope`` * (its planted extra asymmetry) + N(0, 5); the
    planted extra asymmetry per subject is ``effect`` * U(0, 2) on learning nights (mean ``effect``).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n):
        level = rng.normal(2.5, 0.4)
        extra = effect * rng.uniform(0.0, 2.0)
        gain = 20 + gain_slope * extra + rng.normal(0, 5)
        n2 = rng.normal(200, 30)
        for night in nights:
            for pair, role in pairs:
                ipsi = level + rng.normal(0, 0.3)
                contra = level + rng.normal(0, 0.3)
                if role == "motor" and night != "baseline":
                    contra += extra
                rows.append(dict(subject=f"S{s:02d}", night=night, pair=pair, role=role, measure=measure,
                                 band="all", contra=contra, ipsi=ipsi, D=contra - ipsi,
                                 LI=(contra - ipsi) / (contra + ipsi), n2_minutes=n2, gain=gain))
    return pd.DataFrame(rows)
