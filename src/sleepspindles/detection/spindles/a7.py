"""The A7 engine: Lacourse et al. (2019)'s four features with local-baseline thresholds, streamed.

Method (A7, J Neurosci Methods 316:3-11), with the features computed as the authors' code
computes them (release 1.1.2: ``a7subAbsPowValues.m``, ``a7subRelSigPow.m``, ``a7subSigmaCov.m``,
``a7subSigmaCorr.m``). Two signals per channel: the sigma signal (``detection.band``, 11-16 Hz,
through the authors' filter: a Butterworth high-pass and low-pass of order 20, each run forward
and backward) and the broadband signal (``detection.broadband``, standing for the broadband
filtering the authors ask of their input). On windows of 0.3 s every 0.1 s:

* absolute sigma power: log10 of the mean square of the sigma signal (uV^2), a fixed threshold;
* relative sigma power: log10 of the power in the sigma band over the power in 4.5-30 Hz of the
  broadband window's periodogram (mean removed, Hann window, zero-padded to 2 s), as a z-score;
* sigma covariance: log10(1 + max(cov(broadband, sigma), 0)), as a z-score;
* sigma correlation: Pearson correlation of broadband and sigma signals, a fixed threshold.

The z-scores are taken against a *local* baseline: the ``a7.baseline`` seconds (30 s) of valid
windows around each window, keeping only baseline values between the recording's 10th and 90th
percentiles (so spindles and artefacts do not inflate it). Valid means inside the searched stages
(the whole recording without a hypnogram), finite and not flat: the authors' baseline is the same
30 s of valid windows, theirs valid in the baseline stages they name (N2 by default). Each 0.1 s
segment takes the mean of the three windows covering it (of their power, for the absolute power,
then its log10). A spindle starts where all enabled criteria hold and is grown on both sides while
absolute power and covariance hold; durations outside ``detection.duration`` (0.5-2.5 s) are
dropped. This is why it finds what whole-night RMS thresholds miss: a threshold relative to the
surrounding 30 s is not raised by wake, movement or a noisy hour elsewhere.

Presets (``detection.a7.preset``): ``default`` uses the thresholds of ``detection.a7`` (chosen by
leave-one-excerpt-out cross-validation on DREAMS) and ``detection.duration``; ``reference`` is A7
as its authors run it, with their published thresholds (1.25, 1.6, 1.3, 0.69) and durations
(0.3-2.5 s) wherever the config leaves those keys at their defaults. On the authors' example
(60 s of N2, ``../shared/data/a7_official``) the reference preset's four features correlate with
theirs at 0.99994, 0.99985, 0.99993 and 0.99926 and it finds their 9 spindles and no other
(tests/test_a7_reference.py). Earlier versions filtered sigma with an FIR and took the relative
power as a filtered-energy ratio; with the authors' features the held-out F1 of the
cross-validated thresholds rose on every reference (expert 1 / expert 2 / union 0.536 / 0.546 /
0.621 to 0.557 / 0.659 / 0.639), so they replaced ours.

Differences from the published code that remain, deliberate: the signals are filtered once at
the stream's internal rate (100 Hz for the default broadband, see
:mod:`sleepspindles.detection.core.streaming`; the Butterworth response is applied in the
filtering FFT, designed at that rate as the authors design it at their required 100 Hz), so
results do not depend on the sampling rate and any rate from about 40 Hz up works; the broadband
signal is filtered here (``detection.broadband``) where the authors take their input as given;
only the searched stages are searched (the authors detect everywhere and leave the stage
filtering to the user); the authors' spectral-context classifier (slow ratio) is not applied.
Each event gets a ``confidence`` (:mod:`.confidence`) and the per-event parameters and quality
measures of the fast engine (:mod:`.parameters`).

Execution: the night is streamed in overlapping blocks. Pass 1 computes the window features
(4 values every 0.1 s, a few MB per channel-night) and keeps, within the stream's memory share,
the filtered signals around the *candidate* spindles (runs of segments whose absolute sigma
power can pass its threshold, :mod:`.a7_keep`) with their background powers; the baseline
z-scores, the decision and the confidence then run on the feature arrays
(``detection.min_confidence`` drops events there); pass 2 measures every event of a channel at
once from what pass 1 kept, and filters again only the blocks whose events it did not keep (none
when the share holds them; every block for a recording read from its file). The blocks' margins
hold half the quality measures' 30 s background, so every measure is independent of the block
layout. Channel groups run in threads (``n_jobs``): the compiled kernels and the FFTs release
the GIL, and the per-block Python work is small.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import math
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...config import DetectionConfig
from ...errors import file_error
from ...hypnogram import Hypnogram, Stage
from ...recording import Recording
from .. import DetectionResult
from ..core import streaming as st
from ..core.filters import butterworth_gain
from . import confidence, kernels_a7, kernels_a7_candidates
from .a7_keep import Keeper
from .kernels_a7_periodogram import periodogram_ratio
from .parameters import BACKGROUND_SECONDS, ChannelEvents, EventSignals, collect, events_frame, finish, take

__all__ = ["A7Features", "a7_features", "a7_decide", "decide_segments", "detect", "WINDOW_SECONDS", "STEP_SECONDS"]

logger = logging.getLogger(__name__)

#: A7 window length and step (seconds).
WINDOW_SECONDS = 0.3
STEP_SECONDS = 0.1
_LIMITS = (10.0, 90.0)  # percentiles bounding the baseline values
# Hz above the band's upper edge that must stay below Nyquist (and the transition of the FIR the
# stream designs, whose length sets the filter part of the block margins; its response is replaced).
_TRANSITION = 1.5
# Settling context of a block core beyond the filters; the longest event and half the quality
# measures' background are added, so that background always lies inside the block.
_CONTEXT_SECONDS = 2.5
# The authors' method (a7MainScript.m, a7subRelSigPow.m): sigma filter order (a Butterworth
# high-pass and low-pass, each run forward and backward), the relative power's periodogram length
# (zero-padded) and its denominator band.
_ORDER = 20
_FFT_SECONDS = 2.0
_TOTAL_BAND = (4.5, 30.0)


@dataclass(frozen=True)
class A7Features:
    """One channel's A7 features on 0.1 s segments over the whole recording.

    Attributes
    ----------
    channel : str
    segment : float
        Segment length in seconds (segment ``j`` starts at ``j * segment``).
    end : float
        Last time (s) an event may reach (the recording's last internal sample).
    abs_pow, rel_pow_z, cov_z, corr : numpy.ndarray of float32
        The four features (NaN where undefined).
    valid : numpy.ndarray of bool
        Segments wholly inside the searched stages, finite and not flat.
    """

    channel: str
    segment: float
    end: float
    abs_pow: np.ndarray
    rel_pow_z: np.ndarray
    cov_z: np.ndarray
    corr: np.ndarray
    valid: np.ndarray


@dataclass(frozen=True)
class _Setup:
    plan: st.Plan
    step: int  # internal samples per segment
    win: int
    n_win: int
    codes: np.ndarray
    notes: tuple[str, ...]
    periodogram: tuple[int, tuple[int, int], tuple[int, int]]  # relative power: n_fft, sigma and total bins


def _setup(recording: Recording, hypnogram: Hypnogram | None, cfg: DetectionConfig) -> _Setup:
    sf = recording.sf
    lo, hi = cfg.band
    if hi + _TRANSITION >= sf / 2:
        raise file_error(
            recording.source,
            f"A7 detection: the sigma band {lo:g}-{hi:g} Hz cannot be resolved at a sampling rate of "
            f"{sf:g} Hz (the band and its {_TRANSITION:g} Hz transition must stay below the Nyquist "
            f"frequency; needs a rate above {2 * (hi + _TRANSITION):g} Hz)"
        )
    notes = []
    broad_hi = cfg.broadband[1]
    if broad_hi > 0.45 * sf:
        notes.append(f"a7: broadband upper edge lowered from {broad_hi:g} to {0.45 * sf:g} Hz (sf={sf:g})")
        broad_hi = 0.45 * sf
    rate = st.internal_rate(broad_hi)
    spec = st.StreamSpec(
        rate=rate, band=cfg.band, band_transition=(_TRANSITION, _TRANSITION), broadband=(cfg.broadband[0], broad_hi),
        context=round((_CONTEXT_SECONDS + BACKGROUND_SECONDS / 2) * rate) + math.ceil(cfg.duration[1] * rate) + 2,
        block_seconds=cfg.block_seconds, flat_seconds=cfg.flat_seconds,
    )  # fmt: skip
    plan = _butterworth(st.make_plan(sf, recording.n_samples, spec), cfg.band, _ORDER)
    step = round(STEP_SECONDS * rate)
    codes = st.stage_codes(cfg.stages)
    if hypnogram is not None and not np.isin(hypnogram.stages, codes).any():
        notes.append(f"a7: the hypnogram has no epoch in the searched stages {cfg.stages}")
    n_fft = round(_FFT_SECONDS * rate)
    total = (_TOTAL_BAND[0], min(_TOTAL_BAND[1], broad_hi))  # no power above the broadband's edge
    return _Setup(plan=plan, step=step, win=round(WINDOW_SECONDS * rate), n_win=-(-plan.n_int // step),
                  codes=codes, notes=tuple(notes),
                  periodogram=(n_fft, _bins(cfg.band, n_fft, rate), _bins(total, n_fft, rate)))


def _butterworth(plan: st.Plan, band: tuple[float, float], order: int) -> st.Plan:
    """``plan`` with the authors' sigma filter: Butterworth high-pass and low-pass, run forward and backward.

    A forward-backward (zero-phase) filter multiplies the spectrum by ``|H(f)|^2``, so the
    stream applies that response where it would apply the FIR it designed; it is designed at the
    internal rate, as the authors design it at their required 100 Hz.
    """
    freqs = np.arange(plan.h_band.size) * plan.rate / plan.l_int
    gain = np.ones(freqs.size)
    for edge, kind in ((band[0], "highpass"), (band[1], "lowpass")):
        gain *= butterworth_gain(freqs, edge, order, kind, plan.rate) ** 2
    real = plan.l_int / plan.l_nat * gain  # scaled for the inverse FFT at the internal rate, as the plan's
    analytic = 2 * real
    analytic[0] = real[0]
    return dataclasses.replace(plan, h_band=analytic.astype(np.complex64), h_band_real=real.astype(np.complex64))


def _bins(band: tuple[float, float], n_fft: int, rate: int) -> tuple[int, int]:
    """The periodogram bins nearest a band's edges (ties to the higher bin, as the authors' findFreqIndex)."""
    return math.floor(band[0] * n_fft / rate + 0.5), math.floor(band[1] * n_fft / rate + 0.5)


# --------------------------------------------------------------------------- pass 1: features
@dataclass(frozen=True)
class _Windows:
    values: np.ndarray  # (c, 4, n_win) float32: abs, rel, cov, corr
    valid: np.ndarray  # (c, n_win) window wholly valid
    seg_valid: np.ndarray  # (c, n_win) segment wholly valid

    @classmethod
    def new(cls, n_rows: int, n_win: int) -> _Windows:
        return cls(values=np.full((n_rows, 4, n_win), np.nan, dtype=np.float32),
                   valid=np.zeros((n_rows, n_win), dtype=np.bool_), seg_valid=np.zeros((n_rows, n_win), dtype=np.bool_))


def _window_pass(data, rows: list[int], setup: _Setup, hyp, keeper: Keeper | None, out: _Windows,
                 blocks: range) -> None:
    """Pass 1 over ``blocks``: window features and validity into ``out``; ``keeper`` keeps what pass 2 needs.

    Blocks own disjoint windows: threads may run disjoint block ranges into the same ``out``.
    """
    plan, step, win = setup.plan, setup.step, setup.win
    per = win // step  # win is a multiple of step: the internal rate is a multiple of 100 Hz
    c = len(rows)
    work = st.Work.new(c, plan)
    values, valid, seg_valid = out.values, out.valid, out.seg_valid
    for k in blocks:
        include = st.included(hyp, setup.codes, k * plan.hop - plan.margin, plan)
        core_len = min(plan.hop, plan.n_int - k * plan.hop)
        if not include[plan.margin : plan.margin + core_len].any():
            continue
        spectrum = st.spectrum(data, rows, k, plan, False, work)
        blk = st.block(spectrum, k, plan, include, analytic=True, broad=True, work=work)
        w0 = k * plan.hop // step
        nw = min(-(-core_len // step), setup.n_win - w0)
        # Segment validity (from the one stage mask when no sample is bad), then windows valid
        # where all their segments are.
        mask = include[None, :] if spectrum.bad is None else blk.valid
        seg_ok = kernels_a7_candidates.segments_all(mask, plan.margin, step, nw + per - 1)
        seg_valid[:, w0 : w0 + nw] = seg_ok[:, :nw]
        win_ok = seg_ok[:, :nw].copy()
        for j in range(1, per):
            win_ok &= seg_ok[:, j : j + nw]
        valid[:, w0 : w0 + nw] = win_ok
        # With a keeper, the window features also run over the windows before the core that cover
        # its first segments and past it by the longest event: the candidates' absolute power.
        keep = keeper is not None and not keeper.full
        lead = per - 1 if keep else 0
        n_ext = nw + lead + (keeper.extra if keep else 0)
        core = slice(lead, lead + nw)
        abs_pow = []
        for i in range(c):
            f = kernels_a7.window_features(blk.band[i].real, blk.broad[i], plan.margin - lead * step, step, win, n_ext)
            rel = periodogram_ratio(blk.broad[i], plan.margin, step, win, nw, *setup.periodogram)
            values[i, :, w0 : w0 + nw] = (f.abs_pow[core], rel, f.cov[core], f.corr[core])
            abs_pow.append(f.abs_pow)
        if keep:
            keeper.add(k, blk, abs_pow, w0, nw)


def _windows(data, rows: list[int], setup: _Setup, hyp, keepers: list[Keeper | None], pool) -> _Windows:
    """Pass 1 of every block, the night cut into one contiguous block range per keeper (per thread)."""
    plan = setup.plan
    out = _Windows.new(len(rows), setup.n_win)
    cuts = np.linspace(0, plan.n_blocks, len(keepers) + 1).round().astype(int)
    _map(pool, lambda j: _window_pass(data, rows, setup, hyp, keepers[j], out, range(cuts[j], cuts[j + 1])),
         range(len(keepers)))
    n_complete = (plan.n_int - setup.win) // setup.step + 1  # windows wholly inside the recording
    out.values[:, :, n_complete:] = np.nan
    out.valid[:, n_complete:] = False
    return out


def _map(pool, func, items) -> list:
    """``func`` over ``items``, in ``pool``'s threads when there is one, results in order."""
    return list(pool.map(func, items)) if pool is not None else [func(x) for x in items]


