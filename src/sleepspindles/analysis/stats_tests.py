"""Statistics of one sample of subjects: vectorised kernels, the typed row, and two paired tests.

* Kernels (Cohen's dz, rank-biserial r, Pearson/Spearman/partial r, the percentile bootstrap)
  work along the last axis, so one call evaluates every bootstrap resample.
* :class:`StatsRow` is one row of ``cohort_stats.csv``.
* :func:`steiger_test`: is the gain more strongly correlated with the contralateral value than
  with the ipsilateral one? The two correlations share the gain and are dependent through
  ``r(contra, ipsi)``; Steiger (1980, Psychol Bull 87:245) recommends Williams' T2,
  ``t = (r12 - r13) sqrt((n - 1)(1 + r23) / (2 (n - 1)/(n - 3) |R| + ((r12 + r13)/2)^2 (1 - r23)^3))``
  with ``|R| = 1 - r12^2 - r13^2 - r23^2 + 2 r12 r13 r23`` and ``n - 3`` degrees of freedom.
* :func:`circular_test`: a paired test of the preferred phase. The contra-minus-ipsi circular
  differences ``d`` are symmetric about 0 when the two sides are exchangeable, so a sign-flip
  permutation test of the mean of ``sin(d)`` is exact: it asks whether the contralateral phase
  is systematically later (``sin d > 0``) or earlier than the ipsilateral one. (A Rayleigh or
  V-test on ``d`` would instead reject when the two sides share the same phase: ``d`` near 0 is
  "not uniform".) The estimate is the circular mean of ``d`` with a bootstrap interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import stats as sps

from ..config import Config
from .circular import circular_difference, circular_mean

__all__ = [
    "StatsRow",
    "stats_row",
    "too_few",
    "bootstrap_ci",
    "cohen_dz",
    "rank_biserial",
    "pearson_rows",
    "spearman_rows",
    "partial_pearson_rows",
    "williams_t",
    "steiger_test",
    "circular_test",
]


# ---------------------------------------------------------------- vectorised statistics
# Each works along the last axis so one call evaluates every bootstrap resample; the tests
# compare them with scipy / pingouin on single samples.


def cohen_dz(d: np.ndarray) -> np.ndarray:
    """Cohen's dz = mean / standard deviation (ddof 1) along the last axis; NaN when sd = 0."""
    d = np.asarray(d, dtype=np.float64)
    sd = d.std(axis=-1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sd > 0, d.mean(axis=-1) / np.where(sd > 0, sd, 1.0), np.nan)


def rank_biserial(d: np.ndarray) -> np.ndarray:
    """Matched-pairs rank-biserial correlation of differences ``d`` (zeros dropped), last axis."""
    d = np.asarray(d, dtype=np.float64)
    zeros = (d == 0).sum(axis=-1, keepdims=True)
    ranks = sps.rankdata(np.abs(d), axis=-1) - zeros  # zeros take the lowest ranks
    ranks = np.where(d != 0, ranks, 0.0)
    total = ranks.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (np.sign(d) * ranks).sum(axis=-1) / np.where(total > 0, total, 1), np.nan)


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r along the last axis (NaN for constant input)."""
    x = x - x.mean(axis=-1, keepdims=True)
    y = y - y.mean(axis=-1, keepdims=True)
    den = np.sqrt((x * x).sum(axis=-1) * (y * y).sum(axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (x * y).sum(axis=-1) / np.where(den > 0, den, 1.0), np.nan)


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman rho along the last axis (Pearson r of average ranks)."""
    return pearson_rows(sps.rankdata(x, axis=-1), sps.rankdata(y, axis=-1))


