"""Per-subject lateralisation: hand -> contralateral mapping, D and LI by hand, fast/slow split,
missing pairs and nights without N2; and one end-to-end effect-recovery test on synthetic EEG
nights (events = the generator's planted spindles, so no detector is involved).

Sign convention under test: ``D = contra - ipsi`` and ``LI = D / (contra + ipsi)``, so positive
values (and positive ``effect_size`` in the statistics) mean the hemisphere opposite the trained
hand is larger.
"""

import numpy as np
import pandas as pd
import pytest
from _laterality_data import coupling_night, synthetic_night_data
from scipy import stats as sps

from sleepspindles import Hypnogram, Recording
from sleepspindles.analysis.circular import mvl, ppc
from sleepspindles.analysis.laterality import (
    contra_ipsi,
    lateralise,
    night_data,
    night_from_tables,
    night_laterality,
)
from sleepspindles.analysis.measures import channel_measures
from sleepspindles.analysis.spectral import sigma_table
from sleepspindles.config import Config
from sleepspindles.errors import ConfigError
from sleepspindles.schema import LATERALITY, SIGMA, SPINDLES

SF = 100.0


def test_left_hand_makes_c4_contralateral_and_right_hand_c3():
    assert contra_ipsi(("C3", "C4"), "left").contra == "C4"
    assert contra_ipsi(("C3", "C4"), "left").ipsi == "C3"
    assert contra_ipsi(("C3", "C4"), "right").contra == "C3"
    assert contra_ipsi(("O1", "O2"), "right").ipsi == "O2"
    with pytest.raises(ConfigError, match="trained_hand"):
        contra_ipsi(("C3", "C4"), "both")


def _spindles(channel, stage, times, freq, amp):
    return [dict(channel=channel, stage=stage, start=t, peak=t + 0.5, end=t + 1.0, duration=1.0, amplitude=amp,
                 rms=amp / 3, frequency=freq, oscillations=13, symmetry=0.5) for t in times]


@pytest.fixture()
def hand_night():
    """10 epochs N2 (5 min), 4 epochs N3 (2 min), 6 wake; C4 has more (and faster) spindles.

    N2: C4 4 fast (14 Hz, 40 uV) + 2 slow (12 Hz, 20 uV) -> 1.2/min; C3 3 slow (12 Hz, 30 uV) -> 0.6/min.
    N3: C4 1 slow, C3 1 slow.
    """
    stages = np.array([0] * 3 + [2] * 10 + [3] * 4 + [0] * 3)
    hyp = Hypnogram(stages, 30.0)
    rng = np.random.default_rng(0)
    rec = Recording(rng.normal(0, 10, (4, int(stages.size * 30 * SF))), SF, ("C3", "C4", "F3", "Fz"),
                    hypnogram=hyp)
    rows = (_spindles("C4", "N2", [100, 120, 140, 160], 14.0, 40.0) + _spindles("C4", "N2", [200, 220], 12.0, 20.0)
            + _spindles("C3", "N2", [100, 150, 250], 12.0, 30.0)
            + _spindles("C4", "N3", [420], 12.0, 50.0) + _spindles("C3", "N3", [430], 12.0, 50.0))
    return SPINDLES.conform(pd.DataFrame(rows)), hyp, rec


def _value(table, measure, band, column):
    row = table[(table["pair"] == "C3/C4") & (table["measure"] == measure) & (table["band"] == band)]
    assert len(row) == 1
    return float(row[column].iloc[0])


