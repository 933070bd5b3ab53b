"""Command-line options from config dataclasses, and argparse with one-line errors.

Every plain field of a model or training config becomes a flag (``latent_dim`` → ``--latent-dim``,
:func:`genlib.config.flag_of`), its ``# comment`` the help text; :func:`apply_overrides` puts the
given values back into a (nested) config. :class:`Parser` raises :class:`UsageError` instead of
printing the usage, so that ``genlib`` reports every bad command line as one line.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import typing
from typing import Any, Sequence

from genlib.config import flag_of

PARSE_TYPES = (int, float, str)


class UsageError(ValueError):
    """A bad command line: main prints it as one line and exits 2."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: a bad option raises :class:`UsageError` instead of printing the usage."""

    def error(self, message: str) -> typing.NoReturn:
        raise UsageError(f"{message} (`{self.prog} --help` lists the options)")


def _int(text: str) -> int:
    """``int(text)``, or argparse's usage error naming the text."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None


def parse_int(text: str) -> int:
    """An argparse type: an integer that fits 64 bits (larger ones overflow torch's sizes with a traceback)."""
    value = _int(text)
    if not -(2**63) <= value < 2**63:
        raise argparse.ArgumentTypeError(f"{value} is out of range: at most 2**63 - 1 in size")
    return value


def at_least(low: int) -> Any:
    """An argparse type: an integer >= ``low`` (the message names the value)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} is out of range: must be >= {low}")
        return value

    parse.__name__ = f"integer >= {low}"
    return parse


def seed_arg(text: str) -> int:
    """An argparse type: a seed in 0..2**32-1."""
    value = _int(text)
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} is out of range: a seed is in 0..2**32-1")
    return value


def parse_bool(text: str) -> bool:
    """``true/yes/on/1`` or ``false/no/off/0`` (any case); anything else is a usage error."""
    value = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}.get(text.lower())
    if value is None:
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return value


def field_comments(cls: type) -> dict[str, str]:
    """The ``# comment`` beside each field in a dataclass's source (used as the option's help)."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    return {m.group(1): m.group(2).strip() for m in re.finditer(r"^\s+(\w+):[^#\n]*#(.*)$", source, re.MULTILINE)}


def config_fields(cls: type) -> list[tuple[str, Any, str]]:
    """``(field name, type hint, help)`` for each plain field of a config dataclass, nested ones flattened."""
    hints = typing.get_type_hints(cls)
    comments = field_comments(cls)
    out = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            out += config_fields(hint)
        else:
            default = f" (default {f.default!r})" if f.default is not dataclasses.MISSING else ""
            out.append((f.name, hint, comments.get(f.name, "") + default))
    return out


def add_config_options(parser: argparse.ArgumentParser, classes: Sequence[type]) -> None:
    """One option per config field: ints, floats, strings, Literal choices, bools and tuples of ints."""
    seen: set[str] = set()
    for cls in classes:
        group = parser.add_argument_group(cls.__name__)
        for name, hint, help_text in config_fields(cls):
            if name in seen:
                raise RuntimeError(f"config field {name!r} appears twice among {[c.__name__ for c in classes]}")
            seen.add(name)
            origin, args = typing.get_origin(hint), typing.get_args(hint)
            kwargs: dict[str, Any] = {"default": None, "help": help_text, "dest": name}
            if origin is typing.Literal:
                kwargs.update(choices=list(args), type=type(args[0]))
            elif hint is bool:  # --flag alone means true; --flag false turns a recipe's true off
                kwargs.update(type=parse_bool, nargs="?", const=True, metavar="BOOL")
            elif origin is tuple:
                kwargs.update(type=parse_int if args[0] is int else args[0], nargs="+")
            elif hint is int and name.endswith("seed"):
                kwargs.update(type=seed_arg)
            elif hint in PARSE_TYPES:
                kwargs.update(type=parse_int if hint is int else hint)
            else:
                continue
            group.add_argument(flag_of(name), **kwargs)


def apply_overrides(config: Any, values: dict[str, Any]) -> Any:
    """A copy of a (nested) config with every field that has a non-None value in ``values`` replaced."""
    changes = {}
    for f in dataclasses.fields(config):
        current = getattr(config, f.name)
        if dataclasses.is_dataclass(current):
            changes[f.name] = apply_overrides(current, values)
        elif values.get(f.name) is not None:
            value = values[f.name]
            changes[f.name] = tuple(value) if isinstance(current, tuple) else value
    return dataclasses.replace(config, **changes)
