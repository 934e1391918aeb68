"""Our spindle engine: YASA's method (Lacourse et al. 2018 family), streamed and compiled.

Method (as ``yasa.spindles_detect``): broadband (``freq_broad``) and sigma (``freq_sp``, 1.5 Hz
transitions) zero-phase FIR filters designed by MNE; three criteria per sample -- relative sigma
power of 2 s Hann STFT frames every 0.2 s, moving correlation of sigma and broadband signals and
moving RMS of the sigma signal (0.3 s windows every 0.1 s, linearly interpolated); the RMS
threshold is ``mean + thresh_rms * trimmed SD`` (10 % cut each side, capped at 10 uV) over the
included samples of the whole night; a ~100 ms moving mean of the vote count must exceed
``n_criteria - 1``; runs closer than ``min_distance`` merge; ``duration[0] < d < duration[1]``.

How it differs in execution (not in method):

* Every channel is first brought to a fixed internal rate (100 Hz, more only for a broadband
  edge above 40 Hz) *inside the filtering FFT*: one forward FFT of a native-rate block, multiply
  by the FIR responses designed at the internal rate, inverse FFT at the internal rate. So the
  same continuous signal gives the same spindles at 100, 128, 200, 256 or 512 Hz (YASA's window
  lengths and STFT bins shift with the rate), and the work after the first FFT does not grow
  with the sampling rate.
* The night is processed in overlapping blocks (``block_seconds``) in two passes: pass 1
  accumulates the RMS statistics in a bounded histogram (:class:`~sleepspindles.detection.core.kernels.TrimmedStats`),
  pass 2 detects. Pass 1 keeps each block's first FFT for pass 2 while they fit in
  ``_CACHE_FRACTION`` of the raw data's size. A block owns the events that *start* in its core;
  its margins cover the filters, windows, merging and longest duration, so results do not depend
  on block edges.
* The relative power (the costliest criterion) is computed only at the STFT frames read by
  soft-vote windows that the other criteria bring within one vote of passing; the vote is the same.
* Channels are processed in batched FFTs, in ``n_jobs`` threads over channel groups (numba
  kernels release the GIL); each channel's result does not depend on its group. Each group
  reuses one set of block buffers (:class:`_Work`): freed multi-megabyte arrays would go back to
  the operating system and return as fresh pages, whose faults cost as much as the FFTs.

Deliberate differences: amplitude is the peak-to-peak of the detrended broadband signal with
parabolic (vertex) interpolation of the two extremes, so it does not shrink at low sampling
rates; NaN samples and flat stretches (``flat_seconds``) are excluded from the threshold and from
detection and reported in ``excluded_seconds``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np
import pandas as pd
import scipy.fft as sfft

from ...config import DetectionConfig
from ...errors import param_error
from ...events import as_events, empty_events
from ...hypnogram import Hypnogram, Stage, parse_stages
from ...recording import Recording
from .. import DetectionResult, stage_names
from ..core import kernels

__all__ = ["detect", "internal_rate", "run_groups", "GroupResult"]

logger = logging.getLogger(__name__)

_BASE_RATE = 100  # internal sampling rate (Hz) for the default 1-30 Hz broadband
_MAX_BATCH = 16  # channels per batched FFT (bounds block memory for 64-channel nights)
_RMS_CAP = 10.0  # uV, YASA's cap on the RMS threshold (artefacts in wake)
_RMS_CUT = 0.10  # trimmed SD: fraction cut at each end
# Pass-1 spectra kept for pass 2, at most this fraction of the raw data's bytes (the memory
# budget is 1.5x the raw data plus 300 MB; at 256 Hz a whole night's spectra take about 0.2x).
_CACHE_FRACTION = 0.3


def internal_rate(freq_broad_hi: float) -> int:
    """Internal rate (Hz): a multiple of 100 with Nyquist above the broadband stop edge."""
    return int(_BASE_RATE * max(1, math.ceil(2.5 * freq_broad_hi / _BASE_RATE)))


@dataclass(frozen=True)
class _Plan:
    """Everything fixed for one (rate, length, config): grids, blocks, filters, windows."""

    sf: float
    rate: int
    p: int  # native samples per q internal samples
    q: int
    n_nat: int
    n_int: int
    l_nat: int
    l_int: int
    margin: int  # internal samples of context on each side of a block core
    hop: int  # internal samples per block core
    # Real responses stored as complex64: spectrum products then need no mixed-type casting.
    h_broad: np.ndarray  # response at the block's FFT bins, scaled for the inverse FFT
    h_sigma: np.ndarray  # idem, doubled (analytic signal) except at 0 Hz
    h_sigma_real: np.ndarray  # idem, not doubled (real sigma signal)
    nat_lo: np.ndarray  # native neighbours of each internal sample (for exclusion masks)
    nat_hi: np.ndarray
    frame_len: int
    frame_step: int
    knot_step: int
    knot_half: int
    soft_w: int
    sig_bins: tuple[int, int]
    broad_bins: tuple[int, int]
    det_left: int
    det_right: int
    min_gap: float
    flat_len: int
    peak_distance: int

    @property
    def n_blocks(self) -> int:
        return max(1, -(-self.n_int // self.hop))


@lru_cache(maxsize=8)
def _fir(rate: int, lo: float, hi: float, l_trans: float, h_trans: float) -> np.ndarray:
    """MNE's zero-phase FIR (firwin, Hamming, automatic length), as ``filter_data`` builds it."""
    from mne.filter import create_filter

    return create_filter(
        None, float(rate), lo, hi, l_trans_bandwidth=l_trans, h_trans_bandwidth=h_trans,
        method="fir", fir_design="firwin", verbose=False,
    )


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


