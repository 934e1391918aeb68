"""Writing files: the user's umask, leftover temporary files, output folders, run folders as a set."""

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest

from sleepspindles.errors import DataError
from sleepspindles.output import (
    RunFolder,
    prepare_folder,
    write_csv,
    write_edf,
    write_parquet,
    write_text,
)
from sleepspindles.recording import Recording
from sleepspindles.records import InputFile, RecordingInfo, RunRecord, StagingInfo


@pytest.fixture
def umask():
    """Set the process umask for one test, then restore it."""
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600)])
def test_files_get_the_mode_of_the_users_umask(tmp_path, umask, mask, mode):
    umask(mask)
    frame = pd.DataFrame({"a": [1, 2]})
    recording = Recording(np.random.default_rng(0).normal(0, 20, (2, 1000)), 100.0, ("C3", "C4"))
    written = [write_text(tmp_path / "a.txt", "x"), write_csv(tmp_path / "a.csv", frame),
               write_parquet(tmp_path / "a.parquet", frame), write_edf(recording, tmp_path / "a.edf")]
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in written} == {p.name: mode for p in written}


def test_prepare_folder_removes_only_leftover_part_files(tmp_path):
    leftovers = [".events.csv.a1b2c3d4.part", ".run.json.k_9z0qxw.part"]  # ours, and tempfile.mkstemp's
    others = ["events.csv", "notes.part", ".hidden.part", ".x.ABCDEFGH.part", ".x.a1b2c3d4.part.bak"]
    for name in leftovers + others:
        (tmp_path / name).write_bytes(b"")
    (tmp_path / ".dir.a1b2c3d4.part").mkdir()  # a folder is never a leftover of ours
    assert prepare_folder(tmp_path) == tmp_path
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*others, ".dir.a1b2c3d4.part"])


def test_output_folder_that_is_a_file_or_cannot_be_created(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("x")
    with pytest.raises(DataError) as info:
        prepare_folder(taken)
    assert str(info.value) == f"{taken}: --out must be a folder; a file of that name exists"
    with pytest.raises(DataError, match="cannot write to this output folder") as info:
        prepare_folder(taken / "sub")
    assert str(info.value).startswith(f"{taken / 'sub'}: ") and "\n" not in str(info.value)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_output_folder(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(DataError, match=f"{folder}: cannot write to this output folder"):
            prepare_folder(folder)
    finally:
        folder.chmod(0o755)


def test_run_folder_is_replaced_as_a_set(tmp_path):
    owned = ["events.csv", "summary.csv", "sigma.csv", "report.html", "report.pdf", "truth.csv", "scores.csv"]
    for name in [*owned, "demo.edf", "notes.txt", "run.json"]:
        (tmp_path / name).write_text("old")
    folder = RunFolder(tmp_path)
    assert not (tmp_path / "run.json").exists()  # opened for writing: no longer marked complete
    folder.add(write_text(tmp_path / "report.html", "new"))
    with pytest.raises(ValueError):
        folder.add(tmp_path / "notes.txt")  # not a file a run folder owns
    record = RunRecord(created="now", versions={}, config={}, staging=StagingInfo(), detection={},
                       recording=RecordingInfo(None, 100.0, 1.0, (), (), (), ()),
                       inputs={"recording": InputFile(str(tmp_path / "demo.edf"), "0" * 64)})
    folder.write_tables({"spindles": pd.DataFrame({"start": [1.0]}), "spindle_summary": pd.DataFrame({"n": [1]})})
    files = folder.finish(record)
    assert list(files) == ["report.html", "events.csv", "summary.csv", "run.json"]
    left = {p.name for p in tmp_path.iterdir()}
    # stale outputs are gone; the input recording and the file the run does not own are untouched
    assert left == {"report.html", "events.csv", "summary.csv", "demo.edf", "notes.txt", "run.json"}
    assert (tmp_path / "notes.txt").read_text() == "old" and (tmp_path / "demo.edf").read_text() == "old"
    run = json.loads((tmp_path / "run.json").read_text())
    assert run["files"] == ["events.csv", "report.html", "summary.csv"]
    last = max(left - {"run.json", "notes.txt", "demo.edf"}, key=lambda n: (tmp_path / n).stat().st_mtime_ns)
    assert (tmp_path / "run.json").stat().st_mtime_ns >= (tmp_path / last).stat().st_mtime_ns
