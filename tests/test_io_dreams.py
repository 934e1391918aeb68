"""The DREAMS Sleep Spindles layout: signals, scorings, whole excerpts (small files and the real ones)."""

from __future__ import annotations

import numpy as np
import pytest

from sleepspindles.errors import ConfigError, DataError
from sleepspindles.hypnogram import Stage
from sleepspindles.io.dreams import (
    DREAMS_SAMPLING_RATES,
    EXPERT1_SCORED_SECONDS,
    excerpt_number,
    load_dreams_excerpt,
    read_dreams_scoring,
    read_dreams_signal,
)

SAMPLES = [-0.9562, -0.8962, -3.1877, -4.1783, 5.5, 12.25, -7.0, 3.0]


def write_signal(path, header="[C3-A1]", values=SAMPLES):
    path.write_text(header + "\n" + "".join(f"   {v:.4f}\n" for v in values))
    return path


def test_signal_rate_from_the_table_and_channel_from_the_header(tmp_path):
    rec = read_dreams_signal(write_signal(tmp_path / "excerpt1.txt"))
    assert rec.sf == 100.0
    assert rec.channels == ("C3",)
    assert rec.original_names == ("C3-A1",)
    assert rec.references == ("A1",)
    assert rec.kinds == ("eeg",)
    np.testing.assert_array_equal(rec.data[0], SAMPLES)
    assert rec.duration == pytest.approx(len(SAMPLES) / 100)


def test_signal_rate_passed_in(tmp_path):
    path = write_signal(tmp_path / "my_night.txt", header="[CZ-A1]")
    rec = read_dreams_signal(path, sf=256)
    assert rec.sf == 256.0 and rec.channels == ("Cz",) and rec.references == ("A1",)
    with pytest.raises(DataError, match="pass sf"):
        read_dreams_signal(path)
    with pytest.raises(DataError, match="pass sf"):
        read_dreams_signal(write_signal(tmp_path / "excerpt9.txt"))


@pytest.mark.parametrize(
    "text, message",
    [
        ("C3-A1\n1.0\n2.0\n", "first line must be a label in square brackets"),
        ("", "first line must be a label"),
        ("[C3-A1]\n", "no samples"),
        ("[C3-A1]\n1.0\nabc\n", "not a DREAMS signal file"),
        ("[C3-A1]\n1.0 2.0\n3.0 4.0\n", "one sample per line"),
        ("[C3-A1]\n" + "0.000001\n-0.000002\n" * 50, "volts"),
        ("[C3-A1]\n" + "5.0\n" * 20, "flat"),
    ],
)
def test_bad_signals(tmp_path, text, message):
    path = tmp_path / "excerpt2.txt"
    path.write_text(text)
    with pytest.raises(DataError, match=message) as info:
        read_dreams_signal(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "header, body, reason",
    [
        ("[C3-A1]", "0.000001\n-0.000002\n" * 50, "median absolute deviation 1.5e-06 uV, below 1 uV"),
        ("[C3-A1]", "1500.0\n-1500.0\n" * 50, "median absolute deviation 1.5e+03 uV, above 500 uV"),
        ("[C3-A1]", "4.0\n" * 60 + "9.0\n" * 40, "almost flat (at least half of the samples equal 4"),
        ("[EOG1-A1]", "2.5\n" * 20, "flat (constant 2.5)"),  # not EEG, but the only channel
    ],
    ids=["volts", "millivolts-labelled-microvolts", "dead-with-glitches", "flat-eog"],
)
def test_unusable_single_channel_is_an_error(tmp_path, header, body, reason):
    path = tmp_path / "excerpt1.txt"
    path.write_text(header + "\n" + body)
    with pytest.raises(DataError) as info:
        read_dreams_signal(path)
    message = str(info.value)
    assert message.startswith(f"{path}: channel ") and reason in message
    assert message.endswith("[DREAMS text file: values read as microvolts, unscaled]")


def test_missing_signal_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_dreams_signal(tmp_path / "excerpt1.txt")


def test_scoring(tmp_path):
    path = tmp_path / "Visual_scoring2_excerpt4.txt"
    path.write_text("[vis2_Spindles/CZ-A1]\n  500.0000\t    1.0000\n\n  12.5000\t    0.5000\n")
    frame = read_dreams_scoring(path)
    assert frame.columns.tolist() == ["channel", "start", "end", "duration"]
    assert frame["start"].tolist() == [12.5, 500.0]  # sorted
    assert frame["end"].tolist() == [13.0, 501.0]
    assert frame["duration"].tolist() == [0.5, 1.0]
    assert frame["channel"].tolist() == ["Cz", "Cz"]


