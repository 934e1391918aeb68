"""load_recording on the real DREAMS and Nox files and on small EDF/BDF files written here."""

from __future__ import annotations

import datetime as dt
import re

import edfio
import mne
import numpy as np
import pytest

from sleepspindles.errors import ConfigError, DataError
from sleepspindles.hypnogram import Hypnogram, Stage
from sleepspindles.io import load_recording
from sleepspindles.io.edf import read_edf_header

# --- helpers ---------------------------------------------------------------------------------


def _signal(label, values, sf, unit="uV", physical_range=None):
    return edfio.EdfSignal(
        np.asarray(values, dtype=float),
        sf,
        label=label,
        physical_dimension=unit,
        physical_range=physical_range,
    )


def _eeg(seconds, sf, freq=12.0, amp=30.0, seed=0):
    """A sine plus noise in microvolts."""
    t = np.arange(int(seconds * sf)) / sf
    return amp * np.sin(2 * np.pi * freq * t) + np.random.default_rng(seed).normal(0, 5, t.size)


def _write(path, signals, annotations=None, record_duration=1.0):
    edf = edfio.Edf(
        signals,
        annotations=annotations,
        data_record_duration=record_duration,
        starttime=dt.time(22, 30, 0),
    )
    edf.write(path)
    return path


def _make_discontinuous(path, gap_after, gap):
    """Turn an EDF+C file of 1 s records into EDF+D: ``gap`` s of no data after record ``gap_after``.

    Every annotation (time-keeping or not) from the end of record ``gap_after`` on moves ``gap``
    seconds later, as a recorder that paused would have written it.
    """
    header = read_edf_header(path)
    blob = bytearray(path.read_bytes())
    blob[192:197] = b"EDF+D"
    index = header.labels.index("EDF Annotations")
    start = sum(header.samples_per_record[:index]) * 2
    width = header.samples_per_record[index] * 2

    def shift(tal: bytes) -> bytes:
        onset = re.match(rb"[+-][\d.]+", tal).group()
        if float(onset) < gap_after + 1:
            return tal
        return b"+%g" % (float(onset) + gap) + tal[len(onset) :]

    for r in range(header.n_records):
        at = header.header_bytes + r * header.record_bytes + start
        tals = [t for t in bytes(blob[at : at + width]).split(b"\x00") if t]
        new = b"".join(shift(t) + b"\x00" for t in tals)
        assert len(new) <= width, "annotation signal too narrow for the patch"
        blob[at : at + width] = new.ljust(width, b"\x00")
    path.write_bytes(bytes(blob))


# --- real files ------------------------------------------------------------------------------


def test_dreams_excerpt3_psg(shared_data):
    folder = shared_data / "dreams_spindles"
    rec = load_recording(folder / "excerpt3.edf")
    assert rec.channels == ("O1", "C3", "Fp1", "EOG2", "EOG1", "EMG1")
    assert rec.original_names == ("O1-A1", "C3-A1", "FP1-A1", "EOG2-A1", "EOG1-A1", "EMG1")
    assert rec.references == ("A1", "A1", "A1", "A1", "A1", None)
    assert rec.kinds == ("eeg", "eeg", "eeg", "eog", "eog", "emg")
    assert rec.sf == 50.0 and rec.n_samples == 90000
    assert rec.start_time == dt.datetime(2003, 11, 17, 3, 27, 0)
    assert rec.hypnogram is None
    # The header says "UV" (which mne alone would take for volts): scalp EEG of tens of uV.
    sd = rec.data[: 3].std(axis=1)
    assert ((sd > 5) & (sd < 100)).all(), sd
    # The same C3-A1 is distributed as text in microvolts: identical to within rounding.
    text = np.loadtxt(folder / "excerpt3.txt", skiprows=1)
    np.testing.assert_allclose(rec.signal("C3"), text, atol=1e-3)


def test_dreams_excerpt3_with_its_hypnogram(shared_data):
    folder = shared_data / "dreams_spindles"
    rec = load_recording(folder / "excerpt3.edf", folder / "Hypnogram_excerpt3.txt", channels=["C3"])
    assert rec.channels[0] == "C3" and rec.eeg_channels == ("C3",)
    assert rec.hypnogram.n_epochs == 360 and rec.hypnogram.epoch_length == 5.0
    assert rec.hypnogram.duration == rec.duration == 1800.0


