"""Sleep stages and the :class:`Hypnogram` that carries them between pipeline stages.

Stage codes follow YASA's integer convention (W=0, N1=1, N2=2, N3=3, REM=4, artefact=-1,
unscored=-2) so hypnograms pass to and from YASA without translation.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from .errors import param_error

__all__ = ["Stage", "Hypnogram", "parse_stages", "stage_names"]


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

    def with_stages(self, stages: np.ndarray) -> "Hypnogram":
        """A copy with other stages (same epoch length, offset and source)."""
        return Hypnogram(stages, self.epoch_length, self.offset, self.source, self.path)
