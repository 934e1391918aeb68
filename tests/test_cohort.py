"""``run_cohort``: manifest -> batch run (per-recording folders) -> laterality + stats -> files.

One small EDF+ cohort (6 good 30-min nights written with :func:`sleepspindles.output.write_edf`,
3-4 channels at 100 Hz, contralateral C density planted 1.5/min above ipsilateral, scored
stages in the EDF+ annotations; plus a missing and a corrupt recording) goes through the real
path once (YASA detection, 2 worker processes). The tests check the plumbing (failed rows
isolated, notes, files, resumability through the CLI) and that the planted effect is found.
The hand-swap check is detector-free: it lateralises from the stored run tables with the other
hand declared.
"""

import json
import os
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sleepspindles import Hypnogram
from sleepspindles.analysis.laterality import lateralise, night_from_tables
from sleepspindles.analysis.stats import reference_robustness
from sleepspindles.analysis.stats_tests import stats_row
from sleepspindles.cli import main
from sleepspindles.config import load_config
from sleepspindles.errors import DataError, SleepSpindlesError
from sleepspindles.io.manifest import read_manifest
from sleepspindles.io.results import read_run_tables
from sleepspindles.output import write_edf
from sleepspindles.pipeline.batch import cohort_files
from sleepspindles.pipeline.cohort import COHORT_FILES, ROBUSTNESS_FILE, run_cohort
from sleepspindles.schema import CLUSTERS, ROBUSTNESS, STATS
from sleepspindles.synthetic import make_synthetic_night

HANDS = ("left", "right", "left", "right", "left", "right")
# 30 min: 23 min N2 (so ~46 vs ~80 planted spindles per C channel), 5 min N3.
HYPNOGRAM = Hypnogram(np.array([0] * 4 + [2] * 30 + [3] * 10 + [2] * 16), 30.0)
HEADER = "subject,night,recording,hypnogram,trained_hand,score_pre,score_post,age"
CONFIG_YAML = "detection:\n  method: yasa\nlaterality:\n  n_boot: 200\n  n_perm: 1000\n"


def _cohort(folder: Path) -> Path:
    """8 rows: 6 good subjects (mixed hands; S4 has no score, S5 no F4), a missing file, a corrupt one."""
    rows = []
    for s, hand in enumerate(HANDS):
        contra = "C4" if hand == "left" else "C3"
        channels = ("C3", "C4", "F3") if s == 5 else ("C3", "C4", "F3", "F4")
        density = {c: 2.0 + (1.5 if c == contra else 0.0) for c in channels}
        synth = make_synthetic_night(sf=100.0, line_freq=20.0, channels=channels, density=density, seed=10 + s,
                                     hypnogram=HYPNOGRAM)
        write_edf(synth.recording, folder / f"s{s}.edf")
        score = "" if s == 4 else str(110 + 5 * s)
        rows.append(f"S{s},post,s{s}.edf,,{hand},100,{score},{30 + s}")
    rows.append("S6,post,missing.edf,,left,100,120,40")
    (folder / "bad.edf").write_bytes(b"x")
    rows.append("S7,post,bad.edf,,right,100,120,41")
    manifest = folder / "manifest.csv"
    manifest.write_text("\n".join([HEADER, *rows]) + "\n")
    return manifest


@pytest.fixture(scope="module")
def cohort_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cohort")
    (tmp / "config.yaml").write_text(CONFIG_YAML)
    config = load_config(tmp / "config.yaml")
    manifest = _cohort(tmp)
    return tmp, run_cohort(manifest, tmp / "out", config, jobs=2, progress=False)


def _motor_density(lat: pd.DataFrame) -> pd.DataFrame:
    sel = (lat["pair"] == "C3/C4") & (lat["measure"] == "density_n2") & (lat["band"] == "all")
    return lat[sel].set_index("subject")


def test_failed_rows_are_recorded_and_the_rest_analysed(cohort_run):
    _, result = cohort_run
    assert result.n_rows == 8 and result.n_analysed == 6
    failed = {f.row: f for f in result.failed}
    assert set(failed) == {7, 8}
    assert "missing.edf: recording file not found" in failed[7].error and failed[7].subject == "S6"
    assert "bad.edf" in failed[8].error and failed[8].subject == "S7" and "Traceback" not in failed[8].error
    assert result.status["status"].tolist() == ["done"] * 6 + ["failed"] * 2
    assert set(result.laterality["subject"]) == {f"S{s}" for s in range(6)}