def test_hand_computed_density_d_li_fast_slow(hand_night):
    events, hyp, rec = hand_night
    night = night_data(events, hyp, rec, subject="S1", night="post", trained_hand="left")
    table, problems = night_laterality(night)
    assert _value(table, "density_n2", "all", "contra") == pytest.approx(1.2)
    assert _value(table, "density_n2", "all", "ipsi") == pytest.approx(0.6)
    assert _value(table, "density_n2", "all", "D") == pytest.approx(0.6)
    assert _value(table, "density_n2", "all", "LI") == pytest.approx(0.6 / 1.8)
    assert _value(table, "density_n2", "fast", "LI") == pytest.approx(1.0)  # fast spindles only on C4
    assert _value(table, "density_n2", "slow", "D") == pytest.approx(0.4 - 0.6)
    assert _value(table, "density_n2n3", "all", "D") == pytest.approx(7 / 7 - 4 / 7)
    assert _value(table, "amplitude", "all", "contra") == pytest.approx((4 * 40 + 2 * 20) / 6)
    assert _value(table, "amplitude", "fast", "ipsi") != _value(table, "amplitude", "fast", "ipsi")  # NaN
    assert np.isfinite(_value(table, "sigma_abs", "all", "D")) and _value(table, "sigma_rel", "all", "contra") > 0
    assert night.n2_minutes == 5.0
    # F3/F4 lacks F4; the other configured pairs are absent altogether: one clear note.
    assert set(table["pair"]) == {"C3/C4"}
    assert len(problems) == 1 and "F3/F4 (no F4)" in problems[0] and "subject 'S1' night 'post'" in problems[0]
    # in a cohort, pairs recorded nowhere get one cohort-level note, half pairs one note per night
    result = lateralise([night, night_data(events, hyp, rec, subject="S2", night="post", trained_hand="right")])
    assert sum("F3/F4 (no F4)" in p for p in result.problems) == 2
    assert sum("P3/P4" in p for p in result.problems) == 1
    assert any(p.startswith("electrode pair(s) P3/P4, O1/O2, C5/C6, FC3/FC4, CP3/CP4 in no recording")
               for p in result.problems)


def test_swapping_the_trained_hand_flips_every_sign(hand_night):
    events, hyp, rec = hand_night
    left = night_laterality(night_data(events, hyp, rec, subject="S1", night="post", trained_hand="left"))[0]
    right = night_laterality(night_data(events, hyp, rec, subject="S1", night="post", trained_hand="right"))[0]
    assert (left["contra_channel"] == "C4").all() and (right["contra_channel"] == "C3").all()
    np.testing.assert_allclose(right["D"], -left["D"], equal_nan=True)
    np.testing.assert_allclose(right["LI"], -left["LI"], equal_nan=True)
    np.testing.assert_allclose(right["contra"], left["ipsi"], equal_nan=True)


def test_fast_threshold_comes_from_the_summary_config(hand_night):
    events, hyp, rec = hand_night
    config = Config().replace("summary", fast_threshold=12.0)  # every spindle is now fast
    night = night_data(events, hyp, rec, subject="S1", night="post", trained_hand="left", config=config)
    table = night_laterality(night, config)[0]
    assert _value(table, "density_n2", "fast", "D") == pytest.approx(0.6)
    assert _value(table, "density_n2", "slow", "contra") == 0.0
    # sigma bands split at 12 Hz: slow = 11-12 Hz, fast = 12-16 Hz
    assert set(night.sigma.loc[night.sigma["band"] == "fast", "low"]) == {12.0}
    assert set(night.sigma.loc[night.sigma["band"] == "slow", "high"]) == {12.0}
    measures = channel_measures(night)
    sigma = measures[measures["measure"] == "sigma_abs"].set_index(["channel", "band"])["value"]
    assert sigma[("C3", "fast")] + sigma[("C3", "slow")] > sigma[("C3", "all")] * 0.99
    # a threshold outside the sigma band leaves only the whole band for sigma power
    outside = Config().replace("summary", fast_threshold=17.0)
    night = night_data(events, hyp, rec, subject="S1", night="post", trained_hand="left", config=outside)
    assert set(night.sigma["band"]) == {"all"}


