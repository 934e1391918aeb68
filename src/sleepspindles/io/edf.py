"""Load EDF, EDF+ and BDF polysomnography files into a :class:`~sleepspindles.recording.Recording`.

The signals are read with mne (``read_raw_edf`` / ``read_raw_bdf``, only the channels needed);
the fixed-layout header is first read and checked by :mod:`sleepspindles.io.edf_header` to catch
what mne lets through (a truncated file is read silently shorter, an EDF+D file as if it were
continuous, a zero record duration a ZeroDivisionError) and to know each channel's own sampling
rate; this module checks the scale fields (``"UV"`` is taken for volts by mne, a zero digital
range gets a meaningless scale). A channel that cannot be measured is left out of the recording
with its reason; only a file without one usable EEG channel is refused.
"""
from __future__ import annotations

import datetime as _dt
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import file_error, param_error
from ..hypnogram import Hypnogram
from ..recording import DroppedChannel, Recording, channel_problems, describe_problems
from .channels import Derivation, apply_plan, normalise_channel, plan_channels
from .edf_header import (ANNOTATION_LABELS, EdfHeader, Segment, continuous_segments, first_record_onset,
                         read_edf_header, read_tal_annotations)
from .edf_source import EdfSource, microvolts_per_unit
from .hypnogram import align_hypnogram, read_hypnogram, reader_error, stages_from_annotations
from .stage_codes import SCHEMES

__all__ = ["load_recording"]

logger = logging.getLogger(__name__)

def _mne_scale(unit: str) -> float:
    """The factor mne applied to reach volts (mirrors mne.io.edf: only exact "uV"/"mV" spellings)."""
    if unit in ("\u03bcV", "\u00b5V", "\x83\xcaV", "uV"):
        return 1e-6
    return 1e-3 if unit == "mV" else 1.0


def _scale_problem(header: EdfHeader, i: int) -> str | None:
    """Why signal ``i`` cannot be scaled to microvolts from its header fields alone, or None."""
    unit, pmin, pmax = header.units[i], header.physical_min[i], header.physical_max[i]
    dmin, dmax = header.digital_min[i], header.digital_max[i]
    if microvolts_per_unit(unit) is None:
        return f"physical dimension {unit!r} in the header is not a voltage"
    if dmin == dmax:
        # mne would then use a gain of 1 physical unit per digital step: amplitudes ~1e4 uV.
        return f"digital minimum equals digital maximum ({dmin:g}) in the header: the scale is undefined"
    if pmin == pmax:
        return (
            f"physical minimum equals physical maximum ({f'{pmin:g} {unit}'.strip()}) in the header: "
            "a dead channel, every value is that constant"
        )
    if not math.isfinite((pmax - pmin) / (dmax - dmin)):
        return f"physical range {pmin:g}..{pmax:g} {unit} in the header overflows".replace("  ", " ")
    return None


def _scale_text(header: EdfHeader, i: int) -> str:
    """How signal ``i`` was scaled to microvolts, quoted where its amplitude is implausible."""
    unit = header.units[i]
    shown = repr(unit) if unit.strip() else "'' (blank, taken as uV)"
    return (
        f"header physical dimension {shown}, scaled x{microvolts_per_unit(unit):g} to uV; physical range "
        f"{header.physical_min[i]:g}..{header.physical_max[i]:g}, digital "
        f"{header.digital_min[i]:g}..{header.digital_max[i]:g}"
    )


def _header_problems(header: EdfHeader, plan: Sequence[Derivation], path: Path) -> dict[int, str]:
    """File index -> why, for the planned signals that the header alone shows to be unusable."""
    problems = {}
    for i in sorted({i for d in plan for i, _ in d.terms}):
        problem = _scale_problem(header, i)
        if problem is not None:
            problems[i] = problem
        elif not header.units[i].strip():
            logger.warning("%s: channel %r has no physical unit; assuming microvolts", path, header.labels[i])
    return problems


