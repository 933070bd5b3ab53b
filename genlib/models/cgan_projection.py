"""A projection discriminator and spectral normalisation for the conv cGAN (not in either report).

The StyleGAN report's discriminator reads the labels as extra input channels and ends with a
max-pool and dropout. A *projection discriminator* (Miyato & Koyama 2018) reads the image alone
and brings the labels in at the end, as an inner product with the image's features::

    h = phi(x)                                   # [B, ch]: conv features, summed over positions
    D(x | c, s) = w · h + E_c[c] · h + E_s[s] · h  # unconditional score + how well h fits the labels

so D's judgement "is this a real kana" and "is it *this* kana" share every feature. The
conditional term is the log-ratio of the class-conditional densities of a log-linear model, which
is what a conditional D should estimate.

Layers (``ch`` = ``config.channels``)::

    x [B, 1, 28, 28] → Conv 4x4 / 2 (ch/2) → LeakyReLU(0.2) → [B, ch/2, 14, 14]
                     → Conv 4x4 / 2 (ch)   → LeakyReLU(0.2) → [B, ch, 7, 7]
                     → Conv 3x3 (ch)       → LeakyReLU(0.2) → sum over 7x7 → h [B, ch]

Spectral normalisation (Miyato et al. 2018) divides each weight matrix by an estimate of its
largest singular value (one power iteration per training forward pass), so every layer is
1-Lipschitz and D cannot sharpen its verdicts without bound: ``W_SN = W / sigma(W)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import spectral_norm

from genlib.models.cgan import LRELU_SLOPE, CGANConfig
from genlib.models.conditioning import check_labels


class ProjectionDiscriminator(nn.Module):
    """``x`` ``[B, 1, 28, 28]`` in G's range, labels int64 ``[B]`` → logits ``[B]`` (module docstring)."""

    def __init__(self, config: CGANConfig) -> None:
        super().__init__()
        if config.arch != "conv":
            raise ValueError(f"ProjectionDiscriminator is a conv discriminator, got arch {config.arch!r}")
        self.config = config
        ch = config.channels
        self.features = nn.Sequential(
            nn.Conv2d(1, ch // 2, 4, stride=2, padding=1), nn.LeakyReLU(LRELU_SLOPE),  # [B, ch/2, 14, 14]
            nn.Conv2d(ch // 2, ch, 4, stride=2, padding=1), nn.LeakyReLU(LRELU_SLOPE),  # [B, ch, 7, 7]
            nn.Conv2d(ch, ch, 3, padding=1), nn.LeakyReLU(LRELU_SLOPE),  # [B, ch, 7, 7]
        )
        self.out = nn.Linear(ch, 1)  # w · h + b: the unconditional real/fake score
        self.class_embed = nn.Embedding(config.n_classes, ch)  # E_c
        self.style_embed = nn.Embedding(config.n_styles, ch) if config.n_styles > 1 else None  # E_s (none for class only)

    def forward(self, x: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        """Scores ``[B]`` (real high) of images ``[B, 1, 28, 28]`` in the generator's range (tanh: [-1, 1]), labels ``[B]``: ``w·h + b + E[y]·h``."""
        c = check_labels(classes, self.config.n_classes, "class")
        s = check_labels(styles, self.config.n_styles, "style")
        h = self.features(x.reshape(-1, 1, 28, 28)).sum(dim=(2, 3))  # [B, ch]: sum pooling over positions
        projection = (self.class_embed(c) * h).sum(1)  # E_c[c] · h, [B]
        if self.style_embed is not None:
            projection = projection + (self.style_embed(s) * h).sum(1)  # + E_s[s] · h
        return self.out(h).squeeze(1) + projection


def spectrally_normalised(module: nn.Module) -> nn.Module:
    """``module`` with spectral normalisation on the weight of every Linear, Conv and Embedding in it (in place)."""
    for layer in list(module.modules()):
        if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
            spectral_norm(layer)
    return module


def largest_singular_value(weight: Tensor) -> float:
    """``sigma(W)`` of a weight reshaped to ``[out, -1]`` (exact, by SVD): 1 for a converged spectrally normalised layer."""
    return float(torch.linalg.matrix_norm(weight.detach().reshape(weight.shape[0], -1), ord=2))
