"""The fixed-layout header of EDF, EDF+ and BDF files, and the continuous segment of EDF+D files.

:func:`read_edf_header` reads and checks the header itself, before mne reads any signal, to
catch what mne lets through: a truncated file (mne reads it silently shorter), a zero record
duration (a ZeroDivisionError in mne), non-numeric or non-finite fields. For EDF+D/BDF+D files
the time-keeping annotations of the data records give the continuous segments, of which the
loader keeps the longest when asked to.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import logging
import math
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import DataError, file_error

__all__ = ["EdfHeader", "continuous_segments", "read_edf_header", "read_tal_annotations"]

logger = logging.getLogger(__name__)

_EDF_MAGIC = b"0       "
_BDF_MAGIC = b"\xffBIOSEMI"
ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
_TAL_ONSET = re.compile(rb"([+-]\d+(?:\.\d*)?)\x14\x14")


@dataclass(frozen=True)
class EdfHeader:
    """The parts of an EDF/BDF header the loader needs.

    Parameters
    ----------
    bdf : bool
        24-bit BDF rather than 16-bit EDF.
    variant : str
        The reserved field: ``"EDF+C"``, ``"EDF+D"``, ``"BDF+C"``... or ``""`` for plain EDF.
    n_records : int
        Number of data records: the header's count (records after it are ignored), or the
        complete records in the file when the header says -1 (recording not closed).
    record_duration : float
        Seconds per data record.
    labels : tuple of str
        Signal labels (latin-1, stripped), in file order, annotation signals included.
    units : tuple of str
        Physical dimension of each signal.
    samples_per_record : tuple of int
        Samples of each signal in one data record.
    header_bytes : int
        Size of the header.
    physical_min, physical_max : tuple of float
        Per signal, the physical values (in ``units``) that the digital extremes stand for.
    digital_min, digital_max : tuple of float
        Per signal, the extreme integer values; a sample ``d`` means
        ``physical_min + (d - digital_min) * (physical_max - physical_min) / (digital_max - digital_min)``.
    start : datetime.datetime or None
        Start of the recording (``dd.mm.yy`` and ``hh.mm.ss``; years 85-99 are 19xx, the others
        20xx, as the EDF specification says; EDF+ gives the full year in the recording field).
        None when the fields do not hold a date (anonymised files).
    """

    bdf: bool
    variant: str
    n_records: int
    record_duration: float
    labels: tuple[str, ...]
    units: tuple[str, ...]
    samples_per_record: tuple[int, ...]
    header_bytes: int
    physical_min: tuple[float, ...]
    physical_max: tuple[float, ...]
    digital_min: tuple[float, ...]
    digital_max: tuple[float, ...]
    start: _dt.datetime | None = None

    @property
    def discontinuous(self) -> bool:
        """True for EDF+D / BDF+D files."""
        return self.variant.endswith("+D")

    @property
    def record_bytes(self) -> int:
        """Bytes per data record."""
        return sum(self.samples_per_record) * (3 if self.bdf else 2)

    def rate(self, index: int) -> float:
        """Sampling rate of signal ``index`` in Hz."""
        return self.samples_per_record[index] / self.record_duration

    def is_data(self, index: int) -> bool:
        """True for a signal holding samples, False for an EDF+/BDF+ annotation signal."""
        return self.labels[index] not in ANNOTATION_LABELS


def _field_text(raw: bytes) -> str:
    # Some writers pad with NUL rather than spaces; mne stops at the first NUL too.
    return raw.decode("latin-1").split("\x00")[0].strip()


def _number(raw: bytes, what: str, path: Path, kind: type = int) -> int | float:
    """A numeric header field; a DataError naming the field when it is not a (finite) number."""
    text = _field_text(raw)
    try:
        value = kind(text.replace(",", ".") if kind is float else text)  # "-3276,8": a decimal comma
    except ValueError:
        value = None
    if value is None or (kind is float and not math.isfinite(value)):
        raise file_error(path, f"not a valid EDF/BDF file: header field '{what}' is {text!r}")
    return value


def _invalid(path: Path, problem: str) -> DataError:
    return file_error(path, f"not a valid EDF/BDF file: {problem}")


def _read_header_blocks(path: Path) -> tuple[bytes, bytes, int]:
    """The fixed 256-byte header, the per-signal block and the number of signals."""
    with open(path, "rb") as fh:
        fixed = fh.read(256)
        if fixed[:8] in (_EDF_MAGIC, _BDF_MAGIC) and len(fixed) < 256:
            raise file_error(path, "truncated EDF/BDF file: the header itself is incomplete")
        if fixed[:8] not in (_EDF_MAGIC, _BDF_MAGIC):
            raise file_error(
                path,
                f"not an EDF/BDF file (it starts with {fixed[:8]!r}, "
                "not b'0       ' or b'\\xffBIOSEMI')",
            )
        n_signals = _number(fixed[252:256], "number of signals", path)
        if n_signals <= 0:
            raise _invalid(path, f"it declares {n_signals} signals")
        block = fh.read(256 * n_signals)
    if len(block) < 256 * n_signals:
        raise file_error(path, "truncated EDF/BDF file: the header itself is incomplete")
    return fixed, block, n_signals


def _signal_fields(block: bytes, n_signals: int, path: Path) -> dict[str, tuple]:
    """The per-signal header columns the loader uses, parsed and checked to be numbers."""

    def column(offset: int, width: int) -> list[bytes]:
        start = offset * n_signals
        return [block[start + i * width : start + (i + 1) * width] for i in range(n_signals)]

    labels = tuple(map(_field_text, column(0, 16)))
    fields = {"labels": labels, "units": tuple(map(_field_text, column(96, 8)))}
    # Offsets of each column in units of n_signals bytes (EDF specification).
    for name, offset, what in (("physical_min", 104, "physical minimum"),
                               ("physical_max", 112, "physical maximum"),
                               ("digital_min", 120, "digital minimum"),
                               ("digital_max", 128, "digital maximum")):  # fmt: skip
        fields[name] = tuple(
            _number(raw, f"{what} of signal {k + 1} ({labels[k]!r})", path, float)
            for k, raw in enumerate(column(offset, 8))
        )
    fields["samples_per_record"] = tuple(
        _number(raw, f"samples per record of signal {k + 1} ({labels[k]!r})", path)
        for k, raw in enumerate(column(216, 8))
    )
    return fields


_EDFPLUS_YEAR = re.compile(r"Startdate\s+\d{2}-[A-Z]{3}-(\d{4})")


def _start(fixed: bytes) -> _dt.datetime | None:
    """The recording start of the fixed header; None when the fields are not a valid date."""
    date, clock = fixed[168:176].decode("latin-1"), fixed[176:184].decode("latin-1")
    try:
        day, month, year = (int(v) for v in re.findall(r"\d+", date)[:3])
        hour, minute, second = (int(v) for v in re.findall(r"\d+", clock)[:3])
        full = _EDFPLUS_YEAR.search(fixed[88:168].decode("latin-1"))
        year = int(full.group(1)) if full else year + (1900 if year >= 85 else 2000)
        return _dt.datetime(year, month, day, hour, minute, second)
    except ValueError:  # fewer than three numbers, or not a calendar date
        return None


def _check_record_layout(header: EdfHeader, path: Path) -> None:
    """Refuse record durations, record counts and sample counts that no reader can use."""
    for i, n in enumerate(header.samples_per_record):
        if n < 0 or (n == 0 and header.is_data(i)):
            raise _invalid(path, f"signal {i + 1} ({header.labels[i]!r}) has {n} samples per data record")
    # Annotation-only files (Sleep-EDF hypnograms) may declare a 0 s record.
    if any(map(header.is_data, range(len(header.labels)))) and not header.record_duration > 0:
        raise _invalid(path, f"data record duration is {header.record_duration:g} s")
    if header.n_records == 0 or header.n_records < -1:
        raise _invalid(path, f"it declares {header.n_records} data records")
    if header.record_bytes <= 0 or header.header_bytes != 256 * (len(header.labels) + 1):
        raise _invalid(path, "inconsistent header sizes")


def read_edf_header(path: str | Path) -> EdfHeader:
    """Read and check the header of an EDF/EDF+/BDF file.

    Raises
    ------
    DataError
        Missing file, not an EDF/BDF file, damaged header (a non-numeric or non-finite field,
        a data record duration that is not positive, no data records, a data signal without
        samples), or a file shorter than its header declares (truncated).
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "file not found")
    size = path.stat().st_size
    fixed, block, n_signals = _read_header_blocks(path)
    header = EdfHeader(
        bdf=fixed[:8] == _BDF_MAGIC,
        variant=fixed[192:236].decode("latin-1").strip()[:5],
        n_records=_number(fixed[236:244], "number of data records", path),
        record_duration=_number(fixed[244:252], "duration of a data record", path, float),
        header_bytes=_number(fixed[184:192], "number of header bytes", path),
        start=_start(fixed),
        **_signal_fields(block, n_signals, path),
    )
    _check_record_layout(header, path)
    complete = (size - header.header_bytes) // header.record_bytes
    if header.n_records < 0:  # -1: still being recorded when the header was written
        if complete <= 0:
            raise file_error(path, "truncated EDF/BDF file: not one complete data record")
        return replace(header, n_records=complete)
    if complete < header.n_records:
        raise file_error(
            path,
            f"truncated EDF/BDF file: the header declares {header.n_records} data records "
            f"({header.header_bytes + header.n_records * header.record_bytes} bytes) but the file "
            f"has {size} bytes ({complete} complete records)",
        )
    if complete > header.n_records:
        # mne would read them (it counts records from the file size); the header is the authority.
        logger.warning(
            "%s: %d complete data records follow the %d the header declares; they are ignored",
            path, complete - header.n_records, header.n_records,
        )  # fmt: skip
    return header


