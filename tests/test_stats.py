"""Cohort statistics: kernels against scipy/pingouin, hand-computed tests, FDR, contrasts,
and the calibration checks of the issue.

Which test is which:

* ``test_*_matches_*``: the vectorised bootstrap kernels equal the library value on one sample.
* ``test_null_rejection_rates_are_nominal``: 200 null cohorts (no planted asymmetry, gain
  independent of everything) simulated at the subject level; each test's rejection rate at
  alpha = 0.05 must fall in the binomial 99.9 % interval around 5 % of 200 (2..21 rejections).
  It can fail: ``test_planted_effect_is_detected`` runs the same machinery on cohorts with a
  planted contralateral increase and gain slope and requires a high rejection rate, and a
  p-value computed on the wrong side (one-sided in the wrong direction) would give ~0.
* ``test_effect_estimate_ci_covers_the_planted_value``: the bootstrap CI of mean D covers the
  planted increase in most of 100 simulated cohorts (coverage near 95 %).
* ``test_williams_t_reproduces_howells_worked_example``: Steiger's test to 3 decimals; the
  circular test's null rate, power and rotation invariance.

Sign convention: ``effect_size > 0`` means contralateral larger (C-I, LI tests) or a positive
association with the gain (correlations).
"""

import itertools
from dataclasses import asdict

import numpy as np
import pandas as pd
import pingouin
import pytest
from _laterality_data import simulated_laterality
from scipy import stats as sps

from sleepspindles.analysis import stats_tests as st
from sleepspindles.analysis.stats import (
    asymmetry_tests,
    cohort_stats,
    gain_tests,
    group_tests,
    specificity_table,
    with_contrasts,
)
from sleepspindles.config import Config
from sleepspindles.schema import STATS

FAST = Config().replace("laterality", n_boot=200, n_perm=1000)
STEIGER = "r(contra,gain)-r(ipsi,gain)"


def _by_test(rows):
    return {(r.test, r.variable): asdict(r) for r in rows}


# ----------------------------------------------------------------- kernels vs libraries


def test_pearson_and_spearman_kernels_match_scipy():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 12))
    y = x + rng.normal(size=(5, 12))
    x[0, :4] = 1.0  # ties for the rank version
    for row in range(5):
        assert st.pearson_rows(x[row], y[row]) == pytest.approx(sps.pearsonr(x[row], y[row]).statistic)
        assert st.spearman_rows(x[row], y[row]) == pytest.approx(sps.spearmanr(x[row], y[row]).statistic)
    np.testing.assert_allclose(st.pearson_rows(x, y), [sps.pearsonr(a, b).statistic for a, b in zip(x, y)])
    assert np.isnan(st.pearson_rows(np.ones(5), np.arange(5.0)))


def test_partial_pearson_kernel_matches_pingouin():
    rng = np.random.default_rng(2)
    frame = pd.DataFrame(rng.normal(size=(15, 3)), columns=["x", "y", "z"])
    frame["y"] += frame["x"] + frame["z"]
    expected = pingouin.partial_corr(data=frame, x="x", y="y", covar="z")["r"].iloc[0]
    assert st.partial_pearson_rows(frame["x"].to_numpy(), frame["y"].to_numpy(), frame["z"].to_numpy()) == (
        pytest.approx(expected)
    )


def test_rank_biserial_matches_pingouin_with_zeros_and_ties():
    x = np.array([3.0, 4, 5, 6, 7, 8.5, 2, 2, 9])
    y = np.array([1.0, 2, 3, 6, 4, 5, 3, 1, 8])  # one zero difference, tied |d| values
    assert st.rank_biserial(x - y) == pytest.approx(pingouin.wilcoxon(x, y)["RBC"].iloc[0])
    assert st.rank_biserial(np.array([1.0, 2, 3])) == 1.0 and st.rank_biserial(-np.array([1.0, 2, 3])) == -1.0


def test_cohen_dz_hand_computed():
    d = np.array([1.0, 2.0, 3.0, 6.0])
    assert st.cohen_dz(d) == pytest.approx(3.0 / np.std(d, ddof=1))
    assert np.isnan(st.cohen_dz(np.ones(4)))


def test_bootstrap_ci_equals_a_plain_loop_and_is_deterministic():
    rng = np.random.default_rng(3)
    d = rng.normal(1.0, 1.0, 25)
    got = st.bootstrap_ci(lambda x: x.mean(axis=-1), (d,), 500, seed=7)
    draws = np.random.default_rng(7)
    means = [d[draws.integers(0, d.size, d.size)].mean() for _ in range(500)]
    assert got == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    assert st.bootstrap_ci(lambda x: x.mean(axis=-1), (d,), 500, seed=7) == got
    # close to scipy's percentile bootstrap (different draws)
    ref = sps.bootstrap((d,), np.mean, n_resamples=5000, method="percentile", rng=1).confidence_interval
    assert got[0] == pytest.approx(ref.low, abs=0.1) and got[1] == pytest.approx(ref.high, abs=0.1)


