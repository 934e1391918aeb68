"""Building the config dataclasses from YAML mappings: unknown and moved keys refused, values typed.

Generic over the sections of :mod:`sleepspindles.config`; a key of an earlier version gets an error
naming its new place (:data:`MOVED_KEYS`).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import fields
from typing import Any

from ..errors import ConfigError, param_error

__all__ = ["MOVED_KEYS", "build", "config_to_dict", "merged"]

#: Keys of earlier versions -> where they live now (a user's old YAML gets an error naming it).
MOVED_KEYS = {
    "detection.freq_sp": "detection.band",
    "detection.a7_band": "detection.band",
    "laterality.sigma_band": "detection.band",
    "detection.freq_broad": "detection.broadband",
    "detection.a7_duration": "detection.duration",
    "detection.min_distance": "detection.fast.min_distance",
    "detection.thresh_rel_pow": "detection.fast.thresh_rel_pow",
    "detection.thresh_corr": "detection.fast.thresh_corr",
    "detection.thresh_rms": "detection.fast.thresh_rms",
    "detection.thresh_abs_pow": "detection.a7.thresh_abs_pow",
    "detection.thresh_rel_pow_z": "detection.a7.thresh_rel_pow_z",
    "detection.thresh_cov_z": "detection.a7.thresh_cov_z",
    "detection.thresh_corr_a7": "detection.a7.thresh_corr",
    "detection.a7_baseline": "detection.a7.baseline",
}


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes``; a mapping changes only the keys it names of a sub-mapping."""
    out = dict(base)
    for key, value in changes.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-YAML/JSON form of a config dataclass (tuples become lists)."""

    def plain(value: Any) -> Any:
        if dataclasses.is_dataclass(value):
            return {f.name: plain(getattr(value, f.name)) for f in fields(value)}
        if isinstance(value, (tuple, list)):
            return [plain(v) for v in value]
        return value

    return plain(cfg)


def build(cls: type, raw: Any, prefix: str) -> Any:
    """Instantiate dataclass ``cls`` from a mapping, refusing unknown keys and coercing types."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise param_error(prefix or "config", "a mapping", raw)
    hints = typing.get_type_hints(cls)
    known = {f.name for f in fields(cls) if f.init}
    unknown = sorted(set(raw) - known)
    moved = [(f"{prefix}.{k}" if prefix else k) for k in unknown if (f"{prefix}.{k}" if prefix else k) in MOVED_KEYS]
    if moved:
        raise ConfigError("; ".join(f"The config key {k!r} has moved: use {MOVED_KEYS[k]!r}" for k in moved) + ".")
    if unknown:
        raise ConfigError(
            f"Unknown config key(s) {', '.join(repr(prefix + '.' + k if prefix else k) for k in unknown)}; "
            f"valid keys{' of ' + repr(prefix) if prefix else ''}: {', '.join(sorted(known))}."
        )
    kwargs = {}
    for name, value in raw.items():
        key = f"{prefix}.{name}" if prefix else name
        kwargs[name] = _coerce(hints[name], value, key)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # pragma: no cover - guarded by the key check above
        raise ConfigError(f"{prefix}: {exc}") from None


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Convert a YAML value to the annotated type, or raise a ConfigError naming ``key``."""
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        others = [a for a in args if a is not type(None)]
        errors = []
        for option in others:
            try:
                return _coerce(option, value, key)
            except ConfigError as exc:
                errors.append(exc)
        raise errors[0]
    if origin is tuple:
        if isinstance(value, str) and args and args[0] is str:
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise param_error(key, "a list", value)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, key) for v in value)
        if len(value) != len(args):
            raise param_error(key, f"a list of {len(args)} values", value)
        return tuple(_coerce(a, v, key) for a, v in zip(args, value))
    if hint is bool:
        if not isinstance(value, bool):
            raise param_error(key, "true or false", value)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise param_error(key, "an integer", value)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise param_error(key, "a number", value)
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise param_error(key, "a string", value)
        return value
    return value
