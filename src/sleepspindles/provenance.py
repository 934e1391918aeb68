"""What made an output: configuration, package versions, inputs. Recorded in every ``run.json``."""

from __future__ import annotations

import datetime as _dt
import platform
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from .config import Config, config_to_dict

__all__ = ["package_versions", "run_metadata"]

_PACKAGES = ("sleepspindles", "numpy", "scipy", "pandas", "mne", "yasa", "numba", "edfio", "lightgbm")


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape results (``"absent"`` when missing)."""
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    return out


def run_metadata(config: Config, **extra: Any) -> dict[str, Any]:
    """The provenance block of a ``run.json``: time, versions, config, plus ``extra`` entries."""
    return {
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": package_versions(),
        "config": config_to_dict(config),
        **extra,
    }
