"""EDF+ record onsets: the first data record may start after the header's start time.

EDF+ counts every annotation's onset from the header's start time and puts each data record at
its time-keeping annotation: ``+0.5`` (a sub-second start, which the header's whole seconds
cannot hold) or, from some writers, ``+100``. Stages annotated in the file then belong at data
time ``onset - first record onset``; reading them from the header's start shifts every stage.
"""

from __future__ import annotations

import datetime as dt
import re

import edfio
import numpy as np
import pytest

from sleepspindles.hypnogram import Stage
from sleepspindles.io import load_recording
from sleepspindles.io.edf_header import first_record_onset, read_edf_header

STAGES = ["Sleep stage W", "Sleep stage N1", "Sleep stage N2", "Sleep stage N3", "Sleep stage R"]
START = dt.datetime(2020, 1, 2, 22, 30, 0)
SPACER = "room for the shifted onsets"


def _eeg(seconds: float, sf: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * sf)) / sf
    return 30 * np.sin(2 * np.pi * 12 * t) + np.random.default_rng(seed).normal(0, 5, t.size)


def _night(path, c4_rate: float) -> None:
    """150 s of C3 (100 Hz) and C4 (``c4_rate``), five stage epochs annotated, records of 1 s at 0 s."""
    signals = [edfio.EdfSignal(_eeg(150, 100, 0), 100, label="EEG C3", physical_dimension="uV"),
               edfio.EdfSignal(_eeg(150, c4_rate, 1), c4_rate, label="EEG C4", physical_dimension="uV")]
    annotations = [edfio.EdfAnnotation(30.0 * k, 30.0, s) for k, s in enumerate(STAGES)]
    annotations.append(edfio.EdfAnnotation(140.0, None, SPACER))  # widens every record's annotation signal
    edfio.Edf(signals, annotations=annotations, recording=edfio.Recording(startdate=START.date()), starttime=START.time()).write(path)


def _shift_onsets(path, seconds: float) -> None:
    """Move every annotation, time-keeping ones included, ``seconds`` later: the records start there (spacer dropped)."""
    header = read_edf_header(path)
    blob = bytearray(path.read_bytes())
    index = header.labels.index("EDF Annotations")
    start, width = sum(header.samples_per_record[:index]) * 2, header.samples_per_record[index] * 2
    for r in range(header.n_records):
        at = header.header_bytes + r * header.record_bytes + start
        tals = [t for t in bytes(blob[at : at + width]).split(b"\x00") if t and SPACER.encode() not in t]
        moved = [re.sub(rb"^[+-][\d.]+", lambda m: b"+%g" % (float(m.group()) + seconds), t) + b"\x00" for t in tals]
        new = b"".join(moved)
        assert len(new) <= width, "annotation signal too narrow for the patch"
        blob[at : at + width] = new.ljust(width, b"\x00")
    path.write_bytes(bytes(blob))


@pytest.mark.parametrize("offset", [0.5, 100.0])
@pytest.mark.parametrize("c4_rate", [100.0, 50.0], ids=["one rate", "mixed rates (mne's reader)"])
def test_stages_and_start_time_follow_the_first_record_s_onset(tmp_path, offset, c4_rate):
    path = tmp_path / "late.edf"
    _night(path, c4_rate)
    _shift_onsets(path, offset)
    assert first_record_onset(path, read_edf_header(path)) == offset
    rec = load_recording(path)
    assert rec.hypnogram.stages.tolist() == [Stage.W, Stage.N1, Stage.N2, Stage.N3, Stage.REM]
    assert rec.start_time == START + dt.timedelta(seconds=offset)
    assert rec.duration == pytest.approx(150.0)


def test_plain_edf_starts_at_the_header_s_time(tmp_path):
    path = tmp_path / "plain.edf"
    edfio.Edf([edfio.EdfSignal(_eeg(10, 100, 0), 100, label="C3", physical_dimension="uV")],
              recording=edfio.Recording(startdate=START.date()), starttime=START.time()).write(path)
    assert first_record_onset(path, read_edf_header(path)) == 0.0
    assert load_recording(path).start_time == START


# The stages at 15, 45 and 135 s of the PSG when the hypnogram file starts ``delay`` s after it.
PLACED = {30.0: [Stage.UNSCORED, Stage.N1, Stage.REM],  # scores from 30 s: epoch 0 unscored
          -30.0: [Stage.N1, Stage.N2, Stage.UNSCORED],  # its first epoch is before the PSG; it ends at 120 s
          0.0: [Stage.W, Stage.N1, Stage.REM]}


@pytest.mark.parametrize("delay", PLACED)
def test_a_separate_edf_hypnogram_is_placed_by_its_start_time(tmp_path, delay):
    psg = tmp_path / "psg.edf"
    edfio.Edf([edfio.EdfSignal(_eeg(150, 100, 0), 100, label="EEG C3", physical_dimension="uV")],
              recording=edfio.Recording(startdate=START.date()), starttime=START.time()).write(psg)
    hyp = tmp_path / "hyp.edf"
    scored = STAGES[1:] if delay > 0 else STAGES
    start = START + dt.timedelta(seconds=delay)
    edfio.Edf([], annotations=[edfio.EdfAnnotation(30.0 * k, 30.0, s) for k, s in enumerate(scored)],
              recording=edfio.Recording(startdate=start.date()), starttime=start.time()).write(hyp)
    assert load_recording(psg, hyp).hypnogram.stage_at(np.array([15.0, 45.0, 135.0])).tolist() == PLACED[delay]
