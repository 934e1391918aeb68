"""Circular statistics of event phases, for slow-oscillation / spindle coupling: arrays in, numbers out.

Angles are in radians throughout (any real value; they are used modulo 2 pi); callers holding
degrees convert with :func:`numpy.deg2rad`. Every statistic is computed from the resultant
``R = sum(exp(1j * phi))`` of the ``n`` phases:

=================  =================================  ===================
function           value                              with fewer events
=================  =================================  ===================
circular_mean      angle of R, in (-pi, pi]           NaN for n = 0
mvl                abs(R) / n                         NaN for n = 0
ppc                (abs(R)^2 - n) / (n (n - 1))       NaN for n < 2
rayleigh           z = abs(R)^2 / n, p (Zar 1999)     NaN for n < 2
surrogate_test     z and p of mvl or ppc              NaN for n < 2
=================  =================================  ===================

The mean vector length is biased upwards by small counts (about ``sqrt(pi / (4 n))`` for
uniform phases), so MVLs of channels or subjects with different event counts are not
comparable; the pairwise phase consistency (PPC, Vinck et al. 2010, NeuroImage 51:112) is the
mean of ``cos(phi_j - phi_k)`` over all pairs, unbiased (expectation 0 for uniform phases at
any n) and close to ``mvl ** 2`` for large n.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import param_error

__all__ = [
    "circular_mean",
    "mvl",
    "ppc",
    "ppc_ref",
    "rayleigh",
    "surrogate_test",
    "unit_vectors",
    "surrogate_test_of_resultants",
    "circular_difference",
]

_STATISTICS = ("mvl", "ppc")


def _phases(phases, name: str = "phases", ndim: int = 1) -> np.ndarray:
    arr = np.asarray(phases, dtype=np.float64)
    if arr.ndim != ndim or not np.isfinite(arr).all():
        raise param_error(name, f"a {ndim}-dimensional array of finite angles in radians", f"shape {arr.shape}")
    return arr


def _units(phases: np.ndarray) -> np.ndarray:
    """``exp(1j * phi)``, elementwise."""
    return np.exp(1j * phases)


def _resultant(phases: np.ndarray) -> np.ndarray:
    """Sum of the unit vectors along the first axis (one resultant per column)."""
    return _units(phases).sum(axis=0)


def unit_vectors(phases) -> np.ndarray:
    """``exp(1j * phi)`` of finite phases (radians), complex128, any shape.

    Summed over the events (``unit_vectors(null)[rows].sum(axis=0)``) they are the surrogates'
    resultants that :func:`surrogate_test_of_resultants` takes, for the same values as
    :func:`surrogate_test` computes itself.
    """
    arr = np.asarray(phases, dtype=np.float64)
    return _units(_phases(arr, ndim=arr.ndim))


def _wrap(angle):
    """Angles wrapped to (-pi, pi] (``numpy.angle`` may return -pi for a negative zero imaginary part)."""
    return np.pi - np.mod(np.pi - angle, 2 * np.pi)


def _mvl(resultant, n: int):
    """Mean vector length of ``n`` phases from their resultant."""
    return np.abs(resultant) / n


def _ppc(resultant, n: int):
    """Pairwise phase consistency of ``n`` phases from their resultant."""
    return (np.abs(resultant) ** 2 - n) / (n * (n - 1))


def _statistic(name: str) -> Callable[[np.ndarray, int], np.ndarray]:
    """The function of (resultant, n) a surrogate test compares: ``"mvl"`` or ``"ppc"``."""
    if name not in _STATISTICS:
        raise param_error("statistic", f"one of {_STATISTICS}", name)
    return _mvl if name == "mvl" else _ppc


def circular_mean(phases) -> float:
    """Mean direction of the phases, in radians in (-pi, pi] (NaN without phases).

    Parameters
    ----------
    phases : array-like of float, shape (n,)
        Angles in radians (any real value).

    Returns
    -------
    float
        Undefined (arbitrary) when the resultant is zero, e.g. for two opposite phases.
    """
    phases = _phases(phases)
    return float(_wrap(np.angle(_resultant(phases)))) if phases.size else math.nan


def mvl(phases) -> float:
    """Mean vector length ``|sum(exp(1j * phi))| / n``, in [0, 1] (NaN without phases).

    Biased upwards for small n (see the module docstring); prefer :func:`ppc` to compare
    groups with different event counts.
    """
    phases = _phases(phases)
    return float(_mvl(_resultant(phases), phases.size)) if phases.size else math.nan


def ppc(phases) -> float:
    """Pairwise phase consistency (Vinck et al. 2010), in [-1 / (n - 1), 1] (NaN for n < 2).

    The mean of ``cos(phi_j - phi_k)`` over the ``n (n - 1)`` ordered pairs ``j != k``,
    computed in O(n) from the resultant as ``(|R|^2 - n) / (n (n - 1))``: ``|R|^2`` is the sum
    over all ordered pairs, the ``n`` pairs ``j == k`` contributing 1 each.

    Parameters
    ----------
    phases : array-like of float, shape (n,)
        Angles in radians, one per event.

    Returns
    -------
    float
    """
    phases = _phases(phases)
    return float(_ppc(_resultant(phases), phases.size)) if phases.size >= 2 else math.nan


def ppc_ref(phases) -> float:
    """Numpy twin of :func:`ppc`: the definition, the mean cosine over all pairs (O(n^2))."""
    phases = np.asarray(phases, dtype=np.float64)
    if phases.size < 2:
        return math.nan
    cos = np.cos(phases[:, None] - phases[None, :])
    return float(cos[~np.eye(phases.size, dtype=bool)].mean())


def rayleigh(phases) -> tuple[float, float]:
    """Rayleigh test of uniformity against a unimodal alternative.

    ``z = |R|^2 / n`` and Zar's (1999, p. 617) approximation of the p-value,
    ``exp(sqrt(1 + 4 n + 4 (n^2 - |R|^2)) - (1 + 2 n))``, as ``pingouin.circ_rayleigh``
    (which the tests check against); computed here from the same resultant as the other
    statistics, and without pingouin's restriction of angles to [-pi, pi] or [0, 2 pi].

    Parameters
    ----------
    phases : array-like of float, shape (n,)
        One angle per event, in radians.

    Returns
    -------
    z, p : float
        NaN for n < 2.
    """
    phases = _phases(phases)
    n = phases.size
    if n < 2:
        return math.nan, math.nan
    r2 = float(np.abs(_resultant(phases)) ** 2)
    p = math.exp(math.sqrt(1 + 4 * n + 4 * (n * n - r2)) - (1 + 2 * n))
    return r2 / n, p


def surrogate_test(observed_phases, surrogate_phases, statistic: str = "mvl") -> tuple[float, float, int]:
    """Observed coupling strength against a surrogate null distribution.

    Parameters
    ----------
    observed_phases : array-like of float, shape (n_events,)
        Phases of the events, in radians.
    surrogate_phases : array-like of float, shape (n_events, n_surrogates)
        Each column one surrogate replicate of the same events (e.g. phases read at shuffled
        or time-shifted event times), in radians.
    statistic : {"mvl", "ppc"}
        Coupling strength compared. For a fixed number of events PPC is an increasing function
        of MVL (``ppc = (n mvl^2 - 1) / (n - 1)``), so both give the same p; the z differ.

    Returns
    -------
    z : float
        ``(stat_obs - mean(null)) / sd(null)`` (sample SD, ddof=1; NaN when the null has no spread).
    p : float
        ``(1 + #(null >= stat_obs)) / (1 + n_surrogates)``, one-sided, never 0.
    n_surrogates : int
        Number of surrogate replicates.

    Both ``z`` and ``p`` are NaN with fewer than two events.
    """
    _statistic(statistic)
    observed = _phases(observed_phases, "observed_phases")
    null_phases = _phases(surrogate_phases, "surrogate_phases", ndim=2)
    if null_phases.shape[0] != observed.size or null_phases.shape[1] < 2:
        raise param_error(
            "surrogate_phases", f"a ({observed.size}, n_surrogates >= 2) array", f"shape {null_phases.shape}"
        )
    return surrogate_test_of_resultants(observed, _resultant(null_phases), statistic)


def surrogate_test_of_resultants(observed_phases, null_resultants, statistic: str = "mvl") -> tuple[float, float, int]:
    """:func:`surrogate_test` given the surrogates' resultants rather than their phases.

    For a caller testing many subsets of the same events (each stage and band of a channel):
    the unit vectors of every event's surrogates are computed once (:func:`unit_vectors`) and
    each subset's null is the sum of its rows, the values :func:`surrogate_test` gives.

    Parameters
    ----------
    observed_phases : array-like of float, shape (n_events,)
        Phases of the events, in radians.
    null_resultants : array-like of complex, shape (n_surrogates,)
        Per surrogate replicate, ``sum(exp(1j * phi))`` over the same ``n_events`` events.
    statistic : {"mvl", "ppc"}

    Returns
    -------
    z, p, n_surrogates
        As :func:`surrogate_test`.
    """
    stat = _statistic(statistic)
    observed = _phases(observed_phases, "observed_phases")
    null_resultants = np.asarray(null_resultants)
    n_events, n_surrogates = observed.size, null_resultants.size
    if null_resultants.ndim != 1 or n_surrogates < 2 or not np.isfinite(null_resultants).all():
        raise param_error("null_resultants", "finite resultants of at least 2 surrogates, one dimension",
                          f"shape {null_resultants.shape}")
    if n_events < 2:
        return math.nan, math.nan, n_surrogates
    obs = float(stat(_resultant(observed), n_events))
    null = stat(null_resultants, n_events)
    sd = float(np.std(null, ddof=1))
    z = (obs - float(np.mean(null))) / sd if sd > 0 else math.nan
    p = (1 + int(np.count_nonzero(null >= obs))) / (1 + n_surrogates)
    return z, p, n_surrogates


def circular_difference(a, b) -> np.ndarray:
    """``a - b`` wrapped to (-pi, pi], elementwise (radians; broadcasts like numpy).

    Returns
    -------
    numpy.ndarray of float
    """
    return _wrap(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64))