def _segments(name: str, values: np.ndarray, valid: np.ndarray, seg_valid: np.ndarray, setup: _Setup,
              cfg: DetectionConfig) -> A7Features:
    """Z-score relative power and covariance on the local baseline; average windows per segment."""
    per = setup.win // setup.step
    n_base = max(int(round(cfg.a7.baseline / STEP_SECONDS)), 2)
    feats = []
    for k, x in enumerate(values):
        if k in (1, 2):  # relative power and covariance: z-scores
            x = x.astype(np.float64)
            ok = valid & np.isfinite(x)
            lo, hi = np.percentile(x[ok], _LIMITS) if ok.sum() >= 2 else (np.nan, np.nan)
            x = kernels_a7.baseline_zscore(x, valid, n_base, lo, hi)
        # The authors average the power over the windows, then take its log (-inf: no power).
        feats.append(kernels_a7.segment_feature(x, per, of_powers=k == 0))
    plan = setup.plan
    return A7Features(channel=name, segment=setup.step / plan.rate, end=(plan.n_int - 1) / plan.rate,
                      abs_pow=feats[0], rel_pow_z=feats[1], cov_z=feats[2], corr=feats[3], valid=seg_valid)


# --------------------------------------------------------------------------- decision
def _above(x: np.ndarray, threshold: float | None) -> np.ndarray | None:
    if threshold is None:
        return None
    with np.errstate(invalid="ignore"):
        return x > threshold


