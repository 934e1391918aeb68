"""The package's single exception family.

Every error a user can cause (a bad file, a bad parameter, a bad manifest row) is raised as a
subclass of :class:`SleepSpindlesError`, with a message that names the file or parameter and
the problem, so callers can catch one type and users never see a traceback from deep inside
numpy or mne.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "SleepSpindlesError",
    "DataError",
    "ConfigError",
    "param_error",
    "file_error",
]


class SleepSpindlesError(Exception):
    """Base class of every error raised on purpose by sleepspindles."""


class DataError(SleepSpindlesError, ValueError):
    """An input file or array is unreadable, inconsistent or implausible."""


class ConfigError(SleepSpindlesError, ValueError):
    """A parameter or configuration value is invalid."""


def param_error(name: str, must: str, got: Any) -> ConfigError:
    """Build the standard parameter error.

    Parameters
    ----------
    name : str
        Name of the parameter (or config key, dotted).
    must : str
        What the value must be, e.g. ``"a positive number"``.
    got : object
        The offending value; its ``repr`` goes in the message.

    Returns
    -------
    ConfigError
        ``The 'name' parameter must be <must>; got <got!r>.``
    """
    return ConfigError(f"The {name!r} parameter must be {must}; got {got!r}.")


def file_error(path: str | Path | None, problem: str) -> DataError:
    """Build the standard file error: ``"<path>: <problem>"``.

    Parameters
    ----------
    path : str or Path or None
        The file the problem is in (``None`` for in-memory data).
    problem : str
        What is wrong, specific enough to act on.

    Returns
    -------
    DataError
    """
    where = str(path) if path is not None else "<in-memory data>"
    return DataError(f"{where}: {problem}")
