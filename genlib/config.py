"""Dataclass configs to and from JSON dicts (for checkpoints and the CLI), their flags and their ranges."""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, TypeVar

T = TypeVar("T")


def config_from_dict(cls: type[T], d: dict[str, Any]) -> T:
    """Rebuild a (possibly nested) dataclass config from a dict, rejecting unknown keys.

    Raises:
        ValueError: a key that ``cls`` has no field for (names the key and the allowed fields).
    """
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - names
    if unknown:
        raise ValueError(f"unknown {cls.__name__} field(s) {sorted(unknown)}: allowed {sorted(names)}")
    kwargs = {}
    for key, value in d.items():
        hint = hints[key]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value)
        elif typing.get_origin(hint) is tuple and isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


def config_replace(config: T, **changes: Any) -> T:
    """``dataclasses.replace`` that names the bad field when one does not exist."""
    names = {f.name for f in dataclasses.fields(config)}
    unknown = set(changes) - names
    if unknown:
        raise ValueError(f"unknown {type(config).__name__} field(s) {sorted(unknown)}: allowed {sorted(names)}")
    return dataclasses.replace(config, **changes)


def check_range(
    name: str, value: float, low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> None:
    """Raise a one-line ``ValueError`` naming ``name``, the allowed range and ``value`` unless ``value`` is
    a finite number in it (NaN and inf are never allowed), e.g. ``lr must be in (0, inf), got nan``.

    ``low_open`` / ``high_open`` exclude the bound itself; ``None`` leaves that side unbounded.
    """
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low is None or (value > low if low_open else value >= low))
    ok = ok and (high is None or (value < high if high_open else value <= high))
    if not ok:
        left = "-inf" if low is None else f"{low:g}"
        right = "inf" if high is None else f"{high:g}"
        allowed = ("(" if low_open or low is None else "[") + f"{left}, {right}" + (")" if high_open or high is None else "]")
        raise ValueError(f"{name} must be a finite number in {allowed}, got {value!r}")


def check_choice(name: str, value: Any, allowed: typing.Sequence[str], renamed: dict[str, str] | None = None) -> None:
    """Raise a one-line ``ValueError`` unless ``value`` is one of ``allowed``; an old value in ``renamed``
    says what it is called now, e.g. ``split 'seed' was renamed 'stratified': allowed 'stratified', 'official'``."""
    if value in allowed:
        return
    shown = ", ".join(repr(a) for a in allowed)
    if isinstance(value, str) and value in (renamed or {}):
        raise ValueError(f"{name} {value!r} was renamed {renamed[value]!r}: allowed {shown}")
    raise ValueError(f"{name} must be one of {shown}, got {value!r}")


def flag_of(name: str) -> str:
    """The command-line flag of a config field: ``latent_dim`` → ``--latent-dim`` (``split_seed`` → ``--split-seed``)."""
    return "--" + name.replace("_", "-")