def _annotation_records(path: Path, header: EdfHeader, stop: int | None = None) -> list[bytes]:
    """The bytes of the (first) annotation signal in each data record (EDF+/BDF+ only), up to record ``stop``."""
    index = next((i for i, lab in enumerate(header.labels) if lab in ANNOTATION_LABELS), None)
    if index is None:
        raise file_error(path, f"{header.variant} file without an annotation signal (no record times)")
    width = 3 if header.bdf else 2
    start = sum(header.samples_per_record[:index]) * width
    end = start + header.samples_per_record[index] * width
    n = header.n_records if stop is None else min(stop, header.n_records)
    records = np.memmap(path, np.uint8, "r", header.header_bytes, (n, header.record_bytes))
    try:  # one strided copy, then plain bytes slices (a memmap slice per record costs 10x more)
        column = records[:, start:end].tobytes()
    finally:
        del records  # unmapped at once: a night's records need not stay in memory
    return [column[r * (end - start) : (r + 1) * (end - start)] for r in range(n)]


def first_record_onset(path: Path, header: EdfHeader) -> float:
    """Seconds from the header's start time to the first data record (0 for plain EDF/BDF).

    EDF+ puts the first record at its time-keeping annotation (``+0.X``: a fraction of a second
    after the header's start, which counts whole seconds; some writers put whole minutes there)
    and counts every annotation's onset from the header's start. A first record without a
    time-keeping annotation starts at 0, as mne takes it.
    """
    if all(map(header.is_data, range(len(header.labels)))):
        return 0.0
    match = _TAL_ONSET.match(_annotation_records(path, header, 1)[0])
    return float(match.group(1)) if match else 0.0


