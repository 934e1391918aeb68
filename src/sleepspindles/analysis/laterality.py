"""Hemispheric lateralisation of spindle measures relative to the trained hand.

For every homologous pair (left, right) of ``config.laterality.pairs`` present in a night, the
channel **contralateral** to the trained hand is the right-hemisphere one (C4) for left-hand
training and the left-hemisphere one (C3) for right-hand training; the other is **ipsilateral**.
Per subject, night, pair, measure and band (``all``, ``fast``, ``slow``):

* ``contra`` (C) and ``ipsi`` (I): the measure on each side;
* ``D = C - I`` (positive = contralateral larger);
* ``LI = (C - I) / (C + I)`` in [-1, 1] for non-negative measures (NaN when ``C + I = 0``).

Both sides must be measured on a common reference: C3-M2 and C4-M1 differ by the mastoids
alone (~40% in amplitude on the Nox file in ``../shared/data``). A pair whose two channels have
different references is skipped with a note, unless the run asked for ``load.reference:
as-recorded`` explicitly; ``reference`` on every row says which reference the values rest on.
A pair with a side that could not be measured (a dead or flat channel) is skipped with a note.

Measures (names of the ``measure`` column):

==============  ======  ===================================================================
measure         unit    definition
==============  ======  ===================================================================
density_n2      1/min   spindles detected in N2 per minute of N2
density_n2n3    1/min   spindles in N2 or N3 per minute of N2+N3
amplitude       uV      mean peak-to-peak amplitude of the N2 spindles
sigma_abs       uV^2    Welch power in the sigma band over ``laterality.sigma_stages`` epochs
sigma_rel       -       sigma power / power in ``laterality.total_band``
==============  ======  ===================================================================

Spindles at or above ``config.summary.fast_threshold`` Hz are ``fast``, the others ``slow``
(the spindle measures come from :func:`sleepspindles.analysis.summary.summarize`); for sigma power
``slow`` is ``[sigma_low, threshold]`` and ``fast`` is ``[threshold, sigma_high]``.

:func:`lateralise` is the public entry point: nights in, tidy tables out.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import Config
from ..detection.coverage import unmeasurable
from ..errors import param_error
from ..hypnogram import Hypnogram, Stage
from ..recording import Recording
from ..schema import LATERALITY
from .spectral import sigma_table
from .summary import UNMEASURABLE_NOTE, summarize

__all__ = [
    "MEASURES",
    "BANDS",
    "NightData",
    "Sides",
    "LateralityResult",
    "contra_ipsi",
    "night_from_tables",
    "night_data",
    "channel_measures",
    "night_laterality",
    "lateralise",
    "percent_gain",
]

logger = logging.getLogger(__name__)

MEASURES = ("density_n2", "density_n2n3", "amplitude", "sigma_abs", "sigma_rel")
BANDS = ("all", "fast", "slow")
# Where each spindle measure is read in the summary table: (stage label, column).
_SUMMARY_SOURCES = {
    "density_n2": ("N2", "density"),
    "density_n2n3": ("N2+N3", "density"),
    "amplitude": ("N2", "amplitude"),
}
_SIGMA_SOURCES = {"sigma_abs": "power", "sigma_rel": "relative"}


@dataclass(frozen=True)
class Sides:
    """The contralateral and ipsilateral channel of a pair for one trained hand."""

    contra: str
    ipsi: str


def contra_ipsi(pair: Sequence[str], trained_hand: str) -> Sides:
    """Map a (left, right) pair to contralateral/ipsilateral channels.

    Motor cortex controls the opposite hand, so left-hand training makes the right-hemisphere
    channel (C4 of C3/C4) contralateral, and right-hand training the left one (C3).

    Raises
    ------
    ConfigError
        For a hand other than ``"left"`` / ``"right"``.
    """
    left, right = pair
    if trained_hand == "left":
        return Sides(contra=right, ipsi=left)
    if trained_hand == "right":
        return Sides(contra=left, ipsi=right)
    raise param_error("trained_hand", "'left' or 'right'", trained_hand)


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
        The night's other tables by schema name (``so_summary``, ``swa``, ``coupling``), for the
        measures of slow waves and coupling.
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


def channel_measures(night: NightData) -> pd.DataFrame:
    """Long table ``channel, measure, band, value`` of every measure available for a night."""
    parts = []
    summary = night.summary
    for measure, (stage, column) in _SUMMARY_SOURCES.items():
        sel = summary.loc[summary["stage"] == stage, ["channel", "band", column]]
        parts.append(sel.rename(columns={column: "value"}).assign(measure=measure))
    for measure, column in _SIGMA_SOURCES.items():
        if len(night.sigma):
            sel = night.sigma.loc[:, ["channel", "band", column]]
            parts.append(sel.rename(columns={column: "value"}).assign(measure=measure))
    table = pd.concat(parts, ignore_index=True)
    table["value"] = table["value"].astype(np.float64)
    return table.loc[:, ["channel", "measure", "band", "value"]]


def _channels(night: NightData) -> set[str]:
    """Channels with data in a night."""
    return set(night.summary["channel"]) | set(night.sigma["channel"] if len(night.sigma) else ())


def night_laterality(
    night: NightData, config: Config | None = None, expected: Sequence[tuple[str, str]] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Contralateral/ipsilateral values, D and LI for every pair present in one night.

    Parameters
    ----------
    night : NightData
    config : Config, optional
        ``laterality.pairs``, and ``load.reference``: only ``"as-recorded"`` lets a pair on
        different references through.
    expected : sequence of (left, right), optional
        Pairs whose absence is worth a note (default: every configured pair); :func:`lateralise`
        passes the pairs recorded somewhere in the cohort so an absent montage is noted once.

    Returns
    -------
    table : pandas.DataFrame
        Columns :data:`sleepspindles.schema.LATERALITY` except ``role`` and ``gain`` (set cohort-wide by
        :func:`lateralise`); one row per pair x measure x band.
    problems : list of str
        Human-readable notes (missing pairs, pairs skipped and why, no N2).
    """
    config = config or Config()
    who = f"subject {night.subject!r} night {night.night!r}"
    values = channel_measures(night)
    present = _channels(night)
    channels = _channel_facts(night.summary)
    expected = config.laterality.pairs if expected is None else expected
    problems, rows = [], []
    missing = []
    for pair in config.laterality.pairs:
        absent = [c for c in pair if c not in present]
        if absent:
            if tuple(pair) in {tuple(p) for p in expected}:
                missing.append(f"{pair[0]}/{pair[1]} (no {', '.join(absent)})")
            continue
        reason = _pair_refusal(pair, channels, config.load.reference)
        if reason is not None:
            problems.append(f"{who}: pair {pair[0]}/{pair[1]} not lateralised: {reason}")
            continue
        rows.append(_pair_rows(values, pair, night, _pair_reference(pair, channels)))
    if missing:
        problems.append(f"{who}: electrode pair(s) not analysed: {'; '.join(missing)}")
    if night.n2_minutes <= 0:
        problems.append(f"{who}: no N2 epochs, so N2 spindle density and N2 sigma power are undefined (NaN)")
    if not rows:
        refused = len(problems) > bool(missing)
        problems.append(f"{who}: " + ("no electrode pair could be lateralised" if refused else
                                      "none of the configured electrode pairs is present") + "; night skipped")
        return pd.DataFrame(columns=[c for c in LATERALITY.names if c not in ("role", "gain")]), problems
    table = pd.concat(rows, ignore_index=True)
    table.insert(0, "subject", night.subject)
    table.insert(1, "night", night.night)
    table.insert(2, "trained_hand", night.trained_hand)
    table["n2_minutes"] = night.n2_minutes
    table["score_pre"] = night.score_pre
    table["score_post"] = night.score_post
    for name, value in night.covariates.items():
        table[name] = value
    return table, problems


