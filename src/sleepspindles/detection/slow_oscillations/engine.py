"""The slow-oscillation engine (``slow_oscillations.method: zero_crossing``), streamed.

Method. The night is filtered once into the SO band (``slow_oscillations.band``, 0.3-1.5 Hz;
zero-phase FIR with 0.2 Hz transitions, as ``yasa.sw_detect``), as an analytic signal at the
stream's internal rate (:mod:`sleepspindles.detection.core.streaming`), from the native samples
summed in groups down to a rate of at least 40 Hz and 25 times the band's top edge plus its
transition (42.5 Hz by default; ``StreamSpec.summed_rate``: 4 times less transform at 256 Hz;
the band signal stays within 0.3 % of the unsummed one with 10 uV of white EMG,
``tests/test_streaming.py``). An SO is one cycle
between two consecutive positive-to-negative zero crossings (``crossing``, 0.8-2 s apart) with
half-wave durations inside ``neg_duration`` and ``pos_duration``
(:func:`~sleepspindles.detection.slow_oscillations.kernels.find_slow_oscillations`), wholly
inside the searched stages on usable signal, and large enough: absolutely (negative peak <=
``neg_max``, peak-to-peak >= ``ptp_min``) or relatively (top ``percentile`` % of the candidates,
per channel or pooled over the homologous pair; the thresholds used are reported per channel).

Coupling. A spindle (from the spindle engine) is coupled when its ``sigma_peak`` (the maximum of
its sigma amplitude envelope; its ``peak``, the most prominent broadband peak, would sit on the
SO's own crest) lies inside an SO of its channel (start to end). Its ``so_phase`` is the phase
of the SO-band analytic signal there (:data:`sleepspindles.schema.PHASE_CONVENTION`); uncoupled
spindles have none (a phase taken without an SO measures nothing). For the surrogate test each
coupled spindle's peak is moved to ``n_surrogates`` uniform random times within its own SO, with a
generator seeded by ``(seed, channel name)``, so a channel's surrogates do not depend on which other
channels run; the phases there are returned for :mod:`sleepspindles.analysis.coupling`.

Polarity. A channel recorded upside down moves every phase by 180 degrees. SOs are largely
global, so each channel's SO troughs should fall on the other channels' troughs: a channel
whose troughs fall on the others' crests more often than on their troughs is flagged (never
flipped), as is one whose up-states are clearly larger than its down-states.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...config import SlowOscillationConfig
from ...errors import file_error
from ...hypnogram import Hypnogram, stage_names
from ...io.channels import homologue
from ...recording import Recording
from ...schema import SLOW_OSCILLATIONS, SPINDLES
from .. import DetectionResult, RecordingContext
from ..core import streaming as st
from .kernels import (
    DurationRules,
    SlowOscillations,
    amplitude_mask,
    find_slow_oscillations,
    phase_units,
    relative_thresholds,
)

__all__ = ["detect", "SurrogatePhases"]

logger = logging.getLogger(__name__)

_TRANSITION = 0.2  # Hz, both sides of the SO band (yasa.sw_detect's)
_CONTEXT_SECONDS = 2.5  # beyond the filter: the longest SO and a little more
_BLOCK_SECONDS = 600.0  # long blocks: the SO filter is ~16 s long
# The native signal is summed in groups down to a rate of at least this many times the band's
# top edge plus its transition (and 40 Hz) before the first FFT (StreamSpec.summed_rate): 4x less
# FFT at 256 Hz.
_SUMMED_PER_HZ = 25.0
_SUMMED_MIN = 40.0
_FLAT_SECONDS = 1.0  # runs of identical samples this long are unusable (as detection.flat_seconds)
_POLARITY_WINDOW = 0.15  # s: a trough "falls on" another channel's trough or crest within this
_UP_DOWN_RATIO = 1.25  # median up/down amplitude ratio above which a channel looks inverted


@dataclass(frozen=True)
class SurrogatePhases:
    """Surrogate SO phases of one channel's coupled spindles, as unit vectors.

    ``rows`` are positions in the annotated spindle table; ``units[i]`` holds ``exp(1j * phase)``
    (complex64) of spindle ``rows[i]`` moved to uniform random times within its SO: the
    normalised analytic signal there, which is all the surrogate resultants need (an angle and
    its exponential cost about 20 times as much on the millions of surrogates of a night).
    """

    rows: np.ndarray
    units: np.ndarray

    @property
    def phases(self) -> np.ndarray:
        """The surrogate phases in radians, ``(n_rows, n_surrogates)``."""
        return np.angle(self.units)



@dataclass
class _State:
    """One channel's findings, filled block by block (global internal samples)."""

    phase: np.ndarray  # SO phase (rad) at each spindle peak, in peak order
    holder: np.ndarray  # candidate index holding each spindle peak, -1 for none
    # (n spindles, n_surrogates) complex64: phases' unit vectors at random times in the holder
    # (NaN when an absolute amplitude criterion drops the holder: never reported)
    surrogates: np.ndarray
    # A peak on the sample one candidate ends and the next starts at: spindle -> (later candidate,
    # its surrogates), used when only the later candidate is kept.
    shared: dict = field(default_factory=dict)
    parts: list = field(default_factory=list)  # candidates per block
    n_candidates: int = 0
    so: SlowOscillations | None = None  # every candidate of the night, once the blocks are done


