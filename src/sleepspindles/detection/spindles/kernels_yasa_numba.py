"""Private compiled loops of YASA's spindle criteria: loops only, no validation, no allocation of large arrays.

Every function here is called through a wrapper in :mod:`sleepspindles.detection.spindles.kernels_yasa`,
which checks shapes and dtypes, allocates the outputs and documents the maths; each has a plain
numpy twin there that the tests compare against. Indices are local to the arrays passed; knot
``i`` sits at sample ``first + i * step``.
"""

from __future__ import annotations

import math

import numpy as np

from ..core._numba import jit

# Reassociation lets LLVM vectorise the sums; NaN/inf semantics are kept (no 'nnan'/'ninf').
_FAST = {"reassoc", "contract", "arcp", "nsz"}


@jit
def _pieces(step, half):  # pragma: no cover - compiled
    """Windows ``[c - half, c + half)`` as ``m`` consecutive pieces of ``length`` samples:
    pieces of one step when ``2 * half`` is a multiple of ``step`` (each sample read once),
    else one piece per window."""
    m = (2 * half) // step
    if m * step == 2 * half:
        return m, step
    return 1, 2 * half


@jit(fastmath=_FAST)
def moving_rms(x, first, step, half, rms):  # pragma: no cover - compiled
    """Moving RMS around knots ``first + i * step`` (window ``[c - half, c + half)``).

    Sums of squares are taken per piece (see :func:`_pieces`) and each window adds its pieces.
    """
    n = x.shape[0]
    m, length = _pieces(step, half)
    n_pieces = rms.shape[0] + m - 1
    sq = np.empty(n_pieces)
    cnt = np.empty(n_pieces)
    for j in range(n_pieces):
        a = first - half + j * step
        lo = min(max(a, 0), n)
        hi = min(max(a + length, 0), n)
        sxx = 0.0
        for t in range(lo, hi):
            v = np.float64(x[t])
            sxx += v * v
        sq[j] = sxx
        cnt[j] = hi - lo
    for i in range(rms.shape[0]):
        tot = 0.0
        w = 0.0
        for r in range(i, i + m):
            tot += sq[r]
            w += cnt[r]
        rms[i] = math.sqrt(tot / w) if w > 0 else np.nan


@jit(fastmath=_FAST)
def moving_rms_corr(x, y, first, step, half, rms, corr):  # pragma: no cover - compiled
    """Window sums around knots ``first + i * step`` (window ``[c - half, c + half)``).

    Each piece (see :func:`_pieces`) is summed once, shifted by its first sample; a window
    re-shifts its pieces to the window's first sample and adds them. The shift gives exact zeros
    for flat windows and less cancellation.
    """
    n = x.shape[0]
    m, length = _pieces(step, half)
    n_pieces = rms.shape[0] + m - 1
    p = np.empty((n_pieces, 8))  # x0, y0, count, sx, sy, sxx, syy, sxy
    for j in range(n_pieces):
        a = first - half + j * step
        lo = min(max(a, 0), n)
        hi = min(max(a + length, 0), n)
        x0 = np.float64(x[lo]) if hi > lo else 0.0
        y0 = np.float64(y[lo]) if hi > lo else 0.0
        sx = 0.0
        sy = 0.0
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        for t in range(lo, hi):
            u = np.float64(x[t]) - x0
            v = np.float64(y[t]) - y0
            sx += u
            sy += v
            sxx += u * u
            syy += v * v
            sxy += u * v
        p[j, 0] = x0
        p[j, 1] = y0
        p[j, 2] = hi - lo
        p[j, 3] = sx
        p[j, 4] = sy
        p[j, 5] = sxx
        p[j, 6] = syy
        p[j, 7] = sxy
    for i in range(rms.shape[0]):
        s = 0.0  # the window's shift: first sample of its first non-empty piece
        t0 = 0.0
        w = 0.0
        sx = 0.0
        sy = 0.0
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        for r in range(i, i + m):
            c = p[r, 2]
            if c <= 0:
                continue
            if w == 0:
                s = p[r, 0]
                t0 = p[r, 1]
            d = p[r, 0] - s
            e = p[r, 1] - t0
            w += c
            sx += p[r, 3] + c * d
            sy += p[r, 4] + c * e
            sxx += p[r, 5] + 2.0 * d * p[r, 3] + c * d * d
            syy += p[r, 6] + 2.0 * e * p[r, 4] + c * e * e
            sxy += p[r, 7] + d * p[r, 4] + e * p[r, 3] + c * d * e
        if w <= 0:
            rms[i] = np.nan
            corr[i] = np.nan
            continue
        # Mean square of the unshifted x from the shifted sums.
        rms[i] = math.sqrt(max((sxx + 2.0 * s * sx) / w + s * s, 0.0))
        vx = max(sxx - sx * sx / w, 0.0)
        vy = max(syy - sy * sy / w, 0.0)
        den = math.sqrt(vx * vy)
        corr[i] = (sxy - sx * sy / w) / den if (w >= 2 and den != 0.0) else np.nan