# ----------------------------------------------------------------- single-group tests


def test_asymmetry_tests_hand_checked():
    contra = np.array([3.0, 2.5, 4.0, 3.2, 2.8, 3.9])
    ipsi = np.array([2.0, 2.6, 3.1, 2.2, 2.9, 3.0])
    d = contra - ipsi
    li = d / (contra + ipsi)
    rows = _by_test(asymmetry_tests(contra, ipsi, li, FAST))
    t = rows[("paired_t", "C-I")]
    ref = sps.ttest_rel(contra, ipsi)
    assert t["statistic"] == pytest.approx(ref.statistic) and t["p_value"] == pytest.approx(ref.pvalue)
    assert t["estimate"] == pytest.approx(d.mean()) and t["effect_size"] == pytest.approx(d.mean() / d.std(ddof=1))
    assert t["ci_low"] < d.mean() < t["ci_high"] and t["n"] == 6
    # sign flip: 2^6 = 64 sign patterns < n_perm, so scipy enumerates them all; do the same by hand
    null = np.array([np.mean(np.array(s) * d) for s in itertools.product([-1, 1], repeat=6)])
    exact = min(1.0, 2 * min(np.mean(null >= d.mean()), np.mean(null <= d.mean())))
    assert rows[("sign_flip", "C-I")]["p_value"] == pytest.approx(exact)
    w = rows[("wilcoxon", "C-I")]
    assert w["p_value"] == pytest.approx(sps.wilcoxon(contra, ipsi).pvalue)
    assert w["effect_size"] == pytest.approx(st.rank_biserial(d)) and w["estimate"] == pytest.approx(np.median(d))
    li_row = rows[("one_sample_t", "LI")]
    assert li_row["p_value"] == pytest.approx(sps.ttest_1samp(li, 0).pvalue) and li_row["estimate"] > 0


def test_swapping_contra_and_ipsi_flips_effect_signs():
    rng = np.random.default_rng(4)
    c, i = rng.normal(3, 1, 10) + 0.5, rng.normal(3, 1, 10)
    a = _by_test(asymmetry_tests(c, i, (c - i) / (c + i), FAST))
    b = _by_test(asymmetry_tests(i, c, (i - c) / (c + i), FAST))
    for key in a:
        assert b[key]["effect_size"] == pytest.approx(-a[key]["effect_size"])
        assert b[key]["p_value"] == pytest.approx(a[key]["p_value"], rel=0.1)


def test_too_few_subjects_and_constant_input_give_notes_not_errors():
    rows = _by_test(asymmetry_tests(np.array([1.0, np.nan, 2.0]), np.array([0.5, 1.0, np.nan]),
                                    np.array([np.nan, np.nan, 0.1]), FAST))
    assert rows[("paired_t", "C-I")]["n"] == 1 and "at least 3 needed" in rows[("paired_t", "C-I")]["note"]
    assert np.isnan(rows[("paired_t", "C-I")]["p_value"])
    equal = _by_test(asymmetry_tests(np.full(5, 2.0), np.full(5, 2.0), np.zeros(5), FAST))
    assert equal[("wilcoxon", "C-I")]["note"] == "all differences are zero"
    corr = _by_test(gain_tests({"D": np.full(6, 1.0)}, np.arange(6.0), np.arange(6.0) + 100, FAST))
    assert "constant input" in corr[("pearson", "D")]["note"]
    assert "undefined" in corr[("partial_pearson", "D")]["note"]


@pytest.mark.parametrize("n, floor", [(3, 0.25), (5, 0.0625), (6, None)])
def test_sign_flip_rows_say_when_too_few_subjects_can_reach_significance(n, floor):
    """Every subject 10 units more contralateral: the smallest p the test has, and a note when it exceeds 0.05."""
    rows = _by_test(asymmetry_tests(np.full(n, 12.0) + np.arange(n), np.full(n, 2.0), np.full(n, 0.5), FAST))
    flip = rows[("sign_flip", "C-I")]
    if floor is None:
        assert flip["note"] == "" and flip["p_value"] < 0.05
    else:
        assert flip["p_value"] == pytest.approx(floor)
        assert f"cannot be below {floor:.3g}" in flip["note"] and st.p_floor_note(n) == flip["note"]


