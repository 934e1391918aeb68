"""load_recording on the real DREAMS and Nox files and on small EDF/BDF files written here."""

from __future__ import annotations

import datetime as dt
import logging
import re

import edfio
import mne
import numpy as np
import pytest

from sleepspindles.config import Config
from sleepspindles.errors import ConfigError, DataError
from sleepspindles.hypnogram import Hypnogram, Stage
from sleepspindles.io import load_recording
from sleepspindles.io.edf_header import read_edf_header
from sleepspindles.io.edf_source import EdfSource
from sleepspindles.pipeline.run import analyse_recording
from sleepspindles.records import RunRecord

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


def _c3_c4(path):
    """10 s of plausible C3 and C4 at 100 Hz, device reference."""
    return _write(path, [_signal("C3", _eeg(10, 100), 100), _signal("C4", _eeg(10, 100), 100)])


def _write(path, signals, annotations=None, record_duration=1.0):
    edf = edfio.Edf(
        signals,
        annotations=annotations,
        data_record_duration=record_duration,
        starttime=dt.time(22, 30, 0),
    )
    edf.write(path)
    return path


# Fixed header fields: (start byte, width).
HEADER_FIELDS = {"version": (0, 8), "header_bytes": (184, 8), "reserved": (192, 44),
                 "n_records": (236, 8), "duration": (244, 8), "n_signals": (252, 4)}  # fmt: skip
# Per-signal header fields: (start in units of the number of signals, width), after byte 256.
SIGNAL_FIELDS = {"label": (0, 16), "transducer": (16, 80), "unit": (96, 8), "physical_min": (104, 8),
                 "physical_max": (112, 8), "digital_min": (120, 8), "digital_max": (128, 8),
                 "prefilter": (136, 80), "samples": (216, 8), "signal_reserved": (224, 32)}  # fmt: skip


def field_span(blob, field, signal=None):
    """Byte range of a header field (of signal ``signal`` for per-signal fields)."""
    if field in HEADER_FIELDS:
        start, width = HEADER_FIELDS[field]
    else:
        offset, width = SIGNAL_FIELDS[field]
        start = 256 + offset * int(blob[252:256]) + signal * width
    return start, start + width


def patch_header(path, field, value, signal=None):
    """Overwrite one header field with ``value`` (str, space-padded to the field's width)."""
    blob = bytearray(path.read_bytes())
    start, stop = field_span(blob, field, signal)
    blob[start:stop] = value.encode("latin-1").ljust(stop - start)[: stop - start]
    path.write_bytes(bytes(blob))
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
    rec = load_recording(path, reference="as-recorded")
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


def test_nox_auto_reference_is_linked_mastoid(shared_data):
    # C3-M2 and C4-M1 differ by their mastoids: "auto" (the default) must not compare them.
    path = shared_data / "nox_a1" / "subject1.edf"
    rec = load_recording(path)
    assert rec.eeg_channels == ("C3", "C4", "F3", "F4", "O1", "O2")
    eeg = [rec.index(c) for c in rec.eeg_channels]
    assert tuple(rec.references[k] for k in eeg) == ("linked-mastoid",) * 6
    assert rec.dropped == ()
    recorded = load_recording(path, reference="as-recorded")
    assert recorded.references[:2] == ("M2", "M1")


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
    recorded = load_recording(path, channels=["C3", "C4"], reference="as-recorded")
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


def _patch_signals(monkeypatch, change):
    """Pass every block of file signals the reader reads through ``change(labels, values)``."""
    real = EdfSource.signals

    def signals(self, indices, start, stop):
        values = real(self, indices, start, stop)
        change([self.header.labels[i] for i in indices], values)
        return values

    monkeypatch.setattr(EdfSource, "signals", signals)


def _set_signal(label, value):
    def change(labels, values):
        if label in labels:
            values[labels.index(label)] = value

    return change


def test_all_nan_channel_is_dropped(tmp_path, monkeypatch, caplog):
    # EDF integers cannot hold NaN; a reader bug or a converted file can: simulate it in the reader.
    path = _c3_c4(tmp_path / "nan.edf")
    _patch_signals(monkeypatch, _set_signal("C4", np.nan))
    with caplog.at_level(logging.WARNING, logger="sleepspindles.io.edf"):
        rec = load_recording(path)
    assert rec.channels == ("C3",)
    assert [(d.channel, d.reason.split(" [")[0]) for d in rec.dropped] == [
        ("C4", "no finite samples (all NaN or inf)")
    ]
    assert "nan.edf: channel C4 ('C4') dropped: no finite samples" in caplog.text
    with pytest.raises(DataError, match=r"nan.edf: no usable EEG channel: channel 'C4': no finite samples"):
        load_recording(path, channels=["C4"])


