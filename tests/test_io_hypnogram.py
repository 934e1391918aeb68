"""Hypnogram readers on the real Sleep-EDF and DREAMS files and on small files written here."""

from __future__ import annotations

import re
import warnings

import edfio
import numpy as np
import pytest

from sleepspindles.errors import ConfigError, DataError
from sleepspindles.hypnogram import Hypnogram, Stage
from sleepspindles.io import align_hypnogram, load_recording, read_hypnogram

W, N1, N2, N3, REM, ART, UNS = (int(s) for s in (Stage.W, Stage.N1, Stage.N2, Stage.N3, Stage.REM,
                                                  Stage.ARTEFACT, Stage.UNSCORED))  # fmt: skip


# --- Sleep-EDF (real file) -------------------------------------------------------------------


def test_sleep_edf_hypnogram_matches_raw_annotations(shared_data):
    path = shared_data / "sleep_edf" / "SC4001EC-Hypnogram.edf"
    hyp = read_hypnogram(path)
    # Independent count from the raw annotations (edfio's parser, not mne's).
    seconds: dict[str, float] = {}
    end = 0.0
    for ann in edfio.read_edf(path).annotations:
        seconds[ann.text] = seconds.get(ann.text, 0.0) + ann.duration
        end = max(end, ann.onset + ann.duration)
    assert hyp.n_epochs == end / 30 == 2880
    assert (hyp.epoch_length, hyp.offset, hyp.source, hyp.path) == (30.0, 0.0, "scored", str(path))
    minutes = hyp.stage_minutes()
    assert minutes["W"] == seconds["Sleep stage W"] / 60
    assert minutes["N1"] == seconds["Sleep stage 1"] / 60
    assert minutes["N2"] == seconds["Sleep stage 2"] / 60
    assert minutes["N3"] == (seconds["Sleep stage 3"] + seconds["Sleep stage 4"]) / 60
    assert minutes["REM"] == seconds["Sleep stage R"] / 60
    assert minutes["UNSCORED"] == seconds["Sleep stage ?"] / 60
    assert minutes["N2"] == 125.0  # 250 epochs
    # First scored sleep: stage 1 at 30630 s (epoch 1021).
    assert hyp.stages[1020] == W and hyp.stages[1021] == N1


def test_sleep_edf_trailing_unscored_beyond_psg_is_trimmed_silently(shared_data):
    hyp = read_hypnogram(shared_data / "sleep_edf" / "SC4001EC-Hypnogram.edf")
    # The PSG (SC4001E0) lasts 79500 s; the hypnogram ends with 6900 s of "Sleep stage ?".
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        aligned = align_hypnogram(hyp, 79500.0)
    assert aligned.n_epochs == 2650
    np.testing.assert_array_equal(aligned.stages, hyp.stages[:2650])


def _sleep_edf_style(path):
    """An annotations-only hypnogram EDF+ like Sleep-EDF's, with a long trailing '?'."""
    annotations = [
        edfio.EdfAnnotation(0, 90, "Sleep stage W"),
        edfio.EdfAnnotation(90, 30, "Movement time"),
        edfio.EdfAnnotation(120, 30, "Sleep stage 3"),
        edfio.EdfAnnotation(150, 60, "Sleep stage 4"),
        edfio.EdfAnnotation(210, 30, "Sleep stage R"),
        edfio.EdfAnnotation(240, 600, "Sleep stage ?"),
    ]
    edfio.Edf([], annotations=annotations).write(path)
    return path


def test_sleep_edf_style_written_here(tmp_path):
    hyp = read_hypnogram(_sleep_edf_style(tmp_path / "X-Hypnogram.edf"))
    assert hyp.stages.tolist() == [W, W, W, ART, N3, N3, N3, REM] + [UNS] * 20