@dataclass(frozen=True)
class _ChannelFacts:
    reference: str
    unmeasurable: str  # the reason, or "" when the channel was measured


def _channel_facts(summary: pd.DataFrame) -> dict[str, _ChannelFacts]:
    """Reference and measurability of every channel of a summary table."""
    facts = {}
    for channel, rows in summary.groupby("channel", sort=False):
        notes = [n for n in rows["note"].astype(str) if n.startswith(UNMEASURABLE_NOTE)]
        reason = notes[0][len(UNMEASURABLE_NOTE):] if notes else ""
        facts[str(channel)] = _ChannelFacts(str(rows["reference"].iloc[0]), reason)
    return facts


def _pair_refusal(pair: Sequence[str], channels: Mapping[str, _ChannelFacts], mode: str) -> str | None:
    """Why a pair cannot be compared (a side not measurable, different references), or None."""
    dead = [f"{c} not measurable ({channels[c].unmeasurable})" for c in pair if channels[c].unmeasurable]
    if dead:
        return "; ".join(dead)
    refs = [channels[c].reference for c in pair]
    if refs[0] != refs[1] and mode != "as-recorded":
        return (f"its channels have different references ({pair[0]} against {refs[0]}, {pair[1]} against "
                f"{refs[1]}), which biases left/right comparisons, and no common reference could be computed "
                "from the file; set load.reference: as-recorded (--reference as-recorded) to compare them anyway")
    return None


def _pair_reference(pair: Sequence[str], channels: Mapping[str, _ChannelFacts]) -> str:
    """The reference a pair's values rest on: the common one, or ``"M2 vs M1"`` (left first)."""
    left, right = (channels[c].reference for c in pair)
    return left if left == right else f"{left} vs {right}"


