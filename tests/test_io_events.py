"""Reading event files: our events table (CSV, Parquet) and DREAMS scorings, auto-detected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sleepspindles.errors import ConfigError, DataError
from sleepspindles.io.events import detect_format, read_events
from sleepspindles.output import write_csv, write_parquet
from sleepspindles.schema import SPINDLES


def events_table() -> pd.DataFrame:
    return SPINDLES.conform(
        pd.DataFrame(
            {
                "channel": ["C4", "C3", "C3"],
                "stage": ["N2", "N2", "N3"],
                "start": [12.5, 30.0, 3.25],
                "peak": [12.9, 30.4, 3.5],
                "end": [13.4, 31.0, 4.0],
                "duration": [0.9, 1.0, 0.75],
                "amplitude": [40.0, 35.0, 50.0],
                "rms": [10.0, 9.0, 12.0],
                "frequency": [13.1, 12.4, 14.0],
                "oscillations": [11, 12, 10],
                "symmetry": [0.4, 0.4, 0.33],
            }
        )
    )


@pytest.mark.parametrize("writer, name", [(write_csv, "events.csv"), (write_parquet, "events.parquet")])
def test_our_table_round_trips(tmp_path, writer, name):
    table = events_table()
    path = writer(tmp_path / name, table)
    assert detect_format(path) == "events"
    got = read_events(path)
    # Sorted by channel then start, all columns kept.
    assert got["channel"].tolist() == ["C3", "C3", "C4"]
    assert got["start"].tolist() == [3.25, 30.0, 12.5]
    assert got["end"].tolist() == [4.0, 31.0, 13.4]
    assert got["oscillations"].tolist() == [10, 12, 11]
    assert np.allclose(got["duration"], got["end"] - got["start"])


def test_dreams_scoring_is_detected(tmp_path):
    path = tmp_path / "Visual_scoring1_excerpt1.txt"
    path.write_text("[vis1_Spindles/C3-A1]\n  282.2400\t    0.7200\n  311.7200\t    1.5400\n")
    assert detect_format(path) == "dreams"
    got = read_events(path)
    assert got["start"].tolist() == [282.24, 311.72]
    assert got["end"].tolist() == pytest.approx([282.96, 313.26])
    assert got["channel"].tolist() == ["C3", "C3"]


def test_minimal_table_gets_a_duration(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("start,end\n5,6.5\n1,2\n")
    got = read_events(path)
    assert got[["start", "end", "duration"]].values.tolist() == [[1, 2, 1], [5, 6.5, 1.5]]


def test_header_only_table_is_empty(tmp_path):
    path = tmp_path / "none.csv"
    path.write_text("channel,start,end\n")
    got = read_events(path)
    assert len(got) == 0 and {"start", "end", "duration"} <= set(got.columns)


@pytest.mark.parametrize(
    "content, message",
    [
        ("onset,offset\n1,2\n", "no 'start' or 'end' column"),
        ("start,duration\n1,2\n", "no 'end' column"),
        ("start,end\n1,2\nx,3\n", "non-numeric value on data row 2"),
        ("start,end\n1,2\n4,\n", "'end' has a missing"),
        ("start,end\n5,4\n", "ends before it starts"),
        ("", "empty file"),
    ],
)
def test_bad_tables_name_the_file_and_problem(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as info:
        read_events(path)
    assert str(path) in str(info.value)


def test_missing_file_and_bad_format(tmp_path):
    with pytest.raises(DataError, match="cannot read event file"):
        read_events(tmp_path / "absent.csv")
    path = write_csv(tmp_path / "events.csv", events_table())
    with pytest.raises(ConfigError, match="'format'"):
        read_events(path, format="xml")
    # Forcing the DREAMS format on our CSV gives the DREAMS reader's error.
    with pytest.raises(DataError, match="not a DREAMS scoring file"):
        read_events(path, format="dreams")


@pytest.mark.slow
def test_real_dreams_scorings(shared_data):
    folder = shared_data / "dreams_spindles"
    counts = [len(read_events(folder / f"Visual_scoring1_excerpt{n}.txt")) for n in range(1, 5)]
    assert counts == [52, 60, 5, 44]
    auto = read_events(folder / "Automatic_detection_excerpt1.txt")
    assert len(auto) == 159 and auto["channel"].unique().tolist() == ["C3"]


def test_sumo_archive_is_detected_and_read(tmp_path):
    # SUMOv2's layout: one array per recording and channel, rows start, end, frequency, amplitude, rms.
    path = tmp_path / "excerpt9.npz"
    np.savez(path, **{"excerpt9_CZ-A1_fold-0_agg": np.array([[12.0, 12.8, 13.5, 60.0, 11.0],
                                                             [3.0, 4.1, 12.5, 50.0, 9.0]]),
                      "excerpt9_C3-A1_fold-0_agg": np.array([[7.0, 7.5, 14.0, 40.0, 8.0]])})
    assert detect_format(path) == "sumo"
    got = read_events(path)
    assert got["channel"].tolist() == ["C3", "Cz", "Cz"]
    assert got["start"].tolist() == [7.0, 3.0, 12.0]
    assert got["duration"].tolist() == pytest.approx([0.5, 1.1, 0.8])
    assert got.loc[0, ["frequency", "amplitude", "rms"]].tolist() == [14.0, 40.0, 8.0]
    np.savez(tmp_path / "unnamed.npz", spindles=np.array([[1.0, 2.0, 13.0, 50.0, 9.0]]))
    assert "channel" not in read_events(tmp_path / "unnamed.npz").columns


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"x_C3-A1_fold-0_agg": np.ones((2, 4))}, "expected one row of 5 numbers"),
        ({"x_C3-A1_fold-0_agg": np.array([[2.0, 1.0, 13.0, 50.0, 9.0]])}, "ending before it starts"),
        ({}, "no array"),
    ],
)
def test_bad_sumo_archives_name_the_file_and_problem(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(DataError, match=message) as info:
        read_events(path)
    assert str(path) in str(info.value)
    (tmp_path / "text.npz").write_text("not a zip")
    with pytest.raises(DataError, match="cannot read as a NumPy .npz"):
        read_events(tmp_path / "text.npz")


def test_real_sumo_detections(shared_data):
    counts = [len(read_events(shared_data / "sumov2_dreams" / f"excerpt{n}.npz")) for n in range(1, 5)]
    assert counts == [60, 48, 30, 11]
    assert read_events(shared_data / "sumov2_dreams" / "excerpt2.npz")["channel"].unique().tolist() == ["Cz"]
