"""Seed 004's convolutional conditional GAN, translated from Keras to PyTorch, conditioned on class and style.

Generator (seed 004, "Generator")::

    class  → Embedding(n_classes, 50) → Dense(7*7) → [B, 1, 7, 7]         (the label map)
    z (100) → Dense(7*7*128) → LeakyReLU(0.2) → [B, 128, 7, 7]
    concat → [B, 129, 7, 7]  (130 with a style map, see below)
    ConvTranspose 4x4 / 2, 128 filters → LeakyReLU(0.2) → [B, 128, 14, 14]
    ConvTranspose 4x4 / 2, 128 filters → LeakyReLU(0.2) → [B, 128, 28, 28]
    Conv 7x7, 1 filter, sigmoid → [B, 1, 28, 28] in [0, 1]

Discriminator (seed 004, "Discriminator")::

    class → Embedding(n_classes, 50) → Dense(28*28) → [B, 1, 28, 28]; concat with the image
    Conv 3x3 / 2, 64 filters → LeakyReLU(0.2) → [B, 64, 14, 14]
    Conv 3x3 / 2, 128 filters → LeakyReLU(0.2) → [B, 128, 7, 7]
    MaxPool 3x3 / 2 (valid) → [B, 128, 3, 3] → flatten (1152) → Dropout(0.2) → Dense(1) logit

Style (thin/thick) is not in seed 004, which conditions on the digit only: with ``n_styles=1``
(``DataConfig(condition="class")``) there is no style input at all and the model is seed 004's
exactly (129 channels into G's first transposed conv). With more style codes the style gets its own
embedding. ``style_join="concat"`` (default) turns it into a second label map — one more channel
beside the class map in both G and D — so the stroke-width code reaches every position through its
own dense layer. ``style_join="add"`` adds the style embedding to the class embedding before the
shared dense layer (one map, the seed's channel counts). Keras' ``padding="same"`` becomes
``padding=1`` here (same output sizes; for stride 2 Keras pads only bottom/right).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from genlib.models.cgan import CGANConfig, output_activation
from genlib.models.conditioning import check_labels

LRELU_SLOPE = 0.2  # seed 004: LeakyReLU(alpha=0.2)


def conv_config(**changes: object) -> CGANConfig:
    """Seed 004's model: ``CGANConfig(arch="conv", latent_dim=100, output="sigmoid")`` with ``changes`` applied."""
    base = CGANConfig(arch="conv", latent_dim=100, output="sigmoid")
    return dataclasses.replace(base, **changes)


class LabelMap(nn.Module):
    """Labels → spatial maps: ``Embedding(n, embed_dim) → Dense(size*size) → [B, k, size, size]``.

    ``k = 2`` (a class map and a style map) for ``style_join="concat"``; ``k = 1`` for ``"add"``,
    where the map is ``Dense(E_class[c] + E_style[s])``, and for ``n_styles = 1`` (class only:
    ``Dense(E_class[c])``, seed 004's label map, no style parameters).
    """

    def __init__(self, config: CGANConfig, size: int) -> None:
        super().__init__()
        self.config = config
        self.size = size
        self.class_embed = nn.Embedding(config.n_classes, config.embed_dim)
        styled = config.n_styles > 1
        self.style_embed = nn.Embedding(config.n_styles, config.embed_dim) if styled else None
        self.class_dense = nn.Linear(config.embed_dim, size * size)
        self.style_dense = nn.Linear(config.embed_dim, size * size) if styled and config.style_join == "concat" else None

    @property
    def channels(self) -> int:
        return 2 if self.style_dense is not None else 1

    def forward(self, classes: Tensor, styles: Tensor) -> Tensor:
        c = check_labels(classes, self.config.n_classes, "class")
        s = check_labels(styles, self.config.n_styles, "style")
        if c.shape != s.shape:
            raise ValueError(f"class and style labels must have the same shape, got {tuple(c.shape)} and {tuple(s.shape)}")
        if self.style_embed is None:  # class only (seed 004)
            maps = self.class_dense(self.class_embed(c)).unsqueeze(1)  # [B, 1, size*size]
        elif self.style_dense is None:
            maps = self.class_dense(self.class_embed(c) + self.style_embed(s)).unsqueeze(1)  # [B, 1, size*size]
        else:
            maps = torch.stack((self.class_dense(self.class_embed(c)), self.style_dense(self.style_embed(s))), dim=1)  # [B, 2, size*size]
        return maps.reshape(-1, self.channels, self.size, self.size)


class ConvGenerator(nn.Module):
    """Seed 004's generator (module docstring). ``z`` ``[B, latent_dim]``, labels int64 ``[B]`` →
    ``[B, 1, 28, 28]`` in [0, 1] (sigmoid, the seed) or [-1, 1] (``output="tanh"``)."""

    def __init__(self, config: CGANConfig) -> None:
        super().__init__()
        if config.arch != "conv":
            raise ValueError(f"ConvGenerator builds arch 'conv', got {config.arch!r}")
        self.config = config
        ch = config.channels
        self.labels = LabelMap(config, 7)  # [B, 1 or 2, 7, 7]
        self.project = nn.Sequential(nn.Linear(config.latent_dim, 7 * 7 * ch), nn.LeakyReLU(LRELU_SLOPE))  # Dense(7*7*128)
        self.upsample = nn.Sequential(
            nn.ConvTranspose2d(ch + self.labels.channels, ch, 4, stride=2, padding=1), nn.LeakyReLU(LRELU_SLOPE),  # [B, ch, 14, 14]
            nn.ConvTranspose2d(ch, ch, 4, stride=2, padding=1), nn.LeakyReLU(LRELU_SLOPE),  # [B, ch, 28, 28]
            nn.Conv2d(ch, 1, 7, padding=3),  # [B, 1, 28, 28]
            output_activation(config.output),
        )

    def forward(self, z: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        label_maps = self.labels(classes, styles)  # [B, k, 7, 7]
        x = self.project(z).reshape(-1, self.config.channels, 7, 7)  # [B, ch, 7, 7]
        return self.upsample(torch.cat((x, label_maps), dim=1))  # concatenate along channels, like Keras' Concatenate()


class ConvDiscriminator(nn.Module):
    """Seed 004's discriminator (module docstring). ``x`` ``[B, 1, 28, 28]`` in G's range, labels
    int64 ``[B]`` → logits ``[B]`` (the seed's final sigmoid lives in the loss)."""

    def __init__(self, config: CGANConfig) -> None:
        super().__init__()
        if config.arch != "conv":
            raise ValueError(f"ConvDiscriminator builds arch 'conv', got {config.arch!r}")
        self.config = config
        ch = config.channels
        self.labels = LabelMap(config, 28)  # [B, 1 or 2, 28, 28]
        self.features = nn.Sequential(
            nn.Conv2d(1 + self.labels.channels, ch // 2, 3, stride=2, padding=1), nn.LeakyReLU(LRELU_SLOPE),  # [B, 64, 14, 14]
            nn.Conv2d(ch // 2, ch, 3, stride=2, padding=1), nn.LeakyReLU(LRELU_SLOPE),  # [B, 128, 7, 7]
            nn.MaxPool2d(3, stride=2),  # [B, 128, 3, 3]
            nn.Flatten(),  # [B, 1152]
            nn.Dropout(config.dropout),
        )
        self.out = nn.Linear(ch * 3 * 3, 1)  # real/fake logit

    def forward(self, x: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        merged = torch.cat((x.reshape(-1, 1, 28, 28), self.labels(classes, styles)), dim=1)  # [B, 1 + k, 28, 28]
        return self.out(self.features(merged)).squeeze(1)