def test_a_copy_of_a_recording_under_another_name_counts_once(cohort_run, tmp_path):
    """S8 is S0's night under another file name: its row fails, S0's stays, nothing counts twice."""
    tmp, _ = cohort_run
    os.link(tmp / "s0.edf", tmp / "s0_copy.edf")
    manifest = tmp / "with_copy.csv"
    manifest.write_text((tmp / "manifest.csv").read_text() + "S8,post,s0_copy.edf,,left,100,120,42\n")
    shutil.copytree(tmp / "out", tmp_path / "out")  # its six recordings are complete: only S8 runs
    result = run_cohort(manifest, tmp_path / "out", load_config(tmp / "config.yaml"), jobs=1, progress=False)
    failed = {f.subject: f.error for f in result.failed}
    assert "is the same recording as row 1 (SHA-256" in failed["S8"]
    assert result.n_analysed == 6 and set(result.laterality["subject"]) == {f"S{s}" for s in range(6)}


def test_notes_for_missing_pair_and_missing_score(cohort_run):
    _, result = cohort_run
    assert any("subject 'S5' night 'post'" in p and "F3/F4 (no F4)" in p for p in result.problems)
    assert any("subject 'S4': behavioural gain unavailable" in p for p in result.problems)
    f3f4 = result.stats[(result.stats["pair"] == "F3/F4") & (result.stats["test"] == "paired_t")]
    assert len(f3f4) and (f3f4["n"] <= 5).all()  # S5 lacks F4
    assert (f3f4.loc[f3f4["measure"].isin(["density_n2", "sigma_abs", "swa_abs"]) & (f3f4["window"] == "night"),
                     "n"] == 5).all()
    pearson = result.stats[(result.stats["pair"] == "C3/C4") & (result.stats["test"] == "pearson")]
    assert len(pearson) and (pearson["n"] <= 5).all()  # S4 has no gain
    # the sigma measures come from the stored sigma.csv of every folder, the others from their tables
    measures = set(result.laterality["measure"])
    assert {"sigma_abs", "sigma_rel", "so_density", "so_amplitude", "swa_abs", "coupled_density", "coupling_ppc",
            "coupling_phase", "train_density", "train_fraction", "spindle_density"} <= measures
    windows = set(result.laterality["window"])
    assert {"night", "first 20 min N2"} <= windows and any(w.startswith("cycle ") for w in windows)


def test_planted_contralateral_effect_is_found(cohort_run):
    """+1.5/min planted opposite the true hand: D > 0 for every subject, left- and right-trained alike."""
    _, result = cohort_run
    motor = _motor_density(result.laterality)
    assert len(motor) == 6 and (motor["D"] > 0).all() and set(motor["trained_hand"]) == {"left", "right"}
    assert (motor["n2_minutes"] == 23.0).all()
    stats = result.stats
    t = stats[(stats["pair"] == "C3/C4") & (stats["measure"] == "density_n2") & (stats["band"] == "all")
              & (stats["test"] == "paired_t")].iloc[0]
    assert t["role"] == "motor" and t["p_value"] < 0.05 and 0 < t["ci_low"] < t["estimate"] < 2.0
    # the models see it too: one night, both hands -> ordinary least squares of D on the hand
    models = stats[(stats["pair"] == "C3/C4") & (stats["measure"] == "density_n2") & (stats["band"] == "all")
                   & (stats["window"] == "night")].set_index(["test", "variable"])
    assert models.loc[("mixedlm", "contra-ipsi"), "p_value"] < 0.05
    assert models.loc[("gee_poisson", "contra/ipsi"), "estimate"] > 1.2


