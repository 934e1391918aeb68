"""Read a YAML configuration file into plain Python values (the config module validates them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError

__all__ = ["read_config_file"]


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping of sections in a YAML config file.

    Raises
    ------
    ConfigError
        One line naming the file: unreadable, not UTF-8 (with the byte and its position), not
        valid YAML (with line and column), or not a mapping of sections.
    """
    import yaml

    try:
        text = Path(path).read_text(encoding="utf-8")
        raw = yaml.safe_load(text) or {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at position "
                          f"{exc.start})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({_yaml_problem(exc)})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config file must be a mapping of sections")
    return raw


def _yaml_problem(exc) -> str:
    """One line for a YAML error (its own text spans several lines, quoting the file)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"line {mark.line + 1}, column {mark.column + 1}: {problem}" if mark is not None else problem