def test_gain_tests_match_scipy_and_pingouin_and_drop_missing_gain():
    rng = np.random.default_rng(5)
    d = rng.normal(size=12)
    gain = 2 * d + rng.normal(size=12)
    gain[3] = np.nan  # a subject without a behavioural score
    n2 = rng.normal(200, 20, 12)
    rows = _by_test(gain_tests({"D": d}, gain, n2, FAST))
    ok = ~np.isnan(gain)
    assert rows[("pearson", "D")]["n"] == 11
    assert rows[("pearson", "D")]["statistic"] == pytest.approx(sps.pearsonr(d[ok], gain[ok]).statistic)
    assert rows[("spearman", "D")]["p_value"] == pytest.approx(sps.spearmanr(d[ok], gain[ok]).pvalue)
    frame = pd.DataFrame({"x": d[ok], "g": gain[ok], "n2": n2[ok]})
    ref = pingouin.partial_corr(data=frame, x="x", y="g", covar="n2")
    assert rows[("partial_pearson", "D")]["statistic"] == pytest.approx(ref["r"].iloc[0])


# ----------------------------------------------------------------- calibration (the "must show")


def _rejections(seeds, **planted):
    counts = {}
    for seed in seeds:
        for row in group_tests(simulated_laterality(20, seed, **planted), FAST):
            if row.variable in ("C-I", "LI", "D", STEIGER):
                key = (row.test, row.variable)
                counts[key] = counts.get(key, 0) + int(row.p_value < 0.05)
    return counts


def test_null_rejection_rates_are_nominal(record_property):
    counts = _rejections(range(200))
    low, high = sps.binom.interval(0.999, 200, 0.05)  # (2, 21)
    record_property("null_rejections_of_200", counts)
    assert len(counts) == 11  # 4 asymmetry tests + 3 correlations each of D and LI + Steiger
    for key, k in counts.items():
        assert low <= k <= high, f"{key}: {k}/200 rejections under the null (expected about 10)"


def test_planted_effect_is_detected():
    counts = _rejections(range(1000, 1060), effect=1.0, gain_slope=30.0)
    for key, k in counts.items():
        assert k / 60 > 0.8, f"{key}: only {k}/60 rejections with a planted effect"


def test_effect_estimate_ci_covers_the_planted_value():
    covered = 0
    for seed in range(100):
        # planted contra increase: effect * U(0, 2) per subject -> population mean = 0.5
        frame = simulated_laterality(20, 5000 + seed, effect=0.5)
        row = _by_test(group_tests(frame, FAST))[("paired_t", "C-I")]
        covered += row["ci_low"] <= 0.5 <= row["ci_high"]
    assert 85 <= covered <= 100


# ----------------------------------------------------------------- the cohort table


@pytest.fixture(scope="module")
def cohort_table():
    """Baseline + post nights, motor pair with a planted post-night increase, two control pairs."""
    pairs = (("C3/C4", "motor"), ("F3/F4", "control"), ("P3/P4", "control"))
    frame = simulated_laterality(16, 77, effect=0.8, gain_slope=30.0, pairs=pairs, nights=("baseline", "post"))
    return frame, cohort_stats(frame, FAST)


def test_cohort_stats_columns_contrasts_and_specificity(cohort_table):
    frame, stats = cohort_table
    assert list(stats.columns) == list(STATS.names)
    assert set(stats["night"]) == {"baseline", "post", "post-baseline", "baseline+post"}  # the last: the models
    assert set(stats["window"]) == {"night"}
    models = stats[stats["night"] == "baseline+post"].set_index(["pair", "test", "variable"])
    assert models.loc[("C3/C4", "mixedlm", "contra-ipsi:post"), "p_value"] < 0.001
    assert models.loc[("F3/F4", "mixedlm", "contra-ipsi:post"), "p_value"] > 0.01
    assert models.loc[("C3/C4", "gee_poisson", "contra/ipsi:post"), "estimate"] > 1
    post = stats[(stats["night"] == "post-baseline") & (stats["test"] == "paired_t")].set_index("pair")
    assert post.loc["C3/C4", "p_value"] < 0.001 and post.loc["C3/C4", "effect_size"] > 0
    assert post.loc["F3/F4", "p_value"] > 0.01 and post.loc["P3/P4", "p_value"] > 0.01
    spec = stats[(stats["test"] == "motor_vs_control") & (stats["night"] == "post")]
    assert set(spec["pair"]) == {"F3/F4", "P3/P4"} and (spec["p_value"] < 0.01).all()
    assert (spec["effect_size"] > 0).all()
    wide = specificity_table(stats)
    assert list(wide.columns[6:9]) == ["C3/C4 effect_size", "C3/C4 p_value", "C3/C4 p_fdr"]
    assert len(wide) == len(stats[(stats["pair"] == "C3/C4") & stats["variable"].isin(["C-I", "LI", "D"])])


