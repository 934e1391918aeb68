"""The DREAMS Sleep Spindles database layout (Devuyst et al., University of Mons).

Files of excerpt ``N`` in one folder:

- ``excerptN.txt``: first line ``[C3-A1]`` (the derivation), then one sample per line in
  microvolts. The sampling rate is not in the file; the database documents it per excerpt
  (:data:`DREAMS_SAMPLING_RATES`). ``excerptN.edf`` holds the same data and loads through the
  normal EDF loader.
- ``Visual_scoring1_excerptN.txt``, ``Visual_scoring2_excerptN.txt`` (the two experts) and
  ``Automatic_detection_excerptN.txt`` (the database authors' detector): first line
  ``[vis1_Spindles/C3-A1]``, then ``start duration`` in seconds per spindle.
- ``Hypnogram_excerptN.txt``: Rechtschaffen & Kales stages per 5 s, read by
  :func:`sleepspindles.io.hypnogram.read_hypnogram` with ``format="dreams"``.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import file_error, param_error
from ..hypnogram import Hypnogram
from ..recording import Recording, check_signal
from .channels import ChannelLabel, normalise_channel
from .hypnogram import read_hypnogram

__all__ = [
    "DREAMS_SAMPLING_RATES",
    "EXPERT1_SCORED_SECONDS",
    "DreamsExcerpt",
    "read_dreams_signal",
    "read_dreams_scoring",
    "load_dreams_excerpt",
    "excerpt_number",
]

#: Sampling rate in Hz of each excerpt of the DREAMS Sleep Spindles database (from its documentation).
DREAMS_SAMPLING_RATES: dict[int, float] = {1: 100.0, 2: 200.0, 3: 50.0, 4: 200.0}

#: Expert 1 scored only the first 1000 s of each excerpt. Evidence (the files, excerpts 1-4): the
#: last expert-1 spindle ends at 993.4, 957.4, 986.9 and 879.2 s, while expert 2 marks 72 of 115,
#: 12 of 52, 27 of 44 and 16 of 25 spindles after 1000 s, and the database's automatic detector
#: also finds many there. Its silence after 1000 s is "not scored", not "no spindle".
EXPERT1_SCORED_SECONDS = 1000.0
_SCORERS = ("expert1", "expert2", "automatic", "union", "intersection")

_HEADER = re.compile(r"^\[(?P<label>[^\]]*)\]\s*$")
_EXCERPT = re.compile(r"excerpt(?P<n>\d+)\.txt$", re.IGNORECASE)
_SCORING_COLUMNS = ("start", "end", "duration")
_SCALE = "DREAMS text file: values read as microvolts, unscaled"


@dataclass(frozen=True, eq=False)
class DreamsExcerpt:
    """One excerpt of the database with everything scored on it.

    Attributes
    ----------
    number : int
        Excerpt number.
    recording : Recording
        The single EEG channel, carrying :attr:`hypnogram`.
    hypnogram : Hypnogram or None
        5 s R&K stages mapped to AASM codes; ``None`` when the folder has no hypnogram file.
    expert1, expert2, automatic : pandas.DataFrame or None
        Spindles of expert 1, expert 2 and the database's automatic detector (``start``, ``end``,
        ``duration``, ``channel``). ``None`` means the folder has no such file, which differs
        from an empty table (a scorer who found no spindle). Each covers only its
        :meth:`scored_window` (expert 1: the first 1000 s).
    """

    number: int
    recording: Recording
    hypnogram: Hypnogram | None
    expert1: pd.DataFrame | None
    expert2: pd.DataFrame | None
    automatic: pd.DataFrame | None

    def scored_window(self, scorer: str) -> tuple[float, float]:
        """The interval ``[start, end)`` in seconds that ``scorer`` scored.

        Parameters
        ----------
        scorer : {"expert1", "expert2", "automatic", "union", "intersection"}
            Expert 1 scored the first :data:`EXPERT1_SCORED_SECONDS` (1000 s; see that constant
            for the evidence); expert 2 and the automatic detector the whole excerpt. A union or
            intersection of the two experts is only complete where both scored: the intersection
            of their windows, ``[0, 1000)``.

        Returns
        -------
        (float, float)
            For :func:`sleepspindles.evaluation.scoring.evaluate`'s ``window``.
        """
        if scorer not in _SCORERS:
            raise param_error("scorer", f"one of {list(_SCORERS)}", scorer)
        whole = (0.0, float(self.recording.duration))
        if scorer in ("expert2", "automatic"):
            return whole
        return (0.0, min(EXPERT1_SCORED_SECONDS, whole[1]))


def excerpt_number(path: str | Path) -> int | None:
    """The excerpt number in a DREAMS file name (``excerpt3.txt`` -> 3), or ``None``."""
    match = _EXCERPT.search(Path(path).name)
    return int(match["n"]) if match else None


def _read_header(path: Path, kind: str) -> tuple[str, list[str]]:
    """The bracketed first line's label and the remaining lines of a DREAMS text file."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        raise file_error(path, f"DREAMS {kind} file not found") from None
    except OSError as exc:
        raise file_error(path, f"cannot read DREAMS {kind} file ({exc.strerror})") from None
    match = _HEADER.match(lines[0].strip()) if lines else None
    if match is None:
        first = lines[0][:40] if lines else ""
        raise file_error(path, f"not a DREAMS {kind} file: the first line must be a label in square "
                               f"brackets such as [C3-A1]; got {first!r}")
    return match["label"].strip(), lines[1:]


def _channel(label: str) -> ChannelLabel:
    """The parsed DREAMS derivation label (``C3-A1`` -> C3 against A1)."""
    return normalise_channel(label)


