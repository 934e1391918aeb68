"""Review export: detections as EDF+ annotations beside the signal, as MNE FIF, as CSV, and read back.

One short synthetic night at 100 Hz (sample times k/100 are not exact binary fractions, so the
EDF+ text onsets are really put to the test) is run through the pipeline into a run folder;
every export must give back the run's events to the sample, open in mne and edfio with its
annotations, and a reviewer's corrected copy must become a table ``evaluate`` scores.
"""

import logging
import re
import shutil

import edfio
import mne
import numpy as np
import pandas as pd
import pytest

from sleepspindles.config import Config
from sleepspindles.errors import ConfigError, DataError
from sleepspindles.evaluation.scoring import evaluate_files
from sleepspindles.hypnogram import Hypnogram
from sleepspindles.io.annotations import read_annotation_events
from sleepspindles.io.results import read_run_tables
from sleepspindles.output import RunFolder, write_csv, write_edf
from sleepspindles.pipeline.bids_run import REVIEWED_FILES, export_run, review_file
from sleepspindles.pipeline.run import process_recording
from sleepspindles.synthetic import make_synthetic_night

SF = 100.0
STAGES = np.array([0] * 2 + [1] + [2] * 16 + [3] * 8 + [2] * 4 + [4] * 3, dtype=np.int8)  # 17 min


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    night = make_synthetic_night(sf=SF, channels=("C3", "C4"), density=4.0, so_density=6.0, seed=3,
                                 hypnogram=Hypnogram(STAGES))
    edf = write_edf(night.recording, folder / "night.edf")
    result = process_recording(edf, None, Config())
    out = RunFolder(folder / "run")
    out.write_tables(result.tables)
    out.finish(result.record)
    assert len(result.events) > 20 and len(result.tables["slow_oscillations"]) > 5
    return out.path


def _samples(frame):
    return (np.rint(frame["start"].to_numpy() * SF).astype(int), np.rint(frame["end"].to_numpy() * SF).astype(int))


def _assert_same_events(got, want):
    want = want.sort_values(["channel", "start"], kind="stable").reset_index(drop=True)
    assert list(got["channel"]) == list(want["channel"])
    for a, b in zip(_samples(got), _samples(want)):
        np.testing.assert_array_equal(a, b)
    assert (got["start"].to_numpy() == want["start"].to_numpy()).all()  # bit-identical, not just close
    assert (got["end"].to_numpy() == want["end"].to_numpy()).all()


def test_detections_are_on_the_sample_grid(run_dir):
    """What "lossless to the sample" rests on: the detectors' times are whole samples."""
    events = read_run_tables(run_dir).events
    for column in ("start", "end"):
        np.testing.assert_allclose(events[column] * SF, np.rint(events[column] * SF), atol=1e-6)


def test_edf_export_round_trip_is_lossless_and_opens_in_mne_and_edfio(run_dir):
    stored = read_run_tables(run_dir)
    path = export_run(run_dir, "edf")["review.edf"]
    assert path == review_file(run_dir, "edf") and path.is_file()
    back = read_annotation_events(path)
    _assert_same_events(back["spindles"], stored.events)
    _assert_same_events(back["slow_oscillations"], stored.tables["slow_oscillations"])
    raw = mne.io.read_raw_edf(path, preload=True, verbose="error")
    assert raw.ch_names == ["C3", "C4"] and raw.info["sfreq"] == SF
    texts = list(raw.annotations.description)
    assert texts.count("spindle C3") == int((stored.events["channel"] == "C3").sum())
    assert sum(t.startswith("slow oscillation ") for t in texts) == len(stored.tables["slow_oscillations"])
    assert texts.count("Sleep stage N2") == int((STAGES == 2).sum())
    edf = edfio.read_edf(path)
    assert len([a for a in edf.annotations if a.text.startswith("spindle ")]) == len(stored.events)
    assert [s.label for s in edf.signals] == ["C3", "C4"]


def test_fif_export_carries_channels_in_ch_names(run_dir):
    stored = read_run_tables(run_dir)
    path = export_run(run_dir, "fif")["review_raw.fif"]
    raw = mne.io.read_raw_fif(path, verbose="error")
    spindle = [i for i, d in enumerate(raw.annotations.description) if d.startswith("spindle")]
    assert {raw.annotations.ch_names[i] for i in spindle} == {("C3",), ("C4",)}
    _assert_same_events(read_annotation_events(path)["spindles"], stored.events)


def test_csv_export_round_trip(run_dir):
    stored = read_run_tables(run_dir)
    path = export_run(run_dir, "csv")["review_annotations.csv"]
    table = pd.read_csv(path)
    assert list(table.columns) == ["onset", "duration", "description", "channel", "kind", "sample"]
    np.testing.assert_array_equal(table["sample"], np.rint(table["onset"] * SF))
    _assert_same_events(read_annotation_events(path, sf=SF)["spindles"], stored.events)