def test_flat_channel_is_dropped(tmp_path):
    path = _write(
        tmp_path / "flat.edf",
        [
            _signal("C3", _eeg(10, 100), 100),
            _signal("C4", np.full(1000, 7.0), 100, physical_range=(-100, 100)),
        ],
    )
    rec = load_recording(path)
    assert rec.channels == ("C3",) and rec.eeg_channels == ("C3",)
    (dropped,) = rec.dropped
    assert dropped.channel == "C4" and dropped.reason.startswith("flat (constant 6.99")
    np.testing.assert_allclose(rec.signal("C3"), _eeg(10, 100), atol=0.01)


def test_no_usable_eeg_channel_lists_each_with_its_reason(tmp_path):
    path = _write(
        tmp_path / "dead.edf",
        [
            _signal("C3", np.full(1000, 7.0), 100, physical_range=(-100, 100)),
            _signal("C4", _eeg(10, 100) * 1e-6, 100),
        ],
    )
    with pytest.raises(DataError) as info:
        load_recording(path)
    message = str(info.value)
    assert message.startswith(f"{path}: no usable EEG channel: channel 'C3': flat (constant 6.99")
    assert "; channel 'C4': median absolute deviation" in message and "below 1 uV" in message
    assert "\n" not in message


def test_unusable_eog_and_emg_are_dropped_without_failing(tmp_path, caplog):
    path = _write(
        tmp_path / "psg.edf",
        [
            _signal("C3-M2", _eeg(10, 100), 100),
            _signal("E1-M2", np.zeros(1000), 100, physical_range=(-100, 100)),
            _signal("EMG chin", _eeg(10, 100, freq=40), 100),
        ],
    )
    with caplog.at_level(logging.WARNING, logger="sleepspindles.io.edf"):
        rec = load_recording(path)
    assert rec.channels == ("C3", "EMG chin") and rec.kinds == ("eeg", "emg")
    assert rec.dropped == ()  # EEG channels only: the EOG is reported in the log
    assert "psg.edf: channel E1 ('E1-M2') dropped: flat (constant 0" in caplog.text


def test_volts_labelled_as_microvolts(tmp_path):
    path = _write(tmp_path / "volts.edf", [_signal("C3-M2", _eeg(10, 100) * 1e-6, 100, unit="uV")])
    want = (r"volts.edf: no usable EEG channel: channel 'C3': median absolute deviation .* below 1 uV: "
            r"not plausible .* \[header physical dimension 'uV', scaled x1 to uV; physical range ")
    with pytest.raises(DataError, match=want):
        load_recording(path)


def test_microvolts_labelled_as_millivolts_are_dropped(tmp_path):
    # The C4 amplifier wrote microvolt numbers under an "mV" label: every amplitude x1000.
    values = _eeg(10, 100)
    path = _write(
        tmp_path / "mv.edf",
        [_signal("C3-M2", values, 100, unit="uV"), _signal("C4-M1", values, 100, unit="mV")],
    )
    rec = load_recording(path)
    assert rec.channels == ("C3",) and rec.references == ("M2",)
    np.testing.assert_allclose(rec.signal("C3"), values, atol=0.01)
    (dropped,) = rec.dropped
    assert dropped.channel == "C4"
    assert "above 500 uV" in dropped.reason and "microvolts labelled as millivolts" in dropped.reason
    assert "[header physical dimension 'mV', scaled x1000 to uV; physical range " in dropped.reason
    only = _write(tmp_path / "only.edf", [_signal("C4-M1", values, 100, unit="mV")])
    with pytest.raises(DataError, match=r"only.edf: no usable EEG channel: channel 'C4': .*'mV', scaled x1000"):
        load_recording(only)


def test_non_voltage_unit_on_an_eeg_label(tmp_path):
    path = _write(tmp_path / "ohm.edf", [_signal("C3", _eeg(10, 100), 100, unit="Ohm"),
                                         _signal("C4", _eeg(10, 100), 100)])  # fmt: skip
    rec = load_recording(path)
    assert rec.channels == ("C4",)
    assert rec.dropped[0].reason == "signal 'C3': physical dimension 'Ohm' in the header is not a voltage"
    with pytest.raises(DataError, match=r"channel 'C3': signal 'C3': physical dimension 'Ohm' .* not a voltage"):
        load_recording(path, channels=["C3"])