def _concat(parts: list[SlowOscillations], sf: float) -> SlowOscillations:
    names = ("start", "neg_peak", "mid", "pos_peak", "end", "val_neg", "val_pos")
    if not parts:
        empty = {n: np.zeros(0, np.float64 if n.startswith("val") else np.int64) for n in names}
        return SlowOscillations(**empty, sf=sf)
    return SlowOscillations(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names}, sf=sf)


def _shifted(so: SlowOscillations, keep: np.ndarray, offset: int) -> SlowOscillations:
    """Candidates ``keep`` with their indices moved by ``offset`` (local -> global)."""
    idx = {n: getattr(so, n)[keep] + offset for n in ("start", "neg_peak", "mid", "pos_peak", "end")}
    return SlowOscillations(**idx, val_neg=so.val_neg[keep], val_pos=so.val_pos[keep], sf=so.sf)


@dataclass(frozen=True)
class _Setup:
    plan: st.Plan
    rules: DurationRules
    codes: np.ndarray
    reach: int  # internal samples an SO can extend past the core it starts in
    n_surrogates: int
    seed: int
    # (neg_max, ptp_min) when the amplitude criterion is known before the night is read
    # (absolute): candidates failing it are never kept, so their surrogate phases are not read.
    limits: tuple[float | None, float | None] | None


def _block_candidates(x: np.ndarray, valid: np.ndarray, blk: st.Block, setup: _Setup) -> SlowOscillations:
    """Candidates starting in the block core, with global internal indices."""
    c0, c1 = blk.core.start, blk.core.stop
    a, b = c0 - 1, min(c1 + setup.reach, x.size)
    so = find_slow_oscillations(x[a:b], valid[a:b], setup.plan.rate, setup.rules)
    return _shifted(so, (so.start + a >= c0) & (so.start + a < c1), a + blk.g0)


def _run_channel_block(blk: st.Block, j: int, peaks: np.ndarray, setup: _Setup, rng: np.random.Generator,
                       state: _State) -> None:
    """Candidates of row ``j`` in this block; phases at its spindle peaks (sorted) and their surrogates."""
    analytic = blk.band[j]
    so = _block_candidates(analytic.real, blk.valid[j], blk, setup)
    state.parts.append(so)
    lo, hi = np.searchsorted(peaks, [blk.g0 + blk.core.start, blk.g0 + blk.core.stop])
    state.phase[lo:hi] = np.angle(analytic[peaks[lo:hi] - blk.g0])
    k, i = _held_peaks(peaks, so)
    if k.size:
        # One draw for every (candidate, peak) pair: the generator fills row after row, so the
        # stream is that of one draw of n_surrogates per pair in this order, whatever is kept.
        times = rng.uniform(so.start[k, None], so.end[k, None], (k.size, setup.n_surrogates))
        # Phases are read only where the criterion can keep the candidate (the rest stay NaN).
        read = np.ones(k.size, bool) if setup.limits is None else amplitude_mask(
            so.val_neg[k], so.ptp[k], neg_max=setup.limits[0], ptp_min=setup.limits[1])
        # A peak held by an earlier candidate (a previous block's, or the pair before in this
        # one: the previous candidate ends on the sample this one starts at) is shared.
        own = state.holder[i] < 0
        own[1:] &= i[1:] != i[:-1]
        write = np.flatnonzero(own & read)
        phase_units(analytic, times, blk.g0, write, i[write], state.surrogates)
        state.holder[i[own]] = state.n_candidates + k[own]
        for pair in np.flatnonzero(~own):
            units = np.full((1, setup.n_surrogates), np.nan, np.complex64)
            if read[pair]:
                phase_units(analytic, times, blk.g0, [pair], [0], units)
            state.shared[int(i[pair])] = (state.n_candidates + int(k[pair]), units[0])
    state.n_candidates += len(so)