@jit
def _segment(knots, first, step, start, i, n):  # pragma: no cover - compiled
    """The knot segment holding sample ``start + i`` (knot ``j`` at sample ``first + j * step``):
    ``(a, slope, off, stop)`` with value ``a + slope * (off + t - i)`` at samples ``i <= t < stop``
    (``stop <= n``). Outside the knots: the end knot's value, one sample."""
    last = knots.shape[0] - 1
    pos = start + i - first
    j = pos // step
    if j < 0 or j >= last:
        return (knots[0] if j < 0 else knots[last]), 0.0, 0, i + 1
    off = pos - j * step
    return knots[j], (knots[j + 1] - knots[j]) / step, off, min(n, i + step - off)


@jit
def interp_knots(knots, first, step, start, out):  # pragma: no cover - compiled
    """Linear interpolation of knot values (knot i at sample ``first + i * step``)."""
    n = out.shape[0]
    i = 0
    while i < n:
        # All samples up to the next knot share one segment: no division inside.
        a, slope, off, stop = _segment(knots, first, step, start, i, n)
        for t in range(i, stop):
            out[t] = a + slope * (off + t - i)
        i = stop
    return out


@jit
def knot_votes(knots, first, step, start, threshold, count):  # pragma: no cover - compiled
    """``count[i] += 1`` where the float32-rounded interpolation of the knots at sample
    ``start + i`` is at or above ``threshold`` (as :func:`interp_knots` then a comparison)."""
    n = count.shape[0]
    i = 0
    while i < n:
        a, slope, off, stop = _segment(knots, first, step, start, i, n)
        b = a + slope * step
        # A segment clearly on one side of the threshold is decided at once: the margin is
        # far above float32 rounding (6e-8 relative). NaN ends fail both tests and take the
        # exact path (no vote).
        margin = 1e-6 * (abs(threshold) + abs(a) + abs(b))
        if a > threshold + margin and b > threshold + margin:
            for t in range(i, stop):
                count[t] += 1
        elif not (a < threshold - margin and b < threshold - margin):
            for t in range(i, stop):
                if np.float32(a + slope * (off + t - i)) >= threshold:
                    count[t] += 1
        i = stop


@jit(fastmath=_FAST)
def dft_row(x, basis, step, q, g):  # pragma: no cover - compiled
    """``g[q] = x[q * step : (q + 1) * step] @ basis[r * step : (r + 1) * step]``, ``r = q mod m``.

    ``basis`` holds one frame period (``m * step`` rows), so every sub-block's DFT is phase
    referenced to the frame grid.
    """
    m = basis.shape[0] // step
    n_col = basis.shape[1]
    r = (q % m) * step
    base = q * step
    for j in range(n_col):
        g[q, j] = 0.0
    t = 0
    while t + 4 <= step:  # four samples per pass over the row: a quarter of its loads and stores
        v0 = x[base + t]
        v1 = x[base + t + 1]
        v2 = x[base + t + 2]
        v3 = x[base + t + 3]
        for j in range(n_col):
            g[q, j] += v0 * basis[r + t, j] + v1 * basis[r + t + 1, j] + v2 * basis[r + t + 2, j] + v3 * basis[r + t + 3, j]
        t += 4
    while t < step:
        v = x[base + t]
        for j in range(n_col):
            g[q, j] += v * basis[r + t, j]
        t += 1


@jit(fastmath=_FAST)
def _add_row(x, basis, step, q, g, done, s_re, s_im):  # pragma: no cover - compiled
    """Add sub-block ``q``'s DFT row to the running sums, computing it first if needed.

    Returns the new count of computed rows (``done``).
    """
    if q >= done:
        dft_row(x, basis, step, q, g)
        done = q + 1
    n_bins = s_re.shape[0]
    for j in range(n_bins):
        s_re[j] += g[q, j]
        s_im[j] += g[q, n_bins + j]
    return done


