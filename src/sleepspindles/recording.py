"""The :class:`Recording`: EEG in microvolts plus everything needed to interpret it."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np

from .errors import file_error, param_error
from .hypnogram import Hypnogram

__all__ = [
    "Recording",
    "DroppedChannel",
    "channel_problems",
    "check_signal",
    "describe_problems",
    "is_source",
    "read_span",
    "block_spans",
]

#: Channel kinds a Recording can hold; only ``"eeg"`` channels are searched for spindles.
KINDS = ("eeg", "eog", "emg")

# Plausibility limits for scalp EEG in microvolts, used to catch unit mistakes.
# Sleep EEG has a median absolute deviation of a few to a few tens of microvolts; volts or
# millivolts read as microvolts fall orders of magnitude below, microvolts read as millivolts
# orders of magnitude above.
_MIN_PLAUSIBLE_UV = 1.0  # an amplifier's noise floor: a dead or disconnected electrode sits below
_MAX_PLAUSIBLE_UV = 500.0
_UNIT_CHECK_SAMPLES = 1 << 18
_BLOCK_VALUES = 1 << 23  # values per block read from a source (64 MB of float64)
# EDF+/MNE stage annotation of each stage code (AASM names, as Sleep-EDF and HMC write them).
_STAGE_ANNOTATION = {0: "Sleep stage W", 1: "Sleep stage N1", 2: "Sleep stage N2", 3: "Sleep stage N3",
                     4: "Sleep stage R", -1: "Movement time", -2: "Sleep stage ?"}


def is_source(data: object) -> bool:
    """Whether ``data`` is a signal source read on demand (``read``, ``pick``) rather than an array."""
    return hasattr(data, "read") and hasattr(data, "pick") and not isinstance(data, np.ndarray)


def read_span(data, rows: Sequence[int], start: int, stop: int) -> np.ndarray:
    """Rows ``rows`` of ``data`` (an array or a signal source) over samples ``[start, stop)``."""
    if is_source(data):
        return data.read(rows, start, stop)
    return data[list(rows), max(start, 0) : stop]


def _frozen_array(values) -> np.ndarray:
    """``values`` as a read-only float (channels x samples) array, copied only when it must be."""
    data = np.asarray(values)
    if data.ndim == 1:
        data = data[np.newaxis, :]
    if data.ndim != 2:
        raise param_error("data", "a 2-D array (channels x samples)", f"shape {data.shape}")
    if data.dtype not in (np.float32, np.float64):
        data = data.astype(np.float64)
    if data.flags.writeable:
        data = data.copy() if data.base is not None else data
        data.flags.writeable = False
    return data


@dataclass(frozen=True)
class DroppedChannel:
    """A requested channel left out of a recording because it cannot be measured.

    Parameters
    ----------
    channel : str
        Canonical channel name.
    reason : str
        Why, specific enough to act on (``"flat (constant 0)"``, ``"digital minimum equals
        digital maximum in the header"``...).
    """

    channel: str
    reason: str


@dataclass(frozen=True)
class Recording:
    """A polysomnography recording, normalised.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_channels, n_samples), or a signal source
        Signals in microvolts (float32 or float64), stored read-only; or a source that reads
        them from the file on demand (``read(rows, start, stop)``, ``pick(rows)``, ``shape``:
        :class:`sleepspindles.io.edf_source.EdfSource`), so a night never has to be in memory as
        a whole. Read through :meth:`read` (any span of any channels) or :meth:`signal`.
    sf : float
        Sampling rate in Hz, common to all channels.
    channels : tuple of str
        Canonical channel names (``"C3"``, ``"C4"``, ``"Fpz"``, ``"EOG1"``...).
    original_names : tuple of str
        The labels as written in the file (``"EEG C3-A2"``).
    references : tuple of str or None
        The reference electrode of each channel as recorded (``"M2"``, ``"A1"``, ``"Cz"``), or
        ``None`` when the file does not say (device reference). After re-referencing this is
        ``"linked-mastoid"`` or ``"average"``.
    kinds : tuple of str
        ``"eeg"``, ``"eog"`` or ``"emg"`` per channel.
    start_time : datetime.datetime or None
        Recording start (``None`` when anonymised away).
    source : str or None
        Path of the file the recording was read from.
    hypnogram : Hypnogram or None
        Scored stages aligned to the signal, when available.
    dropped : tuple of DroppedChannel
        EEG channels of the file that were asked for (or would have been kept) but are not in
        ``data`` because they cannot be measured (dead, flat, implausible scale), with the reason.
        Their measures are reported as not measurable (NaN), never as zero.
    checked : bool
        True when every channel already passed :func:`channel_problems` (the loader checks what
        it keeps), so :attr:`eeg_problems` need not read every sample again.
    segment_offset : float
        Seconds from the source file's start to the first sample: nonzero when only the longest
        continuous segment of an EDF+D file was kept (every time of the recording counts from
        that segment's start).
    discarded_seconds : float
        Seconds of recorded data in the source file that were left out (an EDF+D file's other
        segments).
    """

    data: np.ndarray
    sf: float
    channels: tuple[str, ...]
    original_names: tuple[str, ...] = ()
    references: tuple[str | None, ...] = ()
    kinds: tuple[str, ...] = ()
    start_time: _dt.datetime | None = None
    source: str | None = None
    hypnogram: Hypnogram | None = None
    dropped: tuple[DroppedChannel, ...] = ()
    checked: bool = False
    segment_offset: float = 0.0
    discarded_seconds: float = 0.0

    def __post_init__(self) -> None:
        data = self.data if is_source(self.data) else _frozen_array(self.data)
        n_ch = data.shape[0]
        channels = tuple(str(c) for c in self.channels)
        if len(channels) != n_ch:
            raise param_error("channels", f"{n_ch} names, one per row of data", channels)
        if len(set(channels)) != n_ch:
            raise param_error("channels", "unique names", channels)
        if not (np.isfinite(self.sf) and self.sf > 0):
            raise param_error("sf", "a positive sampling rate in Hz", self.sf)
        originals = tuple(self.original_names) or channels
        refs = tuple(self.references) or (None,) * n_ch
        kinds = tuple(self.kinds) or ("eeg",) * n_ch
        for name, value in (("original_names", originals), ("references", refs), ("kinds", kinds)):
            if len(value) != n_ch:
                raise param_error(name, f"{n_ch} values, one per channel", value)
        bad = [k for k in kinds if k not in KINDS]
        if bad:
            raise param_error("kinds", f"values among {KINDS}", bad)
        object.__setattr__(self, "data", data)
        object.__setattr__(self, "sf", float(self.sf))
        object.__setattr__(self, "channels", channels)
        object.__setattr__(self, "original_names", originals)
        object.__setattr__(self, "references", refs)
        object.__setattr__(self, "kinds", kinds)
        if self.source is not None:
            object.__setattr__(self, "source", str(self.source))
        object.__setattr__(self, "dropped", tuple(self.dropped))

    # Frozen dataclasses compare arrays with ==, which is ambiguous: compare explicitly.
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Recording):
            return NotImplemented
        return (
            self.sf == other.sf
            and self.channels == other.channels
            and self.references == other.references
            and self.kinds == other.kinds
            and self.hypnogram == other.hypnogram
            and (self.data == other.data if is_source(self.data) or is_source(other.data)
                 else np.array_equal(self.data, other.data))
        )

    __hash__ = None  # type: ignore[assignment]

    @cached_property
    def eeg_problems(self) -> dict[str, str]:
        """:func:`channel_problems` of the EEG channels: why each unusable one cannot be measured.

        Computed once per recording (a pass over every sample; detection and analysis all ask).
        """
        eeg = self.eeg_channels
        return channel_problems(self.pick(eeg).data, eeg) if eeg and not self.checked else {}

    @property
    def n_samples(self) -> int:
        """Number of samples per channel."""
        return int(self.data.shape[1])

    @property
    def duration(self) -> float:
        """Length of the recording in seconds."""
        return self.n_samples / self.sf

    @property
    def eeg_channels(self) -> tuple[str, ...]:
        """Names of the EEG channels (the ones searched for spindles)."""
        return tuple(c for c, k in zip(self.channels, self.kinds) if k == "eeg")

    def index(self, channel: str) -> int:
        """Row of ``channel`` in :attr:`data`; a clear error listing the channels otherwise."""
        try:
            return self.channels.index(channel)
        except ValueError:
            raise file_error(
                self.source,
                f"channel {channel!r} not found; channels present: {', '.join(self.channels)}",
            ) from None

    @property
    def in_memory(self) -> bool:
        """False when the samples stay in the file and are read block by block (:meth:`read`)."""
        return not is_source(self.data)

    def read(self, rows: Sequence[int], start: int, stop: int) -> np.ndarray:
        """Channels ``rows`` (indices) over samples ``[start, stop)`` in microvolts (a new array)."""
        return read_span(self.data, rows, start, stop)

    def signal(self, channel: str) -> np.ndarray:
        """The signal of one channel in microvolts (a read-only view, or read from the file)."""
        i = self.index(channel)
        return self.data.read([i], 0, self.n_samples)[0] if is_source(self.data) else self.data[i]

    def values(self) -> np.ndarray:
        """Every sample in memory (read from the file when the recording streams from it)."""
        return np.asarray(self.data)

    def reference_of(self, channel: str) -> str | None:
        """The reference recorded for ``channel``."""
        return self.references[self.index(channel)]

    def pick(self, channels) -> "Recording":
        """A recording with only ``channels``, in the order given."""
        idx = [self.index(c) for c in channels]
        if is_source(self.data):
            data = self.data.pick(idx)
        elif idx and idx == list(range(idx[0], idx[-1] + 1)):
            data = self.data[idx[0] : idx[-1] + 1]  # a view: no copy of the night
        else:
            data = self.data[idx]
        return replace(
            self,
            data=data,
            channels=tuple(self.channels[i] for i in idx),
            original_names=tuple(self.original_names[i] for i in idx),
            references=tuple(self.references[i] for i in idx),
            kinds=tuple(self.kinds[i] for i in idx),
        )

    def with_hypnogram(self, hypnogram: Hypnogram | None) -> "Recording":
        """A copy carrying ``hypnogram``."""
        return replace(self, hypnogram=hypnogram)

    @classmethod
    def from_mne(cls, raw, hypnogram: Hypnogram | None = None) -> "Recording":
        """A recording from an MNE ``Raw``: its EEG, EOG and EMG channels, volts -> microvolts.

        Channel names are kept as they are (also as ``original_names``); other channel types
        (ECG, stimulus, misc...) are left out. Stage annotations are not parsed here (read them
        with :func:`sleepspindles.io.annotations.hypnogram_from_mne`); pass the hypnogram.

        Parameters
        ----------
        raw : mne.io.BaseRaw
        hypnogram : Hypnogram, optional

        Returns
        -------
        Recording
            ``source`` is the file mne read, ``start_time`` its ``meas_date`` (naive UTC).

        Raises
        ------
        ConfigError
            When ``raw`` has no EEG, EOG or EMG channel.
        """
        types = raw.get_channel_types()
        picks = [i for i, t in enumerate(types) if t in KINDS]
        if not picks:
            raise param_error("raw", "an mne Raw with EEG, EOG or EMG channels", sorted(set(types)))
        names = tuple(raw.ch_names[i] for i in picks)
        meas = raw.info["meas_date"]
        files = getattr(raw, "filenames", ()) or ()
        return cls(data=raw.get_data(picks=picks) * 1e6, sf=raw.info["sfreq"], channels=names, original_names=names,
                   kinds=tuple(types[i] for i in picks), hypnogram=hypnogram,
                   start_time=meas.replace(tzinfo=None) if meas is not None else None,
                   source=str(files[0]) if files and files[0] is not None else None)

    def to_mne(self):
        """This recording as an MNE ``RawArray`` in volts; the hypnogram as ``Sleep stage X`` annotations.

        Channel types are the recording's kinds; ``start_time`` becomes ``meas_date`` (as UTC).
        Each scored epoch is one annotation (``Sleep stage W|N1|N2|N3|R|?``, ``Movement time``
        for artefact epochs) lasting one epoch.

        Returns
        -------
        mne.io.RawArray
        """
        import mne  # heavy import kept local

        info = mne.create_info(list(self.channels), self.sf, list(self.kinds))
        raw = mne.io.RawArray(self.values() * 1e-6, info, verbose="error")
        if self.start_time is not None:
            raw.set_meas_date(self.start_time.replace(tzinfo=_dt.UTC))
        hyp = self.hypnogram
        if hyp is not None:
            onsets = hyp.offset + np.arange(hyp.n_epochs) * hyp.epoch_length
            texts = [_STAGE_ANNOTATION.get(int(s), "Sleep stage ?") for s in hyp.stages]
            raw.set_annotations(mne.Annotations(onsets, hyp.epoch_length, texts))
        return raw


def channel_problems(
    data: np.ndarray,
    channels: Sequence[str],
    kinds: Sequence[str] | None = None,
    scales: Sequence[str | None] | None = None,
) -> dict[str, str]:
    """Why each unusable channel cannot be measured; channels that are fine are absent.

    Checks every EEG channel: not entirely NaN/inf, not flat, and with a robust amplitude (the
    median absolute deviation of its finite samples) inside what scalp EEG in microvolts can
    be: a signal in volts or millivolts labelled as microvolts is far below, one in microvolts
    labelled as millivolts far above, and a deviation of 0 (half the samples one value) is a
    dead electrode that glitches. Other kinds are only checked for being entirely non-finite
    or flat.

    Parameters
    ----------
    data : numpy.ndarray, shape (n_channels, n_samples), or a signal source
        Signals believed to be in microvolts (a source is read once, block by block).
    channels : sequence of str
        Channel names.
    kinds : sequence of str, optional
        Channel kinds; default all ``"eeg"``.
    scales : sequence of str or None, optional
        Per channel, how the file's values were scaled to microvolts (``"physical dimension
        'mV', x1000"``), quoted in the messages so a unit mistake can be found.

    Returns
    -------
    dict of str to str
        Channel name -> reason, e.g. ``"flat (constant 0)"``.
    """
    kinds = kinds or ("eeg",) * len(channels)
    scales = scales or (None,) * len(channels)
    problems = {}
    rows = _compact_rows(data) if is_source(data) else data
    for row, name, kind, scale in zip(rows, channels, kinds, scales):
        problem = _row_problem(np.asarray(row), kind)
        if problem is not None:
            problems[name] = problem + (f" [{scale}]" if scale else "")
    return problems


def block_spans(n_samples: int, n_rows: int) -> list[tuple[int, int]]:
    """``[start, stop)`` spans covering ``n_samples`` so that a block of ``n_rows`` rows holds at most
    ~:data:`_BLOCK_VALUES` values (at least 2**16 samples per row)."""
    size = max(_BLOCK_VALUES // max(n_rows, 1), 1 << 16)
    return [(a, min(a + size, n_samples)) for a in range(0, n_samples, size)]


def _compact_rows(source) -> list[np.ndarray]:
    """Per channel of a source, what :func:`_row_problem` needs in one pass over blocks.

    A regular subsample of the finite values (at most ~2.6e5, the same grid as for an array) plus
    each channel's extremes: enough for the finite, flat and amplitude checks.
    """
    n_rows, n = source.shape
    step = max(1, n // _UNIT_CHECK_SAMPLES)
    parts: list[list[np.ndarray]] = [[] for _ in range(n_rows)]
    low, high = np.full(n_rows, np.inf), np.full(n_rows, -np.inf)
    for start, stop in block_spans(n, n_rows):
        block = source.read(range(n_rows), start, stop)
        finite = np.isfinite(block)
        low = np.minimum(low, np.where(finite, block, np.inf).min(axis=1))
        high = np.maximum(high, np.where(finite, block, -np.inf).max(axis=1))
        for k, row in enumerate(block[:, (-start) % step :: step]):
            parts[k].append(row[np.isfinite(row)])
    return [np.concatenate([*p, [lo, hi]]) if np.isfinite(lo) else np.array([np.nan])
            for p, lo, hi in zip(parts, low, high)]


def _row_problem(row: np.ndarray, kind: str) -> str | None:
    # fmin/fmax skip NaN without copying the row; only a row holding inf needs the finite copy.
    low, high = (np.fmin.reduce(row), np.fmax.reduce(row)) if row.size else (np.nan, np.nan)
    finite = row if np.isfinite(low) and np.isfinite(high) else row[np.isfinite(row)]
    if finite is not row:
        if finite.size == 0:
            return "no finite samples (all NaN or inf)" if row.size else "no samples"
        low, high = finite.min(), finite.max()
    if low == high:
        return f"flat (constant {low:g})"
    if kind != "eeg":
        return None
    # An order of magnitude is enough: a regular subsample of ~2.6e5 samples (every ~0.1 s of
    # a night) keeps the check fast on whole nights.
    values = finite[:: max(1, finite.size // _UNIT_CHECK_SAMPLES)]
    values = values[np.isfinite(values)]
    median = float(np.median(values))
    spread = float(np.median(np.abs(values - median)))
    if spread == 0.0:
        # Not a unit mistake: a disconnected electrode that glitches now and then.
        return f"almost flat (at least half of the samples equal {median:g}; median absolute deviation 0)"
    if spread < _MIN_PLAUSIBLE_UV:
        return (
            f"median absolute deviation {spread:.3g} uV, below {_MIN_PLAUSIBLE_UV:g} uV: not plausible "
            "scalp EEG in microvolts (volts or millivolts labelled as microvolts, or a dead electrode?)"
        )
    if spread > _MAX_PLAUSIBLE_UV:
        return (
            f"median absolute deviation {spread:.3g} uV, above {_MAX_PLAUSIBLE_UV:g} uV: not plausible "
            "scalp EEG in microvolts (microvolts labelled as millivolts, or a wrong scale in the header?)"
        )
    return None


def describe_problems(problems: Mapping[str, str]) -> str:
    """``"channel 'C3': flat (constant 0); channel 'C4': ..."``: channel problems for a message."""
    return "; ".join(f"channel {name!r}: {reason}" for name, reason in problems.items())


def check_signal(
    data: np.ndarray,
    channels: Sequence[str],
    source: str | None,
    kinds: Sequence[str] | None = None,
    scales: Sequence[str | None] | None = None,
) -> None:
    """Refuse the signals when any channel cannot be measured (see :func:`channel_problems`).

    For a reader whose every channel is needed (a single-channel file: nothing else is left).

    Parameters
    ----------
    data, channels, kinds, scales
        As for :func:`channel_problems`.
    source : str or None
        The file, for the message.

    Raises
    ------
    DataError
        Naming the file and every unusable channel with its problem.
    """
    problems = channel_problems(data, channels, kinds, scales)
    if problems:
        raise file_error(source, describe_problems(problems))