def partial_pearson_rows(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Pearson partial correlation of x and y given one covariate z, along the last axis."""
    rxy, rxz, ryz = pearson_rows(x, y), pearson_rows(x, z), pearson_rows(y, z)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rxy - rxz * ryz) / np.sqrt((1 - rxz**2) * (1 - ryz**2))


def bootstrap_ci(
    statistic: Callable[..., np.ndarray],
    arrays: tuple[np.ndarray, ...],
    n_boot: int,
    seed: int,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` resampling subjects (rows) jointly.

    ``statistic`` takes arrays of shape (n_boot, n) and returns (n_boot,). Resamples where the
    statistic is undefined (e.g. constant input) are ignored.
    """
    n = len(arrays[0])
    idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
    values = statistic(*(np.asarray(a, dtype=np.float64)[idx] for a in arrays))
    values = values[np.isfinite(values)]
    if values.size < n_boot // 2:
        return (np.nan, np.nan)
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return (float(low), float(high))



# ---------------------------------------------------------------- the typed row


@dataclass(frozen=True)
class StatsRow:
    """One test of one group: a row of ``cohort_stats.csv`` (:data:`sleepspindles.schema.STATS`).

    The group (night, pair, role, measure, band, window) is empty until :func:`cohort_stats` sets it;
    values a test does not produce are NaN, and ``note`` says why a test is missing or degenerate.
    """

    test: str
    variable: str
    n: int
    night: str = ""
    pair: str = ""
    role: str = ""
    measure: str = ""
    band: str = ""
    window: str = ""
    statistic: float = math.nan
    p_value: float = math.nan
    p_fdr: float = math.nan
    estimate: float = math.nan
    ci_low: float = math.nan
    ci_high: float = math.nan
    effect_size: float = math.nan
    effect_ci_low: float = math.nan
    effect_ci_high: float = math.nan
    note: str = ""


def stats_row(test: str, variable: str, n: int, **values) -> StatsRow:
    """A :class:`StatsRow` of a test; ``values`` are its numbers (floats) and ``note``."""
    return StatsRow(test=test, variable=variable, n=int(n), **{k: float(v) if k != "note" else v
                                                                for k, v in values.items()})


def p_floor_note(n: int, alpha: float = 0.05) -> str:
    """A note when ``n`` subjects cannot give a two-sided sign-flip p below ``alpha`` ("" otherwise).

    Every one of the ``2**n`` sign patterns, the observed one and its mirror included, is as
    likely under the null, so the smallest two-sided p is ``2 / 2**n``: 0.25 for 3 subjects,
    0.0625 for 5. A non-significant result there is no evidence of absence.
    """
    floor = 2.0 / 2.0**n
    if floor <= alpha:
        return ""
    return f"with {n} subjects a sign-flip p cannot be below {floor:.3g} (2 / 2^{n}): not significant at {alpha:g} whatever the data"


def too_few(tests: list[tuple[str, str]], n: int, need: int) -> list[StatsRow]:
    """Rows of tests not run for lack of subjects, with a note saying so."""
    note = f"only {n} subject(s) with finite values; at least {need} needed"
    return [stats_row(t, v, n, note=note) for t, v in tests]


# ---------------------------------------------------------------- dependent correlations


def williams_t(r12: float, r13: float, r23: float, n: int) -> tuple[float, float]:
    """Williams' T2 for ``r12`` vs ``r13`` sharing variable 1, given ``r23`` (Steiger 1980).

    Returns
    -------
    t, p : float
        Two-sided p of t with ``n - 3`` degrees of freedom; NaN for n < 4 or a singular matrix.
    """
    det = 1 - r12**2 - r13**2 - r23**2 + 2 * r12 * r13 * r23
    denominator = 2 * (n - 1) / (n - 3) * det + ((r12 + r13) / 2) ** 2 * (1 - r23) ** 3 if n > 3 else 0.0
    if not denominator > 0:
        return math.nan, math.nan
    t = (r12 - r13) * math.sqrt((n - 1) * (1 + r23) / denominator)
    return t, float(2 * sps.t.sf(abs(t), n - 3))


def steiger_test(contra: np.ndarray, ipsi: np.ndarray, gain: np.ndarray, config: Config) -> StatsRow:
    """``r(contra, gain)`` vs ``r(ipsi, gain)`` (Williams' T2); estimate = their difference, bootstrapped."""
    lat = config.laterality
    ok = np.isfinite(contra) & np.isfinite(ipsi) & np.isfinite(gain)
    c, i, g = (np.asarray(a, float)[ok] for a in (contra, ipsi, gain))
    variable = "r(contra,gain)-r(ipsi,gain)"
    need = max(lat.min_subjects, 4)
    if c.size < need:
        return too_few([("steiger", variable)], c.size, need)[0]
    r_c, r_i, r_ci = (float(pearson_rows(a, b)) for a, b in ((c, g), (i, g), (c, i)))
    if not all(np.isfinite((r_c, r_i, r_ci))):
        return stats_row("steiger", variable, c.size, note="constant input; correlation undefined")
    t, p = williams_t(r_c, r_i, r_ci, c.size)
    low, high = bootstrap_ci(lambda a, b, x: pearson_rows(a, x) - pearson_rows(b, x), (c, i, g), lat.n_boot, lat.seed)
    return stats_row("steiger", variable, c.size, statistic=t, p_value=p, estimate=r_c - r_i, ci_low=low,
                     ci_high=high, effect_size=r_c - r_i, effect_ci_low=low, effect_ci_high=high,
                     note=f"Williams' T2, df = {c.size - 3}; r(contra,ipsi) = {r_ci:.3g}")


# ---------------------------------------------------------------- circular


def _circular_means(d: np.ndarray) -> np.ndarray:
    """Circular mean along the last axis, in radians."""
    return np.angle(np.exp(1j * d).sum(axis=-1))


def circular_test(contra_deg: np.ndarray, ipsi_deg: np.ndarray, config: Config) -> StatsRow:
    """Paired test of phases in degrees: sign-flip permutation of mean ``sin(contra - ipsi)``.

    ``estimate`` is the circular mean of the differences (degrees, in (-180, 180]) with a
    bootstrap interval taken around it; ``effect_size`` is Cohen's dz of ``sin(d)`` (positive:
    the contralateral phase is later in the SO cycle).
    """
    lat = config.laterality
    ok = np.isfinite(contra_deg) & np.isfinite(ipsi_deg)
    d = circular_difference(np.deg2rad(np.asarray(contra_deg, float)[ok]), np.deg2rad(np.asarray(ipsi_deg, float)[ok]))
    if d.size < lat.min_subjects:
        return too_few([("circular", "C-I")], d.size, lat.min_subjects)[0]
    s = np.sin(d)
    perm = sps.permutation_test((s,), lambda x, axis: x.mean(axis=axis), permutation_type="samples", vectorized=True,
                                n_resamples=lat.n_perm, rng=np.random.default_rng(lat.seed))
    centre = circular_mean(d)
    # the bootstrap means, unwrapped around the estimate so an interval across +-180 deg stays one interval
    low, high = bootstrap_ci(lambda x: circular_difference(_circular_means(x), centre), (d,), lat.n_boot, lat.seed)
    dz = bootstrap_ci(cohen_dz, (s,), lat.n_boot, lat.seed)
    return stats_row("circular", "C-I", d.size, statistic=float(s.mean()), p_value=float(perm.pvalue),
                     estimate=math.degrees(centre), ci_low=math.degrees(centre + low),
                     ci_high=math.degrees(centre + high), effect_size=float(cohen_dz(s)), effect_ci_low=dz[0],
                     effect_ci_high=dz[1],
                     note="; ".join(filter(None, ["sign-flip test of mean sin(contra - ipsi phase); degrees",
                                                  p_floor_note(d.size)])))
