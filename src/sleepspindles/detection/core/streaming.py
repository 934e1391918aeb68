"""A night streamed in overlapping blocks, filtered at a fixed internal rate: what every engine shares.

Every channel is brought to an internal rate (a multiple of 100 Hz, 100 Hz for a 1-30 Hz
broadband) *inside the filtering FFT*: one forward FFT of a native-rate block, a product with
FIR responses designed at the internal rate, an inverse FFT at the internal rate. So the same
continuous signal gives the same events at 100, 128, 200, 256 or 512 Hz, and the work after
the first FFT does not grow with the sampling rate. The filters are MNE's zero-phase FIRs
(firwin, Hamming), as ``mne.filter.filter_data`` and YASA build them.

The night is cut into blocks of about ``block_seconds``; each block's *core* is the part it
owns, its *margins* feed the filters and the engine's windows (the engine says how much context
it needs). Engines use this module through its public names:

* :class:`StreamSpec` (what an engine asks for) and :func:`make_plan` -> :class:`Plan`;
* :func:`spectrum` (a block's first FFT, which an engine may keep between passes within
  :func:`cache_share` / :func:`cache_room`) and :func:`block` (the filtered signals);
* :func:`included` (samples inside the night and the searched stages);
* :class:`Work` (one set of block buffers per channel group, reused: freed multi-megabyte
  arrays would come back as fresh pages whose faults cost as much as the FFTs);
* :func:`run_groups` (channel groups in threads; numba kernels release the GIL).

No I/O and no engine logic here.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import scipy.fft as sfft

from ...errors import param_error
from ...hypnogram import Hypnogram, parse_stages
from ...recording import is_source, read_span
from . import kernels
from .filters import band_pass_fir

__all__ = [
    "StreamSpec",
    "Plan",
    "Work",
    "Spectrum",
    "Block",
    "internal_rate",
    "make_plan",
    "included",
    "spectrum",
    "block",
    "cache_share",
    "cache_room",
    "channel_groups",
    "run_groups",
    "stage_codes",
]

_BASE_RATE = 100  # internal sampling rate (Hz) for bands up to 40 Hz
_MAX_BATCH = 16  # channels per batched FFT (bounds block memory for 64-channel nights)
# Pass-1 spectra kept for pass 2, at most this fraction of the raw data's bytes (the memory
# budget is 1.5x the raw data plus 300 MB; at 256 Hz a whole night's spectra take about 0.2x).
_CACHE_FRACTION = 0.3


def internal_rate(top_hz: float) -> int:
    """Internal rate (Hz): a multiple of 100 with Nyquist above the highest filter edge."""
    return int(_BASE_RATE * max(1, math.ceil(2.5 * top_hz / _BASE_RATE)))


@dataclass(frozen=True)
class StreamSpec:
    """What an engine asks of the stream.

    Attributes
    ----------
    rate : int
        Internal rate (:func:`internal_rate` of the highest filter edge).
    band : (float, float)
        The narrow band (sigma, or the slow-oscillation band), Hz.
    band_transition : (float, float)
        Its lower and upper transition bandwidths, Hz.
    broadband : (float, float) or None
        A broadband signal's band (already below Nyquist), with MNE's automatic transitions
        at the *native* rate ``sf`` (as YASA gets them); ``None`` when the engine needs none.
    context : int
        Internal samples of context the engine needs on each side of a block core beyond the
        filters (its windows, merging, the longest event).
    block_seconds : float
        Core length of a block.
    flat_seconds : float
        Runs of identical samples at least this long are unusable.
    summed_rate : float or None
        For a narrow band far below the native Nyquist (slow oscillations): the native samples
        may be summed in groups of ``D`` before the first FFT, ``D`` the largest divisor of the
        block grid with ``sf / D >= summed_rate``; the groups' boxcar response is divided out of
        the band's. The first FFT then costs ``D`` times less. Only frequencies within the band's
        reach of a multiple of ``sf / D`` alias into it, attenuated by the boxcar (by at least
        24 dB for a band edge below ``sf / D / 25``, 26.8 dB for ``D >= 4``; a mains frequency at
        such a multiple is nulled). ``None`` (the default): the whole native spectrum is used.
    """

    rate: int
    band: tuple[float, float]
    band_transition: tuple[float, float]
    broadband: tuple[float, float] | None
    context: int
    block_seconds: float
    flat_seconds: float
    summed_rate: float | None = None


@dataclass(frozen=True)
class Plan:
    """Everything fixed for one recording length and rate: grids, blocks and filter responses."""

    sf: float
    rate: int
    p: int  # native samples per q internal samples
    q: int
    group: int  # native samples summed before the first FFT (StreamSpec.summed_rate), 1 for none
    n_nat: int
    n_int: int
    l_nat: int  # native samples per block (core and margins)
    l_int: int
    margin: int  # internal samples of context on each side of a block core
    hop: int  # internal samples per block core
    # Real responses stored as complex64: spectrum products then need no mixed-type casting.
    h_band: np.ndarray  # narrow band at the block's FFT bins, scaled for the inverse FFT, doubled (analytic)
    h_band_real: np.ndarray  # idem, not doubled (the real band signal)
    h_broad: np.ndarray | None  # broadband response, or None
    nat_lo: np.ndarray  # native neighbours of each internal sample (for exclusion masks)
    nat_hi: np.ndarray
    flat_len: int

    @property
    def n_blocks(self) -> int:
        """Number of blocks covering the night."""
        return max(1, -(-self.n_int // self.hop))

    def core(self, k: int) -> tuple[int, int]:
        """Global internal samples ``[c0, c1)`` that block ``k`` owns."""
        c0 = k * self.hop
        return c0, c0 + min(self.hop, self.n_int - c0)


@lru_cache(maxsize=16)
def _fir(rate: int, lo: float, hi: float, l_trans: float, h_trans: float) -> np.ndarray:
    """MNE's zero-phase FIR (firwin, Hamming, automatic length), as ``filter_data`` builds it."""
    return band_pass_fir(float(rate), lo, hi, l_trans, h_trans)


