"""Per-spindle parameters (``detection.spindles.kernels_events``) against their scipy twin, both code paths.

The loops of ``kernels_events_numba`` run compiled and as plain Python (``.py_func``), the second
path being what runs under ``SLEEPSPINDLES_NO_NUMBA=1``.
"""

import numpy as np
import pytest
import scipy.signal
from test_kernels import path_fixture

from sleepspindles.detection.spindles import kernels_events as K
from sleepspindles.detection.spindles import kernels_events_numba as KN

path = path_fixture(KN)


def test_event_params_match_scipy_definitions(path):
    rng = np.random.default_rng(7)
    sf, n = 100.0, 3000
    t = np.arange(n) / sf
    x = rng.standard_normal(n) + 20 * np.sin(2 * np.pi * 13 * t) * ((t > 5) & (t < 6.2))
    sos = scipy.signal.butter(4, [11, 16], "bandpass", fs=sf, output="sos")
    analytic = scipy.signal.hilbert(scipy.signal.sosfiltfilt(sos, x))
    starts, lasts = np.array([500, 1500, 2200]), np.array([620, 1580, 2290])
    got = K.event_params(x, analytic, starts, lasts, sf, 6)
    ref = K.event_params_ref(x, analytic, starts, lasts, sf, 6)
    for field in ("amplitude", "rms", "frequency", "symmetry"):
        np.testing.assert_allclose(getattr(got, field), getattr(ref, field), rtol=1e-9, err_msg=field)
    np.testing.assert_array_equal(got.oscillations, ref.oscillations)
    np.testing.assert_array_equal(got.peak, ref.peak)
    assert got.frequency[0] == pytest.approx(13.0, abs=0.3)
    assert got.amplitude[0] == pytest.approx(40.0, rel=0.1)
