"""The :class:`Recording`: EEG in microvolts plus everything needed to interpret it."""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, replace

import numpy as np

from .errors import file_error, param_error
from .hypnogram import Hypnogram

__all__ = ["Recording", "check_signal"]

#: Channel kinds a Recording can hold; only ``"eeg"`` channels are searched for spindles.
KINDS = ("eeg", "eog", "emg")

# Plausibility limits for scalp EEG in microvolts, used to catch unit mistakes.
_MIN_PLAUSIBLE_UV = 0.05  # robust amplitude below this: the data are almost surely volts
_MAX_PLAUSIBLE_UV = 1e5  # robust amplitude above this (0.1 V): not microvolts either
_UNIT_CHECK_SAMPLES = 1_000_000


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


def check_signal(data: np.ndarray, channels, source: str | None, kinds=None) -> None:
    """Refuse signals that are unusable or in the wrong units.

    Checks each EEG channel: not entirely NaN/inf, not flat, and with a robust amplitude in
    a plausible microvolt range (a signal in volts would be about 1e-6 of it).

    Parameters
    ----------
    data : numpy.ndarray, shape (n_channels, n_samples)
        Signals believed to be in microvolts.
    channels : sequence of str
        Channel names, for the messages.
    source : str or None
        File name, for the messages.
    kinds : sequence of str, optional
        Channel kinds; only ``"eeg"`` rows are checked for units. Default: all EEG.

    Raises
    ------
    DataError
        Naming the file, the channel and the problem.
    """
    kinds = kinds or ("eeg",) * len(channels)
    for row, name, kind in zip(data, channels, kinds):
        finite = np.isfinite(row)
        if not finite.any():
            raise file_error(source, f"channel {name!r} has no finite samples (all NaN or inf)")
        values = row[finite]
        if float(np.ptp(values)) == 0.0:
            raise file_error(source, f"channel {name!r} is flat (constant {values[0]:g})")
        # The unit check needs an order of magnitude, not an exact median: a regular subsample
        # of at most ~1e6 samples keeps it fast on whole nights.
        sample = values[:: max(1, values.size // _UNIT_CHECK_SAMPLES)]
        spread = float(np.median(np.abs(sample - np.median(sample))))
        if kind != "eeg" or spread == 0.0:
            continue
        if spread < _MIN_PLAUSIBLE_UV:
            raise file_error(
                source,
                f"channel {name!r} has a median absolute deviation of {spread:.3g} uV, which looks "
                "like a signal in volts labelled as microvolts; check the file's physical units "
                "(or pass data already converted to microvolts)",
            )
        if spread > _MAX_PLAUSIBLE_UV:
            raise file_error(
                source,
                f"channel {name!r} has a median absolute deviation of {spread:.3g} uV (> 0.1 V), "
                "which is not plausible EEG in microvolts; check the file's physical units",
            )
