"""The whole scalp: homologous pairs of any layout, their adjacency, and a cluster test across pairs.

Homologous pairs come from the electrode positions of a standard montage (mne): an electrode of
the left hemisphere (x < -5 mm) and the right-hemisphere electrode nearest to its mirror image
(x negated) form a pair when that electrode is within :data:`TOLERANCE_MM` of the mirror image
and the two are each other's nearest mirror (so two left electrodes never share a homologue).
The montage is the one naming most of the recorded channels (``standard_1005`` for 10-20,
10-10 and 10-05 names, an EGI HydroCel net for ``E1``...), so no pair list has to be typed.

Two pairs are adjacent when their left electrodes, or their right ones, are neighbours
(:func:`mne.channels.find_ch_adjacency`: the Delaunay triangulation of the positions, or the
layout's template). :func:`scalp_clusters` runs :func:`mne.stats.permutation_cluster_1samp_test`
on the per-subject ``D`` of every pair: pairs whose one-sample t exceeds the two-sided
``p = 0.05`` threshold (df = subjects - 1) and are adjacent form clusters, each weighed by the
sum of its t; a cluster's p is the share of sign-flip permutations (under the null, ``D`` and
``-D`` are equally likely per subject) whose largest cluster is at least as heavy. This controls
the family-wise error over pairs, which per-pair tests with FDR do not.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import sparse
from scipy import stats as sps

from ..config import Config
from ..schema import CLUSTERS
from .measures import NIGHT, measure_kind
from .stats_tests import p_floor_note

__all__ = ["TOLERANCE_MM", "MONTAGES", "pick_montage", "positions", "homologous_pairs", "pair_adjacency",
           "pair_values", "cluster_test", "scalp_clusters"]

#: Largest distance (mm) between an electrode's mirror image and its homologue.
TOLERANCE_MM = 10.0
#: Montages whose names are looked up in the recorded channels (the best-covering one is used);
#: ``standard_1005`` is the 10-05 template mne 1.13 renamed ``colin27_1005``.
MONTAGES = ("standard_1005", "GSN-HydroCel-32", "GSN-HydroCel-64_1.0", "GSN-HydroCel-128", "GSN-HydroCel-256",
            "biosemi64", "biosemi128")
_MIDLINE_M = 0.005
_CLUSTER_P = 0.05
# The columns of a CLUSTERS row for a measure that could not be tested (its note says why).
_UNTESTED = {"cluster": 0, "sign": "", "pairs": "", "n_pairs": 0, "statistic": np.nan, "p_value": np.nan,
             "n_permutations": 0, "threshold": np.nan}


@functools.lru_cache(maxsize=None)
def _montage(name: str) -> dict[str, tuple[str, np.ndarray]]:
    """Lower-case channel name -> (name as the montage spells it, position in metres)."""
    import mne

    if name == "standard_1005" and "colin27_1005" in mne.channels.get_builtin_montages():
        name = "colin27_1005"  # the same positions, under the name mne uses from 1.13 on
    found = mne.channels.make_standard_montage(name).get_positions()["ch_pos"]
    return {key.lower(): (key, np.asarray(xyz, dtype=np.float64)) for key, xyz in found.items()}


def pick_montage(channels: Sequence[str]) -> str:
    """The montage of :data:`MONTAGES` naming most of ``channels`` (the first listed on a tie: the
    10-05 template before the nets, the smaller net before the larger one)."""
    wanted = {c.lower() for c in channels}
    return max(MONTAGES, key=lambda m: (len(wanted & set(_montage(m))), -MONTAGES.index(m)))


def positions(channels: Sequence[str], montage: str | None = None) -> dict[str, np.ndarray]:
    """Position (x right, y front, z up; metres) of every channel the montage knows, by channel name."""
    table = _montage(montage or pick_montage(channels))
    return {c: table[c.lower()][1] for c in channels if c.lower() in table}


def homologous_pairs(
    channels: Sequence[str], montage: str | None = None, tolerance_mm: float = TOLERANCE_MM
) -> list[tuple[str, str]]:
    """(left, right) homologous pairs of a layout, front to back then medial to lateral.

    Parameters
    ----------
    channels : sequence of str
        Recorded channel names (those the montage does not know are ignored).
    montage : str, optional
        An mne standard montage; the best-covering one of :data:`MONTAGES` when omitted.
    tolerance_mm : float
        Largest distance between an electrode's mirror image and its homologue.
    """
    pos = positions(channels, montage)
    names = list(pos)
    xyz = np.array([pos[c] for c in names]).reshape(-1, 3)
    left = np.flatnonzero(xyz[:, 0] < -_MIDLINE_M)
    right = np.flatnonzero(xyz[:, 0] > _MIDLINE_M)
    if not left.size or not right.size:
        return []
    mirror = xyz * np.array([-1.0, 1.0, 1.0])
    distance = np.linalg.norm(mirror[left][:, None, :] - xyz[right][None, :, :], axis=-1)  # (left, right)
    best_right, best_left = distance.argmin(axis=1), distance.argmin(axis=0)
    pairs = [(int(left[i]), int(right[j])) for i, j in enumerate(best_right)
             if best_left[j] == i and distance[i, j] <= tolerance_mm / 1000.0]
    pairs.sort(key=lambda p: (-round(xyz[p[0], 1], 3), -xyz[p[0], 0]))
    return [(names[a], names[b]) for a, b in pairs]


def pair_adjacency(pairs: Sequence[tuple[str, str]], montage: str | None = None) -> sparse.csr_array:
    """Adjacency of pairs: their left electrodes, or their right ones, are neighbours.

    Returns
    -------
    scipy.sparse.csr_array of bool, shape (n_pairs, n_pairs)
        Without the diagonal.
    """
    import mne

    channels = [c for pair in pairs for c in pair]
    pos = positions(channels, montage)
    info = mne.create_info(channels, 100.0, "eeg")
    with warnings.catch_warnings(), mne.utils.use_log_level("error"):
        warnings.simplefilter("ignore")  # mne notes that it triangulates when no template fits
        info.set_montage(mne.channels.make_dig_montage(ch_pos=pos, coord_frame="head"))
        channel_adjacency, names = mne.channels.find_ch_adjacency(info, "eeg")
    index = {name: i for i, name in enumerate(names)}
    adjacent = channel_adjacency.toarray().astype(bool)
    side = [np.array([index[p[k]] for p in pairs]) for k in (0, 1)]
    out = adjacent[np.ix_(side[0], side[0])] | adjacent[np.ix_(side[1], side[1])]
    np.fill_diagonal(out, False)
    return sparse.csr_array(out)


def pair_values(frame: pd.DataFrame, variable: str = "D") -> tuple[pd.DataFrame, str]:
    """Subjects x pairs table of one variable, completed for a cluster test, and what was dropped.

    Pairs measured in fewer than half the subjects are dropped, then subjects missing a remaining
    pair (a cluster test needs every subject at every pair).
    """
    wide = frame.pivot_table(index="subject", columns="pair", values=variable, aggfunc="first")
    wide = wide.loc[:, wide.notna().mean() >= 0.5]
    complete = wide.dropna()
    dropped = []
    if wide.shape[1] < frame["pair"].nunique():
        dropped.append(f"{frame['pair'].nunique() - wide.shape[1]} pair(s) measured in under half the subjects")
    if len(complete) < len(wide):
        dropped.append(f"{len(wide) - len(complete)} subject(s) missing a pair")
    return complete.sort_index(), ("dropped " + " and ".join(dropped)) if dropped else ""


def cluster_test(
    values: np.ndarray, adjacency: sparse.csr_array, n_permutations: int, seed: int, p_threshold: float = _CLUSTER_P
) -> tuple[np.ndarray, list[tuple[np.ndarray, float, float]], float]:
    """Sign-flip cluster-mass test across pairs (:func:`mne.stats.permutation_cluster_1samp_test`).

    Parameters
    ----------
    values : numpy.ndarray, shape (n_subjects, n_pairs)
        One value per subject and pair (D), no NaN.
    adjacency : scipy.sparse array, shape (n_pairs, n_pairs)
    n_permutations, seed : int
    p_threshold : float
        Two-sided p of the per-pair one-sample t that admits a pair to a cluster.

    Returns
    -------
    t : numpy.ndarray, shape (n_pairs,)
        One-sample t per pair.
    clusters : list of (pair indices, mass, p)
        Sorted by p.
    threshold : float
        The cluster-forming |t|.
    """
    import inspect

    from mne.stats import permutation_cluster_1samp_test

    threshold = float(sps.t.ppf(1 - p_threshold / 2, values.shape[0] - 1))
    # mne >= 1.12 takes the generator as rng=, earlier versions as seed=
    draw = {"rng" if "rng" in inspect.signature(permutation_cluster_1samp_test).parameters else "seed": seed}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # "no clusters found": an empty result, not a problem
        t, clusters, p, _ = permutation_cluster_1samp_test(
            values, threshold=threshold, n_permutations=n_permutations, tail=0, adjacency=adjacency,
            out_type="indices", verbose=False, **draw)
    found = [(np.asarray(c[0]), float(t[c[0]].sum()), float(pv)) for c, pv in zip(clusters, p)]
    return t, sorted(found, key=lambda c: c[2]), threshold


def scalp_clusters(laterality: pd.DataFrame, config: Config | None = None) -> pd.DataFrame:
    """Cluster tests of D across every pair, per night (and contrast) and measure, whole night, all spindles.

    Parameters
    ----------
    laterality : pandas.DataFrame
        The laterality table (every pair, configured and ``scalp``).
    config : Config, optional
        ``laterality.n_cluster_perm``, ``seed``, ``min_subjects`` and ``baseline_night``.

    Returns
    -------
    pandas.DataFrame
        :data:`sleepspindles.schema.CLUSTERS`: one row per cluster (any p), or one row with a
        ``note`` when a measure could not be tested (fewer than 3 pairs or too few subjects).
        Phases are not tested (a circular D has no cluster mass).
    """
    from .stats import with_contrasts

    config = config or Config()
    lat = config.laterality
    if laterality.empty:
        return CLUSTERS.empty()
    frame = with_contrasts(laterality, lat.baseline_night)
    frame = frame.loc[(frame["band"] == "all") & (frame["window"] == NIGHT)
                      & (frame["measure"].map(measure_kind) != "circular")]
    rows = []
    for (night, measure), group in frame.groupby(["night", "measure"], sort=False):
        head = dict(night=night, window=NIGHT, measure=measure, band="all", variable="D")
        values, dropped = pair_values(group)
        pairs = [tuple(p.split("/")) for p in values.columns]
        known = positions([c for p in pairs for c in p])
        keep = [i for i, p in enumerate(pairs) if p[0] in known and p[1] in known]
        if len(keep) < 3 or len(values) < lat.min_subjects:
            rows.append({**head, **_UNTESTED, "n": len(values), "note": (
                f"{len(keep)} pair(s) with positions and {len(values)} subject(s): at least 3 pairs and "
                f"{lat.min_subjects} subjects needed")})
            continue
        labels = values.columns[keep]
        t, clusters, threshold = cluster_test(values.to_numpy(float)[:, keep], pair_adjacency([pairs[i] for i in keep]),
                                              lat.n_cluster_perm, lat.seed)
        common = {**head, "n": len(values), "n_permutations": lat.n_cluster_perm, "threshold": threshold,
                  "note": "; ".join(filter(None, [dropped, p_floor_note(len(values))]))}
        rows += [{**common, "cluster": k + 1, "sign": "+" if mass > 0 else "-", "pairs": ";".join(labels[idx]),
                  "n_pairs": idx.size, "statistic": mass, "p_value": p}
                 for k, (idx, mass, p) in enumerate(clusters)]
    return CLUSTERS.conform(pd.DataFrame(rows, columns=list(CLUSTERS.names)))
