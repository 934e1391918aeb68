"""The whole scalp: homologous pairs from electrode positions, pair adjacency, the cluster test, the maps.

The cluster test is checked at the values level on a real 64-channel layout (BioSemi 64, its
27 homologous pairs and their Delaunay adjacency): per subject and pair D ~ N(0, 1), plus a
planted contralateral effect of 0.8 SD over the seven pairs around C3/C4 (C1/C2, C5/C6, FC1/FC2,
FC3/FC4, CP1/CP2, CP3/CP4). It must find that region (a cluster with p < 0.05 within it) in
at least 90 % of 50 cohorts, and find any cluster in at most 5 % of 100 null cohorts (family-wise
error over the 27 pairs). 100 sign-flip permutations keep it fast; ``scripts/study_laterality.py``
runs the same with more.
"""

import numpy as np
import pandas as pd
import pytest
from _laterality_data import on_two_cores
from matplotlib.figure import Figure

from sleepspindles.analysis.scalp import (
    _montage,
    cluster_test,
    homologous_pairs,
    pair_adjacency,
    pick_montage,
    scalp_clusters,
)
from sleepspindles.analysis.scalp_maps import cohort_maps, pair_summary, scalp_map
from sleepspindles.config import Config
from sleepspindles.schema import CLUSTERS

BIOSEMI64 = [name for name, _ in _montage("biosemi64").values()]
MOTOR = ("C3/C4", "C1/C2", "C5/C6", "FC1/FC2", "FC3/FC4", "CP1/CP2", "CP3/CP4")


def test_pairs_of_a_10_20_layout_mirror_left_onto_right():
    channels = ["Fp1", "Fp2", "F7", "F3", "Fz", "F4", "F8", "T7", "C3", "Cz", "C4", "T8", "P7", "P3", "Pz", "P4", "P8",
                "O1", "O2", "EOG1"]
    pairs = homologous_pairs(channels)
    assert set(pairs) == {("Fp1", "Fp2"), ("F3", "F4"), ("F7", "F8"), ("C3", "C4"), ("T7", "T8"), ("P3", "P4"),
                          ("P7", "P8"), ("O1", "O2")}  # midline and EOG out
    assert pairs[0] == ("Fp1", "Fp2") and pairs[-1] == ("O1", "O2")  # front to back
    assert pick_montage(channels) == "standard_1005"
    # an electrode without its homologue gets no pair, nor a wrong neighbour
    assert ("C3", "C4") not in homologous_pairs([c for c in channels if c != "C4"])
    assert homologous_pairs(["C3", "C6"]) == []


def test_pairs_of_an_egi_net_are_found_from_positions_alone():
    names = [name for name, _ in _montage("GSN-HydroCel-128").values()]
    assert pick_montage(names) == "GSN-HydroCel-128"
    pairs = homologous_pairs(names)
    flat = [c for p in pairs for c in p]
    assert len(flat) == len(set(flat)) and len(pairs) > 50  # each electrode in one pair at most
    pos = {name: xyz for name, xyz in _montage("GSN-HydroCel-128").values()}
    for left, right in pairs:
        assert pos[left][0] < 0 < pos[right][0]
        assert np.linalg.norm(pos[left] * [-1, 1, 1] - pos[right]) <= 0.010


def test_pair_adjacency_joins_neighbouring_pairs_only():
    pairs = homologous_pairs(BIOSEMI64)
    assert len(pairs) == 27
    adjacency = pair_adjacency(pairs).toarray()
    index = {f"{a}/{b}": i for i, (a, b) in enumerate(pairs)}
    assert (adjacency == adjacency.T).all() and not adjacency.diagonal().any()
    assert adjacency[index["C3/C4"], index["C1/C2"]] and adjacency[index["C3/C4"], index["C5/C6"]]
    assert not adjacency[index["C3/C4"], index["O1/O2"]] and not adjacency[index["Fp1/Fp2"], index["P3/P4"]]


