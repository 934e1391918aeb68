"""Mixed and count models of the asymmetry (analysis/models.py) on simulated cohorts.

The simulator (:func:`_laterality_data.simulated_hemispheres`) builds each subject-night from
left- and right-hemisphere values: a fixed left > right asymmetry (the same for everyone, as
Bodizs et al. 2017 report for spindles), a subject-specific stable asymmetry, subject-night level
shifts and side noise, and a contralateral effect on the learning night. What must hold:

* the planted effect and the planted asymmetry are both recovered (within 30 %, CI covering),
  by the night interaction (baseline design) and by the hand interaction (both hands);
* a cohort trained with one hand and no baseline night cannot tell them apart: the asymmetry
  cancels the effect, or masquerades as one, and the baseline night undoes both;
* the count model's rate ratio recovers a planted rate ratio;
* without any effect each model term rejects at about 5 % over 200 cohorts (binomial 99.9 %
  interval of 200 draws at 5 %: 2..21);
* the D-model equals the long-format model with random subject, subject x night and subject x
  hemisphere effects, which is what it stands for.
"""

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from _laterality_data import on_two_cores, simulated_hemispheres
from scipy import stats as sps

from sleepspindles.analysis.models import count_models, design, mixed_model, model_rows
from sleepspindles.config import Config

CONFIG = Config()


def _rows(rows, test):
    return {r.variable: r for r in rows if r.test == test}


def _recovered(row, planted, tolerance=0.3):
    assert abs(row.estimate - planted) <= tolerance * abs(planted), (row.variable, row.estimate, planted)
    assert row.ci_low <= planted <= row.ci_high, (row.variable, row.ci_low, row.ci_high, planted)


def test_design_codes_hand_and_night_so_that_terms_mean_what_they_say():
    frame = pd.DataFrame({"night": ["baseline", "post", "baseline", "post"], "trained_hand": ["left", "left", "right",
                                                                                             "right"],
                          "age": [20.0, 20.0, 30.0, 30.0], "site": ["a", "a", "b", "b"]})
    exog, terms, notes = design(frame, "baseline", ("age", "site", "missing"))
    assert list(exog.columns[:4]) == ["const", "night[post]", "hand", "night[post]:hand"]
    assert exog["hand"].tolist() == [-1.0, -1.0, 1.0, 1.0]  # right-trained = +1
    assert {k: v[0] for k, v in terms.items()} == {"const": "contra-ipsi", "night[post]": "contra-ipsi:post",
                                                   "hand": "left-right", "night[post]:hand": "left-right:post"}
    assert exog["age"].tolist() == [-5.0, -5.0, 5.0, 5.0]  # centred
    assert "site_b" in exog and notes == ["covariate 'missing' not in the manifest"]


def test_planted_effect_on_a_fixed_asymmetry_is_recovered_by_both_designs():
    """effect 0.6/min contralateral on the learning night; left exceeds right by 0.5/min in everyone."""
    both = model_rows(simulated_hemispheres(40, 7, effect=0.6, asymmetry=0.5), CONFIG)
    mixed = _rows(both, "mixedlm")
    _recovered(mixed["contra-ipsi:post"], 0.6)
    _recovered(mixed["left-right"], 0.5)
    assert mixed["contra-ipsi"].ci_low <= 0 <= mixed["contra-ipsi"].ci_high  # no effect on the baseline night
    assert mixed["contra-ipsi:post"].p_value < 0.001 and mixed["left-right"].p_value < 0.01
    assert all(r.night == "baseline+post" and r.n == 40 for r in both)
    # without a baseline night, both hands still separate the two: hemisphere = effect, hand x hemisphere = asymmetry
    post = _rows(model_rows(simulated_hemispheres(40, 8, effect=0.6, asymmetry=0.5, nights=("post",)), CONFIG),
                 "mixedlm")
    _recovered(post["contra-ipsi"], 0.6)
    _recovered(post["left-right"], 0.5)
    assert "ordinary least squares" in post["contra-ipsi"].note


