"""The :class:`Recording`: EEG in microvolts plus everything needed to interpret it."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from .errors import file_error, param_error
from .hypnogram import Hypnogram

__all__ = ["Recording", "DroppedChannel", "channel_problems", "check_signal", "describe_problems"]

#: Channel kinds a Recording can hold; only ``"eeg"`` channels are searched for spindles.
KINDS = ("eeg", "eog", "emg")

# Plausibility limits for scalp EEG in microvolts, used to catch unit mistakes.
# Sleep EEG has a median absolute deviation of a few to a few tens of microvolts; volts or
# millivolts read as microvolts fall orders of magnitude below, microvolts read as millivolts
# orders of magnitude above.
_MIN_PLAUSIBLE_UV = 0.1
_MAX_PLAUSIBLE_UV = 500.0
_UNIT_CHECK_SAMPLES = 1_000_000


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
    data : numpy.ndarray, shape (n_channels, n_samples)
        Signals in microvolts (float32 or float64). Stored read-only.
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

    def __post_init__(self) -> None:
        data = np.asarray(self.data)
        if data.ndim == 1:
            data = data[np.newaxis, :]
        if data.ndim != 2:
            raise param_error("data", "a 2-D array (channels x samples)", f"shape {data.shape}")
        if data.dtype not in (np.float32, np.float64):
            data = data.astype(np.float64)
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
        if data.flags.writeable:
            data = data.copy() if data.base is not None else data
            data.flags.writeable = False
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
            and np.array_equal(self.data, other.data)
        )

    __hash__ = None  # type: ignore[assignment]

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

    def signal(self, channel: str) -> np.ndarray:
        """The signal of one channel in microvolts (read-only view)."""
        return self.data[self.index(channel)]

    def reference_of(self, channel: str) -> str | None:
        """The reference recorded for ``channel``."""
        return self.references[self.index(channel)]

    def pick(self, channels) -> "Recording":
        """A recording with only ``channels``, in the order given."""
        idx = [self.index(c) for c in channels]
        return replace(
            self,
            data=self.data[idx],
            channels=tuple(self.channels[i] for i in idx),
            original_names=tuple(self.original_names[i] for i in idx),
            references=tuple(self.references[i] for i in idx),
            kinds=tuple(self.kinds[i] for i in idx),
        )

    def with_hypnogram(self, hypnogram: Hypnogram | None) -> "Recording":
        """A copy carrying ``hypnogram``."""
        return replace(self, hypnogram=hypnogram)


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
    data : numpy.ndarray, shape (n_channels, n_samples)
        Signals believed to be in microvolts.
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
    for row, name, kind, scale in zip(data, channels, kinds, scales):
        problem = _row_problem(np.asarray(row), kind)
        if problem is not None:
            problems[name] = problem + (f" [{scale}]" if scale else "")
    return problems


def _row_problem(row: np.ndarray, kind: str) -> str | None:
    finite = row[np.isfinite(row)]
    if finite.size == 0:
        return "no finite samples (all NaN or inf)" if row.size else "no samples"
    if finite.min() == finite.max():
        return f"flat (constant {finite[0]:g})"
    if kind != "eeg":
        return None
    # An order of magnitude is enough: a regular subsample of at most ~1e6 samples keeps the
    # check fast on whole nights.
    values = finite[:: max(1, finite.size // _UNIT_CHECK_SAMPLES)]
    median = float(np.median(values))
    spread = float(np.median(np.abs(values - median)))
    if spread == 0.0:
        # Not a unit mistake: a disconnected electrode that glitches now and then.
        return f"almost flat (at least half of the samples equal {median:g}; median absolute deviation 0)"
    if spread < _MIN_PLAUSIBLE_UV:
        return (
            f"median absolute deviation {spread:.3g} uV, below {_MIN_PLAUSIBLE_UV:g} uV: not plausible "
            "scalp EEG in microvolts (volts or millivolts labelled as microvolts?)"
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
