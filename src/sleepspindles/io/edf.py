"""Load EDF, EDF+ and BDF polysomnography files into a :class:`~sleepspindles.recording.Recording`.

The signals are read with mne (``read_raw_edf`` / ``read_raw_bdf``, only the channels needed);
this module first reads the fixed-layout header itself to catch what mne lets through (a
truncated file is read silently shorter, an EDF+D file as if it were continuous, ``"UV"`` is
taken for volts) and to know each channel's own sampling rate.
"""

from __future__ import annotations

import datetime as _dt
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..channels import apply_plan, plan_channels
from ..errors import file_error, param_error
from ..hypnogram import Hypnogram
from ..recording import Recording, check_signal
from .hypnogram import align_hypnogram, read_hypnogram, stages_from_annotations

__all__ = ["load_recording", "EdfHeader", "read_edf_header"]

logger = logging.getLogger(__name__)

_EDF_MAGIC = b"0       "
_BDF_MAGIC = b"\xffBIOSEMI"
_ANNOTATION_LABELS = ("EDF Annotations", "BDF Annotations")
_TAL_ONSET = re.compile(rb"([+-]\d+(?:\.\d*)?)\x14\x14")
# Physical units -> factor to microvolts (case-insensitive: DREAMS writes "UV" and "MV").
_TO_MICROVOLT = {"uv": 1.0, "\u00b5v": 1.0, "\u03bcv": 1.0, "\x83\xcav": 1.0, "nv": 1e-3,
                 "mv": 1e3, "v": 1e6}  # fmt: skip


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
        Number of complete data records in the file.
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
    """

    bdf: bool
    variant: str
    n_records: int
    record_duration: float
    labels: tuple[str, ...]
    units: tuple[str, ...]
    samples_per_record: tuple[int, ...]
    header_bytes: int

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


def _number(raw: bytes, what: str, path: Path, kind=int):
    text = raw.decode("latin-1").strip()
    try:
        return kind(text)
    except ValueError:
        raise file_error(path, f"not a valid EDF/BDF file: header field '{what}' is {text!r}") from None


def read_edf_header(path: str | Path) -> EdfHeader:
    """Read and check the header of an EDF/EDF+/BDF file.

    Raises
    ------
    DataError
        Missing file, not an EDF/BDF file, damaged header, or a file shorter than its header
        declares (truncated).
    """
    path = Path(path)
    if not path.is_file():
        raise file_error(path, "file not found")
    size = path.stat().st_size
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
            raise file_error(path, f"not a valid EDF/BDF file: it declares {n_signals} signals")
        block = fh.read(256 * n_signals)
    if len(block) < 256 * n_signals:
        raise file_error(path, "truncated EDF/BDF file: the header itself is incomplete")

    def column(offset: int, width: int) -> list[bytes]:
        start = offset * n_signals
        return [block[start + i * width : start + (i + 1) * width] for i in range(n_signals)]

    labels = tuple(b.strip().decode("latin-1") for b in column(0, 16))
    units = tuple(b.strip().decode("latin-1") for b in column(16 + 80, 8))
    spr = tuple(_number(b, "samples per record", path) for b in column(16 + 80 + 8 * 5 + 80, 8))
    header = EdfHeader(
        bdf=fixed[:8] == _BDF_MAGIC,
        variant=fixed[192:236].decode("latin-1").strip()[:5],
        n_records=_number(fixed[236:244], "number of data records", path),
        record_duration=_number(fixed[244:252], "duration of a data record", path, float),
        labels=labels,
        units=units,
        samples_per_record=spr,
        header_bytes=_number(fixed[184:192], "number of header bytes", path),
    )
    if header.record_bytes <= 0 or header.header_bytes != 256 * (n_signals + 1):
        raise file_error(path, "not a valid EDF/BDF file: inconsistent header sizes")
    complete = (size - header.header_bytes) // header.record_bytes
    if header.n_records < 0:  # -1: still being recorded when the header was written
        return replace(header, n_records=complete)
    if complete < header.n_records:
        raise file_error(
            path,
            f"truncated EDF/BDF file: the header declares {header.n_records} data records "
            f"({header.header_bytes + header.n_records * header.record_bytes} bytes) but the file "
            f"has {size} bytes ({complete} complete records)",
        )
    return header


def _record_onsets(path: Path, header: EdfHeader) -> np.ndarray:
    """Start time of each data record from the time-keeping annotation (EDF+ only)."""
    index = next((i for i, lab in enumerate(header.labels) if lab in _ANNOTATION_LABELS), None)
    if index is None:
        raise file_error(path, f"{header.variant} file without an annotation signal (no record times)")
    width = 3 if header.bdf else 2
    start = sum(header.samples_per_record[:index]) * width
    stop = start + header.samples_per_record[index] * width
    records = np.memmap(
        path, np.uint8, "r", header.header_bytes, (header.n_records, header.record_bytes)
    )
    onsets = np.empty(header.n_records)
    for r in range(header.n_records):
        match = _TAL_ONSET.match(bytes(records[r, start:stop]))
        if match is None:
            raise file_error(path, f"EDF+ data record {r} has no time-keeping annotation")
        onsets[r] = float(match.group(1))
    return onsets


@dataclass(frozen=True)
class _Segment:
    """The data records to keep and the time (s from the file start) the first one begins."""

    first: int
    stop: int
    onset: float


def _continuous_segment(path: Path, header: EdfHeader, longest_segment: bool) -> _Segment:
    """All records for continuous files; the longest gap-free run for EDF+D when allowed."""
    if not header.discontinuous:
        return _Segment(0, header.n_records, 0.0)
    onsets = _record_onsets(path, header)
    gaps = np.flatnonzero(np.abs(np.diff(onsets) - header.record_duration) > 1e-6) + 1
    bounds = np.concatenate([[0], gaps, [header.n_records]])
    if not longest_segment:
        raise file_error(
            path,
            f"{header.variant} (discontinuous) file with {len(bounds) - 1} continuous segments; "
            "pass longest_segment=True to analyse the longest one only",
        )
    k = int(np.argmax(np.diff(bounds)))
    first, stop = int(bounds[k]), int(bounds[k + 1])
    logger.info(
        "%s: EDF+D, keeping the longest continuous segment (records %d-%d of %d, from %g s)",
        path, first, stop, header.n_records, onsets[first],
    )  # fmt: skip
    return _Segment(first, stop, float(onsets[first]))


def _mne_scale(unit: str) -> float:
    """The factor mne applied to reach volts (mirrors mne.io.edf: only exact "uV"/"mV" spellings)."""
    if unit in ("\u03bcV", "\u00b5V", "\x83\xcaV", "uV"):
        return 1e-6
    return 1e-3 if unit == "mV" else 1.0


def _to_microvolts(unit: str, label: str, path: Path) -> float:
    """Factor from mne's output for a channel of physical dimension ``unit`` to microvolts."""
    key = unit.strip().lower()
    if key == "":
        logger.warning("%s: channel %r has no physical unit; assuming microvolts", path, label)
        factor = 1.0
    elif key in _TO_MICROVOLT:
        factor = _TO_MICROVOLT[key]
    else:
        raise file_error(path, f"channel {label!r} has physical unit {unit!r}, not a voltage")
    return factor / _mne_scale(unit)


