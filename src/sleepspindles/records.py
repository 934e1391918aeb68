"""Typed records that travel between the pipeline, its files and the cohort level.

:class:`RunRecord` is what a recording's ``run.json`` holds: the configuration and package
versions that made the outputs, the inputs with their SHA-256, what was loaded (channels,
references, channels dropped and why), the staging, and per event kind the engine, the count,
the excluded time and the notes. :class:`StatusRow` is one row of a batch's ``status.csv``.
Each has one JSON/record form (:meth:`RunRecord.to_json` / :meth:`RunRecord.from_json`,
:meth:`StatusRow.to_record` / :meth:`StatusRow.from_record`): :mod:`sleepspindles.output`
writes them, :mod:`sleepspindles.io.results` reads them back.
"""

from __future__ import annotations

import datetime as _dt
import math
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .schema import EVENT_KINDS

__all__ = [
    "InputFile",
    "RecordingInfo",
    "StagingInfo",
    "DetectionInfo",
    "RunRecord",
    "StatusRow",
    "package_versions",
    "now",
]

_PACKAGES = ("sleepspindles", "numpy", "scipy", "pandas", "mne", "yasa", "numba", "edfio", "lightgbm")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results (``"absent"`` when missing)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def now() -> str:
    """The current UTC time, ISO 8601 to the second (``created`` of every record)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _plain(value: Any) -> Any:
    """JSON-ready form: dataclasses as dicts, tuples as lists, datetimes as ISO text."""
    if hasattr(value, "__dataclass_fields__"):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    return value


def _build(cls: type, obj: Mapping[str, Any]) -> Any:
    """``cls`` from the mapping of its fields (sequences become tuples); unknown keys are ignored."""
    names = {f.name for f in fields(cls)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in obj.items() if k in names}
    return cls(**values)


@dataclass(frozen=True)
class InputFile:
    """An input file and its SHA-256."""

    path: str
    sha256: str


@dataclass(frozen=True)
class RecordingInfo:
    """What was loaded: rate, length, channels with their file labels, references and kinds.

    ``segment_offset_seconds`` is where the analysed data begin, in seconds from the file's start:
    nonzero for the longest continuous segment kept of an EDF+D file (``load.longest_segment``),
    whose ``discarded_seconds`` of recorded data in the other segments were not analysed. Every
    time in the outputs (events, stages) counts from ``start_time``, the kept data's start, not
    the file's. Both are 0 for a continuous file (and in a ``run.json`` written before them).
    """

    source: str | None
    sf: float
    duration_seconds: float
    channels: tuple[str, ...]
    original_names: tuple[str, ...]
    references: tuple[str | None, ...]
    kinds: tuple[str, ...]
    start_time: str | None = None
    reference_mode: str = "auto"
    dropped_channels: Mapping[str, str] = field(default_factory=dict)
    segment_offset_seconds: float = 0.0
    discarded_seconds: float = 0.0


@dataclass(frozen=True)
class StagingInfo:
    """Where the stages came from (``scored``, ``yasa`` or ``none``) and minutes per stage."""

    source: str = "none"
    path: str | None = None
    epoch_length: float | None = None
    stage_minutes: Mapping[str, float] | None = None


@dataclass(frozen=True)
class DetectionInfo:
    """One event kind's detection: engine, events found, time excluded and why, notes."""

    method: str
    n_events: int
    excluded_seconds: Mapping[str, float] = field(default_factory=dict)
    unmeasurable_channels: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunRecord:
    """The provenance and facts of one recording's outputs (``run.json``).

    ``subject``, ``night`` and ``trained_hand`` are set for batch rows (the report depends on
    them); ``extra`` holds entries other writers add (the demo's seed and planted densities).
    ``files`` lists the files the run wrote; ``run.json`` is written last, so its presence marks
    a complete folder.
    """

    created: str
    versions: Mapping[str, str]
    config: Mapping[str, Any]
    recording: RecordingInfo
    staging: StagingInfo
    detection: Mapping[str, DetectionInfo]
    inputs: Mapping[str, InputFile] = field(default_factory=dict)
    subject: str | None = None
    night: str | None = None
    trained_hand: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    files: tuple[str, ...] = ()

    @property
    def staged(self) -> bool:
        """Whether the recording had sleep stages (scored or automatic)."""
        return bool(self.staging.stage_minutes)

    @property
    def n2_minutes(self) -> float:
        """Minutes of N2 in the hypnogram used; NaN when the recording was not staged."""
        return float((self.staging.stage_minutes or {}).get("N2", math.nan))

    def count(self, kind: str) -> int:
        """Events of ``kind`` found (-1 when that kind was not detected)."""
        info = self.detection.get(kind)
        return -1 if info is None else int(info.n_events)

    def with_(self, **changes: Any) -> RunRecord:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        """The ``run.json`` form (``extra`` entries at the top level)."""
        out = {f.name: _plain(getattr(self, f.name)) for f in fields(self) if f.name != "extra"}
        return {**out, **_plain(self.extra)}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> RunRecord:
        """Read the ``run.json`` form back.

        Raises
        ------
        ValueError
            When ``obj`` is not a run record of this version (a folder written by an earlier
            version is then simply recomputed by batch runs).
        """
        try:
            known = {f.name for f in fields(cls)}
            return cls(
                created=str(obj["created"]),
                versions=dict(obj["versions"]),
                config=dict(obj["config"]),
                recording=_build(RecordingInfo, obj["recording"]),
                staging=_build(StagingInfo, obj["staging"]),
                detection={k: _build(DetectionInfo, v) for k, v in obj["detection"].items()},
                inputs={k: _build(InputFile, v) for k, v in obj.get("inputs", {}).items()},
                subject=obj.get("subject"),
                night=obj.get("night"),
                trained_hand=obj.get("trained_hand"),
                extra={k: v for k, v in obj.items() if k not in known},
                files=tuple(obj.get("files", ())),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a run record of this version ({type(exc).__name__}: {exc})") from None


@dataclass(frozen=True)
class StatusRow:
    """One manifest row's outcome in a batch (``status.csv``: :data:`sleepspindles.schema.STATUS`).

    ``status`` is ``"done"`` (computed now), ``"skipped"`` (already complete and current) or
    ``"failed"`` (with ``error``); ``counts`` holds the events found per kind (-1 when failed, or for a
    kind the config turned off).
    """

    row: int
    subject: str
    night: str
    recording: str
    out_dir: str
    status: str = "done"
    counts: Mapping[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    error: str = ""
    dropped_channels: str = ""

    @property
    def succeeded(self) -> bool:
        """Whether the row's outputs exist (computed now or already complete)."""
        return self.status in ("done", "skipped")

    def to_record(self) -> dict[str, Any]:
        """The row as ``status.csv`` columns (one count column per event kind)."""
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "counts"}
        out.update({k.count_column: int(self.counts.get(k.name, -1)) for k in EVENT_KINDS})
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StatusRow:
        """A row of ``status.csv`` read back (missing text cells are empty)."""
        counts = {k.name: int(record[k.count_column]) for k in EVENT_KINDS if k.count_column in record}
        text = {n: "" if record.get(n) is None or record.get(n) != record.get(n) else str(record[n])
                for n in ("error", "dropped_channels")}
        return cls(row=int(record["row"]), subject=str(record["subject"]), night=str(record["night"]),
                   recording=str(record["recording"]), out_dir=str(record["out_dir"]), status=str(record["status"]),
                   counts=counts, seconds=float(record["seconds"]), **text)
