"""Circular statistics against pingouin, the PPC definition and their expected null behaviour."""

from __future__ import annotations

import numpy as np
import pingouin
import pytest

from sleepspindles.analysis import circular as C
from sleepspindles.errors import ConfigError


@pytest.mark.parametrize("kappa, n", [(0.5, 15), (2.0, 60), (8.0, 300)])
def test_mean_mvl_and_rayleigh_match_pingouin_on_von_mises_samples(kappa, n):
    rng = np.random.default_rng(int(10 * kappa) + n)
    phases = rng.vonmises(1.2, kappa, n)
    assert C.circular_mean(phases) == pytest.approx(pingouin.circ_mean(phases), abs=1e-12)
    assert C.mvl(phases) == pytest.approx(pingouin.circ_r(phases), abs=1e-12)
    np.testing.assert_allclose(C.rayleigh(phases), pingouin.circ_rayleigh(phases), rtol=1e-10)


def test_angles_are_used_modulo_two_pi():
    # pingouin rejects angles outside [-pi, pi] and [0, 2 pi]; here any real angle is accepted.
    phases = np.random.default_rng(1).vonmises(-3.0, 2.0, 40)
    shifted = phases + 2 * np.pi * (np.arange(40) % 4 - 1)  # whole turns from -1 to +2
    assert C.circular_mean(shifted) == pytest.approx(C.circular_mean(phases), abs=1e-12)
    assert C.mvl(shifted) == pytest.approx(C.mvl(phases), abs=1e-12)
    assert C.rayleigh(shifted) == pytest.approx(C.rayleigh(phases), abs=1e-9)


def test_circular_mean_and_difference_wrap_to_minus_pi_pi():
    assert C.circular_mean([np.pi - 0.1, -np.pi + 0.1]) == pytest.approx(np.pi)
    d = C.circular_difference([np.pi, -np.pi, 0.1, 3.0], [0.0, 0.0, 6.0, -3.0])
    np.testing.assert_allclose(d, [np.pi, np.pi, 0.1 - 6.0 + 2 * np.pi, 6.0 - 2 * np.pi])
    assert np.all((d > -np.pi) & (d <= np.pi))


def test_ppc_equals_the_mean_pairwise_cosine():
    rng = np.random.default_rng(2)
    for n in (2, 3, 17, 120):
        phases = rng.vonmises(0.3, 1.0, n)
        assert C.ppc(phases) == pytest.approx(C.ppc_ref(phases), abs=1e-12)


def test_ppc_is_unbiased_while_mvl_shrinks_with_the_event_count():
    rng = np.random.default_rng(3)
    mean_mvl = []
    for n in (5, 20, 200):
        samples = rng.uniform(-np.pi, np.pi, (2000, n))
        assert abs(np.mean([C.ppc(s) for s in samples])) < 0.01
        mean_mvl.append(np.mean([C.mvl(s) for s in samples]))
    # The count-bias pitfall: with no coupling at all, MVL is ~sqrt(pi / 4n), not 0.
    assert mean_mvl[0] > mean_mvl[1] > mean_mvl[2] > 0.05
    np.testing.assert_allclose(mean_mvl, np.sqrt(np.pi / (4 * np.array([5, 20, 200]))), rtol=0.1)


def test_ppc_approaches_mvl_squared_for_many_events():
    phases = np.random.default_rng(4).vonmises(0.0, 1.5, 5000)
    assert C.ppc(phases) == pytest.approx(C.mvl(phases) ** 2, abs=1e-3)


def test_surrogate_test_is_calibrated_under_the_null():
    rng = np.random.default_rng(5)
    n_events, n_surr, reps = 30, 200, 400
    p = [
        C.surrogate_test(rng.uniform(-np.pi, np.pi, n_events), rng.uniform(-np.pi, np.pi, (n_events, n_surr)))[1]
        for _ in range(reps)
    ]
    assert 0.025 <= np.mean(np.less(p, 0.05)) <= 0.075


@pytest.mark.parametrize("statistic", ["mvl", "ppc"])
def test_surrogate_test_detects_locked_phases(statistic):
    rng = np.random.default_rng(6)
    observed = rng.vonmises(0.5, 2.0, 50)
    z, p, n_surr = C.surrogate_test(observed, rng.uniform(-np.pi, np.pi, (50, 500)), statistic)
    assert p < 0.01 and p == pytest.approx(1 / 501) and z > 5 and n_surr == 500


def test_surrogate_test_follows_its_formulas():
    rng = np.random.default_rng(7)
    observed = rng.vonmises(0.0, 0.5, 12)
    surrogates = rng.uniform(-np.pi, np.pi, (12, 50))
    null = np.array([C.ppc(col) for col in surrogates.T])
    obs = C.ppc(observed)
    z, p, n_surr = C.surrogate_test(observed, surrogates, "ppc")
    assert z == pytest.approx((obs - null.mean()) / null.std(ddof=1))
    assert p == pytest.approx((1 + np.sum(null >= obs)) / 51) and n_surr == 50
    # PPC is increasing in MVL at a fixed count: same p, different z.
    z_mvl, p_mvl, _ = C.surrogate_test(observed, surrogates, "mvl")
    assert p_mvl == p and z_mvl != pytest.approx(z)


def test_too_few_events_give_nan():
    assert np.isnan(C.circular_mean([])) and np.isnan(C.mvl([]))
    assert np.isnan(C.ppc([1.0])) and np.isnan(C.ppc_ref([1.0]))
    assert np.isnan(C.rayleigh([1.0])).all()
    z, p, n_surr = C.surrogate_test([1.0], np.zeros((1, 10)))
    assert np.isnan(z) and np.isnan(p) and n_surr == 10


@pytest.mark.parametrize(
    "call",
    [
        lambda: C.mvl([0.1, np.nan]),
        lambda: C.ppc(np.zeros((3, 2))),
        lambda: C.surrogate_test([0.1, 0.2], np.zeros((3, 10))),
        lambda: C.surrogate_test([0.1, 0.2], np.zeros((2, 1))),
        lambda: C.surrogate_test([0.1, 0.2], np.zeros((2, 10)), statistic="kappa"),
    ],
)
def test_invalid_inputs_raise_config_errors(call):
    with pytest.raises(ConfigError):
        call()