# --- DREAMS (real files) ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_dreams_hypnograms(shared_data, n):
    path = shared_data / "dreams_spindles" / f"Hypnogram_excerpt{n}.txt"
    hyp = read_hypnogram(path)
    codes = np.loadtxt(path, skiprows=1, dtype=int)
    assert hyp.n_epochs == codes.size == 360
    assert hyp.epoch_length == 5.0 and hyp.duration == 1800.0
    expected = {W: 5, REM: 4, N1: 3, N2: 2}
    for stage, code in expected.items():
        assert (hyp.stages == stage).sum() == (codes == code).sum()
    assert (hyp.stages == N3).sum() == np.isin(codes, [0, 1]).sum()


def test_dreams_codes_written_here(tmp_path):
    path = tmp_path / "hyp.txt"
    path.write_text("[Hypnogram]\n5\n4\n3\n2\n1\n0\n-1\n-2\n")
    hyp = read_hypnogram(path)
    assert hyp.stages.tolist() == [W, REM, N1, N2, N3, N3, UNS, ART]


# --- Generic text / CSV ----------------------------------------------------------------------


def test_text_one_label_per_epoch(tmp_path):
    path = tmp_path / "stages.txt"
    path.write_text("W\nN1\nN2\nN3\nN4\nR\nREM\n?\nMT\n")
    hyp = read_hypnogram(path, epoch_length=20)
    assert hyp.stages.tolist() == [W, N1, N2, N3, N3, REM, REM, UNS, ART]
    assert hyp.epoch_length == 20.0


def test_csv_with_header_and_stage_column(tmp_path):
    path = tmp_path / "stages.csv"
    path.write_text("epoch,onset,stage\n1,0,W\n2,30,N2\n3,60,Sleep stage 3\n")
    hyp = read_hypnogram(path)
    assert hyp.stages.tolist() == [W, N2, N3]
    assert hyp.epoch_length == 30.0


def refusal(path, **kwargs) -> str:
    """The message of the DataError that read_hypnogram raises for ``path``."""
    with pytest.raises(DataError) as info:
        read_hypnogram(path, **kwargs)
    return str(info.value)



@pytest.mark.parametrize("name, text, message", [
    ("blank.txt", "W\nN2\n\nN3\n\n", r"blank.txt: line 3 is blank between stage lines"),
    ("blank.csv", "epoch,stage\n1,W\n\n2,N2\n", r"blank.csv: line 3 is blank between stage lines"),
    ("shuffled.csv", "epoch,stage\n3,N3\n1,W\n2,N2\n", r"shuffled.csv: data row 2 is epoch 1 after epoch 3"),
    ("gap.csv", "epoch,stage\n1,W\n2,N2\n4,N3\n", r"gap.csv: data row 3 is epoch 4 after epoch 2"),
])
def test_rows_placed_in_order_refuse_what_would_shift_later_stages(tmp_path, name, text, message):
    """A blank line or an epoch column out of order would move every later stage: refused, not read by order."""
    path = tmp_path / name
    path.write_text(text)
    assert re.search(message, refusal(path))


