"""Batch runs: failure isolation, resumption after an interrupt, Dask cluster = local pool."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sleepspindles.cli import main
from sleepspindles.config import Config
from sleepspindles.errors import ConfigError, DataError
from sleepspindles.hypnogram import Hypnogram, Stage
from sleepspindles.io.results import read_run_tables
from sleepspindles.output import write_edf
from sleepspindles.pipeline.batch import cohort_files, run_batch
from sleepspindles.pipeline.tasks import is_complete, make_tasks
from sleepspindles.records import RunRecord, StagingInfo
from sleepspindles.schema import SIGMA, STATUS
from sleepspindles.synthetic import make_synthetic_night

GOOD = ("s1", "s2", "s3", "s4")
HEADER = "subject,night,recording,hypnogram,trained_hand,score_pre,score_post"


def _hypnogram(minutes: int = 20) -> Hypnogram:
    pattern = [Stage.W] * 2 + [Stage.N1] * 2 + [Stage.N2] * 16 + [Stage.N3] * 8 + [Stage.REM] * 4
    stages = (pattern + [Stage.N2] * 2 * minutes)[: 2 * minutes]
    return Hypnogram(np.array([int(s) for s in stages], dtype=np.int8), 30.0, source="scored")


def write_nights(folder: Path, subjects: tuple[str, ...], seed: int) -> list[str]:
    """Good 20-min 2-channel EDF+ nights and ``broken.edf`` (the first one truncated); the nights' manifest rows."""
    rows = []
    for i, subject in enumerate(subjects):
        night = make_synthetic_night(hypnogram=_hypnogram(), duration_hours=1 / 3, sf=128.0, channels=("C3", "C4"),
                                     density={"C3": 3.0, "C4": 4.0}, seed=seed + i)
        write_edf(night.recording, folder / f"{subject}.edf")
        rows.append(f"{subject},learning,{subject}.edf,,{'left' if i % 2 else 'right'},10,{11 + i}")
    whole = (folder / f"{subjects[0]}.edf").read_bytes()
    (folder / "broken.edf").write_bytes(whole[: len(whole) // 3])  # header intact, data cut short
    return rows


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Four good 20-min 2-channel EDF+ nights and one corrupt (truncated) file, with manifests."""
    folder = tmp_path_factory.mktemp("cohort")
    rows = write_nights(folder, GOOD, seed=10)
    (folder / "good.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    bad_row = "s5,learning,broken.edf,,left,,"
    (folder / "mixed.csv").write_text("\n".join([HEADER, rows[0], bad_row, *rows[1:]]) + "\n")
    return folder


@pytest.fixture(scope="module")
def reference(cohort, tmp_path_factory):
    """An uninterrupted run of the mixed manifest on a local pool of 2 processes."""
    out = tmp_path_factory.mktemp("reference")
    return run_batch(cohort / "mixed.csv", out, Config(), jobs=2, progress=False)


def tables(out: Path) -> dict[str, pd.DataFrame]:
    files = cohort_files()
    return {key: pd.read_parquet(out / files[name]) for key, name in
            (("events", "spindles"), ("summaries", "spindle_summary"), ("sigmas", "sigma"))}


def test_bad_recording_fails_alone(reference, cohort):
    status = reference.status
    assert reference.failed == ["s5/learning"]
    bad = status.set_index("subject").loc["s5"]
    assert bad["status"] == "failed" and "broken.edf" in bad["error"] and "Traceback" not in bad["error"]
    assert set(status.loc[status["status"] == "done", "subject"]) == set(GOOD)
    assert (status.loc[status["status"] == "done", "n_spindles"] > 0).all()
    assert "1 failed" in str(reference) and "s5/learning" in str(reference)
    # Cohort tables hold every good recording and nothing of the bad one.
    t = tables(reference.out_dir)
    assert set(t["events"]["subject"]) == set(GOOD)
    per_subject = t["events"].groupby("subject").size()
    assert per_subject.to_dict() == status.set_index("subject").loc[list(GOOD), "n_spindles"].to_dict()
    # sigma power of every EEG channel of every good recording, over its N2 epochs (16 + 8 of the 40)
    sigmas = t["sigmas"]
    assert set(sigmas["subject"]) == set(GOOD) and set(sigmas["channel"]) == {"C3", "C4"}
    assert set(sigmas["band"]) == {"all", "fast", "slow"} and (sigmas["n_epochs"] == 24).all()
    assert (sigmas["power"] > 0).all() and ((sigmas["relative"] > 0) & (sigmas["relative"] < 1)).all()
    csv = pd.read_csv(reference.out_dir / "summaries.csv")  # the parquet table as CSV ("" reads back as NaN)
    pd.testing.assert_frame_equal(csv, pd.read_csv(io.StringIO(t["summaries"].to_csv(index=False))))
    on_disk = pd.read_csv(reference.out_dir / "status.csv", keep_default_na=False)
    assert on_disk["status"].tolist() == status["status"].tolist()
    assert list(on_disk.columns) == list(STATUS.names) and (on_disk["dropped_channels"] == "").all()
    assert (reference.out_dir / "s1_learning" / "report.html").is_file()
    assert "Batch report" in (reference.out_dir / "cohort_report.html").read_text(encoding="utf-8")
    # The CLI on the same folder: everything good is already complete, the exit code says one failed.
    assert main(["batch", str(cohort / "mixed.csv"), "--out", str(reference.out_dir)]) == 1


def test_outputs_are_current_only_for_same_input_and_config(reference, cohort, tmp_path):
    task = next(t for t in make_tasks(cohort / "mixed.csv", reference.out_dir, Config()) if t.subject == "s1")
    assert is_complete(task) is not None
    changed = make_tasks(cohort / "mixed.csv", reference.out_dir, Config().replace("detection", fast={"thresh_rms": 2.0}))
    assert is_complete(next(t for t in changed if t.subject == "s1")) is None
    # where tasks run changes no output: a batch on a cluster, with other workers or retries, reuses the folder
    elsewhere = Config().replace("batch", jobs=8, scheduler="local", retries=0, worker_memory="2GB")
    assert is_complete(next(t for t in make_tasks(cohort / "mixed.csv", reference.out_dir, elsewhere)
                            if t.subject == "s1")) is not None
    other_input = task.__class__(**{**task.__dict__, "recording": str(cohort / "s2.edf")})
    assert is_complete(other_input) is None
    # the subject report shows the lateralisation for the declared hand, so another hand recomputes
    other_hand = replace(task, trained_hand="left" if task.trained_hand == "right" else "right")
    assert is_complete(other_hand) is None
    # a folder written before sigma.csv existed is not complete, even though run.json does not list it
    old = tmp_path / "old"
    shutil.copytree(task.out_dir, old)
    (old / "sigma.csv").unlink()
    run = json.loads((old / "run.json").read_text())
    (old / "run.json").write_text(json.dumps({**run, "files": ["events.csv", "summary.csv"]}))
    assert is_complete(replace(task, out_dir=str(old))) is None


def test_a_folder_with_a_pdf_report_is_complete_for_a_pdf_batch(reference, cohort, tmp_path):
    """--format pdf: the folder's report is report.pdf, so a rerun reuses it (and recomputes without it)."""
    pdf = Config().replace("report", format="pdf")
    task = next(t for t in make_tasks(cohort / "mixed.csv", tmp_path / "out", pdf) if t.subject == "s1")
    shutil.copytree(reference.out_dir / "s1_learning", task.out_dir)
    folder = Path(task.out_dir)
    (folder / "report.html").rename(folder / "report.pdf")
    run = json.loads((folder / "run.json").read_text())
    run["config"]["report"]["format"] = "pdf"
    run["files"] = [("report.pdf" if name == "report.html" else name) for name in run["files"]]
    (folder / "run.json").write_text(json.dumps(run))
    assert is_complete(task) is not None
    (folder / "report.pdf").unlink()
    assert is_complete(task) is None


def test_run_tables_read_back_sigma_and_n2_minutes(reference):
    tables = read_run_tables(reference.out_dir / "s1_learning")
    record = tables.record
    assert record.staged and record.n2_minutes == 12.0  # 24 N2 epochs of 30 s
    assert list(tables.sigma.columns) == list(SIGMA.names) and tables.sigma["n_epochs"].dtype == np.int64
    assert record.subject == "s1" and record.trained_hand == "right"
    assert record.count("spindles") == len(tables.events) > 0
    unstaged = record.with_(staging=StagingInfo())
    assert not unstaged.staged and np.isnan(unstaged.n2_minutes)
    # the record survives its JSON form unchanged
    assert RunRecord.from_json(json.loads(json.dumps(record.to_json()))) == record


def _interrupted_run(manifest: Path, out: Path, after: int) -> int:
    """Run the CLI in a subprocess and send it SIGINT once ``after`` recordings are complete."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # A CI runner may start the suite with SIGINT ignored, which the child would inherit (Python then
    # installs no KeyboardInterrupt handler): the child installs it, as a user's terminal would have it.
    start = ("import runpy, signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "runpy.run_module('sleepspindles.cli', run_name='__main__')")
    proc = subprocess.Popen([sys.executable, "-c", start, "batch", str(manifest), "--out", str(out), "--jobs", "1"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while proc.poll() is None and len(list(out.glob("*/run.json"))) < after:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    return proc.returncode


def test_interrupt_then_resume(cohort, reference, tmp_path):
    code = _interrupted_run(cohort / "good.csv", tmp_path, after=2)
    finished = sorted(p.parent.name for p in tmp_path.glob("*/run.json"))
    assert code == 130 and 2 <= len(finished) < len(GOOD)
    assert not list(tmp_path.rglob("*.part"))  # the interrupted write left no temporary file
    before = {name: (tmp_path / name / "run.json").read_bytes() for name in finished}
    stamps = {name: (tmp_path / name / "events.csv").stat().st_mtime_ns for name in finished}
    resumed = run_batch(cohort / "good.csv", tmp_path, Config(), jobs=1, progress=False)
    assert sorted(f"{s.replace('/', '_')}" for s in resumed.skipped) == finished
    assert len(resumed.done) == len(GOOD) - len(finished) and not resumed.failed
    for name in finished:  # not recomputed: same provenance (creation time inside) and untouched files
        assert (tmp_path / name / "run.json").read_bytes() == before[name]
        assert (tmp_path / name / "events.csv").stat().st_mtime_ns == stamps[name]
    ours, theirs = tables(tmp_path), tables(reference.out_dir)
    for key in ours:
        pd.testing.assert_frame_equal(ours[key], theirs[key])


@pytest.mark.slow
def test_dask_local_cluster_matches_local_pool(cohort, reference, tmp_path):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster:
        result = run_batch(cohort / "mixed.csv", tmp_path, Config(), scheduler=cluster.scheduler_address,
                           progress=False)
    assert result.failed == ["s5/learning"] and len(result.done) == len(GOOD)
    ours, theirs = tables(tmp_path), tables(reference.out_dir)
    for key in ours:
        pd.testing.assert_frame_equal(ours[key], theirs[key])
    pd.testing.assert_frame_equal(result.status[["subject", "status", "n_spindles", "error"]],
                                  reference.status[["subject", "status", "n_spindles", "error"]])


def _rows(tmp_path: Path, *rows: str) -> Path:
    manifest = tmp_path / "manifest.csv"
    manifest.write_text("\n".join(["subject,night,recording,trained_hand", *rows]) + "\n")
    return manifest


def test_a_manifest_without_trained_hands_runs_as_a_batch(cohort, tmp_path):
    """Batch processing (no laterality) needs no trained hand: the reports say how lateralisation would be had."""
    manifest = tmp_path / "unlabelled.csv"
    manifest.write_text(f"subject,night,recording\ns1,learning,{cohort / 's1.edf'}\n")
    result = run_batch(manifest, tmp_path / "out", Config(), jobs=1, progress=False)
    assert result.done == ["s1/learning"] and not result.failed
    report = (tmp_path / "out" / "s1_learning" / "report.html").read_text(encoding="utf-8")
    assert "lateralisation needs the trained hand" in report


def test_folder_names_are_readable_stable_and_distinct(tmp_path):
    manifest = _rows(tmp_path, "A/B,post,a.edf,left", "A-B,post,b.edf,left", "s 01,night 1,c.edf,right")
    names = [Path(t.out_dir).name for t in make_tasks(manifest, tmp_path / "out", Config())]
    assert names[1] == "A-B_post"  # already safe: kept as is
    assert re.fullmatch(r"A-B_post-[0-9a-f]{8}", names[0]) and re.fullmatch(r"s-01_night-1-[0-9a-f]{8}", names[2])
    assert names == [Path(t.out_dir).name for t in make_tasks(manifest, tmp_path / "out", Config())]


@pytest.mark.parametrize("first, second, folders", [
    ("A_B,C", "A,B_C", "the same output folder 'A_B_C'"),
])
def test_rows_sharing_an_output_folder_stop_the_batch_before_any_work(tmp_path, first, second, folders):
    manifest = _rows(tmp_path, "x,baseline,x.edf,left", f"{first},a.edf,left", f"{second},b.edf,left")
    (a_subject, a_night), (b_subject, b_night) = first.split(","), second.split(",")
    with pytest.raises(DataError) as info:
        run_batch(manifest, tmp_path / "out", Config(), jobs=1, progress=False)
    assert str(info.value) == (f"{manifest}: rows 2 and 3 (subject {a_subject!r} night {a_night!r}, subject "
                               f"{b_subject!r} night {b_night!r}) would write to {folders}; rename one of them")
    assert not (tmp_path / "out").exists()


def test_labels_differing_only_in_case_stop_the_batch_before_any_work(tmp_path):
    """s01 and S01 would be two subjects here and one folder on a case-insensitive file system."""
    manifest = _rows(tmp_path, "x,baseline,x.edf,left", "s01,post,a.edf,left", "S01,post,b.edf,left")
    with pytest.raises(DataError, match="row 3: field 'subject' is 'S01' but row 2 spells it 's01'"):
        run_batch(manifest, tmp_path / "out", Config(), jobs=1, progress=False)
    assert not (tmp_path / "out").exists()


def test_status_lists_dropped_channels_and_leftover_part_files_go(cohort, tmp_path, monkeypatch):
    """Done and skipped rows say which channels were dropped (read from run.json)."""
    from dataclasses import replace

    import sleepspindles.pipeline.run as pipeline

    real = pipeline.process_recording

    def dropping(*args, **kwargs):  # as the loader reports an unusable channel
        result = real(*args, **kwargs)
        info = replace(result.record.recording, dropped_channels={"F4": "flat (constant 0)", "O2": "no signal"})
        return replace(result, record=result.record.with_(recording=info))

    monkeypatch.setattr(pipeline, "process_recording", dropping)
    manifest = _rows(tmp_path, f"s1,learning,{cohort / 's1.edf'},right")
    out = tmp_path / "out"
    (out / "s1_learning").mkdir(parents=True)
    leftovers = [out / ".status.csv.a1b2c3d4.part", out / "s1_learning" / ".events.csv.k_9z0qxw.part"]
    for path in leftovers:
        path.write_bytes(b"")
    dropped = "F4: flat (constant 0); O2: no signal"
    for state in ("done", "skipped"):
        status = run_batch(manifest, out, Config(), jobs=1, progress=False).status
        assert status[["status", "dropped_channels"]].values.tolist() == [[state, dropped]]
    assert pd.read_csv(out / "status.csv")["dropped_channels"].tolist() == [dropped]
    assert not any(path.exists() for path in leftovers)


def test_unreachable_scheduler_is_a_one_line_error_before_any_task(cohort, tmp_path, capsys):
    pytest.importorskip("distributed")
    started = time.perf_counter()
    code = main(["batch", str(cohort / "good.csv"), "--out", str(tmp_path), "--scheduler", "tcp://127.0.0.1:1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and time.perf_counter() - started < 20
    assert err.startswith("sleepspindles: error: Dask scheduler tcp://127.0.0.1:1: not reachable within 5 s (")
    assert "\n" not in err and not list(tmp_path.iterdir())  # no recording was started
    with pytest.raises(ConfigError, match="Dask scheduler nonsense: not reachable"):
        run_batch(cohort / "good.csv", tmp_path, Config(), scheduler="nonsense", progress=False)
