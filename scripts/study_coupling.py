"""Calibration and power of the SO-spindle coupling tests (surrogate and Rayleigh) on synthetic nights.

Each night is short (18 min: 4 of N2, 14 of N3, at 100 Hz, one channel, SOs at 10 per minute of
N3) and seeded by its number. The coupling statistics of channel C3, N2+N3, all spindles
(:func:`sleepspindles.analysis.coupling.coupling_table`) are taken with the spindle peaks given
to the real slow-oscillation engine in three ways:

``in detected SOs``
    SOs are detected first; a random 30 % of them get one spindle peak, at a time drawn within
    the detected SO (start to end): uniform for ``kappa = 0`` (exactly the surrogates' null:
    peak times uniform within their SO), otherwise at a von Mises phase laid linearly over the
    cycle (+90 deg at its start, as the generator plants them). The engine reads the phases
    and draws the surrogates. This calibrates the test itself, and measures its power.
``planted, true peaks``
    Spindles planted by the generator (4 per minute, 90 % of them inside an SO at a von Mises
    phase), their planted peaks (envelope centres) handed to the SO engine.
``planted, detected``
    The same nights through the whole pipeline (:func:`sleepspindles.detection.detect_all`):
    the spindle engine's peaks.

Usage::

    python scripts/study_coupling.py [--nights 1000] [--jobs 2]

Prints, per condition, the nights, the mean number of coupled spindles, the rejection rates at
p < 0.05 of the surrogate test and of Rayleigh's test (with 95 % Wilson intervals) and the mean
PPC. The tests (``tests/test_coupling.py``) run the same nights, fewer of them.
"""

from __future__ import annotations

import argparse
import logging
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd

from sleepspindles.analysis.coupling import coupling_table
from sleepspindles.config import Config
from sleepspindles.detection import DetectionResult, RecordingContext, detect_all, detect_kind
from sleepspindles.detection.coverage import coverage
from sleepspindles.hypnogram import Hypnogram, Stage, stage_names
from sleepspindles.recording import Recording
from sleepspindles.schema import SPINDLES
from sleepspindles.synthetic import SyntheticNight, make_synthetic_night

SF = 100.0
SO_DENSITY = 10.0  # per minute of N3 (a quarter of it in N2)
HELD_FRACTION = 0.3  # of the detected SOs given a spindle peak: ~40 coupled spindles a night
POWER_KAPPAS = (0.25, 0.5, 1.0)
ALPHA = 0.05
CONFIG = Config()


def short_hypnogram(n2_epochs: int = 8, n3_epochs: int = 28) -> Hypnogram:
    """A night of N2 then N3 (30 s epochs)."""
    stages = np.array([Stage.N2] * n2_epochs + [Stage.N3] * n3_epochs, dtype=np.int8)
    return Hypnogram(stages, epoch_length=30.0, source="synthetic")


HYPNOGRAM = short_hypnogram()


def with_spindles(recording: Recording, hypnogram: Hypnogram, spindles: pd.DataFrame,
                  config: Config = CONFIG) -> dict[str, DetectionResult]:
    """Detections as :func:`~sleepspindles.detection.detect_all` makes them, ``spindles`` standing in
    for the spindle engine's events (the SO engine annotates them and draws their surrogates)."""
    covered = coverage(recording, hypnogram, config.detection.flat_seconds)
    found = DetectionResult(events=spindles, coverage=covered)
    so = detect_kind("slow_oscillations", recording, hypnogram, config, {"spindles": found}, covered)
    return {"spindles": replace(found, events=so.tables["spindles"]), "slow_oscillations": so}


def spindle_table(channel: str, peaks: np.ndarray, hypnogram: Hypnogram, rng: np.random.Generator) -> pd.DataFrame:
    """One-second spindles peaking at ``peaks`` (s), frequencies uniform over 11-16 Hz (both bands)."""
    return SPINDLES.conform(pd.DataFrame({
        "channel": channel, "stage": stage_names(hypnogram.stage_at(peaks)), "start": peaks - 0.5, "peak": peaks,
        "end": peaks + 0.5, "duration": 1.0, "amplitude": 30.0, "rms": math.nan,
        "frequency": rng.uniform(11.0, 16.0, peaks.size), "oscillations": 13, "symmetry": 0.5,
    }))  # fmt: skip


