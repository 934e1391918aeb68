"""Readers: the only package that opens input files.

:func:`load_recording` reads EDF/EDF+/BDF polysomnography into a
:class:`~sleepspindles.recording.Recording`; :func:`read_hypnogram` reads scored hypnograms.
"""

from __future__ import annotations

from .edf import load_recording
from .hypnogram import align_hypnogram, read_hypnogram

__all__ = ["load_recording", "read_hypnogram", "align_hypnogram"]
