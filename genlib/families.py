"""The model families that ``genlib train / sample / evaluate`` know, by name, and one loader for all.

Each family is one :class:`~genlib.scaffold.Family` value, defined beside its training step in
``models/<name>_train.py``; this module only collects them. :func:`load` reads any checkpoint and
returns a :class:`~genlib.scaffold.Loaded` that knows its family, its dataset's class and style
names, and how to sample: ``load(path).sample(classes, styles, seed=0)``. The CLI, the metric suite
and the notebooks use it instead of dispatching on the family themselves.

A family of your own joins with :func:`register` (see docs/DESIGN.md, "How to add a family").
"""

from __future__ import annotations

from pathlib import Path

from genlib.checkpoint import read_meta
from genlib.models import cgan_train, classifier_train, cvae_train, stylegan_train
from genlib.scaffold import Family, Loaded

__all__ = ["FAMILIES", "Family", "Loaded", "family_of_checkpoint", "get_family", "load", "register"]

FAMILIES: dict[str, Family] = {f.name: f for f in (cvae_train.FAMILY, cgan_train.FAMILY, stylegan_train.FAMILY, classifier_train.FAMILY)}


def register(family: Family, *, replace: bool = False) -> Family:
    """Make ``family`` known to ``genlib train / sample / evaluate`` and :func:`load`; returns it.

    Raises:
        ValueError: a family of that name is already registered (and ``replace`` is False).
    """
    if family.name in FAMILIES and not replace and FAMILIES[family.name] is not family:
        raise ValueError(f"a model family called {family.name!r} is already registered: pick another name or pass replace=True")
    FAMILIES[family.name] = family
    return family


def get_family(name: str) -> Family:
    """The family called ``name``; raises ValueError listing the known names."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}: allowed {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


def family_of_checkpoint(path: str | Path) -> Family:
    """The family that wrote a checkpoint (read from its header, without loading the tensors)."""
    return get_family(read_meta(path).family)


def load(path: str | Path, device: str = "cpu") -> Loaded:
    """Rebuild the model in any genlib checkpoint (no pickle), in eval mode, as a :class:`~genlib.scaffold.Loaded`.

    Raises:
        genlib.checkpoint.CheckpointError: the file is missing, corrupt or not a genlib checkpoint.
        ValueError: the checkpoint names a family genlib does not know.
    """
    return family_of_checkpoint(path).load(path, device)
