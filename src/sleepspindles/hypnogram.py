"""Sleep stages and the :class:`Hypnogram` that carries them between pipeline stages.

Stage codes follow YASA's integer convention (W=0, N1=1, N2=2, N3=3, REM=4, artefact=-1,
unscored=-2) so hypnograms pass to and from YASA without translation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from .errors import param_error

__all__ = ["Stage", "Hypnogram", "SleepCycle", "parse_stages", "stage_names"]


class Stage(enum.IntEnum):
    """Sleep stage codes (AASM names, YASA integer values)."""

    W = 0
    N1 = 1
    N2 = 2
    N3 = 3
    REM = 4
    ARTEFACT = -1
    UNSCORED = -2

    @classmethod
    def parse(cls, value: "str | int | Stage") -> "Stage":
        """Return the stage named by ``value`` (``"N2"``, ``"2"``, ``"R"``, ``"SWS"``, 2...).

        Raises
        ------
        ConfigError
            When ``value`` names no stage.
        """
        if isinstance(value, Stage):
            return value
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
            try:
                return cls(int(value))
            except ValueError:
                pass
        elif isinstance(value, str):
            key = value.strip().upper()
            if key in _ALIASES:
                return _ALIASES[key]
        raise param_error("stage", f"one of {[s.name for s in cls]} or its code", value)


_ALIASES: dict[str, Stage] = {s.name: s for s in Stage}
_ALIASES.update(
    {
        "WAKE": Stage.W,
        "R": Stage.REM,
        "SWS": Stage.N3,
        "ART": Stage.ARTEFACT,
        "ARTIFACT": Stage.ARTEFACT,
        "UNS": Stage.UNSCORED,
        "?": Stage.UNSCORED,
        "0": Stage.W,
        "1": Stage.N1,
        "2": Stage.N2,
        "3": Stage.N3,
        "4": Stage.REM,
    }
)


def parse_stages(values) -> tuple[Stage, ...]:
    """Parse a stage list such as ``["N2", "N3"]`` or ``"N2,N3"`` into unique sorted stages."""
    if isinstance(values, str):
        values = [v for v in values.split(",") if v.strip()]
    stages = sorted({Stage.parse(v) for v in values})
    if not stages:
        raise param_error("stages", "a non-empty list of stages", values)
    return tuple(stages)


@dataclass(frozen=True)
class SleepCycle:
    """One NREM-REM cycle of a night (see :meth:`Hypnogram.cycles`).

    Attributes
    ----------
    index : int
        1 for the first cycle of the night.
    start, nrem_end, end : int
        Epoch indices: the NREM period is ``[start, nrem_end)``, the REM period
        ``[nrem_end, end)`` (empty for a last cycle without REM).
    start_time, nrem_end_time, end_time : float
        The same boundaries in seconds from the signal's first sample (the offset included).
    """

    index: int
    start: int
    nrem_end: int
    end: int
    start_time: float
    nrem_end_time: float
    end_time: float


_SLEEP = (Stage.N1, Stage.N2, Stage.N3, Stage.REM)


def stage_names(codes) -> np.ndarray:
    """Stage names (``"N2"``) for integer stage codes, as an object array."""
    lookup = {int(s): s.name for s in Stage}
    return np.array([lookup[int(c)] for c in np.asarray(codes).ravel()], dtype=object)


@dataclass(frozen=True)
class Hypnogram:
    """One stage per fixed-length epoch, aligned to a recording.

    Parameters
    ----------
    stages : numpy.ndarray of int8
        Stage code (:class:`Stage` values) per epoch. Stored read-only.
    epoch_length : float
        Epoch length in seconds (30 for AASM scoring, 20 or 5 in some databases).
    offset : float
        Time in seconds from the signal's first sample to the first epoch's onset.
    source : str
        Where the stages came from: ``"scored"`` (a human hypnogram), ``"yasa"`` (automatic
        staging) or ``"none"`` (no staging: everything counts as one stage).
    path : str or None
        The hypnogram file, when it was read from one.
    """

    stages: np.ndarray
    epoch_length: float = 30.0
    offset: float = 0.0
    source: str = "scored"
    path: str | None = None
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        stages = np.asarray(self.stages)
        if stages.ndim != 1:
            raise param_error("stages", "a one-dimensional array", f"shape {stages.shape}")
        valid = np.isin(stages, [s.value for s in Stage])
        if not valid.all():
            raise param_error("stages", "stage codes among -2..4", np.unique(stages[~valid]).tolist())
        if not (np.isfinite(self.epoch_length) and self.epoch_length > 0):
            raise param_error("epoch_length", "a positive number of seconds", self.epoch_length)
        stages = stages.astype(np.int8, copy=True)
        stages.flags.writeable = False
        object.__setattr__(self, "stages", stages)
        object.__setattr__(self, "epoch_length", float(self.epoch_length))
        object.__setattr__(self, "offset", float(self.offset))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Hypnogram):
            return NotImplemented
        return (
            np.array_equal(self.stages, other.stages)
            and self.epoch_length == other.epoch_length
            and self.offset == other.offset
            and self.source == other.source
        )

    __hash__ = None  # type: ignore[assignment]

    @property
    def n_epochs(self) -> int:
        """Number of epochs."""
        return int(self.stages.size)

    @property
    def duration(self) -> float:
        """Length covered by the epochs, in seconds."""
        return self.n_epochs * self.epoch_length

    def epochs_on(self, signal_duration: float) -> tuple[int, int]:
        """``(kept, fit)`` epochs on a signal of ``signal_duration`` s.

        ``fit``: the whole epochs from ``offset`` that fit in the signal; ``kept``: all epochs,
        but for unscored ones past the signal's end (Sleep-EDF files end with a long stretch
        of ``Sleep stage ?`` after the PSG stops: not a mismatch). The hypnogram matches the
        signal when ``offset + kept * epoch_length`` is within one epoch of its end.
        """
        fit = max(int(np.floor((signal_duration - self.offset) / self.epoch_length + 1e-6)), 0)
        past = self.stages[fit:]
        kept = fit if past.size and (past == Stage.UNSCORED).all() else self.n_epochs
        return kept, fit

    def matches(self, signal_duration: float) -> bool:
        """Whether the epochs end within one epoch of a ``signal_duration`` s signal's end (:meth:`epochs_on`)."""
        kept, _ = self.epochs_on(signal_duration)
        return abs(self.offset + kept * self.epoch_length - signal_duration) <= self.epoch_length + 1e-6

    @property
    def labels(self) -> list[str]:
        """Stage names per epoch (``"W"``, ``"N2"``, ``"REM"``...)."""
        return [Stage(int(s)).name for s in self.stages]

    def minutes(self, stages=None) -> float:
        """Minutes spent in ``stages`` (a stage, a list of stages, or all scored sleep when None)."""
        if stages is None:
            wanted = [Stage.N1, Stage.N2, Stage.N3, Stage.REM]
        elif isinstance(stages, (str, int, Stage)):
            wanted = [Stage.parse(stages)]
        else:
            wanted = [Stage.parse(s) for s in stages]
        n = np.isin(self.stages, [int(s) for s in wanted]).sum()
        return float(n * self.epoch_length / 60.0)

    def stage_minutes(self) -> dict[str, float]:
        """Minutes per stage for every stage in :class:`Stage`."""
        return {s.name: self.minutes(s) for s in Stage}

    def to_samples(self, sf: float, n_samples: int) -> np.ndarray:
        """Stage code per signal sample (``UNSCORED`` outside the epochs).

        Parameters
        ----------
        sf : float
            Sampling rate of the signal in Hz.
        n_samples : int
            Number of samples of the signal.

        Returns
        -------
        numpy.ndarray of int8, shape (n_samples,)
        """
        key = (float(sf), int(n_samples))
        if key not in self._cache:
            t = np.arange(n_samples, dtype=np.float64) / sf - self.offset
            idx = np.floor(t / self.epoch_length).astype(np.int64)
            out = np.full(n_samples, Stage.UNSCORED, dtype=np.int8)
            ok = (idx >= 0) & (idx < self.n_epochs)
            out[ok] = self.stages[idx[ok]]
            out.flags.writeable = False
            self._cache.clear()
            self._cache[key] = out
        return self._cache[key]

    def stage_at(self, times) -> np.ndarray:
        """Stage code at each time (seconds from the signal start); ``UNSCORED`` outside."""
        t = np.asarray(times, dtype=np.float64) - self.offset
        idx = np.floor(t / self.epoch_length).astype(np.int64)
        ok = (idx >= 0) & (idx < self.n_epochs)
        out = np.full(t.shape, Stage.UNSCORED, dtype=np.int8)
        out[ok] = self.stages[idx[ok]]
        return out

    def sleep_onset(self) -> int | None:
        """Index of the first epoch of N2 or N3 (sleep onset), ``None`` when there is none."""
        deep = np.flatnonzero(np.isin(self.stages, [int(Stage.N2), int(Stage.N3)]))
        return int(deep[0]) if deep.size else None

    def cycles(self, min_nrem_minutes: float = 15.0, min_rem_minutes: float = 5.0) -> tuple[SleepCycle, ...]:
        """NREM-REM sleep cycles, by a rule adapted from Feinberg & Floyd (1979).

        The rule, as commonly implemented:

        1. Sleep onset is the first epoch of N2 or N3; the last epoch of sleep is the last of
           N1, N2, N3 or REM. Nothing outside them belongs to a cycle.
        2. REM epochs in a row form a REM run. Runs separated by less than
           ``min_nrem_minutes`` (counted over every epoch between them) form one REM period: the
           short NREM stretch between them is merged into it.
        3. A REM period closes the current NREM period (which runs from sleep onset, or from the
           end of the previous REM period) when that NREM period lasts at least
           ``min_nrem_minutes`` and, except for the first REM period of the night, the REM
           period lasts at least ``min_rem_minutes`` (from its first to its last REM epoch).
           A REM period failing these stays inside the NREM period.
        4. A cycle is a NREM period and the REM period that closes it. After the last REM
           period, a NREM period starts a last cycle (without REM) when it lasts at least
           ``min_nrem_minutes`` up to the last epoch of sleep; a shorter one is added to the
           last cycle. The last cycle ends at the last epoch of sleep.

        Wake, N1, artefact and unscored epochs inside a period stay in it.

        Parameters
        ----------
        min_nrem_minutes : float
            Shortest NREM period that starts a cycle.
        min_rem_minutes : float
            Shortest REM period (after the first) that ends one.

        Returns
        -------
        tuple of SleepCycle
            In time order; empty when there is no N2 or N3 epoch.
        """
        for name, value in (("min_nrem_minutes", min_nrem_minutes), ("min_rem_minutes", min_rem_minutes)):
            if not (np.isfinite(value) and value >= 0):
                raise param_error(name, "a non-negative number of minutes", value)
        onset = self.sleep_onset()
        if onset is None:
            return ()
        min_nrem = min_nrem_minutes * 60.0 / self.epoch_length  # in epochs
        min_rem = min_rem_minutes * 60.0 / self.epoch_length
        sleep_end = int(np.flatnonzero(np.isin(self.stages, [int(s) for s in _SLEEP]))[-1]) + 1
        bounds: list[tuple[int, int, int]] = []  # (NREM start, REM start, REM end) per cycle
        nrem_start = onset
        for rem_start, rem_end in _rem_periods(self.stages[:sleep_end], onset, min_nrem):
            if rem_start - nrem_start < min_nrem or (bounds and rem_end - rem_start < min_rem):
                continue  # too short to close a cycle: it stays inside the NREM period
            bounds.append((nrem_start, rem_start, rem_end))
            nrem_start = rem_end
        if not bounds or (sleep_end > nrem_start and sleep_end - nrem_start >= min_nrem):
            bounds.append((nrem_start, sleep_end, sleep_end))
        else:  # a short last NREM stretch joins the last cycle
            bounds[-1] = (*bounds[-1][:2], sleep_end)
        return tuple(self._cycle(i + 1, *b) for i, b in enumerate(bounds))

    def _cycle(self, index: int, start: int, nrem_end: int, end: int) -> SleepCycle:
        """A :class:`SleepCycle` with its times in seconds."""
        times = (self.offset + e * self.epoch_length for e in (start, nrem_end, end))
        return SleepCycle(index, start, nrem_end, end, *times)

    def with_stages(self, stages: np.ndarray) -> "Hypnogram":
        """A copy with other stages (same epoch length, offset and source)."""
        return Hypnogram(stages, self.epoch_length, self.offset, self.source, self.path)


def _rem_periods(stages: np.ndarray, first: int, min_gap: float) -> list[tuple[int, int]]:
    """``[start, end)`` epochs of the REM periods from ``first``: REM runs less than ``min_gap`` epochs apart merged."""
    rem = np.concatenate(([False], stages[first:] == int(Stage.REM), [False])).astype(np.int8)
    edges = np.diff(rem)
    starts, ends = np.flatnonzero(edges == 1) + first, np.flatnonzero(edges == -1) + first
    periods: list[tuple[int, int]] = []
    for start, end in zip(starts.tolist(), ends.tolist()):
        if periods and start - periods[-1][1] < min_gap:
            periods[-1] = (periods[-1][0], end)
        else:
            periods.append((start, end))
    return periods