def _auto_trans(lo: float, hi: float, sf: float) -> tuple[float, float]:
    """MNE's automatic transition bands for a band-pass at the *native* rate ``sf``."""
    return min(max(0.25 * lo, 2.0), lo), min(max(0.25 * hi, 2.0), sf / 2.0 - hi)


def _response(h: np.ndarray, l_int: int, n_bins: int) -> np.ndarray:
    """Real response of a symmetric FIR at the first ``n_bins`` bins of an ``l_int``-point DFT."""
    half = h.size // 2
    wrapped = np.zeros(l_int)
    wrapped[: half + 1] = h[half:]
    wrapped[l_int - half :] = h[:half]
    return np.fft.rfft(wrapped)[:n_bins].real


def _group(sf: float, unit_nat: int, summed_rate: float | None) -> int:
    """Native samples summed per group: the largest divisor of ``unit_nat`` keeping ``sf / D >= summed_rate``."""
    if summed_rate is None:
        return 1
    return max(d for d in range(1, max(int(sf // summed_rate), 1) + 1) if unit_nat % d == 0)


def _group_gain(group: int, l_nat: int, n_bins: int) -> np.ndarray:
    """Per bin, the spectrum of ``group``-sample sums over the native spectrum: ``mean(exp(2j pi m r / l_nat))``.

    The DFT of the sums of an ``l_nat``-sample segment at bin ``m`` is the native DFT times
    this, for a signal with nothing at the aliased frequencies; it does not vanish below the
    summed Nyquist frequency.
    """
    m = np.arange(n_bins)[:, None]
    return np.exp(2j * np.pi * m * np.arange(group) / l_nat).mean(axis=1)


def _smooth5(n: int) -> int:
    """Smallest 2-3-5-smooth integer >= n (pocketfft is fastest on those lengths)."""
    while True:
        m = n
        for f in (2, 3, 5):
            while m % f == 0:
                m //= f
        if m == 1:
            return n
        n += 1


def make_plan(sf: float, n_nat: int, spec: StreamSpec) -> Plan:
    """The blocks and filters for ``n_nat`` native samples at ``sf`` Hz.

    Raises
    ------
    ConfigError
        When ``sf`` is not a rate with at most 3 decimals (resample first).
    """
    rate = spec.rate
    if spec.summed_rate is not None and spec.broadband is not None:
        raise param_error("summed_rate", "None for a stream with a broadband signal (it needs every native bin)",
                          spec.summed_rate)
    frac = Fraction(sf).limit_denominator(1000)
    if abs(float(frac) - sf) > 1e-9 * sf:
        raise param_error("sf", "a sampling rate with at most 3 decimals (resample first)", sf)
    ratio = frac / rate
    p, q = ratio.numerator, ratio.denominator
    h_n = _fir(rate, spec.band[0], spec.band[1], *spec.band_transition)
    h_b = None
    if spec.broadband is not None:
        lo, hi = spec.broadband
        h_b = _fir(rate, lo, hi, *_auto_trans(lo, hi, sf))  # transitions as at the native rate
    # Block starts fall on a native sample and on a 0.2 s grid (the fast engine's STFT frames),
    # so every block sees the same frame and window grid.
    unit_int = math.lcm(q, rate // 5)
    unit_nat = unit_int * p // q
    context = max(h_n.size, 0 if h_b is None else h_b.size) // 2 + spec.context
    margin_s = max(context / rate, spec.flat_seconds + 0.5)
    margin = unit_int * math.ceil(margin_s * rate / unit_int)
    n_int = -(-n_nat * q // p)
    wanted = min(spec.block_seconds * rate, n_int + unit_int) + 2 * margin
    n_units = _smooth5(math.ceil(wanted / unit_int))
    l_int, l_nat = n_units * unit_int, n_units * unit_nat
    group = _group(sf, unit_nat, spec.summed_rate)
    n_bins = min(l_int, l_nat // group) // 2 + 1
    scale = l_int / l_nat
    band_real = scale * _response(h_n, l_int, n_bins) / (_group_gain(group, l_nat, n_bins) if group > 1 else 1)
    analytic = 2 * band_real
    analytic[0] /= 2
    pos = np.arange(l_int) * p / q
    return Plan(
        sf=sf, rate=rate, p=p, q=q, group=group, n_nat=n_nat, n_int=n_int, l_nat=l_nat, l_int=l_int, margin=margin,
        hop=l_int - 2 * margin, h_band=analytic.astype(np.complex64), h_band_real=band_real.astype(np.complex64),
        h_broad=None if h_b is None else (scale * _response(h_b, l_int, n_bins)).astype(np.complex64),
        nat_lo=np.floor(pos).astype(np.int64), nat_hi=np.minimum(np.ceil(pos), l_nat - 1).astype(np.int64),
        flat_len=max(int(round(spec.flat_seconds * sf)), 2),
    )  # fmt: skip


# --------------------------------------------------------------------------- blocks
@dataclass(frozen=True)
class Work:
    """Buffers of one channel group, reused by every block.

    Freed multi-megabyte temporaries go back to the operating system and come back as fresh
    pages, whose faults cost about as much as the FFTs' arithmetic; one set per group avoids them.
    Arrays handed out from here are overwritten by the next block.
    """

    seg: np.ndarray  # (c, l_nat) float32: native segment
    summed: np.ndarray  # (c, l_nat // group) float32: its sums over groups of plan.group samples
    bad: np.ndarray  # (c, l_nat) bool: its unusable samples
    spec: np.ndarray  # (c, n_bins) complex64: a block's truncated spectrum (when not kept)
    prod: np.ndarray  # (c, n_bins) complex64: spectrum times a filter response
    analytic: np.ndarray  # (c, l_int) complex64: analytic band signal (transformed in place)
    real: np.ndarray  # (c, l_int) float32: real band signal
    broad: np.ndarray  # (c, l_int) float32: broadband signal

    @classmethod
    def new(cls, n_rows: int, plan: Plan) -> Work:
        """Uninitialised buffers (pages are touched only by the buffers used)."""
        n_bins = plan.h_band.size
        return cls(
            seg=np.empty((n_rows, plan.l_nat), np.float32), bad=np.empty((n_rows, plan.l_nat), np.bool_),
            summed=np.empty((n_rows, plan.l_nat // plan.group if plan.group > 1 else 0), np.float32),
            spec=np.empty((n_rows, n_bins), np.complex64), prod=np.empty((n_rows, n_bins), np.complex64),
            analytic=np.empty((n_rows, plan.l_int), np.complex64), real=np.empty((n_rows, plan.l_int), np.float32),
            broad=np.empty((n_rows, plan.l_int), np.float32),
        )  # fmt: skip

    def rows(self, n_rows: int) -> Work:
        """The first ``n_rows`` rows of every buffer (views)."""
        if n_rows == self.seg.shape[0]:
            return self
        return Work(**{f: getattr(self, f)[:n_rows] for f in self.__dataclass_fields__})


@dataclass(frozen=True)
class Spectrum:
    """First FFT of a batch of channels over one block, which an engine may keep between passes."""

    spec: np.ndarray  # (c, n_bins) complex64: native-rate spectrum at the internal rate's bins
    bad: np.ndarray | None  # (c, l_int) bool: unusable internal samples; None when there are none

    def take(self, sel: list[int]) -> Spectrum:
        """The rows ``sel`` (the same object when that is every row)."""
        if sel == list(range(self.spec.shape[0])):
            return self
        return Spectrum(spec=self.spec[sel], bad=None if self.bad is None else self.bad[sel])


@dataclass(frozen=True)
class Block:
    """Filtered signals of a batch of channels over one block (internal rate, local indices)."""

    g0: int  # global internal index of local sample 0
    core: slice  # local samples this block owns
    valid: np.ndarray  # (c, l_int) bool: included stage, finite, not flat, inside the night
    excluded: np.ndarray  # (c,) samples of the core in searched stages but unusable
    band: np.ndarray  # (c, l_int) float32 or complex64 (analytic) narrow-band signal
    broad: np.ndarray | None


def _native_segment(data: np.ndarray, rows: list[int], a: int, plan: Plan, work: Work) -> tuple[np.ndarray, np.ndarray]:
    """Rows of ``data`` over native ``[a, a + l_nat)``, odd-reflected at the night's edges (as MNE).

    Also returns the unusable samples: non-finite (zeroed) or inside a flat run.
    """
    n = plan.n_nat
    lo, hi = max(a, 0), min(a + plan.l_nat, n)
    seg, bad = work.seg, work.bad
    # prepare_rows writes [lo - a, hi - a); only the rest needs clearing.
    seg[:, : lo - a] = 0
    seg[:, hi - a :] = 0
    bad[:, : lo - a] = False
    bad[:, hi - a :] = False
    if is_source(data):  # read only this span of these channels from the file
        kernels.prepare_rows(data.read(rows, lo, hi), np.arange(len(rows)), 0, hi - lo, lo - a, plan.flat_len, seg, bad)
    else:
        kernels.prepare_rows(data, rows, lo, hi, lo - a, plan.flat_len, seg, bad)
    if a < 0 or a + plan.l_nat > n:
        idx = np.arange(a, a + plan.l_nat)
        left = (idx < 0) & (-idx < n)
        right = (idx >= n) & (2 * (n - 1) - idx >= 0)
        for where, src, edge in ((left, -idx[left], 0), (right, 2 * (n - 1) - idx[right], n - 1)):
            if src.size:
                lo_src = int(src.min())
                near = read_span(data, rows, lo_src, int(src.max()) + 1)
                values = 2 * read_span(data, rows, edge, edge + 1) - near[:, src - lo_src]
                seg[:, where] = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return seg, bad


def included(hypnogram: Hypnogram | None, codes: np.ndarray, g0: int, plan: Plan) -> np.ndarray:
    """Internal samples (global ``g0 ..``) inside the night and in the searched stages ``codes``."""
    inside = np.zeros(plan.l_int, dtype=np.bool_)
    lo, hi = max(-g0, 0), min(max(plan.n_int - g0, 0), plan.l_int)
    if hypnogram is None:
        inside[lo:hi] = True
    elif hi > lo:  # block by block: a whole night's per-sample stages would cost more in fresh pages
        inside[lo:hi] = np.isin(hypnogram.stage_at(np.arange(g0 + lo, g0 + hi) / plan.rate), codes)
    return inside


def spectrum(data, rows, k: int, plan: Plan, keep: bool, work: Work | None = None) -> Spectrum:
    """Native segment of block ``k``, its FFT truncated to the internal bins.

    A kept spectrum is a fresh array; otherwise it lives in ``work`` (fresh buffers if None).
    """
    work = (work or Work.new(len(rows), plan)).rows(len(rows))
    g0 = k * plan.hop - plan.margin
    seg, bad_nat = _native_segment(data, rows, g0 * plan.p // plan.q, plan, work)
    if plan.group > 1:
        seg = kernels.sum_groups(seg, plan.group, work.summed)
    full = sfft.rfft(seg, axis=1, workers=1)
    n_bins = plan.h_band.size
    if keep:
        spec = full[:, :n_bins].copy()
    else:
        spec = work.spec
        spec[...] = full[:, :n_bins]
    del full  # freed at once: the next block's transform reuses its memory
    bad = bad_nat[:, plan.nat_lo] | bad_nat[:, plan.nat_hi] if bad_nat.any() else None
    return Spectrum(spec=spec, bad=bad)


def block(
    spec_k: Spectrum, k: int, plan: Plan, include: np.ndarray, *, analytic: bool, broad: bool,
    work: Work | None = None,
) -> Block:
    """Filtered signals of block ``k`` from its spectrum (in ``work``'s buffers; fresh ones if None).

    ``analytic`` gives the complex analytic narrow-band signal (else the real one); ``broad``
    adds the broadband signal (the plan must have one).
    """
    g0 = k * plan.hop - plan.margin
    spec = spec_k.spec
    n_rows, n_bins = spec.shape
    work = (work or Work.new(n_rows, plan)).rows(n_rows)
    c0, c1 = plan.core(k)
    core = slice(plan.margin, plan.margin + c1 - c0)
    if spec_k.bad is None:
        valid = np.broadcast_to(include, (n_rows, plan.l_int))
        excluded = np.zeros(n_rows, dtype=np.int64)
    else:
        valid = include[None, :] & ~spec_k.bad
        excluded = (include[None, core] & spec_k.bad[:, core]).sum(1)
    if analytic:
        band = work.analytic
        np.multiply(spec, plan.h_band, out=band[:, :n_bins])
        band[:, n_bins:] = 0
        sfft.ifft(band, axis=1, overwrite_x=True, workers=1)  # in place (same dtype, contiguous)
    else:
        band = np.fft.irfft(np.multiply(spec, plan.h_band_real, out=work.prod), n=plan.l_int, axis=1, out=work.real)
    wide = None
    if broad:
        wide = np.fft.irfft(np.multiply(spec, plan.h_broad, out=work.prod), n=plan.l_int, axis=1, out=work.broad)
    # Samples outside the night carry no signal (the reflected padding only feeds the filters).
    lo, hi = max(-g0, 0), max(plan.n_int - g0, 0)
    for arr in (band, wide):
        if arr is not None:
            arr[:, :lo] = 0
            arr[:, hi:] = 0
    return Block(g0=g0, core=core, valid=valid, excluded=excluded, band=band, broad=wide)


# --------------------------------------------------------------------------- memory and threads
def cache_share(raw_bytes: int, n_group: int, n_channels: int) -> int:
    """Bytes of first-pass spectra a group of ``n_group`` of ``n_channels`` channels may keep."""
    return int(_CACHE_FRACTION * raw_bytes * n_group / n_channels)


def cache_room(n_kept: int, n_rows: int, plan: Plan, cache_bytes: int) -> bool:
    """Whether one more block's spectrum of ``n_rows`` channels fits in ``cache_bytes``."""
    per_block = n_rows * (plan.h_band.size * 8 + plan.l_int)  # spectrum + a possible mask
    return (n_kept + 1) * per_block <= cache_bytes


def channel_groups(n_channels: int, n_jobs: int) -> list[list[int]]:
    """Channel indices in at most ``n_jobs`` groups of at most 16 (one batched FFT each)."""
    n_groups = max(1, min(n_channels, n_jobs))
    per = min(-(-n_channels // n_groups), _MAX_BATCH)
    return [list(range(a, min(a + per, n_channels))) for a in range(0, n_channels, per)]


def run_groups(n_channels: int, run_group: Callable[[list[int]], object], n_jobs: int) -> list:
    """``run_group`` over channel groups in ``n_jobs`` threads (-1: one per core), results in order."""
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    groups = channel_groups(n_channels, n_jobs)
    if n_jobs > 1 and len(groups) > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            return list(pool.map(run_group, groups))
    return [run_group(g) for g in groups]


def stage_codes(stages: Sequence) -> np.ndarray:
    """Integer codes of stage names, for :func:`included`."""
    return np.array([int(s) for s in parse_stages(stages)])