def test_sigma_table_covers_every_eeg_channel_and_is_empty_without_stages(hand_night):
    _, hyp, rec = hand_night
    sigma = sigma_table(rec, hyp)
    assert list(sigma.columns) == list(SIGMA.names)
    assert set(sigma["channel"]) == {"C3", "C4", "F3", "Fz"}  # every EEG channel, not only paired ones
    assert set(sigma["band"]) == {"all", "fast", "slow"} and (sigma["n_epochs"] == 10).all()  # the 10 N2 epochs
    # white noise, sd 10 uV at 100 Hz: one-sided PSD 2 * 100 / 100 = 2 uV^2/Hz, so 11-16 Hz holds ~10 uV^2
    # and the 1-30 Hz reference band ~58 uV^2 (relative ~5/29)
    whole = sigma[sigma["band"] == "all"]
    np.testing.assert_allclose(whole["power"], 10.0, rtol=0.15)
    np.testing.assert_allclose(whole["relative"], 5 / 29, rtol=0.1)
    empty = sigma_table(rec, None)
    assert empty.empty and list(empty.columns) == list(SIGMA.names)
    # 50 Hz: the reference band is cut at 22.5 Hz, sigma power is still measured
    slow = Recording(rec.data[:, ::2], SF / 2, rec.channels, hypnogram=hyp)
    low = sigma_table(slow, hyp)
    assert not low.empty and np.isfinite(low["relative"]).all()
    # 25 Hz cannot resolve the 11-16 Hz sigma band: no sigma power, but no error either
    slower = Recording(rec.data[:, ::4], SF / 4, rec.channels, hypnogram=hyp)
    assert sigma_table(slower, hyp).empty


def test_night_from_tables_is_what_night_data_builds(hand_night):
    """The cohort path (stored tables, no signal) gives the same laterality as the in-memory path."""
    events, hyp, rec = hand_night
    direct = night_data(events, hyp, rec, subject="S1", night="post", trained_hand="left", score_pre=10,
                        score_post=12, covariates={"age": 30})
    stored = night_from_tables(direct.summary, sigma_table(rec, hyp), 5.0, subject="S1", night="post",
                               trained_hand="left", score_pre=10, score_post=12, covariates={"age": 30})
    assert stored.n2_minutes == direct.n2_minutes == 5.0
    pd.testing.assert_frame_equal(night_laterality(stored)[0], night_laterality(direct)[0])
    # without sigma power the spindle measures remain
    no_sigma = night_from_tables(direct.summary, pd.DataFrame(columns=list(SIGMA.names)), 5.0, subject="S1",
                                 night="post", trained_hand="left")
    assert set(night_laterality(no_sigma)[0]["measure"]) == {"density_n2", "density_n2n3", "amplitude"}
    with pytest.raises(ConfigError, match="'summary' parameter must be a table with columns"):
        night_from_tables(direct.summary.drop(columns="density"), direct.sigma, 5.0, subject="S1", night="post",
                          trained_hand="left")


def test_night_without_n2_is_reported_and_gives_nan_n2_measures(hand_night):
    events, hyp, rec = hand_night
    no_n2 = hyp.with_stages(np.where(hyp.stages == 2, 1, hyp.stages))  # N2 rescored as N1
    night = night_data(events[events["stage"] == "N3"], no_n2, rec, subject="S9", night="post", trained_hand="left")
    table, problems = night_laterality(night)
    assert np.isnan(_value(table, "density_n2", "all", "D"))
    assert np.isnan(_value(table, "sigma_abs", "all", "D"))
    assert _value(table, "density_n2n3", "all", "D") == pytest.approx(0.0)  # 1 N3 spindle each side / 2 min
    assert any("subject 'S9' night 'post': no N2 epochs" in p for p in problems)