def _spy_on_reader(monkeypatch):
    """Record the file signals the reader is asked for."""
    asked = []
    _patch_signals(monkeypatch, lambda labels, values: asked.append(tuple(labels)))
    return asked


@pytest.mark.parametrize(
    "fields, reason",
    [
        ({"digital_min": "0", "digital_max": "0"},
         "signal 'C4': digital minimum equals digital maximum (0) in the header: the scale is undefined"),
        ({"physical_min": "-5", "physical_max": "-5"},
         "signal 'C4': physical minimum equals physical maximum (-5 uV) in the header: a dead channel"),
    ],
)  # fmt: skip
def test_header_scale_errors_drop_the_channel_before_reading(tmp_path, monkeypatch, fields, reason):
    path = _c3_c4(tmp_path / "hdr.edf")
    for field, value in fields.items():
        patch_header(path, field, value, signal=1)
    asked = _spy_on_reader(monkeypatch)
    rec = load_recording(path)
    assert asked == [("C3",)]  # the bad signal is never read (nor rescaled)
    assert rec.channels == ("C3",)
    assert rec.dropped[0].channel == "C4" and rec.dropped[0].reason.startswith(reason)
    header = read_edf_header(path)
    assert header.digital_min[0] == -32768 and header.digital_max[0] == 32767
    with pytest.raises(DataError, match=re.escape(f"no usable EEG channel: channel 'C4': {reason}")):
        load_recording(path, channels=["C4"])


def _mastoid_file(tmp_path):
    """Referential C3, C4, M1, M2 (device reference), as Nox files store them."""
    m1, m2 = _eeg(10, 100, freq=3, seed=1), _eeg(10, 100, freq=5, seed=2)
    signals = [_signal(lab, _eeg(10, 100, seed=k + 3), 100) for k, lab in enumerate(["C3", "C4"])]
    signals += [_signal("M1", m1, 100), _signal("M2", m2, 100)]
    return _write(tmp_path / "mastoids.edf", signals)


def test_dead_reference_drops_the_derived_channels(tmp_path):
    path = _mastoid_file(tmp_path)
    assert load_recording(path, reference="linked-mastoid").references == ("linked-mastoid",) * 2
    patch_header(path, "physical_min", "0", signal=2)
    patch_header(path, "physical_max", "0", signal=2)
    want = (r"mastoids.edf: no usable EEG channel: channel 'C3': signal 'M1': needed for the linked-mastoid "
            r"reference; physical minimum equals physical maximum \(0 uV\) in the header: a dead channel.*; "
            r"channel 'C4': signal 'M1'")
    with pytest.raises(DataError, match=want):
        load_recording(path, reference="linked-mastoid")
    # As recorded, M1 is not needed.
    assert load_recording(path, reference="as-recorded").channels == ("C3", "C4")


def test_flat_reference_signal_drops_the_derived_channels(tmp_path, monkeypatch):
    path = _mastoid_file(tmp_path)
    _patch_signals(monkeypatch, _set_signal("M2", 0.0))  # disconnected: constant, which the header cannot show
    with pytest.raises(DataError, match=r"channel 'C3': signal 'M2': needed for the linked-mastoid reference; flat"):
        load_recording(path, reference="linked-mastoid")


def _nox_file(tmp_path):
    """Referential C3, C4, M1, M2 and the bipolar C3-M2, C4-M1 (as Nox files): auto links the mastoids."""
    m1, m2 = _eeg(10, 100, freq=3, seed=1), _eeg(10, 100, freq=5, seed=2)
    c3, c4 = _eeg(10, 100, seed=3), _eeg(10, 100, seed=4)
    signals = [_signal(lab, x, 100) for lab, x in (("C3", c3), ("C4", c4), ("M1", m1), ("M2", m2),
                                                     ("C3-M2", c3 - m2), ("C4-M1", c4 - m1))]
    return _write(tmp_path / "nox.edf", signals)