@jit(fastmath=_FAST)
def frame_band_ratio(x, basis, step, k0, sig_lo, sig_hi, br_lo, br_hi, need, g, out):  # pragma: no cover
    """Hann-window STFT band-power ratio of the frames flagged in ``need`` (NaN elsewhere).

    ``g[q, j]`` / ``g[q, K + j]``: real / imaginary part of sum over sub-block ``q`` of
    ``x[n] exp(-2 pi i k n / M)`` at bin ``k = k0 + j``, ``n`` counted modulo the frame length
    ``M = m * step``, computed only for the sub-blocks of flagged frames. Frame ``f`` spans
    sub-blocks ``f .. f + m - 1``; its rectangular-window DFT is ``exp(2 pi i k f / m) S_k`` with
    ``S_k`` the running sum of ``g`` (restarted at each run of flagged frames), and the Hann window
    is ``X_k = 0.5 R_k - 0.25 R_{k-1} - 0.25 R_{k+1}``.
    """
    m = basis.shape[0] // step
    n_bins = g.shape[1] // 2
    s_re = np.zeros(n_bins)
    s_im = np.zeros(n_bins)
    power = np.zeros(n_bins)
    done = 0  # sub-blocks [0, done) of g are computed (or never needed)
    running = False
    for f in range(out.shape[0]):
        if not need[f]:
            out[f] = np.nan
            running = False
            continue
        if not running:
            for j in range(n_bins):
                s_re[j] = 0.0
                s_im[j] = 0.0
            for q in range(f, f + m - 1):
                done = _add_row(x, basis, step, q, g, done, s_re, s_im)
            running = True
        done = _add_row(x, basis, step, f + m - 1, g, done, s_re, s_im)
        ang = 2.0 * math.pi * (f % m) / m
        w_re = math.cos(ang)
        w_im = math.sin(ang)
        for j in range(1, n_bins - 1):
            # 0.5 S_k - 0.25 conj(w) S_{k-1} - 0.25 w S_{k+1}
            x_re = 0.5 * s_re[j] - 0.25 * (w_re * (s_re[j - 1] + s_re[j + 1]) + w_im * (s_im[j - 1] - s_im[j + 1]))
            x_im = 0.5 * s_im[j] - 0.25 * (w_re * (s_im[j - 1] + s_im[j + 1]) - w_im * (s_re[j - 1] - s_re[j + 1]))
            power[j] = x_re * x_re + x_im * x_im
        num = 0.0
        den = 0.0
        for k in range(br_lo, br_hi + 1):
            den += power[k - k0]
        for k in range(sig_lo, sig_hi + 1):
            num += power[k - k0]
        out[f] = num / den if den > 0.0 else 0.0
        for j in range(n_bins):
            s_re[j] -= g[f, j]
            s_im[j] -= g[f, n_bins + j]


@jit
def frames_needed(could, offset, step, w, need):  # pragma: no cover - compiled
    """Mark the frames ``(t + d + offset) // step`` and the next, for every ``t`` flagged in
    ``could`` and ``d`` in ``[-(w // 2), (w - 1) // 2]`` (clipped to the frames)."""
    n_frames = need.shape[0]
    for f in range(n_frames):
        need[f] = False
    left = w // 2
    right = (w - 1) // 2
    reach = 0  # frames below are marked
    for t in range(could.shape[0]):
        if not could[t]:
            continue
        f_lo = min(max((t - left + offset) // step, 0), n_frames - 1)
        f_hi = min(max((t + right + offset) // step + 1, 0), n_frames - 1)
        for f in range(max(f_lo, reach), f_hi + 1):
            need[f] = True
        reach = max(reach, f_hi + 1)


@jit
def count_votes(crit, thresholds, out):  # pragma: no cover - compiled
    """Number of criteria at or above their threshold, per sample (NaN never counts)."""
    for i in range(out.shape[0]):
        c = 0
        for k in range(crit.shape[0]):
            if crit[k, i] >= thresholds[k]:
                c += 1
        out[i] = c


@jit
def soft_vote(count, include, w, need, out):  # pragma: no cover - compiled
    """``out[i] = sum(count[i - w//2 : i + (w-1)//2 + 1] * include) > need * w`` (zero padded)."""
    n = count.shape[0]
    left = w // 2
    right = (w - 1) // 2
    total = 0
    for t in range(0, min(right, n)):
        total += count[t] if include[t] else 0
    limit = need * w
    for i in range(n):
        t_in = i + right
        if t_in < n and include[t_in]:
            total += count[t_in]
        t_out = i - left - 1
        if t_out >= 0 and include[t_out]:
            total -= count[t_out]
        out[i] = total > limit


@jit
def _hist_one(v, key, first_key, shift, counts, sums, sumsq):  # pragma: no cover - compiled
    """Add the finite float32 value ``v`` (bit pattern ``key``) to its bin.

    For positive floats the bit pattern is monotone in the value, so ``key >> shift`` gives
    bins of constant relative width (``2 ** (shift - 23)``) without a logarithm.
    """
    b = (key >> shift) - first_key if v > 0.0 else 0
    b = min(max(b, 0), counts.shape[0] - 1)
    counts[b] += 1
    sums[b] += v
    sumsq[b] += v * v


@jit
def hist_add(values, mask, first_key, shift, counts, sums, sumsq):  # pragma: no cover - compiled
    """Accumulate masked float32 values (NaN skipped) into bins keyed by their top bits
    (count, sum, sum of squares); see :func:`_hist_one`."""
    bits = values.view(np.int32)
    for i in range(values.shape[0]):
        v = np.float64(values[i])
        if mask[i] and v == v:
            _hist_one(v, bits[i], first_key, shift, counts, sums, sumsq)


@jit
def hist_add_knots(knots, first, step, start, mask, first_key, shift, counts, sums, sumsq):  # pragma: no cover
    """:func:`hist_add` of the float32 interpolation of the knots at samples ``start ..``
    (as :func:`interp_knots`), without the interpolated array."""
    n = mask.shape[0]
    buf = np.empty(1, dtype=np.float32)
    bits = buf.view(np.int32)
    i = 0
    while i < n:
        a, slope, off, stop = _segment(knots, first, step, start, i, n)
        for t in range(i, stop):
            buf[0] = a + slope * (off + t - i)
            v = np.float64(buf[0])
            if mask[t] and v == v:
                _hist_one(v, bits[0], first_key, shift, counts, sums, sumsq)
        i = stop
