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

    Subjects alternate left- and right-hand training (no hemispheric asymmetry). Each subject has
    a baseline density ~ N(2.5, 0.4) on both sides, independent side noise
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
                rows.append(dict(subject=f"S{s:02d}", night=night, trained_hand=("left", "right")[s % 2], pair=pair,
                                 role=role, measure=measure, band="all", window="night", contra=contra, ipsi=ipsi,
                                 D=contra - ipsi, LI=(contra - ipsi) / (contra + ipsi), contra_minutes=n2,
                                 ipsi_minutes=n2, n2_minutes=n2, gain=gain))
    return pd.DataFrame(rows)


def simulated_hemispheres(n, seed, *, effect=0.0, asymmetry=0.0, hands=("left", "right"), nights=("baseline", "post"),
                          counts=False, measure="density_n2", pairs=(("C3/C4", "motor"),)) -> pd.DataFrame:
    """Subject-night laterality rows built from left- and right-hemisphere values.

    Additive (``counts=False``): each hemisphere's value is a subject level ~ N(2.5, 0.4), a
    subject-night shift ~ N(0, 0.2) shared by both sides, + ``asymmetry`` / 2 on the left and
    - ``asymmetry`` / 2 on the right (a fixed left > right asymmetry for ``asymmetry`` > 0), a
    stable subject-specific asymmetry ~ N(0, 0.2) split the same way, and side noise ~ N(0, 0.3);
    the contralateral side gains ``effect`` on every night but ``baseline`` (motor pair only).
    Counts (``counts=True``): the same on the log scale of a rate per minute (level log 2.5, shifts
    sd 0.1, subject asymmetry sd 0.05, side noise a gamma factor of sd 0.1; ``effect`` and
    ``asymmetry`` are log rate ratios), events ~ Poisson(rate x minutes) over 100-200 analysed
    minutes per side, and the values are the observed rates. Subjects alternate over ``hands``.
    """
    rng = np.random.default_rng(seed)
    sd = (0.1, 0.05) if counts else (0.2, 0.2)
    rows = []
    for s in range(n):
        hand = hands[s % len(hands)]
        level = np.log(2.5) + rng.normal(0, 0.1) if counts else rng.normal(2.5, 0.4)
        own = rng.normal(0, sd[1])
        gain = 20 + rng.normal(0, 5)
        for night in nights:
            shift = rng.normal(0, sd[0])
            for pair, role in pairs:
                side = {"left": level + shift + (asymmetry + own) / 2, "right": level + shift - (asymmetry + own) / 2}
                contra, ipsi = ("right", "left") if hand == "left" else ("left", "right")
                if role == "motor" and night != "baseline":
                    side[contra] += effect
                minutes = {k: rng.uniform(100, 200) for k in side}
                if counts:
                    value = {k: rng.poisson(np.exp(v) * rng.gamma(100, 0.01) * minutes[k]) / minutes[k]
                             for k, v in side.items()}
                else:
                    value = {k: v + rng.normal(0, 0.3) for k, v in side.items()}
                c, i = value[contra], value[ipsi]
                rows.append(dict(subject=f"S{s:02d}", night=night, trained_hand=hand, pair=pair, role=role,
                                 measure=measure, band="all", window="night", contra=c, ipsi=i, D=c - i,
                                 LI=(c - i) / (c + i), contra_minutes=minutes[contra], ipsi_minutes=minutes[ipsi],
                                 n2_minutes=200.0, gain=gain))
    return pd.DataFrame(rows)


def on_two_cores(function, items) -> list:
    """``[function(item) for item in items]`` on two worker processes (the calibration loops' wall time halves).

    ``function`` must be defined at a module's top level; the workers are forked, so they share
    the imports already made.
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(pool.map(function, items, chunksize=max(1, len(items) // 8)))


def coupling_night(subject, hand, sides, seed, *, minutes=200.0):
    """NightData whose stored tables hold a summary and a coupling table computed from drawn phases.

    ``sides`` maps ``"contra"`` / ``"ipsi"`` to (coupled spindles, von Mises concentration): each
    side's SO phases of its coupled spindles are drawn around -30 deg with that concentration,
    and PPC, MVL, Rayleigh and the surrogate z (200 uniform surrogate phase sets) are computed
    by :mod:`sleepspindles.analysis.circular`, as ``coupling.csv`` holds them.
    """
    from sleepspindles.analysis.circular import circular_mean, mvl, ppc, rayleigh, surrogate_test
    from sleepspindles.analysis.laterality import contra_ipsi, night_from_tables
    from sleepspindles.schema import COUPLING, SIGMA, SPINDLE_SUMMARY

    rng = np.random.default_rng(seed)
    channel = dict(zip(("contra", "ipsi"), (lambda s: (s.contra, s.ipsi))(contra_ipsi(("C3", "C4"), hand))))
    summary, coupling = [], []
    for side, (n, kappa) in sides.items():
        phases = rng.vonmises(np.deg2rad(-30.0), kappa, n)
        z, p, k = surrogate_test(phases, rng.uniform(-np.pi, np.pi, (n, 200)), statistic="mvl")
        rz, rp = rayleigh(phases)
        for stage in ("N2", "N2+N3"):
            summary.append(dict(channel=channel[side], stage=stage, band="all", n_spindles=2 * n, minutes=minutes,
                                excluded_minutes=0.0, density=2 * n / minutes, duration=1.0, amplitude=30.0, rms=10.0,
                                frequency=13.0, reference="M1", note=""))
        coupling.append(dict(channel=channel[side], stage="N2+N3", band="all", n_spindles=2 * n, n_so=3 * n,
                             n_coupled=n, pct_coupled=50.0, pct_so_with_spindle=33.0, coupled_density=n / minutes,
                             uncoupled_density=n / minutes, phase_deg=np.rad2deg(circular_mean(phases)),
                             mvl=mvl(phases), ppc=ppc(phases), rayleigh_z=rz, rayleigh_p=rp, surrogate_z=z,
                             surrogate_p=p, n_surrogates=k, seed=seed, note=""))
    return night_from_tables(SPINDLE_SUMMARY.conform(pd.DataFrame(summary)), SIGMA.empty(), minutes, subject=subject,
                             night="post", trained_hand=hand, score_pre=100.0, score_post=110.0 + rng.normal(0, 3),
                             tables={"coupling": COUPLING.conform(pd.DataFrame(coupling))})