def decide_segments(feat: A7Features, cfg: DetectionConfig) -> tuple[np.ndarray, np.ndarray]:
    """First and last segment of each event (A7's rule, see the module docstring), before ``min_confidence``."""
    a7 = cfg.a7
    ab, cv = _above(feat.abs_pow, a7.thresh_abs_pow), _above(feat.cov_z, a7.thresh_cov_z)
    rel, corr = _above(feat.rel_pow_z, a7.thresh_rel_pow_z), _above(feat.corr, a7.thresh_corr)
    core = feat.valid.copy()
    for m in (ab, cv, rel, corr):
        if m is not None:
            core &= m
    grow = [m for m in (ab, cv) if m is not None]
    extend = feat.valid & np.logical_and.reduce(grow) if grow else core
    starts, lasts = kernels_a7.extend_runs(core, extend | core)
    dur = (lasts - starts + 1) * feat.segment
    keep = (dur >= cfg.duration[0] - 1e-9) & (dur <= cfg.duration[1] + 1e-9)
    return starts[keep], lasts[keep]


def _decide(feat: A7Features, cfg: DetectionConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and last segment and confidence of each event kept by ``cfg.min_confidence``."""
    starts, lasts = decide_segments(feat, cfg)
    conf = confidence.confidence(confidence.model_inputs(feat, starts, lasts))
    keep = ~(conf < cfg.min_confidence)  # an undefined confidence (NaN) is not below the setting
    return starts[keep], lasts[keep], conf[keep]


def a7_decide(feat: A7Features, cfg: DetectionConfig) -> pd.DataFrame:
    """Events (``start``, ``end`` in seconds, ``channel``, ``confidence``) from precomputed features.

    Cheap: used to tune the thresholds of ``cfg`` without recomputing the features.
    """
    starts, lasts, conf = _decide(feat, cfg)
    return pd.DataFrame({
        "start": starts * feat.segment,
        "end": np.minimum((lasts + 1) * feat.segment, feat.end),
        "channel": feat.channel,
        "confidence": conf,
    })


def a7_features(recording: Recording, hypnogram: Hypnogram | None = None,
                cfg: DetectionConfig | None = None) -> tuple[A7Features, ...]:
    """A7 features of every channel (pass 1 of :func:`detect`), for analysis and tuning.

    The thresholds of ``cfg`` are not used; ``band``, ``broadband``, ``a7.baseline``, ``stages``
    and ``flat_seconds`` are.
    """
    cfg = cfg or DetectionConfig(method="a7")
    setup = _setup(recording, hypnogram, cfg)
    rows = list(range(len(recording.channels)))
    w = _windows(recording.data, rows, setup, hypnogram, [None], None)
    return tuple(
        _segments(recording.channels[i], w.values[i], w.valid[i], w.seg_valid[i], setup, cfg) for i in rows
    )


# --------------------------------------------------------------------------- pass 2: parameters
@dataclass(frozen=True)
class _Found:
    """One channel's events: first and last segment, last internal sample, confidence."""

    first: np.ndarray
    last: np.ndarray
    end: np.ndarray
    confidence: np.ndarray


def _params_pass(data, rows: list[int], found: dict[int, _Found], setup: _Setup, hyp, keeper: Keeper | None,
                 pool) -> dict[int, ChannelEvents]:
    """Per-event parameters of each channel: from what pass 1 kept, else from its block filtered again."""
    plan, step = setup.plan, setup.step
    parts: dict[int, list[tuple[np.ndarray, EventSignals]]] = {i: [] for i in found}
    todo = {}
    for i, f in found.items():
        sig, held = keeper.signals(i, f.first, f.last, f.end) if keeper is not None else (None, None)
        if sig is not None:
            parts[i].append((np.flatnonzero(held), sig))
        todo[i] = np.ones(f.first.size, np.bool_) if held is None else ~held
    work = None
    for k in range(plan.n_blocks):
        c0, c1 = plan.core(k)
        here = {i: todo[i] & (f.first * step >= c0) & (f.first * step < c1) for i, f in found.items()}
        live = [i for i in found if here[i].any()]
        if not live:
            continue
        work = work or st.Work.new(len(rows), plan)
        include = st.included(hyp, setup.codes, c0 - plan.margin, plan)
        spectrum = st.spectrum(data, [rows[i] for i in live], k, plan, False, work)
        blk = st.block(spectrum, k, plan, include, analytic=True, broad=True, work=work)
        for j, i in enumerate(live):
            sel = np.flatnonzero(here[i])
            parts[i].append((sel, take(blk, j, found[i].first[sel] * step, found[i].end[sel], plan, step // 2)))

    def measured(i: int) -> ChannelEvents:
        got = parts[i]
        idx = np.concatenate([p[0] for p in got])
        sig = EventSignals.concat([p[1] for p in got])
        if np.any(np.diff(idx) < 0):
            order = np.argsort(idx, kind="stable")
            sig, idx = sig.select(order), idx[order]
        return finish(sig, plan, found[i].confidence[idx])

    return dict(zip(found, _map(pool, measured, list(found))))


def _run_group(data, rows: list[int], names: list[str], setup: _Setup, hyp, cfg: DetectionConfig,
               cache_bytes: int, pool, n_threads: int) -> tuple[list[pd.DataFrame], list[str]]:
    """Events frames and notes of one channel group (its blocks in ``n_threads`` ranges, its channels in ``pool``)."""
    plan = setup.plan
    keepers = [Keeper(plan, setup.step, setup.win, len(rows), cfg.a7.thresh_abs_pow, cfg.duration[1],
                      cache_bytes // n_threads) for _ in range(n_threads)]
    w = _windows(data, rows, setup, hyp, keepers, pool)
    keeper = Keeper.merged(keepers)

    def decide(w: _Windows, i: int) -> _Found | str | None:
        if w.valid[i].sum() < 2:
            return f"a7: channel {names[i]} skipped (no usable samples in the searched stages)"
        s, last, conf = _decide(_segments(names[i], w.values[i], w.valid[i], w.seg_valid[i], setup, cfg), cfg)
        if not s.size:
            return None
        return _Found(first=s, last=last, end=np.minimum((last + 1) * setup.step, plan.n_int - 1), confidence=conf)

    decided = _map(pool, functools.partial(decide, w), range(len(rows)))
    notes = [d for d in decided if isinstance(d, str)]
    found = {i: d for i, d in enumerate(decided) if isinstance(d, _Found)}
    del w  # the features (about 16 bytes per channel and 0.1 s) are not needed any more
    measured = _params_pass(data, rows, found, setup, hyp, keeper, pool)
    return [events_frame(names[i], [measured[i]], plan.rate, hyp) for i in sorted(measured)], notes


def detect(recording: Recording, hypnogram: Hypnogram | None, cfg: DetectionConfig) -> DetectionResult:
    """Detect spindles on every channel of ``recording`` with A7 (the engine behind ``method: a7``).

    Parameters
    ----------
    recording : Recording
        EEG channels in microvolts, any sampling rate above about 40 Hz.
    hypnogram : Hypnogram or None
        Stages aligned to ``recording``; ``None`` searches (and takes baselines from) everything.
    cfg : DetectionConfig
        ``band``, ``broadband``, ``duration``, the thresholds in ``a7``, ``stages``,
        ``block_seconds``, ``flat_seconds`` and ``n_jobs``.

    Returns
    -------
    DetectionResult

    Raises
    ------
    DataError
        When the sampling rate cannot resolve ``band``.
    """
    setup = _setup(recording, hypnogram, cfg)
    notes = list(setup.notes)
    if hypnogram is not None:
        art = float(np.sum(hypnogram.stages == Stage.ARTEFACT) * hypnogram.epoch_length)
        if art:
            notes.append(f"a7: {art:g} s of artefact-marked epochs not searched")
    names = list(recording.channels)
    # Channels in groups of up to 16 (one batched FFT per block), one group after the other; the
    # threads share each group: its blocks cut into one time range per thread (batched FFTs kept
    # whole, the per-block costs paid once), then its channels' decisions and measures.
    n_threads = (os.cpu_count() or 1) if cfg.n_jobs == -1 else cfg.n_jobs
    groups = st.channel_groups(len(names), 1)
    with ThreadPoolExecutor(max_workers=n_threads) if n_threads > 1 else contextlib.nullcontext() as pool:
        done = [_run_group(recording.data, g, [names[i] for i in g], setup, hypnogram, cfg,
                           st.cache_share(recording.data.nbytes, len(g), len(names)), pool, n_threads)
                for g in groups]
    return collect(done, "a7", notes)
