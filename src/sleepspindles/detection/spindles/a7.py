"""The A7 engine: Lacourse et al. (2019)'s four features with local-baseline thresholds, streamed.

Method (A7, J Neurosci Methods 316:3-11). Two signals per channel: the sigma band
(``detection.band``, 11-16 Hz) and the broadband signal (``detection.broadband``). On windows of 0.3 s every
0.1 s:

* absolute sigma power: log10 of the mean square of the sigma signal (uV^2), a fixed threshold;
* relative sigma power: log10 of sigma energy over broadband energy, as a z-score;
* sigma covariance: log10(1 + max(cov(broadband, sigma), 0)), as a z-score;
* sigma correlation: Pearson correlation of broadband and sigma signals, a fixed threshold.

The z-scores are taken against a *local* baseline: the ``a7.baseline`` seconds (30 s) of valid
windows around each window, keeping only baseline values between the recording's 10th and 90th
percentiles (so spindles and artefacts do not inflate it). Valid means inside the searched stages
(the whole recording without a hypnogram), finite and not flat. Each 0.1 s segment takes the mean
of the three windows covering it. A spindle starts where all enabled criteria hold and is grown on
both sides while absolute power and covariance hold; durations outside ``detection.duration``
(0.5-2.5 s) are dropped. This is why it finds what whole-night RMS thresholds miss: a threshold
relative to the surrounding 30 s is not raised by wake, movement or a noisy hour elsewhere.

Differences from the published code, deliberate: the signals are filtered once at the stream's
internal rate (100 Hz; FIR filters, see :mod:`sleepspindles.detection.core.streaming`), so results do not depend on the
sampling rate and any rate from about 40 Hz up works; relative power is an energy ratio of the
filtered signals on the window (not a zero-padded Hann periodogram against 4.5-30 Hz), and its
broadband is ``detection.broadband``. The per-event parameters are those of the fast engine
(:mod:`.parameters`).

Execution: the night is streamed in overlapping blocks (the same blocks as the fast engine's). Pass 1 computes the
window features (4 values every 0.1 s, a few MB per channel-night); the baseline z-scores and the
decision then run on those arrays; pass 2 revisits only the blocks holding events, for their
parameters, reusing the first FFTs pass 1 kept within the stream's memory share.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...config import DetectionConfig
from ...errors import file_error
from ...hypnogram import Hypnogram, Stage
from ...recording import Recording
from .. import DetectionResult
from ..core import streaming as st
from . import kernels_a7
from .parameters import ChannelEvents, collect, events_frame, measure

__all__ = ["A7Features", "a7_features", "a7_decide", "detect", "WINDOW_SECONDS", "STEP_SECONDS"]

logger = logging.getLogger(__name__)

#: A7 window length and step (seconds).
WINDOW_SECONDS = 0.3
STEP_SECONDS = 0.1
_LIMITS = (10.0, 90.0)  # percentiles bounding the baseline values
_TRANSITION = 1.5  # Hz, sigma filter transition band (the fast engine's)
# Settling context of a block core beyond the filters, as the fast engine's (so both engines cut
# the night into the same blocks); the longest event is added.
_CONTEXT_SECONDS = 2.5


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
        context=round(_CONTEXT_SECONDS * rate) + math.ceil(cfg.duration[1] * rate) + 2,
        block_seconds=cfg.block_seconds, flat_seconds=cfg.flat_seconds,
    )  # fmt: skip
    plan = st.make_plan(sf, recording.n_samples, spec)
    step = round(STEP_SECONDS * rate)
    codes = st.stage_codes(cfg.stages)
    if hypnogram is not None and not np.isin(hypnogram.stages, codes).any():
        notes.append(f"a7: the hypnogram has no epoch in the searched stages {cfg.stages}")
    return _Setup(plan=plan, step=step, win=round(WINDOW_SECONDS * rate), n_win=-(-plan.n_int // step),
                  codes=codes, notes=tuple(notes))


# --------------------------------------------------------------------------- pass 1: features
@dataclass(frozen=True)
class _Windows:
    values: np.ndarray  # (c, 4, n_win) float32: abs, rel, cov, corr
    valid: np.ndarray  # (c, n_win) window wholly valid
    seg_valid: np.ndarray  # (c, n_win) segment wholly valid
    spectra: dict[int, st.Spectrum]  # block index -> first FFT kept for pass 2


def _window_pass(data, rows: list[int], setup: _Setup, hyp, work: st.Work, cache_bytes: int) -> _Windows:
    """Pass 1: window features and validity of every block; spectra kept while they fit ``cache_bytes``."""
    plan, step, win = setup.plan, setup.step, setup.win
    per = win // step  # win is a multiple of step: the internal rate is a multiple of 100 Hz
    c = len(rows)
    values = np.full((c, 4, setup.n_win), np.nan, dtype=np.float32)
    valid = np.zeros((c, setup.n_win), dtype=np.bool_)
    seg_valid = np.zeros((c, setup.n_win), dtype=np.bool_)
    spectra = {}
    n_complete = (plan.n_int - win) // step + 1  # windows wholly inside the recording
    for k in range(plan.n_blocks):
        include = st.included(hyp, setup.codes, k * plan.hop - plan.margin, plan)
        core_len = min(plan.hop, plan.n_int - k * plan.hop)
        if not include[plan.margin : plan.margin + core_len].any():
            continue
        keep = st.cache_room(len(spectra), c, plan, cache_bytes)
        spectrum = st.spectrum(data, rows, k, plan, keep, work)
        if keep:
            spectra[k] = spectrum
        blk = st.block(spectrum, k, plan, include, analytic=True, broad=True, work=work)
        w0 = k * plan.hop // step
        nw = min(-(-core_len // step), setup.n_win - w0)
        # Segment validity (from the one stage mask when no sample is bad), then windows valid
        # where all their segments are.
        mask = include[None, :] if spectrum.bad is None else blk.valid
        span = mask[:, plan.margin : plan.margin + (nw + per - 1) * step]
        seg_ok = span.reshape(mask.shape[0], nw + per - 1, step).all(axis=2)
        seg_valid[:, w0 : w0 + nw] = seg_ok[:, :nw]
        win_ok = seg_ok[:, :nw].copy()
        for j in range(1, per):
            win_ok &= seg_ok[:, j : j + nw]
        valid[:, w0 : w0 + nw] = win_ok
        for i in range(c):
            f = kernels_a7.window_features(blk.band[i].real, blk.broad[i], plan.margin, step, win, nw)
            values[i, :, w0 : w0 + nw] = (f.abs_pow, f.rel_pow, f.cov, f.corr)
    values[:, :, n_complete:] = np.nan
    valid[:, n_complete:] = False
    return _Windows(values=values, valid=valid, seg_valid=seg_valid, spectra=spectra)


def _segments(name: str, values: np.ndarray, valid: np.ndarray, seg_valid: np.ndarray, setup: _Setup,
              cfg: DetectionConfig) -> A7Features:
    """Z-score relative power and covariance on the local baseline; average windows per segment."""
    per = setup.win // setup.step
    n_base = max(int(round(cfg.a7.baseline / STEP_SECONDS)), 2)
    feats = []
    for k, x in enumerate(values.astype(np.float64)):
        if k in (1, 2):  # relative power and covariance: z-scores
            ok = valid & np.isfinite(x)
            lo, hi = np.percentile(x[ok], _LIMITS) if ok.sum() >= 2 else (np.nan, np.nan)
            x = kernels_a7.baseline_zscore(x, valid, n_base, lo, hi)
        feats.append(kernels_a7.segment_means(x, per).astype(np.float32))
    plan = setup.plan
    return A7Features(channel=name, segment=setup.step / plan.rate, end=(plan.n_int - 1) / plan.rate,
                      abs_pow=feats[0], rel_pow_z=feats[1], cov_z=feats[2], corr=feats[3], valid=seg_valid)


# --------------------------------------------------------------------------- decision
def _above(x: np.ndarray, threshold: float | None) -> np.ndarray | None:
    if threshold is None:
        return None
    with np.errstate(invalid="ignore"):
        return x > threshold


def _decide_segments(feat: A7Features, cfg: DetectionConfig) -> tuple[np.ndarray, np.ndarray]:
    """First and last segment of each event (A7's rule, see the module docstring)."""
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


def a7_decide(feat: A7Features, cfg: DetectionConfig) -> pd.DataFrame:
    """Events (``start``, ``end`` in seconds, ``channel``) from precomputed features.

    Cheap: used to tune the thresholds of ``cfg`` without recomputing the features.
    """
    starts, lasts = _decide_segments(feat, cfg)
    return pd.DataFrame({
        "start": starts * feat.segment,
        "end": np.minimum((lasts + 1) * feat.segment, feat.end),
        "channel": feat.channel,
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
    w = _window_pass(recording.data, rows, setup, hypnogram, st.Work.new(len(rows), setup.plan), 0)
    return tuple(
        _segments(recording.channels[i], w.values[i], w.valid[i], w.seg_valid[i], setup, cfg) for i in rows
    )


# --------------------------------------------------------------------------- pass 2: parameters
def _params_pass(data, rows: list[int], found: dict[int, tuple[np.ndarray, np.ndarray]], setup: _Setup,
                 hyp, work: st.Work, spectra: dict[int, st.Spectrum]) -> dict[int, list[ChannelEvents]]:
    """Per-event parameters, block by block (only blocks where an event starts).

    Blocks whose spectrum pass 1 kept (``spectra``, emptied on the way) are not transformed again.
    """
    plan = setup.plan
    parts: dict[int, list[ChannelEvents]] = {i: [] for i in found}
    for k in range(plan.n_blocks):
        kept = spectra.pop(k, None)
        c0, c1 = plan.core(k)
        here = {i: (s >= c0) & (s < c1) for i, (s, _) in found.items()}
        live = [i for i in found if here[i].any()]
        if not live:
            continue
        include = st.included(hyp, setup.codes, c0 - plan.margin, plan)
        if kept is not None:
            spectrum = kept.take(live)
        else:
            spectrum = st.spectrum(data, [rows[i] for i in live], k, plan, False, work)
        blk = st.block(spectrum, k, plan, include, analytic=True, broad=True, work=work)
        del kept, spectrum
        for j, i in enumerate(live):
            parts[i].append(measure(blk, j, found[i][0][here[i]], found[i][1][here[i]], plan))
    return parts


def _run_group(data, rows: list[int], names: list[str], setup: _Setup, hyp, cfg: DetectionConfig,
               cache_bytes: int) -> tuple[list[pd.DataFrame], list[str]]:
    """Events frames and notes of one channel group."""
    plan = setup.plan
    work = st.Work.new(len(rows), plan)
    w = _window_pass(data, rows, setup, hyp, work, cache_bytes)
    notes, found = [], {}
    for i in range(len(rows)):
        if w.valid[i].sum() < 2:
            notes.append(f"a7: channel {names[i]} skipped (no usable samples in the searched stages)")
            continue
        feat = _segments(names[i], w.values[i], w.valid[i], w.seg_valid[i], setup, cfg)
        s, last = _decide_segments(feat, cfg)
        if s.size:
            found[i] = (s * setup.step, np.minimum((last + 1) * setup.step, plan.n_int - 1))
    spectra = w.spectra
    del w
    parts = _params_pass(data, rows, found, setup, hyp, work, spectra)
    return [events_frame(names[i], parts[i], plan.rate, hyp) for i in sorted(parts) if parts[i]], notes


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

    def run(group: list[int]) -> tuple[list[pd.DataFrame], list[str]]:
        share = st.cache_share(recording.data.nbytes, len(group), len(names))
        return _run_group(recording.data, group, [names[i] for i in group], setup, hypnogram, cfg, share)

    return collect(st.run_groups(len(names), run, cfg.n_jobs), "a7", notes)
