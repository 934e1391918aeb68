"""Read the samples of an EDF/BDF file directly, any channel group over any span of time.

:class:`EdfSource` turns the planned channels of a file (each a weighted sum of file signals:
as recorded, linked mastoids, average reference; :func:`~sleepspindles.io.channels.plan_channels`)
into microvolts on demand: :meth:`EdfSource.read` reads only the data records covering the span
asked for, takes the needed signals out of them, scales digital values to physical ones with the
header's ranges and derives the channels. So a night never needs to be in memory as a whole: the
detection streams it block by block and channel group by channel group, and peak memory is set
by the block and group sizes, not by the number of channels or hours. Reading the whole span once
gives the in-memory recording, with exactly the same values.

Every planned signal must share one sampling rate (the loader falls back to mne's resampling
reader otherwise). No signal is ever written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import file_error
from .channels import Derivation, apply_plan
from .edf_header import EdfHeader, Segment

__all__ = ["EdfSource", "microvolts_per_unit"]

# Physical units -> factor to microvolts (case-insensitive: DREAMS writes "UV" and "MV").
_TO_MICROVOLT = {"uv": 1.0, "\u00b5v": 1.0, "\u03bcv": 1.0, "\x83\xcav": 1.0, "nv": 1e-3,
                 "mv": 1e3, "v": 1e6}  # fmt: skip


def microvolts_per_unit(unit: str) -> float | None:
    """Microvolts per unit of physical dimension ``unit`` (blank: microvolts); None if not a voltage."""
    key = unit.strip().lower()
    return 1.0 if key == "" else _TO_MICROVOLT.get(key)


@dataclass(frozen=True)
class EdfSource:
    """The planned channels of an EDF/BDF file, read on demand in microvolts.

    Behaves as a read-only (channels x samples) array for the pipeline: ``shape``, ``dtype``,
    ``nbytes`` (bytes held in memory: none) and :meth:`read`.

    Attributes
    ----------
    path : Path
    header : EdfHeader
    segment : Segment
        The data records kept (all of them, or the longest continuous run of an EDF+D file).
    plan : tuple of Derivation
        The channels, in order; their ``terms`` index file signals.
    """

    path: Path
    header: EdfHeader
    segment: Segment
    plan: tuple[Derivation, ...]

    def __post_init__(self) -> None:
        signals = {i for d in self.plan for i, _ in d.terms}
        rates = {self.header.samples_per_record[i] for i in signals}
        if len(rates) != 1:
            raise ValueError(f"planned signals at {len(rates)} sampling rates; an EdfSource needs one")

    @property
    def per_record(self) -> int:
        """Samples of each planned signal in one data record."""
        return self.header.samples_per_record[self.plan[0].terms[0][0]]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.plan), (self.segment.stop - self.segment.first) * self.per_record

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float64)

    @property
    def nbytes(self) -> int:
        """Bytes of samples held in memory: none (they stay in the file)."""
        return 0

    @property
    def ndim(self) -> int:
        return 2

    def pick(self, rows: Sequence[int]) -> EdfSource:
        """The source of the channels ``rows`` only."""
        return replace(self, plan=tuple(self.plan[r] for r in rows))

    def _calibration(self, signal: int) -> tuple[float, float]:
        """``(gain, offset)``: microvolts = digital * gain + offset for file signal ``signal``."""
        h = self.header
        cal = (h.physical_max[signal] - h.physical_min[signal]) / (h.digital_max[signal] - h.digital_min[signal])
        factor = microvolts_per_unit(h.units[signal])
        return cal * factor, (h.physical_min[signal] - h.digital_min[signal] * cal) * factor

    def _records(self, first: int, stop: int) -> np.ndarray:
        """Data records ``[first, stop)`` of the kept segment, mapped from the file, not read.

        (n_records, values per record) ``<i2`` for EDF, (n_records, bytes per record) bytes for
        BDF. Only the pages a caller touches are read: one signal of a 64-signal file costs a
        sixteenth of the file, not all of it.
        """
        h = self.header
        count = stop - first
        offset = h.header_bytes + (self.segment.first + first) * h.record_bytes
        dtype, width = (np.uint8, h.record_bytes) if h.bdf else (np.dtype("<i2"), h.record_bytes // 2)
        try:
            return np.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=(count, width))
        except OSError as exc:
            raise file_error(self.path, f"cannot read the signals ({exc.strerror})") from None
        except ValueError:  # mmap longer than the file
            raise file_error(self.path, "the file became shorter while it was being read") from None

    def _digital(self, records: np.ndarray, index: int) -> np.ndarray:
        """Digital values of file signal ``index`` in ``records`` (n_records, samples per record)."""
        spr = self.per_record
        first = int(np.sum(self.header.samples_per_record[:index]))
        if not self.header.bdf:
            return records[:, first : first + spr]
        b = records[:, 3 * first : 3 * (first + spr)].reshape(records.shape[0], spr, 3).astype(np.int32)
        value = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
        return np.where(value >= 1 << 23, value - (1 << 24), value)

    def signals(self, indices: Sequence[int], start: int, stop: int) -> np.ndarray:
        """File signals ``indices`` over samples ``[start, stop)``, in microvolts (float64).

        Only the data records covering the span, and of them only these signals, are read.
        """
        n = self.shape[1]
        start, stop = max(int(start), 0), min(int(stop), n)
        out = np.empty((len(indices), max(stop - start, 0)), dtype=np.float64)
        if stop <= start:
            return out
        spr = self.per_record
        first, last = start // spr, -(-stop // spr)
        records = self._records(first, last)
        head, count = start - first * spr, last - first
        whole = head == 0 and stop - start == count * spr
        buffer = None if whole else np.empty((count, spr))
        for k, index in enumerate(indices):
            gain, shift = self._calibration(index)
            # In place, no temporaries: fresh memory costs page faults, a large share of the time.
            target = out[k].reshape(count, spr) if whole else buffer
            np.multiply(self._digital(records, index), gain, out=target)
            target += shift
            if not whole:
                out[k] = buffer.reshape(-1)[head : head + stop - start]
        return out

    def read(self, rows: Sequence[int], start: int, stop: int) -> np.ndarray:
        """Channels ``rows`` over samples ``[start, stop)``, in microvolts (float64, rows x samples).

        The file signals the derivations need are read once (:meth:`signals`) and combined by
        :func:`~sleepspindles.io.channels.apply_plan`: the same arithmetic as for a recording
        loaded into memory, so both give identical values.
        """
        plan = [self.plan[r] for r in rows]
        indices = sorted({i for d in plan for i, _ in d.terms})
        return apply_plan(self.signals(indices, start, stop), indices, plan)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Every sample in memory (what ``np.asarray`` gives): the in-memory recording."""
        data = self.read(range(self.shape[0]), 0, self.shape[1])
        return data if dtype is None else data.astype(dtype)
