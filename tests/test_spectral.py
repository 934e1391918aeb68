"""Band power over stage epochs: scipy kernel vs its numpy twin, and known-power sinusoids."""

import numpy as np
import pytest

from sleepspindles.analysis.spectral import (
    band_power_reference,
    epoch_band_powers,
    sigma_power,
    stage_epoch_starts,
    welch_band_power,
)
from sleepspindles.errors import ConfigError
from sleepspindles.hypnogram import Hypnogram
from sleepspindles.schema import SIGMA

SF = 100.0


@pytest.fixture()
def signals():
    """Two channels over 8 epochs: C3 = 13 Hz sine of amplitude 10 uV + noise, C4 = noise."""
    rng = np.random.default_rng(3)
    t = np.arange(int(8 * 30 * SF)) / SF
    data = np.vstack([10 * np.sin(2 * np.pi * 13 * t) + rng.normal(0, 2, t.size), rng.normal(0, 2, t.size)])
    hyp = Hypnogram(np.array([0, 2, 2, 3, 2, 1, 2, 4]), 30.0)
    return data, hyp


def test_epoch_starts_keep_complete_epochs_of_the_stages():
    hyp = Hypnogram(np.array([2, 0, 2, 3, 2]), 30.0, offset=10.0)
    # 150 s of signal: the last N2 epoch (130-160 s) runs past the end and is dropped.
    starts = stage_epoch_starts(hyp, SF, int(150 * SF), ["N2"])
    np.testing.assert_array_equal(starts, [1000, 7000])
    np.testing.assert_array_equal(stage_epoch_starts(hyp, SF, int(150 * SF), ["N2", "N3"]), [1000, 7000, 10000])


def test_kernel_matches_numpy_twin(signals):
    data, hyp = signals
    starts = stage_epoch_starts(hyp, SF, data.shape[1], ["N2", "N3"])
    bands = [(11.0, 16.0), (1.0, 30.0), (0.5, 4.0)]
    fast, used = welch_band_power(data, SF, starts, 3000, bands, window=4.0)
    ref = band_power_reference(data, SF, starts, 3000, bands, window=4.0)
    np.testing.assert_allclose(fast, ref, rtol=1e-5)  # float32 spectra
    np.testing.assert_array_equal(used, [len(starts)] * 2)


def test_sine_power_is_half_the_squared_amplitude(signals):
    data, hyp = signals
    table = sigma_power(data, SF, ["C3", "C4"], hyp, bands={"all": (11, 16)}, stages=["N2"])
    assert list(table.columns) == list(SIGMA.names)
    c3 = table.set_index("channel").loc["C3"]
    noise_in_band = 4.0 * 5.0 / 50.0  # white noise variance 4 uV^2 spread over 0-50 Hz
    assert c3["power"] == pytest.approx(50.0 + noise_in_band, rel=0.05)
    assert c3["n_epochs"] == 4 and c3["stages"] == "N2"
    # relative = sigma / (1-30 Hz power) = (50 + 0.4) / (50 + 4 * 29/50)
    assert c3["relative"] == pytest.approx(50.4 / (50 + 4 * 29 / 50), rel=0.05)


def test_non_finite_epochs_are_skipped_per_channel(signals):
    data, hyp = signals
    dirty = data.copy()
    dirty[1, 3100] = np.nan  # inside the second epoch (an N2 epoch) of C4 only
    starts = stage_epoch_starts(hyp, SF, data.shape[1], ["N2"])
    got, used = welch_band_power(dirty, SF, starts, 3000, [(11, 16)])
    clean_c4, _ = welch_band_power(data[1:], SF, starts[1:], 3000, [(11, 16)])
    assert np.isfinite(got).all() and list(used) == [len(starts), len(starts) - 1]
    assert got[0, 1] == pytest.approx(clean_c4[0, 0])
    np.testing.assert_allclose(got, band_power_reference(dirty, SF, starts, 3000, [(11, 16)]), rtol=1e-5)


def test_flat_epochs_are_skipped_not_averaged_as_zero(signals):
    """An electrode off for one N2 epoch must not lower that channel's sigma power."""
    data, hyp = signals
    dead = data.copy()
    dead[0, 3000:6000] = 0.0  # the first N2 epoch (30-60 s) of C3, flat
    clean = sigma_power(data, SF, ["C3", "C4"], hyp, bands={"all": (11, 16)}).set_index("channel")
    table = sigma_power(dead, SF, ["C3", "C4"], hyp, bands={"all": (11, 16)}).set_index("channel")
    assert table.loc["C3", "n_epochs"] == clean.loc["C3", "n_epochs"] - 1
    assert table.loc["C3", "power"] == pytest.approx(clean.loc["C3", "power"], rel=0.1)
    np.testing.assert_allclose(
        welch_band_power(dead, SF, stage_epoch_starts(hyp, SF, data.shape[1], ["N2"]), 3000, [(11, 16)])[0],
        band_power_reference(dead, SF, stage_epoch_starts(hyp, SF, data.shape[1], ["N2"]), 3000, [(11, 16)]),
        rtol=1e-5,
    )


def test_no_epoch_in_the_stages_gives_nan(signals):
    data, hyp = signals
    table = sigma_power(data, SF, ["C3", "C4"], hyp.with_stages(np.zeros(8)), bands={"all": (11, 16)})
    assert table["power"].isna().all() and (table["n_epochs"] == 0).all()


def test_band_beyond_nyquist_is_refused(signals):
    data, hyp = signals
    with pytest.raises(ConfigError, match=r"The 'all band' parameter must be .* <= Nyquist"):
        sigma_power(data, SF, ["C3", "C4"], hyp, bands={"all": (11, 60)})


def test_total_band_stops_below_nyquist_at_low_rates(signals):
    """At 50 Hz the 1-30 Hz reference band is cut at 22.5 Hz instead of failing."""
    data, hyp = signals
    low = data[:, ::2]  # SF / 2
    table = sigma_power(low, SF / 2, ["C3", "C4"], hyp, bands={"all": (11, 16)}, total_band=(1, 30))
    assert np.isfinite(table["relative"]).all() and (table["relative"] < 1).all()


@pytest.mark.parametrize("nperseg", [400, 401, 3000])
def test_welch_density_is_scipys_welch(signals, nperseg):
    from scipy.signal import welch

    from sleepspindles.analysis.spectral import welch_density

    data, _ = signals
    epochs = data[:, : 3 * 3000].reshape(2, 3, 3000)
    expected = welch(epochs, fs=SF, window="hann", nperseg=nperseg, axis=-1)[1]
    np.testing.assert_allclose(welch_density(epochs, SF, nperseg), expected, rtol=0, atol=2e-6 * expected.max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_flat_epoch_is_not_usable_whatever_the_sample_type(dtype):
    """A constant epoch at a value without an exact binary form (7.1 uV), float64 too, is skipped, not averaged in."""
    data = (np.random.default_rng(0).standard_normal((2, 4 * 3000)) * 30).astype(dtype)
    data[1, 3000:6000] = 7.1
    _, usable = epoch_band_powers(data, 100.0, np.arange(4) * 3000, 3000, [(0.5, 4.5)])
    assert usable[0].all() and usable[1].tolist() == [True, False, True, True]
