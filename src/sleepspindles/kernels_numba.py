"""Private compiled kernels: loops only, no validation, no allocation of large arrays.

Every function here is called through a wrapper in :mod:`sleepspindles.kernels`, which checks
shapes and dtypes, allocates the outputs and documents the maths; each has a plain numpy twin
there that the tests compare against.
"""

from __future__ import annotations

import math

import numpy as np

from ._numba import jit

# Reassociation lets LLVM vectorise the sums; NaN/inf semantics are kept (no 'nnan'/'ninf').
_FAST = {"reassoc", "contract", "arcp", "nsz"}


@jit(fastmath=_FAST)
def moving_rms(x, first, step, half, rms):  # pragma: no cover - compiled
    """Moving RMS around knots ``first + i * step`` (window ``[c - half, c + half)``)."""
    n = x.shape[0]
    for i in range(rms.shape[0]):
        c = first + i * step
        lo = max(c - half, 0)
        hi = min(c + half, n)
        sxx = 0.0
        for t in range(lo, hi):
            a = np.float64(x[t])
            sxx += a * a
        rms[i] = math.sqrt(sxx / (hi - lo)) if hi > lo else np.nan


@jit(fastmath=_FAST)
def moving_rms_corr(x, y, first, step, half, rms, corr):  # pragma: no cover - compiled
    """Window sums around knots ``first + i * step`` (window ``[c - half, c + half)``)."""
    n = x.shape[0]
    for i in range(rms.shape[0]):
        c = first + i * step
        lo = max(c - half, 0)
        hi = min(c + half, n)
        sx = 0.0
        sy = 0.0
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        # Shift by the window's first sample: exact zeros for flat windows, less cancellation.
        x0 = np.float64(x[lo]) if hi > lo else 0.0
        y0 = np.float64(y[lo]) if hi > lo else 0.0
        for t in range(lo, hi):
            a = np.float64(x[t]) - x0
            b = np.float64(y[t]) - y0
            sx += a
            sy += b
            sxx += a * a
            syy += b * b
            sxy += a * b
        w = hi - lo
        if w <= 0:
            rms[i] = np.nan
            corr[i] = np.nan
            continue
        # Mean square of the unshifted x from the shifted sums.
        rms[i] = math.sqrt(max((sxx + 2.0 * x0 * sx) / w + x0 * x0, 0.0))
        vx = max(sxx - sx * sx / w, 0.0)
        vy = max(syy - sy * sy / w, 0.0)
        den = math.sqrt(vx * vy)
        corr[i] = (sxy - sx * sy / w) / den if (w >= 2 and den != 0.0) else np.nan


@jit
def interp_knots(knots, first, step, start, out):  # pragma: no cover - compiled
    """Linear interpolation of knot values (knot i at sample ``first + i * step``)."""
    last = knots.shape[0] - 1
    n = out.shape[0]
    i = 0
    while i < n:
        pos = start + i - first
        j = pos // step
        if j < 0 or j >= last:
            out[i] = knots[0] if j < 0 else knots[last]
            i += 1
            continue
        # All samples up to the next knot share one segment: no division inside.
        a = knots[j]
        slope = (knots[j + 1] - a) / step
        off = pos - j * step
        stop = min(n, i + step - off)
        for t in range(i, stop):
            out[t] = a + slope * (off + t - i)
        i = stop
    return out


@jit
def knot_votes(knots, first, step, start, threshold, count):  # pragma: no cover - compiled
    """``count[i] += 1`` where the float32-rounded interpolation of the knots at sample
    ``start + i`` is at or above ``threshold`` (as :func:`interp_knots` then a comparison)."""
    last = knots.shape[0] - 1
    n = count.shape[0]
    i = 0
    while i < n:
        pos = start + i - first
        j = pos // step
        if j < 0 or j >= last:
            v = knots[0] if j < 0 else knots[last]
            if np.float32(v) >= threshold:
                count[i] += 1
            i += 1
            continue
        a = knots[j]
        slope = (knots[j + 1] - a) / step
        off = pos - j * step
        stop = min(n, i + step - off)
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
    for j in range(n_col):
        g[q, j] = 0.0
    for t in range(step):
        v = x[q * step + t]
        for j in range(n_col):
            g[q, j] += v * basis[r + t, j]


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
                if q >= done:
                    dft_row(x, basis, step, q, g)
                    done = q + 1
                for j in range(n_bins):
                    s_re[j] += g[q, j]
                    s_im[j] += g[q, n_bins + j]
            running = True
        q = f + m - 1
        if q >= done:
            dft_row(x, basis, step, q, g)
            done = q + 1
        for j in range(n_bins):
            s_re[j] += g[q, j]
            s_im[j] += g[q, n_bins + j]
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
def mask_runs(mask, starts, lasts):  # pragma: no cover - compiled
    """Write first and last index of each run of True; return the number of runs."""
    n_runs = 0
    inside = False
    for i in range(mask.shape[0]):
        if mask[i] and not inside:
            starts[n_runs] = i
            inside = True
        elif not mask[i] and inside:
            lasts[n_runs] = i - 1
            n_runs += 1
            inside = False
    if inside:
        lasts[n_runs] = mask.shape[0] - 1
        n_runs += 1
    return n_runs