def _held_peaks(peaks: np.ndarray, so: SlowOscillations) -> tuple[np.ndarray, np.ndarray]:
    """Every (candidate, spindle peak) pair with the peak inside the candidate (start to end, both included).

    Returns
    -------
    candidate, peak : numpy.ndarray of int64
        Candidate and peak indices, by candidate then peak: ``peak`` never decreases, and a peak
        appears twice at most, for two consecutive pairs (one candidate's end is the next one's start).
    """
    first, last = np.searchsorted(peaks, so.start), np.searchsorted(peaks, so.end, side="right")
    counts = np.maximum(last - first, 0)
    candidate = np.repeat(np.arange(len(so)), counts)
    before = np.cumsum(counts) - counts  # pairs of the earlier candidates
    peak = np.arange(candidate.size) - before[candidate] + first[candidate]
    return candidate, peak


def _run_group(data, rows: list[int], peaks: list[np.ndarray], setup: _Setup, hyp, names: list[str]) -> list[_State]:
    """Candidates, spindle phases and surrogates of one channel group, block by block."""
    plan = setup.plan
    work = st.Work.new(len(rows), plan)
    states = [_State(phase=np.full(p.size, np.nan), holder=np.full(p.size, -1),
                     surrogates=np.full((p.size, setup.n_surrogates), np.nan, np.complex64)) for p in peaks]
    # Seeded by the channel's name, not its position: rerunning a subset of channels reproduces their p-values.
    rngs = [np.random.default_rng([setup.seed, *name.encode("utf-8")]) for name in names]
    for k in range(plan.n_blocks):
        include = st.included(hyp, setup.codes, k * plan.hop - plan.margin, plan)
        c0, c1 = plan.core(k)
        if not include[plan.margin : plan.margin + c1 - c0].any():
            continue
        spectrum = st.spectrum(data, rows, k, plan, False, work)
        blk = st.block(spectrum, k, plan, include, analytic=True, broad=False, work=work)
        for j, state in enumerate(states):
            _run_channel_block(blk, j, peaks[j], setup, rngs[j], state)
    for state in states:
        state.so, state.parts = _concat(state.parts, plan.rate), []
    return states


# --------------------------------------------------------------------------- amplitude criteria
def _absolute(cfg: SlowOscillationConfig) -> tuple[float | None, float | None] | None:
    """``(neg_max, ptp_min)`` of an absolute amplitude criterion; None for a relative one."""
    return (cfg.neg_max, cfg.ptp_min) if cfg.amplitude == "absolute" else None


def _thresholds(found: dict[str, _State], cfg: SlowOscillationConfig) -> dict[str, tuple[float | None, float | None, str]]:
    """Per channel ``(neg_max, ptp_min, description)`` of the amplitude criterion applied."""
    if (limits := _absolute(cfg)) is not None:
        text = f"absolute: negative peak <= {limits[0]} uV, peak-to-peak >= {limits[1]} uV"
        return {name: (*limits, text) for name in found}
    out = {}
    for name, state in found.items():
        mate = homologue(name) if cfg.pooling == "pair" else None
        pool = [state.so] + ([found[mate].so] if mate in found else [])
        neg, ptp = relative_thresholds(np.concatenate([p.val_neg for p in pool]),
                                       np.concatenate([p.ptp for p in pool]), cfg.percentile)
        where = f"pooled over {'/'.join(sorted((name, mate)))}" if mate in found else "per channel"
        if cfg.pooling == "pair" and mate not in found:
            where += " (no homologous channel to pool with)"
        out[name] = (neg, ptp, f"relative, top {cfg.percentile:g}% {where}: negative peak <= {neg:.1f} uV, "
                               f"peak-to-peak >= {ptp:.1f} uV")
    return out


