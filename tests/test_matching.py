"""One-to-one IoU matching, checked against hand-computed cases and a brute-force twin."""

import itertools

import numpy as np
import pytest

from sleepspindles.errors import ConfigError
from sleepspindles.evaluation.matching import match_events, pairwise_iou


def test_hand_computed_case():
    m = match_events([0, 5, 10], [1, 6, 11], [0.1, 5.5, 20, 0.5], [1.1, 6.5, 21, 1.0])
    assert m.ref.tolist() == [0, 1] and m.det.tolist() == [0, 1]
    assert m.iou[0] == pytest.approx(0.9 / 1.1)
    assert m.iou[1] == pytest.approx(0.5 / 1.5)
    assert m.precision == pytest.approx(2 / 4) and m.recall == pytest.approx(2 / 3)
    assert m.f1 == pytest.approx(4 / 7)


def test_one_detection_cannot_match_two_references():
    # One long detection overlaps two references; only the better overlap is matched.
    m = match_events([0, 1.2], [1, 2], [0, 0], [1.1, 0.05], iou=0.2)
    assert m.n_matched == 1 and m.ref.tolist() == [0] and m.det.tolist() == [0]


def test_threshold_inclusive_and_empty_inputs():
    m = match_events([0], [1], [0.8], [1.8], iou=0.2)  # IoU = 0.2/1.8 < 0.2
    assert m.n_matched == 0
    m = match_events([0], [1], [0.5], [1.0], iou=0.5)  # IoU exactly 0.5
    assert m.n_matched == 1
    empty = match_events([], [], [1], [2])
    assert empty.n_matched == 0 and empty.f1 == 0 and np.isnan(empty.recall)
    with pytest.raises(ConfigError):
        match_events([0], [1], [0], [1], iou=0)


def _brute_pairs(rs, re, ds, de):
    out = {}
    for i, j in itertools.product(range(len(rs)), range(len(ds))):
        inter = min(re[i], de[j]) - max(rs[i], ds[j])
        if inter > 0:
            out[(i, j)] = inter / (max(re[i], de[j]) - min(rs[i], ds[j]))
    return out


def test_pairwise_iou_equals_brute_force():
    rng = np.random.default_rng(3)
    rs = np.sort(rng.uniform(0, 100, 60)); re = rs + rng.uniform(0.2, 3, 60)
    ds = rng.uniform(0, 100, 80); de = ds + rng.uniform(0.2, 5, 80)
    r, d, v = pairwise_iou(rs, re, ds, de)
    got = {(int(a), int(b)): float(c) for a, b, c in zip(r, d, v)}
    want = _brute_pairs(rs, re, ds, de)
    assert got.keys() == want.keys()
    assert all(got[k] == pytest.approx(want[k]) for k in want)