@pytest.mark.parametrize("dead", ["header", "digital", "flat"])
def test_auto_reference_does_without_a_dead_mastoid(tmp_path, monkeypatch, caplog, dead):
    # Auto links the mastoids only to equalise the references; a dead M1 would drop both channels
    # (or shift them): auto then keeps them as recorded, says why, and laterality refuses the pair.
    path = _nox_file(tmp_path)
    assert load_recording(path).references == ("linked-mastoid",) * 2
    if dead in ("header", "digital"):  # dead in the header: an empty physical range, or no scale at all
        field = "physical" if dead == "header" else "digital"
        patch_header(path, f"{field}_min", "0", signal=2)
        patch_header(path, f"{field}_max", "0", signal=2)
    else:
        _patch_signals(monkeypatch, _set_signal("M1", 0.0))
    with caplog.at_level(logging.WARNING, logger="sleepspindles.io"):
        rec = load_recording(path)
    # C4-M1 was recorded against the dead M1: the referential C4 stands in, its reference said as it is.
    assert rec.channels == ("C3", "C4") and rec.original_names == ("C3-M2", "C4")
    assert rec.references == ("M2", None) and not rec.dropped
    assert "reference signal 'M1' is unusable" in caplog.text and "kept as recorded" in caplog.text
    with pytest.raises(DataError, match=r"channel 'C3': signal 'M1': needed for the linked-mastoid reference"):
        load_recording(path, reference="linked-mastoid")  # asked for explicitly: refused, not replaced


@pytest.mark.parametrize(
    "field, name, value",
    [("physical_min", "physical minimum", "abc"), ("physical_max", "physical maximum", "nan"),
     ("digital_min", "digital minimum", "inf"), ("digital_max", "digital maximum", "")],
)  # fmt: skip
def test_non_numeric_scale_fields(tmp_path, field, name, value):
    path = _c3_c4(tmp_path / "f.edf")
    patch_header(path, field, value, signal=1)
    want = rf"f.edf: not a valid EDF/BDF file: header field '{name} of signal 2 \('C4'\)' is '{value}'"
    with pytest.raises(DataError, match=want):
        load_recording(path)


def test_decimal_comma_in_scale_fields_is_read(tmp_path):
    # Some recorders write "-3276,8"; mne reads it, so the loader must too.
    path = _write(tmp_path / "comma.edf", [_signal("C3", _eeg(10, 100), 100, physical_range=(-200.5, 200.5))])
    patch_header(path, "physical_min", "-200,5", signal=0)
    assert read_edf_header(path).physical_min == (-200.5,)
    np.testing.assert_allclose(load_recording(path).signal("C3"), _eeg(10, 100), atol=0.01)


@pytest.mark.parametrize(
    "field, value, signal, message",
    [
        ("duration", "0", None, "data record duration is 0 s"),
        ("duration", "-1", None, "data record duration is -1 s"),
        ("duration", "nan", None, "header field 'duration of a data record' is 'nan'"),
        ("n_records", "0", None, "it declares 0 data records"),
        ("samples", "0", 1, "signal 2 ('C4') has 0 samples per data record"),
        ("samples", "-100", 0, "signal 1 ('C3') has -100 samples per data record"),
    ],
)
def test_impossible_record_layout(tmp_path, field, value, signal, message):
    # These used to escape as ZeroDivisionError (or worse) from read_edf_header and load_recording.
    path = _c3_c4(tmp_path / "rec.edf")
    patch_header(path, field, value, signal)
    want = re.escape(f"rec.edf: not a valid EDF/BDF file: {message}")
    with pytest.raises(DataError, match=want):
        read_edf_header(path)
    with pytest.raises(DataError, match=want):
        load_recording(path)


def test_annotation_only_file_may_declare_zero_second_records(shared_data):
    header = read_edf_header(shared_data / "sleep_edf" / "SC4001EC-Hypnogram.edf")
    assert header.record_duration == 0.0 and not any(map(header.is_data, range(len(header.labels))))


def test_unknown_stage_annotation_in_the_psg(tmp_path):
    stages = ["Sleep stage W", "Sleep stage N2", "Sleep stage X", "Sleep stage X", "Sleep stage ?"]
    annotations = [edfio.EdfAnnotation(30.0 * k, 30.0, s) for k, s in enumerate(stages)]
    path = _write(tmp_path / "x.edf", [_signal("C3", _eeg(150, 100), 100)], annotations)
    want = r"x.edf: unknown sleep-stage label\(s\) 'Sleep stage X' \(2 annotation\(s\) covering 60 s\)"
    with pytest.raises(DataError, match=want):
        load_recording(path)


