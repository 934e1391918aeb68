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

Measures (the ``measure`` column) are those of :mod:`.measures`: spindle density, amplitude and
sigma power, slow-oscillation density and amplitude, SWA, coupled-spindle density, coupling
strength (PPC, surrogate z) and preferred phase, spindle trains, for the whole night
(``window`` = ``night``) and per window of ``windows.csv`` (sleep cycles, the early night). A
phase is compared as the circular difference ``D`` in (-180, 180] degrees (its ``LI`` is NaN,
as for measures that can be negative). Rates keep their analysed minutes per side
(``contra_minutes``, ``ipsi_minutes``), which the count models use as exposure.

Pairs: the configured ``laterality.pairs`` (the first present is the ``motor`` pair, the others
``control``) and, beside them, every homologous pair that the electrode positions of a standard
montage give for the recorded layout (:func:`.scalp.homologous_pairs`; role ``scalp``), so a
64-channel cohort is lateralised over the whole scalp and tested with the cluster test of
:func:`.scalp.scalp_clusters`.

:func:`lateralise` is the public entry point: nights in, tidy tables out (what a night holds,
:class:`NightData`, and how it is built from a run folder's tables, live in :mod:`.measures`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..config import Config
from ..errors import param_error
from ..schema import CLUSTERS, LATERALITY
from .circular import circular_difference
from .measures import (
    BANDS,
    MEASURES,
    NIGHT,
    WINDOW_MEASURES,
    NightData,
    channel_measures,
    measure_kind,
    night_data,
    night_from_tables,
)
from .summary import UNMEASURABLE_NOTE

__all__ = [
    "NightData",
    "Sides",
    "LateralityResult",
    "contra_ipsi",
    "night_from_tables",
    "night_data",
    "night_laterality",
    "lateralise",
    "percent_gain",
]

logger = logging.getLogger(__name__)

# Row order of a night's table: the documented order of measures and bands, not alphabetical.
_RANK = {name: i for i, name in enumerate(dict.fromkeys((*(m.name for m in MEASURES), *WINDOW_MEASURES, *BANDS)))}


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


def _channels(night: NightData) -> set[str]:
    """Channels with data in a night."""
    return set(night.summary["channel"]) | set(night.sigma["channel"] if len(night.sigma) else ())


def night_laterality(
    night: NightData,
    config: Config | None = None,
    expected: Sequence[tuple[str, str]] | None = None,
    pairs: Sequence[tuple[str, str]] | None = None,
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
    pairs : sequence of (left, right), optional
        Pairs to lateralise (default: the configured ones); :func:`lateralise` adds the scalp's.

    Returns
    -------
    table : pandas.DataFrame
        Columns :data:`sleepspindles.schema.LATERALITY` except ``role`` and ``gain`` (set cohort-wide by
        :func:`lateralise`); one row per pair x measure x band x window.
    problems : list of str
        Human-readable notes (missing pairs, pairs skipped and why, no N2).
    """
    config = config or Config()
    who = f"subject {night.subject!r} night {night.night!r}"
    values = channel_measures(night)
    present = _channels(night)
    channels = _channel_facts(night.summary)
    expected = {tuple(p) for p in (config.laterality.pairs if expected is None else expected)}
    problems, rows = [], []
    missing = []
    for pair in config.laterality.pairs if pairs is None else pairs:
        absent = [c for c in pair if c not in present]
        if absent:
            if tuple(pair) in expected:
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
    ordered = [c for c in LATERALITY.names if c in table.columns]
    table = table.loc[:, ordered]
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
    """Rows of one pair: contra/ipsi values (and analysed minutes) side by side, D and LI."""
    sides = contra_ipsi(pair, night.trained_hand)
    key = ["measure", "band", "window"]
    side = {name: values.loc[values["channel"] == channel, [*key, "value", "minutes"]].rename(
        columns={"value": name, "minutes": f"{name}_minutes"}) for name, channel in (("contra", sides.contra),
                                                                                  ("ipsi", sides.ipsi))}
    merged = side["contra"].merge(side["ipsi"], on=key, how="outer")
    windows = {w: i for i, w in enumerate(dict.fromkeys((NIGHT, *merged["window"])))}  # the night, then in order
    order = merged["measure"].map(_RANK) * 1000 + merged["window"].map(windows) * 10 + merged["band"].map(_RANK)
    merged = merged.iloc[np.argsort(order.to_numpy(), kind="stable")].reset_index(drop=True)
    c, i = merged["contra"].to_numpy(), merged["ipsi"].to_numpy()
    kind = merged["measure"].map(measure_kind).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        total = c + i
        phase = np.rad2deg(circular_difference(np.deg2rad(c), np.deg2rad(i)))
        merged["D"] = np.where(kind == "circular", phase, c - i)
        defined = np.isin(kind, ("rate", "ratio")) & (total != 0)
        merged["LI"] = np.where(defined, (c - i) / np.where(defined, total, 1.0), np.nan)
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
        One row per subject x night x pair x measure x band x window
        (:data:`sleepspindles.schema.LATERALITY` + covariates).
    stats : pandas.DataFrame
        Cohort statistics (:data:`sleepspindles.schema.STATS`) of the configured pairs.
    specificity : pandas.DataFrame
        The main statistics with the pairs side by side (motor pair first).
    problems : tuple of str
        Notes about skipped pairs, nights without N2, missing scores.
    clusters : pandas.DataFrame
        Whole-scalp cluster tests (:data:`sleepspindles.schema.CLUSTERS`).
    """

    laterality: pd.DataFrame
    stats: pd.DataFrame
    specificity: pd.DataFrame
    problems: tuple[str, ...] = ()
    clusters: pd.DataFrame = field(default_factory=CLUSTERS.empty)


def lateralise(nights: Sequence[NightData], config: Config | None = None) -> LateralityResult:
    """Lateralisation table, cohort statistics and whole-scalp clusters for a set of subject-nights.

    Parameters
    ----------
    nights : sequence of NightData
        One per subject and night (see :func:`night_data`).
    config : Config, optional
        ``laterality`` section (pairs, seed, resamples, baseline night, model covariates) and
        ``summary.fast_threshold``.

    Returns
    -------
    LateralityResult
        Positive ``D``, ``LI`` and ``effect_size`` (C vs I tests) mean contralateral larger.
    """
    from .scalp import homologous_pairs, scalp_clusters
    from .stats import cohort_stats, specificity_table

    config = config or Config()
    configured = [tuple(p) for p in config.laterality.pairs]
    recorded = set().union(*(_channels(n) for n in nights)) if nights else set()
    expected = [p for p in configured if set(p) & recorded]
    never = [f"{a}/{b}" for a, b in configured if (a, b) not in expected]
    known = {frozenset(p) for p in configured}
    pairs = [*configured, *(p for p in homologous_pairs(sorted(recorded)) if frozenset(p) not in known)]
    tables, problems = [], []
    if never:
        problems.append(f"electrode pair(s) {', '.join(never)} in no recording of the cohort; not analysed")
    for night in nights:
        table, notes = night_laterality(night, config, expected, pairs)
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
    problems.extend(_contrast_notes(nights, config.laterality.baseline_night))
    position = list(laterality.columns).index("score_post") + 1
    laterality.insert(position, "gain", laterality["subject"].map(gain).astype(np.float64))
    for note in problems:
        logger.warning(note)
    stats = cohort_stats(laterality, config)
    return LateralityResult(laterality, stats, specificity_table(stats), tuple(problems),
                            scalp_clusters(laterality, config))


def _roles(pairs: pd.Series, config: Config) -> np.ndarray:
    """``motor`` for the first configured pair present in the cohort, ``control`` for the other
    configured pairs, ``scalp`` for the pairs found from the electrode positions."""
    labels = [f"{a}/{b}" for a, b in config.laterality.pairs]
    present = set(pairs)
    motor = next((p for p in labels if p in present), None)
    values = pairs.to_numpy()
    return np.where(values == motor, "motor", np.where(np.isin(values, labels), "control", "scalp"))


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
    given: dict[str, dict[str, float]] = {}  # subject -> night -> the gain its row's scores give
    for night in sorted(nights, key=lambda n: n.night == baseline):
        value = float(percent_gain(night.score_pre, night.score_post))
        if not np.isnan(value):
            given.setdefault(night.subject, {})[night.night] = value
        if night.subject not in gain or (np.isnan(gain[night.subject]) and not np.isnan(value)):
            gain[night.subject] = value
    notes = [
        f"subject {s!r}: behavioural gain unavailable (score_pre/score_post missing or score_pre = 0); "
        "excluded from the correlations with gain"
        for s, g in gain.items()
        if np.isnan(g)
    ]
    notes += [
        f"subject {s!r}: its rows' scores give different gains ("
        + ", ".join(f"{n} {v:.1f}%" for n, v in by_night.items()) + f"); {gain[s]:.1f}% (the first learning night's) "
        "is used: check the manifest"
        for s, by_night in given.items()
        if len(set(by_night.values())) > 1
    ]
    return gain, notes


def _contrast_notes(nights: Sequence[NightData], baseline: str) -> list[str]:
    """Who the learning-minus-baseline contrasts leave out, and why there are none.

    A subject lacking the baseline night or a learning night drops out of that contrast (its
    n falls); without a night named ``baseline`` there is no contrast at all.
    """
    by_subject: dict[str, set[str]] = {}
    for night in nights:
        by_subject.setdefault(night.subject, set()).add(night.night)
    names = sorted({n for held in by_subject.values() for n in held})
    if baseline not in names:
        near = [n for n in names if n.casefold() == baseline.casefold()]
        if near:
            return [f"night {near[0]!r} is not laterality.baseline_night {baseline!r} (labels are compared exactly): "
                    "no learning-minus-baseline contrast"]
        return [f"no night is named {baseline!r} (laterality.baseline_night): no learning-minus-baseline contrast"
                ] if len(names) > 1 else []
    notes = []
    for learning in (n for n in names if n != baseline):
        contrast = f"{learning}-{baseline}"
        notes += [f"subject {s!r} has no {baseline!r} night: left out of {contrast}"
                  for s, held in sorted(by_subject.items()) if learning in held and baseline not in held]
        lacking = sorted(s for s, held in by_subject.items() if baseline in held and learning not in held)
        if lacking:
            notes.append(f"{contrast}: {len(lacking)} subject(s) with a {baseline!r} night have no {learning!r} night "
                         f"({', '.join(lacking)}): left out of it")
    return notes