def _read_signals(path: Path, header: EdfHeader, rows: list[int]):
    """Read the signals at file indices ``rows`` with mne (preloaded) and return the Raw."""
    import mne

    reader = mne.io.read_raw_bdf if header.bdf else mne.io.read_raw_edf
    include = sorted({header.labels[i] for i in rows})
    try:
        raw = reader(path, include=include, preload=True, verbose="error")
    except Exception as exc:  # mne raises bare ValueError/IndexError on damaged files
        raise file_error(path, f"cannot read the signals ({type(exc).__name__}: {exc})") from exc
    # mne returns, in file order, every non-annotation signal whose label is included.
    loaded = [
        i for i, lab in enumerate(header.labels) if lab in include and lab not in _ANNOTATION_LABELS
    ]
    if len(loaded) != len(raw.ch_names):
        raise file_error(path, f"mne read {len(raw.ch_names)} signals where {len(loaded)} were expected")
    return raw, loaded


@dataclass(frozen=True)
class _Annotations:
    """EDF+ annotations with onsets in seconds from the start of the kept segment."""

    onset: np.ndarray
    duration: np.ndarray
    description: np.ndarray


def _annotations(raw, path: Path, header: EdfHeader, segment: _Segment) -> _Annotations:
    """The file's annotations with onsets relative to the kept segment's start."""
    import mne

    # mne's Raw puts EDF+D records end to end and drops annotations past that shortened
    # time axis; read_annotations keeps the file's own (gap-aware) onsets.
    ann = mne.read_annotations(path) if header.discontinuous else raw.annotations
    return _Annotations(
        np.asarray(ann.onset, dtype=float) - segment.onset,
        np.asarray(ann.duration, dtype=float),
        np.array([str(d) for d in ann.description], dtype=object),
    )


def _stage_annotations(
    ann: _Annotations, duration: float, path: Path, epoch_length: float | None
) -> Hypnogram | None:
    """Stages scored in the file's own EDF+ annotations, aligned to the kept signal."""
    inside = (ann.onset >= -1e-6) & (ann.onset < duration)
    hyp = stages_from_annotations(
        np.maximum(ann.onset[inside], 0.0), ann.duration[inside], ann.description[inside],
        epoch_length=epoch_length, path=path,
    )  # fmt: skip
    if hyp is None:
        return None
    logger.info("%s: using the %d stage epochs annotated inside the file", path, hyp.n_epochs)
    return align_hypnogram(hyp, duration, path)


def _start_time(raw, segment: _Segment) -> _dt.datetime | None:
    """Wall-clock start of the kept data (the EDF clock time, timezone-naive)."""
    meas = raw.info["meas_date"]
    if meas is None:
        return None
    return meas.replace(tzinfo=None) + _dt.timedelta(seconds=segment.onset)


