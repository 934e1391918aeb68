"""Numeric kernels of YASA's spindle criteria, as the fast engine computes them: arrays in, arrays out.

Holds the moving RMS and moving correlation (:func:`moving_rms`, :func:`moving_rms_corr`), the
linear interpolation of knots and the votes taken on it (:func:`interp_knots`,
:func:`knot_votes`), the STFT relative sigma power (:func:`stft_band_ratio`, computed only at the
frames :func:`frames_needed` flags), the vote count and YASA's soft threshold
(:func:`count_votes`, :func:`soft_vote`) and the streaming trimmed statistics of the RMS
threshold (:class:`TrimmedStats`). Runs of the vote mask and their merging are shared kernels
(:mod:`sleepspindles.detection.core.kernels`); the per-spindle parameters are in
:mod:`sleepspindles.detection.spindles.kernels_events`.

Each public function validates its inputs, allocates its outputs and calls a compiled loop
from :mod:`sleepspindles.detection.spindles.kernels_yasa_numba`; each has a ``*_ref`` twin written
with plain numpy (and scipy where that is the definition), which the tests compare it against.

Conventions: sample indices are local to the arrays passed; "knots" are the centres of moving
windows (knot ``i`` at sample ``first + i * step``); frames are STFT frames ``step`` samples apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import param_error
from ..core.kernels import as_strided_vector, as_vector
from . import kernels_yasa_numba as _k

__all__ = [
    "moving_rms",
    "moving_rms_corr",
    "moving_rms_corr_ref",
    "interp_knots",
    "interp_knots_ref",
    "knot_votes",
    "knot_votes_ref",
    "stft_band_ratio",
    "stft_band_ratio_ref",
    "frames_needed",
    "frames_needed_ref",
    "count_votes",
    "count_votes_ref",
    "soft_vote",
    "soft_vote_ref",
    "TrimmedStats",
    "trimmed_stats_ref",
]


# --------------------------------------------------------------------------- moving windows
def moving_rms_corr(x, y, first: int, step: int, half: int, n_knots: int) -> tuple[np.ndarray, np.ndarray]:
    """Moving RMS of ``x`` and moving Pearson correlation of ``x`` and ``y``.

    Window ``i`` covers samples ``[c - half, c + half)`` with ``c = first + i * step``, clipped
    to the array. Correlation is NaN where a window has no variance. ``x`` may be a strided view
    (e.g. the real part of a complex array); when ``2 * half`` is a multiple of ``step`` each
    sample is read once (per-step sums, ``2 * half / step`` of them per window).

    Returns
    -------
    rms, corr : numpy.ndarray of float64, shape (n_knots,)
    """
    x = as_strided_vector(x, "x")
    y = as_vector(y, "y")
    if x.shape != y.shape:
        raise param_error("y", f"an array of the same length as x ({x.size})", y.size)
    if step < 1 or half < 1 or n_knots < 0:
        raise param_error("step/half/n_knots", "positive integers", (step, half, n_knots))
    rms = np.empty(n_knots)
    corr = np.empty(n_knots)
    _k.moving_rms_corr(x, y, int(first), int(step), int(half), rms, corr)
    return rms, corr


def moving_rms(x, first: int, step: int, half: int, n_knots: int) -> np.ndarray:
    """Moving RMS only (the first column of :func:`moving_rms_corr`, a fifth of the work)."""
    x = as_strided_vector(x, "x")
    if step < 1 or half < 1 or n_knots < 0:
        raise param_error("step/half/n_knots", "positive integers", (step, half, n_knots))
    rms = np.empty(n_knots)
    _k.moving_rms(x, int(first), int(step), int(half), rms)
    return rms


def moving_rms_corr_ref(x, y, first: int, step: int, half: int, n_knots: int) -> tuple[np.ndarray, np.ndarray]:
    """Numpy twin of :func:`moving_rms_corr` (one window at a time)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    rms = np.full(n_knots, np.nan)
    corr = np.full(n_knots, np.nan)
    for i in range(n_knots):
        c = first + i * step
        a, b = x[max(c - half, 0) : min(c + half, x.size)], y[max(c - half, 0) : min(c + half, x.size)]
        if a.size:
            rms[i] = np.sqrt(np.mean(a**2))
        if a.size >= 2 and a.std() > 0 and b.std() > 0:
            corr[i] = np.corrcoef(a, b)[0, 1]
    return rms, corr


