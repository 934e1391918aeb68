"""BIDS in and out: a dataset written by mne-bids read as a cohort manifest, and BIDS-derivative outputs.

One synthetic EEG-BIDS dataset (4 subjects x 2 sessions, 18-min nights at 128 Hz, the trained
hand in participants.tsv, scores in sessions.tsv, one channel marked bad, stages as events)
runs through :func:`run_cohort` and must give the same laterality table as the equivalent
hand-written manifest CSV. No BIDS validator installs here (PyPI's bids-validator is the Deno
one, which downloads its runtime), so the derivatives are checked against the rules that matter:
entity names, required columns first, a sidecar describing every column, the dataset description.
"""

import json
import re
import shutil
from pathlib import Path

import mne_bids
import numpy as np
import pandas as pd
import pytest

from sleepspindles import report
from sleepspindles.config import Config
from sleepspindles.errors import DataError
from sleepspindles.hypnogram import Hypnogram
from sleepspindles.io.bids import BidsColumns, BidsSource, read_bad_channels, read_bids, read_bids_hypnogram
from sleepspindles.io.manifest import read_manifest
from sleepspindles.io.results import read_status
from sleepspindles.output import write_text
from sleepspindles.output.bids import HED_VERSION, bids_entities
from sleepspindles.pipeline.bids_run import cohort_source, write_derivatives
from sleepspindles.pipeline.cohort import run_cohort
from sleepspindles.synthetic import make_synthetic_night

STAGES = np.array([0] * 2 + [1] + [2] * 20 + [3] * 6 + [2] * 4 + [4] * 3, dtype=np.int8)  # 36 epochs, 18 min
SESSIONS = ("baseline", "post")
BAD = ("02", "post", "F3")  # subject, session, channel marked bad
# Small resampling counts: the statistics are not under test here, the inputs are.
CONFIG = Config().replace("laterality", n_boot=100, n_perm=100, n_cluster_perm=100, pairs=[["C3", "C4"], ["F3", "F4"]])


def _write_dataset(root):
    for i in range(4):
        for j, ses in enumerate(SESSIONS):
            gain = 1.5 if ses == "post" else 0.0  # more spindles contralaterally after training
            contra, ipsi = ("C4", "C3") if i % 2 == 0 else ("C3", "C4")
            night = make_synthetic_night(sf=128.0, channels=("C3", "C4", "F3", "F4"), seed=10 * i + j,
                                         density={contra: 2.0 + gain, ipsi: 2.0, "F3": 2.0, "F4": 2.0},
                                         hypnogram=Hypnogram(STAGES))
            raw = night.recording.to_mne()
            raw.info["line_freq"] = 50
            if (f"{i + 1:02d}", ses) == BAD[:2]:
                raw.info["bads"] = [BAD[2]]
            path = mne_bids.BIDSPath(subject=f"{i + 1:02d}", session=ses, task="sleep", root=root, datatype="eeg")
            mne_bids.write_raw_bids(raw, path, format="EDF", allow_preload=True, overwrite=True, verbose="error")
    participants = pd.read_csv(root / "participants.tsv", sep="\t")
    participants["trained_hand"] = ["left" if i % 2 == 0 else "right" for i in range(4)]
    participants["age"] = [24, 31, 27, 22]
    participants.to_csv(root / "participants.tsv", sep="\t", index=False, na_rep="n/a")
    for i in range(4):
        sub = f"sub-{i + 1:02d}"
        pd.DataFrame({"session_id": [f"ses-{s}" for s in SESSIONS], "score_pre": ["n/a", 30 + i],
                      "score_post": ["n/a", 35 + 2 * i]}).to_csv(root / sub / f"{sub}_sessions.tsv", sep="\t",
                                                                  index=False)
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return _write_dataset(tmp_path_factory.mktemp("bids") / "ds")


@pytest.fixture(scope="module")
def cohorts(dataset, tmp_path_factory):
    """The BIDS cohort and the equivalent manifest CSV, in one output folder (the CSV rows reuse the recordings)."""
    out = tmp_path_factory.mktemp("cohort")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(report, "write_subject_report", lambda result, folder, **kw: write_text(
            Path(folder) / "report.html", "<html></html>"))
        patch.setattr(report, "write_cohort_report", lambda result, status, folder, **kw: write_text(
            Path(folder) / "cohort_report.html", "<html></html>"))
        return _run_both(dataset, out)