def _needing(plan: Sequence[Derivation], bad: dict[int, str], labels: Sequence[str]) -> dict[int, str]:
    """Plan position -> why, for the derivations using a signal in ``bad`` (file index -> why)."""
    reasons = {}
    for k, d in enumerate(plan):
        main = d.main
        used = sorted((i for i, _ in d.terms if i in bad), key=lambda i: i != main)  # main first
        if used:
            role = "" if used[0] == main else f"needed for the {d.reference} reference; "
            reasons[k] = f"signal {labels[used[0]]!r}: {role}{bad[used[0]]}"
    return reasons


_Dropped = list[tuple[Derivation, str]]
# Recordings up to this many bytes of float64 are loaded into memory; larger ones are streamed.
_PRELOAD_BYTES = 512 * 2**20


def _drop(
    plan: Sequence[Derivation], reasons: dict[int, str], path: Path
) -> tuple[list[Derivation], _Dropped]:
    """Split ``plan`` into the derivations kept and those dropped (logged), with the reasons."""
    dropped = [(d, reasons[k]) for k, d in enumerate(plan) if k in reasons]
    for d, reason in dropped:
        logger.warning("%s: channel %s (%r) dropped: %s", path, d.name, d.label, reason)
    return [d for k, d in enumerate(plan) if k not in reasons], dropped


def _require_eeg(plan: Sequence[Derivation], dropped: _Dropped, path: Path) -> None:
    """Refuse the file when no requested EEG channel is usable, listing each with its reason."""
    if not any(d.kind == "eeg" for d in plan):
        reasons = {d.name: reason for d, reason in dropped if d.kind == "eeg"}
        raise file_error(path, "no usable EEG channel: " + describe_problems(reasons))