def test_reviewer_corrections_become_a_table_evaluate_scores(run_dir, tmp_path, caplog):
    """A reviewer deletes one spindle, adds one and a note; --from reads it back for evaluate."""
    stored = read_run_tables(run_dir)
    edf = edfio.read_edf(export_run(run_dir, "edf", out=tmp_path / "review.edf")["review.edf"])
    annotations = list(edf.annotations)
    first = next(i for i, a in enumerate(annotations) if a.text.startswith("spindle "))
    kept = annotations[:first] + annotations[first + 1:]
    added = [edfio.EdfAnnotation(1.0, 1.0, "spindle C4"), edfio.EdfAnnotation(5.0, None, "Lights off")]
    edf.set_annotations([*kept, *added])
    edf.write(tmp_path / "reviewed.edf")
    with caplog.at_level(logging.WARNING):
        files = export_run(run_dir, "csv", source=tmp_path / "reviewed.edf", out=tmp_path)
    assert "'Lights off' (1)" in caplog.text  # left out, and said so
    assert set(files) == {REVIEWED_FILES["spindles"], REVIEWED_FILES["slow_oscillations"]}
    reviewed = pd.read_csv(files["reviewed_events.csv"])
    assert len(reviewed) == len(stored.events)  # one deleted, one added
    scores = evaluate_files([files["reviewed_events.csv"]], run_dir / "events.csv", iou=0.2).pooled
    n = len(stored.events)
    assert (scores["n_ref"], scores["n_det"], scores["tp"]) == (n, n, n - 1)  # one missed, one extra


def test_export_refuses_what_it_cannot_do(run_dir, tmp_path):
    with pytest.raises(ConfigError, match="'to' parameter must be one of"):
        export_run(run_dir, "pdf")
    with pytest.raises(DataError, match="annotation file not found"):
        export_run(run_dir, "csv", source=tmp_path / "absent.edf")
    with pytest.raises(DataError, match="run.json"):
        export_run(tmp_path, "edf")
    bad = tmp_path / "notes.csv"
    bad.write_text("time,text\n1,spindle\n")
    with pytest.raises(DataError, match=r"needs column\(s\) \['onset', 'duration', 'description'\]"):
        export_run(run_dir, "csv", source=bad)


def test_a_rerun_removes_the_earlier_exports_but_not_a_reviewers_table(run_dir, tmp_path):
    # An export shows the detections of the run that made it: a new run of the folder would leave
    # it contradicting the new tables. A reviewer's table is the reviewer's work, not the run's.
    folder = shutil.copytree(run_dir, tmp_path / "run")
    exported = [review_file(folder, to) for to in ("edf", "csv")]
    for to in ("edf", "csv"):
        export_run(folder, to)
    reviewed = folder / REVIEWED_FILES["spindles"]
    reviewed.write_text("channel,start,end\nC3,10.0,11.0\n")
    stored = read_run_tables(folder)
    again = RunFolder(folder)
    again.write_tables(stored.tables)
    again.finish(stored.record)
    assert not any(p.exists() for p in exported)
    assert reviewed.is_file() and (folder / "events.csv").is_file()


# ----------------------------------------------------------------------------- a reviewer's file read into the run


def _read_into_run(run_dir, path):
    """A reviewer's file read as ``export --from`` reads it: matched to the run's channels and length."""
    rec = read_run_tables(run_dir).record.recording
    return read_annotation_events(path, sf=rec.sf, channels=rec.channels, duration=rec.duration_seconds)


def _reviewer_csv(path, events, spelling, extra=()):
    """The run's events as a reviewer's annotation CSV, each channel typed as ``spelling[channel]``."""
    rows = [(s, e - s, f"spindle {spelling[c]}") for c, s, e in zip(events["channel"], events["start"], events["end"])]
    pd.DataFrame([*rows, *extra], columns=["onset", "duration", "description"]).to_csv(path, index=False)
    return path


def test_reviewed_channels_are_matched_to_the_runs_spelling(run_dir, tmp_path):
    """QA: 'spindle c3' gave channel 'c3', and evaluate missed every C3 detection (recall 0.47, not 1)."""
    stored = read_run_tables(run_dir)
    path = _reviewer_csv(tmp_path / "reviewed.csv", stored.events, {"C3": "c3", "C4": "EEG C4-M1"})
    assert set(read_annotation_events(path)["spindles"]["channel"]) == {"c3", "EEG C4-M1"}  # no run: as typed
    reviewed = _read_into_run(run_dir, path)["spindles"]
    assert sorted(set(reviewed["channel"])) == ["C3", "C4"]
    _assert_same_events(reviewed, stored.events)
    table = write_csv(tmp_path / "reviewed_events.csv", reviewed)
    scores = evaluate_files([table], run_dir / "events.csv", iou=0.2).pooled
    n = len(stored.events)
    assert (scores["n_ref"], scores["n_det"], scores["tp"], scores["recall"]) == (n, n, n, 1.0)


