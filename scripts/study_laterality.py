"""Calibration and power of the hemispheric-specificity statistics, at more seeds than the tests run.

Values-level simulations (no EEG), the same simulators as the tests (``tests/_laterality_data.py``):

``models``
    Null cohorts (no effect, no asymmetry; 16, 10 and 6 subjects, both hands, baseline and post nights,
    counts) -> rejection rate of every term of ``mixedlm``, ``gee_poisson``, ``gee_negbin``;
    planted cohorts (effect 0.6 on a 0.5 left > right asymmetry, 24 subjects) -> mean estimate,
    CI coverage and power of ``contra-ipsi:post`` and ``left-right``; a rate ratio of 1.3 ->
    mean estimate and coverage of ``contra/ipsi:post``.
``steiger``, ``circular``
    Null rejection rates of Williams' test and of the circular test; Howell's worked example.
``clusters``
    BioSemi 64 (27 homologous pairs), 20 subjects, D ~ N(0, 1) per pair, a planted 0.8 SD effect
    over the 7 pairs around C3/C4 -> how often a cluster with p < 0.05 is found there (power),
    and how often any is found in null cohorts (family-wise error), with ``--permutations``.

Usage::

    python scripts/study_laterality.py [--seeds 1000] [--permutations 1000] [--jobs 2] [--only models]

Prints each rate with its 95 % Wilson interval.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the simulators the tests use

from _laterality_data import simulated_hemispheres, simulated_laterality  # noqa: E402

from sleepspindles.analysis.models import model_rows  # noqa: E402
from sleepspindles.analysis.scalp import _montage, cluster_test, homologous_pairs, pair_adjacency  # noqa: E402
from sleepspindles.analysis.stats_tests import circular_test, steiger_test, williams_t  # noqa: E402
from sleepspindles.config import Config  # noqa: E402

CONFIG = Config().replace("laterality", n_boot=200, n_perm=1000)
MOTOR = ("C3/C4", "C1/C2", "C5/C6", "FC1/FC2", "FC3/FC4", "CP1/CP2", "CP3/CP4")


def wilson(k: int, n: int) -> str:
    """``k/n = rate [95 % Wilson interval]``."""
    p, z = k / n, 1.959964
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{k}/{n} = {p:.3f} [{centre - half:.3f}, {centre + half:.3f}]"


def model_null(seed: int, subjects: int = 16) -> dict:
    rows = model_rows(simulated_hemispheres(subjects, 50_000 + seed, counts=True), CONFIG)
    return {(r.test, r.variable): r.p_value < 0.05 for r in rows if np.isfinite(r.p_value)}


def model_planted(seed: int) -> dict:
    found = {}
    for r in model_rows(simulated_hemispheres(24, 60_000 + seed, effect=0.6, asymmetry=0.5), CONFIG):
        planted = {"contra-ipsi:post": 0.6, "left-right": 0.5}.get(r.variable)
        if r.test == "mixedlm" and planted is not None:
            found[r.variable] = (r.estimate, r.ci_low <= planted <= r.ci_high, r.p_value < 0.05)
    for r in model_rows(simulated_hemispheres(24, 70_000 + seed, effect=math.log(1.3), counts=True), CONFIG):
        if r.variable == "contra/ipsi:post":
            found[r.test] = (r.estimate, r.ci_low <= 1.3 <= r.ci_high, r.p_value < 0.05)
    return found


def paired_null(seed: int) -> tuple[bool, bool]:
    frame = simulated_laterality(20, 80_000 + seed)
    steiger = steiger_test(frame["contra"].to_numpy(), frame["ipsi"].to_numpy(), frame["gain"].to_numpy(), CONFIG)
    rng = np.random.default_rng(seed)
    ipsi = rng.vonmises(0.0, 2.0, 20) + rng.vonmises(0.0, 4.0, 20)
    circular = circular_test(np.rad2deg(ipsi + rng.vonmises(0.0, 4.0, 20)), np.rad2deg(ipsi), CONFIG)
    return steiger.p_value < 0.05, circular.p_value < 0.05


def cluster_run(seed: int, effect: float, permutations: int) -> tuple[bool, bool]:
    names = [name for name, _ in _montage("biosemi64").values()]
    pairs = homologous_pairs(names)
    labels = [f"{a}/{b}" for a, b in pairs]
    rng = np.random.default_rng(90_000 + seed + (0 if effect else 10**6))
    values = rng.normal(0.0, 1.0, (20, len(labels)))
    motor = [labels.index(p) for p in MOTOR]
    values[:, motor] += effect
    _, clusters, _ = cluster_test(values, pair_adjacency(pairs), permutations, seed)
    return (any(p < 0.05 for _, _, p in clusters), any(p < 0.05 and np.isin(i, motor).any() for i, _, p in clusters))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1000)
    parser.add_argument("--permutations", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", choices=("models", "paired", "clusters"))
    args = parser.parse_args(argv)
    started = time.perf_counter()
    t, p = williams_t(0.80, 0.72, 0.89, 26)
    print(f"Williams' t, Howell's example (r12 .80, r13 .72, r23 .89, n 26): t(23) = {t:.3f}, p = {p:.3f}")
    with ProcessPoolExecutor(args.jobs) as pool:
        seeds = range(args.seeds)
        if args.only in (None, "models"):
            for subjects in (16, 10, 6):  # small cohorts: GEE's sandwich with t(subjects - 1)
                counts: dict = {}
                fits: dict = {}
                for found in pool.map(partial(model_null, subjects=subjects), seeds, chunksize=20):
                    for key, rejected in found.items():
                        counts[key] = counts.get(key, 0) + int(rejected)
                        fits[key] = fits.get(key, 0) + 1
                print(f"\nmodels, null cohorts of {subjects} subjects ({args.seeds}): rejection rate at p < 0.05 "
                      "(of the fits that gave a p)")
                for (test, term), k in sorted(counts.items()):
                    print(f"  {test:12s} {term:18s} {wilson(k, fits[(test, term)])}")
            planted = list(pool.map(model_planted, seeds, chunksize=20))
            print(f"\nmodels, planted cohorts ({args.seeds}): mean estimate, CI coverage, power")
            for key, value in (("contra-ipsi:post", 0.6), ("left-right", 0.5), ("gee_poisson", 1.3),
                               ("gee_negbin", 1.3)):
                rows = [f[key] for f in planted if key in f]
                covered, power = (wilson(sum(r[k] for r in rows), len(rows)) for k in (1, 2))
                print(f"  {key:18s} planted {value}: mean {np.mean([r[0] for r in rows]):.3f}, coverage {covered}, "
                      f"power {power}")
        if args.only in (None, "paired"):
            outcome = list(pool.map(paired_null, seeds, chunksize=50))
            print(f"\nsteiger, null: {wilson(sum(o[0] for o in outcome), len(outcome))}")
            print(f"circular, null: {wilson(sum(o[1] for o in outcome), len(outcome))}")
        if args.only in (None, "clusters"):
            n = min(args.seeds, 500)
            power = list(pool.map(partial(cluster_run, effect=0.8, permutations=args.permutations), range(n)))
            null = list(pool.map(partial(cluster_run, effect=0.0, permutations=args.permutations), range(n)))
            print(f"\nclusters ({args.permutations} permutations): power {wilson(sum(o[1] for o in power), n)}, "
                  f"family-wise error {wilson(sum(o[0] for o in null), n)}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
