"""The local measures compared across hemispheres, and where each is read in a night's tables.

Whole-night measures (``window`` = ``night``):

================  ======  ========  ==============================================================
measure           unit    kind      read from
================  ======  ========  ==============================================================
density_n2        1/min   rate      summary.csv, N2: spindles per analysed minute
density_n2n3      1/min   rate      summary.csv, N2+N3
amplitude         uV      ratio     summary.csv, N2: mean peak-to-peak amplitude of the broadband signal
                                    over each spindle (YASA's): background and slow waves included
sigma_abs         uV^2    ratio     sigma.csv: sigma power over ``laterality.sigma_stages``
sigma_rel         -       ratio     sigma.csv: sigma / broadband power
so_density        1/min   rate      so_summary.csv, N2+N3: slow oscillations per analysed minute
so_amplitude      uV      ratio     so_summary.csv, N2+N3: mean SO peak-to-peak amplitude
swa_abs           uV^2    ratio     swa.csv, NREM: slow-wave activity
swa_rel           -       ratio     swa.csv, NREM: SWA / 0.5-30 Hz power
coupled_density   1/min   rate      coupling.csv, N2+N3: SO-coupled spindles per analysed minute
coupling_ppc      -       signed    coupling.csv, N2+N3: pairwise phase consistency (Vinck 2010)
coupling_phase    deg     circular  coupling.csv, N2+N3: preferred SO phase of the coupled spindles
train_density     1/min   rate      trains.csv, N2+N3: spindle trains per analysed minute
train_fraction    -       ratio     trains.csv, N2+N3: share of the spindles that are in a train
================  ======  ========  ==============================================================

Per window of ``windows.csv`` (``cycle 1``..., ``first 20 min N2``, ``first 60 min NREM``):
``spindle_density``, ``so_density`` and ``coupled_density`` (rates, from ``windows.csv``) and
``swa_abs`` / ``swa_rel`` (from ``swa.csv``, whose cycle and early windows are the same).

``amplitude`` follows YASA's definition, so it carries the background under each spindle as well
(on the demo about twice the planted spindle's size): the band-limited measure of sigma activity
is ``sigma_abs``.

Kinds: a ``rate`` is a count per analysed minute (its minutes are kept, for the count models);
``ratio`` and ``rate`` values are non-negative, so the laterality index ``(C - I) / (C + I)`` is
defined for them; ``signed`` values (PPC) can be negative and get no LI; a ``circular`` value
is an angle, compared as the circular difference (never D or LI of degrees). Coupling strength
is PPC, whose expectation does not depend on the number of spindles. Neither the mean vector
length (it grows as spindles get fewer, so a side with fewer spindles would look more strongly
coupled) nor the surrogate z (the evidence of coupling on one channel, which grows with the
square root of the number of coupled spindles: a side with more spindles and the same phase
concentration would look more strongly coupled) is compared across hemispheres; both stay in
``coupling.csv``.

:class:`NightData` is what lateralisation needs from one subject's night, built from a run
folder's stored tables (:func:`night_from_tables`) or from events and the signal
(:func:`night_data`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import pandas as pd

from ..config import Config
from ..detection.coverage import unmeasurable
from ..errors import param_error
from ..hypnogram import Hypnogram, Stage
from ..recording import Recording
from .spectral import sigma_table
from .summary import summarize

__all__ = ["MAIN_MEASURE", "Measure", "MEASURES", "WINDOW_MEASURES", "BANDS", "NIGHT", "NightData", "night_from_tables", "night_data",
           "measure_kind", "channel_measures"]

#: ``window`` of the whole-night rows.
NIGHT = "night"
#: The measure the reports and the console summary lead with: spindle density over every searched stage.
MAIN_MEASURE = "density_n2n3"
BANDS = ("all", "fast", "slow")
_COLUMNS = ["channel", "measure", "band", "window", "value", "minutes"]


@dataclass(frozen=True)
class Measure:
    """A whole-night measure: its table (by schema name), column and row, and its kind."""

    name: str
    unit: str
    kind: str  # rate, ratio, signed or circular (the module docstring says what each allows)
    table: str
    column: str
    where: tuple[tuple[str, str], ...] = ()


_N2N3 = (("stage", "N2+N3"),)
MEASURES: tuple[Measure, ...] = (
    Measure("density_n2", "1/min", "rate", "spindle_summary", "density", (("stage", "N2"),)),
    Measure("density_n2n3", "1/min", "rate", "spindle_summary", "density", _N2N3),
    Measure("amplitude", "uV", "ratio", "spindle_summary", "amplitude", (("stage", "N2"),)),
    Measure("sigma_abs", "uV^2", "ratio", "sigma", "power"),
    Measure("sigma_rel", "-", "ratio", "sigma", "relative"),
    Measure("so_density", "1/min", "rate", "so_summary", "density", _N2N3),
    Measure("so_amplitude", "uV", "ratio", "so_summary", "ptp", _N2N3),
    Measure("swa_abs", "uV^2", "ratio", "swa", "power", (("window", "NREM"),)),
    Measure("swa_rel", "-", "ratio", "swa", "relative", (("window", "NREM"),)),
    Measure("coupled_density", "1/min", "rate", "coupling", "coupled_density", _N2N3),
    Measure("coupling_ppc", "-", "signed", "coupling", "ppc", _N2N3),
    Measure("coupling_phase", "deg", "circular", "coupling", "phase_deg", _N2N3),
    Measure("train_density", "1/min", "rate", "trains", "train_density", _N2N3),
    Measure("train_fraction", "-", "ratio", "trains", "fraction_in_trains", _N2N3),
)
#: Measures per window, with their kind.
WINDOW_MEASURES = {"spindle_density": "rate", "so_density": "rate", "coupled_density": "rate",
                   "swa_abs": "ratio", "swa_rel": "ratio"}
_KINDS = {**{m.name: m.kind for m in MEASURES}, **WINDOW_MEASURES}
# The swa.csv windows that are windows of windows.csv (its stage windows are not).
_SWA_WINDOW_PREFIXES = ("cycle ", "first ")


@dataclass(frozen=True)
class NightData:
    """What lateralisation needs from one subject's night.

    Attributes
    ----------
    subject, night : str
    trained_hand : str
        ``"left"`` or ``"right"``.
    summary : pandas.DataFrame
        :func:`sleepspindles.analysis.summary.summarize` table (densities, amplitudes, per band).
    sigma : pandas.DataFrame
        :func:`sleepspindles.analysis.spectral.sigma_power` table (may be empty: no sigma measures).
    n2_minutes : float
        Minutes of N2 (covariate of the partial correlations).
    score_pre, score_post : float
        Behavioural scores (NaN when missing).
    covariates : mapping
        Extra manifest columns (age, sex...), copied to every output row.
    tables : mapping of str to pandas.DataFrame
        The night's other tables by schema name (``so_summary``, ``swa``, ``coupling``,
        ``trains``, ``windows``...), for the measures of slow waves, coupling, spindle trains
        and the windows of the night.
    """

    subject: str
    night: str
    trained_hand: str
    summary: pd.DataFrame
    sigma: pd.DataFrame
    n2_minutes: float
    score_pre: float = math.nan
    score_post: float = math.nan
    covariates: Mapping[str, object] = field(default_factory=dict)
    tables: Mapping[str, pd.DataFrame] = field(default_factory=dict)


def night_from_tables(
    summary: pd.DataFrame,
    sigma: pd.DataFrame,
    n2_minutes: float,
    *,
    subject: str,
    night: str,
    trained_hand: str,
    score_pre: float = math.nan,
    score_post: float = math.nan,
    covariates: Mapping[str, object] | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
) -> NightData:
    """Build a :class:`NightData` from one recording's stored tables (no signal needed).

    Parameters
    ----------
    summary : pandas.DataFrame
        :func:`sleepspindles.analysis.summary.summarize` table (``summary.csv`` of a run folder).
    sigma : pandas.DataFrame
        :func:`sigma_table` table (``sigma.csv``); may be empty (no sigma measures).
    n2_minutes : float
        Minutes of N2 in the hypnogram (``run.json`` ``staging.stage_minutes.N2``).
    subject, night, trained_hand, score_pre, score_post, covariates, tables
        See :class:`NightData`.

    Raises
    ------
    ConfigError
        When a table lacks the columns lateralisation reads.
    """
    needed = {"summary": (summary, ("channel", "stage", "band", "density", "amplitude", "reference", "note")),
              "sigma": (sigma, ("channel", "band", "power", "relative"))}
    for name, (table, columns) in needed.items():
        missing = [c for c in columns if c not in table.columns]
        if missing:
            raise param_error(name, f"a table with columns {list(columns)}", f"no {missing}")
    return NightData(
        subject=str(subject),
        night=str(night),
        trained_hand=trained_hand,
        summary=summary,
        sigma=sigma,
        n2_minutes=float(n2_minutes),
        score_pre=float(score_pre),
        score_post=float(score_post),
        covariates=dict(covariates or {}),
        tables=dict(tables or {}),
    )


def night_data(
    events: pd.DataFrame,
    hypnogram: Hypnogram,
    recording: Recording,
    *,
    subject: str,
    night: str,
    trained_hand: str,
    score_pre: float = math.nan,
    score_post: float = math.nan,
    covariates: Mapping[str, object] | None = None,
    summary: pd.DataFrame | None = None,
    config: Config | None = None,
) -> NightData:
    """Build a :class:`NightData` from events, stages and the signal.

    Computes the summary (unless given) and :func:`sigma_table`, then calls
    :func:`night_from_tables`.

    Parameters
    ----------
    events : pandas.DataFrame
        Standard events table (:data:`sleepspindles.schema.SPINDLES`).
    hypnogram : Hypnogram
        Stages aligned to ``recording``.
    recording : Recording
        Gives the EEG channels and the signal for sigma power.
    subject, night, trained_hand, score_pre, score_post, covariates
        See :class:`NightData`.
    summary : pandas.DataFrame, optional
        An already computed summary of ``events`` (the pipeline's); computed when omitted.
    config : Config, optional
    """
    config = config or Config()
    if summary is None:
        summary = summarize(events, hypnogram, recording, config)
    return night_from_tables(
        summary,
        sigma_table(recording, hypnogram, config, skip=list(unmeasurable(recording))),
        hypnogram.minutes(Stage.N2),
        subject=subject,
        night=night,
        trained_hand=trained_hand,
        score_pre=score_pre,
        score_post=score_post,
        covariates=covariates,
    )


def measure_kind(name: str) -> str:
    """``rate``, ``ratio``, ``signed`` or ``circular`` (``ratio`` for a measure not listed here)."""
    return _KINDS.get(name, "ratio")


def _tables(night: NightData) -> dict[str, pd.DataFrame]:
    return {"spindle_summary": night.summary, "sigma": night.sigma, **night.tables}


def _night_rows(tables: dict[str, pd.DataFrame], measure: Measure) -> pd.DataFrame | None:
    """One measure's rows (channel, band, value, minutes), or None when its table is absent."""
    table = tables.get(measure.table)
    if table is None or not len(table):
        return None
    sel = table
    for column, value in measure.where:
        sel = sel.loc[sel[column] == value]
    out = pd.DataFrame({"channel": sel["channel"].to_numpy(),
                        "band": sel["band"].to_numpy() if "band" in sel else "all",
                        "value": sel[measure.column].to_numpy(np.float64), "minutes": np.nan})
    if measure.kind == "rate":
        out["minutes"] = _minutes(sel, tables["spindle_summary"]).to_numpy(np.float64)
    return out


def _minutes(rows: pd.DataFrame, summary: pd.DataFrame) -> pd.Series:
    """The analysed minutes of rate rows: their own column, or the spindle summary's (coupling.csv,
    whose rates are over the spindle detection's analysed time) for the same channel and stage."""
    if "minutes" in rows:
        return rows["minutes"]
    lookup = summary.drop_duplicates(["channel", "stage"]).set_index(["channel", "stage"])["minutes"]
    return pd.Series(lookup.reindex(pd.MultiIndex.from_frame(rows[["channel", "stage"]])).to_numpy(), index=rows.index)


def _window_rows(tables: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    """The per-window rows: windows.csv's rates (its whole-night rows are the night measures) and
    swa.csv's cycle and early windows."""
    parts = []
    windows = tables.get("windows")
    if windows is not None and len(windows):
        sel = windows.loc[windows["window"] != NIGHT]
        parts.append(pd.DataFrame({"channel": sel["channel"], "measure": sel["measure"], "band": "all",
                                   "window": sel["window"], "value": sel["value"], "minutes": sel["minutes"]}))
    swa = tables.get("swa")
    if swa is not None and len(swa):
        sel = swa.loc[swa["window"].astype(str).str.startswith(_SWA_WINDOW_PREFIXES)]
        for name, column in (("swa_abs", "power"), ("swa_rel", "relative")):
            parts.append(pd.DataFrame({"channel": sel["channel"], "measure": name, "band": "all",
                                       "window": sel["window"], "value": sel[column], "minutes": np.nan}))
    return parts


def channel_measures(night: NightData) -> pd.DataFrame:
    """Long table ``channel, measure, band, window, value, minutes`` of every measure of a night.

    ``minutes`` are the analysed minutes behind a rate (NaN for other kinds); measures whose
    table the night lacks (no slow oscillations, an older run folder) are absent, not NaN.
    """
    tables = _tables(night)
    parts = []
    for measure in MEASURES:
        rows = _night_rows(tables, measure)
        if rows is not None:
            parts.append(rows.assign(measure=measure.name, window=NIGHT))
    parts += _window_rows(tables)
    if not parts:
        return pd.DataFrame(columns=_COLUMNS)
    table = pd.concat([p.loc[:, _COLUMNS] for p in parts], ignore_index=True)
    table["value"] = table["value"].astype(np.float64)
    table["minutes"] = table["minutes"].astype(np.float64)
    return table
