"""Optional numba: ``jit`` compiles with numba when it is available, else returns the function.

Set ``SLEEPSPINDLES_NO_NUMBA=1`` to run every kernel as plain Python (slow; for debugging and
for testing both code paths). Compiled functions keep the original as ``.py_func``.
"""

from __future__ import annotations

import os

__all__ = ["jit", "HAS_NUMBA"]

_DISABLED = os.environ.get("SLEEPSPINDLES_NO_NUMBA", "").strip() not in ("", "0")

try:
    if _DISABLED:
        raise ImportError("disabled by SLEEPSPINDLES_NO_NUMBA")
    from numba import njit as _njit

    HAS_NUMBA = True
except ImportError:
    _njit = None
    HAS_NUMBA = False


def jit(*args, **kwargs):
    """``numba.njit(cache=True, nogil=True, **kwargs)``, or a no-op decorator without numba.

    Usable bare (``@jit``) or with options (``@jit(fastmath=True)``).
    """
    if HAS_NUMBA:
        kwargs.setdefault("cache", True)
        kwargs.setdefault("nogil", True)
        if args and callable(args[0]):
            return _njit(**kwargs)(args[0])
        return _njit(*args, **kwargs)
    if args and callable(args[0]):
        return args[0]
    return lambda func: func
