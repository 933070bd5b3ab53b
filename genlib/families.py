"""The model families that ``genlib train / sample / evaluate`` know, by name.

Each family is a model-config dataclass, a train-config dataclass and three functions with one
signature across families (see docs/DESIGN.md): ``train(model_config, train_config, *, data, out,
resume, max_steps, save_every, slim, progress, callback)``, ``load(path, device)`` and
``sample(model, classes, styles, *, seed)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from genlib.checkpoint import load_checkpoint
from genlib.models import cgan, cgan_train, classifier_train, cvae, cvae_train, stylegan, stylegan_train
from genlib.models.classifier import ClassifierConfig


@dataclass(frozen=True)
class Family:
    """One model family: its configs and its train / load / sample functions."""

    name: str
    model_config: type
    train_config: type
    train: Callable[..., Any]
    load: Callable[..., Any]
    sample: Callable[..., Any] | None  # None for a family that does not generate
    description: str


FAMILIES: dict[str, Family] = {
    "cvae": Family(
        "cvae", cvae.CVAEConfig, cvae_train.CVAETrainConfig, cvae_train.train, cvae_train.load, cvae.sample,
        "conditional VAE (seed MLP, deep Architecture 3, convolutional)",
    ),
    "cgan": Family(
        "cgan", cgan.CGANConfig, cgan_train.CGANTrainConfig, cgan_train.train, cgan_train.load, cgan.sample,
        "conditional GAN (seed 000's MLP and its variants, seed 004's convolutional cGAN)",
    ),
    "stylegan": Family(
        "stylegan", stylegan.StyleGANConfig, stylegan_train.StyleGANTrainConfig, stylegan_train.train, stylegan_train.load,
        stylegan_train.sample, "class- and style-conditional StyleGAN with progressive growing and style mixing",
    ),
    "classifier": Family(
        "classifier", ClassifierConfig, classifier_train.ClassifierTrainConfig, classifier_train.train, classifier_train.load,
        None, "domain classifier used by the metric suite (it classifies; it does not generate)",
    ),
}


def get_family(name: str) -> Family:
    """The family called ``name``; raises ValueError listing the known names."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}: allowed {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


def family_of_checkpoint(path: str | Path) -> Family:
    """The family that wrote a checkpoint (read from its metadata)."""
    return get_family(load_checkpoint(path).family)
