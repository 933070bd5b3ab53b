"""The model families that ``genlib train / sample / evaluate`` know, by name, and one loader for all.

Each family is a model-config dataclass, a train-config dataclass and three functions with one
signature across families (see docs/DESIGN.md): ``train(model_config, train_config, *, data, out,
resume, max_steps, save_every, slim, progress, callback)``, ``load(path, device)`` and
``sample(model, classes, styles, *, seed)``.

:func:`load` reads any checkpoint and returns a :class:`Loaded` that knows its family, its dataset's
class and style names, and how to sample: ``load(path).sample(classes, styles, seed=0)``. The CLI,
the metric suite and the notebooks use it instead of dispatching on the family themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from torch import Tensor, nn

from genlib.checkpoint import read_meta
from genlib.data.conditions import style_names
from genlib.data.datasets import DataConfig, class_names_of
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
        "conditional VAE (the K49 report's MLP CVAE, its deep Architecture 3, a convolutional one)",
    ),
    "cgan": Family(
        "cgan", cgan.CGANConfig, cgan_train.CGANTrainConfig, cgan_train.train, cgan_train.load, cgan.sample,
        "conditional GAN (the K49 report's MLP and its variants, the StyleGAN report's convolutional cGAN)",
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
    """The family that wrote a checkpoint (read from its header, without loading the tensors)."""
    return get_family(read_meta(path).family)


@dataclass
class Loaded:
    """A trained model of any family, rebuilt from its checkpoint, with what it was trained on.

    Attributes:
        family: the :class:`Family` that wrote the checkpoint.
        path: the checkpoint file.
        model: the module that samples (a CGAN's EMA generator, the StyleGAN's EMA generator, the
            CVAE, or the classifier), in eval mode.
        model_config, train_config: the family's config dataclasses, as stored.
        state: the :class:`~genlib.training.TrainState` (epochs, steps, history, wall time).
        parts: the family's own loaded object, for what only that family has (e.g. a CGAN's
            ``discriminator``); its attributes are also reachable on ``Loaded`` itself.
    """

    family: Family
    path: Path
    model: nn.Module
    model_config: Any
    train_config: Any
    state: Any
    parts: Any

    def __getattr__(self, name: str) -> Any:  # only called for names Loaded itself does not have
        if name == "parts":
            raise AttributeError(name)
        return getattr(self.parts, name)

    @property
    def data_config(self) -> DataConfig:
        """The data the model was trained on (dataset, split, condition)."""
        return self.train_config.data

    @property
    def class_names(self) -> tuple[str, ...]:
        """What each class index means, e.g. kana for K49 and Kana-49, ``"0"``..``"9"`` for MNIST."""
        return class_names_of(self.data_config.dataset)[: self.model_config.n_classes]

    @property
    def style_names(self) -> tuple[str, ...]:
        """What each style code means for this model: ``("thin", "thick")``, ``("any",)`` for class only, ..."""
        return style_names(self.data_config.condition)

    def sample(self, classes: Tensor, styles: Tensor, *, seed: int = 0, **options: Any) -> Tensor:
        """Images for the labels, ``[N, C, H, W]`` in [0, 1], seeded; ``options`` go to the family's sampler
        (e.g. ``temperature`` for a CVAE, ``psi`` for the StyleGAN, ``same_noise`` for the GANs)."""
        if self.family.sample is None:
            raise ValueError(f"{self.path} is a {self.family.name!r} checkpoint: it classifies, it does not generate")
        return self.family.sample(self.model, classes, styles, seed=seed, **options)


def load(path: str | Path, device: str = "cpu") -> Loaded:
    """Rebuild the model in any genlib checkpoint (no pickle), in eval mode, as a :class:`Loaded`.

    Raises:
        genlib.checkpoint.CheckpointError: the file is missing, corrupt or not a genlib checkpoint.
        ValueError: the checkpoint names a family genlib does not know.
    """
    family = family_of_checkpoint(path)
    parts = family.load(path, device=device)
    return Loaded(family, Path(path), parts.model, parts.model_config, parts.train_config, parts.state, parts)
