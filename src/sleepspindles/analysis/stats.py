"""Cohort statistics of the laterality table: asymmetry tests, gain correlations, specificity, models.

Per night (and per learning-minus-baseline contrast), configured pair, measure, band and window:

=================  ==========  ==================================================  ==================
test               variable    statistic / p-value                                 effect_size
=================  ==========  ==================================================  ==================
paired_t           C-I         t of ``scipy.stats.ttest_rel(contra, ipsi)``        Cohen's dz of D
wilcoxon           C-I         W, p of ``scipy.stats.wilcoxon`` (zeros dropped)    rank-biserial r
sign_flip          C-I         mean D; p of a sign-flip permutation test           Cohen's dz of D
one_sample_t       LI          t of ``scipy.stats.ttest_1samp(LI, 0)``             mean(LI) / sd(LI)
pearson            D, LI,      r, p of ``scipy.stats.pearsonr(x, gain)``           r
                   contra,
                   ipsi
spearman           (same)      rho, p of ``scipy.stats.spearmanr(x, gain)``        rho
partial_pearson    D, LI       r, p of ``pingouin.partial_corr`` (covariate:       partial r
                               N2 minutes of the night)
motor_vs_control   D          t of ``ttest_rel(D_motor, D_this_pair)``            dz of the difference
steiger            r(contra,   Williams' t of r(contra, gain) vs r(ipsi, gain)     r difference
                   gain)-...   (dependent, sharing the gain; Steiger 1980)
circular           C-I         phases only, instead of all the above: sign-flip    dz of sin(d)
                               test of mean sin(contra - ipsi) (:mod:`.stats_tests`)
mixedlm            model       :mod:`.models`, over all nights at once             coefficient / sd
gee_poisson,       terms       (night = ``baseline+post``); rates only for GEE,    log rate ratio
gee_negbin                     estimate = rate ratio
=================  ==========  ==================================================  ==================

Signs: for the C-I and LI tests a positive ``effect_size`` (and ``estimate``) means the
contralateral side is larger; for correlations, that the variable grows with the gain; for
``motor_vs_control`` (reported on each control pair's row) that the motor pair's asymmetry is
larger than this control pair's.

``estimate`` is the test's location in the measure's units (mean D, median D, mean LI, r) and
``ci_low``/``ci_high`` its percentile-bootstrap 95 % interval (subjects resampled with
replacement); ``effect_ci_low``/``effect_ci_high`` the same for ``effect_size``. Contrast rows
(``night`` = ``"post-baseline"``) test the within-subject change: contra and ipsi are the
learning-night minus baseline-night values, so paired_t tests ``D_post - D_baseline``.

``p_fdr`` is Benjamini-Hochberg adjusted within each family ``(night, window, test, variable,
measure)``, i.e. across pairs and bands. Pairs found from the electrode positions (role
``scalp``) are tested together by the cluster test of :mod:`.scalp`, not one by one. All resampling uses ``laterality.seed`` (a fresh
generator per test), so results are reproducible and independent of row order.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, replace

import numpy as np
import pandas as pd
import pingouin
from scipy import stats as sps

from ..config import Config
from ..schema import ROBUSTNESS, STATS
from .circular import circular_difference
from .measures import measure_kind
from .models import model_rows
from .stats_tests import (
    StatsRow,
    bootstrap_ci,
    circular_test,
    cohen_dz,
    p_floor_note,
    partial_pearson_rows,
    pearson_rows,
    rank_biserial,
    spearman_rows,
    stats_row,
    steiger_test,
    too_few,
)

__all__ = [
    "asymmetry_tests",
    "gain_tests",
    "group_tests",
    "with_contrasts",
    "specificity_tests",
    "cohort_stats",
    "specificity_table",
    "reference_robustness",
]

_GROUP_KEYS = ["night", "pair", "role", "measure", "band", "window"]


# ---------------------------------------------------------------- tests of one group


def asymmetry_tests(contra: np.ndarray, ipsi: np.ndarray, li: np.ndarray, config: Config) -> list[StatsRow]:
    """Contralateral vs ipsilateral tests (paired_t, wilcoxon, sign_flip) and LI vs 0.

    Subjects with a non-finite value are dropped per test. Returns one row per test (the
    group columns are set by :func:`cohort_stats`).
    """
    lat = config.laterality
    ok = np.isfinite(contra) & np.isfinite(ipsi)
    c, i = np.asarray(contra, float)[ok], np.asarray(ipsi, float)[ok]
    d = c - i
    rows = []
    if d.size < lat.min_subjects:
        rows += too_few([("paired_t", "C-I"), ("wilcoxon", "C-I"), ("sign_flip", "C-I")], d.size, lat.min_subjects)
    else:
        boot_mean = bootstrap_ci(lambda x: x.mean(axis=-1), (d,), lat.n_boot, lat.seed)
        boot_dz = bootstrap_ci(cohen_dz, (d,), lat.n_boot, lat.seed)
        dz = float(cohen_dz(d))
        common = dict(estimate=float(d.mean()), ci_low=boot_mean[0], ci_high=boot_mean[1], effect_size=dz,
                      effect_ci_low=boot_dz[0], effect_ci_high=boot_dz[1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # zero variance -> NaN t, reported below
            t = sps.ttest_rel(c, i)
        note = "" if np.isfinite(t.statistic) else "all differences are equal; t undefined"
        rows.append(stats_row("paired_t", "C-I", d.size, statistic=float(t.statistic), p_value=float(t.pvalue),
                            note=note, **common))
        rows.append(_wilcoxon(c, i, d, config))
        perm = sps.permutation_test(
            (d,), lambda x, axis: x.mean(axis=axis), permutation_type="samples", vectorized=True,
            n_resamples=lat.n_perm, rng=np.random.default_rng(lat.seed),
        )
        rows.append(stats_row("sign_flip", "C-I", d.size, statistic=float(d.mean()), p_value=float(perm.pvalue),
                            note=p_floor_note(d.size), **common))
    rows.append(_li_test(np.asarray(li, float), config))
    return rows


def _wilcoxon(c: np.ndarray, i: np.ndarray, d: np.ndarray, config: Config) -> StatsRow:
    """Wilcoxon signed-rank of C vs I with the rank-biserial effect size (pingouin's RBC)."""
    lat = config.laterality
    if np.count_nonzero(d) == 0:
        return stats_row("wilcoxon", "C-I", d.size, estimate=0.0, note="all differences are zero")
    w = sps.wilcoxon(c, i)
    rbc = float(pingouin.wilcoxon(c, i)["RBC"].iloc[0])
    boot_median = bootstrap_ci(lambda x: np.median(x, axis=-1), (d,), lat.n_boot, lat.seed)
    boot_rbc = bootstrap_ci(rank_biserial, (d,), lat.n_boot, lat.seed)
    return stats_row(
        "wilcoxon", "C-I", d.size, statistic=float(w.statistic), p_value=float(w.pvalue),
        estimate=float(np.median(d)), ci_low=boot_median[0], ci_high=boot_median[1],
        effect_size=rbc, effect_ci_low=boot_rbc[0], effect_ci_high=boot_rbc[1],
    )


def _li_test(li: np.ndarray, config: Config) -> StatsRow:
    """One-sample t-test of the laterality index against 0."""
    lat = config.laterality
    li = li[np.isfinite(li)]
    if li.size < lat.min_subjects:
        return too_few([("one_sample_t", "LI")], li.size, lat.min_subjects)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = sps.ttest_1samp(li, 0.0)
    boot_mean = bootstrap_ci(lambda x: x.mean(axis=-1), (li,), lat.n_boot, lat.seed)
    boot_dz = bootstrap_ci(cohen_dz, (li,), lat.n_boot, lat.seed)
    return stats_row(
        "one_sample_t", "LI", li.size, statistic=float(t.statistic), p_value=float(t.pvalue),
        estimate=float(li.mean()), ci_low=boot_mean[0], ci_high=boot_mean[1],
        effect_size=float(cohen_dz(li)), effect_ci_low=boot_dz[0], effect_ci_high=boot_dz[1],
    )


def gain_tests(values: dict[str, np.ndarray], gain: np.ndarray, n2_minutes: np.ndarray, config: Config) -> list[StatsRow]:
    """Pearson and Spearman correlations of each variable with the gain; partial r for D and LI.

    Parameters
    ----------
    values : dict of str to array
        ``{"D": ..., "LI": ..., "contra": ..., "ipsi": ...}``, one value per subject.
    gain, n2_minutes : numpy.ndarray
        Behavioural gain (%) and the covariate, aligned with ``values``.
    """
    lat = config.laterality
    rows = []
    for name, x in values.items():
        x = np.asarray(x, float)
        ok = np.isfinite(x) & np.isfinite(gain)
        if ok.sum() < lat.min_subjects:
            rows += too_few([("pearson", name), ("spearman", name)], int(ok.sum()), lat.min_subjects)
        else:
            rows.append(_correlation("pearson", name, x[ok], gain[ok], lat))
            rows.append(_correlation("spearman", name, x[ok], gain[ok], lat))
        if name in ("D", "LI"):
            rows.append(_partial(name, x, gain, np.asarray(n2_minutes, float), lat))
    return rows


def _correlation(test: str, name: str, x: np.ndarray, y: np.ndarray, lat) -> StatsRow:
    """One Pearson or Spearman correlation with its bootstrap interval."""
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return stats_row(test, name, x.size, note="constant input; correlation undefined")
    res = sps.pearsonr(x, y) if test == "pearson" else sps.spearmanr(x, y)
    kernel = pearson_rows if test == "pearson" else spearman_rows
    low, high = bootstrap_ci(kernel, (x, y), lat.n_boot, lat.seed)
    r = float(res.statistic)
    return stats_row(test, name, x.size, statistic=r, p_value=float(res.pvalue), estimate=r, ci_low=low,
                   ci_high=high, effect_size=r, effect_ci_low=low, effect_ci_high=high)


def _partial(name: str, x: np.ndarray, gain: np.ndarray, n2: np.ndarray, lat) -> StatsRow:
    """Partial Pearson correlation with the gain controlling for N2 minutes (pingouin)."""
    ok = np.isfinite(x) & np.isfinite(gain) & np.isfinite(n2)
    n = int(ok.sum())
    if n < max(lat.min_subjects, 4):
        return too_few([("partial_pearson", name)], n, max(lat.min_subjects, 4))[0]
    if np.ptp(n2[ok]) == 0 or np.ptp(x[ok]) == 0 or np.ptp(gain[ok]) == 0:
        return stats_row("partial_pearson", name, n, note="constant variable or covariate; partial r undefined")
    frame = pd.DataFrame({"x": x[ok], "gain": gain[ok], "n2": n2[ok]})
    res = pingouin.partial_corr(data=frame, x="x", y="gain", covar="n2", method="pearson")
    p_col = "p_val" if "p_val" in res.columns else "p-val"
    r = float(res["r"].iloc[0])
    low, high = bootstrap_ci(partial_pearson_rows, (x[ok], gain[ok], n2[ok]), lat.n_boot, lat.seed)
    return stats_row("partial_pearson", name, n, statistic=r, p_value=float(res[p_col].iloc[0]), estimate=r,
                   ci_low=low, ci_high=high, effect_size=r, effect_ci_low=low, effect_ci_high=high,
                   note="covariate: N2 minutes")


def group_tests(group: pd.DataFrame, config: Config) -> list[StatsRow]:
    """Every test of one (night, pair, measure, band, window) group of subjects.

    A phase (``coupling_phase``) gets the circular test only: a t-test or a correlation of
    degrees would treat 179 and -179 deg as far apart.
    """
    contra, ipsi = group["contra"].to_numpy(float), group["ipsi"].to_numpy(float)
    if measure_kind(str(group["measure"].iloc[0])) == "circular":
        return [circular_test(contra, ipsi, config)]
    rows = asymmetry_tests(contra, ipsi, group["LI"].to_numpy(float), config)
    variables = {name: group[name].to_numpy(float) for name in ("D", "LI", "contra", "ipsi")}
    gain = group["gain"].to_numpy(float)
    rows += gain_tests(variables, gain, group["n2_minutes"].to_numpy(float), config)
    rows.append(steiger_test(contra, ipsi, gain, config))
    return rows


# ---------------------------------------------------------------- the cohort table


def with_contrasts(laterality: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Add learning-minus-baseline rows (``night`` = ``"<night>-<baseline>"``).

    For subjects with both nights, ``contra``, ``ipsi`` and ``LI`` become learning-night minus
    baseline-night values and ``D = contra - ipsi`` (= the change of D); ``n2_minutes`` and
    ``gain`` are the learning night's. Phases change by their circular differences. The
    laterality rows are returned first, unchanged.
    """
    nights = laterality["night"]
    base = laterality.loc[nights == baseline]
    learning = laterality.loc[nights != baseline]
    if base.empty or learning.empty:
        return laterality
    key = ["subject", "pair", "measure", "band", "window"]
    merged = learning.merge(base.loc[:, [*key, "contra", "ipsi", "LI"]], on=key, suffixes=("", "_base"))
    if merged.empty:
        return laterality
    circular = (merged["measure"].map(measure_kind) == "circular").to_numpy()

    def change(now: pd.Series, before: pd.Series) -> np.ndarray:
        plain = (now - before).to_numpy(float)
        angles = np.rad2deg(circular_difference(np.deg2rad(now.to_numpy(float)), np.deg2rad(before.to_numpy(float))))
        return np.where(circular, angles, plain)

    merged["contra"] = change(merged["contra"], merged["contra_base"])
    merged["ipsi"] = change(merged["ipsi"], merged["ipsi_base"])
    merged["D"] = change(merged["contra"], merged["ipsi"])
    merged["LI"] = merged["LI"] - merged["LI_base"]
    merged["night"] = merged["night"] + "-" + baseline
    merged = merged.drop(columns=["contra_base", "ipsi_base", "LI_base"])
    return pd.concat([laterality, merged], ignore_index=True)


def specificity_tests(frame: pd.DataFrame, config: Config) -> list[StatsRow]:
    """Is the motor pair's asymmetry larger than each control pair's? (paired t of D values; not for phases)."""
    lat = config.laterality
    motor = frame.loc[frame["role"] == "motor", "pair"].unique()
    if motor.size == 0:
        return []
    controls = set(frame.loc[frame["role"] == "control", "pair"])
    frame = frame.loc[frame["measure"].map(measure_kind) != "circular"]
    rows = []
    for (night, measure, band, window), group in frame.groupby(["night", "measure", "band", "window"], sort=False):
        wide = group.pivot_table(index="subject", columns="pair", values="D", aggfunc="first", dropna=False)
        if motor[0] not in wide.columns:
            continue
        for pair in (p for p in wide.columns if p in controls):
            both = wide[[motor[0], pair]].dropna()
            diff = (both[motor[0]] - both[pair]).to_numpy(float)
            head = dict(night=night, pair=pair, role="control", measure=measure, band=band, window=window)
            variable = f"D_motor-D_{pair}"
            if diff.size < lat.min_subjects:
                rows.append(replace(too_few([("motor_vs_control", variable)], diff.size, lat.min_subjects)[0], **head))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                t = sps.ttest_rel(both[motor[0]].to_numpy(float), both[pair].to_numpy(float))
            ci = bootstrap_ci(lambda x: x.mean(axis=-1), (diff,), lat.n_boot, lat.seed)
            eci = bootstrap_ci(cohen_dz, (diff,), lat.n_boot, lat.seed)
            rows.append(replace(stats_row(
                "motor_vs_control", variable, diff.size, statistic=float(t.statistic), p_value=float(t.pvalue),
                estimate=float(diff.mean()), ci_low=ci[0], ci_high=ci[1], effect_size=float(cohen_dz(diff)),
                effect_ci_low=eci[0], effect_ci_high=eci[1], note=f"motor pair {motor[0]}",
            ), **head))
    return rows


def _fdr(table: pd.DataFrame) -> pd.Series:
    """Benjamini-Hochberg adjusted p per family (night, window, test, variable, measure)."""
    p = table["p_value"].to_numpy(float)
    family = table.groupby(["night", "window", "test", "variable", "measure"], sort=False).ngroup().to_numpy()
    adjusted = np.full(p.size, np.nan)
    finite = np.isfinite(p)
    order = np.argsort(family, kind="stable")
    bounds = np.flatnonzero(np.diff(family[order])) + 1
    for members in np.split(order, bounds):  # one family at a time, numpy only
        members = members[finite[members]]
        if members.size:
            adjusted[members] = sps.false_discovery_control(p[members], method="bh")
    return pd.Series(adjusted, index=table.index)


def cohort_stats(laterality: pd.DataFrame, config: Config | None = None) -> pd.DataFrame:
    """Every test of the module docstring for every night/contrast, pair, measure, band and window.

    Parameters
    ----------
    laterality : pandas.DataFrame
        The table of :func:`sleepspindles.analysis.laterality.lateralise` (columns ``subject, night,
        trained_hand, pair, role, measure, band, window, contra, ipsi, D, LI, contra_minutes,
        ipsi_minutes, n2_minutes, gain``). Pairs of role ``scalp`` are left to the cluster test.
    config : Config, optional

    Returns
    -------
    pandas.DataFrame
        Columns :data:`sleepspindles.schema.STATS` (empty with those columns when ``laterality`` is empty).
    """
    config = config or Config()
    laterality = laterality.loc[laterality["role"] != "scalp"] if "role" in laterality else laterality
    if laterality.empty:
        return STATS.empty()
    # subjects in a fixed order, so resampling results do not depend on the input's row order
    laterality = laterality.sort_values("subject", kind="stable").reset_index(drop=True)
    frame = with_contrasts(laterality, config.laterality.baseline_night)
    rows = []
    for key, group in frame.groupby(_GROUP_KEYS, sort=False):
        head = dict(zip(_GROUP_KEYS, key))
        rows += [replace(row, **head) for row in group_tests(group, config)]
    rows += specificity_tests(frame, config)
    rows += model_rows(laterality, config)
    table = pd.DataFrame([asdict(r) for r in rows], columns=list(STATS.names))
    table["p_fdr"] = _fdr(table)
    return STATS.conform(table)


def specificity_table(stats: pd.DataFrame) -> pd.DataFrame:
    """The main C-vs-I, LI and gain statistics with pairs side by side (motor pair first).

    One row per night x window x measure x band x test x variable; for each pair the columns
    ``"<pair> effect_size"``, ``"<pair> p_value"`` and ``"<pair> p_fdr"``.
    """
    keep = stats.loc[stats["variable"].isin(["C-I", "LI", "D"]) & (stats["test"] != "motor_vs_control")]
    if keep.empty:
        return pd.DataFrame()
    order = list(dict.fromkeys(keep.sort_values("role", key=lambda r: r != "motor", kind="stable")["pair"]))
    index = ["night", "window", "measure", "band", "test", "variable"]
    wide = keep.set_index([*index, "pair"])[["effect_size", "p_value", "p_fdr"]].unstack("pair", sort=False)
    columns = [(v, p) for p in order for v in ("effect_size", "p_value", "p_fdr") if (v, p) in wide.columns]
    wide = wide.loc[:, columns]
    wide.columns = [f"{p} {v}" for v, p in columns]
    return wide.reset_index()


def reference_robustness(stats: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The paired C-I test of every night, pair, measure, band and window under each reference, side by side.

    Parameters
    ----------
    stats : dict of str to pandas.DataFrame
        ``cohort_stats`` tables by the ``load.reference`` they were computed under.

    Returns
    -------
    pandas.DataFrame
        :data:`sleepspindles.schema.ROBUSTNESS`: one row per group and reference (mean C - I, its
        bootstrap interval and paired-t p), ``sign_changes`` true on every row of a group whose
        finite estimates have both signs across the references.
    """
    key = ["night", "window", "pair", "measure", "band"]
    parts = [table.loc[(table["test"] == "paired_t") & (table["variable"] == "C-I"),
                       [*key, "n", "estimate", "ci_low", "ci_high", "p_value"]].assign(reference=reference)
             for reference, table in stats.items()]
    if not parts or all(part.empty for part in parts):
        return ROBUSTNESS.empty()
    table = pd.concat(parts, ignore_index=True)
    sign = np.sign(table["estimate"].to_numpy(float))
    grouped = pd.Series(sign, index=table.index).groupby([table[k] for k in key])
    table["sign_changes"] = (grouped.transform("max") > 0) & (grouped.transform("min") < 0)
    return ROBUSTNESS.conform(table)