def _pair_rows(values: pd.DataFrame, pair: Sequence[str], night: NightData, reference: str) -> pd.DataFrame:
    """Rows of one pair: contra/ipsi values side by side, D and LI."""
    sides = contra_ipsi(pair, night.trained_hand)
    key = ["measure", "band"]
    contra = values.loc[values["channel"] == sides.contra, [*key, "value"]].rename(columns={"value": "contra"})
    ipsi = values.loc[values["channel"] == sides.ipsi, [*key, "value"]].rename(columns={"value": "ipsi"})
    merged = contra.merge(ipsi, on=key, how="outer")
    rank = {name: i for i, name in enumerate((*MEASURES, *BANDS))}  # documented order, not alphabetical
    merged = merged.sort_values(key, key=lambda column: column.map(rank), kind="stable").reset_index(drop=True)
    c, i = merged["contra"].to_numpy(), merged["ipsi"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        total = c + i
        merged["D"] = c - i
        merged["LI"] = np.where(total != 0, (c - i) / np.where(total != 0, total, 1.0), np.nan)
    merged.insert(0, "pair", f"{pair[0]}/{pair[1]}")
    merged.insert(1, "contra_channel", sides.contra)
    merged.insert(2, "ipsi_channel", sides.ipsi)
    merged.insert(3, "reference", reference)
    return merged


@dataclass(frozen=True)
class LateralityResult:
    """Tables of a cohort lateralisation.

    Attributes
    ----------
    laterality : pandas.DataFrame
        One row per subject x night x pair x measure x band (:data:`sleepspindles.schema.LATERALITY` +
        covariates).
    stats : pandas.DataFrame
        Cohort statistics (:data:`sleepspindles.schema.STATS`).
    specificity : pandas.DataFrame
        The main statistics with the pairs side by side (motor pair first).
    problems : tuple of str
        Notes about skipped pairs, nights without N2, missing scores.
    """

    laterality: pd.DataFrame
    stats: pd.DataFrame
    specificity: pd.DataFrame
    problems: tuple[str, ...] = ()


def lateralise(nights: Sequence[NightData], config: Config | None = None) -> LateralityResult:
    """Lateralisation table and cohort statistics for a set of subject-nights.

    Parameters
    ----------
    nights : sequence of NightData
        One per subject and night (see :func:`night_data`).
    config : Config, optional
        ``laterality`` section (pairs, seed, resamples, baseline night) and
        ``summary.fast_threshold``.

    Returns
    -------
    LateralityResult
        Positive ``D``, ``LI`` and ``effect_size`` (C vs I tests) mean contralateral larger.
    """
    from .stats import cohort_stats, specificity_table

    config = config or Config()
    recorded = set().union(*(_channels(n) for n in nights)) if nights else set()
    expected = [p for p in config.laterality.pairs if set(p) & recorded]
    never = [f"{a}/{b}" for a, b in config.laterality.pairs if (a, b) not in expected]
    tables, problems = [], []
    if never:
        problems.append(f"electrode pair(s) {', '.join(never)} in no recording of the cohort; not analysed")
    for night in nights:
        table, notes = night_laterality(night, config, expected)
        problems.extend(notes)
        if len(table):
            tables.append(table)
    if not tables:
        empty = pd.DataFrame(columns=list(LATERALITY.names))
        return LateralityResult(empty, cohort_stats(empty, config), pd.DataFrame(), tuple(problems))
    laterality = pd.concat(tables, ignore_index=True)
    laterality.insert(4, "role", _roles(laterality["pair"], config))
    gain, notes = _subject_gain(nights, config.laterality.baseline_night)
    problems.extend(notes)
    position = list(laterality.columns).index("score_post") + 1
    laterality.insert(position, "gain", laterality["subject"].map(gain).astype(np.float64))
    for note in problems:
        logger.warning(note)
    stats = cohort_stats(laterality, config)
    return LateralityResult(laterality, stats, specificity_table(stats), tuple(problems))


def _roles(pairs: pd.Series, config: Config) -> np.ndarray:
    """``"motor"`` for the first configured pair present in the cohort, ``"control"`` otherwise."""
    labels = [f"{a}/{b}" for a, b in config.laterality.pairs]
    present = set(pairs)
    motor = next((p for p in labels if p in present), None)
    return np.where(pairs.to_numpy() == motor, "motor", "control")


def percent_gain(score_pre, score_post) -> np.ndarray:
    """Behavioural gain in percent: ``100 * (post - pre) / |pre|``; NaN when missing or pre = 0."""
    pre = np.asarray(score_pre, dtype=np.float64)
    post = np.asarray(score_post, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        gain = 100.0 * (post - pre) / np.abs(pre)
    return np.where(pre == 0, np.nan, gain)


def _subject_gain(nights: Sequence[NightData], baseline: str) -> tuple[dict[str, float], list[str]]:
    """Percent gain per subject, from a learning night's scores (a baseline row's as fallback)."""
    gain: dict[str, float] = {}
    for night in sorted(nights, key=lambda n: n.night == baseline):
        value = float(percent_gain(night.score_pre, night.score_post))
        if night.subject not in gain or (np.isnan(gain[night.subject]) and not np.isnan(value)):
            gain[night.subject] = value
    notes = [
        f"subject {s!r}: behavioural gain unavailable (score_pre/score_post missing or score_pre = 0); "
        "excluded from the correlations with gain"
        for s, g in gain.items()
        if np.isnan(g)
    ]
    return gain, notes