@jit
def merge_runs(starts, lasts, min_distance):  # pragma: no cover - compiled
    """Merge runs whose index step (next start - previous last) is below ``min_distance``, in place."""
    n = starts.shape[0]
    if n == 0:
        return 0
    k = 0
    for i in range(1, n):
        if starts[i] - lasts[k] < min_distance:
            lasts[k] = lasts[i]
        else:
            k += 1
            starts[k] = starts[i]
            lasts[k] = lasts[i]
    return k + 1


@jit
def flat_mask(x, min_len, out):  # pragma: no cover - compiled
    """Mark runs of at least ``min_len`` exactly equal consecutive samples."""
    n = x.shape[0]
    i = 0
    while i < n:
        j = i + 1
        while j < n and x[j] == x[i]:
            j += 1
        if j - i >= min_len:
            for t in range(i, j):
                out[t] = True
        i = j


@jit
def hist_add(values, mask, first_key, shift, counts, sums, sumsq):  # pragma: no cover - compiled
    """Accumulate masked float32 values into bins keyed by their top bits (count, sum, sum sq).

    For positive floats the bit pattern is monotone in the value, so ``bits >> shift`` gives
    bins of constant relative width (``2 ** (shift - 23)``) without a logarithm.
    """
    n_bins = counts.shape[0]
    bits = values.view(np.int32)
    for i in range(values.shape[0]):
        if not mask[i]:
            continue
        v = np.float64(values[i])
        if not v == v:
            continue
        b = (bits[i] >> shift) - first_key if v > 0.0 else 0
        b = min(max(b, 0), n_bins - 1)
        counts[b] += 1
        sums[b] += v
        sumsq[b] += v * v


@jit
def local_maxima(x, peaks):  # pragma: no cover - compiled
    """Indices of local maxima, plateaus reduced to their middle (as ``scipy.signal.find_peaks``)."""
    n_pk = 0
    i = 1
    i_max = x.shape[0] - 1
    while i < i_max:
        if x[i - 1] < x[i]:
            i_ahead = i + 1
            while i_ahead < i_max and x[i_ahead] == x[i]:
                i_ahead += 1
            if x[i_ahead] < x[i]:
                peaks[n_pk] = (i + i_ahead - 1) // 2
                n_pk += 1
                i = i_ahead
        i += 1
    return n_pk


@jit
def select_by_distance(x, peaks, distance, keep):  # pragma: no cover - compiled
    """Drop peaks closer than ``distance`` to a higher one (scipy's rule, ties to the later peak)."""
    n = peaks.shape[0]
    order = np.argsort(x[peaks], kind="mergesort")
    for t in range(n):
        keep[t] = True
    for t in range(n - 1, -1, -1):
        i = order[t]
        if not keep[i]:
            continue
        j = i - 1
        while j >= 0 and peaks[i] - peaks[j] < distance:
            keep[j] = False
            j -= 1
        j = i + 1
        while j < n and peaks[j] - peaks[i] < distance:
            keep[j] = False
            j += 1


@jit
def prominence(x, peak):  # pragma: no cover - compiled
    """Prominence of one peak over the whole array (``scipy.signal.peak_prominences``, no wlen)."""
    left_min = x[peak]
    i = peak
    while i >= 0 and x[i] <= x[peak]:
        if x[i] < left_min:
            left_min = x[i]
        i -= 1
    right_min = x[peak]
    i = peak
    while i < x.shape[0] and x[i] <= x[peak]:
        if x[i] < right_min:
            right_min = x[i]
        i += 1
    return x[peak] - max(left_min, right_min)