def test_one_hand_cohort_needs_the_baseline_night():
    """All subjects trained with the left hand: contra = right hemisphere, so D = effect - asymmetry."""
    left = ("left",)
    # the asymmetry cancels a real effect: 0.6 contralateral on a 0.6 left > right asymmetry
    cancelled = _rows(model_rows(simulated_hemispheres(40, 9, effect=0.6, asymmetry=0.6, hands=left, nights=("post",)),
                                 CONFIG), "mixedlm")["contra-ipsi"]
    assert cancelled.ci_low <= 0.0 <= cancelled.ci_high and not cancelled.ci_low <= 0.6 <= cancelled.ci_high
    assert "left-right" not in _rows(model_rows(simulated_hemispheres(10, 9, hands=left), CONFIG), "mixedlm")
    with_baseline = _rows(model_rows(simulated_hemispheres(40, 9, effect=0.6, asymmetry=0.6, hands=left), CONFIG),
                          "mixedlm")
    _recovered(with_baseline["contra-ipsi:post"], 0.6)
    # ... or masquerades as one: no effect, right > left by 0.6
    fake = _rows(model_rows(simulated_hemispheres(40, 10, asymmetry=-0.6, hands=left, nights=("post",)), CONFIG),
                 "mixedlm")["contra-ipsi"]
    assert fake.p_value < 0.001 and fake.estimate > 0.4
    real = _rows(model_rows(simulated_hemispheres(40, 10, asymmetry=-0.6, hands=left), CONFIG), "mixedlm")
    assert real["contra-ipsi:post"].ci_low <= 0.0 <= real["contra-ipsi:post"].ci_high
    assert real["contra-ipsi"].estimate > 0.4  # the asymmetry stays on the baseline term


def test_count_model_recovers_a_planted_rate_ratio():
    frame = simulated_hemispheres(30, 11, effect=np.log(1.3), asymmetry=np.log(1.2), counts=True)
    rows = count_models(frame, "baseline", CONFIG)
    for test in ("gee_poisson", "gee_negbin"):
        found = _rows(rows, test)
        for term, planted in (("contra/ipsi:post", 1.3), ("left/right", 1.2)):
            row = found[term]
            assert abs(np.log(row.estimate) - np.log(planted)) < 0.3 * np.log(planted), (test, term, row.estimate)
            assert row.ci_low <= planted <= row.ci_high, (test, term, row.ci_low, row.ci_high)
        assert found["contra/ipsi"].ci_low <= 1.0 <= found["contra/ipsi"].ci_high
        assert found["contra/ipsi:post"].note.startswith("converged")
        assert "few subjects" not in found["contra/ipsi"].note  # 30 subjects
    assert "alpha = " in _rows(rows, "gee_negbin")["contra/ipsi"].note


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")  # the long fit's trouble
def test_mixed_model_of_d_equals_the_long_format_model():
    frame = simulated_hemispheres(20, 12, effect=0.5, asymmetry=0.3)
    ours = _rows(mixed_model(frame, "baseline", CONFIG), "mixedlm")
    long = pd.concat([frame.assign(value=frame["contra"], contra_side=1.0),
                      frame.assign(value=frame["ipsi"], contra_side=0.0)], ignore_index=True)
    long["post"] = (long["night"] == "post").astype(float)
    long["hand"] = np.where(long["trained_hand"] == "right", 1.0, -1.0)
    fit = smf.mixedlm("value ~ contra_side * post * hand", long, groups=long["subject"], re_formula="~contra_side",
                      vc_formula={"night": "0 + C(night)"}).fit(reml=True)
    for term, label in (("contra_side", "contra-ipsi"), ("contra_side:post", "contra-ipsi:post"),
                        ("contra_side:hand", "left-right"), ("contra_side:post:hand", "left-right:post")):
        assert ours[label].estimate == pytest.approx(fit.fe_params[term], abs=1e-3)
        se = (ours[label].ci_high - ours[label].estimate) / sps.t.ppf(0.975, 20 - 4)
        assert se == pytest.approx(fit.bse_fe[term], rel=0.1)


def _null_rejections(seed: int) -> dict:
    """Which model terms reject at 5 % in one null cohort (16 subjects, both hands, baseline and post)."""
    rows = model_rows(simulated_hemispheres(16, 20_000 + seed, counts=True), CONFIG)
    return {(row.test, row.variable): int(row.p_value < 0.05) for row in rows}


def test_null_false_positive_rates_over_200_cohorts(record_property):
    counts = {}
    for found in on_two_cores(_null_rejections, range(200)):
        for key, rejected in found.items():
            counts[key] = counts.get(key, 0) + rejected
    record_property("null_rejections_of_200", counts)
    low, high = sps.binom.interval(0.999, 200, 0.05)
    assert len(counts) == 12  # 3 models x 4 terms
    for key, k in counts.items():
        assert low <= k <= high, f"{key}: {k}/200 rejections under the null"


