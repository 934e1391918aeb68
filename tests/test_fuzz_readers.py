"""Property-based fuzzing of the readers: damaged input loads or raises SleepSpindlesError, nothing else.

Each test starts from a small valid file (or generates content in the format's layout), lets
hypothesis damage it, and checks that the reader either returns something consistent or refuses
with the package's own error, never a traceback from numpy, mne or the standard library.
``derandomize=True`` makes every run (and CI) test the same examples.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path

import edfio
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_io_edf import HEADER_FIELDS, SIGNAL_FIELDS, _eeg, _signal, _write, field_span

from sleepspindles.errors import SleepSpindlesError
from sleepspindles.hypnogram import Stage
from sleepspindles.io import load_recording, read_hypnogram
from sleepspindles.io.edf_header import read_edf_header

FUZZ = settings(
    max_examples=2000,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)


def _pick(index: int, pools: tuple) -> tuple:
    """Item ``index`` of the Cartesian product of ``pools`` (modulo its size)."""
    items = []
    for pool in pools:
        index, k = divmod(index, len(pool))
        items.append(pool[k])
    return tuple(items)


def combinations(*pools: list):
    """One item from each pool, drawn as a single integer (far cheaper than a tuple of draws)."""
    return st.integers(0, int(np.prod([len(p) for p in pools], dtype=float)) - 1).map(lambda i: _pick(i, pools))


def many(max_size: int, *pools: list):
    """1 to ``max_size`` combinations, drawn as one byte string (far cheaper than a list of draws)."""
    return st.binary(min_size=4, max_size=4 * max_size).map(
        lambda raw: [_pick(int.from_bytes(raw[i : i + 4], "little"), pools) for i in range(0, len(raw) - 3, 4)]
    )


LATIN1 = st.characters(max_codepoint=255)
# What a damaged numeric field or a hand-edited hypnogram may hold. Drawing from fixed pools is
# much cheaper than composing strategies, which keeps 2000 examples per reader within seconds.
ODD_NUMBERS = ["", "0", "-0", "1", "-1", "2", "-2", "3", "4", "5", "6", "9", "nan", "inf", "-inf",
               "1e308", "-1e308", "1e-300", "0,5", "+5", " 3 ", "1_0", "abc", "\x00", "0\x001", "3.5",
               "2e2", "2.0", "99999999", "-99999999", "0x10", "\u0661", "1e", ".", "-"]  # fmt: skip
INTEGERS = st.integers(-(10**8), 10**9).map(str)
# Header field values: odd numbers, plausible values of every field (any field may get them).
FIELD_VALUES = ODD_NUMBERS + [
    "64", "32", "128", "3", "1000", "-32768", "32767", "-3276.8", "3276.7", "0.5", "1e3", "-100", "100",
    "C3", "C4", "M1", "M2", "Cz", "C3-M2", "C4-M1", "EDF Annotations", "BDF Annotations", "E1-M2", "EMG chin",
    "C3 Imp\xe9dance", "uV", "mV", "V", "nV", "UV", "Ohm", "\xb5V", "%", "EDF+C", "EDF+D", "BDF+C", "BDF+D",
    "\xffBIOSEMI", "0       ", "1",
]  # fmt: skip


def header_damage(size: int, n_signals: int):
    """One damage to an EDF: a header field rewritten, the file cut, or junk bytes written in."""
    return st.one_of(
        combinations(["patch"], sorted(HEADER_FIELDS), [None], FIELD_VALUES),
        combinations(["patch"], sorted(SIGNAL_FIELDS), list(range(n_signals)), FIELD_VALUES),
        st.tuples(st.just("patch"), st.sampled_from(sorted(HEADER_FIELDS)), st.none(), INTEGERS),
        st.tuples(st.just("patch"), st.sampled_from(sorted(SIGNAL_FIELDS)), st.integers(0, n_signals - 1),
                  st.one_of(INTEGERS, st.text(LATIN1, max_size=12))),
        st.tuples(st.just("truncate"), st.integers(0, size - 1)),
        st.tuples(st.just("junk"), st.integers(0, size - 1), st.binary(min_size=1, max_size=16)),
        st.tuples(st.just("append"), st.binary(min_size=1, max_size=16)),
    )  # fmt: skip


def _encode(value: str) -> bytes:
    """Header text as a writer would put it: latin-1, or UTF-8 bytes for what latin-1 lacks."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