def _run_both(dataset, out):
    from_bids = run_cohort(BidsSource(str(dataset)), out, CONFIG, jobs=1, progress=False)
    rows = []  # the same cohort written by hand: paths, hands, scores, the bad channel
    for i in range(4):
        for ses in SESSIONS:
            sub, stem = f"sub-0{i + 1}", f"sub-0{i + 1}_ses-{ses}_task-sleep"
            folder = dataset / sub / f"ses-{ses}" / "eeg"
            rows.append({"subject": sub, "night": ses, "recording": folder / f"{stem}_eeg.edf",
                         "hypnogram": folder / f"{stem}_events.tsv", "trained_hand": "left" if i % 2 == 0 else "right",
                         "score_pre": 30 + i if ses == "post" else "",
                         "score_post": 35 + 2 * i if ses == "post" else "",
                         "bad_channels": BAD[2] if (f"0{i + 1}", ses) == BAD[:2] else "", "age": [24, 31, 27, 22][i]})
    manifest = out / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    from_csv = run_cohort(manifest, out, CONFIG, jobs=1, progress=False)
    return out, from_bids, from_csv


def test_dataset_reads_as_a_manifest(dataset):
    manifest = read_manifest(dataset)  # a folder is read as BIDS
    assert [(r.subject, r.night) for r in manifest.rows] == [(f"sub-0{i}", s) for i in range(1, 5) for s in SESSIONS]
    assert [r.trained_hand for r in manifest.rows] == ["left", "left", "right", "right"] * 2
    post = manifest.rows[3]
    assert (post.score_pre, post.score_post) == (31.0, 37.0) and np.isnan(manifest.rows[2].score_pre)
    assert post.bad_channels == {"F3": "marked bad in sub-02_ses-post_task-sleep_channels.tsv"}
    assert all(not r.bad_channels for r in manifest.rows if r is not post)
    assert post.hypnogram.endswith("sub-02_ses-post_task-sleep_events.tsv")
    assert post.recording.endswith("sub-02_ses-post_task-sleep_eeg.edf")
    assert dict(post.bids) == {"subject": "02", "session": "post", "task": "sleep"}
    assert "age" in manifest.covariates and post.covariates["age"] == "31"
    assert "trained_hand" not in manifest.covariates and "participant_id" not in manifest.covariates


def test_filters_pick_subjects_sessions_and_task(dataset):
    picked = read_manifest(BidsSource(str(dataset), subjects=("sub-01", "03"), sessions=("post",), task="sleep"))
    assert [(r.subject, r.night) for r in picked.rows] == [("sub-01", "post"), ("sub-03", "post")]
    assert cohort_source(dataset, subjects=["01"]).subjects == ("01",)
    with pytest.raises(DataError, match=r"no EEG recording .* matching \{'task': 'rest'\}"):
        read_bids(BidsSource(str(dataset), task="rest"))


def test_stage_events_are_the_hypnogram(dataset):
    events = dataset / "sub-01" / "ses-post" / "eeg" / "sub-01_ses-post_task-sleep_events.tsv"
    hyp = read_bids_hypnogram(events)
    np.testing.assert_array_equal(hyp.stages, STAGES)
    assert hyp.path == str(events) and hyp.epoch_length == 30.0


def test_stage_labels_in_events_files(tmp_path):
    """Bare labels and prefixed ones are stages; other events are not; unknown stage labels are errors."""
    path = tmp_path / "sub-x_task-sleep_events.tsv"
    path.write_text("onset\tduration\ttrial_type\n0\t30\tW\n30\t60\tN2\n45\t0\tarousal\n90\t30\tsleep_stage_R\n")
    np.testing.assert_array_equal(read_bids_hypnogram(path).stages, [0, 2, 2, 4])
    path.write_text("onset\tduration\ttrial_type\n0\t30\tSleep stage X\n")
    with pytest.raises(DataError, match="unknown sleep-stage label"):
        read_bids_hypnogram(path)
    path.write_text("onset\tduration\ttrial_type\n3\t0\tbutton\n")
    assert read_bids_hypnogram(path) is None


def test_what_a_cohort_lacks_is_listed_in_one_error(dataset, tmp_path):
    copy = shutil.copytree(dataset, tmp_path / "ds")
    participants = pd.read_csv(copy / "participants.tsv", sep="\t")
    participants.drop(columns="trained_hand").iloc[:3].to_csv(copy / "participants.tsv", sep="\t", index=False)
    with pytest.raises(DataError) as err:
        read_bids(copy)
    message = str(err.value)
    assert message.startswith(f"{copy}: cannot be read as a cohort: ")
    assert "participants.tsv has no 'trained_hand' column" in message
    assert "BIDS's 'hand' column is handedness" in message  # mne-bids writes a 'hand' column
    assert "sub-04 is not in participants.tsv" in message
    columns = BidsColumns(trained_hand="hand")  # naming the column explicitly is allowed
    participants.iloc[:3].assign(hand=["left", "r", "x"]).to_csv(copy / "participants.tsv", sep="\t", index=False)
    with pytest.raises(DataError, match="'hand' must be left or right; got 'x'"):
        read_bids(BidsSource(str(copy), subjects=("01", "02", "03"), columns=columns))
    assert [r.trained_hand for r in read_bids(BidsSource(str(copy), subjects=("01", "02"), columns=columns)).rows] \
        == ["left", "left", "right", "right"]