def test_cohort_with_a_no_n2_subject_still_analyses_the_others(hand_night):
    events, hyp, rec = hand_night
    no_n2 = hyp.with_stages(np.where(hyp.stages == 2, 1, hyp.stages))
    nights = [night_data(events, hyp, rec, subject=f"S{s}", night="post", trained_hand=hand)
              for s, hand in enumerate(["left", "left", "right"])]
    nights.append(night_data(events, no_n2, rec, subject="S9", night="post", trained_hand="left"))
    result = lateralise(nights, Config().replace("laterality", n_boot=100, n_perm=100))
    t = result.stats[(result.stats["test"] == "paired_t") & (result.stats["pair"] == "C3/C4")
                     & (result.stats["band"] == "all")].set_index("measure")
    assert t.loc["density_n2", "n"] == 3 and t.loc["density_n2n3", "n"] == 4
    assert any("subject 'S9' night 'post': no N2 epochs" in p for p in result.problems)


@pytest.mark.parametrize("nights, expected", [
    ({"S0": ["baseline", "post"], "S1": ["baseline", "post"], "S2": ["post"], "S3": ["baseline"]},
     ["subject 'S2' has no 'baseline' night: left out of post-baseline",
      "post-baseline: 1 subject(s) with a 'baseline' night have no 'post' night (S3): left out of it"]),
    ({"S0": ["Baseline", "post"], "S1": ["Baseline", "post"]},
     ["night 'Baseline' is not laterality.baseline_night 'baseline' (labels are compared exactly): no "
      "learning-minus-baseline contrast"]),
    ({"S0": ["pre", "post"]}, ["no night is named 'baseline' (laterality.baseline_night): no learning-minus-baseline "
                              "contrast"]),
    ({"S0": ["post"], "S1": ["post"]}, []),
])
def test_contrasts_say_who_they_leave_out_and_why_there_are_none(hand_night, nights, expected):
    """A subject missing one of the two nights drops out of the contrast's n: the cohort's notes say so."""
    events, hyp, rec = hand_night
    data = [night_data(events, hyp, rec, subject=s, night=n, trained_hand="left")
            for s, held in nights.items() for n in held]
    problems = lateralise(data, Config().replace("laterality", n_boot=100, n_perm=100)).problems
    assert [p for p in problems if "contrast" in p or "left out of" in p] == expected


def test_no_configured_pair_skips_the_night_with_a_message(hand_night):
    events, hyp, rec = hand_night
    rec = rec.pick(["C3", "Fz"])
    result = lateralise([night_data(events, hyp, rec, subject="S1", night="post", trained_hand="left")])
    assert result.laterality.empty and result.stats.empty
    assert any("none of the configured electrode pairs" in p for p in result.problems)


@pytest.fixture(scope="module")
def synthetic_cohort():
    """16 subjects, half trained with each hand, baseline and post nights (80 min, 60 min N2).

    Per subject: symmetric base density b ~ U(1.5, 3)/min plus a stable contralateral bias
    a ~ U(-0.4, 0.4) on both nights; on the post night the contralateral side gains
    ``extra`` (a grid with mean exactly 1.0/min). Gain (%) = 10 + 20 * extra + N(0, 3).
    """
    rng = np.random.default_rng(11)
    hyp = Hypnogram(np.array([0] * 20 + [2] * 60 + [3] * 20 + [2] * 60), 30.0)
    extras = np.linspace(0.25, 1.75, 16)
    config = Config().replace("laterality", n_boot=300, n_perm=1000)
    nights = []
    for s, extra in enumerate(rng.permutation(extras)):
        hand = "left" if s % 2 == 0 else "right"
        contra, ipsi = ("C4", "C3") if hand == "left" else ("C3", "C4")
        base, bias = rng.uniform(1.5, 3.0), rng.uniform(-0.4, 0.4)
        gain = 10 + 20 * extra + rng.normal(0, 3)
        for k, night in enumerate(("baseline", "post")):
            density = {contra: base + bias + (extra if night == "post" else 0.0), ipsi: base,
                       "F3": base, "F4": base}
            nights.append(synthetic_night_data(f"S{s:02d}", night, hand, density, seed=100 * s + k,
                                               score_pre=100.0, score_post=100.0 + gain, hypnogram=hyp,
                                               config=config))
    return lateralise(nights, config)


