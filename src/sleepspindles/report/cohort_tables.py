"""Shaping the tables of the cohort report (no rendering): statistics, models, clusters, references, status.

Every function takes a table of the cohort run (``cohort_stats.csv``, ``clusters.csv``,
``reference_robustness.csv``, ``status.csv``) and returns the frame a reader scans: readable
column names with units, an estimate with its interval as one cell, a caveat where a number is
easy to over-read (a correlation of few subjects).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..schema import EVENT_KINDS
from .tables import measure_label, measure_unit

__all__ = [
    "ALPHA",
    "CORRELATION_TESTS",
    "MODEL_TESTS",
    "SMALL_N",
    "STATUS_WORDS",
    "clusters_table",
    "correlation_caveat",
    "model_table",
    "robustness_table",
    "stats_table",
    "status_table",
    "window_measure_label",
    "windows_summary",
]

#: Fewest subjects for a correlation to be read without a caveat: below it r's interval spans
#: most of [-1, 1] (at n = 8 a true r of 0 gives |r| > 0.6 one time in ten).
SMALL_N = 20
#: Tests whose estimate is a correlation (or a difference of two).
CORRELATION_TESTS = ("pearson", "spearman", "partial_pearson", "steiger")
#: Tests shown in the model table rather than the per-night statistics.
MODEL_TESTS = ("mixedlm", "gee_poisson", "gee_negbin", "steiger", "circular")
#: How a batch status reads in the report: "skipped" rows were complete from an earlier run.
STATUS_WORDS = {"done": "done", "skipped": "reused", "failed": "failed"}
#: A window "differs" from no asymmetry when its paired-t p (FDR) is below this.
ALPHA = 0.05
# Tests whose estimate is in the measure's own unit (a mean, median or model difference of C - I).
_IN_MEASURE_UNIT = ("paired_t", "wilcoxon", "sign_flip", "motor_vs_control", "mixedlm", "circular")


def _interval(estimate: float, low: float, high: float) -> str:
    """``"1.32 [0.71, 1.93]"`` with three significant digits (no break inside), an en dash when the estimate is NaN."""
    if not np.isfinite(estimate):
        return "\u2013"
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{estimate:.3g}"
    return f"{estimate:.3g}\u00a0[{low:.3g},\u00a0{high:.3g}]"


def _unit(test: str, variable: str, measure: str) -> str:
    """The unit of a statistics row's estimate: the measure's for differences, none for LI, r and ratios."""
    if test in _IN_MEASURE_UNIT and variable not in ("LI",):
        return measure_unit(measure)
    return "-"


def correlation_caveat(test: str, n: int, estimate: float, low: float, high: float) -> str:
    """A caveat for a correlation of fewer than :data:`SMALL_N` subjects ("" otherwise).

    Parameters
    ----------
    test : str
        A ``test`` of ``cohort_stats.csv``; only :data:`CORRELATION_TESTS` get a caveat.
    n : int
        Subjects.
    estimate, low, high : float
        The estimate (no caveat when it is NaN: nothing was computed) and its bootstrap 95% interval.
    """
    if test not in CORRELATION_TESTS or not 0 < n < SMALL_N or not np.isfinite(estimate):
        return ""
    spread = f" (95% CI {low:+.2f} to {high:+.2f})" if np.isfinite(low) and np.isfinite(high) else ""
    return f"n = {n} < {SMALL_N}: exploratory{spread}"


def stats_table(stats: pd.DataFrame) -> pd.DataFrame:
    """The per-night tests of one measure: one line per test, estimate with its CI, p values and caveats.

    Parameters
    ----------
    stats : pandas.DataFrame
        Rows of ``cohort_stats.csv`` (model rows included or not; they are shown as they come).

    Returns
    -------
    pandas.DataFrame
        Columns ``night, pair, role, test, variable, n, estimate [95% CI], unit, effect size, p, p (FDR),
        caveat``.
    """
    if stats.empty:
        return pd.DataFrame()
    caveats = [correlation_caveat(t, n, e, lo, hi) or note for t, n, e, lo, hi, note in
               zip(stats["test"], stats["n"], stats["estimate"], stats["ci_low"], stats["ci_high"],
                   stats["note"].fillna(""))]
    return pd.DataFrame({
        "night": stats["night"].to_numpy(), "pair": stats["pair"].to_numpy(), "role": stats["role"].to_numpy(),
        "test": stats["test"].to_numpy(), "variable": stats["variable"].to_numpy(), "n": stats["n"].to_numpy(),
        "estimate [95% CI]": [_interval(e, lo, hi) for e, lo, hi in
                              zip(stats["estimate"], stats["ci_low"], stats["ci_high"])],
        "unit": [_unit(t, v, m) for t, v, m in zip(stats["test"], stats["variable"], stats["measure"])],
        "effect size": stats["effect_size"].to_numpy(float), "p": stats["p_value"].to_numpy(float),
        "p (FDR)": stats["p_fdr"].to_numpy(float), "caveat / note": caveats,
    })


def model_table(stats: pd.DataFrame, pair: str) -> dict[str, pd.DataFrame]:
    """The model and dependent-correlation rows of one pair (whole night, all spindles), one line per measure.

    Parameters
    ----------
    stats : pandas.DataFrame
        ``cohort_stats.csv``.
    pair : str
        The pair shown (the motor pair).

    Returns
    -------
    dict of str to pandas.DataFrame
        ``"mixed"``: one row per measure of ``mixedlm``, one column per term (``"estimate [95%
        CI], p"``) and the fit's notes; ``"counts"``: the same for
        ``gee_poisson`` and ``gee_negbin`` (rate ratios); ``"tests"``: ``steiger`` and
        ``circular`` rows, one column per night, with the small-n caveat of the correlations.
        Empty frames are left out.
    """
    rows = stats.loc[stats["test"].isin(MODEL_TESTS) & (stats["pair"] == pair) & (stats["band"] == "all")
                     & (stats["window"] == "night")]
    parts = {"mixed": _wide(rows.loc[rows["test"] == "mixedlm"], "variable"),
             "counts": _wide(rows.loc[rows["test"].isin(["gee_poisson", "gee_negbin"])], "variable"),
             "tests": _wide(rows.loc[rows["test"].isin(["steiger", "circular"])], "night")}
    return {key: table for key, table in parts.items() if len(table)}


def _wide(rows: pd.DataFrame, across: str) -> pd.DataFrame:
    """Rows of (measure, test) with one ``"estimate [CI], p"`` column per value of ``across``; n and notes per line.

    ``n`` is the subjects of each column's test: one number when every line has the same in all
    its columns, else one per column in their order (the header names them: a baseline with one
    subject is not the learning night's two). A note shared by every column of a line is shown
    once; others are prefixed with the columns they belong to. The ``test`` column is left out
    when every row has the same test (the caption names it).
    """
    if rows.empty:
        return pd.DataFrame()
    order = {t: k for k, t in enumerate(MODEL_TESTS)}
    keys = list(dict.fromkeys(rows[across]))
    rows = rows.assign(_t=rows["test"].map(order), _m=pd.factorize(rows["measure"])[0], cell=[
        f"{_interval(e, lo, hi)}, p\u00a0=\u00a0{p:.2g}" if np.isfinite(e) else "\u2013"
        for e, lo, hi, p in zip(rows["estimate"], rows["ci_low"], rows["ci_high"], rows["p_value"])])
    out, counts = [], []
    for (_, _, measure, test), group in rows.groupby(["_t", "_m", "measure", "test"], sort=True):
        line = {"measure (unit)": measure_label(measure), "test": test, "n": ""}
        line.update(dict(zip(group[across], group["cell"])))
        counts.append(dict(zip(group[across], group["n"].astype(int))))
        first = group.iloc[0]  # one caveat per line, its interval only when the line has one estimate
        spread = (first["ci_low"], first["ci_high"]) if len(group) == 1 else (np.nan, np.nan)
        caveat = correlation_caveat(test, int(group["n"].min()), float(first["estimate"]), *spread)
        line["note"] = "; ".join(x for x in [caveat, *_column_notes(group, across)] if x)
        out.append(line)
    table = pd.DataFrame(out)
    table = table.loc[:, [c for c in table.columns if c not in keys] + [k for k in keys if k in table.columns]]
    if all(len(set(n.values())) == 1 for n in counts):
        table["n"] = [next(iter(n.values())) for n in counts]
    else:
        table["n"] = [" / ".join(str(n[k]) if k in n else "\u2013" for k in keys) for n in counts]
        table = table.rename(columns={"n": f"n ({' / '.join(keys)})"})
    columns = [c for c in table.columns if c != "note" and not (c == "test" and table[c].nunique() == 1)] + ["note"]
    return table.loc[:, columns].fillna("\u2013")


def _column_notes(group: pd.DataFrame, across: str) -> list[str]:
    """The notes of one line: said once when every column has it, else each after the columns it is of."""
    columns: dict[str, list[str]] = {}
    for key, note in zip(group[across], group["note"].fillna("")):
        if note:
            columns.setdefault(note, []).append(str(key))
    if len(columns) == 1 and len(next(iter(columns.values()))) == len(group):
        return list(columns)
    # A sentence each: the notes themselves hold semicolons ("only 1 subject(s)...; at least 4 needed").
    return [" ".join(f"{', '.join(keys)}: {note}." for note, keys in columns.items())] if columns else []


def clusters_table(clusters: pd.DataFrame, night: str) -> pd.DataFrame:
    """The clusters of one night (or contrast), by measure and increasing p; untested measures with their reason."""
    rows = clusters.loc[clusters["night"] == night]
    if rows.empty:
        return pd.DataFrame()
    return pd.DataFrame({
        "measure": [measure_label(m, unit=False) for m in rows["measure"]], "cluster": rows["cluster"].to_numpy(),
        "sign": rows["sign"].to_numpy(), "pairs": rows["pairs"].str.replace(";", ", ").to_numpy(),
        "pairs in cluster": rows["n_pairs"].to_numpy(), "cluster mass (sum of t)": rows["statistic"].to_numpy(float),
        "p (family-wise)": rows["p_value"].to_numpy(float), "subjects": rows["n"].to_numpy(),
        "note": rows["note"].fillna("").to_numpy(),
    })


def robustness_table(robustness: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
    """The paired C - I test under each reference side by side, and which rows change sign.

    Parameters
    ----------
    robustness : pandas.DataFrame
        ``reference_robustness.csv``; whole-night rows only are shown (every window is in the file).

    Returns
    -------
    table : pandas.DataFrame
        One row per night, pair and measure; per reference a column named after it holding
        ``"C - I [95% CI], p = ..."``; ``unit``; ``sign changes``.
    marked : numpy.ndarray of bool
        The rows whose estimate has both signs across the references.
    """
    rows = robustness.loc[(robustness["window"] == "night") & (robustness["band"] == "all")]
    if rows.empty:
        return pd.DataFrame(), np.zeros(0, bool)
    key = ["night", "pair", "measure"]
    references = list(dict.fromkeys(rows["reference"]))
    out = rows.drop_duplicates(key).loc[:, key].reset_index(drop=True)
    indexed = rows.set_index([*key, "reference"])
    keys = list(out.itertuples(index=False, name=None))
    for mode in references:
        cells = [indexed.loc[(*k, mode)] if (*k, mode) in indexed.index else None for k in keys]
        out[mode] = [f"{_interval(c['estimate'], c['ci_low'], c['ci_high'])}, p\u00a0=\u00a0{c['p_value']:.2g}"
                     if c is not None and np.isfinite(c["estimate"]) else "\u2013" for c in cells]
    flips = rows.groupby(key, sort=False)["sign_changes"].any()
    marked = np.array([bool(flips.get(k, False)) for k in keys])
    out["unit"] = [measure_unit(m) for m in out["measure"]]
    out["measure"] = [measure_label(m, unit=False) for m in out["measure"]]
    out["sign changes"] = np.where(marked, "yes", "")
    return out, marked


def status_table(status: pd.DataFrame) -> pd.DataFrame:
    """Every recording's status as a reader wants it: "reused" not "skipped", no -1 counts, the whole error.

    Parameters
    ----------
    status : pandas.DataFrame
        ``status.csv`` (:data:`sleepspindles.schema.STATUS`; other frames are shown as they are).
    """
    if "status" not in status:
        return status
    table = status.copy()
    failed = table["status"].eq("failed").to_numpy()
    names = {"seconds": "time (s)", "dropped_channels": "dropped channels"}
    for kind in EVENT_KINDS:
        if kind.count_column in table:
            counts = pd.to_numeric(table[kind.count_column], errors="coerce").astype(float)
            table[kind.count_column] = counts.where(~failed & (counts >= 0))
            names[kind.count_column] = f"{kind.noun}s"
    table["status"] = table["status"].map(lambda s: STATUS_WORDS.get(s, s))
    table = table.drop(columns=[c for c in ("out_dir",) if c in table])  # the folder is subject_night
    return table.rename(columns=names)


def window_measure_label(measure: str) -> str:
    """``"spindle density (1/min)"``: a measure's words without its stage group (a window has its own), its unit."""
    words, unit = measure_label(measure, unit=False).split(",")[0], measure_unit(measure)
    return words + (f" ({unit})" if unit != "-" else "")


def windows_summary(rows: pd.DataFrame) -> str:
    """What the windows' paired tests of C - I show, in words taken from the numbers, never more.

    Per measure: the window with the largest |C - I| (its mean, bootstrap 95% interval, p and
    p (FDR)) and how many windows differ from 0 at p (FDR) < :data:`ALPHA`; when none does in
    any measure, a sentence says so first. When no window of any measure has a test, one sentence
    says so with the tests' notes (too few subjects...): "none differs" would claim a result.

    Parameters
    ----------
    rows : pandas.DataFrame
        ``paired_t`` rows (variable ``C-I``) of the windows other than the whole night.
    """
    if rows.empty:
        return ""
    rows = rows.reset_index(drop=True)
    if not np.isfinite(rows["estimate"].to_numpy(float)).any():
        best = rows.loc[rows["n"].idxmax()]  # its note ("only 2 subject(s)...") bounds every other window's
        why = f" even in the window with the most subjects: {best['note']}" if isinstance(best["note"], str) else ""
        return f"No window of any measure could be tested{why}."
    p_fdr = rows["p_fdr"] if "p_fdr" in rows else rows["p_value"]
    differs = pd.Series(np.nan_to_num(p_fdr.to_numpy(float), nan=1.0) < ALPHA, index=rows.index)
    several_nights = rows["night"].nunique() > 1
    parts = []
    for measure, group in rows.groupby("measure", sort=False):
        label = window_measure_label(measure)
        finite = group.loc[np.isfinite(group["estimate"].to_numpy(float))]
        if finite.empty:
            parts.append(f"{label}: no test (too few subjects).")
            continue
        top = finite.loc[finite["estimate"].abs().idxmax()]
        where = f"{top['window']} (night {top['night']})" if several_nights else str(top["window"])
        numbers = (f"{_interval(top['estimate'], top['ci_low'], top['ci_high'])}, p = {top['p_value']:.2g}, "
                   f"p (FDR) = {p_fdr[top.name]:.2g}")
        k = int(differs[group.index].sum())
        if k:
            parts.append(f"{label}: {k} of {len(group)} windows differ from 0; the largest |C-I| is in {where}: "
                         f"{numbers}.")
        else:
            parts.append(f"{label}: no window differs from 0 (largest |C-I|, in {where}: {numbers}).")
    verdict = "" if differs.any() else "No window of any measure differs from 0. "
    return verdict + " ".join(parts)