def _damage(base: bytes, damages) -> bytes:
    """Apply ``damages`` (from :func:`header_damage`) to a copy of ``base``."""
    blob = bytearray(base)
    for damage in damages:
        if damage[0] == "patch":
            _, field, signal, value = damage
            start, stop = field_span(base, field, signal)  # the layout of the intact file
            blob[start:stop] = _encode(value).ljust(stop - start)[: stop - start]
        elif damage[0] == "truncate":
            del blob[damage[1] :]
        elif damage[0] == "junk":
            blob[damage[1] : damage[1] + len(damage[2])] = damage[2]
        else:
            blob += damage[1]
    return bytes(blob)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Where the damaged files go: RAM-backed when possible (thousands of writes: 5x faster)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm) as folder:
            yield Path(folder)
    else:
        yield tmp_path_factory.mktemp("fuzz")


@pytest.fixture(scope="module")
def small_edf(workdir) -> bytes:
    """3 s of EEG at 64 Hz (C3, C4, Cz) and two stage annotations (EDF+C)."""
    signals = [_signal(label, _eeg(3, 64, seed=k), 64) for k, label in enumerate(["C3", "C4", "Cz"])]
    annotations = [edfio.EdfAnnotation(k, 1, f"Sleep stage {s}") for k, s in enumerate(["W", "N1", "N2"])]
    return _write(workdir / "base.edf", signals, annotations).read_bytes()


