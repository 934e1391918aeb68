"""The cohort-level tables: laterality, statistics, clusters, reference robustness.

Written by :mod:`sleepspindles.pipeline.cohort` (the batch status table, built from the event kinds, is
in the package module).
"""

from __future__ import annotations

from .base import Column, TableSchema

__all__ = ["CLUSTERS", "LATERALITY", "ROBUSTNESS", "STATS"]

CLUSTERS = TableSchema(
    name="clusters",
    file="clusters.csv",
    columns=(
        Column("night", "object", "-", "night tested, or <night>-<baseline> for the within-subject contrast"),
        Column("window", "object", "-", "night (whole night) or a window of windows.csv"),
        Column("measure", "object"),
        Column("band", "object"),
        Column("variable", "object", "-", "D or LI, per subject and homologous pair"),
        Column("cluster", "int64", "-", "cluster number, by increasing p"),
        Column("sign", "object", "-", "+ (contralateral larger) or -"),
        Column("pairs", "object", "-", "the homologous pairs of the cluster, ';'-separated"),
        Column("n_pairs", "int64", "-", "pairs in the cluster"),
        Column("statistic", "float64", "-", "cluster mass: sum of the pairs' one-sample t"),
        Column("p_value", "float64", "-", "sign-flip permutation p of the cluster mass (family-wise over pairs)"),
        Column("n", "int64", "-", "subjects with a value at every pair"),
        Column("n_permutations", "int64", "-", "sign-flip permutations"),
        Column("threshold", "float64", "-", "cluster-forming |t|"),
        Column("note", "object", "-", "why no test was run"),
    ),
)

ROBUSTNESS = TableSchema(
    name="reference_robustness",
    file="reference_robustness.csv",
    columns=(
        Column("night", "object"),
        Column("window", "object"),
        Column("pair", "object"),
        Column("measure", "object"),
        Column("band", "object"),
        Column("reference", "object", "-", "load.reference of the rerun (as-recorded, linked-mastoid, average)"),
        Column("n", "int64", "-", "subjects with finite values"),
        Column("estimate", "float64", "measure's", "mean C - I (paired t)"),
        Column("ci_low", "float64", "measure's", "bootstrap 95% interval"),
        Column("ci_high", "float64", "measure's"),
        Column("p_value", "float64"),
        Column("sign_changes", "boolean", "-", "the estimate has both signs across the references"),
    ),
)

LATERALITY = TableSchema(
    name="laterality",
    file="laterality.csv",
    columns=(
        Column("subject", "object"),
        Column("night", "object"),
        Column("trained_hand", "object", "-", "left or right"),
        Column("pair", "object", "-", "homologous pair, left first (C3/C4)"),
        Column("role", "object", "-", "motor (the first configured pair present), control (the other configured "
               "pairs) or scalp (a homologous pair found from the electrode positions)"),
        Column("contra_channel", "object", "-", "channel opposite the trained hand"),
        Column("ipsi_channel", "object", "-", "channel on the trained hand's side"),
        Column("reference", "object", "-", "reference the values rest on (M2 vs M1 when they differ)"),
        Column("measure", "object", "-", "what is compared (density_n2, sigma_abs...; sleepspindles.analysis.measures)"),
        Column("band", "object", "-", "all, fast or slow"),
        Column("window", "object", "-", "night (the whole night) or a window of windows.csv (cycle 1...)"),
        Column("contra", "float64", "measure's", "contralateral value C"),
        Column("ipsi", "float64", "measure's", "ipsilateral value I"),
        Column("D", "float64", "measure's", "C - I (a phase: the circular difference, in (-180, 180] deg)"),
        Column("LI", "float64", "-", "(C - I) / (C + I); NaN for a measure that can be negative or is a phase"),
        Column("contra_minutes", "float64", "min", "analysed minutes behind a rate on the contralateral side "
               "(NaN for other measures)"),
        Column("ipsi_minutes", "float64", "min", "the same, ipsilateral"),
        Column("n2_minutes", "float64", "min", "minutes of N2 in the night"),
        Column("score_pre", "float64", "-", "behavioural score before sleep"),
        Column("score_post", "float64", "-", "behavioural score after sleep"),
        Column("gain", "float64", "%", "100 (post - pre) / |pre| of the subject's learning night"),
    ),
)

STATS = TableSchema(
    name="stats",
    file="cohort_stats.csv",
    columns=(
        Column("night", "object", "-", "night tested, post-baseline for the within-subject contrast, or the "
               "nights a model spans (baseline+post)"),
        Column("pair", "object"),
        Column("role", "object"),
        Column("measure", "object"),
        Column("band", "object"),
        Column("window", "object", "-", "night (the whole night) or a window of windows.csv"),
        Column("test", "object", "-", "paired_t, wilcoxon, sign_flip, one_sample_t, pearson, steiger, circular, "
               "mixedlm, gee_poisson, gee_negbin..."),
        Column("variable", "object", "-", "C-I, LI, D, contra or ipsi; a model's term (contra-ipsi, left-right...)"),
        Column("n", "int64", "-", "subjects with a finite value"),
        Column("statistic", "float64", "-", "the test's statistic"),
        Column("p_value", "float64"),
        Column("p_fdr", "float64", "-", "Benjamini-Hochberg across pairs and bands"),
        Column("estimate", "float64", "measure's", "location: mean D, median D, mean LI, r; a model's coefficient "
               "(a rate ratio for the count models)"),
        Column("ci_low", "float64", "measure's", "bootstrap 95% interval of the estimate (a model's Wald interval)"),
        Column("ci_high", "float64", "measure's"),
        Column("effect_size", "float64", "-", "positive = contralateral larger / grows with gain"),
        Column("effect_ci_low", "float64"),
        Column("effect_ci_high", "float64"),
        Column("note", "object", "-", "why a test is missing or degenerate; a model's convergence"),
    ),
)