@jit
def detrend_linear(x):  # pragma: no cover - compiled
    """Remove the least-squares line (float64 result)."""
    n = x.shape[0]
    out = np.empty(n)
    mid = (n - 1) / 2.0
    mean = 0.0
    for i in range(n):
        mean += x[i]
    mean /= n
    num = 0.0
    den = 0.0
    for i in range(n):
        t = i - mid
        num += t * x[i]
        den += t * t
    slope = num / den if den > 0 else 0.0
    for i in range(n):
        out[i] = x[i] - mean - (i - mid) * slope
    return out


@jit
def parabolic_extreme(d, i):  # pragma: no cover - compiled
    """Value of the parabola through ``d[i-1], d[i], d[i+1]`` at its vertex (``d[i]`` at the ends)."""
    if i <= 0 or i >= d.shape[0] - 1:
        return d[i]
    y0 = d[i - 1]
    y1 = d[i]
    y2 = d[i + 1]
    den = y0 - 2.0 * y1 + y2
    if den == 0.0:
        return y1
    p = 0.5 * (y0 - y2) / den
    return y1 - 0.25 * (y0 - y2) * p


@jit
def event_params(broad, z_re, z_im, starts, lasts, sf, distance, out):  # pragma: no cover
    """Per-event amplitude, rms, frequency, oscillations, peak offset and symmetry.

    ``out`` has shape (n_events, 6): columns amplitude, rms, frequency, oscillations, peak
    offset in samples from the start, symmetry.
    """
    for e in range(starts.shape[0]):
        s = starts[e]
        last = lasts[e]
        d = detrend_linear(broad[s : last + 1])
        n = d.shape[0]
        i_max = np.argmax(d)
        i_min = np.argmin(d)
        out[e, 0] = parabolic_extreme(d, i_max) - parabolic_extreme(d, i_min)
        out[e, 1] = math.sqrt(np.mean(d * d))
        freqs = np.empty(n)
        n_pos = 0
        a1 = math.atan2(z_im[s], z_re[s])
        for t in range(s, last + 1):
            a0 = a1  # each sample's phase is computed once
            a1 = math.atan2(z_im[t + 1], z_re[t + 1])
            f = sf / (2.0 * math.pi) * (a1 - a0)
            if f > 0:
                freqs[n_pos] = f
                n_pos += 1
        out[e, 2] = np.median(freqs[:n_pos]) if n_pos > 0 else np.nan
        peaks = np.empty(n, dtype=np.int64)
        n_pk = local_maxima(d, peaks)
        peaks = peaks[:n_pk]
        keep = np.empty(n_pk, dtype=np.bool_)
        select_by_distance(d, peaks, distance, keep)
        peaks = peaks[keep]
        best = -1
        best_prom = -np.inf
        for t in range(peaks.shape[0]):
            p = prominence(d, peaks[t])
            if p > best_prom:
                best_prom = p
                best = peaks[t]
        if best < 0:
            best = i_max
        out[e, 3] = peaks.shape[0]
        out[e, 4] = best
        out[e, 5] = best / n


@jit
def prepare_rows(src, rows, lo, hi, dst_off, min_flat, seg, bad):  # pragma: no cover - compiled
    """Copy ``src[rows, lo:hi]`` into ``seg[:, dst_off:]`` as float32, zero and flag non-finite
    samples, and flag runs of at least ``min_flat`` identical samples."""
    for i in range(rows.shape[0]):
        r = rows[i]
        run_start = 0
        prev = np.nan
        for t in range(hi - lo):
            v = src[r, lo + t]
            d = dst_off + t
            if not np.isfinite(v):
                seg[i, d] = 0.0
                bad[i, d] = True
                prev = np.nan
                run_start = t + 1
                continue
            seg[i, d] = v
            if v != prev:
                if t - run_start >= min_flat:
                    for u in range(dst_off + run_start, d):
                        bad[i, u] = True
                run_start = t
                prev = v
        if hi - lo - run_start >= min_flat and prev == prev:
            for u in range(dst_off + run_start, dst_off + hi - lo):
                bad[i, u] = True