def test_reviewed_channels_in_fif_ch_names_are_matched_too(run_dir, tmp_path):
    stored = read_run_tables(run_dir)
    events = stored.events
    ann = mne.Annotations(events["start"].to_numpy(), (events["end"] - events["start"]).to_numpy(),
                          ["spindle"] * len(events), ch_names=[(c.lower(),) for c in events["channel"]])
    ann.save(tmp_path / "reviewed-annot.fif", verbose="error")
    _assert_same_events(_read_into_run(run_dir, tmp_path / "reviewed-annot.fif")["spindles"], events)


@pytest.mark.parametrize("stray, problem", [
    ((5000.0, 1.0, "spindle C4"), r"'spindle C4' at 5000 s \(to 5001 s\) lies outside the recording"),
    ((1019.5, 1.0, "spindle C3"), r"'spindle C3' at 1019.5 s \(to 1020.5 s\) lies outside the recording"),
    ((-0.5, 1.0, "spindle C3"), r"'spindle C3' at -0.5 s \(to 0.5 s\) lies outside the recording"),
    ((12.0, 1.0, "spindle Pz"), r"'spindle Pz' at 12 s: the run has no channel 'Pz'"),
    ((12.0, 1.0, "spindle"), r"'spindle' at 12 s: names no channel \(write one, as in 'spindle C3'\)"),
])
def test_a_reviewed_annotation_the_run_cannot_hold_refuses_the_file(run_dir, tmp_path, stray, problem):
    """QA: an event at 5000 s in a 2700 s night was kept and scored as a miss; one stray mark refuses the file."""
    stored = read_run_tables(run_dir)
    assert stored.record.recording.duration_seconds == 1020.0  # the 17-minute night of STAGES
    path = _reviewer_csv(tmp_path / "reviewed.csv", stored.events, {"C3": "C3", "C4": "C4"}, [stray])
    with pytest.raises(DataError, match=rf"^{re.escape(str(path))}: 1 event annotation\(s\) do not fit the "
                                        rf"run \(channels C3, C4; 0 to 1020 s\), so none is read: {problem}$"):
        _read_into_run(run_dir, path)


def test_reviewed_annotations_at_the_recordings_edges_are_kept(run_dir, tmp_path):
    edges = [(0.0, 0.5, "spindle C3"), (1019.0, 1.0, "spindle C4"), (1019.0, 1.004, "spindle C3")]  # < half a sample
    path = _reviewer_csv(tmp_path / "reviewed.csv", read_run_tables(run_dir).events.iloc[:0], {}, edges)
    reviewed = _read_into_run(run_dir, path)["spindles"]
    assert list(zip(reviewed["channel"], reviewed["start"], reviewed["end"])) == [
        ("C3", 0.0, 0.5), ("C3", 1019.0, 1020.0), ("C4", 1019.0, 1020.0)]


def test_refused_reviewed_annotations_are_listed_on_one_line_at_most_ten(run_dir, tmp_path):
    strays = [(2000.0 + i, 1.0, "spindle C3") for i in range(12)] + [(5.0, 1.0, "spindle O1")]
    path = _reviewer_csv(tmp_path / "reviewed.csv", read_run_tables(run_dir).events, {"C3": "C3", "C4": "C4"},
                         strays)
    with pytest.raises(DataError) as caught:
        _read_into_run(run_dir, path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: 13 event annotation(s)")
    assert message.count("lies outside the recording") == 10 and message.endswith("; and 3 more")


def test_a_reviewed_edf_on_an_unknown_channel_is_refused(run_dir, tmp_path):
    edf = edfio.read_edf(export_run(run_dir, "edf", out=tmp_path / "review.edf")["review.edf"])
    edf.set_annotations([*edf.annotations, edfio.EdfAnnotation(30.0, 1.0, "spindle Fz")])
    edf.write(tmp_path / "reviewed.edf")
    with pytest.raises(DataError, match=r"reviewed\.edf: 1 event annotation.*'spindle Fz' at 30 s: the run has no "
                                        r"channel 'Fz'$"):
        _read_into_run(run_dir, tmp_path / "reviewed.edf")


def test_reading_into_a_run_refuses_a_bad_run_description(tmp_path):
    path = tmp_path / "reviewed.csv"
    path.write_text("onset,duration,description\n1,1,spindle C3\n")
    with pytest.raises(ConfigError, match="'duration' parameter must be the recording length"):
        read_annotation_events(path, duration=-1.0)
    with pytest.raises(ConfigError, match="'channels' parameter must be a sequence of channel names"):
        read_annotation_events(path, channels="C3")


def test_export_from_a_reviewers_file_reads_it_into_the_run(run_dir, tmp_path):
    stored = read_run_tables(run_dir)
    path = _reviewer_csv(tmp_path / "reviewed.csv", stored.events, {"C3": "c3", "C4": "C4"})
    files = export_run(run_dir, "csv", source=path, out=tmp_path)
    assert sorted(set(pd.read_csv(files["reviewed_events.csv"])["channel"])) == ["C3", "C4"]
    _reviewer_csv(path, stored.events, {"C3": "C3", "C4": "C4"}, [(5000.0, 1.0, "spindle C4")])
    with pytest.raises(DataError, match="'spindle C4' at 5000 s"):
        export_run(run_dir, "csv", source=path, out=tmp_path)