def _record_onsets(path: Path, header: EdfHeader) -> np.ndarray:
    """Start time of each data record from the time-keeping annotation (EDF+ only)."""
    onsets = np.empty(header.n_records)
    for r, raw in enumerate(_annotation_records(path, header)):
        match = _TAL_ONSET.match(raw)
        if match is None:
            raise file_error(path, f"EDF+ data record {r} has no time-keeping annotation")
        onsets[r] = float(match.group(1))
    return onsets


_TAL = re.compile(rb"([+-]\d+(?:\.\d*)?)(?:\x15(\d+(?:\.\d*)?))?\x14(.*?)\x14\x00", re.DOTALL)


def read_tal_annotations(path: str | Path, header: EdfHeader) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Onsets (s from the file start), durations (s, 0 when none) and texts of an EDF+ file's annotations.

    Time-keeping annotations (empty texts) are left out; texts are latin-1 decoded (the EDF+
    specification allows UTF-8, which latin-1 never refuses). A file without an annotation
    signal (plain EDF/BDF) has none.
    """
    path = Path(path)
    if all(map(header.is_data, range(len(header.labels)))):
        return np.zeros(0), np.zeros(0), []
    onsets, durations, texts = [], [], []
    for raw in _annotation_records(path, header):
        for match in _TAL.finditer(raw):
            for text in match.group(3).split(b"\x14"):
                if text:
                    onsets.append(float(match.group(1)))
                    durations.append(float(match.group(2) or 0.0))
                    texts.append(text.decode("latin-1"))
    return np.array(onsets, dtype=float), np.array(durations, dtype=float), texts


@dataclass(frozen=True)
class Segment:
    """The data records to keep and the time (s from the file start) the first one begins."""

    first: int
    stop: int
    onset: float


def continuous_segments(path: Path, header: EdfHeader) -> list[Segment]:
    """The gap-free runs of data records of a file, in file order.

    One segment of every record for a continuous file (EDF, EDF+C, BDF), starting at the first
    record's time-keeping onset (0 for plain EDF/BDF, see :func:`first_record_onset`). For
    EDF+D/BDF+D, from the records' time-keeping annotations: a record that does not begin one
    record duration after the previous one begins a new segment, whose ``onset`` is in seconds
    from the file's start (its header start time).
    """
    if not header.discontinuous:
        return [Segment(0, header.n_records, first_record_onset(path, header))]
    onsets = _record_onsets(path, header)
    gaps = np.flatnonzero(np.abs(np.diff(onsets) - header.record_duration) > 1e-6) + 1
    bounds = [0, *gaps.tolist(), header.n_records]
    return [Segment(first, stop, float(onsets[first])) for first, stop in itertools.pairwise(bounds)]
