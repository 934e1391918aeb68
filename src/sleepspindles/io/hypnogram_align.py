"""Placing a scored hypnogram on a signal: its start (another file's clock) and its length."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from ..errors import file_error, param_error
from ..hypnogram import Hypnogram, Stage

__all__ = ["align_hypnogram", "delayed"]

logger = logging.getLogger(__name__)


def delayed(hyp: Hypnogram, delay: float, path: Path, duration: float) -> Hypnogram:
    """``hyp`` moved ``delay`` seconds later (earlier when negative); epochs before 0 s are dropped.

    Clocks that put the hypnogram wholly outside the signal's ``duration`` seconds are not
    comparable (a default or anonymised start time): ``hyp`` is then left at the signal's start.
    """
    if abs(delay) < 1e-3:
        return hyp
    first = hyp.offset + delay  # the first epoch's start on the signal's clock
    if not (first < duration and first + hyp.n_epochs * hyp.epoch_length > 0):
        logger.warning("%s: the hypnogram file's start time is %g s %s the recording's, so they would not "
                       "overlap: start times ignored, stages placed from the recording's start", path,
                       abs(delay), "after" if delay > 0 else "before")
        return hyp
    logger.warning("%s: the hypnogram file starts %g s %s the recording (their EDF start times): its stages "
                   "are placed there", path, abs(delay), "after" if delay > 0 else "before")
    n_drop = max(0, math.ceil(-first / hyp.epoch_length - 1e-6))
    return Hypnogram(hyp.stages[n_drop:], hyp.epoch_length, first + n_drop * hyp.epoch_length, hyp.source, hyp.path)


def align_hypnogram(hyp: Hypnogram, signal_duration: float, path: str | Path | None = None) -> Hypnogram:
    """Fit a hypnogram to a signal of ``signal_duration`` seconds.

    Epochs past the end of the signal that are all ``UNSCORED`` are dropped silently: Sleep-EDF
    hypnograms routinely end with a long ``Sleep stage ?`` stretch after the PSG stops, which
    is not a mismatch. Then the scored part must end within one epoch of the signal's end:
    the last epochs are trimmed to the whole epochs that fit in the signal, or padded with
    ``UNSCORED`` up to them, with a warning. A larger difference is an error.

    Parameters
    ----------
    hyp : Hypnogram
        The hypnogram (its ``offset`` counts: epochs start at ``offset`` seconds).
    signal_duration : float
        Length of the signal in seconds.
    path : str or Path, optional
        The hypnogram file, for messages.

    Returns
    -------
    Hypnogram

    Raises
    ------
    DataError
        When the hypnogram is longer or shorter than the signal by more than one epoch (the
        message states both lengths in seconds).
    ConfigError
        A negative or non-finite ``signal_duration``.
    """
    real = isinstance(signal_duration, (int, float, np.number))
    if not (real and np.isfinite(signal_duration) and signal_duration >= 0):
        raise param_error("duration", "a non-negative number of seconds", signal_duration)
    where = path if path is not None else hyp.path
    length = hyp.epoch_length
    kept, n_fit = hyp.epochs_on(signal_duration)
    if kept < hyp.n_epochs:
        logger.info("%s: dropping %d unscored epochs past the signal's end", where, hyp.n_epochs - kept)
    stages = hyp.stages[:kept]
    end = hyp.offset + stages.size * length
    if not hyp.matches(signal_duration):
        raise file_error(
            where,
            f"the hypnogram covers {end:g} s ({stages.size} epochs of {length:g} s from "
            f"{hyp.offset:g} s) but the signal lasts {signal_duration:g} s: they differ by more "
            "than one epoch (wrong hypnogram file, or epoch length: load.hypnogram_epoch, --hypnogram-epoch)",
        )
    if stages.size != n_fit:
        verb = "trimmed" if stages.size > n_fit else "padded with UNSCORED"
        logger.warning("%s: hypnogram of %d epochs (%g s) %s to %d epochs to fit the %g s signal",
                       where, stages.size, end, verb, n_fit, signal_duration)
        fitted = np.full(n_fit, Stage.UNSCORED, dtype=np.int8)
        keep = min(n_fit, stages.size)
        fitted[:keep] = stages[:keep]
        stages = fitted
    if stages.size == hyp.n_epochs:
        return hyp
    return Hypnogram(stages, length, hyp.offset, hyp.source, hyp.path)