def test_nox_channels_units_and_references(shared_data):
    path = shared_data / "nox_a1" / "subject1.edf"
    rec = load_recording(path)
    assert rec.eeg_channels == ("C3", "C4", "F3", "F4", "O1", "O2")
    assert rec.reference_of("C3") == "M2" and rec.reference_of("C4") == "M1"
    assert rec.original_names[rec.index("C3")] == "C3-M2"
    assert not any("Imp" in name for name in rec.original_names)  # latin-1 impedance labels
    assert rec.kinds[rec.index("E1")] == "eog"
    # 90 signals from 1 to 200 Hz: the kept EEG is at 200 Hz, 120 s.
    assert rec.sf == 200.0 and rec.n_samples == 24000
    assert rec.start_time == dt.datetime(2018, 2, 6, 1, 36, 50)
    # The file stores volts: compare with edfio's independent reading, times 1e6.
    signals = {s.label: s for s in edfio.read_edf(path).signals}
    np.testing.assert_allclose(rec.signal("C3"), signals["C3-M2"].data * 1e6, rtol=1e-9, atol=1e-6)
    sd = rec.data[rec.index("C3")].std()
    assert 20 < sd < 300


def test_nox_linked_mastoid_equals_independent_computation(shared_data):
    path = shared_data / "nox_a1" / "subject1.edf"
    rec = load_recording(path, channels=["C3", "C4"], reference="linked-mastoid")
    assert rec.eeg_channels == ("C3", "C4")
    assert rec.references[:2] == ("linked-mastoid", "linked-mastoid")
    s = {sig.label: sig.data * 1e6 for sig in edfio.read_edf(path).signals}
    linked = (s["M1"] + s["M2"]) / 2
    np.testing.assert_allclose(rec.signal("C3"), s["C3"] - linked, atol=1e-6)
    np.testing.assert_allclose(rec.signal("C4"), s["C4"] - linked, atol=1e-6)


def test_nox_mastoid_asymmetry(shared_data):
    path = shared_data / "nox_a1" / "subject1.edf"
    recorded = load_recording(path, channels=["C3", "C4"])
    linked = load_recording(path, channels=["C3", "C4"], reference="linked-mastoid")
    ratio_recorded = recorded.signal("C4").std() / recorded.signal("C3").std()
    ratio_linked = linked.signal("C4").std() / linked.signal("C3").std()
    assert ratio_recorded > 1.4  # C4-M1 vs C3-M2: about 2x here
    assert abs(ratio_linked - 1) < 0.2  # a common reference: close


def test_nox_average_reference(shared_data):
    path = shared_data / "nox_a1" / "subject1.edf"
    rec = load_recording(path, reference="average")
    assert rec.eeg_channels == ("C3", "C4", "F3", "F4", "O1", "O2")
    assert set(rec.references[:6]) == {"average"}
    # Average of the six referential scalp channels is subtracted: the rows sum to ~zero.
    np.testing.assert_allclose(rec.data[:6].sum(axis=0), 0.0, atol=1e-6)


def test_nox_resample_parameter(shared_data):
    rec = load_recording(shared_data / "nox_a1" / "subject1.edf", channels=["C3"], resample=100)
    assert rec.sf == 100.0 and rec.n_samples == 12000


def test_nox_absent_channel_lists_channels_present(shared_data):
    want = r"subject1.edf: channel\(s\) 'Cz' not found; channels present: C3 \('C3', 'C3-M2'\)"
    with pytest.raises(DataError, match=want):
        load_recording(shared_data / "nox_a1" / "subject1.edf", channels=["C3", "Cz"])


def test_truncated_real_file(shared_data, tmp_path):
    cut = tmp_path / "cut.edf"
    data = (shared_data / "dreams_spindles" / "excerpt3.edf").read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match=r"cut.edf: truncated EDF/BDF file: the header declares 900 data records"):
        load_recording(cut)


# --- files written here ----------------------------------------------------------------------