def _stat(stats, night, pair, test, variable, measure="density_n2", band="all"):
    row = stats[(stats["night"] == night) & (stats["pair"] == pair) & (stats["test"] == test)
                & (stats["variable"] == variable) & (stats["measure"] == measure) & (stats["band"] == band)]
    assert len(row) == 1
    return row.iloc[0]


@pytest.mark.slow
def test_synthetic_cohort_recovers_planted_effect_and_gain_correlation(synthetic_cohort):
    """End to end on EEG from the generator: the planted +1.0/min contralateral N2 density
    increase (post - baseline) is found, its bootstrap CI covers 1.0, both hands map the same
    way, the effect is specific to C3/C4, and D correlates with the planted gain."""
    lat, stats = synthetic_cohort.laterality, synthetic_cohort.stats
    assert list(lat.columns[: len(LATERALITY.names)]) == list(LATERALITY.names)
    assert set(lat["role"][lat["pair"] == "C3/C4"]) == {"motor"} and set(lat["role"][lat["pair"] == "F3/F4"]) == {"control"}
    contrast = _stat(stats, "post-baseline", "C3/C4", "paired_t", "C-I")
    assert contrast["n"] == 16 and contrast["p_value"] < 1e-4 and contrast["effect_size"] > 1
    assert contrast["ci_low"] <= 1.0 <= contrast["ci_high"]
    assert abs(contrast["estimate"] - 1.0) < 0.3
    for test in ("wilcoxon", "sign_flip"):
        assert _stat(stats, "post-baseline", "C3/C4", test, "C-I")["p_value"] < 0.01
    assert _stat(stats, "post", "C3/C4", "one_sample_t", "LI")["effect_size"] > 0
    # both hands: D is positive for left- and right-trained subjects alike
    post = lat[(lat["night"] == "post") & (lat["pair"] == "C3/C4") & (lat["measure"] == "density_n2")
               & (lat["band"] == "all")]
    assert post.groupby("trained_hand")["D"].mean().min() > 0.5
    # specificity: the control pair shows no asymmetry, and the motor pair beats it
    assert _stat(stats, "post-baseline", "F3/F4", "paired_t", "C-I")["p_value"] > 0.05
    assert _stat(stats, "post-baseline", "F3/F4", "motor_vs_control", "D_motor-D_F3/F4")["p_value"] < 0.01
    # gain: planted as 20 %/(spindle/min) of the increase -> strong positive correlation of the change in D
    r = _stat(stats, "post-baseline", "C3/C4", "pearson", "D")
    assert r["statistic"] > 0.6 and r["p_value"] < 0.01 and r["ci_low"] > 0
    assert _stat(stats, "post-baseline", "C3/C4", "spearman", "D")["statistic"] > 0.5
    assert abs(_stat(stats, "post-baseline", "F3/F4", "pearson", "D")["statistic"]) < 0.6
    assert synthetic_cohort.specificity.columns[6].startswith("C3/C4")


def _coupling_nights(sides, seed, n):
    """``n`` subjects, half per hand, coupling drawn per side (:func:`_laterality_data.coupling_night`)."""
    return [coupling_night(f"S{s:02d}", ("left", "right")[s % 2], sides, seed + s) for s in range(n)]


def _coupling_cohort(sides, seed, n=24):
    result = lateralise(_coupling_nights(sides, seed, n), Config().replace("laterality", n_boot=200, n_perm=1000))
    return result.laterality, result.stats


def _coupling_t(stats, measure):
    row = stats[(stats["measure"] == measure) & (stats["test"] == "paired_t") & (stats["pair"] == "C3/C4")]
    return row.iloc[0]


