"""Our spindle engine: YASA's method (Lacourse et al. 2018 family), streamed and compiled.

Method (as ``yasa.spindles_detect``): broadband (``detection.broadband``) and sigma (``detection.band``, 1.5 Hz
transitions) zero-phase FIR filters designed by MNE; three criteria per sample -- relative sigma
power of 2 s Hann STFT frames every 0.2 s, moving correlation of sigma and broadband signals and
moving RMS of the sigma signal (0.3 s windows every 0.1 s, linearly interpolated); the RMS
threshold is ``mean + fast.thresh_rms * trimmed SD`` (10 % cut each side, capped at 10 uV) over the
included samples of the whole night; a ~100 ms moving mean of the vote count must exceed
``n_criteria - 1``; runs closer than ``fast.min_distance`` merge; ``duration[0] < d < duration[1]``.

How it differs in execution (not in method):

* Signals are filtered at a fixed internal rate inside the filtering FFT, block by block
  (:mod:`sleepspindles.detection.core.streaming`), so the same continuous signal gives the same
  spindles at 100, 128, 200, 256 or 512 Hz (YASA's window lengths and STFT bins shift with the
  rate).
* The night is processed in overlapping blocks (``block_seconds``) in two passes: pass 1
  accumulates the RMS statistics in a bounded histogram (:class:`~sleepspindles.detection.spindles.kernels_yasa.TrimmedStats`),
  pass 2 detects. Pass 1 keeps each block's first FFT for pass 2 while they fit in the
  stream's cache share of the raw data's size. A block owns the events that *start* in its core;
  its margins cover the filters, windows, merging and longest duration, so results do not depend
  on block edges.
* The relative power (the costliest criterion) is computed only at the STFT frames read by
  soft-vote windows that the other criteria bring within one vote of passing; the vote is the same.
* Channels are processed in batched FFTs, in ``n_jobs`` threads over channel groups; each
  channel's result does not depend on its group.

Deliberate differences: amplitude is the peak-to-peak of the detrended broadband signal with
parabolic (vertex) interpolation of the two extremes, so it does not shrink at low sampling
rates; NaN samples and flat stretches (``flat_seconds``) are excluded from the threshold and from
detection (and from the analysed time).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from ...config import DetectionConfig
from ...errors import param_error
from ...hypnogram import Hypnogram, Stage
from ...recording import Recording
from .. import DetectionResult
from ..core import kernels as runs
from ..core import streaming as st
from . import kernels_yasa as kernels
from .parameters import EventSignals, collect, events_frame, finish, take

__all__ = ["detect"]

logger = logging.getLogger(__name__)

_RMS_CAP = 10.0  # uV, YASA's cap on the RMS threshold (artefacts in wake)
_RMS_CUT = 0.10  # trimmed SD: fraction cut at each end
_TRANSITION = 1.5  # Hz, YASA's sigma filter transition bands


@dataclass(frozen=True)
class _Windows:
    """YASA's windows at the internal rate (samples) and the detection reach around a core."""

    frame_len: int  # relative power: 2 s STFT frames
    frame_step: int  # every 0.2 s
    knot_step: int  # RMS and correlation: 0.3 s windows every 0.1 s
    knot_half: int
    soft_w: int  # ~100 ms soft vote
    sig_bins: tuple[int, int]  # DFT bins of the sigma band in a 2 s frame (0.5 Hz apart)
    broad_bins: tuple[int, int]
    det_left: int  # samples searched left of a core (merging) and right of it (merging + longest)
    det_right: int
    min_gap: float

    @classmethod
    def at(cls, rate: int, cfg: DetectionConfig, broad: tuple[float, float]) -> _Windows:
        frame_step = rate // 5
        return cls(
            frame_len=2 * rate, frame_step=frame_step, knot_step=rate // 10, knot_half=math.ceil(0.15 * rate),
            soft_w=max(int(0.1 * rate), 1),
            sig_bins=(math.ceil(cfg.band[0] * 2 - 1e-9), math.floor(cfg.band[1] * 2 + 1e-9)),
            broad_bins=(math.ceil(broad[0] * 2 - 1e-9), math.floor(broad[1] * 2 + 1e-9)),
            det_left=math.ceil(cfg.fast.min_distance * rate) + 2,
            det_right=math.ceil((cfg.duration[1] + cfg.fast.min_distance) * rate) + 2,
            min_gap=cfg.fast.min_distance * rate,
        )  # fmt: skip

    def context(self, rate: int) -> int:
        """Internal samples of context a block core needs beyond the filters."""
        return rate // 2 + self.frame_len // 2 + 2 * self.frame_step + rate // 2 + self.soft_w + max(
            self.det_left, self.det_right)