def test_mixed_rates_resampled_to_highest_eeg_rate(tmp_path):
    seconds = 20
    t100 = np.arange(seconds * 100) / 100
    path = _write(
        tmp_path / "mixed.edf",
        [
            _signal("EEG C3-M2", _eeg(seconds, 100), 100),
            _signal("E1-M2", 80 * np.sin(2 * np.pi * 1.0 * np.arange(seconds * 50) / 50), 50),
            _signal("EMG chin", _eeg(seconds, 200, freq=40, amp=10), 200),
            _signal("ECG", _eeg(seconds, 500, freq=1), 500, unit="mV"),
        ],
    )
    rec = load_recording(path)
    assert rec.channels == ("C3", "E1", "EMG chin")
    assert rec.kinds == ("eeg", "eog", "emg")
    assert rec.sf == 100.0 and rec.n_samples == seconds * 100
    # The 50 Hz EOG, upsampled with mne, still follows its 1 Hz sine (edges aside).
    want = 80 * np.sin(2 * np.pi * t100)
    np.testing.assert_allclose(rec.signal("E1")[100:-100], want[100:-100], atol=0.5)
    rec200 = load_recording(path, resample=200)
    assert rec200.sf == 200.0 and rec200.n_samples == seconds * 200


def test_units_converted_to_microvolts(tmp_path):
    values = _eeg(10, 100)
    path = _write(
        tmp_path / "units.edf",
        [_signal("C3", values * 1e-6, 100, unit="V"), _signal("C4", values * 1e-3, 100, unit="mV")],
    )
    rec = load_recording(path)
    np.testing.assert_allclose(rec.signal("C3"), values, atol=0.01)
    np.testing.assert_allclose(rec.signal("C4"), values, atol=0.01)


def test_bdf(tmp_path):
    values = _eeg(10, 256) * 1e-6
    info = mne.create_info(["C3-M2", "C4-M1"], 256, "eeg")
    raw = mne.io.RawArray(np.vstack([values, -values]), info, verbose="error")
    path = tmp_path / "rec.bdf"
    mne.export.export_raw(path, raw, fmt="bdf", verbose="error")
    rec = load_recording(path)
    assert rec.channels == ("C3", "C4") and rec.references == ("M2", "M1") and rec.sf == 256.0
    np.testing.assert_allclose(rec.signal("C3"), values * 1e6, atol=0.01)


def test_stage_annotations_inside_the_psg_become_the_hypnogram(tmp_path):
    stages = ["Sleep stage W", "Sleep stage N1", "Sleep stage N2", "Sleep stage N3", "Sleep stage R"]
    annotations = [edfio.EdfAnnotation(30.0 * k, 30.0, s) for k, s in enumerate(stages)]
    annotations.append(edfio.EdfAnnotation(45.0, 3.0, "Arousal"))
    path = _write(tmp_path / "hmc.edf", [_signal("EEG C4-M1", _eeg(150, 100), 100)], annotations)
    rec = load_recording(path)
    assert rec.hypnogram.stages.tolist() == [Stage.W, Stage.N1, Stage.N2, Stage.N3, Stage.REM]
    assert rec.hypnogram.source == "scored"
    # An explicit hypnogram wins over the annotations.
    other = Hypnogram(np.full(5, Stage.N2), 30.0)
    assert (load_recording(path, other).hypnogram.stages == Stage.N2).all()


def test_separate_sleep_edf_style_hypnogram(tmp_path):
    path = _write(tmp_path / "X-PSG.edf", [_signal("EEG Fpz-Cz", _eeg(300, 100), 100)])
    hyp = tmp_path / "X-Hypnogram.edf"
    annotations = [
        edfio.EdfAnnotation(0, 120, "Sleep stage W"),
        edfio.EdfAnnotation(120, 150, "Sleep stage 2"),
        edfio.EdfAnnotation(270, 30, "Sleep stage 4"),
        edfio.EdfAnnotation(300, 3000, "Sleep stage ?"),  # scoring runs on past the PSG
    ]
    edfio.Edf([], annotations=annotations).write(hyp)
    rec = load_recording(path, hyp)
    assert rec.channels == ("Fpz",) and rec.references == ("Cz",)
    assert rec.hypnogram.n_epochs == 10 and rec.hypnogram.path == str(hyp)
    assert rec.hypnogram.stage_minutes()["N2"] == 2.5 and rec.hypnogram.stages[-1] == Stage.N3


def test_hypnogram_file_length_mismatch(tmp_path):
    path = _write(tmp_path / "short.edf", [_signal("C3", _eeg(300, 100), 100)])
    hyp = tmp_path / "hyp.txt"
    hyp.write_text("N2\n" * 20)
    with pytest.raises(DataError, match=r"hyp.txt: the hypnogram covers 600 s .* the signal lasts 300 s"):
        load_recording(path, hyp)