@dataclass(frozen=True)
class _Signals:
    """The planned channels in microvolts at a common rate, with the file's annotations."""

    data: np.ndarray
    sf: float
    start_time: _dt.datetime | None
    annotations: _Annotations


def _load_signals(path: Path, header: EdfHeader, segment: _Segment, plan, resample) -> _Signals:
    """Read the signals the plan needs, crop, resample, convert to microvolts, derive channels."""
    rows = sorted({i for d in plan for i, _ in d.terms})
    raw, loaded = _read_signals(path, header, rows)
    annotations = _annotations(raw, path, header, segment)
    if header.discontinuous:
        rd = header.record_duration
        raw.crop(segment.first * rd, segment.stop * rd, include_tmax=False)
    eeg_rows = {i for d in plan if d.kind == "eeg" for i, _ in d.terms}
    target = float(resample) if resample is not None else max(header.rate(i) for i in eeg_rows)
    if abs(raw.info["sfreq"] - target) > 1e-9:
        # mne has already brought slower channels up to the fastest one read (FFT resampling).
        logger.info("%s: resampling from %g Hz to %g Hz", path, raw.info["sfreq"], target)
        raw.resample(target, verbose="error")
    scales = np.array([_to_microvolts(header.units[i], header.labels[i], path) for i in rows])
    data = raw.get_data(picks=[loaded.index(i) for i in rows]) * scales[:, np.newaxis]
    return _Signals(apply_plan(data, rows, plan), target, _start_time(raw, segment), annotations)


def load_recording(
    path: str | Path,
    hypnogram: str | Path | Hypnogram | None = None,
    channels=None,
    *,
    reference: str = "as-recorded",
    resample: float | None = None,
    longest_segment: bool = False,
    hypnogram_format: str | None = None,
    epoch_length: float | None = None,
) -> Recording:
    """Load an EDF, EDF+ or BDF polysomnography file.

    Parameters
    ----------
    path : str or Path
        The signal file.
    hypnogram : str, Path or Hypnogram, optional
        A hypnogram file (read with :func:`~sleepspindles.io.hypnogram.read_hypnogram`) or
        object, aligned to the signal. Default: the file's own EDF+ stage annotations
        (``Sleep stage N2``, ``Sleep stage 2``...) when it has any, else no hypnogram.
    channels : sequence of str, optional
        EEG channels to keep, by canonical name (``"C3"``) or exact label (``"C3-M2"``);
        default all EEG channels. EOG and EMG channels are always kept for sleep staging.
    reference : {"as-recorded", "linked-mastoid", "average"}
        See :func:`~sleepspindles.channels.plan_channels`. ``Recording.references`` records
        the result per channel.
    resample : float, optional
        Common sampling rate in Hz. Default: the highest rate among the kept EEG channels.
        Channels at other rates are resampled with mne (FFT-based, anti-aliased).
    longest_segment : bool
        EDF+D (discontinuous) files are refused unless this is true; then only their longest
        continuous run of data records is kept.
    hypnogram_format : str, optional
        Format of the hypnogram file (default: detected).
    epoch_length : float, optional
        Epoch length of the hypnogram in seconds (default: the format's own).

    Returns
    -------
    Recording
        Signals in microvolts, converted from each channel's physical dimension in the header
        (uV, mV, V or nV in any letter case; a blank dimension is taken as microvolts, with a
        logged warning, and the plausibility check catches a wrong guess).

    Raises
    ------
    DataError
        Missing, non-EDF, truncated or discontinuous file; absent channels (the message lists
        those present); unusable signals (all NaN, flat, volts labelled as microvolts);
        a hypnogram whose length does not match the signal.
    ConfigError
        Invalid ``reference`` or ``resample``.
    """
    path = Path(path)
    if resample is not None and not (np.isfinite(resample) and resample > 0):
        raise param_error("resample", "a positive rate in Hz or None", resample)
    header = read_edf_header(path)
    segment = _continuous_segment(path, header, longest_segment)
    signal_labels = [lab if lab not in _ANNOTATION_LABELS else "" for lab in header.labels]
    plan = plan_channels(signal_labels, channels, reference, source=str(path))
    signals = _load_signals(path, header, segment, plan, resample)
    eeg = [k for k, d in enumerate(plan) if d.kind == "eeg"]
    check_signal(signals.data[eeg], [plan[k].name for k in eeg], str(path))
    recording = Recording(
        data=signals.data,
        sf=signals.sf,
        channels=tuple(d.name for d in plan),
        original_names=tuple(d.label for d in plan),
        references=tuple(d.reference for d in plan),
        kinds=tuple(d.kind for d in plan),
        start_time=signals.start_time,
        source=str(path),
    )
    if hypnogram is None:
        hyp = _stage_annotations(signals.annotations, recording.duration, path, epoch_length)
    elif isinstance(hypnogram, Hypnogram):
        hyp = align_hypnogram(hypnogram, recording.duration, hypnogram.path)
    else:
        hyp = read_hypnogram(
            hypnogram, format=hypnogram_format, epoch_length=epoch_length, duration=recording.duration
        )
    return recording.with_hypnogram(hyp)