def peaks_in_sos(sos: pd.DataFrame, fraction: float, kappa: float, phase: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Peak times in a random ``fraction`` of ``sos``, at VonMises(``phase`` deg, ``kappa``) phases.

    A phase is laid linearly over the SO (+90 deg at its start, +450 at its end), as the generator
    plants coupled spindles; with ``kappa = 0`` the peak is uniform in time within the SO, the
    null the engine's surrogates draw from.
    """
    held = sos[rng.random(len(sos)) < fraction]
    drawn = np.rad2deg(rng.vonmises(np.deg2rad(phase), kappa, len(held)))
    offset = np.mod(drawn - 90.0, 360.0) / 360.0
    return (held["start"] + offset * (held["end"] - held["start"])).to_numpy()


def planted_spindles(night: SyntheticNight) -> pd.DataFrame:
    """The planted spindles as a spindle table, peaks at their envelope centres."""
    truth = night.truth.drop(columns=["so_coupled", "so_phase"])
    return SPINDLES.conform(truth.assign(rms=math.nan, oscillations=0, symmetry=0.5))


def coupling_row(recording: Recording, hypnogram: Hypnogram, detections: dict[str, DetectionResult],
                 channel: str = "C3", stage: str = "N2+N3", band: str = "all") -> pd.Series:
    """One row of the coupling table of these detections."""
    table = coupling_table(RecordingContext(recording, hypnogram, CONFIG, detections))
    return table[(table.channel == channel) & (table.stage == stage) & (table.band == band)].iloc[0]


def so_night(seed: int, channels: tuple[str, ...] = ("C3",)) -> SyntheticNight:
    """A short night with SOs and no spindles."""
    return make_synthetic_night(hypnogram=HYPNOGRAM, sf=SF, channels=channels, so_density=SO_DENSITY, density=0.0,
                                seed=seed)


def in_detected_sos(seed: int, kappas: tuple[float, ...] = (0.0,), phase: float = 0.0,
                    fraction: float = HELD_FRACTION) -> list[pd.Series]:
    """Night ``seed``'s coupling rows with spindle peaks in its detected SOs, one per ``kappa``."""
    rec = so_night(seed).recording
    sos = with_spindles(rec, HYPNOGRAM, SPINDLES.empty())["slow_oscillations"].events
    rows = []
    for k, kappa in enumerate(kappas):
        rng = np.random.default_rng([seed, k])
        peaks = peaks_in_sos(sos, fraction, kappa, phase, rng)
        spindles = spindle_table("C3", peaks, HYPNOGRAM, rng)
        rows.append(coupling_row(rec, HYPNOGRAM, with_spindles(rec, HYPNOGRAM, spindles)))
    return rows


def planted_night(seed: int, kappa: float = 0.0) -> SyntheticNight:
    """A short night with spindles planted: 90 % of them in SOs at VonMises(0, ``kappa``) phases."""
    return make_synthetic_night(hypnogram=HYPNOGRAM, sf=SF, channels=("C3",), so_density=SO_DENSITY, density=4.0,
                                coupled_fraction=0.9, coupling_phase=0.0, coupling_kappa=kappa, seed=seed)


def planted(seed: int) -> list[pd.Series]:
    """Night ``seed`` with uniform planted phases: rows with the true peaks, then the detected ones."""
    night = planted_night(seed)
    rec = night.recording
    return [coupling_row(rec, HYPNOGRAM, with_spindles(rec, HYPNOGRAM, planted_spindles(night))),
            coupling_row(rec, HYPNOGRAM, detect_all(rec, HYPNOGRAM, CONFIG))]


def rejection(rows: list[pd.Series]) -> dict[str, object]:
    """Rejection rates at :data:`ALPHA` of the surrogate and Rayleigh tests, mean coupled count and PPC."""
    frame = pd.DataFrame(rows)
    return {"nights": len(frame), "coupled": float(frame.n_coupled.mean()), "ppc": float(frame.ppc.mean()),
            **{test: float((frame[f"{test}_p"] < ALPHA).mean()) for test in ("surrogate", "rayleigh")}}


def wilson(rate: float, n: int) -> tuple[float, float]:
    """95 % Wilson interval of a proportion."""
    z = 1.959964
    centre = (rate + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(rate * (1 - rate) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def _markdown(results: dict[str, dict[str, object]]) -> str:
    lines = ["| condition | nights | coupled spindles / night | surrogate p < 0.05 | Rayleigh p < 0.05 | mean PPC |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results.items():
        cells = []
        for test in ("surrogate", "rayleigh"):
            low, high = wilson(r[test], r["nights"])
            cells.append(f"{100 * r[test]:.1f} % ({100 * low:.1f}-{100 * high:.1f})")
        lines.append(f"| {name} | {r['nights']} | {r['coupled']:.1f} | {cells[0]} | {cells[1]} | {r['ppc']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nights", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)  # the generator's "dropped coupled spindle" notices, per night
    t0 = time.perf_counter()
    seeds = range(args.nights)
    kappas = (0.0, *POWER_KAPPAS)
    with ProcessPoolExecutor(args.jobs) as pool:
        engine = list(pool.map(partial(in_detected_sos, kappas=kappas), seeds, chunksize=10))
        nights = list(pool.map(planted, seeds, chunksize=10))
    results = {f"in detected SOs, kappa {kappa:g}{' (null)' if kappa == 0 else ''}": rejection([r[k] for r in engine])
               for k, kappa in enumerate(kappas)}
    results["planted, true peaks, kappa 0 (null)"] = rejection([r[0] for r in nights])
    results["planted, detected spindles (pipeline), kappa 0 (null)"] = rejection([r[1] for r in nights])
    print(_markdown(results))
    print(f"\n{args.nights} nights per condition, {time.perf_counter() - t0:.0f} s with {args.jobs} jobs")


if __name__ == "__main__":
    main()
