"""Private compiled loops of the per-spindle parameters: loops only, no validation, no allocation of large arrays.

Called through :func:`sleepspindles.detection.spindles.kernels_events.event_params`, which checks
shapes and dtypes, allocates the outputs and has the ``scipy.signal`` twin the tests compare
against. The peak helpers follow ``scipy.signal.find_peaks`` (local maxima, distance selection,
prominence); indices are local to the arrays passed, events are first and last (inclusive) samples.
"""

from __future__ import annotations

import math

import numpy as np

from ..core._numba import jit


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
def polar_spans(z, starts, lasts, magnitude, phase):  # pragma: no cover - compiled
    """Modulus and angle (float64, libm's hypot and atan2) of ``z[starts[e] : lasts[e] + 2]``, event after event."""
    p = 0
    for e in range(starts.shape[0]):
        for t in range(starts[e], lasts[e] + 2):
            re = np.float64(z[t].real)
            im = np.float64(z[t].imag)
            magnitude[p] = math.hypot(re, im)
            phase[p] = math.atan2(im, re)
            p += 1


@jit
def event_params(broad, phase, magnitude, starts, lasts, sf, distance, out):  # pragma: no cover
    """Per-event amplitude, rms, frequency, oscillations, peak offset, symmetry, envelope peak.

    ``phase`` and ``magnitude`` hold the analytic signal's angle and modulus over
    ``starts[e] .. lasts[e] + 1``, event after event (see :func:`polar_spans`). ``out`` has shape
    (n_events, 7): columns amplitude, rms, frequency, oscillations, peak offset in samples from
    the start, symmetry, offset of the envelope's maximum.
    """
    at = 0  # this event's first phase
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
        for t in range(at, at + n):
            f = sf / (2.0 * math.pi) * (phase[t + 1] - phase[t])
            if f > 0:
                freqs[n_pos] = f
                n_pos += 1
        out[e, 6] = np.argmax(magnitude[at : at + n])
        at += n + 1
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
def band_powers(sigma, broad, valid, starts, lasts, half, out):  # pragma: no cover - compiled
    """Per event: mean squares of ``sigma`` and ``broad`` over the event and over its background.

    The background is the window ``[c - half, c + half)`` around the event's centre ``c``, shifted
    to lie inside the arrays, without the event itself and keeping only ``valid`` samples. ``out``
    has shape (n_events, 5): event sigma, event broad, background sigma, background broad (mean
    squares) and the number of background samples.
    """
    for e in range(starts.shape[0]):
        s = starts[e]
        last = lasts[e]
        ss = 0.0
        bb = 0.0
        for t in range(s, last + 1):
            ss += np.float64(sigma[t]) ** 2
            bb += np.float64(broad[t]) ** 2
        out[e, 0] = ss / (last + 1 - s)
        out[e, 1] = bb / (last + 1 - s)
        _background(sigma, broad, valid, s, last, half, out[e])


@jit
def _background(sigma, broad, valid, s, last, half, row):  # pragma: no cover - compiled
    """``row[2:5]`` of :func:`band_powers` for the event ``[s, last]``, summed sample by sample.

    The window ``[c - half, c + half)`` around the event's centre ``c``, shifted to lie inside the
    arrays, without the event and keeping only ``valid`` samples.
    """
    n = sigma.shape[0]
    c = (s + last + 1) // 2
    a = min(max(c - half, 0), max(n - 2 * half, 0))
    b = min(a + 2 * half, n)
    ss = 0.0
    bb = 0.0
    count = 0
    for t in range(a, b):
        if valid[t] and (t < s or t > last):
            ss += np.float64(sigma[t]) ** 2
            bb += np.float64(broad[t]) ** 2
            count += 1
    row[2] = ss / count if count > 0 else np.nan
    row[3] = bb / count if count > 0 else np.nan
    row[4] = count


@jit
def gather_events(broad, analytic, starts, lasts, offsets, out_broad, out_analytic):  # pragma: no cover - compiled
    """Copy each event's samples ``starts[e] .. lasts[e] + 1`` of both signals to ``offsets[e]`` of the outputs."""
    for e in range(starts.shape[0]):
        o = offsets[e] - starts[e]
        for t in range(starts[e], lasts[e] + 2):
            out_broad[o + t] = broad[t]
            out_analytic[o + t] = analytic[t]


@jit
def event_sums(sigma, broad, valid, starts, lasts, out):  # pragma: no cover - compiled
    """Per event: sums of ``sigma^2`` and ``broad^2`` (all samples) and of both over its valid samples, and their count.

    ``out`` has shape (n_events, 5): sigma, broad, valid sigma, valid broad, valid count; the
    first two summed in :func:`band_powers`'s order.
    """
    for e in range(starts.shape[0]):
        _event_sums(sigma, broad, valid, starts[e], lasts[e], out[e])