def _loads_or_refuses(outcomes: list, read, *args, **kwargs):
    """``read(*args, **kwargs)``, or None when it refuses with the package's own error.

    Appends to ``outcomes`` whether it loaded, for :func:`_check_coverage`.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mne's header warnings
        try:
            result = read(*args, **kwargs)
        except SleepSpindlesError:
            result = None
    outcomes.append(result is not None)
    return result


def _check_coverage(outcomes: list) -> None:
    """The fuzzer ran its examples, and they reached both outcomes (it is not stuck on one path)."""
    assert len(outcomes) >= FUZZ.max_examples
    assert 0.02 < np.mean(outcomes) < 0.98, f"{np.mean(outcomes):.1%} of {len(outcomes)} examples loaded"


def test_edf_header_fuzz(small_edf, workdir):
    n_signals = int(small_edf[252:256])
    path = workdir / "damaged.edf"
    outcomes = []
    assert load_recording(workdir / "base.edf", epoch_length=1).channels == ("C3", "C4", "Cz")

    @FUZZ
    @given(st.lists(header_damage(len(small_edf), n_signals), min_size=1, max_size=4))
    def check(damages):
        path.write_bytes(_damage(small_edf, damages))
        rec = _loads_or_refuses(outcomes, load_recording, path, epoch_length=1)
        if rec is None:
            return
        header = read_edf_header(path)
        assert rec.data.shape == (len(rec.channels), rec.n_samples) and rec.n_samples > 0
        assert len(rec.kinds) == len(rec.references) == len(rec.original_names) == len(rec.channels)
        assert rec.eeg_channels and np.isfinite(rec.data).all()  # EDF integers are finite
        expected = header.n_records * header.record_duration
        assert abs(rec.duration - expected) <= max(1 / rec.sf, 1e-6 * expected)

    check()
    _check_coverage(outcomes)


# --- hypnograms ------------------------------------------------------------------------------

STAGE_WORDS = ["W", "N1", "N2", "N3", "N4", "R", "REM", "?", "MT", "Wake", "Stage 4", "Sleep stage 2",
               "S3", "SWS", "movement", "X", "Stage", "stage", "N 2", "r", "\ufeffW", "W W", "N2;N3", "é",
               "日本", "<", "&", "\t", '"N2"', "[Hypnogram]", "\x00", "\u2028", "\r"]  # fmt: skip
# Cells, lines and annotation texts: sampled from a pool (cheap), plus one free text per example.
TOKENS = st.sampled_from(STAGE_WORDS + ODD_NUMBERS)
# Mostly nothing: most examples should be valid but for one damage, or every one fails early.
JUNK = st.one_of(st.none(), st.none(), st.none(), st.text(max_size=8))
DAMAGE = st.one_of(st.none(), TOKENS, JUNK)
SCHEMES = st.sampled_from([None, "aasm", "rk"])
DURATIONS = st.sampled_from([None] * 6 + [0.0, 5.0, 30.0, 45.5, 90.0, 3600.0, 1e9, float("nan"), -30.0])


def _damage_one(items: list[tuple], damage: tuple | None, which: int) -> list[tuple]:
    """``items`` with field ``damage[0]`` of item ``which`` (modulo) set to ``damage[1]``."""
    if damage is None or not items:
        return items
    item = list(items[which % len(items)])
    item[damage[0]] = damage[1]
    return [*items[: which % len(items)], tuple(item), *items[which % len(items) + 1 :]]


def _with_junk(items: list, junk, at: int) -> list:
    """``items`` with the free text ``junk`` (unless None) inserted at position ``at``."""
    return items if junk is None else [*items[:at], junk, *items[at:]]


def _check_hypnogram(hyp) -> None:
    """A hypnogram that loaded holds known stage codes on a valid time axis."""
    if hyp is not None:
        assert hyp.n_epochs >= 0 and np.isin(hyp.stages, [int(s) for s in Stage]).all()
        assert hyp.epoch_length > 0 and np.isfinite(hyp.offset)


def _tal(onset: str | None, duration: str | None, text: str | None) -> bytes:
    """One EDF+ time-stamped annotation list entry (a None onset or text: written as "None")."""
    head = f"{onset}\x15{duration}" if duration is not None else onset
    return f"{head}\x14{text}\x14\x00".encode("latin-1", errors="replace")


def _annotation_edf(tals: bytes) -> bytes:
    """An annotations-only EDF+ (as Sleep-EDF hypnograms are): one record holding ``tals``."""
    tals = b"+0\x14\x14\x00" + tals
    tals += b"\x00" * (len(tals) % 2)
    fixed = (
        b"0       " + b"X X X X".ljust(80) + b"Startdate X X X X".ljust(80) + b"01.01.8500.00.00"
        + b"512".ljust(8) + b"EDF+C".ljust(44) + b"1".ljust(8) + b"0".ljust(8) + b"1".ljust(4)
    )  # fmt: skip
    signal = (
        b"EDF Annotations".ljust(16) + b" " * 80 + b" " * 8 + b"-32768".ljust(8) + b"32767".ljust(8)
        + b"-32768".ljust(8) + b"32767".ljust(8) + b" " * 80 + str(len(tals) // 2).encode().ljust(8)
        + b" " * 32
    )  # fmt: skip
    return fixed + signal + tals


# Valid Sleep-EDF style annotations (onset, duration, text), then one field of one of them damaged.
TALS = many(6, [f"+{30 * k}" for k in range(20)], [None, "30", "60", "90", "0"],
            ["Sleep stage " + w for w in ("W", "1", "2", "3", "4", "R", "?", "N1", "N2", "N3")]
            + ["Movement time", "Lights off", "Arousal"])  # fmt: skip
TAL_DAMAGE = st.one_of(st.none(), combinations(
    [0, 1, 2], ["+3000000", "+45", "+0.5", "-30", None, *ODD_NUMBERS, *("Sleep stage " + w for w in STAGE_WORDS)]
))  # fmt: skip


def test_edf_annotation_hypnogram_fuzz(workdir):
    path = workdir / "hyp.edf"
    outcomes = []

    @FUZZ
    @given(TALS, TAL_DAMAGE, st.integers(0, 5), JUNK, st.integers(0, 700), DURATIONS)
    def check(tals, damage, which, junk, at, duration):
        blob = bytearray(_annotation_edf(b"".join(_tal(*t) for t in _damage_one(tals, damage, which))))
        if junk is not None:
            blob[at : at + len(junk)] = junk.encode("utf-8")
        path.write_bytes(bytes(blob))
        _check_hypnogram(_loads_or_refuses(outcomes, read_hypnogram, path, duration=duration))

    check()
    _check_coverage(outcomes)


def test_dreams_hypnogram_fuzz(workdir):
    path = workdir / "Hypnogram_excerpt1.txt"
    outcomes = []
    headers = st.sampled_from(["[Hypnogram]"] * 4 + ["[hypnogram]", "", "[x]"])
    codes = many(12, ["5", "4", "3", "2", "1", "0", "-1", "-2"])

    @FUZZ
    @given(headers, codes, DAMAGE, st.integers(0, 12), DURATIONS)
    def check(header, lines, damage, at, duration):
        lines = _with_junk([code for code, in lines], damage, at)
        path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
        _check_hypnogram(_loads_or_refuses(outcomes, read_hypnogram, path, format="dreams", duration=duration))

    check()
    _check_coverage(outcomes)


def test_text_hypnogram_fuzz(workdir):
    path = workdir / "stages.csv"
    outcomes = []
    headers = st.sampled_from([None, "stage", "epoch,stage", "onset;Stage", "hypno\tx", "label", "x,y"])
    rows = many(12, STAGE_WORDS + ODD_NUMBERS, ["", "1,", "0;", "x\t", "2,30,", "a;b;"])

    @FUZZ
    @given(headers, rows, JUNK, st.integers(0, 12), SCHEMES, st.sampled_from([None, 30.0, 20.0]), DURATIONS)
    def check(header, rows, junk, at, scheme, epoch, duration):
        lines = _with_junk(([header] if header else []) + [first + cell for cell, first in rows], junk, at)
        path.write_text("\n".join(lines), encoding="utf-8")
        hyp = _loads_or_refuses(outcomes, read_hypnogram, path, format="text", scheme=scheme, epoch_length=epoch,
                                duration=duration)  # fmt: skip
        _check_hypnogram(hyp)

    check()
    _check_coverage(outcomes)


CONCEPTS = ["Wake|0", "Stage 1 sleep|1", "Stage 2 sleep|2", "Stage 3 sleep|3", "Stage 4 sleep|4", "REM sleep|5",
            "Movement|6", "Unscored|9"]  # fmt: skip
NSRR_EVENTS = many(6, ["Stages|Stages", "Stages|Stages", "Stages", "Respiratory|Respiratory"], CONCEPTS,
                   [f"{30 * k}.0" for k in range(12)], ["30.0", "60", "90.0", "0"], [False, True])  # fmt: skip
# One field of one event replaced by an odd value (None: the element left out).
NSRR_DAMAGE = st.one_of(st.none(), combinations(
    [0, 1, 2, 3], ["Stage 7|7", "|", "", "Stage 2 sleep|", "|2|", "Wake | 0", "X", None, "15", *ODD_NUMBERS]
))  # fmt: skip


def _xml(text: str) -> str:
    # XML 1.0 has no NUL or most control characters: a real exporter would not write them.
    text = "".join(c for c in text if c >= " " or c in "\t\n\r")
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _nsrr_event(kind, concept, start, duration, reverse: bool) -> str:
    """One ``<ScoredEvent>``; a field that is None is left out."""
    fields = (("EventType", kind), ("EventConcept", concept), ("Start", start), ("Duration", duration))
    parts = [f"<{tag}>{_xml(value)}</{tag}>" for tag, value in fields if value is not None]
    return "<ScoredEvent>" + "".join(parts[::-1] if reverse else parts) + "</ScoredEvent>"  # order is free in XML


def test_nsrr_xml_hypnogram_fuzz(workdir):
    path = workdir / "nsrr.xml"
    outcomes = []
    cuts = st.one_of(st.none(), st.none(), st.none(), st.integers(0, 400))

    @FUZZ
    @given(NSRR_EVENTS, NSRR_DAMAGE, st.integers(0, 5), cuts, JUNK, st.integers(0, 400), DURATIONS)
    def check(events, damage, which, cut, junk, at, duration):
        events = "".join(_nsrr_event(*e) for e in _damage_one(events, damage, which))
        text = f"<PSGAnnotation><ScoredEvents>{events}</ScoredEvents></PSGAnnotation>"
        text = text if cut is None else text[:cut]
        text = text if junk is None else text[:at] + junk + text[at:]
        path.write_text(text, encoding="utf-8")
        _check_hypnogram(_loads_or_refuses(outcomes, read_hypnogram, path, format="xml", duration=duration))

    check()
    _check_coverage(outcomes)