def test_contrast_rows_are_post_minus_baseline(cohort_table):
    frame, _ = cohort_table
    both = with_contrasts(frame, "baseline")
    contrast = both[both["night"] == "post-baseline"].set_index(["subject", "pair"])
    base = frame[frame["night"] == "baseline"].set_index(["subject", "pair"])
    post = frame[frame["night"] == "post"].set_index(["subject", "pair"])
    np.testing.assert_allclose(contrast["D"], (post["D"] - base["D"]).loc[contrast.index])
    np.testing.assert_allclose(contrast["LI"], (post["LI"] - base["LI"]).loc[contrast.index])
    assert len(contrast) == 16 * 3


def test_fdr_is_bh_within_each_family(cohort_table):
    _, stats = cohort_table
    family = stats[(stats["night"] == "post") & (stats["test"] == "paired_t") & (stats["variable"] == "C-I")]
    assert len(family) == 3  # three pairs x one band
    np.testing.assert_allclose(family["p_fdr"], sps.false_discovery_control(family["p_value"], method="bh"))
    assert (stats["p_fdr"].dropna() >= stats.loc[stats["p_fdr"].notna(), "p_value"] - 1e-12).all()


def test_results_do_not_depend_on_row_order(cohort_table):
    frame, stats = cohort_table
    shuffled = cohort_stats(frame.sample(frac=1.0, random_state=3).reset_index(drop=True), FAST)
    key = ["night", "pair", "measure", "band", "test", "variable"]
    a = stats.sort_values(key).reset_index(drop=True)
    b = shuffled.sort_values(key).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-9)


def test_empty_table_gives_empty_stats_with_columns():
    empty = cohort_stats(pd.DataFrame(columns=["subject"]), FAST)
    assert empty.empty and list(empty.columns) == list(STATS.names)


# ----------------------------------------------------------------- Steiger and circular tests


def test_williams_t_reproduces_howells_worked_example():
    """Howell, Statistical Methods for Psychology (6th ed., p. 262), Williams' test as Steiger (1980,
    Psychol Bull 87:245) recommends it: r12 = .80, r13 = .72, r23 = .89, n = 26 -> t(23) = 1.361,
    p = .187 (reproduced in B. Weaver's SPSS syntax, MRC CBU statistics wiki, FAQ/Will)."""
    t, p = st.williams_t(0.80, 0.72, 0.89, 26)
    assert round(t, 3) == 1.361 and round(p, 3) == 0.187
    t2, _ = st.williams_t(0.72, 0.80, 0.89, 26)
    assert t2 == pytest.approx(-t)
    assert np.isnan(st.williams_t(0.5, 0.4, 0.3, 3)[0])


def test_steiger_row_on_data_matches_williams_on_its_correlations():
    rng = np.random.default_rng(8)
    gain = rng.normal(size=30)
    contra, ipsi = gain + rng.normal(size=30), 0.3 * gain + rng.normal(size=30)
    row = st.steiger_test(contra, ipsi, gain, FAST)
    r = np.corrcoef([gain, contra, ipsi])
    t, p = st.williams_t(r[0, 1], r[0, 2], r[1, 2], 30)
    assert row.statistic == pytest.approx(t) and row.p_value == pytest.approx(p)
    assert row.estimate == pytest.approx(r[0, 1] - r[0, 2]) and row.ci_low < row.estimate < row.ci_high


def _phases(n, seed, shift):
    rng = np.random.default_rng(seed)
    common = rng.vonmises(0.0, 2.0, n)  # each subject's own preferred phase
    ipsi = common + rng.vonmises(0.0, 4.0, n)
    return np.rad2deg(ipsi + np.deg2rad(shift) + rng.vonmises(0.0, 4.0, n)), np.rad2deg(ipsi)


def test_circular_test_null_rate_power_and_invariance():
    low, high = sps.binom.interval(0.999, 200, 0.05)
    null = sum(st.circular_test(*_phases(20, seed, 0.0), FAST).p_value < 0.05 for seed in range(200))
    assert low <= null <= high, null
    found = [st.circular_test(*_phases(20, 500 + seed, 40.0), FAST) for seed in range(30)]
    assert sum(r.p_value < 0.05 for r in found) >= 27
    assert np.mean([r.ci_low <= 40 <= r.ci_high for r in found]) >= 0.8
    contra, ipsi = _phases(20, 3, 40.0)
    a, b = st.circular_test(contra, ipsi, FAST), st.circular_test(contra + 170, ipsi + 170, FAST)  # a rotation of both
    assert a.p_value == pytest.approx(b.p_value) and a.estimate == pytest.approx(b.estimate)
    assert st.circular_test(contra + 360, ipsi - 720, FAST).estimate == pytest.approx(a.estimate)