def test_files_tables_and_report(cohort_run):
    tmp, result = cohort_run
    out = tmp / "out"
    assert {p.name for p in result.files.values()} == {*COHORT_FILES.values(), *cohort_files().values()}
    assert all(p.is_file() for p in result.files.values())
    for s in range(6):  # one complete run folder per good recording
        assert {"events.csv", "summary.csv", "sigma.csv", "report.html", "run.json"} <= {
            p.name for p in (out / f"S{s}_post").iterdir()}
    lat = pd.read_csv(out / "laterality.csv")
    assert len(lat) == len(result.laterality)
    assert not lat.duplicated(["subject", "night", "pair", "measure", "band", "window"]).any()
    assert "age" in lat.columns and lat.loc[lat["subject"] == "S2", "age"].iloc[0] == 32
    stats = pd.read_csv(out / "cohort_stats.csv")
    for column in ("pair", "measure", "test", "n", "statistic", "p_value", "p_fdr", "effect_size", "ci_low",
                   "ci_high"):
        assert column in stats.columns
    assert set(stats["pair"]) == {"C3/C4", "F3/F4"}
    clusters = pd.read_csv(out / "clusters.csv")
    assert list(clusters.columns) == list(CLUSTERS.names) and "at least 3 pairs" in clusters["note"].iloc[0]
    sigmas = pd.read_parquet(out / "sigmas.parquet")
    assert set(sigmas["subject"]) == {f"S{s}" for s in range(6)} and set(sigmas["band"]) == {"all", "fast", "slow"}
    run = json.loads((out / "run.json").read_text())
    assert run["analysed_rows"] == 6 and [f["row"] for f in run["failed_rows"]] == [7, 8]
    assert run["recordings"] == {"done": 6, "skipped": 0, "failed": 2}
    assert set(run["files"]) == {p.name for k, p in result.files.items() if k != "run"}
    assert run["config"]["laterality"]["seed"] == 42 and "versions" in run
    html = (out / "cohort_report.html").read_text(encoding="utf-8")
    assert "Cohort statistics" in html and "Contralateral vs ipsilateral" in html
    assert "missing.edf: recording file not found" in html  # the status table carries the errors
    text = str(result)
    assert "cohort: 6 of 8 manifest rows analysed" in text and "FAILED row 8 (S7, post)" in text
    assert "post C3/C4 density_n2n3 (whole night), paired_t of C-I: n=" in text  # the measure is named


def test_stored_tables_give_the_cohort_table_and_swapping_the_hand_flips_the_sign(cohort_run):
    """Detector-free: NightData rebuilt from each folder reproduces laterality.csv; the other hand negates D."""
    tmp, result = cohort_run
    nights = {"same": [], "swapped": []}
    good = read_manifest(tmp / "manifest.csv").rows[:6]
    for rec in good:
        tables = read_run_tables(tmp / "out" / f"{rec.subject}_post")
        other = "right" if rec.trained_hand == "left" else "left"
        for key, declared in (("same", rec.trained_hand), ("swapped", other)):
            nights[key].append(night_from_tables(
                tables.summary, tables.sigma, tables.record.n2_minutes, subject=rec.subject, night=rec.night,
                trained_hand=declared, score_pre=rec.score_pre, score_post=rec.score_post,
                covariates=dict(rec.covariates), tables=tables.tables))
    config = load_config(tmp / "config.yaml")
    same = lateralise(nights["same"], config).laterality
    pd.testing.assert_frame_equal(same, result.laterality)
    swapped = lateralise(nights["swapped"], config).laterality
    np.testing.assert_allclose(swapped["D"], -same["D"], equal_nan=True)
    np.testing.assert_allclose(swapped["contra"], same["ipsi"], equal_nan=True)
    assert (_motor_density(swapped)["D"] < 0).all()


def test_rerun_through_the_cli_skips_every_recording(cohort_run, capsys):
    tmp, result = cohort_run
    out = tmp / "out"
    before = {s: (out / f"S{s}_post" / "run.json").read_bytes() for s in range(6)}
    tables = {name: (out / name).read_text() for name in ("laterality.csv", "cohort_stats.csv", "specificity.csv")}
    code = main(["cohort", str(tmp / "manifest.csv"), "--out", str(out), "--config", str(tmp / "config.yaml"),
                 "--jobs", "1"])
    assert code == 1  # some rows failed
    status = pd.read_csv(out / "status.csv", keep_default_na=False)
    assert status["status"].tolist() == ["skipped"] * 6 + ["failed"] * 2
    assert all((out / f"S{s}_post" / "run.json").read_bytes() == before[s] for s in range(6))
    assert all((out / name).read_text() == text for name, text in tables.items())  # same results from the files
    assert json.loads((out / "run.json").read_text())["recordings"] == {"done": 0, "skipped": 6, "failed": 2}
    assert "6 already complete" in capsys.readouterr().out