def test_bad_channels_file(tmp_path):
    path = tmp_path / "sub-1_task-s_channels.tsv"
    path.write_text("name\ttype\tunits\tstatus\tstatus_description\nC3\tEEG\tuV\tgood\tn/a\nO1\tEEG\tuV\tbad\tpopping\n")
    assert read_bad_channels(path) == {"O1": "marked bad in sub-1_task-s_channels.tsv (popping)"}


def test_bids_cohort_equals_the_manifest_cohort(cohorts):
    _, from_bids, from_csv = cohorts
    assert not from_bids.failed and not from_csv.failed
    pd.testing.assert_frame_equal(from_bids.laterality, from_csv.laterality)
    assert set(from_csv.status["status"]) == {"skipped"}  # same inputs and configuration: nothing recomputed
    motor = from_bids.laterality.query("pair == 'C3/C4' and measure == 'density_n2' and band == 'all'")
    assert len(motor) == 8 and (motor.query("night == 'post'")["D"] > 0).all()  # the planted contralateral rise


def test_bad_channel_is_left_out_and_reported(cohorts):
    out, from_bids, _ = cohorts
    status = {(r.subject, r.night): r for r in read_status(out / "status.csv")}
    assert "F3: marked bad" in status[("sub-02", "post")].dropped_channels
    assert all(not r.dropped_channels for key, r in status.items() if key != ("sub-02", "post"))
    lat = from_bids.laterality
    f3 = lat[(lat["subject"] == "sub-02") & (lat["night"] == "post") & (lat["pair"] == "F3/F4")]
    assert f3.empty or f3["D"].isna().all()
    assert any("F3 not measurable" in p for p in from_bids.problems)


# ----------------------------------------------------------------------------- derivatives, checked by rule

_NAME = re.compile(r"sub-(?P<sub>[A-Za-z0-9]+)(_ses-(?P<ses>[A-Za-z0-9]+))?_task-[A-Za-z0-9]+(_acq-[A-Za-z0-9]+)?"
                   r"(_run-[0-9]+)?_desc-[A-Za-z0-9]+_(?P<suffix>events|summary)\.(tsv|json)")
#: HED tags the sidecars may use: SCORE 2.1.0 terms (sc:) and standard-schema terms, as documented.
_HED_TAGS = {"sc:Sleep-spindles", "sc:Delta-activity", "sc:Sleep-stage-N1", "sc:Sleep-stage-N2", "sc:Sleep-stage-N3",
             "sc:Sleep-stage-REM", "Awake", "sc:Sensor-list/#", "sc:Feature-frequency/# Hz",
             "sc:Feature-amplitude/# uV"}