def _make_plan(sf: float, n_nat: int, cfg: DetectionConfig, broad_hi: float) -> _Plan:
    rate = internal_rate(broad_hi)
    frac = Fraction(sf).limit_denominator(1000)
    if abs(float(frac) - sf) > 1e-9 * sf:
        raise param_error("sf", "a sampling rate with at most 3 decimals (resample first)", sf)
    ratio = frac / rate
    p, q = ratio.numerator, ratio.denominator
    # Transition bands as YASA gets them at the native rate (they narrow only near Nyquist).
    h_b = _fir(rate, cfg.freq_broad[0], broad_hi, *_auto_trans(cfg.freq_broad[0], broad_hi, sf))
    h_s = _fir(rate, cfg.freq_sp[0], cfg.freq_sp[1], 1.5, 1.5)
    frame_step, frame_len = rate // 5, 2 * rate
    unit_int = math.lcm(q, frame_step)
    unit_nat = unit_int * p // q
    det_left = math.ceil(cfg.min_distance * rate) + 2
    det_right = math.ceil((cfg.duration[1] + cfg.min_distance) * rate) + 2
    soft_w = max(int(0.1 * rate), 1)
    context = max(h_b.size, h_s.size) // 2 + rate // 2 + frame_len // 2 + 2 * frame_step + rate // 2 + soft_w
    margin_s = max((context + max(det_left, det_right)) / rate, cfg.flat_seconds + 0.5)
    margin = unit_int * math.ceil(margin_s * rate / unit_int)
    n_int = -(-n_nat * q // p)
    wanted = min(cfg.block_seconds * rate, n_int + unit_int) + 2 * margin
    n_units = _smooth5(math.ceil(wanted / unit_int))
    l_int, l_nat = n_units * unit_int, n_units * unit_nat
    n_bins = min(l_int, l_nat) // 2 + 1
    scale = l_int / l_nat
    h_sigma = 2 * scale * _response(h_s, l_int, n_bins)
    h_sigma[0] /= 2
    pos = np.arange(l_int) * p / q
    return _Plan(
        sf=sf, rate=rate, p=p, q=q, n_nat=n_nat, n_int=n_int, l_nat=l_nat, l_int=l_int,
        margin=margin, hop=l_int - 2 * margin,
        h_broad=(scale * _response(h_b, l_int, n_bins)).astype(np.complex64),
        h_sigma=h_sigma.astype(np.complex64), h_sigma_real=(scale * _response(h_s, l_int, n_bins)).astype(np.complex64),
        nat_lo=np.floor(pos).astype(np.int64), nat_hi=np.minimum(np.ceil(pos), l_nat - 1).astype(np.int64),
        frame_len=frame_len, frame_step=frame_step, knot_step=rate // 10, knot_half=math.ceil(0.15 * rate),
        soft_w=soft_w,
        sig_bins=(math.ceil(cfg.freq_sp[0] * 2 - 1e-9), math.floor(cfg.freq_sp[1] * 2 + 1e-9)),
        broad_bins=(math.ceil(cfg.freq_broad[0] * 2 - 1e-9), math.floor(broad_hi * 2 + 1e-9)),
        det_left=det_left, det_right=det_right, min_gap=cfg.min_distance * rate,
        flat_len=max(int(round(cfg.flat_seconds * sf)), 2), peak_distance=math.ceil(0.06 * rate),
    )


# --------------------------------------------------------------------------- one block
@dataclass(frozen=True)
class _Block:
    """Filtered signals of a batch of channels over one block (internal rate, local indices)."""

    g0: int  # global internal index of local sample 0
    core: slice  # local samples this block owns
    valid: np.ndarray  # (c, l_int) bool: included stage, finite, not flat, inside the night
    excluded: np.ndarray  # (c,) samples of the core in searched stages but unusable
    sigma: np.ndarray  # (c, l_int) float32 or complex64 analytic signal
    broad: np.ndarray | None


@dataclass(frozen=True)
class _Work:
    """Buffers of one channel group, reused by every block.

    Freed multi-megabyte temporaries go back to the operating system and come back as fresh
    pages, whose faults cost about as much as the FFTs' arithmetic; one set per group avoids them.
    Arrays handed out from here are overwritten by the next block.
    """

    seg: np.ndarray  # (c, l_nat) float32: native segment
    bad: np.ndarray  # (c, l_nat) bool: its unusable samples
    spec: np.ndarray  # (c, n_bins) complex64: a block's truncated spectrum (when not kept)
    prod: np.ndarray  # (c, n_bins) complex64: spectrum times a filter response
    analytic: np.ndarray  # (c, l_int) complex64: analytic sigma signal (transformed in place)
    real: np.ndarray  # (c, l_int) float32: real sigma (pass 1) or broadband signal (pass 2)

    @classmethod
    def new(cls, n_rows: int, plan: _Plan) -> _Work:
        """Uninitialised buffers (pages are touched only by the buffers used)."""
        n_bins = plan.h_sigma.size
        return cls(
            seg=np.empty((n_rows, plan.l_nat), np.float32), bad=np.empty((n_rows, plan.l_nat), np.bool_),
            spec=np.empty((n_rows, n_bins), np.complex64), prod=np.empty((n_rows, n_bins), np.complex64),
            analytic=np.empty((n_rows, plan.l_int), np.complex64), real=np.empty((n_rows, plan.l_int), np.float32),
        )

    def rows(self, n_rows: int) -> _Work:
        """The first ``n_rows`` rows of every buffer (views)."""
        if n_rows == self.seg.shape[0]:
            return self
        return _Work(**{f: getattr(self, f)[:n_rows] for f in self.__dataclass_fields__})


def _native_segment(data: np.ndarray, rows: list[int], a: int, plan: _Plan, work: _Work) -> tuple[np.ndarray, np.ndarray]:
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
    kernels.prepare_rows(data, rows, lo, hi, lo - a, plan.flat_len, seg, bad)
    if a < 0 or a + plan.l_nat > n:
        idx = np.arange(a, a + plan.l_nat)
        left = (idx < 0) & (-idx < n)
        right = (idx >= n) & (2 * (n - 1) - idx >= 0)
        for where, src, edge in ((left, -idx[left], 0), (right, 2 * (n - 1) - idx[right], n - 1)):
            if src.size:
                lo_src = int(src.min())
                near = data[rows, lo_src : int(src.max()) + 1]
                values = 2 * data[rows, edge : edge + 1] - near[:, src - lo_src]
                seg[:, where] = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
    return seg, bad


def _included(hypnogram: Hypnogram | None, codes: np.ndarray, g0: int, plan: _Plan) -> np.ndarray:
    """Internal samples (global ``g0 ..``) inside the night and in the searched stages."""
    inside = np.zeros(plan.l_int, dtype=np.bool_)
    inside[max(-g0, 0) : max(plan.n_int - g0, 0)] = True
    if hypnogram is None:
        return inside
    idx = np.arange(g0, g0 + plan.l_int)
    return inside & np.isin(_stage_at(hypnogram, idx / plan.rate), codes)


def _stage_at(hypnogram: Hypnogram, t: np.ndarray) -> np.ndarray:
    epoch = np.floor((t - hypnogram.offset) / hypnogram.epoch_length).astype(np.int64)
    ok = (epoch >= 0) & (epoch < hypnogram.n_epochs)
    out = np.full(t.shape, int(Stage.UNSCORED), dtype=np.int8)
    out[ok] = hypnogram.stages[epoch[ok]]
    return out


@dataclass(frozen=True)
class _Spectrum:
    """First FFT of a batch of channels over one block, kept between the two passes."""

    spec: np.ndarray  # (c, n_bins) complex64: native-rate spectrum at the internal rate's bins
    bad: np.ndarray | None  # (c, l_int) bool: unusable internal samples; None when there are none

    def take(self, sel: list[int]) -> _Spectrum:
        """The rows ``sel`` (the same object when that is every row)."""
        if sel == list(range(self.spec.shape[0])):
            return self
        return _Spectrum(spec=self.spec[sel], bad=None if self.bad is None else self.bad[sel])


def _spectrum(data, rows, k: int, plan: _Plan, keep: bool, work: _Work | None = None) -> _Spectrum:
    """Native segment of block ``k``, its FFT truncated to the internal bins.

    A kept spectrum is a fresh array; otherwise it lives in ``work`` (fresh buffers if None).
    """
    work = (work or _Work.new(len(rows), plan)).rows(len(rows))
    g0 = k * plan.hop - plan.margin
    seg, bad_nat = _native_segment(data, rows, g0 * plan.p // plan.q, plan, work)
    full = sfft.rfft(seg, axis=1, workers=1)
    n_bins = plan.h_sigma.size
    if keep:
        spec = full[:, :n_bins].copy()
    else:
        spec = work.spec
        spec[...] = full[:, :n_bins]
    del full  # freed at once: the next block's transform reuses its memory
    bad = bad_nat[:, plan.nat_lo] | bad_nat[:, plan.nat_hi] if bad_nat.any() else None
    return _Spectrum(spec=spec, bad=bad)


def _block(
    spectrum: _Spectrum, k: int, plan: _Plan, include: np.ndarray, with_broad: bool, work: _Work | None = None
) -> _Block:
    """Filtered signals of block ``k`` from its spectrum (in ``work``'s buffers; fresh ones if None)."""
    g0 = k * plan.hop - plan.margin
    spec = spectrum.spec
    n_rows, n_bins = spec.shape
    work = (work or _Work.new(n_rows, plan)).rows(n_rows)
    core = slice(plan.margin, plan.margin + min(plan.hop, plan.n_int - k * plan.hop))
    if spectrum.bad is None:
        valid = np.broadcast_to(include, (n_rows, plan.l_int))
        excluded = np.zeros(n_rows, dtype=np.int64)
    else:
        valid = include[None, :] & ~spectrum.bad
        excluded = (include[None, core] & spectrum.bad[:, core]).sum(1)
    if with_broad:
        sigma = work.analytic
        np.multiply(spec, plan.h_sigma, out=sigma[:, :n_bins])
        sigma[:, n_bins:] = 0
        sfft.ifft(sigma, axis=1, overwrite_x=True, workers=1)  # in place (same dtype, contiguous)
        broad = np.fft.irfft(np.multiply(spec, plan.h_broad, out=work.prod), n=plan.l_int, axis=1, out=work.real)
    else:
        sigma = np.fft.irfft(np.multiply(spec, plan.h_sigma_real, out=work.prod), n=plan.l_int, axis=1, out=work.real)
        broad = None
    # Samples outside the night carry no signal (the reflected padding only feeds the filters).
    lo, hi = max(-g0, 0), max(plan.n_int - g0, 0)
    for arr in (sigma, broad):
        if arr is not None:
            arr[:, :lo] = 0
            arr[:, hi:] = 0
    return _Block(g0=g0, core=core, valid=valid, excluded=excluded, sigma=sigma, broad=broad)


# --------------------------------------------------------------------------- criteria
def _knots(x, y, start: int, stop: int, plan: _Plan) -> tuple[int, np.ndarray, np.ndarray]:
    first = (start // plan.knot_step) * plan.knot_step
    n_knots = (stop - 1 - first) // plan.knot_step + 2
    rms, corr = kernels.moving_rms_corr(x, y, first, plan.knot_step, plan.knot_half, n_knots)
    return first, rms, corr


def _rel_power_votes(count, broad, start: int, stop: int, could, plan: _Plan, threshold: float) -> None:
    """Add the relative-power votes over local ``[start, stop)``, computing only the STFT frames
    that the windows flagged in ``could`` read."""
    half, step = plan.frame_len // 2, plan.frame_step
    f_first = (start - half) // step
    f_last = -(-(stop - half) // step)
    centre0 = f_first * step + half
    need = kernels.frames_needed(could, start - centre0, step, plan.soft_w, f_last - f_first + 1)
    if not need.any():
        return
    ratios = kernels.stft_band_ratio(
        broad[f_first * step : f_last * step + plan.frame_len], plan.frame_len, step, plan.sig_bins,
        plan.broad_bins, need=need,
    )
    kernels.knot_votes(count, ratios, centre0, step, start, threshold)


def _supra(block: _Block, i: int, start: int, stop: int, plan: _Plan, cfg: DetectionConfig, rms_thr: float) -> np.ndarray:
    """YASA's soft vote of the enabled criteria over local ``[start, stop)`` (bool per sample).

    The relative power is the costly criterion and adds at most one vote per sample, so it is
    computed only where the others already bring more than ``n - 2`` votes per sample (of ``n``
    criteria) over the window: elsewhere the window cannot pass whatever it says. The result is
    the full vote's.
    """
    n_crit = sum(t is not None for t in (cfg.thresh_rel_pow, cfg.thresh_corr, cfg.thresh_rms))
    valid = block.valid[i, start:stop]
    count = np.zeros(stop - start, dtype=np.uint8)
    if cfg.thresh_corr is not None or cfg.thresh_rms is not None:
        first, rms, corr = _knots(block.sigma[i].real, block.broad[i], start, stop, plan)
        if cfg.thresh_corr is not None:
            kernels.knot_votes(count, corr, first, plan.knot_step, start, cfg.thresh_corr)
        if cfg.thresh_rms is not None:
            kernels.knot_votes(count, rms, first, plan.knot_step, start, rms_thr)
    if cfg.thresh_rel_pow is not None:
        could = kernels.soft_vote(count, valid, plan.soft_w, n_crit - 2)
        _rel_power_votes(count, block.broad[i], start, stop, could, plan, cfg.thresh_rel_pow)
    return kernels.soft_vote(count, valid, plan.soft_w, n_crit - 1)


# --------------------------------------------------------------------------- passes
def _cache_share(recording: Recording, group: list[int]) -> int:
    """Bytes of pass-1 spectra that channel ``group`` may keep for pass 2."""
    return int(_CACHE_FRACTION * recording.data.nbytes * len(group) / len(recording.channels))


def _cache_room(n_kept: int, n_rows: int, plan: _Plan, cache_bytes: int) -> bool:
    """Whether one more block's spectrum of ``n_rows`` channels fits in ``cache_bytes``."""
    per_block = n_rows * (plan.h_sigma.size * 8 + plan.l_int)  # spectrum + a possible mask
    return (n_kept + 1) * per_block <= cache_bytes


@dataclass(frozen=True)
class _Pass1:
    stats: list[kernels.TrimmedStats]
    spectra: dict[int, _Spectrum]  # block index -> first FFT, kept within the memory budget


def _rms_stats(data, rows, plan: _Plan, hyp, codes, cache_bytes: int, work: _Work) -> _Pass1:
    """Pass 1: moving-RMS statistics over the valid samples of the whole night.

    The blocks' spectra are kept for pass 2 while they fit in ``cache_bytes``.
    """
    stats = [kernels.TrimmedStats() for _ in rows]
    spectra: dict[int, _Spectrum] = {}
    for k in range(plan.n_blocks):
        include = _included(hyp, codes, k * plan.hop - plan.margin, plan)
        if not include[plan.margin : plan.margin + plan.hop].any():
            continue
        keep = _cache_room(len(spectra), len(rows), plan, cache_bytes)
        spectrum = _spectrum(data, rows, k, plan, keep, work)
        if keep:
            spectra[k] = spectrum
        block = _block(spectrum, k, plan, include, with_broad=False, work=work)
        c0, c1 = block.core.start, block.core.stop
        for i, st in enumerate(stats):
            first = (c0 // plan.knot_step) * plan.knot_step
            n_knots = (c1 - 1 - first) // plan.knot_step + 2
            rms = kernels.moving_rms(block.sigma[i], first, plan.knot_step, plan.knot_half, n_knots)
            st.add_knots(rms, first, plan.knot_step, c0, block.valid[i, c0:c1])
    return _Pass1(stats=stats, spectra=spectra)


@dataclass(frozen=True)
class _ChannelEvents:
    start: np.ndarray  # global internal sample of the first sample
    last: np.ndarray
    params: kernels.EventParams


def _block_events(block: _Block, i: int, plan: _Plan, cfg: DetectionConfig, rms_thr: float) -> _ChannelEvents | None:
    c0, c1 = block.core.start, block.core.stop
    d0, d1 = c0 - plan.det_left, c1 + plan.det_right
    supra = _supra(block, i, d0, d1, plan, cfg, rms_thr)
    starts, lasts = kernels.mask_runs(supra)
    starts, lasts = kernels.merge_runs(starts, lasts, plan.min_gap)
    starts, lasts = starts + d0, lasts + d0
    dur = (lasts - starts) / plan.rate
    keep = (dur > cfg.duration[0]) & (dur < cfg.duration[1]) & (starts >= c0) & (starts < c1)
    if not keep.any():
        return None
    starts, lasts = starts[keep], lasts[keep]
    # Only the span of the events is converted for the parameter kernel.
    a, b = int(starts[0]), int(lasts[-1]) + 2
    params = kernels.event_params(
        block.broad[i, a:b], block.sigma[i, a:b], starts - a, lasts - a, plan.rate, plan.peak_distance
    )
    return _ChannelEvents(start=starts + block.g0, last=lasts + block.g0, params=params)


@dataclass(frozen=True)
class GroupResult:
    """What an engine finds on one channel group (see :func:`run_groups`)."""

    events: list[pd.DataFrame]  # one events frame per channel with events
    excluded: dict  # channel name -> excluded seconds
    notes: list[str]


def _run_group(
    data, rows: list[int], names: list[str], plan: _Plan, hyp, codes, cfg: DetectionConfig, cache_bytes: int
) -> GroupResult:
    work = _Work.new(len(rows), plan)
    first = _rms_stats(data, rows, plan, hyp, codes, cache_bytes, work)
    notes, thresholds, live = [], {}, []
    for i, st in enumerate(first.stats):
        if st.n < 2:
            notes.append(f"fast: channel {names[i]} skipped (no usable samples in the searched stages)")
            continue
        thr = st.mean() + (cfg.thresh_rms or 0.0) * st.trimmed_std(_RMS_CUT)
        thresholds[i] = min(thr, _RMS_CAP)
        live.append(i)
    found: dict[int, list[_ChannelEvents]] = {i: [] for i in live}
    excluded = np.zeros(len(rows))
    included = np.zeros(len(rows))
    sub = [rows[i] for i in live]
    for k in range(plan.n_blocks):
        include = _included(hyp, codes, k * plan.hop - plan.margin, plan)
        core_inc = include[plan.margin : plan.margin + min(plan.hop, plan.n_int - k * plan.hop)].sum()
        included += core_inc
        if not core_inc or not sub:
            continue
        kept = first.spectra.pop(k, None)
        spectrum = kept.take(live) if kept is not None else _spectrum(data, sub, k, plan, False, work)
        block = _block(spectrum, k, plan, include, with_broad=True, work=work)
        del kept, spectrum
        for j, i in enumerate(live):
            excluded[i] += block.excluded[j]
            ev = _block_events(block, j, plan, cfg, thresholds[i])
            if ev is not None:
                found[i].append(ev)
    for i in range(len(rows)):
        if i not in found:
            excluded[i] = included[i]
    frames = [_events_frame(names[i], found[i], plan, hyp) for i in live if found[i]]
    return GroupResult(
        events=frames, excluded={names[i]: float(excluded[i] / plan.rate) for i in range(len(rows))}, notes=notes
    )


def _events_frame(name: str, parts: list[_ChannelEvents], plan: _Plan, hyp) -> pd.DataFrame:
    start = np.concatenate([p.start for p in parts]) / plan.rate
    end = np.concatenate([p.last for p in parts]) / plan.rate
    par = {f: np.concatenate([getattr(p.params, f) for p in parts]) for f in kernels.EventParams.__dataclass_fields__}
    peak = start + par["peak"] / plan.rate
    stage = np.full(start.size, int(Stage.UNSCORED)) if hyp is None else _stage_at(hyp, peak)
    return pd.DataFrame(
        {
            "channel": name, "stage": stage_names(stage), "start": start, "peak": peak, "end": end,
            "duration": end - start, "amplitude": par["amplitude"], "rms": par["rms"],
            "frequency": par["frequency"], "oscillations": par["oscillations"], "symmetry": par["symmetry"],
        }
    )


# --------------------------------------------------------------------------- engine
def _groups(n_channels: int, n_jobs: int) -> list[list[int]]:
    n_groups = max(1, min(n_channels, n_jobs))
    per = -(-n_channels // n_groups)
    per = min(per, _MAX_BATCH)
    return [list(range(a, min(a + per, n_channels))) for a in range(0, n_channels, per)]


def detect(recording: Recording, hypnogram: Hypnogram | None, cfg: DetectionConfig) -> DetectionResult:
    """Detect spindles on every channel of ``recording`` (the engine behind ``method: fast``).

    Parameters
    ----------
    recording : Recording
        EEG channels in microvolts.
    hypnogram : Hypnogram or None
        Stages aligned to ``recording``; ``None`` searches everything.
    cfg : DetectionConfig
        Thresholds, bands, durations, ``block_seconds``, ``flat_seconds`` and ``n_jobs``.

    Returns
    -------
    DetectionResult
        Events, per-channel excluded seconds (NaN, flat or unusable samples of the searched
        stages) and notes.
    """
    sf = recording.sf
    notes: list[str] = []
    broad_hi = cfg.freq_broad[1]
    if broad_hi > 0.45 * sf:
        notes.append(f"fast: broadband upper edge lowered from {broad_hi:g} to {0.45 * sf:g} Hz (sf={sf:g})")
        broad_hi = 0.45 * sf
    if cfg.freq_sp[1] + 1.5 >= sf / 2:
        raise param_error("detection.freq_sp", f"a band below the Nyquist frequency of {sf / 2:g} Hz", cfg.freq_sp)
    codes = np.array([int(s) for s in parse_stages(cfg.stages)])
    if hypnogram is not None:
        art = float(np.sum(hypnogram.stages == Stage.ARTEFACT) * hypnogram.epoch_length)
        if art:
            notes.append(f"fast: {art:g} s of artefact-marked epochs not searched")
        if not np.isin(hypnogram.stages, codes).any():
            notes.append(f"fast: the hypnogram has no epoch in the searched stages {cfg.stages}")
    plan = _make_plan(sf, recording.n_samples, cfg, broad_hi)
    names = list(recording.channels)

    def run(group: list[int]) -> GroupResult:
        return _run_group(recording.data, group, [names[i] for i in group], plan, hypnogram, codes, cfg,
                          _cache_share(recording, group))

    return run_groups(recording, run, cfg.n_jobs, "fast", notes)


def run_groups(
    recording: Recording, run_group: Callable[[list[int]], GroupResult], n_jobs: int, label: str,
    notes: Sequence[str] = (),
) -> DetectionResult:
    """Run an engine's ``run_group`` over channel groups and collect one :class:`DetectionResult`.

    ``run_group`` detects on a list of channel indices; groups run in ``n_jobs`` threads (-1: one
    per core; numba kernels release the GIL). Notes: ``notes``, the groups' notes, then
    "<label>: no spindle found on any channel" when no group found any.
    """
    n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else n_jobs
    groups = _groups(len(recording.channels), n_jobs)
    if n_jobs > 1 and len(groups) > 1:
        with ThreadPoolExecutor(max_workers=n_jobs) as pool:
            results = list(pool.map(run_group, groups))
    else:
        results = [run_group(g) for g in groups]
    frames = [f for r in results for f in r.events]
    excluded = {k: v for r in results for k, v in r.excluded.items()}
    notes = list(notes) + [n for r in results for n in r.notes]
    events = as_events(pd.concat(frames, ignore_index=True)) if frames else empty_events()
    if events.empty:
        notes.append(f"{label}: no spindle found on any channel")
    return DetectionResult(events=events, excluded_seconds=excluded, notes=tuple(notes))