def test_cohort_with_no_usable_recording_still_writes_its_files(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("subject,night,recording,trained_hand\nS1,post,gone.edf,left\n")
    result = run_cohort(manifest, tmp_path / "out", progress=False)
    assert [f.row for f in result.failed] == [1] and result.laterality.empty
    assert (tmp_path / "out" / "run.json").is_file()
    assert "no night had a usable pair" in (tmp_path / "out" / "cohort_report.html").read_text(encoding="utf-8")


def test_bad_manifest_stops_with_a_row_error(tmp_path):
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("subject,night,recording,trained_hand\nS1,post,a.edf,lft\n")
    with pytest.raises(DataError, match="manifest.csv row 1: field 'trained_hand' must be 'left' or 'right'"):
        run_cohort(manifest, tmp_path / "out", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
    """3 subjects, 8-minute nights (recorded on linked mastoids), rerun on the average reference."""
    tmp = tmp_path_factory.mktemp("references")
    hypnogram = Hypnogram(np.array([0] + [2] * 14 + [3]), 30.0)
    rows = []
    for s, hand in enumerate(("left", "right", "left")):
        contra = "C4" if hand == "left" else "C3"
        density = {c: 3.0 + (2.0 if c == contra else 0.0) for c in ("C3", "C4", "F3", "F4")}
        synth = make_synthetic_night(sf=100.0, line_freq=20.0, channels=tuple(density), density=density, seed=40 + s,
                                     hypnogram=hypnogram)
        write_edf(synth.recording, tmp / f"r{s}.edf")
        rows.append(f"R{s},post,r{s}.edf,,{hand},100,{110 + s},{30 + s}")
    (tmp / "manifest.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    (tmp / "config.yaml").write_text(CONFIG_YAML)
    config = load_config(tmp / "config.yaml")
    result = run_cohort(tmp / "manifest.csv", tmp / "out", config, jobs=2, progress=False, references=("average",))
    return tmp, config, result


def test_references_rerun_in_their_own_folders_side_by_side(reference_run):
    tmp, config, result = reference_run
    out = tmp / "out"
    folder = out / "reference-average"
    assert (folder / "laterality.csv").is_file() and (folder / "run.json").is_file()
    assert set(pd.read_csv(folder / "laterality.csv")["reference"]) == {"average"}
    assert "average" not in set(result.laterality["reference"])  # the main run keeps the configured reference
    assert result.references["average"].n_analysed == 3
    table = pd.read_csv(out / ROBUSTNESS_FILE)
    assert list(table.columns) == list(ROBUSTNESS.names) and set(table["reference"]) == {"average"}
    motor = result.robustness[(result.robustness["pair"] == "C3/C4") & (result.robustness["measure"] == "density_n2")
                              & (result.robustness["band"] == "all")].set_index("reference")
    assert (motor["estimate"] > 0).all() and not motor["sign_changes"].any()
    assert ROBUSTNESS_FILE in json.loads((out / "run.json").read_text())["files"]
    assert "references average:" in str(result)
    # a batch folder of its own (status.csv, a run.json per recording): resumed like the main run
    assert (folder / "status.csv").is_file() and all((folder / f"R{s}_post" / "run.json").is_file() for s in range(3))


def test_robustness_flags_a_pair_whose_effect_changes_sign():
    def stats(estimate):
        row = replace(stats_row("paired_t", "C-I", 10, estimate=estimate, ci_low=estimate - 1, ci_high=estimate + 1,
                                p_value=0.01), night="post", window="night", pair="C3/C4", role="motor",
                      measure="density_n2", band="all")
        return STATS.conform(pd.DataFrame([asdict(row)]))

    flipped = reference_robustness({"as-recorded": stats(0.4), "average": stats(-0.1)})
    assert flipped["sign_changes"].tolist() == [True, True]
    assert not reference_robustness({"as-recorded": stats(0.4), "average": stats(0.2)})["sign_changes"].any()


def test_cli_options_for_the_references(monkeypatch):
    import sleepspindles.pipeline.cohort as cohort_module
    from sleepspindles.cli import main

    seen = {}

    def fake_run_cohort(manifest, out, config, **kwargs):
        seen.update(kwargs)
        raise SleepSpindlesError("stop here")

    monkeypatch.setattr(cohort_module, "run_cohort", fake_run_cohort)
    assert main(["cohort", "m.csv", "--out", "o", "--references", "as-recorded", "average"]) == 2
    assert seen["references"] == ("as-recorded", "average")
    assert main(["cohort", "m.csv", "--out", "o"]) == 2 and seen["references"] == ()
    with pytest.raises(SystemExit):
        main(["cohort", "m.csv", "--out", "o", "--references", "left-ear"])


def test_a_cohort_rerun_killed_midway_does_not_leave_the_folder_looking_complete(tmp_path, monkeypatch):
    """run.json marks a complete cohort folder: a rerun removes it before touching any table."""
    manifest = tmp_path / "m.csv"
    manifest.write_text("subject,night,recording,trained_hand\nS1,post,a.edf,left\nS2,post,b.edf,right\n")
    out = tmp_path / "out"
    out.mkdir()
    (out / COHORT_FILES["run"]).write_text("{}")  # an earlier, complete run
    (out / COHORT_FILES["laterality"]).write_text("its tables\n")

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("sleepspindles.pipeline.cohort.run_batch", killed)
    with pytest.raises(KeyboardInterrupt):
        run_cohort(manifest, out, progress=False)
    assert not (out / COHORT_FILES["run"]).exists() and (out / COHORT_FILES["laterality"]).exists()