def test_empty_scoring_and_header_without_channel(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("[vis1_Spindles/C3-A1]\n")
    frame = read_dreams_scoring(empty)
    assert len(frame) == 0 and {"start", "end", "duration"} <= set(frame.columns)
    bare = tmp_path / "bare.txt"
    bare.write_text("[Spindles]\n1 2\n")
    frame = read_dreams_scoring(bare)
    assert "channel" not in frame.columns and frame["end"].tolist() == [3.0]


@pytest.mark.parametrize(
    "body, message",
    [("1.0\n", "line 2: expected 'start duration'"), ("1 2\n3 x\n", "line 3"), ("5 0\n", "duration > 0"),
     ("-1 1\n", "start must be >= 0")],
)
def test_bad_scorings(tmp_path, body, message):
    path = tmp_path / "s.txt"
    path.write_text("[vis1_Spindles/C3-A1]\n" + body)
    with pytest.raises(DataError, match=message):
        read_dreams_scoring(path)


def test_excerpt_number():
    assert excerpt_number("/x/excerpt3.txt") == 3
    assert excerpt_number("Visual_scoring1_excerpt12.txt") == 12
    assert excerpt_number("night.txt") is None


def test_load_excerpt_with_optional_files_absent(tmp_path):
    write_signal(tmp_path / "excerpt3.txt")
    (tmp_path / "Visual_scoring1_excerpt3.txt").write_text("[vis1_Spindles/C3-A1]\n0.01 0.02\n")
    ex = load_dreams_excerpt(tmp_path, 3)
    assert ex.number == 3 and ex.recording.sf == 50.0
    assert ex.hypnogram is None and ex.recording.hypnogram is None
    assert ex.expert1["start"].tolist() == [0.01]
    assert ex.expert2 is None and ex.automatic is None


# ---------------------------------------------------------------- the real database


@pytest.fixture(scope="module")
def excerpts(shared_data):
    folder = shared_data / "dreams_spindles"
    return {n: load_dreams_excerpt(folder, n) for n in range(1, 5)}


@pytest.mark.slow
def test_real_excerpts_match_the_provenance_table(excerpts):
    table = {1: ("C3", 52, 115), 2: ("Cz", 60, 52), 3: ("C3", 5, 44), 4: ("Cz", 44, 25)}
    for n, ex in excerpts.items():
        channel, n1, n2 = table[n]
        rec = ex.recording
        assert rec.sf == DREAMS_SAMPLING_RATES[n]
        assert rec.channels == (channel,) and rec.references == ("A1",)
        assert rec.duration == pytest.approx(1800.0)
        assert (len(ex.expert1), len(ex.expert2)) == (n1, n2)
        # Expert 2 scored a fixed 1 s, except one spindle of excerpt 1 split in two halves.
        assert (ex.expert2["duration"] != 1.0).sum() == (2 if n == 1 else 0)
        assert set(ex.expert1["channel"]) == {channel}
        assert len(ex.automatic) > 0
        assert ex.expert1["end"].max() < rec.duration


@pytest.mark.slow
def test_real_hypnograms(excerpts):
    for ex in excerpts.values():
        hyp = ex.hypnogram
        assert hyp.epoch_length == 5.0 and hyp.n_epochs == 360
        assert ex.recording.hypnogram == hyp
    # Stages at expert 1's spindle onsets, counted by hand from the files (R&K 2 -> N2, 1/0 -> N3,
    # 3 -> N1, 5 -> W). Excerpt 4's hypnogram puts most of its spindles in wake epochs.
    expected = {
        1: {Stage.N2: 52},
        2: {Stage.N2: 54, Stage.N3: 6},
        3: {Stage.N2: 5},
        4: {Stage.N2: 8, Stage.N1: 5, Stage.W: 31},
    }
    for n, ex in excerpts.items():
        codes, counts = np.unique(ex.hypnogram.stage_at(ex.expert1["start"].to_numpy()), return_counts=True)
        assert {Stage(int(c)): int(k) for c, k in zip(codes, counts)} == expected[n]


@pytest.mark.slow
def test_edf_version_loads_through_the_normal_loader(shared_data, excerpts):
    from sleepspindles.io import load_recording

    folder = shared_data / "dreams_spindles"
    edf = load_recording(folder / "excerpt3.edf", folder / "Hypnogram_excerpt3.txt", hypnogram_format="dreams")
    text = excerpts[3].recording
    assert edf.sf == text.sf and edf.reference_of("C3") == "A1"
    # The same samples: the text file rounds them to 4 decimals.
    np.testing.assert_allclose(edf.signal("C3"), text.signal("C3"), rtol=0, atol=1e-4 + 1e-9)
    assert edf.hypnogram == excerpts[3].hypnogram


def test_scored_windows(tmp_path):
    # 2000 samples at 1 Hz (sf passed in): a 2000 s excerpt; expert 1 covers the first 1000 s.
    write_signal(tmp_path / "excerpt1.txt", values=30 * np.sin(np.arange(2000.0)))
    ex = load_dreams_excerpt(tmp_path, 1, sf=1.0)
    assert ex.scored_window("expert1") == (0.0, EXPERT1_SCORED_SECONDS) == (0.0, 1000.0)
    assert ex.scored_window("expert2") == ex.scored_window("automatic") == (0.0, 2000.0)
    # Two experts combined are complete only where both scored.
    assert ex.scored_window("union") == ex.scored_window("intersection") == (0.0, 1000.0)
    short = load_dreams_excerpt(tmp_path, 1, sf=4.0)  # 500 s: expert 1's window is the whole excerpt
    assert short.scored_window("expert1") == (0.0, 500.0)
    with pytest.raises(ConfigError, match="scorer"):
        ex.scored_window("expert 1")


@pytest.mark.slow
def test_expert1_scored_only_the_first_1000_s(excerpts):
    """The evidence for EXPERT1_SCORED_SECONDS: no expert-1 spindle after 1000 s, many of expert 2's."""
    for ex in excerpts.values():
        assert ex.expert1["end"].max() < EXPERT1_SCORED_SECONDS
        assert (ex.expert2["start"] >= EXPERT1_SCORED_SECONDS).sum() >= 12
        assert ex.recording.duration > 1700
