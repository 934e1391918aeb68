"""Models of the hemispheric asymmetry over nights and hand groups (statsmodels).

A contralateral excess is confounded with any fixed left/right asymmetry of the measure (spindle
density is often larger over one hemisphere whatever the task; Bodizs et al. 2017): in a cohort
trained with one hand, ``contra - ipsi`` is the learning effect plus or minus that asymmetry.
Two designs separate them, and the models estimate both from every subject-night at once:

* a **baseline night**: the learning effect is the change of ``contra - ipsi`` from the baseline
  night (the ``contra-ipsi:<night>`` terms), which a fixed asymmetry cancels from;
* **both hands**: with the hand coded +1 (right-trained) / -1 (left-trained), ``contra - ipsi``
  is ``e + hand * (L - R)``, so the hand x hemisphere interaction estimates the fixed
  left-minus-right asymmetry (``left-right``) and the hemisphere term the contralateral excess
  ``e`` averaged over the hands (``contra-ipsi``).

``mixedlm`` (every measure but phases): a linear mixed model of the value with the hemisphere
(contra 1 / ipsi 0) crossed with the night (treatment coding, the baseline night as reference)
and the hand, the model covariates (``laterality.model_covariates``, centred) and a random
intercept per subject. It is fitted to the subject-night differences ``D = contra - ipsi``: when
both sides are measured in every subject-night, the hemisphere terms of the model of the values
with random subject, subject x night and subject x hemisphere effects are exactly the terms of
``D ~ night x hand + covariates + (1 | subject)`` (the two sides' sum carries everything else),
so this is that model, faster and without its convergence failures (the tests check the
equivalence against the full long-format fit). Wald intervals and p use a t distribution with
``subjects - fixed effects`` degrees of freedom (conservative for small cohorts). With one row per
subject it is ordinary least squares (the paired t-test and its hand interaction).

Degenerate mixed fits are not reported as findings. An optimiser's fit is used only if it
converged, its standard errors are finite, its random-subject variance is not below statsmodels'
singularity tolerance, and its fixed effects are the generalised least squares solution under its
own variance estimates. The last two checks catch statsmodels' treatment of a random-subject
variance of (numerically) 0: it pseudo-inverts the variance as if it were infinite, so the
between-subject terms (``contra-ipsi``, ``left-right``) come back as exactly 0 with p = 1 and a
"converged" flag, whatever the mean of D (1-3 % of lbfgs fits at 3-12 subjects). Such a fit is
skipped and named in the note (``lbfgs: degenerate (...)``) and the next optimiser is tried. If
none is usable, the rows carry no estimate and no p (NaN, not p = 1) and the note says why. A
variance on its boundary that passes the check is reported: the fit is then least squares of the
subject-nights, with the conservative subject-based degrees of freedom, and the note keeps
statsmodels' "boundary" message.

``gee_poisson`` / ``gee_negbin`` (rates): a count model of the events on each side, ``count =
rate * analysed minutes``, log link, ``log(analysed minutes)`` as offset, the same terms (each
crossed with the hemisphere), estimated by GEE clustered by subject (exchangeable working
correlation). Estimates are rate ratios: ``contra/ipsi`` and ``left/right``. The negative-binomial
variance uses the moment estimate of the overdispersion from the Poisson fit (reported in the
note). The sandwich (robust) standard errors of GEE are too small when there are few clusters, so
the models use the bias-reduced sandwich of Mancl & DeRouen (2001) (``cov_type="bias_reduced"``).
Wald p and intervals use a t distribution with ``subjects - 1`` degrees of freedom, not the
normal. statsmodels' GEE always uses the normal (``use_t=False``), so the t values are computed
here. On 1000 seeded null cohorts per design (6 or 10 subjects; post night only, or baseline + post)
the type I error at 5 % was 5.4-9.7 % with the normal and 2.4-5.7 % with t(subjects - 1). The
robust sandwich with the normal gave 11-22 %. With ``subjects - fixed effects`` degrees of freedom
the test was over-conservative (0.4 % at 6 subjects over two nights). Below :data:`GEE_SMALL_N`
subjects each GEE row still carries a note that its p-values are approximate and that the paired
test is preferred.

Each reported term is a :class:`~.stats_tests.StatsRow` (``test`` the model, ``variable`` the
term, ``night`` the nights modelled, joined by ``+``), with a note on convergence.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..config import Config
from .measures import measure_kind
from .stats_tests import StatsRow, stats_row, too_few

__all__ = ["GEE_SMALL_N", "HAND_CODE", "count_models", "design", "mixed_model", "model_rows"]

#: Hand coding: its hemisphere interaction is then the left-minus-right asymmetry.
HAND_CODE = {"right": 1.0, "left": -1.0}
#: Fewest subjects (GEE clusters) for GEE rows without the small-sample note. Under it even the
#: corrected sandwich is approximate. This is the threshold under which the report marks
#: correlations exploratory (``report.cohort_tables.SMALL_N``).
GEE_SMALL_N = 20
#: Optimisers tried in turn for the mixed model.
_OPTIMISERS = ("bfgs", "lbfgs", "powell", "nm")
_GROUP = ["pair", "role", "measure", "band", "window"]


def design(frame: pd.DataFrame, reference: str, covariates: Sequence[str] = ()) -> tuple[pd.DataFrame, dict, list[str]]:
    """Fixed effects of the asymmetry for subject-night rows.

    Parameters
    ----------
    frame : pandas.DataFrame
        One row per subject and night (``night``, ``trained_hand`` and the covariates).
    reference : str
        The reference night (the baseline when recorded).
    covariates : sequence of str
        Columns of ``frame`` added as centred fixed effects (categorical ones as indicators).

    Returns
    -------
    exog : pandas.DataFrame
        ``const``, ``night[<n>]`` for every other night, ``hand`` when both hands occur, their
        products, then the covariates.
    terms : dict of str to (str, str)
        Reported columns -> (difference label, ratio label): ``const`` -> (``contra-ipsi``,
        ``contra/ipsi``), ``night[post]`` -> (``contra-ipsi:post``...), ``hand`` ->
        (``left-right``, ``left/right``).
    notes : list of str
        Covariates left out and why.
    """
    nights = [n for n in dict.fromkeys(frame["night"]) if n != reference]
    exog = pd.DataFrame({"const": 1.0}, index=frame.index)
    terms = {"const": ("contra-ipsi", "contra/ipsi")}
    for night in nights:
        exog[f"night[{night}]"] = (frame["night"] == night).astype(float)
        terms[f"night[{night}]"] = (f"contra-ipsi:{night}", f"contra/ipsi:{night}")
    if frame["trained_hand"].nunique() > 1:
        hand = frame["trained_hand"].map(HAND_CODE).astype(float)
        for column in list(exog.columns):
            name = "hand" if column == "const" else f"{column}:hand"
            exog[name] = exog[column] * hand
            left_right = terms[column][0].replace("contra-ipsi", "left-right")
            terms[name] = (left_right, left_right.replace("left-right", "left/right"))
    notes = []
    for name in covariates:
        if name not in frame.columns:
            notes.append(f"covariate {name!r} not in the manifest")
            continue
        values = frame[name]
        numeric = pd.to_numeric(values, errors="coerce")
        block = (numeric - numeric.mean()).to_frame(name) if numeric.notna().all() else pd.get_dummies(
            values.astype(str), prefix=name, drop_first=True, dtype=float)
        block = block.loc[:, block.std() > 0]
        if block.empty:
            notes.append(f"covariate {name!r} is constant")
        exog = pd.concat([exog, block], axis=1)
    return exog, terms, notes


def _t_rows(test: str, labels: dict, params, bse, df: int, n: int, scale: float, note: str) -> list[StatsRow]:
    """Rows of the reported terms of a linear model, with t-based intervals and p."""
    q = sps.t.ppf(0.975, df)
    rows = []
    for column, (label, _) in labels.items():
        b, se = float(params[column]), float(bse[column])
        if not se > 0:  # identical values: nothing to test
            rows.append(stats_row(test, label, n, estimate=b, note=f"{note}; no residual variance"))
            continue
        rows.append(stats_row(test, label, n, statistic=b / se, p_value=float(2 * sps.t.sf(abs(b / se), df)),
                              estimate=b, ci_low=b - q * se, ci_high=b + q * se,
                              effect_size=b / math.sqrt(scale) if scale > 0 else math.nan, note=note))
    return rows


def mixed_model(frame: pd.DataFrame, reference: str, config: Config) -> list[StatsRow]:
    """The ``mixedlm`` rows of one pair x measure x band x window (subject-night rows with ``D``)."""
    lat = config.laterality
    frame = frame.loc[np.isfinite(frame["D"].to_numpy(float))]
    n = frame["subject"].nunique()
    exog, terms, notes = design(frame, reference, lat.model_covariates)
    df = n - exog.shape[1]
    if n < lat.min_subjects or df < 1:
        return too_few([("mixedlm", label) for label, _ in terms.values()], n, max(lat.min_subjects, exog.shape[1] + 1))
    y = frame["D"].to_numpy(float)
    if frame["subject"].is_unique:
        import statsmodels.api as sm

        fit = sm.OLS(y, exog).fit()
        return _t_rows("mixedlm", terms, fit.params, fit.bse, df, n, float(fit.scale),
                       "; ".join(["one row per subject: ordinary least squares", *notes]))
    fit, note = _fit_mixedlm(y, exog, frame["subject"].to_numpy())
    if fit is None:
        return [stats_row("mixedlm", label, n, note=note) for label, _ in terms.values()]
    scale = float(fit.scale) + float(np.asarray(fit.cov_re)[0, 0])  # the total variance of D
    return _t_rows("mixedlm", terms, fit.fe_params, fit.bse_fe, df, n, scale, "; ".join([note, *notes]))


def _fit_mixedlm(y: np.ndarray, exog: pd.DataFrame, groups: np.ndarray):
    """REML fit with a random intercept per subject, trying optimisers in turn; (fit or None, note)."""
    from numpy.linalg import LinAlgError
    from statsmodels.regression.mixed_linear_model import MixedLM

    failures = []
    for method in _OPTIMISERS:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = MixedLM(y, exog, groups=groups).fit(reml=True, method=[method])
            except (LinAlgError, ValueError) as exc:
                failures.append(f"{method}: {exc}")
                continue
            finite = bool(np.all(np.isfinite(fit.bse_fe)))  # a negative variance gives NaN errors (and a warning)
        if not fit.converged:
            failures.append(f"{method}: not converged")
        elif not finite:
            failures.append(f"{method}: degenerate (non-finite standard errors)")
        elif (off := _gls_mismatch(fit, y, exog.to_numpy(float), groups)) > 1e-3 or _zero_variance(fit):
            failures.append(f"{method}: degenerate (fixed effects {off:.3g} SE off the GLS solution; "
                            f"random-subject variance {float(np.asarray(fit.cov_re)[0, 0]):.3g})")
        else:
            messages = sorted({str(w.message).split(".")[0] for w in caught if "boundary" in str(w.message)})
            rejected = [f"rejected {f}" for f in failures if "degenerate" in f]  # not the merely unconverged
            return fit, "; ".join([f"converged ({method})", *messages, *rejected])
    if any("degenerate" in f for f in failures):
        return None, "degenerate fit, no estimate: " + "; ".join(failures)
    return None, "did not converge: " + "; ".join(failures)


def _zero_variance(fit) -> bool:
    """Whether statsmodels took the random-subject variance for singular (its ``get_fe_params`` tolerance)."""
    return float(np.asarray(fit.cov_re_unscaled)[0, 0]) < 1e-10


def _gls_mismatch(fit, y: np.ndarray, x: np.ndarray, groups: np.ndarray) -> float:
    """Largest gap, in standard errors, between a fit's fixed effects and the GLS solution of its variances.

    The random intercept model's fixed effects are the GLS estimate under the fitted random-subject
    variance ``r`` and residual variance ``s``. Within a subject of ``m`` rows, ``V = s I + r 11'`` and
    ``V^-1 = (I - r / (s + m r) 11') / s``. A zero ``r`` makes this ordinary least squares, where
    statsmodels' pseudo-inverse zeroes the between-subject terms instead. Any gap but rounding
    means the reported estimates are not the fit's.
    """
    r, s = max(float(np.asarray(fit.cov_re)[0, 0]), 0.0), float(fit.scale)
    if not s > 0:
        return math.inf
    xtx, xty = np.zeros((x.shape[1], x.shape[1])), np.zeros(x.shape[1])
    for group in pd.unique(groups):
        xi, yi = x[groups == group], y[groups == group]
        c = r / (s + len(yi) * r)
        xw = xi - c * np.outer(np.ones(len(yi)), xi.sum(axis=0))  # (I - c 11') X; V^-1 up to the 1/s
        xtx += xw.T @ xi
        xty += xw.T @ yi
    try:
        gls = np.linalg.solve(xtx, xty)
    except np.linalg.LinAlgError:
        return math.inf
    bse = np.asarray(fit.bse_fe, float)
    return float(np.max(np.abs(gls - np.asarray(fit.fe_params, float)) / np.where(bse > 0, bse, 1.0)))


def count_models(frame: pd.DataFrame, reference: str, config: Config) -> list[StatsRow]:
    """The ``gee_poisson`` and ``gee_negbin`` rows of one rate (subject-night rows with both sides' minutes)."""
    import statsmodels.api as sm
    from numpy.linalg import LinAlgError
    from statsmodels.genmod.generalized_estimating_equations import GEE
    from statsmodels.tools.sm_exceptions import PerfectSeparationError

    lat = config.laterality
    sides = []
    for contra, value, minutes in ((1.0, "contra", "contra_minutes"), (0.0, "ipsi", "ipsi_minutes")):
        sides.append(frame.assign(_contra=contra, _rate=frame[value], _minutes=frame[minutes]))
    long = pd.concat(sides, ignore_index=True)
    long = long.loc[np.isfinite(long["_rate"].to_numpy(float)) & (long["_minutes"].to_numpy(float) > 0)]
    n = long["subject"].nunique()
    base, terms, notes = design(long, reference, lat.model_covariates)
    contra = base.mul(long["_contra"], axis=0).add_prefix("contra*")
    exog = pd.concat([base, contra], axis=1)
    ratio_terms = {f"contra*{column}": labels for column, labels in terms.items()}
    tests = [(test, label) for test in ("gee_poisson", "gee_negbin") for _, label in terms.values()]
    if n < lat.min_subjects or n <= exog.shape[1] // 2:
        return too_few(tests, n, max(lat.min_subjects, exog.shape[1] // 2 + 1))
    counts = np.round(long["_rate"].to_numpy(float) * long["_minutes"].to_numpy(float))
    offset = np.log(long["_minutes"].to_numpy(float))
    groups = long["subject"].to_numpy()
    rows, alpha = [], math.nan
    for test in ("gee_poisson", "gee_negbin"):
        family = sm.families.Poisson() if test == "gee_poisson" else sm.families.NegativeBinomial(alpha=alpha)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                fit = GEE(counts, exog, groups=groups, offset=offset, family=family,
                          cov_struct=sm.cov_struct.Exchangeable()).fit(cov_type="bias_reduced")
            except (LinAlgError, ValueError, PerfectSeparationError) as exc:  # degenerate counts (all zero...)
                return [stats_row(t, label, n, note=f"not estimable: {exc}") for t, label in tests]
            if not np.all(np.isfinite(fit.bse)):  # a negative corrected variance
                return [stats_row(t, label, n, note="not estimable: singular covariance") for t, label in tests]
        if test == "gee_poisson":
            mu = fit.fittedvalues
            alpha = max(float(np.mean(((counts - mu) ** 2 - mu) / mu**2)), 1e-8)  # moment estimate
        small = [f"few subjects (n = {n} < {GEE_SMALL_N}): GEE p-values are approximate; prefer the paired test"]
        note = "; ".join(["converged" if fit.converged else "did not converge",
                          *sorted({str(w.message).split(".")[0] for w in caught}), *notes]
                         + ([f"alpha = {alpha:.3g}"] if test == "gee_negbin" else []) + (small if n < GEE_SMALL_N else []))
        rows += _ratio_rows(test, ratio_terms, fit, n, note)
    return rows


def _ratio_rows(test: str, terms: dict, fit, n: int, note: str) -> list[StatsRow]:
    """Rate-ratio rows of a log-link fit: estimate and interval exponentiated, effect size the log ratio.

    The statistic is the Wald ratio of the fit's (bias-reduced) standard error, referred to a t
    distribution with ``n - 1`` degrees of freedom (``n`` subjects, the clusters). It is not the
    normal that statsmodels' GEE results use.
    """
    df = max(n - 1, 1)
    q = sps.t.ppf(0.975, df)
    rows = []
    for column, (_, label) in terms.items():
        b, se = float(fit.params[column]), float(fit.bse[column])
        with np.errstate(over="ignore"):  # a diverging fit's huge bound is an infinite ratio, not an error
            low, high = np.exp([b - q * se, b + q * se])
        rows.append(stats_row(test, label, n, statistic=b / se, p_value=float(2 * sps.t.sf(abs(b / se), df)),
                              estimate=float(np.exp(b)), ci_low=float(low), ci_high=float(high), effect_size=b,
                              note=note))
    return rows


def model_rows(laterality: pd.DataFrame, config: Config | None = None) -> list[StatsRow]:
    """Every model of the module docstring for every configured pair, measure, band and window.

    Parameters
    ----------
    laterality : pandas.DataFrame
        The laterality table (one row per subject x night x pair x measure x band x window).

    Returns
    -------
    list of StatsRow
        With their group columns set; ``night`` names the nights modelled, reference first.
    """
    from dataclasses import replace

    config = config or Config()
    frame = laterality.loc[laterality["role"] != "scalp"]
    frame = frame.loc[frame["measure"].map(measure_kind) != "circular"]
    if frame.empty:
        return []
    baseline = config.laterality.baseline_night
    nights = list(dict.fromkeys(frame["night"]))
    reference = baseline if baseline in nights else nights[0]
    label = "+".join([reference, *(n for n in nights if n != reference)])
    rows = []
    for key, group in frame.groupby(_GROUP, sort=False):
        head = dict(zip(_GROUP, key), night=label)
        found = mixed_model(group, reference, config)
        if measure_kind(head["measure"]) == "rate":
            found += count_models(group, reference, config)
        rows += [replace(row, **head) for row in found]
    return rows
