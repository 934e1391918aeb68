"""``run_cohort``: manifest -> per-row pipeline -> laterality + stats -> files.

* The fast tests replace the per-recording pipeline with a stand-in that generates a short
  synthetic night for each manifest row and returns its planted spindles as the events (no
  detector, no EDF), so they check orchestration: failed rows isolated and reported, notes for
  missing pairs / scores, the tables and ``run.json`` written, the hand mapping at cohort level.
* ``test_cohort_on_synthetic_edf_files`` (slow) writes synthetic EDF+ files with
  :func:`sleepspindles.output.write_edf` and runs the real pipeline (loading, scored stages
  from the EDF+ annotations, YASA detection) on them.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _laterality_data import CHANNELS, events_from_truth

from sleepspindles import Hypnogram
from sleepspindles.cohort import COHORT_FILES, run_cohort
from sleepspindles.config import Config
from sleepspindles.errors import DataError
from sleepspindles.summary import summarize
from sleepspindles.synthetic import make_synthetic_night

CONFIG = Config().replace("laterality", n_boot=200, n_perm=1000)
HYPNOGRAM = Hypnogram(np.array([0] * 10 + [2] * 40 + [3] * 10 + [2] * 20), 30.0)


@dataclass(frozen=True)
class _Result:
    recording: object
    hypnogram: object
    events: pd.DataFrame
    summary: pd.DataFrame


def _stand_in(plan):
    """A ``process`` for run_cohort: the file name selects a planted density (contra +1.5/min)."""

    def process(path, hypnogram=None, config=None):
        spec = plan[Path(path).name]
        if spec == "corrupt":
            raise DataError(f"{path}: not an EDF file")
        hand, seed, channels = spec
        contra = "C4" if hand == "left" else "C3"
        density = {c: 2.0 + (1.5 if c == contra else 0.0) for c in channels}
        synth = make_synthetic_night(sf=100.0, line_freq=20.0, channels=channels, density=density, seed=seed,
                                     hypnogram=HYPNOGRAM)
        events = events_from_truth(synth.truth)
        rec = synth.recording
        return _Result(rec, rec.hypnogram, events, summarize(events, rec.hypnogram, rec, config))

    return process


def _cohort(tmp_path, swap=False):
    """8 rows: 5 good subjects (mixed hands), one with no F4, one missing file, one corrupt file."""
    rows, plan = [], {}
    hands = ["left", "right", "left", "right", "left", "right"]
    for s, hand in enumerate(hands):
        if swap:
            hand = "right" if hand == "left" else "left"
        name = f"s{s}.edf"
        channels = ("C3", "C4", "F3") if s == 5 else CHANNELS
        plan[name] = (hands[s], 10 + s, channels)  # the planted side follows the true hand
        score = "" if s == 4 else str(110 + 5 * s)
        rows.append(f"S{s},post,{name},,{hand},100,{score},{30 + s}")
        (tmp_path / name).write_bytes(b"placeholder")
    rows.append("S6,post,missing.edf,,left,100,120,40")
    plan["bad.edf"] = "corrupt"
    (tmp_path / "bad.edf").write_bytes(b"x")
    rows.append("S7,post,bad.edf,,right,100,120,41")
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("subject,night,recording,hypnogram,trained_hand,score_pre,score_post,age\n" + "\n".join(rows))
    return manifest, _stand_in(plan)


@pytest.fixture(scope="module")
def cohort_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cohort")
    manifest, process = _cohort(tmp)
    return tmp, run_cohort(manifest, tmp / "out", CONFIG, process=process)


def test_failed_rows_are_recorded_and_the_rest_analysed(cohort_run):
    tmp, result = cohort_run
    assert result.n_rows == 8 and result.n_analysed == 6
    failed = {f.row: f for f in result.failed}
    assert set(failed) == {7, 8}
    assert "manifest.csv row 7: field 'recording': file not found" in failed[7].error
    assert "not an EDF file" in failed[8].error and failed[8].subject == "S7"
    assert set(result.laterality["subject"]) == {f"S{s}" for s in range(6)}


def test_notes_for_missing_pair_and_missing_score(cohort_run):
    _, result = cohort_run
    assert any("subject 'S5' night 'post'" in p and "F3/F4 (no F4)" in p for p in result.problems)
    assert any("subject 'S4': behavioural gain unavailable" in p for p in result.problems)
    f3f4 = result.stats[(result.stats["pair"] == "F3/F4") & (result.stats["test"] == "paired_t")]
    assert (f3f4["n"] == 5).all()  # S5 lacks F4
    pearson = result.stats[(result.stats["pair"] == "C3/C4") & (result.stats["test"] == "pearson")]
    assert (pearson["n"] <= 5).all()  # S4 has no gain


def test_files_and_tables(cohort_run):
    tmp, result = cohort_run
    out = tmp / "out"
    assert {p.name for p in result.files.values()} == set(COHORT_FILES.values())
    lat = pd.read_csv(out / "laterality.csv")
    assert len(lat) == len(result.laterality)
    assert not lat.duplicated(["subject", "night", "pair", "measure", "band"]).any()
    assert "age" in lat.columns and lat.loc[lat["subject"] == "S2", "age"].iloc[0] == 32
    stats = pd.read_csv(out / "cohort_stats.csv")
    for column in ("pair", "measure", "test", "n", "statistic", "p_value", "p_fdr", "effect_size", "ci_low",
                   "ci_high"):
        assert column in stats.columns
    assert set(stats["pair"]) == {"C3/C4", "F3/F4"}
    run = json.loads((out / "run.json").read_text())
    assert run["analysed_rows"] == 6 and [f["row"] for f in run["failed_rows"]] == [7, 8]
    assert run["config"]["laterality"]["seed"] == 42 and "versions" in run
    assert "cohort: 6 of 8 manifest rows analysed" in str(result)


def test_mixed_hands_are_mapped_and_swapping_flips_the_sign(cohort_run, tmp_path):
    """Planted +1.5/min on the side opposite the true hand: D > 0 for every subject, left- and
    right-trained alike; declaring the other hand in the manifest makes every D negative."""
    _, result = cohort_run
    lat = result.laterality
    sel = (lat["pair"] == "C3/C4") & (lat["measure"] == "density_n2") & (lat["band"] == "all")
    assert (lat.loc[sel, "D"] > 0.5).all() and set(lat.loc[sel, "trained_hand"]) == {"left", "right"}
    motor = result.stats[(result.stats["pair"] == "C3/C4") & (result.stats["measure"] == "density_n2")
                         & (result.stats["band"] == "all") & (result.stats["test"] == "paired_t")].iloc[0]
    assert motor["effect_size"] > 1 and motor["ci_low"] <= 1.5 <= motor["ci_high"]
    manifest, process = _cohort(tmp_path, swap=True)
    swapped = run_cohort(manifest, tmp_path / "out", CONFIG, process=process).laterality
    sel2 = (swapped["pair"] == "C3/C4") & (swapped["measure"] == "density_n2") & (swapped["band"] == "all")
    np.testing.assert_allclose(swapped.loc[sel2, "D"].to_numpy(), -lat.loc[sel, "D"].to_numpy())


def test_bad_manifest_stops_with_a_row_error(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("subject,night,recording,trained_hand\nS1,post,a.edf,lft\n")
    with pytest.raises(DataError, match="manifest.csv row 1: field 'trained_hand' must be 'left' or 'right'"):
        run_cohort(manifest, tmp_path / "out", CONFIG)
    assert not (tmp_path / "out" / "run.json").exists()


@pytest.mark.slow
def test_cohort_on_synthetic_edf_files(tmp_path):
    """Real pipeline on EDF+ files: 4 subjects (2 per hand), contralateral C density 4 vs 2 /min."""
    from sleepspindles.output import write_edf

    hyp = Hypnogram(np.array([0] * 6 + [2] * 50 + [3] * 10 + [2] * 14), 30.0)
    lines = []
    for s, hand in enumerate(["left", "right", "left", "right"]):
        contra, ipsi = ("C4", "C3") if hand == "left" else ("C3", "C4")
        synth = make_synthetic_night(sf=128.0, channels=("C3", "C4"), density={contra: 4.0, ipsi: 2.0},
                                     seed=200 + s, hypnogram=hyp)
        write_edf(synth.recording, tmp_path / f"s{s}.edf")
        lines.append(f"S{s},post,s{s}.edf,,{hand},100,{110 + s}")
    manifest = tmp_path / "cohort.csv"
    manifest.write_text("subject,night,recording,hypnogram,trained_hand,score_pre,score_post\n" + "\n".join(lines))
    result = run_cohort(manifest, tmp_path / "out", CONFIG)
    assert result.failed == ()
    lat = result.laterality
    sel = (lat["pair"] == "C3/C4") & (lat["measure"] == "density_n2") & (lat["band"] == "all")
    assert sel.sum() == 4 and (lat.loc[sel, "D"] > 0).all()
    assert (tmp_path / "out" / "run.json").exists()