def interp_knots(knots, first: int, step: int, start: int, n: int) -> np.ndarray:
    """Values at samples ``start .. start + n - 1`` by linear interpolation between knots.

    Samples before the first or after the last knot take the end values.
    """
    knots = as_vector(knots, "knots", np.float64)
    if knots.size == 0 or step < 1:
        raise param_error("knots", "a non-empty array with step >= 1", knots.size)
    out = np.empty(n, dtype=np.float32)
    _k.interp_knots(knots, int(first), int(step), int(start), out)
    return out


def interp_knots_ref(knots, first: int, step: int, start: int, n: int) -> np.ndarray:
    """Numpy twin of :func:`interp_knots`.

    A segment with a NaN end is NaN throughout, its first sample included (as
    ``scipy.interpolate.interp1d``, which YASA uses; ``np.interp`` would return the knot there).
    """
    knots = np.asarray(knots, dtype=np.float64)
    pos = first + step * np.arange(knots.size)
    x = np.arange(start, start + n)
    out = np.interp(x, pos, knots)
    if knots.size >= 2:
        j = np.clip((x - first) // step, 0, knots.size - 2)
        inside = (x >= pos[0]) & (x < pos[-1])
        out[inside & (np.isnan(knots[j]) | np.isnan(knots[j + 1]))] = np.nan
    return out.astype(np.float32)


def knot_votes(count, knots, first: int, step: int, start: int, threshold: float) -> None:
    """Add one vote (in place, ``count`` uint8) where the knots interpolated at samples
    ``start .. start + count.size - 1`` (as :func:`interp_knots`, float32) reach ``threshold``.

    The same as ``count += interp_knots(...) >= threshold`` without the intermediate arrays.
    """
    knots = as_vector(knots, "knots", np.float64)
    if knots.size == 0 or step < 1:
        raise param_error("knots", "a non-empty array with step >= 1", knots.size)
    if not (isinstance(count, np.ndarray) and count.dtype == np.uint8 and count.ndim == 1 and count.flags.c_contiguous):
        raise param_error("count", "a contiguous one-dimensional uint8 array", getattr(count, "dtype", type(count)))
    _k.knot_votes(knots, int(first), int(step), int(start), float(threshold), count)


def knot_votes_ref(count, knots, first: int, step: int, start: int, threshold: float) -> None:
    """Numpy twin of :func:`knot_votes`."""
    count += interp_knots_ref(knots, first, step, start, count.size) >= threshold


# --------------------------------------------------------------------------- STFT band power
@dataclass(frozen=True)
class _DftPlan:
    basis: np.ndarray  # (frame_len, 2 * n_bins): cos | -sin of bins k0 .. k0 + n_bins - 1
    k0: int


_DFT_PLANS: dict[tuple[int, int, int], _DftPlan] = {}


def _dft_plan(frame_len: int, k_lo: int, k_hi: int) -> _DftPlan:
    key = (frame_len, k_lo, k_hi)
    if key not in _DFT_PLANS:
        k = np.arange(k_lo - 1, k_hi + 2)
        phase = 2 * np.pi * np.outer(np.arange(frame_len), k) / frame_len
        basis = np.hstack([np.cos(phase), -np.sin(phase)]).astype(np.float32)
        _DFT_PLANS[key] = _DftPlan(basis, int(k_lo - 1))
    return _DFT_PLANS[key]


def stft_band_ratio(
    x, frame_len: int, step: int, sig_bins: tuple[int, int], broad_bins: tuple[int, int], need=None
) -> np.ndarray:
    """Power in ``sig_bins`` over power in ``broad_bins`` of Hann-windowed frames.

    Frame ``f`` covers ``x[f * step : f * step + frame_len]`` (periodic Hann window, as
    ``scipy.signal.stft``); bins are inclusive DFT indices of the frame. ``frame_len`` must be a
    multiple of ``step``. Computed from per-step partial DFTs (one small matrix product) and a
    running sum over the frame, about ten times fewer operations than one FFT per frame.

    Parameters
    ----------
    need : array of bool, shape (n_frames,), optional
        Frames to compute; the others are NaN and cost nothing (sub-blocks that no flagged frame
        covers are never transformed). Default: all frames.

    Returns
    -------
    numpy.ndarray of float32, shape (n_frames,)
        0 where a frame has no broadband power.
    """
    x = as_vector(x, "x", np.float32)
    if step < 1 or frame_len % step:
        raise param_error("frame_len", f"a multiple of step ({step})", frame_len)
    (s_lo, s_hi), (b_lo, b_hi) = sig_bins, broad_bins
    if not (1 <= b_lo <= s_lo <= s_hi <= b_hi < frame_len // 2):
        raise param_error("sig_bins", f"bins inside broad_bins {broad_bins} within 1..{frame_len // 2 - 1}", sig_bins)
    m = frame_len // step
    n_sub = x.size // step
    n_frames = max(n_sub - m + 1, 0)
    if need is None:
        need = np.ones(n_frames, dtype=np.bool_)
    need = as_vector(need, "need", np.bool_)
    if need.size != n_frames:
        raise param_error("need", f"{n_frames} booleans (one per frame)", need.size)
    out = np.zeros(n_frames, dtype=np.float32)
    if n_frames == 0:
        return out
    plan = _dft_plan(frame_len, b_lo, b_hi)
    g = np.empty((n_sub, plan.basis.shape[1]), dtype=np.float32)
    _k.frame_band_ratio(x, plan.basis, step, plan.k0, s_lo, s_hi, b_lo, b_hi, need, g, out)
    return out


def stft_band_ratio_ref(x, frame_len: int, step: int, sig_bins, broad_bins, need=None) -> np.ndarray:
    """Numpy twin of :func:`stft_band_ratio`: one Hann-windowed FFT per frame."""
    from scipy import signal  # the twins only: the compiled path never needs scipy.signal

    x = np.asarray(x, dtype=np.float64)
    n_frames = max(x.size // step - frame_len // step + 1, 0)
    frames = np.lib.stride_tricks.sliding_window_view(x, frame_len)[::step][:n_frames]
    power = np.abs(np.fft.rfft(frames * signal.get_window("hann", frame_len), axis=1)) ** 2
    num = power[:, sig_bins[0] : sig_bins[1] + 1].sum(1)
    den = power[:, broad_bins[0] : broad_bins[1] + 1].sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(den > 0, num / den, 0.0)
    return ratio if need is None else np.where(need, ratio, np.nan)


def frames_needed(could, offset: int, step: int, w: int, n_frames: int) -> np.ndarray:
    """Frames that linear interpolation between frame centres reads for every sample of the
    ``w``-sample soft-vote windows (centred as :func:`soft_vote`) around samples flagged in ``could``.

    Sample ``t`` lies ``t + offset`` samples after frame 0's centre; frames are ``step`` apart.
    """
    could = as_vector(could, "could", np.bool_)
    if step < 1 or w < 1 or n_frames < 1:
        raise param_error("step/w/n_frames", "positive integers", (step, w, n_frames))
    need = np.empty(n_frames, dtype=np.bool_)
    _k.frames_needed(could, int(offset), int(step), int(w), need)
    return need


def frames_needed_ref(could, offset: int, step: int, w: int, n_frames: int) -> np.ndarray:
    """Numpy twin of :func:`frames_needed` (interval marks and a cumulative sum)."""
    idx = np.flatnonzero(could)
    lo = np.clip((idx - w // 2 + offset) // step, 0, n_frames - 1)
    hi = np.clip((idx + (w - 1) // 2 + offset) // step + 1, 0, n_frames - 1)
    marks = np.bincount(lo, minlength=n_frames + 1) - np.bincount(hi + 1, minlength=n_frames + 1)
    return np.cumsum(marks[:n_frames]) > 0


# --------------------------------------------------------------------------- votes
def count_votes(crit, thresholds) -> np.ndarray:
    """Number of criteria (rows of ``crit``) at or above their threshold, per sample."""
    crit = np.ascontiguousarray(crit)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    if crit.ndim != 2 or crit.shape[0] != thresholds.size:
        raise param_error("crit", f"a ({thresholds.size}, n) array", f"shape {crit.shape}")
    out = np.empty(crit.shape[1], dtype=np.uint8)
    _k.count_votes(crit, thresholds, out)
    return out


def count_votes_ref(crit, thresholds) -> np.ndarray:
    """Numpy twin of :func:`count_votes`."""
    crit = np.asarray(crit)
    return (crit >= np.asarray(thresholds)[:, None]).sum(0).astype(np.uint8)


def soft_vote(count, include, w: int, need: int) -> np.ndarray:
    """YASA's soft threshold: the ``w``-sample moving mean of the votes exceeds ``need``.

    ``count`` is zeroed where ``include`` is False first; the window is centred as
    ``np.convolve(..., mode="same")`` centres it.
    """
    count = as_vector(count, "count", np.uint8)
    include = as_vector(include, "include", np.bool_)
    if include.size != count.size or w < 1:
        raise param_error("include", f"{count.size} booleans and w >= 1", (include.size, w))
    out = np.empty(count.size, dtype=np.bool_)
    _k.soft_vote(count, include, int(w), int(need), out)
    return out


def soft_vote_ref(count, include, w: int, need: int) -> np.ndarray:
    """Numpy twin of :func:`soft_vote` (YASA's convolution)."""
    votes = np.where(include, count, 0).astype(np.float64)
    return np.convolve(votes, np.ones(w), mode="same") / w > need


# --------------------------------------------------------------------------- trimmed statistics
class TrimmedStats:
    """Streaming mean and trimmed standard deviation in bounded memory.

    Values are accumulated into fine log-spaced bins (count, sum, sum of squares), so the
    whole-night threshold needs no whole-night array. The trimmed standard deviation matches
    ``yasa.others.trimbothstd`` to about 1e-4 relative (only the two bins holding the cut points
    are approximated, by their mean).

    Parameters
    ----------
    lo, hi : float
        Range of the bins (values outside go to the end bins; exact sums are kept anyway).
    bits_per_octave : int
        Resolution: ``2 ** bits_per_octave`` bins per doubling (9: 0.14 % wide bins).
    """

    def __init__(self, lo: float = 1e-4, hi: float = 1e6, bits_per_octave: int = 9):
        self._shift = 23 - bits_per_octave
        self._first = int(np.float32(lo).view(np.int32)) >> self._shift
        n_bins = (int(np.float32(hi).view(np.int32)) >> self._shift) - self._first + 1
        self.counts = np.zeros(n_bins, dtype=np.int64)
        self.sums = np.zeros(n_bins)
        self.sumsq = np.zeros(n_bins)

    def add(self, values, mask) -> None:
        """Accumulate ``values[mask]`` (NaN ignored)."""
        values = as_vector(values, "values", np.float32)
        mask = as_vector(mask, "mask", np.bool_)
        _k.hist_add(values, mask, self._first, self._shift, self.counts, self.sums, self.sumsq)

    def add_knots(self, knots, first: int, step: int, start: int, mask) -> None:
        """Accumulate the interpolation of ``knots`` at samples ``start .. start + mask.size - 1``
        where ``mask`` (NaN ignored): the same as ``add(interp_knots(...), mask)``, in one pass."""
        knots = as_vector(knots, "knots", np.float64)
        mask = as_vector(mask, "mask", np.bool_)
        if knots.size == 0 or step < 1:
            raise param_error("knots", "a non-empty array with step >= 1", knots.size)
        _k.hist_add_knots(knots, int(first), int(step), int(start), mask, self._first, self._shift, self.counts,
                          self.sums, self.sumsq)

    @property
    def n(self) -> int:
        """Number of values accumulated."""
        return int(self.counts.sum())

    def mean(self) -> float:
        """Mean of all values (NaN when empty)."""
        return float(self.sums.sum() / self.n) if self.n else float("nan")

    def trimmed_std(self, cut: float = 0.10) -> float:
        """Sample SD (ddof=1) after removing ``int(cut * n)`` values at each end."""
        n = self.n
        k = int(cut * n)
        kept = n - 2 * k
        if kept < 2:
            return float("nan")
        cum = np.cumsum(self.counts)
        mean_bin = np.divide(self.sums, self.counts, out=np.zeros_like(self.sums), where=self.counts > 0)
        msq_bin = np.divide(self.sumsq, self.counts, out=np.zeros_like(self.sums), where=self.counts > 0)
        # Number of values of each bin kept: those with rank in [k, n - k).
        below = np.clip(k - (cum - self.counts), 0, self.counts)
        above = np.clip(cum - (n - k), 0, self.counts)
        keep = self.counts - below - above
        s1 = float((keep * mean_bin).sum())
        s2 = float((keep * msq_bin).sum())
        var = (s2 - s1 * s1 / kept) / (kept - 1)
        return float(np.sqrt(max(var, 0.0)))


def trimmed_stats_ref(values, cut: float = 0.10) -> tuple[float, float]:
    """Mean and trimmed SD exactly as YASA computes them (``trimbothstd``)."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    low = int(cut * n)
    part = np.partition(x, (low, n - low - 1))
    return float(x.mean()), float(np.std(part[low : n - low], ddof=1))