def _read_signals(path: Path, header: EdfHeader, rows: list[int]):
    """Read the signals at file indices ``rows`` with mne (preloaded) and return the Raw."""
    import mne

    reader = mne.io.read_raw_bdf if header.bdf else mne.io.read_raw_edf
    include = sorted({header.labels[i] for i in rows})
    try:
        raw = reader(path, include=include, preload=True, verbose="error")
    except Exception as exc:  # mne raises bare ValueError/IndexError on damaged files
        raise reader_error(path, "the signals", exc) from exc
    # mne returns, in file order, every non-annotation signal whose label is included.
    loaded = [
        i for i, lab in enumerate(header.labels) if lab in include and lab not in ANNOTATION_LABELS
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


def _annotations(raw, path: Path, header: EdfHeader, segment: Segment) -> _Annotations:
    """The file's annotations with onsets relative to the kept segment's start."""
    import mne

    # mne's Raw puts EDF+D records end to end and drops annotations past that shortened
    # time axis; read_annotations keeps the file's own (gap-aware) onsets.
    try:
        ann = mne.read_annotations(path) if header.discontinuous else raw.annotations
    except Exception as exc:  # mne raises assorted errors on damaged annotation signals
        raise reader_error(path, "the EDF+ annotations", exc) from exc
    # mne counts onsets from the first data record; segments count from the header's start time.
    return _Annotations(
        np.asarray(ann.onset, dtype=float) + first_record_onset(path, header) - segment.onset,
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
        epoch_length=epoch_length, path=path, end=duration,
    )  # fmt: skip
    if hyp is None:
        return None
    logger.info("%s: using the %d stage epochs annotated inside the file", path, hyp.n_epochs)
    return align_hypnogram(hyp, duration, path)


def _start_time(meas: _dt.datetime | None, segment: Segment, path: Path) -> _dt.datetime | None:
    """Wall-clock start of the kept data (the EDF clock time, timezone-naive)."""
    if meas is None:
        return None
    try:
        return meas.replace(tzinfo=None) + _dt.timedelta(seconds=segment.onset)
    except OverflowError:
        raise file_error(path, f"data record onset {segment.onset:g} s is beyond the calendar") from None


@dataclass(frozen=True)
class _Signals:
    """The usable planned channels in microvolts at a common rate, with the file's annotations."""

    data: object  # numpy.ndarray, or an EdfSource read block by block
    sf: float
    start_time: _dt.datetime | None
    annotations: _Annotations
    plan: tuple[Derivation, ...]
    dropped: tuple[tuple[Derivation, str], ...]


def _microvolts(raw, loaded: list[int], rows: list[int], header: EdfHeader) -> np.ndarray:
    """The signals at file indices ``rows`` from mne's Raw, in microvolts."""
    scales = [microvolts_per_unit(header.units[i]) / _mne_scale(header.units[i]) for i in rows]
    return raw.get_data(picks=[loaded.index(i) for i in rows]) * np.array(scales)[:, np.newaxis]


def _reference_problems(plan: Sequence[Derivation], header: EdfHeader, segment: Segment,
                        path: Path) -> dict[int, str]:
    """File index -> why, for the unusable signals that are not a derivation's main one (its reference).

    A flat or empty reference would shift a derivation silently: each such signal is refused
    for its header (:func:`_scale_problem`) or, when that is sound, read from the file and
    checked for NaN and flatness ("ref": no amplitude check), one at a time (rates may differ).
    """
    problems = {}
    for i in sorted({i for d in plan for i, _ in d.terms if i != d.main}):
        problem = _scale_problem(header, i)
        if problem is None:
            alone = Derivation(header.labels[i], "ref", header.labels[i], None, ((i, 1.0),))
            problem = channel_problems(EdfSource(path, header, segment, (alone,)), ["ref"], ["ref"]).get("ref")
        if problem is not None:
            problems[i] = problem
    return problems


def _checked_plan(labels: list[str], channels, reference: str, header: EdfHeader, segment: Segment,
                  path: Path) -> tuple[list[Derivation], dict[int, str]]:
    """The channel plan and, file index -> why, the problems of its signals known before they are loaded.

    The header's (any planned signal) and the reference signals' (:func:`_reference_problems`).
    ``reference="auto"`` re-references to linked mastoids only to make the channels' references
    equal; with a flat or empty mastoid that would drop every channel, so the dead signal, and
    the signals recorded against it, are left out and auto decides again (as recorded, when
    nothing else can be done).
    """
    plan = plan_channels(labels, channels, reference, source=str(path))
    dead = _reference_problems(plan, header, segment, path)
    if dead and reference == "auto":
        for i, why in dead.items():
            logger.warning("%s: reference signal %r is unusable (%s); reference 'auto' does without it",
                           path, header.labels[i], why)
        # Signals recorded against a dead one (C4-M1 with M1 flat) do not have that reference either.
        gone = {normalise_channel(header.labels[i]).name for i in dead}
        kept = ["" if i in dead or normalise_channel(lab).reference in gone else lab for i, lab in enumerate(labels)]
        plan = plan_channels(kept, channels, "auto", source=str(path))
        dead = _reference_problems(plan, header, segment, path)
    return plan, {**_header_problems(header, plan, path), **dead}


def _usable(
    derive: Callable[[list[Derivation]], object], plan: list[Derivation], header: EdfHeader, path: Path,
    dropped: _Dropped,
) -> tuple[list[Derivation], object, _Dropped]:  # fmt: skip
    """Drop the derivations whose signal is dead or cannot be EEG/EOG/EMG in microvolts.

    Their references were checked before loading (:func:`_checked_plan`). ``derive(plan)`` gives the planned channels' signals (an array, or a source read block by
    block); the kept channels' signals are returned.
    """
    data = derive(plan)
    scales = [_scale_text(header, d.main) for d in plan]
    problems = channel_problems(data, [d.name for d in plan], [d.kind for d in plan], scales)
    reasons = {k: problems[d.name] for k, d in enumerate(plan) if d.name in problems}
    kept, more = _drop(plan, reasons, path)
    _require_eeg(kept, dropped + more, path)
    return kept, derive(kept) if reasons else data, dropped + more


def _resampled_signals(
    path: Path, header: EdfHeader, segment: Segment, plan: list[Derivation], target: float, dropped: _Dropped,
) -> _Signals:  # fmt: skip
    """Signals at mixed rates (or a rate asked for): read with mne, resampled by FFT, in memory."""
    rows = sorted({i for d in plan for i, _ in d.terms})
    raw, loaded = _read_signals(path, header, rows)
    annotations = _annotations(raw, path, header, segment)
    rd = header.record_duration
    if header.discontinuous or raw.n_times > round(segment.stop * rd * raw.info["sfreq"]):
        raw.crop(segment.first * rd, segment.stop * rd, include_tmax=False)
    signals = _microvolts(raw, loaded, rows, header)
    plan, data, dropped = _usable(lambda p: apply_plan(signals, rows, p), plan, header, path, dropped)
    if abs(raw.info["sfreq"] - target) > 1e-9:
        # mne has already brought slower channels up to the fastest one read (FFT resampling).
        logger.info("%s: resampling from %g Hz to %g Hz", path, raw.info["sfreq"], target)
        raw.resample(target, verbose="error")
        data = apply_plan(_microvolts(raw, loaded, rows, header), rows, plan)
    return _Signals(data, target, _start_time(raw.info["meas_date"], segment, path), annotations, tuple(plan),
                    tuple(dropped))


def _direct_signals(
    path: Path, header: EdfHeader, segment: Segment, plan: list[Derivation], preload: bool | None, dropped: _Dropped,
) -> _Signals:  # fmt: skip
    """Signals at one rate, read from the file's records: into memory, or streamed when large."""
    source = EdfSource(path, header, segment, tuple(plan))
    if preload or (preload is None and source.shape[0] * source.shape[1] * 8 <= _PRELOAD_BYTES):
        rows = sorted({i for d in plan for i, _ in d.terms})
        signals = source.signals(rows, 0, source.shape[1])  # each file signal read once
        plan, data, dropped = _usable(lambda p: apply_plan(signals, rows, p), plan, header, path, dropped)
    else:
        plan, data, dropped = _usable(lambda p: EdfSource(path, header, segment, tuple(p)), plan, header, path,
                                      dropped)
        logger.info("%s: %d channels x %d samples streamed from the file, not loaded", path, *data.shape)
    annotations = _file_annotations(path, header, segment)
    sf = header.rate(plan[0].terms[0][0])
    return _Signals(data, sf, _start_time(header.start, segment, path), annotations, tuple(plan), tuple(dropped))


def _file_annotations(path: Path, header: EdfHeader, segment: Segment) -> _Annotations:
    """The EDF+ annotations (none for plain EDF/BDF), onsets relative to the kept segment."""
    onsets, durations, texts = read_tal_annotations(path, header)
    return _Annotations(onsets - segment.onset, durations, np.array(texts, dtype=object))


def _load_signals(
    path: Path, header: EdfHeader, segment: Segment, plan: list[Derivation], resample: float | None,
    preload: bool | None, dropped: _Dropped,
) -> _Signals:  # fmt: skip
    """Read the signals the plan needs: directly at one rate, else through mne's resampling."""
    rows = sorted({i for d in plan for i, _ in d.terms})
    eeg_rows = {i for d in plan if d.kind == "eeg" for i, _ in d.terms}
    target = float(resample) if resample is not None else max(header.rate(i) for i in eeg_rows)
    if all(abs(header.rate(i) - target) < 1e-9 for i in rows):
        return _direct_signals(path, header, segment, plan, preload, dropped)
    return _resampled_signals(path, header, segment, plan, target, dropped)


def _kept_segment(path: Path, header: EdfHeader, longest_segment: bool) -> tuple[Segment, float]:
    """Every data record, or an EDF+D file's longest continuous segment when ``longest_segment``;
    and the seconds of recorded data left out.

    Else an EDF+D file is refused. Keeping a segment of several is a logged warning: the file,
    the segment (start in the file, length), the seconds of recorded data left out, and that the
    recording's times count from the kept segment's start.
    """
    segments = continuous_segments(path, header)
    if header.discontinuous and not longest_segment:
        raise file_error(path, f"{header.variant} (discontinuous) file with {len(segments)} continuous segments; "
                         "set load.longest_segment: true in the config (longest_segment=True in Python) "
                         "to analyse the longest one only")
    kept = max(segments, key=lambda s: s.stop - s.first)  # the first of equally long ones
    rd = header.record_duration
    discarded = (header.n_records - (kept.stop - kept.first)) * rd
    if len(segments) > 1:
        logger.warning("%s: %s file with %d continuous segments: analysing the longest, %g s from %g s into the "
                       "file (records %d-%d); %g s of recorded data in the others discarded; times (events, "
                       "stages) count from the kept segment's start, %g s into the file", path, header.variant,
                       len(segments), (kept.stop - kept.first) * rd, kept.onset, kept.first, kept.stop - 1,
                       discarded, kept.onset)
    return kept, discarded


_EXCLUDED = "marked bad (load.exclude: the config, the manifest's bad_channels or a BIDS _channels.tsv)"


def _excluded(header: EdfHeader, exclude: Sequence[str], path: Path) -> dict[int, str]:
    """File index -> canonical name of the signals named in ``exclude`` (by label or canonical name)."""
    wanted = {str(c).strip() for c in exclude}
    found = {i: normalise_channel(lab).name for i, lab in enumerate(header.labels)
             if header.is_data(i) and (lab.strip() in wanted or normalise_channel(lab).name in wanted)}
    unknown = wanted - {header.labels[i].strip() for i in found} - set(found.values())
    if unknown:
        logger.warning("%s: channel(s) %s marked bad are not in the file", path, sorted(unknown))
    return found


def load_recording(
    path: str | Path,
    hypnogram: str | Path | Hypnogram | None = None,
    channels=None,
    *,
    reference: str = "auto",
    resample: float | None = None,
    longest_segment: bool = False,
    hypnogram_format: str | None = None,
    epoch_length: float | None = None,
    hypnogram_scheme: str | None = None,
    preload: bool | None = None,
    exclude: Sequence[str] = (),
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
    reference : {"auto", "as-recorded", "linked-mastoid", "average"}
        See :func:`~sleepspindles.io.channels.plan_channels`: ``"auto"`` keeps the channels as
        recorded when they share one reference, else re-references them to linked mastoids
        when it can (C3-M2 and C4-M1 differ by their mastoids alone). ``Recording.references``
        records the result per channel.
    resample : float, optional
        Common sampling rate in Hz. Default: the highest rate among the kept EEG channels.
        Channels at other rates are resampled with mne (FFT-based, anti-aliased).
    longest_segment : bool
        EDF+D (discontinuous) files are refused unless this is true (config:
        ``load.longest_segment: true``); then only their longest continuous run of data records
        is kept, with a logged warning of what is discarded, and every time of the recording
        (start time, stages, events) counts from that segment's start (the recording's
        ``segment_offset`` says where it is in the file, ``discarded_seconds`` what was left out).
    hypnogram_format : str, optional
        Format of the hypnogram file (default: detected).
    epoch_length : float, optional
        Epoch length of the hypnogram in seconds (default: the format's own).
    hypnogram_scheme : {None, "aasm", "rk"}
        What numeric stage codes in a text hypnogram file mean; see
        :func:`~sleepspindles.io.hypnogram.read_hypnogram`.
    preload : bool or None
        When every signal needed has the same rate, the samples are read straight from the
        file's data records (:class:`~sleepspindles.io.edf_source.EdfSource`): ``True`` loads
        them into memory, ``False`` keeps them in the file and the pipeline streams them block
        by block and channel group by channel group (memory bounded by block and group sizes,
        not by channels x hours), ``None`` (default) loads recordings up to 512 MB of float64
        and streams larger ones. Both give the same values. Signals at mixed rates (or a
        ``resample``) are read and resampled by mne, in memory.
    exclude : sequence of str
        Channels to leave out (file labels or canonical names: a BIDS ``_channels.tsv`` marks them
        bad): never read nor used in a reference, and listed in ``Recording.dropped`` (EEG).

    Returns
    -------
    Recording
        Signals in microvolts, converted from each channel's physical dimension in the header
        (uV, mV, V or nV in any letter case; a blank dimension is taken as microvolts, with a
        logged warning, and the plausibility check catches a wrong guess). A channel that
        cannot be measured is left out, with a logged warning: a header whose digital or
        physical minimum equals its maximum, or whose unit is no voltage (found before the
        signal is read); a signal that is all NaN or flat; EEG whose amplitude is not plausible
        in microvolts (a unit mistake: the reason quotes the header's unit and ranges); a
        derivation needing such a signal (a dead mastoid for linked mastoids). Dropped EEG
        channels are listed in ``Recording.dropped`` with the reason.

    Raises
    ------
    DataError
        Missing, non-EDF, truncated, damaged or discontinuous file; absent channels (the
        message lists those present); no usable EEG channel (the message lists each
        requested one with its reason); a hypnogram whose length does not match the signal,
        or with unknown or ambiguous stage codes.
    ConfigError
        Invalid ``reference``, ``resample`` or ``hypnogram_scheme``.
    """
    path = Path(path)
    if resample is not None and not (np.isfinite(resample) and resample > 0):
        raise param_error("resample", "a positive rate in Hz or None", resample)
    if hypnogram_scheme not in SCHEMES:
        raise param_error("hypnogram_scheme", f"one of {SCHEMES}", hypnogram_scheme)
    header = read_edf_header(path)
    segment, discarded = _kept_segment(path, header, longest_segment)
    excluded = _excluded(header, exclude, path)
    signal_labels = [lab if header.is_data(i) and i not in excluded else "" for i, lab in enumerate(header.labels)]
    if channels and excluded:
        gone = set(excluded.values()) | {header.labels[i] for i in excluded}
        channels = [c for c in channels if c not in gone] or None
    # Refuse what the header already shows to be unusable, and dead references, before mne reads
    # (and rescales) the signals.
    plan, problems = _checked_plan(signal_labels, channels, reference, header, segment, path)
    plan, dropped = _drop(plan, _needing(plan, problems, header.labels), path)
    _require_eeg(plan, dropped, path)
    signals = _load_signals(path, header, segment, plan, resample, preload, dropped)
    recording = Recording(
        data=signals.data,
        sf=signals.sf,
        channels=tuple(d.name for d in signals.plan),
        original_names=tuple(d.label for d in signals.plan),
        references=tuple(d.reference for d in signals.plan),
        kinds=tuple(d.kind for d in signals.plan),
        start_time=signals.start_time,
        source=str(path),
        dropped=(*(DroppedChannel(name, _EXCLUDED) for i, name in excluded.items()
                   if normalise_channel(header.labels[i]).kind == "eeg"),
                 *(DroppedChannel(d.name, reason) for d, reason in signals.dropped if d.kind == "eeg")),
        checked=True,  # _usable dropped every channel channel_problems refuses
        segment_offset=segment.onset,
        discarded_seconds=discarded,
    )
    if hypnogram is None:
        hyp = _stage_annotations(signals.annotations, recording.duration, path, epoch_length)
    elif isinstance(hypnogram, Hypnogram):
        hyp = align_hypnogram(hypnogram, recording.duration, hypnogram.path)
    else:
        hyp = read_hypnogram(
            hypnogram, format=hypnogram_format, epoch_length=epoch_length, duration=recording.duration,
            scheme=hypnogram_scheme, start_time=recording.start_time,
        )  # fmt: skip
    return recording.with_hypnogram(hyp)
