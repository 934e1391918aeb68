"""The streamed filtering: summing native samples before the first FFT (``StreamSpec.summed_rate``)."""

from __future__ import annotations

import numpy as np
import pytest

from sleepspindles.detection.core import streaming as st
from sleepspindles.errors import ConfigError

SO_BAND = (0.3, 1.5)
INNER = slice(2000, -2000)  # past the night's edges, where the odd reflection leaves a transient either way


def _spec(summed_rate: float | None, broadband=None) -> st.StreamSpec:
    return st.StreamSpec(rate=100, band=SO_BAND, band_transition=(0.2, 0.2), broadband=broadband, context=250,
                         block_seconds=120.0, flat_seconds=1.0, summed_rate=summed_rate)


def _eeg(sf: float, seconds: float, seed: int = 0) -> np.ndarray:
    """Slow waves (80 uV), 1/f background, EMG-like white noise (10 uV rms) and 50 Hz mains (20 uV)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sf)
    t = np.arange(n) / sf
    slow = sum(80 / 3 * np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in (0.55, 0.8, 1.2))
    spectrum = np.fft.rfft(rng.standard_normal(n))
    spectrum[1:] /= np.sqrt(np.fft.rfftfreq(n, 1 / sf)[1:])
    pink = np.fft.irfft(spectrum, n)
    pink *= 20 / pink.std()
    return (slow + pink + 10 * rng.standard_normal(n) + 20 * np.sin(2 * np.pi * 50 * t))[None, :]


def _band(data: np.ndarray, sf: float, summed_rate: float | None) -> np.ndarray:
    """The analytic SO-band signal of the whole of ``data`` (one channel), block cores joined."""
    plan = st.make_plan(sf, data.shape[1], _spec(summed_rate))
    out = []
    for k in range(plan.n_blocks):
        include = st.included(None, np.zeros(0, np.int64), k * plan.hop - plan.margin, plan)
        blk = st.block(st.spectrum(data, [0], k, plan, False), k, plan, include, analytic=True, broad=False)
        out.append(blk.band[0, blk.core].copy())
    return np.concatenate(out)[: plan.n_int]


@pytest.mark.parametrize("sf, group", [(100.0, 2), (128.0, 2), (200.0, 5), (250.0, 5), (256.0, 4), (500.0, 10),
                                       (512.0, 8), (1000.0, 25)])
def test_samples_are_summed_down_to_the_rate_asked(sf, group):
    assert st.make_plan(sf, int(600 * sf), _spec(40.0)).group == group
    assert st.make_plan(sf, int(600 * sf), _spec(None)).group == 1


@pytest.mark.parametrize("sf", [128.0, 200.0, 256.0, 250.0])
def test_summed_samples_give_the_band_signal_of_the_native_spectrum(sf):
    """Within 0.4 % of the band's amplitude at every sample past the night's edges, over several
    blocks, with EMG-like white noise of 10 uV rms up to Nyquist and mains (measured: 0.1-0.25 %)."""
    data = _eeg(sf, 400.0)
    plain, summed = _band(data, sf, None)[INNER], _band(data, sf, 40.0)[INNER]
    scale = np.abs(plain).max()
    assert scale > 50
    assert np.abs(summed - plain).max() < 4e-3 * scale
    # Summing more coarsely (16 Hz) lets the EMG near its multiples alias visibly: the check can fail.
    assert np.abs(_band(data, sf, 16.0)[INNER] - plain).max() > 2 * np.abs(summed - plain).max()


def test_a_tone_near_a_multiple_of_the_summed_rate_aliases_as_documented():
    """The boxcar's attenuation is all that stands between 63 Hz and 1 Hz when 256 Hz is summed by 4."""
    sf, n, amplitude = 256.0, 256 * 300, 200.0
    tone = amplitude * np.sin(2 * np.pi * 63.0 * np.arange(n) / sf)[None, :]
    gain = abs(np.exp(2j * np.pi * 63.0 * np.arange(4) / sf).mean())  # 0.0176: -35 dB
    aliased = np.abs(_band(tone, sf, 40.0)[INNER])
    assert np.median(aliased) == pytest.approx(amplitude * gain, rel=0.1)
    assert np.abs(_band(tone, sf, None)[INNER]).max() < 0.05 * amplitude * gain


def test_summing_is_refused_with_a_broadband_signal():
    with pytest.raises(ConfigError, match="summed_rate"):
        st.make_plan(256.0, 256 * 600, _spec(40.0, broadband=(1.0, 30.0)))
