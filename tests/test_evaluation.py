"""Evaluation against reference events: hand-computed cases, edges, ties, and the DREAMS numbers."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from sleepspindles.errors import ConfigError, DataError
from sleepspindles.evaluation.intervals import (
    SampleCounts,
    in_window,
    intersect_intervals,
    intersect_windows,
    merge_intervals,
    restrict_to_window,
    sample_counts,
)
from sleepspindles.evaluation.scoring import POOLED, RESULT_COLUMNS, combine_experts, evaluate, evaluate_files


def ev(*pairs, channel=None, recording=None) -> pd.DataFrame:
    frame = pd.DataFrame(pairs, columns=["start", "end"], dtype=float)
    if channel is not None:
        frame["channel"] = channel
    if recording is not None:
        frame["recording"] = recording
    return frame


def mask_counts(ref, det, resolution, n_samples):
    """Reference twin of sample_counts: explicit boolean masks on the sample grid."""
    t = np.arange(n_samples) * resolution

    def mask(pairs):
        m = np.zeros(n_samples, dtype=bool)
        for s, e in pairs:
            m |= (t >= s - 1e-9) & (t < e - 1e-9)
        return m

    r, d = mask(ref), mask(det)
    return SampleCounts(int((r & d).sum()), int((~r & d).sum()), int((r & ~d).sum()), int((~r & ~d).sum()))


# ---------------------------------------------------------------- by event


def test_hand_computed_event_scores():
    # IoUs: 0.9/1.1 = 0.82 and 0.5/1.5 = 0.33; the third detection overlaps nothing.
    ref = ev((0, 1), (2, 3), (5, 6))
    det = ev((0.1, 1.1), (2.5, 3.5), (8, 9))
    row = evaluate(ref, det).pooled
    assert (row["n_ref"], row["n_det"], row["tp"]) == (3, 3, 2)
    assert row["precision"] == pytest.approx(2 / 3)
    assert row["recall"] == pytest.approx(2 / 3)
    assert row["f1"] == pytest.approx(2 / 3)
    # At IoU 0.4 the 0.33 pair no longer counts.
    assert evaluate(ref, det, iou=0.4).pooled["tp"] == 1


def test_ties_are_one_to_one():
    # One reference, two detections with the same IoU 0.5: only one may match.
    row = evaluate(ev((0, 2)), ev((0, 1), (1, 2))).pooled
    assert row["tp"] == 1 and row["precision"] == 0.5 and row["recall"] == 1.0
    assert row["f1"] == pytest.approx(2 / 3)
    # And the mirror: two references tied on one detection.
    row = evaluate(ev((0, 1), (1, 2)), ev((0, 2))).pooled
    assert row["tp"] == 1 and row["precision"] == 1.0 and row["recall"] == 0.5


def test_empty_sides():
    row = evaluate(ev((0, 1), (3, 4)), ev()).pooled
    assert row["tp"] == 0 and row["recall"] == 0 and row["f1"] == 0
    assert math.isnan(row["precision"])
    both = evaluate(ev(), ev()).pooled
    assert math.isnan(both["f1"]) and math.isnan(both["f1_sample"])


# ---------------------------------------------------------------- by sample and edges


def test_events_on_recording_edges():
    # 10 s at 1 Hz: samples t = 0..9. Reference covers {0, 1} and {8, 9}; the detections overrun
    # both edges and are clipped to {0} and {9}.
    ref = ev((0, 2), (8, 10))
    det = ev((-1, 1), (9, 11))
    result = evaluate(ref, det, duration=10, sf=1)
    row = result.pooled
    assert row["tp"] == 2  # both pairs have IoU 1/3
    # tp=2 fp=0 fn=2 tn=6: F1 = 4/6; kappa = (0.8 - 0.56) / 0.44.
    assert row["f1_sample"] == pytest.approx(4 / 6)
    assert row["kappa"] == pytest.approx(0.24 / 0.44)
    assert result.resolution == {"recording": 1.0}


def test_event_ending_exactly_at_the_end_covers_the_last_sample():
    counts = sample_counts([9.5], [10.0], [9.9], [10.0], resolution=0.1, n_samples=100)
    assert counts == SampleCounts(tp=1, fp=0, fn=4, tn=95)


def test_events_outside_the_recording_are_refused():
    with pytest.raises(ConfigError, match="outside"):
        evaluate(ev((1, 2)), ev((10, 11)), duration=10, sf=1)
    with pytest.raises(ConfigError, match="outside"):
        evaluate(ev((-2, 0)), ev((1, 2)), duration=10, sf=1)


def test_kappa_needs_the_duration_but_f1_sample_does_not():
    row = evaluate(ev((0, 2)), ev((1, 3)), resolution=0.5).pooled
    # Reference samples {0, .5, 1, 1.5}, detected {1, 1.5, 2, 2.5}: F1 = 2*2 / (4 + 4).
    assert row["f1_sample"] == pytest.approx(0.5)
    assert math.isnan(row["kappa"])


def test_grid_absorbs_float_noise():
    # 282.24 * 100 is 28224.000000000004 in floating point; the sample at 282.24 s still counts.
    counts = sample_counts([282.24], [282.25], [], [], resolution=0.01, n_samples=200_000)
    assert counts.fn == 1


def test_sample_counts_match_the_mask_twin():
    rng = np.random.default_rng(7)
    for _ in range(30):
        def draw(k):
            s = rng.uniform(-2, 60, k)
            return list(zip(s, s + rng.uniform(0.05, 3, k)))

        ref, det = draw(rng.integers(0, 12)), draw(rng.integers(0, 12))
        res, n = rng.choice([0.01, 0.1, 0.25]), int(rng.integers(100, 6000))
        n = int(round(min(n * res, 60) / res))
        # Keep only events that touch the recording, as evaluate() requires.
        ref = [p for p in ref if p[1] > 0 and p[0] < n * res]
        det = [p for p in det if p[1] > 0 and p[0] < n * res]
        got = sample_counts([p[0] for p in ref], [p[1] for p in ref], [p[0] for p in det],
                            [p[1] for p in det], res, n)
        assert got == mask_counts(ref, det, res, n)


# ---------------------------------------------------------------- recordings, channels, pooling


def test_per_recording_and_pooled_rows():
    ref = pd.concat([ev((0, 1), (2, 3), recording="a"), ev((0, 1), recording="b")])
    det = pd.concat([ev((0, 1), recording="a"), ev((5, 6), (7, 8), recording="b")])
    result = evaluate(ref, det, duration={"a": 10, "b": 10}, sf=10)
    assert list(result.table.columns) == list(RESULT_COLUMNS)
    assert list(result.table["recording"]) == ["a", "b", POOLED]
    a, b = result.per_recording.iloc[0], result.per_recording.iloc[1]
    assert (a["tp"], a["f1"]) == (1, pytest.approx(2 / 3))
    assert (b["tp"], b["f1"]) == (0, 0.0)
    pooled = result.pooled
    # Summed counts: tp 1, n_ref 3, n_det 3.
    assert (pooled["n_ref"], pooled["n_det"], pooled["tp"]) == (3, 3, 1)
    assert pooled["f1"] == pytest.approx(1 / 3)
    # Samples: a tp 10 fn 10 tn 80; b fp 20 fn 10 tn 70 -> pooled F1 = 20 / (20 + 20 + 20).
    assert pooled["f1_sample"] == pytest.approx(1 / 3)


def test_mapping_input_equals_recording_column():
    ref = {"x": ev((0, 1)), "y": ev((4, 5))}
    det = {"x": ev((0.2, 1.2)), "y": ev()}
    by_map = evaluate(ref, det).table
    by_col = evaluate(pd.concat([ev((0, 1), recording="x"), ev((4, 5), recording="y")]),
                      ev((0.2, 1.2), recording="x")).table
    pd.testing.assert_frame_equal(by_map, by_col)


def test_channels_are_matched_separately():
    ref = ev((0, 1), (5, 6), channel=["C3", "C4"])
    det = ev((0, 1), (5, 6), channel=["C4", "C3"])  # right times, wrong channels
    result = evaluate(ref, det)
    assert result.pooled["tp"] == 0
    assert list(result.per_recording["channel"]) == ["C3", "C4"]
    only = evaluate(ref, det, channels=["C3"])
    assert list(only.per_recording["channel"]) == ["C3"]


def test_parameter_errors():
    with pytest.raises(ConfigError, match="'start' and 'end'"):
        evaluate(pd.DataFrame({"onset": [1.0]}), ev())
    with pytest.raises(ConfigError, match="resolution"):
        evaluate(ev(), ev(), sf=100, resolution=0.01)
    with pytest.raises(ConfigError, match="finite"):
        evaluate(ev((2, 1)), ev())
    with pytest.raises(ConfigError, match="iou"):
        evaluate(ev(), ev(), iou=0)


# ---------------------------------------------------------------- combining experts


def test_union_and_intersection():
    a = ev((0, 1), (2, 4))
    b = ev((0.5, 1.5), (3, 3.5), (6, 7))
    union = combine_experts(a, b, "union")
    assert union[["start", "end"]].to_numpy().tolist() == [[0, 1.5], [2, 4], [6, 7]]
    assert union["duration"].tolist() == pytest.approx([1.5, 2, 1])
    inter = combine_experts(a, b, "intersection")
    assert inter[["start", "end"]].to_numpy().tolist() == [[0.5, 1], [3, 3.5]]


def test_touching_intervals():
    assert [list(x) for x in merge_intervals([1, 0], [2, 1])] == [[0], [2]]
    s, e = intersect_intervals([0], [1], [1], [2])
    assert s.size == 0 and e.size == 0


def test_combine_keeps_channels_apart():
    a = ev((0, 1), channel="C3")
    b = ev((0.5, 1.5), channel="C4")
    union = combine_experts(a, b)
    assert union[["channel", "start", "end"]].values.tolist() == [["C3", 0, 1], ["C4", 0.5, 1.5]]
    assert len(combine_experts(a, b, "intersection")) == 0
    with pytest.raises(ConfigError, match="how"):
        combine_experts(a, b, "both")


# ---------------------------------------------------------------- files


def test_evaluate_files_dreams_and_table(tmp_path):
    e1 = tmp_path / "Visual_scoring1_excerpt9.txt"
    e1.write_text("[vis1_Spindles/C3-A1]\n  1.0000\t 1.0000\n  5.0000\t 1.0000\n")
    e2 = tmp_path / "Visual_scoring2_excerpt9.txt"
    e2.write_text("[vis2_Spindles/C3-A1]\n  1.5000\t 1.0000\n  9.0000\t 1.0000\n")
    det = tmp_path / "events.csv"
    ev((1, 2.5), (9, 10), (20, 21), channel="C3").to_csv(det, index=False)
    result = evaluate_files([e1, e2], det, iou=0.2, how="union")
    # Union: (1, 2.5), (5, 6), (9, 10); detections match the first and the last.
    row = result.pooled
    assert (row["n_ref"], row["n_det"], row["tp"]) == (3, 3, 2)
    assert list(result.per_recording["channel"]) == ["C3"]
    inter = evaluate_files([e1, e2], det, how="intersection").pooled
    # Intersection: only (1.5, 2); against (1, 2.5) its IoU is 0.5 / 1.5.
    assert (inter["n_ref"], inter["tp"]) == (1, 1)
    assert evaluate_files([e1, e2], det, iou=0.4, how="intersection").pooled["tp"] == 0
    assert "IoU >= 0.2" in str(result)


def test_evaluate_files_refuses_disjoint_channels(tmp_path):
    ref = tmp_path / "ref.txt"
    ref.write_text("[vis1_Spindles/C3-A1]\n1 1\n")
    det = tmp_path / "events.csv"
    ev((1, 2), channel="Cz").to_csv(det, index=False)
    with pytest.raises(DataError, match="reference channel"):
        evaluate_files(ref, det)


# ---------------------------------------------------------------- the DREAMS database


def _bench_module():
    """scripts/bench_accuracy.py, imported so its YASA call is the one checked here."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "bench_accuracy.py"
    spec = importlib.util.spec_from_file_location("bench_accuracy", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_dreams_numbers_of_the_provenance_file(shared_data):
    """Expert agreement and YASA-vs-expert-1 F1 as measured in PROVENANCE.md (IoU 0.2, +-0.02)."""
    from sleepspindles.io.dreams import load_dreams_excerpt

    excerpts = {f"excerpt {n}": load_dreams_excerpt(shared_data / "dreams_spindles", n) for n in range(1, 5)}
    expert1 = {k: ex.expert1 for k, ex in excerpts.items()}
    agreement = evaluate(expert1, {k: ex.expert2 for k, ex in excerpts.items()})
    assert agreement.per_recording["f1"].tolist() == pytest.approx([0.38, 0.63, 0.20, 0.17], abs=0.02)
    bench = _bench_module()
    yasa = {k: bench.yasa_defaults(ex.recording) for k, ex in excerpts.items()}
    durations = {k: ex.recording.duration for k, ex in excerpts.items()}
    result = evaluate(expert1, yasa, duration=durations, sf={k: ex.recording.sf for k, ex in excerpts.items()})
    assert result.per_recording["f1"].tolist() == pytest.approx([0.40, 0.44, 0.35, 0.40], abs=0.02)
    # Matching within the channel: every row is the excerpt's own channel.
    assert result.per_recording["channel"].tolist() == ["C3", "Cz", "C3", "Cz"]
    # By-sample scores exist and are in range for every excerpt.
    assert result.table["kappa"].between(0, 1).all() and result.table["f1_sample"].between(0, 1).all()


def test_recording_missing_on_one_side_counts_as_no_events():
    result = evaluate({"a": ev((0, 1), channel="C3")}, {"b": ev((3, 4), channel="C4")})
    rows = result.per_recording
    assert rows[["recording", "channel", "n_ref", "n_det"]].values.tolist() == [["a", "C3", 1, 0], ["b", "C4", 0, 1]]
    assert result.pooled["f1"] == 0.0


# ---------------------------------------------------------------- scored windows


def test_window_keeps_events_by_midpoint_on_both_sides():
    # Window [10, 20). Reference midpoints 5.5 (out), 10.5 (in: starts at 9.8, before the window),
    # 19.9 (in), 20.5 (out). Detections: 10.6 (in), 25.5 (out: a "false positive" where nobody
    # scored, not counted), 19.5 (in).
    ref = ev((5, 6), (9.8, 11.2), (19.4, 20.4), (20, 21))
    det = ev((10, 11.2), (25, 26), (19.0, 20.0))
    whole = evaluate(ref, det).pooled
    assert (whole["n_ref"], whole["n_det"], whole["tp"]) == (4, 3, 2)
    row = evaluate(ref, det, window=(10, 20)).pooled
    assert (row["n_ref"], row["n_det"]) == (2, 2)
    # (9.8, 11.2) vs (10, 11.2): IoU 1.2/1.4; (19.4, 20.4) vs (19, 20): IoU 0.6/1.4 = 0.43.
    # Matching sees whole events (not clipped to the window): both pairs match.
    assert row["tp"] == 2 and row["f1"] == 1.0
    assert evaluate(ref, det, iou=0.5, window=(10, 20)).pooled["tp"] == 1


def test_window_by_sample_counts_cover_the_window_only():
    # 1 Hz grid, recording 100 s, window [10, 20): samples 10..19 (10 samples).
    # Reference (12, 15) -> samples 12, 13, 14; detection (9.5, 13) has midpoint 11.25 (inside) and
    # covers 10, 11, 12 inside the window (9 is outside and not counted).
    ref, det = ev((12, 15), (50, 52)), ev((9.5, 13), (60, 61))
    row = evaluate(ref, det, duration=100, sf=1, window=(10, 20)).pooled
    assert (row["n_ref"], row["n_det"]) == (1, 1)
    # tp 1 (sample 12), fp 2 (10, 11), fn 2 (13, 14), tn 5 (15..19).
    assert row["f1_sample"] == pytest.approx(2 / 6)
    expected = SampleCounts(tp=1, fp=2, fn=2, tn=5).kappa
    assert row["kappa"] == pytest.approx(expected)
    # Without the duration the window's length still gives the true negatives.
    assert evaluate(ref, det, sf=1, window=(10, 20)).pooled["kappa"] == pytest.approx(expected)


def test_window_per_recording_and_validation():
    ref = {"a": ev((1, 2), (50, 51)), "b": ev((1, 2), (50, 51))}
    det = {"a": ev((1, 2)), "b": ev((1, 2))}
    result = evaluate(ref, det, window={"a": (0, 10)})  # "b" has no window: scored whole
    assert result.per_recording["f1"].tolist() == [1.0, pytest.approx(2 / 3)]
    # The window's end is capped at the recording's end; inf means "to the end".
    assert evaluate(ref["a"], det["a"], duration=60, sf=1, window=(0, np.inf)).pooled["n_ref"] == 2
    for bad in [(5, 5), (-1, 3), (3,), "ab"]:
        with pytest.raises(ConfigError, match="window"):
            evaluate(ref["a"], det["a"], window=bad)
    with pytest.raises(ConfigError, match="inside the recording"):
        evaluate(ref["a"], det["a"], duration=60, window=(70, 80))


def test_window_helpers():
    frame = ev((0, 2), (9, 12), (11, 14))  # midpoints 1, 10.5, 12.5
    assert in_window(frame.start, frame.end, (1, 12.5)).tolist() == [True, True, False]
    assert restrict_to_window(frame, (10, 20))["start"].tolist() == [9, 11]
    assert intersect_windows((0, 1000), (0, 1800.0)) == (0, 1000)
    assert intersect_windows((0, np.inf), (5, 30)) == (5, 30)
    with pytest.raises(ConfigError, match="overlap"):
        intersect_windows((0, 10), (10, 20))


def test_evaluate_files_window(tmp_path):
    ref = tmp_path / "Visual_scoring1_excerpt9.txt"
    ref.write_text("[vis1_Spindles/C3-A1]\n  1.0000\t 1.0000\n")
    det = tmp_path / "events.csv"
    ev((1, 2), (1500, 1501), channel="C3").to_csv(det, index=False)
    assert evaluate_files(ref, det).pooled["precision"] == 0.5
    assert evaluate_files(ref, det, window=(0, 1000)).pooled["precision"] == 1.0


# ---------------------------------------------------------------- the comparators and the tuning ablation


@pytest.mark.slow
def test_sumov2_reproduces_the_provenance_numbers(shared_data):
    """SUMOv2's stored detections, scored by scripts/bench_accuracy.py, give PROVENANCE.md's F1.

    Expert 1 on 0-1000 s: 0.77, 0.67, 0.44, 0.16; expert 2 on the whole excerpt: 0.61, 0.76, 0.73, 0.50
    (one-to-one, IoU >= 0.2).
    """
    from sleepspindles.io.dreams import load_dreams_excerpt

    bench = _bench_module()
    excerpts = [load_dreams_excerpt(shared_data / "dreams_spindles", n) for n in range(1, 5)]
    sumo = bench.sumo_detector(shared_data / "sumov2_dreams", excerpts)
    assert sumo is not None and not sumo.failures
    f1 = bench.score([sumo], excerpts, 0.2).set_index(["reference", "recording"])["f1"]
    keys = [f"excerpt {n}" for n in range(1, 5)]
    assert [f1["expert 1", k] for k in keys] == pytest.approx([0.77, 0.67, 0.44, 0.16], abs=0.005)
    assert [f1["expert 2", k] for k in keys] == pytest.approx([0.61, 0.76, 0.73, 0.50], abs=0.005)


def test_restrict_keeps_the_points_of_a_sub_grid():
    from sleepspindles.evaluation.tuning import _points, restrict

    grid = {"a7.thresh_corr": (0.6, 0.69), "duration": ((0.3, 2.5), (0.5, 2.5))}
    points = _points(grid)
    counts = np.arange(len(points) * 2 * 3).reshape(len(points), 1, 2, 3)
    kept, sub = restrict(points, counts, {**grid, "duration": ((0.5, 2.5),)})
    assert kept == [{"a7.thresh_corr": 0.6, "duration": (0.5, 2.5)}, {"a7.thresh_corr": 0.69, "duration": (0.5, 2.5)}]
    np.testing.assert_array_equal(sub, counts[[1, 3]])
    with pytest.raises(ConfigError, match="grid"):
        restrict(points, counts, {**grid, "duration": ((0.4, 2.5),)})


@pytest.mark.slow
def test_pinned_ablation_on_dreams(shared_data):
    """scripts/tune_accuracy.py's ablation: pinning every setting is the reference preset, event for event.

    The "pin all" folds score each excerpt with A7's published values on the tuning path
    (features once, ``a7_decide``); ``detect_spindles`` with ``a7.preset: reference`` must give the
    same F1. Measured held-out mean F1 (expert 1 / expert 2 / union): tune all 0.557 / 0.659 /
    0.639; abs_pow pinned at 1.25: 0.608 / 0.614 / 0.695; thresh_corr pinned at 0.69: 0.571 / 0.585
    / 0.603 (so tuning thresh_corr helps, tuning thresh_abs_pow does not).
    """
    import importlib.util
    import sys
    from pathlib import Path

    from sleepspindles.config import Config
    from sleepspindles.detection import detect_spindles
    from sleepspindles.io.dreams import load_dreams_excerpt

    path = Path(__file__).resolve().parents[1] / "scripts" / "tune_accuracy.py"
    spec = importlib.util.spec_from_file_location("tune_accuracy", path)
    tune = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = tune
    spec.loader.exec_module(tune)
    folder = shared_data / "dreams_spindles"
    runs = tune.run(folder, [1, 2, 3, 4], ablation=True)
    assert set(runs) == {"tune all", "pin all", *(f"pin {k}" for k in tune.GRID)}
    assert runs["tune all"].mean_f1["union"] == pytest.approx(0.639, abs=0.005)
    assert runs["pin a7.thresh_corr"].mean_f1["union"] < runs["tune all"].mean_f1["union"]
    reference = Config().replace("detection", a7={"preset": "reference"})
    for fold in runs["pin all"].folds:
        assert fold.params == tune.PUBLISHED
        ex = load_dreams_excerpt(folder, int(fold.held_out.split()[-1]))
        found = detect_spindles(ex.recording, None, reference)
        refs = {"expert 1": ex.expert1, "expert 2": ex.expert2, "union": combine_experts(ex.expert1, ex.expert2)}
        for name, ref in refs.items():
            window = ex.scored_window(tune.SCORERS[name])
            assert evaluate(ref, found, 0.2, window=window).pooled["f1"] == pytest.approx(fold.test_f1[name])