@jit
def _event_sums(sigma, broad, valid, s, last, row):  # pragma: no cover - compiled
    """:func:`event_sums`' row for the event ``[s, last]``."""
    ss = 0.0
    bb = 0.0
    vs = 0.0
    vb = 0.0
    count = 0
    for t in range(s, last + 1):
        s2 = np.float64(sigma[t]) ** 2
        b2 = np.float64(broad[t]) ** 2
        ss += s2
        bb += b2
        if valid[t]:
            vs += s2
            vb += b2
            count += 1
    row[0] = ss
    row[1] = bb
    row[2] = vs
    row[3] = vb
    row[4] = count


@jit
def _powers_in_window(sums, w0, w1, w_count, n, row):  # pragma: no cover - compiled
    """:func:`band_powers`' row from an event's :func:`_event_sums` (``n`` samples) and its window's valid sums.

    The window ``(w0, w1, w_count)`` includes the event: its valid samples are taken out.
    """
    row[0] = sums[0] / n
    row[1] = sums[1] / n
    left = w_count - sums[4]
    row[2] = (w0 - sums[2]) / left if left > 0 else np.nan
    row[3] = (w1 - sums[3]) / left if left > 0 else np.nan
    row[4] = left


@jit
def chunk_prefix(sigma, broad, valid, first, chunk, out):  # pragma: no cover - compiled
    """Prefix sums of ``sigma^2``, ``broad^2`` and the count over the valid samples, chunk by chunk.

    ``out`` has shape (n_chunks + 1, 3); row ``m`` sums the valid samples of
    ``[first, first + m * chunk)``, each chunk summed first (float64).
    """
    out[0, 0] = 0.0
    out[0, 1] = 0.0
    out[0, 2] = 0.0
    for m in range(out.shape[0] - 1):
        ss = 0.0
        bb = 0.0
        count = 0.0
        a = first + m * chunk
        for t in range(a, a + chunk):
            if valid[t]:
                ss += np.float64(sigma[t]) ** 2
                bb += np.float64(broad[t]) ** 2
                count += 1.0
        out[m + 1, 0] = out[m, 0] + ss
        out[m + 1, 1] = out[m, 1] + bb
        out[m + 1, 2] = out[m, 2] + count


@jit
def hann_rows(x, starts, lengths, windows, out):  # pragma: no cover - compiled
    """Row ``e`` of ``out`` (zeroed beyond): the event's samples, mean removed, times its window.

    ``windows[lengths[e]]`` is the window of an event of that length (rows of a table indexed by length).
    """
    for e in range(starts.shape[0]):
        m = lengths[e]
        s = starts[e]
        mean = 0.0
        for j in range(m):
            mean += np.float64(x[s + j])
        mean /= m
        for j in range(m):
            out[e, j] = (np.float64(x[s + j]) - mean) * windows[m, j]
        for j in range(m, out.shape[1]):
            out[e, j] = 0.0


@jit
def power_rows(spectrum, out):  # pragma: no cover - compiled
    """``out[e, j] = |spectrum[e, j]|^2`` for the first ``out.shape[1]`` bins."""
    for e in range(out.shape[0]):
        for j in range(out.shape[1]):
            z = spectrum[e, j]
            out[e, j] = z.real * z.real + z.imag * z.imag


@jit
def peak_over_power_law(log_power, freqs, log_freqs, duration, band_lo, band_hi, fit_lo, fit_hi,
                        out):  # pragma: no cover - compiled
    """Per row of ``log_power`` (log10 of a power spectrum, first bins): 10 log10 of the highest bin in the band over
    the power law fitted outside it.

    The fit (least squares of log10 power on ``log_freqs``) uses the bins inside ``[max(fit_lo,
    lobe), fit_hi]`` and outside the band widened by the Hann main lobe ``lobe = 2 / duration``;
    NaN with fewer than 3 such bins or a non-finite result. Bins past ``log_power``'s columns
    are neither fitted nor searched (the caller passes every bin up to both bands' ends).
    """
    n_bins = log_power.shape[1]
    for e in range(log_power.shape[0]):
        lobe = 2.0 / duration[e]
        lo = max(fit_lo, lobe)
        n = 0.0
        sx = 0.0
        sy = 0.0
        sxx = 0.0
        sxy = 0.0
        best = -1
        best_lp = 0.0
        for j in range(n_bins):
            f = freqs[j]
            inside = f >= band_lo and f <= band_hi
            fitted = f >= lo and f <= fit_hi and (f < band_lo - lobe or f > band_hi + lobe)
            if not (inside or fitted):
                continue
            lp = log_power[e, j]
            if fitted:
                x = log_freqs[j]
                n += 1.0
                sx += x
                sy += lp
                sxx += x * x
                sxy += lp * x
            if inside and (best < 0 or lp > best_lp or (np.isnan(lp) and not np.isnan(best_lp))):
                best = j
                best_lp = lp
        if best < 0 or n < 3:
            out[e] = np.nan
            continue
        slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        intercept = (sy - slope * sx) / n
        v = 10.0 * (best_lp - (intercept + slope * log_freqs[best]))
        out[e] = v if np.isfinite(v) else np.nan