# --------------------------------------------------------------------------- polarity
def _agreement(troughs: np.ndarray, other: SlowOscillations, rate: int) -> float:
    """(troughs on the other channel's troughs - on its crests) / both; NaN with fewer than 10."""
    window = _POLARITY_WINDOW * rate

    def near(times: np.ndarray) -> int:
        if times.size == 0:
            return 0
        k = np.clip(np.searchsorted(times, troughs), 1, times.size - 1)
        gap = np.minimum(np.abs(times[k] - troughs), np.abs(times[k - 1] - troughs))
        return int((gap <= window).sum())

    same, opposite = near(np.sort(other.neg_peak)), near(np.sort(other.pos_peak))
    return (same - opposite) / (same + opposite) if same + opposite >= 10 else math.nan


def _polarity(kept: dict[str, SlowOscillations], rate: int) -> dict[str, str]:
    """``"ok"`` or why a channel looks inverted (its SO troughs on the others' crests; up > down)."""
    out = {}
    for name, so in kept.items():
        reasons = []
        agree = {o: _agreement(so.neg_peak, kept[o], rate) for o in kept if o != name}
        finite = [v for v in agree.values() if np.isfinite(v)]
        if finite and np.median(finite) < -0.2:
            worst = ", ".join(f"{o} {v:+.2f}" for o, v in agree.items() if np.isfinite(v))
            reasons.append(f"its SO troughs fall on the other channels' SO crests (agreement {worst})")
        if len(so) >= 10 and np.median(so.val_pos / -so.val_neg) > _UP_DOWN_RATIO:
            ratio = float(np.median(so.val_pos / -so.val_neg))
            reasons.append(f"its up-states are larger than its down-states (median ratio {ratio:.2f})")
        out[name] = "looks inverted: " + "; ".join(reasons) if reasons else "ok"
    return out