def _small_null_gee(seed: int) -> list:
    """(p with the normal reference, p as reported) of the GEE rows of one null cohort of 6 subjects."""
    rows = count_models(simulated_hemispheres(6, 30_000 + seed, counts=True, nights=("post",)), "post", CONFIG)
    return [(2 * sps.norm.sf(abs(r.statistic)), r.p_value, r.note) for r in rows if np.isfinite(r.p_value)]


def test_gee_of_few_subjects_uses_the_bias_reduced_sandwich_with_t_and_says_so():
    """6 subjects: GEE's robust sandwich and the normal reference reject a true null far above 5 %."""
    import statsmodels.api as sm
    from statsmodels.genmod.generalized_estimating_equations import GEE

    frame = simulated_hemispheres(6, 31, counts=True, nights=("post",))
    row = _rows(count_models(frame, "post", CONFIG), "gee_poisson")["contra/ipsi"]
    assert "few subjects (n = 6 < 20): GEE p-values are approximate; prefer the paired test" in row.note
    long = pd.concat([frame.assign(c=1.0, r=frame["contra"], m=frame["contra_minutes"]),
                      frame.assign(c=0.0, r=frame["ipsi"], m=frame["ipsi_minutes"])], ignore_index=True)
    exog = pd.DataFrame({"const": 1.0, "hand": np.where(long["trained_hand"] == "right", 1.0, -1.0)})
    exog = pd.concat([exog, exog.mul(long["c"], axis=0).add_prefix("contra*")], axis=1)
    model = GEE(np.round(long["r"] * long["m"]), exog, groups=long["subject"], offset=np.log(long["m"]),
                family=sm.families.Poisson(), cov_struct=sm.cov_struct.Exchangeable())
    b, robust_se = model.fit(cov_type="bias_reduced").params["contra*const"], model.fit().bse["contra*const"]
    assert np.log(row.estimate) == pytest.approx(b)
    assert row.statistic != pytest.approx(b / robust_se, rel=0.05)  # not the uncorrected sandwich
    assert row.p_value == pytest.approx(2 * sps.t.sf(abs(row.statistic), 5))  # t with subjects - 1 df
    assert row.ci_low == pytest.approx(np.exp(b - sps.t.ppf(0.975, 5) * b / row.statistic))
    # over 120 null cohorts (4 GEE rows each) the normal reference rejects too often; t(5) is near 5 %
    found = [r for rows in on_two_cores(_small_null_gee, range(120)) for r in rows]
    normal, reported = (np.mean([f[i] < 0.05 for f in found]) for i in (0, 1))
    assert len(found) > 400 and all("few subjects" in f[2] for f in found)
    assert normal > 0.07 and 0.02 <= reported <= 0.07 and abs(reported - 0.05) < abs(normal - 0.05), (normal, reported)


@pytest.mark.filterwarnings("ignore::statsmodels.tools.sm_exceptions.ConvergenceWarning")  # the raw lbfgs fit
@pytest.mark.filterwarnings("ignore:Random effects covariance is singular")
def test_degenerate_mixed_fit_is_flagged_not_reported_as_converged(monkeypatch):
    """3 subjects where statsmodels' lbfgs puts the subject variance at 0 and returns contra-ipsi = 0, p = 1."""
    from statsmodels.regression.mixed_linear_model import MixedLM

    from sleepspindles.analysis import models

    frame = simulated_hemispheres(3, 118, hands=("right",), effect=0.5)
    mean_baseline = frame.loc[frame["night"] == "baseline", "D"].mean()
    exog, _, _ = design(frame, "baseline")
    raw = MixedLM(frame["D"].to_numpy(), exog, groups=frame["subject"]).fit(reml=True, method=["lbfgs"])
    assert raw.converged and raw.fe_params["const"] == 0.0 != mean_baseline  # the defect this test is about
    found = _rows(mixed_model(frame, "baseline", CONFIG), "mixedlm")
    assert found["contra-ipsi"].estimate == pytest.approx(mean_baseline, abs=1e-4)  # a sound optimiser's fit
    assert "rejected lbfgs: degenerate" in found["contra-ipsi"].note
    monkeypatch.setattr(models, "_OPTIMISERS", ("lbfgs",))  # no sound optimiser left: no finding
    for row in mixed_model(frame, "baseline", CONFIG):
        assert np.isnan(row.p_value) and np.isnan(row.estimate), row
        assert row.note.startswith("degenerate fit, no estimate: lbfgs: degenerate"), row.note