@jit
def keep_runs(sigma_analytic, broad, valid, first, size, centres, half, chunk, out_broad, out_analytic, out_valid,
              sums):  # pragma: no cover - compiled
    """Copy the spans ``[first[r], first[r] + size[r])`` end to end and sum the valid power around ``centres``.

    ``sums[c]``: valid ``sigma^2``, ``broad^2`` and count over ``[centres[c] - half, centres[c] + half)``, as
    the difference of prefix sums over chunks of ``chunk`` samples from sample 0 (see
    :func:`chunk_prefix`): :func:`grid_powers`' sums, so that both give the same table.
    """
    p = 0
    for r in range(first.shape[0]):
        for t in range(first[r], first[r] + size[r]):
            out_broad[p] = broad[t]
            out_analytic[p] = sigma_analytic[t]
            out_valid[p] = valid[t]
            p += 1
    if centres.shape[0] == 0:
        return
    hi = centres[0]
    for c in range(centres.shape[0]):
        hi = max(hi, centres[c])
    prefix = np.empty(((hi + half) // chunk + 1, 3))
    chunk_prefix(sigma_analytic.real, broad, valid, 0, chunk, prefix)
    width = 2 * half // chunk
    for c in range(centres.shape[0]):
        m = (centres[c] - half) // chunk
        for j in range(3):
            sums[c, j] = prefix[m + width, j] - prefix[m, j]


@jit
def grid_powers(sigma_analytic, broad, valid, starts, lasts, half, chunk, out):  # pragma: no cover - compiled
    """:func:`band_powers`' table, the background of an event whose window lies on the chunk grid by prefix sums.

    An event's background window ``[c - half, c + half)`` (``c``: its centre) that starts on a
    multiple of ``chunk`` inside the array is summed as in :func:`keep_runs` (prefix sums from
    sample 0, the event's own valid samples taken out); any other is summed sample by sample,
    shifted into the array, as :func:`band_powers` does.
    """
    n = broad.shape[0]
    hi = 0
    for e in range(starts.shape[0]):
        c = (starts[e] + lasts[e] + 1) // 2
        if c - half >= 0 and (c - half) % chunk == 0 and c + half <= n:
            hi = max(hi, c + half)
    prefix = np.empty((hi // chunk + 1, 3))
    chunk_prefix(sigma_analytic.real, broad, valid, 0, chunk, prefix)
    width = 2 * half // chunk
    sigma = sigma_analytic.real
    sums = np.empty(5)
    for e in range(starts.shape[0]):
        s = starts[e]
        last = lasts[e]
        c = (s + last + 1) // 2
        if c - half >= 0 and (c - half) % chunk == 0 and c + half <= n:
            m = (c - half) // chunk
            _event_sums(sigma, broad, valid, s, last, sums)
            _powers_in_window(sums, prefix[m + width, 0] - prefix[m, 0], prefix[m + width, 1] - prefix[m, 1],
                              prefix[m + width, 2] - prefix[m, 2], last + 1 - s, out[e])
            continue
        _event_sums(sigma, broad, valid, s, last, sums)
        out[e, 0] = sums[0] / (last + 1 - s)
        out[e, 1] = sums[1] / (last + 1 - s)
        _background(sigma, broad, valid, s, last, half, out[e])


@jit
def kept_events(broad, analytic, valid, sums, p0, p1, row, out_offset, out_broad, out_analytic,
                powers):  # pragma: no cover - compiled
    """Events ``[p0[e], p1[e]]`` of the kept spans: their samples ``p0 .. p1 + 1`` end to end and band powers.

    ``sums[row[e]]`` is the valid power of the event's background window (event included);
    ``powers`` gets :func:`band_powers`'s columns (event sums in its order).
    """
    sigma = analytic.real
    event = np.empty(5)
    o = 0
    for e in range(p0.shape[0]):
        out_offset[e] = o
        for t in range(p0[e], p1[e] + 2):
            out_broad[o] = broad[t]
            out_analytic[o] = analytic[t]
            o += 1
        _event_sums(sigma, broad, valid, p0[e], p1[e], event)
        _powers_in_window(event, sums[row[e], 0], sums[row[e], 1], sums[row[e], 2], p1[e] + 1 - p0[e], powers[e])