def _cohort_values(seed, effect, n=20):
    rng = np.random.default_rng(seed)
    labels = [f"{a}/{b}" for a, b in homologous_pairs(BIOSEMI64)]
    values = rng.normal(0.0, 1.0, (n, len(labels)))
    values[:, [labels.index(p) for p in MOTOR]] += effect
    return values, labels


def _significant(seed: int) -> tuple[bool, bool]:
    """One cohort (planted for seeds < 1000, null from 1000 on): (a cluster with p < 0.05, one in the motor region)."""
    values, labels = _cohort_values(seed, 0.8 if seed < 1000 else 0.0)
    _, clusters, _ = cluster_test(values, pair_adjacency(homologous_pairs(BIOSEMI64)), 100, seed)
    motor = [labels.index(p) for p in MOTOR]
    return (any(p < 0.05 for _, _, p in clusters),
            any(p < 0.05 and np.isin(idx, motor).any() for idx, _, p in clusters))


def test_cluster_test_finds_a_planted_motor_region_and_keeps_the_family_wise_error(record_property):
    outcome = on_two_cores(_significant, [*range(50), *range(1000, 1100)])
    found = sum(motor for _, motor in outcome[:50])
    false = sum(any_cluster for any_cluster, _ in outcome[50:])
    record_property("power_of_50", found)
    record_property("family_wise_errors_of_100", false)
    assert found >= 45, f"planted region found in {found}/50 cohorts"
    assert false <= 5, f"a cluster in {false}/100 null cohorts"


@pytest.fixture(scope="module")
def scalp_laterality():
    """A laterality table of a 64-channel cohort: 16 subjects, every pair (role scalp), planted motor effect."""
    values, labels = _cohort_values(7, 1.0, n=16)
    rows = [dict(subject=f"S{s:02d}", night="post", trained_hand="left", pair=pair, role="scalp", measure="density_n2",
                 band="all", window="night", contra=2.0 + values[s, k], ipsi=2.0, D=values[s, k],
                 LI=values[s, k] / (4.0 + values[s, k]))
            for s in range(16) for k, pair in enumerate(labels)]
    return pd.DataFrame(rows)


def test_scalp_clusters_table_and_maps(scalp_laterality):
    config = Config().replace("laterality", n_cluster_perm=200)
    clusters = scalp_clusters(scalp_laterality, config)
    assert list(clusters.columns) == list(CLUSTERS.names)
    best = clusters.iloc[0]
    assert best["p_value"] < 0.05 and best["sign"] == "+" and best["n"] == 16 and best["n_permutations"] == 200
    assert set(MOTOR) >= set(best["pairs"].split(";")) and "C3/C4" in best["pairs"].split(";")
    summary = pair_summary(scalp_laterality, "post", "density_n2", config=config)
    assert len(summary) == 27 and summary.set_index("pair").loc["C3/C4", "t"] > 2
    figure = scalp_map(summary.set_index("pair")["t"], clusters=best["pairs"].split(";"), title="density_n2")
    assert isinstance(figure, Figure) and len(figure.axes) == 2  # the map and its colour bar
    grid = cohort_maps(scalp_laterality, clusters, "post", variable="D")
    assert isinstance(grid, Figure) and len(grid.axes) == 2
    # too few pairs: a note instead of a test
    two = scalp_clusters(scalp_laterality[scalp_laterality["pair"].isin(["C3/C4", "F3/F4"])], config)
    assert len(two) == 1 and "at least 3 pairs" in two["note"].iloc[0] and np.isnan(two["p_value"].iloc[0])
    assert (clusters["note"] == "").all()  # 16 subjects can reach any p
    # 4 subjects with the same planted region: its p cannot go below 2/16, and the rows say so
    few = scalp_clusters(scalp_laterality[scalp_laterality["subject"] < "S04"], config)
    assert few["p_value"].min() >= 0.125 and few["note"].str.contains("cannot be below 0.125").all()