# --------------------------------------------------------------------------- criteria
def _knots(x, y, start: int, stop: int, w: _Windows) -> tuple[int, np.ndarray, np.ndarray]:
    first = (start // w.knot_step) * w.knot_step
    n_knots = (stop - 1 - first) // w.knot_step + 2
    rms, corr = kernels.moving_rms_corr(x, y, first, w.knot_step, w.knot_half, n_knots)
    return first, rms, corr


def _rel_power_votes(count, broad, start: int, stop: int, could, w: _Windows, threshold: float) -> None:
    """Add the relative-power votes over local ``[start, stop)``, computing only the STFT frames
    that the windows flagged in ``could`` read."""
    half, step = w.frame_len // 2, w.frame_step
    f_first = (start - half) // step
    f_last = -(-(stop - half) // step)
    centre0 = f_first * step + half
    need = kernels.frames_needed(could, start - centre0, step, w.soft_w, f_last - f_first + 1)
    if not need.any():
        return
    ratios = kernels.stft_band_ratio(
        broad[f_first * step : f_last * step + w.frame_len], w.frame_len, step, w.sig_bins, w.broad_bins, need=need,
    )
    kernels.knot_votes(count, ratios, centre0, step, start, threshold)


def _supra(blk: st.Block, i: int, start: int, stop: int, w: _Windows, cfg: DetectionConfig, rms_thr: float) -> np.ndarray:
    """YASA's soft vote of the enabled criteria over local ``[start, stop)`` (bool per sample).

    The relative power is the costly criterion and adds at most one vote per sample, so it is
    computed only where the others already bring more than ``n - 2`` votes per sample (of ``n``
    criteria) over the window: elsewhere the window cannot pass whatever it says. The result is
    the full vote's.
    """
    fast = cfg.fast
    n_crit = sum(t is not None for t in (fast.thresh_rel_pow, fast.thresh_corr, fast.thresh_rms))
    valid = blk.valid[i, start:stop]
    count = np.zeros(stop - start, dtype=np.uint8)
    if fast.thresh_corr is not None or fast.thresh_rms is not None:
        first, rms, corr = _knots(blk.band[i].real, blk.broad[i], start, stop, w)
        if fast.thresh_corr is not None:
            kernels.knot_votes(count, corr, first, w.knot_step, start, fast.thresh_corr)
        if fast.thresh_rms is not None:
            kernels.knot_votes(count, rms, first, w.knot_step, start, rms_thr)
    if fast.thresh_rel_pow is not None:
        could = kernels.soft_vote(count, valid, w.soft_w, n_crit - 2)
        _rel_power_votes(count, blk.broad[i], start, stop, could, w, fast.thresh_rel_pow)
    return kernels.soft_vote(count, valid, w.soft_w, n_crit - 1)


# --------------------------------------------------------------------------- passes
@dataclass(frozen=True)
class _Setup:
    plan: st.Plan
    windows: _Windows
    codes: np.ndarray
    cfg: DetectionConfig


@dataclass(frozen=True)
class _Pass1:
    stats: list[kernels.TrimmedStats]
    spectra: dict[int, st.Spectrum]  # block index -> first FFT, kept within the memory budget


def _rms_stats(data, rows, setup: _Setup, hyp, cache_bytes: int, work: st.Work) -> _Pass1:
    """Pass 1: moving-RMS statistics over the valid samples of the whole night.

    The blocks' spectra are kept for pass 2 while they fit in ``cache_bytes``.
    """
    plan, w = setup.plan, setup.windows
    stats = [kernels.TrimmedStats() for _ in rows]
    spectra: dict[int, st.Spectrum] = {}
    for k in range(plan.n_blocks):
        include = st.included(hyp, setup.codes, k * plan.hop - plan.margin, plan)
        if not include[plan.margin : plan.margin + plan.hop].any():
            continue
        keep = st.cache_room(len(spectra), len(rows), plan, cache_bytes)
        spectrum = st.spectrum(data, rows, k, plan, keep, work)
        if keep:
            spectra[k] = spectrum
        blk = st.block(spectrum, k, plan, include, analytic=False, broad=False, work=work)
        c0, c1 = blk.core.start, blk.core.stop
        for i, stat in enumerate(stats):
            first = (c0 // w.knot_step) * w.knot_step
            n_knots = (c1 - 1 - first) // w.knot_step + 2
            rms = kernels.moving_rms(blk.band[i], first, w.knot_step, w.knot_half, n_knots)
            stat.add_knots(rms, first, w.knot_step, c0, blk.valid[i, c0:c1])
    return _Pass1(stats=stats, spectra=spectra)


def _block_events(blk: st.Block, i: int, setup: _Setup, rms_thr: float) -> EventSignals | None:
    w, cfg = setup.windows, setup.cfg
    c0, c1 = blk.core.start, blk.core.stop
    d0, d1 = c0 - w.det_left, c1 + w.det_right
    supra = _supra(blk, i, d0, d1, w, cfg, rms_thr)
    starts, lasts = runs.mask_runs(supra)
    starts, lasts = runs.merge_runs(starts, lasts, w.min_gap)
    starts, lasts = starts + d0, lasts + d0
    dur = (lasts - starts) / setup.plan.rate
    keep = (dur > cfg.duration[0]) & (dur < cfg.duration[1]) & (starts >= c0) & (starts < c1)
    if not keep.any():
        return None
    return take(blk, i, starts[keep] + blk.g0, lasts[keep] + blk.g0, setup.plan)


def _run_group(data, rows: list[int], names: list[str], setup: _Setup, hyp, cache_bytes: int) -> tuple[list, list]:
    """Events frames and notes of one channel group."""
    plan, cfg = setup.plan, setup.cfg
    work = st.Work.new(len(rows), plan)
    first = _rms_stats(data, rows, setup, hyp, cache_bytes, work)
    notes, thresholds, live = [], {}, []
    for i, stat in enumerate(first.stats):
        if stat.n < 2:
            notes.append(f"fast: channel {names[i]} skipped (no usable samples in the searched stages)")
            continue
        thr = stat.mean() + (cfg.fast.thresh_rms or 0.0) * stat.trimmed_std(_RMS_CUT)
        thresholds[i] = min(thr, _RMS_CAP)
        live.append(i)
    found: dict[int, list[EventSignals]] = {i: [] for i in live}
    sub = [rows[i] for i in live]
    for k in range(plan.n_blocks):
        include = st.included(hyp, setup.codes, k * plan.hop - plan.margin, plan)
        c0, c1 = plan.core(k)
        if not sub or not include[plan.margin : plan.margin + c1 - c0].any():
            continue
        kept = first.spectra.pop(k, None)
        spectrum = kept.take(live) if kept is not None else st.spectrum(data, sub, k, plan, False, work)
        blk = st.block(spectrum, k, plan, include, analytic=True, broad=True, work=work)
        del kept, spectrum
        for j, i in enumerate(live):
            ev = _block_events(blk, j, setup, thresholds[i])
            if ev is not None:
                found[i].append(ev)
    # Each channel's events measured at once (the kernels' fixed costs paid once, not per block).
    return [events_frame(names[i], [finish(EventSignals.concat(found[i]), plan)], plan.rate, hyp)
            for i in live if found[i]], notes


# --------------------------------------------------------------------------- engine
def detect(recording: Recording, hypnogram: Hypnogram | None, cfg: DetectionConfig) -> DetectionResult:
    """Detect spindles on every channel of ``recording`` (the engine behind ``method: fast``).

    Parameters
    ----------
    recording : Recording
        EEG channels in microvolts.
    hypnogram : Hypnogram or None
        Stages aligned to ``recording``; ``None`` searches everything.
    cfg : DetectionConfig
        ``band``, ``broadband``, ``duration``, the thresholds in ``fast``, ``block_seconds``,
        ``flat_seconds`` and ``n_jobs``.

    Returns
    -------
    DetectionResult
        Events and notes.
    """
    sf = recording.sf
    notes: list[str] = []
    broad_hi = cfg.broadband[1]
    if broad_hi > 0.45 * sf:
        notes.append(f"fast: broadband upper edge lowered from {broad_hi:g} to {0.45 * sf:g} Hz (sf={sf:g})")
        broad_hi = 0.45 * sf
    if cfg.band[1] + _TRANSITION >= sf / 2:
        raise param_error("detection.band", f"a band below the Nyquist frequency of {sf / 2:g} Hz", cfg.band)
    codes = st.stage_codes(cfg.stages)
    if hypnogram is not None:
        art = float(np.sum(hypnogram.stages == Stage.ARTEFACT) * hypnogram.epoch_length)
        if art:
            notes.append(f"fast: {art:g} s of artefact-marked epochs not searched")
        if not np.isin(hypnogram.stages, codes).any():
            notes.append(f"fast: the hypnogram has no epoch in the searched stages {cfg.stages}")
    setup = _setup(recording, cfg, (cfg.broadband[0], broad_hi), codes)
    names = list(recording.channels)

    def run(group: list[int]) -> tuple[list, list]:
        share = st.cache_share(recording.data.nbytes, len(group), len(names))
        return _run_group(recording.data, group, [names[i] for i in group], setup, hypnogram, share)

    return collect(st.run_groups(len(names), run, cfg.n_jobs), "fast", notes)


def _setup(recording: Recording, cfg: DetectionConfig, broad: tuple[float, float], codes: np.ndarray) -> _Setup:
    rate = st.internal_rate(broad[1])
    windows = _Windows.at(rate, cfg, broad)
    spec = st.StreamSpec(rate=rate, band=cfg.band, band_transition=(_TRANSITION, _TRANSITION), broadband=broad,
                         context=windows.context(rate), block_seconds=cfg.block_seconds,
                         flat_seconds=cfg.flat_seconds)
    return _Setup(plan=st.make_plan(recording.sf, recording.n_samples, spec), windows=windows, codes=codes, cfg=cfg)