def test_not_an_edf(tmp_path):
    path = tmp_path / "notes.edf"
    path.write_text("this is a text file, not a recording\n")
    with pytest.raises(DataError, match=r"notes.edf: not an EDF/BDF file \(it starts with b'this is "):
        load_recording(path)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match=r"nothing.edf: file not found"):
        load_recording(tmp_path / "nothing.edf")


def test_truncated_written_file(tmp_path):
    path = _write(tmp_path / "t.edf", [_signal("C3", _eeg(60, 100), 100)])
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match=r"t.edf: truncated EDF/BDF file: the header declares 60 data records"):
        load_recording(path)


def test_all_nan_channel(tmp_path, monkeypatch):
    # EDF integers cannot hold NaN; a reader bug or a converted file can: simulate it in mne.
    signals = [_signal("C3", _eeg(10, 100), 100), _signal("C4", _eeg(10, 100), 100)]
    path = _write(tmp_path / "nan.edf", signals)
    real = mne.io.read_raw_edf

    def reader(*args, **kwargs):
        raw = real(*args, **kwargs)
        raw._data[1] = np.nan
        return raw

    monkeypatch.setattr(mne.io, "read_raw_edf", reader)
    with pytest.raises(DataError, match=r"nan.edf: channel 'C4' has no finite samples"):
        load_recording(path)


def test_flat_channel(tmp_path):
    path = _write(
        tmp_path / "flat.edf",
        [
            _signal("C3", _eeg(10, 100), 100),
            _signal("C4", np.full(1000, 7.0), 100, physical_range=(-100, 100)),
        ],
    )
    with pytest.raises(DataError, match=r"flat.edf: channel 'C4' is flat"):
        load_recording(path)


def test_volts_labelled_as_microvolts(tmp_path):
    path = _write(tmp_path / "volts.edf", [_signal("C3-M2", _eeg(10, 100) * 1e-6, 100, unit="uV")])
    with pytest.raises(DataError, match=r"volts.edf: channel 'C3' .* looks like a signal in volts"):
        load_recording(path)


def test_non_voltage_unit_on_an_eeg_label(tmp_path):
    path = _write(tmp_path / "ohm.edf", [_signal("C3", _eeg(10, 100), 100, unit="Ohm")])
    with pytest.raises(DataError, match=r"channel 'C3' has physical unit 'Ohm', not a voltage"):
        load_recording(path)


def _discontinuous(tmp_path):
    values = _eeg(10, 100)
    stages = [
        edfio.EdfAnnotation(0.0, 4.0, "Sleep stage W"),
        edfio.EdfAnnotation(4.0, 6.0, "Sleep stage N2"),
        edfio.EdfAnnotation(0.5, None, "a long note that widens the annotation signal"),
    ]
    path = _write(tmp_path / "disc.edf", [_signal("C3", values, 100)], stages)
    _make_discontinuous(path, gap_after=3, gap=100)  # records 0-3 at 0-4 s, 4-9 at 104-110 s
    return path, values


def test_edf_plus_d_refused(tmp_path):
    path, _ = _discontinuous(tmp_path)
    want = r"disc.edf: EDF\+D \(discontinuous\) file with 2 continuous segments; pass longest_segment=True"
    with pytest.raises(DataError, match=want):
        load_recording(path)


def test_edf_plus_d_longest_segment(tmp_path):
    path, values = _discontinuous(tmp_path)
    rec = load_recording(path, longest_segment=True, epoch_length=6)
    assert rec.duration == 6.0
    np.testing.assert_allclose(rec.signal("C3"), values[400:], atol=0.01)
    assert rec.start_time == dt.datetime.combine(rec.start_time.date(), dt.time(22, 31, 44))
    # The annotation at 104 s of file time is the segment's first second.
    assert rec.hypnogram.offset == 0.0 and rec.hypnogram.stages.tolist() == [Stage.N2]


def test_bad_parameters(tmp_path):
    path = _write(tmp_path / "ok.edf", [_signal("C3", _eeg(10, 100), 100)])
    with pytest.raises(ConfigError, match="'reference' parameter"):
        load_recording(path, reference="laplacian")
    with pytest.raises(ConfigError, match="'resample' parameter"):
        load_recording(path, resample=-5)