def _check_derivatives(base):
    """Every rule of the BIDS derivatives the validator would check for these files; returns the TSVs."""
    description = json.loads((base / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative" and description["BIDSVersion"] == "1.9.0"
    assert description["Name"]
    generated = description["GeneratedBy"][0]
    assert generated["Name"] == "sleepspindles" and generated["Version"] and generated["Config"]["detection"]
    assert description["HEDVersion"] == HED_VERSION
    tsvs = sorted(base.rglob("*.tsv"))
    for path in sorted(base.rglob("sub-*")):
        if path.is_dir():
            continue
        match = _NAME.fullmatch(path.name)
        assert match, path.name
        rel = path.relative_to(base).parts
        assert rel[0] == f"sub-{match['sub']}" and rel[-2] == "eeg"  # the folders repeat the entities
        assert (rel[1] == f"ses-{match['ses']}") if match["ses"] else len(rel) == 3
    for path in tsvs:
        text = path.read_text()
        assert "\t\t" not in text and "\t\n" not in text and "\n\t" not in text  # no empty cell: n/a
        table = pd.read_csv(path, sep="\t", keep_default_na=False, dtype=str)
        assert len(set(table.columns)) == len(table.columns)
        sidecar = json.loads(path.with_suffix(".json").read_text())
        assert list(sidecar) == list(table.columns)  # every column described, in order
        for column, doc in sidecar.items():
            assert doc["Description"].strip()
            assert set(doc) <= {"Description", "Units", "Levels", "HED"}
            levels = doc.get("Levels")
            if levels is not None and column in ("trial_type", "stage", "band", "so_coupled"):
                assert set(table[column]) - {"n/a"} <= set(levels), (path.name, column)
            hed = doc.get("HED")
            for tag in (hed.values() if isinstance(hed, dict) else [hed] if hed else []):
                assert tag in _HED_TAGS
        if path.name.endswith("_events.tsv"):
            assert list(table.columns[:5]) == ["onset", "duration", "trial_type", "channel", "sample"]
            onset, duration = table["onset"].astype(float), table["duration"].astype(float)
            assert (onset >= 0).all() and (duration >= 0).all()
            assert sidecar["onset"]["Units"] == "s" and sidecar["duration"]["Units"] == "s"
    return tsvs


def test_derivatives_of_a_bids_cohort(cohorts, dataset, tmp_path):
    out, from_bids, _ = cohorts
    files = write_derivatives(out, tmp_path, source=BidsSource(str(dataset)), laterality=from_bids.laterality)
    base = tmp_path / "derivatives" / "sleepspindles"
    tsvs = _check_derivatives(base)
    assert len([p for p in tsvs if p.name.endswith("_desc-spindles_events.tsv")]) == 8
    assert len([p for p in tsvs if p.name.endswith("_desc-slowoscillations_events.tsv")]) == 8
    assert len([p for p in tsvs if p.name.endswith("_desc-laterality_summary.tsv")]) == 8
    folder = base / "sub-02" / "ses-post" / "eeg"
    events = pd.read_csv(folder / "sub-02_ses-post_task-sleep_desc-spindles_events.tsv", sep="\t")
    stored = pd.read_csv(out / "sub-02_post" / "events.csv")
    assert len(events) == len(stored) and set(events["channel"]) == {"C3", "C4", "F4"}  # F3 was bad
    np.testing.assert_array_equal(events["onset"], stored["start"])
    np.testing.assert_array_equal(events["sample"], np.rint(stored["start"] * 128))
    laterality = pd.read_csv(folder / "sub-02_ses-post_task-sleep_desc-laterality_summary.tsv", sep="\t")
    assert set(laterality["subject"]) == {"sub-02"} and set(laterality["night"]) == {"post"}
    description = json.loads(files["dataset_description"].read_text())
    assert description["SourceDatasets"] == [{"URL": dataset.resolve().as_uri()}]
    sidecar = json.loads((folder / "sub-02_ses-post_task-sleep_desc-spindles_events.json").read_text())
    assert sidecar["trial_type"]["HED"] == {"spindle": "sc:Sleep-spindles"}
    assert sidecar["amplitude"]["Units"] == "uV" and sidecar["frequency"]["Units"] == "Hz"


def test_derivatives_of_a_manifest_run(cohorts, tmp_path):
    """A manifest's subject and night become sub- and ses- labels."""
    out, _, _ = cohorts
    write_derivatives(out, tmp_path)
    base = tmp_path / "derivatives" / "sleepspindles"
    _check_derivatives(base)
    assert (base / "sub-02" / "ses-post" / "eeg" / "sub-02_ses-post_task-sleep_desc-spindles_summary.tsv").is_file()
    assert bids_entities("s_01", "night 2") == {"subject": "s01", "session": "night2", "task": "sleep"}
    with pytest.raises(DataError, match="no letter or digit left"):
        bids_entities("__", "post")


def test_manifest_csv_bad_channels_column(tmp_path):
    """The CSV's own way to list bad channels: not a covariate, ';'-separated, reason said."""
    path = tmp_path / "m.csv"
    path.write_text("subject,night,recording,trained_hand,bad_channels,age\ns1,post,a.edf,left,F3; O1 ,30\n"
                    "s2,post,b.edf,right,,31\n")
    manifest = read_manifest(path)
    assert manifest.covariates == ("age",)
    reason = "marked bad in the manifest"
    assert dict(manifest.rows[0].bad_channels) == {"F3": reason, "O1": reason}
    assert not manifest.rows[1].bad_channels and not manifest.rows[0].bids


def test_rewritten_derivatives_leave_no_file_of_the_earlier_write(cohorts, tmp_path):
    # A table the run no longer makes (slow oscillations switched off, say) would stay beside the
    # new ones and contradict them; files the pipeline did not name are not touched.
    out, _, _ = cohorts
    write_derivatives(out, tmp_path)
    folder = tmp_path / "derivatives" / "sleepspindles" / "sub-02" / "ses-post" / "eeg"
    stale = [folder / f"sub-02_ses-post_task-sleep_desc-oldtable_summary.{ext}" for ext in ("tsv", "json")]
    foreign = [folder / "notes.txt", folder / "sub-02_ses-post_task-sleep_desc-spindles_events.tsv.bak"]
    for path in stale + foreign:
        path.write_text("x")
    write_derivatives(out, tmp_path)
    assert not any(p.exists() for p in stale) and all(p.exists() for p in foreign)
    assert (folder / "sub-02_ses-post_task-sleep_desc-spindles_events.tsv").is_file()