def test_planted_coupling_increase_with_equal_spindle_counts_is_found():
    """Same number of coupled spindles on both sides (60), tighter phases contralaterally (kappa 1 vs 0.4)."""
    lat, stats = _coupling_cohort({"contra": (60, 1.0), "ipsi": (60, 0.4)}, 500)
    ppc_t = _coupling_t(stats, "coupling_ppc")
    assert ppc_t["p_value"] < 0.001 and ppc_t["estimate"] > 0.1
    assert _coupling_t(stats, "coupled_density")["note"] == "all differences are equal; t undefined"  # same counts
    model = stats[(stats["measure"] == "coupling_ppc") & (stats["test"] == "mixedlm")].set_index("variable")
    assert model.loc["contra-ipsi", "p_value"] < 0.001
    # the preferred phase is the same on both sides: the circular test finds nothing
    phase = stats[(stats["measure"] == "coupling_phase") & (stats["test"] == "circular")].iloc[0]
    assert phase["p_value"] > 0.05 and -30 < phase["estimate"] < 30


def test_more_spindles_without_more_coupling_is_not_a_coupling_effect():
    """Six times the coupled spindles contralaterally (60 vs 10), the same loose phase concentration (kappa 0.3).

    The density rises; coupling strength as PPC does not: over 100 cohorts its paired t rejects at
    the nominal rate. The mean vector length would call the ipsilateral side (fewer spindles) more
    strongly coupled in most cohorts, and a z of the evidence of coupling the contralateral side
    (more spindles): those count biases are why PPC, not MVL or z, is compared.
    """
    sides = {"contra": (60, 0.3), "ipsi": (10, 0.3)}
    lat, stats = _coupling_cohort(sides, 900)
    assert _coupling_t(stats, "coupled_density")["p_value"] < 0.001
    ppc_t = _coupling_t(stats, "coupling_ppc")
    assert ppc_t["ci_low"] < 0 < ppc_t["ci_high"], (ppc_t["estimate"], ppc_t["p_value"])
    assert not {"coupling_mvl", "coupling_z"} & set(lat["measure"])
    rng = np.random.default_rng(901)
    rejected = {"ppc": 0, "mvl": 0, "z": 0}

    def rayleigh_z(phases):  # the evidence of coupling: grows with the count at one concentration
        return phases.size * mvl(phases) ** 2

    for _ in range(100):
        draws = [[rng.vonmises(-0.5, 0.3, n) for n in (60, 10)] for _ in range(24)]
        for name, statistic in (("ppc", ppc), ("mvl", mvl), ("z", rayleigh_z)):
            d = np.array([statistic(contra) - statistic(ipsi) for contra, ipsi in draws])
            rejected[name] += sps.ttest_1samp(d, 0).pvalue < 0.05
    assert rejected["ppc"] <= sps.binom.interval(0.999, 100, 0.05)[1], rejected
    assert rejected["mvl"] >= 50 and rejected["z"] >= 50, rejected  # why neither is a laterality measure


def test_rows_of_one_subject_giving_different_gains_are_said(hand_night):
    events, hyp, rec = hand_night

    def night(subject, name, pre, post):
        return night_data(events, hyp, rec, subject=subject, night=name, trained_hand="right", score_pre=pre,
                          score_post=post)

    nights = [night("S0", "baseline", 100, 110), night("S0", "post", 90, 130),  # 10 % vs 44.4 %
              night("S1", "baseline", 90, 130), night("S1", "post", 90, 130)]  # the same scores twice: fine
    result = lateralise(nights, Config().replace("laterality", n_boot=100, n_perm=100))
    said = [p for p in result.problems if "give different gains" in p]
    assert said == ["subject 'S0': its rows' scores give different gains (post 44.4%, baseline 10.0%); 44.4% (the "
                    "first learning night's) is used: check the manifest"]
    assert set(result.laterality.loc[result.laterality["subject"] == "S0", "gain"].round(1)) == {44.4}