def read_dreams_signal(path: str | Path, sf: float | None = None) -> Recording:
    """Read an ``excerptN.txt`` signal.

    Parameters
    ----------
    path : str or Path
        The text file: ``[C3-A1]`` then one sample (microvolts) per line.
    sf : float, optional
        Sampling rate in Hz. By default it is taken from :data:`DREAMS_SAMPLING_RATES` by the
        excerpt number in the file name; required for other names or excerpts.

    Returns
    -------
    Recording
        One EEG channel with its canonical name (``"C3"``), the label as written
        (``"C3-A1"``) and the reference (``"A1"``).

    Raises
    ------
    DataError
        Missing or malformed file, or a signal that cannot be measured (all NaN, flat, or an
        EEG amplitude not plausible in microvolts): with a single channel nothing is left, so
        it is not dropped as :func:`~sleepspindles.io.load_recording` would, but refused.
    """
    path = Path(path)
    if sf is None:
        number = excerpt_number(path)
        if number not in DREAMS_SAMPLING_RATES:
            raise file_error(
                path,
                "the sampling rate is not in DREAMS text files and this name is not one of the "
                f"documented excerpts {sorted(DREAMS_SAMPLING_RATES)}: pass sf",
            )
        sf = DREAMS_SAMPLING_RATES[number]
    elif not (np.isfinite(sf) and sf > 0):
        raise param_error("sf", "a positive sampling rate in Hz", sf)
    label, lines = _read_header(path, "signal")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "input contained no data": handled below
            data = np.loadtxt(lines, dtype=np.float64, ndmin=1)
    except ValueError as exc:
        raise file_error(path, f"not a DREAMS signal file: {exc} (after the header line)") from None
    if data.ndim != 1:
        raise file_error(path, f"expected one sample per line; found {data.shape[1]} columns "
                               "(is this a scoring file? use read_dreams_scoring)")
    if data.size == 0:
        raise file_error(path, "no samples after the header line")
    channel = _channel(label)
    # The database holds EEG; an unrecognised label is kept as written and treated as EEG.
    kind = channel.kind if channel.kind in ("eeg", "eog", "emg") else "eeg"
    # The file's only channel: unusable means nothing is left to analyse, so it is an error.
    check_signal(data[np.newaxis, :], (channel.name,), str(path), kinds=(kind,), scales=(_SCALE,))
    return Recording(
        data=data[np.newaxis, :],
        sf=float(sf),
        channels=(channel.name,),
        original_names=(label,),
        references=(channel.reference,),
        kinds=(kind,),
        source=str(path),
    )


def read_dreams_scoring(path: str | Path) -> pd.DataFrame:
    """Read a DREAMS scoring (expert or automatic) as an events-like table.

    Parameters
    ----------
    path : str or Path
        ``[vis1_Spindles/C3-A1]`` then ``start duration`` (seconds) per line.

    Returns
    -------
    pandas.DataFrame
        ``start``, ``end``, ``duration`` in seconds sorted by start, plus ``channel`` (canonical
        name) when the header names the derivation. Empty (with those columns) when the file
        lists no spindle.
    """
    path = Path(path)
    label, lines = _read_header(path, "scoring")
    rows = []
    for lineno, line in enumerate(lines, start=2):
        fields = line.split()
        if not fields:
            continue
        try:
            start, duration = (float(v) for v in fields)
        except ValueError:
            hint = " (one value per line: a DREAMS signal or hypnogram, not a scoring)" if len(fields) == 1 else ""
            raise file_error(
                path, f"line {lineno}: expected 'start duration' in seconds; got {line.strip()!r}{hint}"
            ) from None
        if not (np.isfinite(start) and np.isfinite(duration) and start >= 0 and duration > 0):
            raise file_error(path, f"line {lineno}: start must be >= 0 and duration > 0; got {line.strip()!r}")
        rows.append((start, start + duration, duration))
    frame = pd.DataFrame(np.array(rows, dtype=np.float64).reshape(-1, 3), columns=list(_SCORING_COLUMNS))
    if "/" in label:
        name = _channel(label.split("/", 1)[1]).name
        frame.insert(0, "channel", pd.Series([name] * len(frame), dtype=object))
    return frame.sort_values("start", kind="stable").reset_index(drop=True)


def load_dreams_excerpt(folder: str | Path, n: int, sf: float | None = None) -> DreamsExcerpt:
    """Read excerpt ``n`` of a DREAMS Sleep Spindles folder: signal, hypnogram and scorings.

    Parameters
    ----------
    folder : str or Path
        The folder holding ``excerptN.txt`` and its companion files.
    n : int
        Excerpt number.
    sf : float, optional
        Sampling rate in Hz (default: the database's documented rate for ``n``).

    Returns
    -------
    DreamsExcerpt
        Files other than the signal are optional (``None`` when absent).
    """
    folder = Path(folder)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise param_error("n", "a positive excerpt number", n)
    recording = read_dreams_signal(folder / f"excerpt{n}.txt", sf=sf)
    hyp_path = folder / f"Hypnogram_excerpt{n}.txt"
    hypnogram = (
        read_hypnogram(hyp_path, format="dreams", duration=recording.duration) if hyp_path.is_file() else None
    )

    def optional(name: str) -> pd.DataFrame | None:
        p = folder / name
        return read_dreams_scoring(p) if p.is_file() else None

    return DreamsExcerpt(
        number=int(n),
        recording=recording.with_hypnogram(hypnogram),
        hypnogram=hypnogram,
        expert1=optional(f"Visual_scoring1_excerpt{n}.txt"),
        expert2=optional(f"Visual_scoring2_excerpt{n}.txt"),
        automatic=optional(f"Automatic_detection_excerpt{n}.txt"),
    )