# --------------------------------------------------------------------------- engine
def _spindle_peaks(spindles: pd.DataFrame, names: list[str], rate: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per channel: the spindle table's rows and their sigma peaks (internal samples), in peak order."""
    rows, peaks = [], []
    for name in names:
        on = np.flatnonzero((spindles["channel"] == name).to_numpy())
        at = np.rint(spindles["sigma_peak"].to_numpy(float)[on] * rate).astype(np.int64)
        order = np.argsort(at, kind="stable")
        rows.append(on[order])
        peaks.append(at[order])
    return rows, peaks


def _events(kept: dict[str, SlowOscillations], hypnogram: Hypnogram | None, rate: int) -> pd.DataFrame:
    frames = []
    for name, so in kept.items():
        t = {n: getattr(so, n) / rate for n in ("start", "neg_peak", "mid", "pos_peak", "end")}
        stage = hypnogram.stage_at(t["neg_peak"]) if hypnogram is not None else np.full(len(so), -2)
        frames.append(pd.DataFrame({
            "channel": name, "stage": stage_names(stage), "start": t["start"], "neg_peak": t["neg_peak"],
            "mid_crossing": t["mid"], "pos_peak": t["pos_peak"], "end": t["end"], "duration": so.duration,
            "val_neg": so.val_neg, "val_pos": so.val_pos, "ptp": so.ptp, "slope": so.slope, "frequency": so.frequency,
        }))  # fmt: skip
    return SLOW_OSCILLATIONS.conform(pd.concat(frames, ignore_index=True)) if frames else SLOW_OSCILLATIONS.empty()


def _annotate(spindles: pd.DataFrame, rows: dict[str, np.ndarray], found: dict[str, _State],
              kept_masks: dict[str, np.ndarray]) -> tuple[pd.DataFrame, dict[str, SurrogatePhases]]:
    """Spindles with ``so_coupled`` / ``so_phase``, and the coupled spindles' surrogate phases."""
    coupled = pd.array(np.zeros(len(spindles), bool), dtype="boolean")
    phase = np.full(len(spindles), np.nan)
    surrogates = {}
    for name, state in found.items():
        kept = kept_masks[name]
        held = state.holder >= 0
        held[held] = kept[state.holder[held]]
        for i, (later, phases) in state.shared.items():  # the earlier candidate wins when both are kept
            if not held[i] and kept[later]:
                held[i], state.surrogates[i] = True, phases
        coupled[rows[name]] = held
        phase[rows[name][held]] = np.degrees(state.phase[held])
        surrogates[name] = SurrogatePhases(rows=rows[name][held], units=state.surrogates[held])
    return spindles.assign(so_coupled=coupled, so_phase=phase), surrogates


def _setup(recording: Recording, cfg: SlowOscillationConfig, flat_seconds: float) -> _Setup:
    if cfg.band[1] + _TRANSITION >= recording.sf / 2:
        raise file_error(recording.source, f"slow-oscillation band {cfg.band[0]:g}-{cfg.band[1]:g} Hz is not "
                                           f"below the Nyquist frequency of {recording.sf / 2:g} Hz")
    rate = st.internal_rate(cfg.band[1])
    spec = st.StreamSpec(rate=rate, band=cfg.band, band_transition=(_TRANSITION, _TRANSITION), broadband=None,
                         context=round(_CONTEXT_SECONDS * rate), block_seconds=_BLOCK_SECONDS,
                         flat_seconds=flat_seconds,
                         summed_rate=max(_SUMMED_MIN, _SUMMED_PER_HZ * (cfg.band[1] + _TRANSITION)))
    return _Setup(plan=st.make_plan(recording.sf, recording.n_samples, spec),
                  rules=DurationRules(cfg.crossing, cfg.neg_duration, cfg.pos_duration), codes=st.stage_codes(cfg.stages),
                  reach=math.ceil(cfg.crossing[1] * rate) + 2, n_surrogates=cfg.n_surrogates, seed=cfg.seed,
                  limits=_absolute(cfg))


def detect(recording: Recording, hypnogram: Hypnogram | None, cfg: SlowOscillationConfig,
           context: RecordingContext) -> DetectionResult:
    """Detect slow oscillations on every channel and couple the spindles to them.

    Parameters
    ----------
    recording : Recording
        EEG channels in microvolts.
    hypnogram : Hypnogram or None
        Stages aligned to ``recording``; ``None`` searches everything.
    cfg : SlowOscillationConfig
    context : RecordingContext
        The spindles found (``context.detections["spindles"]``, when detected) and the config
        (``detection.flat_seconds``, ``detection.n_jobs``).

    Returns
    -------
    DetectionResult
        SO events; ``tables["spindles"]``, the spindles with ``so_coupled`` and ``so_phase``;
        ``tables["so_channels"]``, per channel the amplitude criterion applied and the polarity
        check; ``extra["surrogates"]``, per channel the coupled spindles' surrogate phases.
    """
    setup = _setup(recording, cfg, context.config.detection.flat_seconds)
    rate, names = setup.plan.rate, list(recording.channels)
    spindles = context.detections["spindles"].events if "spindles" in context.detections else SPINDLES.empty()
    rows, peaks = _spindle_peaks(spindles, names, rate)

    def run(group: list[int]) -> list[_State]:
        return _run_group(recording.data, group, [peaks[i] for i in group], setup, hypnogram, [names[i] for i in group])

    states = [s for group in st.run_groups(len(names), run, context.config.detection.n_jobs) for s in group]
    found = dict(zip(names, states))
    limits = _thresholds(found, cfg)
    masks = {n: amplitude_mask(s.so.val_neg, s.so.ptp, neg_max=limits[n][0], ptp_min=limits[n][1])
             for n, s in found.items()}
    kept = {n: _shifted(s.so, masks[n], 0) for n, s in found.items()}
    polarity = _polarity(kept, rate)
    annotated, surrogates = _annotate(spindles, dict(zip(names, rows)), found, masks)
    channels = pd.DataFrame({"channel": names, "threshold": [limits[n][2] for n in names],
                             "polarity": [polarity[n] for n in names]})
    notes = [f"slow oscillations: channel {n} {p}" for n, p in polarity.items() if p != "ok"]
    return DetectionResult(events=_events(kept, hypnogram, rate), notes=tuple(notes),
                           tables={"spindles": annotated, "so_channels": channels},
                           extra={"surrogates": surrogates, "seed": cfg.seed})