def test_trailing_blank_lines_and_an_epoch_column_counting_from_zero_are_read(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text("epoch,stage\n0,W\n1,N2\n2,N3\n\n\n")
    assert read_hypnogram(path).stages.tolist() == [W, N2, N3]


def test_dreams_blank_line_between_codes_is_refused(tmp_path):
    path = tmp_path / "HypnogramAASM_excerpt9.txt"
    path.write_text("[Hypnogram]\n5\n\n2\n")
    assert "line 3 is blank between stage lines" in refusal(path)

AMBIGUOUS = (
    "numeric stage codes 0-4 without a 5 are ambiguous: 4 is REM in AASM/YASA numbering and stage 4 "
    "(N3) in Rechtschaffen & Kales; pass hypnogram_scheme='aasm' or 'rk' (config load.hypnogram_scheme, "
    "CLI --hypnogram-scheme)"
)


def test_text_numeric_codes_0_to_4_are_ambiguous_without_a_scheme(tmp_path):
    # Used to be read silently as YASA's (4 = REM): an R&K file lost all its stage-4 sleep.
    path = tmp_path / "codes.txt"
    path.write_text("Stage\n0\n1\n2\n3\n4\n-1\n-2\n")
    assert refusal(path, format="csv") == f"{path}: {AMBIGUOUS}"


def test_text_numeric_codes_with_a_declared_scheme(tmp_path):
    path = tmp_path / "yasa.txt"
    path.write_text("Stage\n0\n1\n2\n3\n4\n-1\n-2\n")
    assert read_hypnogram(path, scheme="aasm").stages.tolist() == [W, N1, N2, N3, REM, ART, UNS]
    rk = tmp_path / "rk.txt"
    rk.write_text("0\n1\n2\n3\n4\n5\n6\n9\n")
    assert read_hypnogram(rk, scheme="rk").stages.tolist() == [W, N1, N2, N3, N3, REM, ART, UNS]


def test_text_numeric_codes_with_a_5_are_rk(tmp_path):
    path = tmp_path / "rk.txt"
    path.write_text("0\n1\n2\n3\n4\n5\n")
    assert read_hypnogram(path).stages.tolist() == [W, N1, N2, N3, N3, REM]


def test_text_numeric_codes_up_to_3_mean_the_same_in_both_schemes(tmp_path):
    path = tmp_path / "nrem.txt"
    path.write_text("0\n1\n2.0\n3\n-2\n")  # "2.0": a float column written by pandas
    assert read_hypnogram(path).stages.tolist() == [W, N1, N2, N3, UNS]
    assert read_hypnogram(path, scheme="aasm").stages.tolist() == [W, N1, N2, N3, UNS]


@pytest.mark.parametrize(
    "scheme, text, message",
    [
        ("aasm", "0\n2\n5\n5\n", "hypnogram_scheme='aasm' but the file has numeric stage code(s) 5, which "
         "AASM/YASA numbering (0 W, 1 N1, 2 N2, 3 N3, 4 REM, -1 ARTEFACT, -2 UNSCORED) does not have; is it "
         "Rechtschaffen & Kales numbering (hypnogram_scheme='rk')?"),
        ("rk", "0\n2\n-1\n", "hypnogram_scheme='rk' but the file has numeric stage code(s) -1, which "
         "Rechtschaffen & Kales numbering (0 W, 1 N1, 2 N2, 3 N3, 4 N3, 5 REM, 6 ARTEFACT, 9 UNSCORED) does "
         "not have; is it AASM/YASA numbering (hypnogram_scheme='aasm')?"),
    ],
)  # fmt: skip
def test_declared_scheme_contradicting_the_file(tmp_path, scheme, text, message):
    path = tmp_path / "h.txt"
    path.write_text(text)
    assert refusal(path, scheme=scheme) == f"{path}: {message}"


def test_stage_prefixed_digits_are_rk_labels_not_codes(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("onset,stage\n0,Stage 4\n30,Sleep stage 2\n60,R\n")
    assert read_hypnogram(path).stages.tolist() == [N3, N2, REM]


def test_schemes_do_not_change_fixed_formats(tmp_path):
    dreams = tmp_path / "Hypnogram_excerpt9.txt"
    dreams.write_text("[Hypnogram]\n5\n4\n")
    assert read_hypnogram(dreams, scheme="aasm").stages.tolist() == [W, REM]
    with pytest.raises(ConfigError, match="'scheme' parameter must be one of"):
        read_hypnogram(dreams, scheme="yasa")


def test_text_unknown_labels_are_all_listed(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_text("W\nN2\nX9\nN2\nX9\nDeep\n")
    assert refusal(path).startswith(
        f"{path}: unknown sleep-stage label(s) 'X9' (2 epoch(s), first epoch 3), 'Deep' (1 epoch(s), first "
        "epoch 6); labels understood: numeric codes 0 W, 1 N1, 2 N2, 3 N3, 4 REM, -1 ARTEFACT, -2 UNSCORED; "
        "labels W, WAKE, N1"
    )


# --- NSRR XML --------------------------------------------------------------------------------

_NSRR = """<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<PSGAnnotation><SoftwareVersion>Compumedics</SoftwareVersion><EpochLength>30</EpochLength>
<ScoredEvents>
<ScoredEvent><EventType/><EventConcept>Recording Start Time</EventConcept><Start>0</Start>
<Duration>120.0</Duration><ClockTime>00.00.00 22.10.00</ClockTime></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Wake|0</EventConcept>
<Start>0.0</Start><Duration>60.0</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Stage 1 sleep|1</EventConcept>
<Start>60.0</Start><Duration>30.0</Duration></ScoredEvent>
<ScoredEvent><EventType>Respiratory|Respiratory</EventType><EventConcept>Hypopnea|Hypopnea</EventConcept>
<Start>75.2</Start><Duration>12.1</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Stage 2 sleep|2</EventConcept>
<Start>90.0</Start><Duration>90.0</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Stage 3 sleep|3</EventConcept>
<Start>180.0</Start><Duration>30.0</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Stage 4 sleep|4</EventConcept>
<Start>210.0</Start><Duration>30.0</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>REM sleep|5</EventConcept>
<Start>240.0</Start><Duration>30.0</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Movement|6</EventConcept>
<Start>270.0</Start><Duration>30.0</Duration></ScoredEvent>
<ScoredEvent><EventType>Stages|Stages</EventType><EventConcept>Unscored|9</EventConcept>
<Start>300.0</Start><Duration>30.0</Duration></ScoredEvent>
</ScoredEvents></PSGAnnotation>
"""


def test_nsrr_xml(tmp_path):
    path = tmp_path / "shhs1-200001-nsrr.xml"
    path.write_text(_NSRR)
    hyp = read_hypnogram(path)
    assert hyp.stages.tolist() == [W, W, N1, N2, N2, N2, N3, N3, REM, ART, UNS]
    assert (hyp.epoch_length, hyp.offset, hyp.path) == (30.0, 0.0, str(path))


def test_nsrr_xml_detected_by_content(tmp_path):
    path = tmp_path / "annotations.dat"
    path.write_text(_NSRR)
    assert read_hypnogram(path).n_epochs == 11


def test_nsrr_unknown_concepts_are_all_listed(tmp_path):
    path = tmp_path / "odd.xml"
    path.write_text(_NSRR.replace("Stage 3 sleep|3", "Stage 7|7").replace("Unscored|9", "Stage 7|7"))
    with pytest.raises(DataError, match=r"unknown sleep-stage label\(s\) 'Stage 7\|7' \(2 event\(s\)\); labels "
                                        r"understood: EventConcept codes after '\|': 0 W, 1 N1"):
        read_hypnogram(path)


@pytest.mark.parametrize(
    "start, duration, message",
    [("nan", "30.0", "stage N1 has onset nan s and duration 30 s: both must be finite"),
     ("60.0", "-30", "stage N1 has onset 60 s and duration -30 s"),
     ("3e12", "30.0", "the stages span 3e+12 s (1e+11 epochs of 30 s): implausibly long")],
)  # fmt: skip
def test_nsrr_damaged_times(tmp_path, start, duration, message):
    # A NaN onset used to drop the stage silently, a negative duration to make it one epoch, 3e12 s
    # to allocate 93 GiB.
    path = tmp_path / "times.xml"
    event = "<Start>60.0</Start><Duration>30.0</Duration>"
    path.write_text(_NSRR.replace(event, f"<Start>{start}</Start><Duration>{duration}</Duration>", 1))
    with pytest.raises(DataError, match=re.escape(message)):
        read_hypnogram(path)


def test_xml_without_stages(tmp_path):
    path = tmp_path / "empty.xml"
    path.write_text("<PSGAnnotation><ScoredEvents/></PSGAnnotation>")
    with pytest.raises(DataError, match="no <ScoredEvent> with EventType 'Stages'"):
        read_hypnogram(path)


# --- AASM annotations inside a PSG EDF+ ------------------------------------------------------


def _psg_with_stages(path, descriptions, start=0.0, seconds=150):
    rng = np.random.default_rng(0)
    values = rng.normal(0, 20, seconds * 100)
    signal = edfio.EdfSignal(values, 100, label="EEG C3-M2", physical_dimension="uV")
    annotations = [edfio.EdfAnnotation(start + 30 * k, 30.0, d) for k, d in enumerate(descriptions)]
    annotations.append(edfio.EdfAnnotation(12.5, None, "Lights off"))
    edfio.Edf([signal], annotations=annotations).write(path)


def test_aasm_annotations_inside_psg_edf(tmp_path):
    path = tmp_path / "SN001.edf"
    stages = ["Sleep stage W", "Sleep stage N1", "Sleep stage N2", "Sleep stage N3", "Sleep stage R"]
    _psg_with_stages(path, stages)
    hyp = read_hypnogram(path)
    assert hyp.stages.tolist() == [W, N1, N2, N3, REM]
    assert hyp.offset == 0.0


def test_annotations_starting_late_set_the_offset(tmp_path, caplog):
    path = tmp_path / "late.edf"
    _psg_with_stages(path, ["Sleep stage N2", "Sleep stage N2"], start=60.0)
    hyp = read_hypnogram(path, duration=150.0)
    assert "padded with UNSCORED to 3 epochs" in caplog.text
    assert hyp.offset == 60.0 and hyp.stages.tolist() == [N2, N2, UNS]
    assert hyp.stage_at([59.0, 60.0, 149.0]).tolist() == [UNS, N2, UNS]


def _marks(path, marks, seconds=300):
    """A PSG EDF+ whose stage annotations (onset, label) have no duration."""
    signal = edfio.EdfSignal(np.random.default_rng(0).normal(0, 20, seconds * 100), 100, label="EEG C3-M2",
                             physical_dimension="uV")
    edfio.Edf([signal], annotations=[edfio.EdfAnnotation(t, None, d) for t, d in marks]).write(path)


def test_stage_changes_without_durations_last_until_the_next(tmp_path, caplog):
    """Marks only where the stage changes: read as one epoch each, N2 was 1 epoch of the 6 it lasts."""
    path = tmp_path / "changes.edf"
    _marks(path, [(0, "Sleep stage W"), (60, "Sleep stage N2"), (240, "Sleep stage N3")])
    assert load_recording(path).hypnogram.stages.tolist() == [W, W, N2, N2, N2, N2, N2, N2, N3, N3]
    assert "read as stage changes" in caplog.text


def test_one_mark_per_epoch_without_durations_keeps_its_gaps_unscored(tmp_path, caplog):
    path = tmp_path / "per_epoch.edf"
    labels = ["Sleep stage W", "Sleep stage W", "Sleep stage N2", "Sleep stage N2"]
    _marks(path, [(30 * k, d) for k, d in enumerate(labels)] + [(180, "Sleep stage N2"), (270, "Sleep stage N3")])
    assert load_recording(path).hypnogram.stages.tolist() == [W, W, N2, N2, UNS, UNS, N2, UNS, UNS, N3]
    assert "read as one epoch each, leave 120 s unscored between them" in caplog.text


def test_unknown_stage_annotations_are_reported_not_unscored(tmp_path):
    # Used to become UNSCORED silently: the epochs vanished from every per-stage measure.
    path = tmp_path / "odd.edf"
    _psg_with_stages(path, ["Sleep stage W", "Sleep stage X", "Sleep stage N2", "Sleep stage X",
                            "Sleep stage ?"])  # fmt: skip
    message = refusal(path)
    assert message.startswith(
        f"{path}: unknown sleep-stage label(s) 'Sleep stage X' (2 annotation(s) covering 60 s); labels "
        "understood: 'Sleep stage ' followed by W, WAKE, N1, S1"
    )
    assert message.endswith("; 'Movement time'") and ", ?, " in message


def test_unknown_stage_in_a_sleep_edf_style_hypnogram(tmp_path):
    annotations = [edfio.EdfAnnotation(0, 60, "Sleep stage W"), edfio.EdfAnnotation(60, 90, "Sleep stage N 5")]
    path = tmp_path / "X-Hypnogram.edf"
    edfio.Edf([], annotations=annotations).write(path)
    with pytest.raises(DataError, match=r"'Sleep stage N 5' \(1 annotation\(s\) covering 90 s\)"):
        read_hypnogram(path)


def test_edf_without_stage_annotations(tmp_path):
    path = tmp_path / "nostages.edf"
    _psg_with_stages(path, [])
    with pytest.raises(DataError, match="no sleep-stage annotations found"):
        read_hypnogram(path)


# --- Alignment and argument errors -----------------------------------------------------------


def test_length_mismatch_names_both_lengths():
    hyp = Hypnogram(np.full(20, N2), 30.0, path="h.txt")
    with pytest.raises(DataError, match=r"h.txt: the hypnogram covers 600 s .* the signal lasts 300 s"):
        align_hypnogram(hyp, 300.0)
    with pytest.raises(DataError, match=r"covers 600 s .* lasts 900 s"):
        align_hypnogram(hyp, 900.0)


def test_within_one_epoch_longer_is_trimmed_with_a_warning(caplog):
    hyp = Hypnogram(np.full(10, N2), 30.0)
    out = align_hypnogram(hyp, 290.0)
    assert [r.levelname for r in caplog.records] == ["WARNING"] and "trimmed to 9 epochs" in caplog.text
    assert out.n_epochs == 9 and (out.stages == N2).all()


def test_within_one_epoch_shorter_is_padded_with_a_warning(caplog):
    hyp = Hypnogram(np.full(10, N2), 30.0)
    out = align_hypnogram(hyp, 330.0)
    assert "padded with UNSCORED to 11 epochs" in caplog.text
    assert out.stages.tolist() == [N2] * 10 + [UNS]


def test_exact_length_is_unchanged():
    hyp = Hypnogram(np.full(10, N2), 30.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert align_hypnogram(hyp, 300.0) is hyp


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match="hypnogram file not found"):
        read_hypnogram(tmp_path / "nope.txt")
    path = tmp_path / "h.txt"
    path.write_text("W\n")
    with pytest.raises(ConfigError, match="'format' parameter"):
        read_hypnogram(path, format="matlab")


# --- tables with onsets ------------------------------------------------------------------------


def test_a_table_with_onsets_places_stages_at_them_not_by_row_order(tmp_path):
    late = tmp_path / "late.tsv"  # scoring starts at 30 s: the first row is epoch 1 of the recording
    late.write_text("onset\tduration\tstage\n30\t30\tW\n60\t30\tN2\n90\t30\tN3\n")
    hyp = read_hypnogram(late)
    assert hyp.offset == 30.0 and hyp.stages.tolist() == [W, N2, N3]
    assert hyp.stage_at(np.array([45.0, 75.0])).tolist() == [W, N2]
    gap = tmp_path / "gap.csv"  # a missing row is unscored, not a shift of every later stage; rows unsorted
    gap.write_text("onset,duration,stage\n0,30,W\n90,30,N3\n30,30,N2\n")
    assert read_hypnogram(gap).stages.tolist() == [W, N2, UNS, N3]
    no_duration = tmp_path / "start.csv"  # no duration column: one epoch per row
    no_duration.write_text("start,stage\n0,N2\n60,N2\n")
    assert read_hypnogram(no_duration).stages.tolist() == [N2, UNS, N2]


def test_a_table_with_clock_times_as_onsets_is_refused(tmp_path):
    clock = tmp_path / "clock.csv"
    clock.write_text("onset,stage\n22:10:00,W\n22:10:30,N1\n")
    with pytest.raises(DataError, match=r"clock.csv.*'onset' column must hold seconds.*'22:10:00'"):
        read_hypnogram(clock)


def test_a_table_whose_rows_score_the_same_time_twice_is_refused(tmp_path):
    twice = tmp_path / "twice.csv"  # rows 2 and 3 both score 30-60 s, with different stages
    twice.write_text("onset,duration,stage\n0,30,W\n30,30,N2\n30,30,N3\n60,30,N2\n")
    with pytest.raises(DataError, match=r"twice.csv.*rows 2 and 3 both score the time from 30 s"):
        read_hypnogram(twice)
    long = tmp_path / "long.csv"  # a 60 s row overlaps the next epoch's row
    long.write_text("onset,duration,stage\n0,60,W\n30,30,N2\n")
    with pytest.raises(DataError, match="rows 1 and 2 both score"):
        read_hypnogram(long)
