"""The streaming core's filter designs equal MNE's and scipy's, which they replace to start fast."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from mne.filter import create_filter
from scipy import signal

from sleepspindles.detection.core.filters import band_pass_fir, butterworth_gain


def _auto(lo, hi, rate):
    return min(max(0.25 * lo, 2.0), lo), min(max(0.25 * hi, 2.0), rate / 2 - hi)


@pytest.mark.parametrize("rate", [100.0, 128.0, 200.0, 256.0])
@pytest.mark.parametrize("lo, hi", [(11, 16), (12, 15), (0.5, 30), (4.5, 30), (9, 16), (0.3, 1.5)])
@pytest.mark.parametrize("transitions", ["spindle", "auto", "narrow"])
def test_band_pass_fir_equals_mne(rate, lo, hi, transitions):
    l_trans, h_trans = {"spindle": (1.5, 1.5), "auto": _auto(lo, hi, rate), "narrow": (0.2, 0.5)}[transitions]
    if lo - l_trans < 0:
        pytest.skip("MNE refuses a negative stop frequency too")
    want = create_filter(None, rate, lo, hi, l_trans_bandwidth=l_trans, h_trans_bandwidth=h_trans, method="fir",
                         fir_design="firwin", verbose=False)
    got = band_pass_fir(rate, lo, hi, l_trans, h_trans)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-14)


def test_band_pass_fir_refuses_bands_outside_nyquist():
    with pytest.raises(ValueError, match="does not fit"):
        band_pass_fir(100.0, 11, 49, 1.5, 1.5)


@pytest.mark.parametrize("order", [2, 4, 8])
@pytest.mark.parametrize("edge", [0.5, 11.0, 16.0, 40.0])
@pytest.mark.parametrize("kind", ["lowpass", "highpass"])
def test_butterworth_gain_equals_scipy(order, edge, kind):
    freqs = np.linspace(0, 50, 2001)
    sos = signal.butter(order, edge, kind, fs=100.0, output="sos")
    want = np.abs(signal.sosfreqz(sos, worN=freqs, fs=100.0)[1])
    np.testing.assert_allclose(butterworth_gain(freqs, edge, order, kind, 100.0), want, rtol=0, atol=1e-9)


def test_detection_does_not_import_scipy_signal_or_mne():
    # Importing scipy.signal costs 1-2 s of every command's start: detection must not need it.
    code = (
        "import sys, numpy as np\n"
        "from sleepspindles.recording import Recording\n"
        "from sleepspindles.config import Config\n"
        "from sleepspindles.detection import detect_all\n"
        "x = np.random.default_rng(0).normal(0, 20, (2, 100 * 600))\n"
        "detect_all(Recording(x, 100.0, ('C3', 'C4')), None, Config())\n"
        "print(sorted(m for m in ('scipy.signal', 'scipy.stats', 'mne', 'matplotlib', 'yasa') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