def test_hypnogram_scheme_is_passed_on(tmp_path):
    path = _write(tmp_path / "p.edf", [_signal("C3", _eeg(150, 100), 100)])
    hyp = tmp_path / "h.txt"
    hyp.write_text("0\n2\n3\n4\n2\n")
    with pytest.raises(DataError, match=r"h.txt: numeric stage codes 0-4 without a 5 are ambiguous"):
        load_recording(path, hyp)
    assert load_recording(path, hyp, hypnogram_scheme="rk").hypnogram.stages[3] == Stage.N3
    assert load_recording(path, hyp, hypnogram_scheme="aasm").hypnogram.stages[3] == Stage.REM
    with pytest.raises(ConfigError, match="'hypnogram_scheme' parameter"):
        load_recording(path, hyp, hypnogram_scheme="yasa")


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
    # How to allow it from the config file (the CLI user) and from Python, on one line.
    want = (r"disc.edf: EDF\+D \(discontinuous\) file with 2 continuous segments; set load.longest_segment: true "
            r"in the config \(longest_segment=True in Python\) to analyse the longest one only$")
    with pytest.raises(DataError, match=want):
        load_recording(path)


def test_edf_plus_d_longest_segment(tmp_path, caplog):
    path, values = _discontinuous(tmp_path)
    with caplog.at_level(logging.WARNING, logger="sleepspindles.io.edf"):
        rec = load_recording(path, longest_segment=True, epoch_length=6)
    # Said, not only logged under -v: the file, the segment kept and the data discarded.
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == (
        f"{path}: EDF+D file with 2 continuous segments: analysing the longest, 6 s from 104 s into the file "
        "(records 4-9); 4 s of recorded data in the others discarded; times (events, stages) count from the "
        "kept segment's start, 104 s into the file")
    assert rec.duration == 6.0
    np.testing.assert_allclose(rec.signal("C3"), values[400:], atol=0.01)
    assert rec.start_time == dt.datetime.combine(rec.start_time.date(), dt.time(22, 31, 44))
    # The annotation at 104 s of file time is the segment's first second.
    assert rec.hypnogram.offset == 0.0 and rec.hypnogram.stages.tolist() == [Stage.N2]


def test_edf_plus_d_kept_segment_is_recorded_in_run_json(tmp_path):
    path, _ = _discontinuous(tmp_path)  # records 0-3 at 0-4 s, 4-9 at 104-110 s
    rec = load_recording(path, longest_segment=True, epoch_length=6)
    assert (rec.segment_offset, rec.discarded_seconds) == (104.0, 4.0)
    record = analyse_recording(rec, Config(), staging=False).record
    info = record.recording
    assert (info.segment_offset_seconds, info.discarded_seconds, info.duration_seconds) == (104.0, 4.0, 6.0)
    # start_time is the kept segment's (file start 22:30:00 + 104 s): times count from there.
    assert info.start_time.endswith("T22:31:44")
    stored = record.to_json()
    assert (stored["recording"]["segment_offset_seconds"], stored["recording"]["discarded_seconds"]) == (104.0, 4.0)
    assert RunRecord.from_json(stored).recording == info
    # A run.json written before these fields reads back as a continuous file's.
    old = {**stored, "recording": {k: v for k, v in stored["recording"].items()
                                   if k not in ("segment_offset_seconds", "discarded_seconds")}}
    assert RunRecord.from_json(old).recording.segment_offset_seconds == 0.0
    assert RunRecord.from_json(old).recording.discarded_seconds == 0.0


def test_continuous_file_records_no_segment(tmp_path, caplog):
    path = _c3_c4(tmp_path / "c.edf")
    with caplog.at_level(logging.WARNING, logger="sleepspindles.io"):
        rec = load_recording(path)
    assert (rec.segment_offset, rec.discarded_seconds) == (0.0, 0.0)
    assert "continuous segments" not in caplog.text
    info = analyse_recording(rec, Config(), staging=False).record.recording
    assert (info.segment_offset_seconds, info.discarded_seconds) == (0.0, 0.0)


def test_bad_parameters(tmp_path):
    path = _write(tmp_path / "ok.edf", [_signal("C3", _eeg(10, 100), 100)])
    with pytest.raises(ConfigError, match="'reference' parameter"):
        load_recording(path, reference="laplacian")
    with pytest.raises(ConfigError, match="'resample' parameter"):
        load_recording(path, resample=-5)


def test_label_and_unit_fields_padded_with_nul_are_read(tmp_path):
    """Some writers pad header text with NUL bytes instead of spaces: 'uV\\x00...' is still microvolts."""
    path = _c3_c4(tmp_path / "nul.edf")
    expected = load_recording(path).data
    blob = bytearray(path.read_bytes())
    for field, signal, text in (("label", 0, b"C3"), ("unit", 1, b"uV")):
        start, stop = field_span(blob, field, signal)
        blob[start:stop] = text.ljust(stop - start, b"\x00")
    path.write_bytes(bytes(blob))
    rec = load_recording(path)
    assert rec.channels == ("C3", "C4")
    np.testing.assert_array_equal(rec.data, expected)
