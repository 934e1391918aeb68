"""Recordings streamed from their file (``preload=False``) give exactly the in-memory results.

The file is read block by block and channel group by channel group; these tests check that
every table of a run is identical either way (re-referenced channels included), that the
values read equal the in-memory ones, that reads stay block-sized, and that nothing turns
the streamed night into one whole array.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sleepspindles import recording as recording_module
from sleepspindles.analysis import spectral
from sleepspindles.config import Config
from sleepspindles.detection.coverage import coverage
from sleepspindles.detection.core.kernels import flat_mask
from sleepspindles.hypnogram import Hypnogram
from sleepspindles.io import load_recording
from sleepspindles.io.edf_source import EdfSource
from sleepspindles.output import write_edf
from sleepspindles.pipeline.run import analyse_recording
from sleepspindles.recording import Recording
from sleepspindles.synthetic.night import make_synthetic_night

CHANNELS = ("C3", "C4", "M1", "M2", "F3", "F4")


@pytest.fixture(scope="module")
def night_file(tmp_path_factory):
    """30 min, six EEG channels (mastoids among them) plus EOG/EMG, with spindles and SOs."""
    night = make_synthetic_night(duration_hours=0.5, channels=CHANNELS, so_density=6, coupled_fraction=0.3,
                                 eog_emg=True, seed=3)
    return write_edf(night.recording, tmp_path_factory.mktemp("ooc") / "night.edf")


def _small_blocks(monkeypatch):
    """Blocks of 2**16 samples per row for the block readers, one epoch per Welch call."""
    monkeypatch.setattr(recording_module, "_BLOCK_VALUES", 1)
    monkeypatch.setattr(spectral, "_CHUNK_VALUES", 1)


@pytest.mark.parametrize("reference", ["as-recorded", "linked-mastoid", "average"])
def test_streamed_values_equal_the_loaded_ones(night_file, reference):
    loaded = load_recording(night_file, reference=reference, preload=True)
    streamed = load_recording(night_file, reference=reference, preload=False)
    assert loaded.in_memory and not streamed.in_memory
    assert isinstance(streamed.data, EdfSource) and streamed.data.nbytes == 0
    assert streamed.channels == loaded.channels and streamed.references == loaded.references
    n = loaded.n_samples
    # Spans across data-record boundaries, at both ends, and a channel subset out of order.
    for rows, a, b in [([0, 1, 2, 3], 0, n), ([3, 0], 1234, 5678), ([1], n - 777, n), ([2, 5], -5, 300)]:
        np.testing.assert_array_equal(streamed.read(rows, a, b), loaded.read(rows, a, b))
    np.testing.assert_array_equal(streamed.values(), loaded.data)
    assert streamed.pick(["F4", "C3"]).read([0, 1], 0, 512).tolist() == loaded.pick(["F4", "C3"]).read(
        [0, 1], 0, 512).tolist()


@pytest.mark.parametrize("reference", ["as-recorded", "linked-mastoid"])
def test_streamed_run_gives_identical_tables(night_file, reference, monkeypatch):
    config = Config().replace("detection", block_seconds=120.0, n_jobs=2)
    loaded = load_recording(night_file, reference=reference, preload=True)
    streamed = load_recording(night_file, reference=reference, preload=False)
    want = analyse_recording(loaded, config)
    _small_blocks(monkeypatch)
    # Nothing may pull the whole streamed night into memory.
    monkeypatch.setattr(EdfSource, "__array__", lambda *a, **k: pytest.fail("the whole night was read at once"))
    got = analyse_recording(streamed, config)
    assert set(got.tables) == set(want.tables)
    assert len(want.tables["spindles"]) > 50 and len(want.tables["slow_oscillations"]) > 50
    for name, table in want.tables.items():
        pd.testing.assert_frame_equal(got.tables[name], table, check_exact=True, obj=name)


def test_streamed_reads_stay_block_sized(night_file, monkeypatch):
    streamed = load_recording(night_file, preload=False)
    reads = []
    real = EdfSource.read

    def read(self, rows, start, stop):
        reads.append((len(list(rows)), min(stop, self.shape[1]) - max(start, 0)))
        return real(self, rows, start, stop)

    monkeypatch.setattr(EdfSource, "read", read)
    _small_blocks(monkeypatch)
    config = Config().replace("detection", block_seconds=120.0)
    analyse_recording(streamed, config, staging=True)
    # Single channels are read whole (staging, the report's averages), several channels at a
    # time only over a block: a detection block (spindles 120 s, slow oscillations 600 s, plus
    # their filter margins), 2**16 samples, or one epoch.
    longest = max(span for rows, span in reads if rows > 1)
    assert longest <= 700 * streamed.sf < streamed.n_samples / 2
    assert len(reads) > 50


def test_coverage_by_blocks_sees_flat_runs_across_block_edges(monkeypatch):
    sf, n = 256.0, 3 * 2**16 + 1000
    rng = np.random.default_rng(0)
    data = rng.normal(0, 20, (2, n))
    data[0, 2**16 - 300 : 2**16 + 200] = 7.0  # 500 samples, across the first block edge
    data[1, 2 * 2**16 - 200 : 2 * 2**16 + 55] = 3.0  # 255 samples: just under 1 s, not excluded
    data[1, 100:400] = np.nan
    rec = Recording(data=data, sf=sf, channels=("C3", "C4"))
    hyp = Hypnogram(np.full(int(np.ceil(n / sf / 30)), 2), epoch_length=30.0)
    whole = coverage(rec, hyp, flat_seconds=1.0).table
    _small_blocks(monkeypatch)
    blocks = coverage(rec, hyp, flat_seconds=1.0).table
    pd.testing.assert_frame_equal(blocks, whole)
    excluded = blocks.set_index("channel")["excluded_seconds"]
    assert excluded["C3"] == pytest.approx(flat_mask(data[0], 256).sum() / sf) and excluded["C3"] == 500 / sf
    assert excluded["C4"] == pytest.approx(300 / sf)


def test_auto_preload_streams_only_large_nights(night_file, monkeypatch):
    assert load_recording(night_file).in_memory  # 30 min x 9 channels: far under the limit
    from sleepspindles.io import edf

    monkeypatch.setattr(edf, "_PRELOAD_BYTES", 1000)
    assert not load_recording(night_file).in_memory


def test_streamed_bdf_equals_loaded_and_mne(tmp_path):
    import mne

    rng = np.random.default_rng(5)
    values = rng.normal(0, 40e-6, (3, 256 * 20))  # 24-bit samples of both signs
    raw = mne.io.RawArray(values, mne.create_info(["C3", "C4", "Cz"], 256.0, "eeg"), verbose="error")
    path = tmp_path / "rec.bdf"
    mne.export.export_raw(path, raw, fmt="bdf", verbose="error")
    loaded = load_recording(path, preload=True)
    streamed = load_recording(path, preload=False)
    np.testing.assert_array_equal(streamed.read([2, 0], 300, 4000), loaded.read([2, 0], 300, 4000))
    by_mne = mne.io.read_raw_bdf(path, preload=True, verbose="error").get_data(units="uV")
    np.testing.assert_allclose(streamed.values(), by_mne, atol=1e-6)
