"""A small CNN that recognises the classes of a dataset: the judge of every generator.

The metrics in :mod:`genlib.metrics` need a network that knows the domain: it says which class a
generated image shows (conditional accuracy) and embeds images in a feature space where real and
generated distributions are compared (FID, diversity). Inception-v3 features, the usual choice for
photographs, know nothing about 28x28 kana; a small classifier trained on the dataset itself does.

Architecture (``[B, 1, 28, 28]`` in [0, 1] → logits ``[B, n_classes]``)::

    conv 3x3 (C)  + ReLU + maxpool 2   → [B, C, 14, 14]
    conv 3x3 (2C) + ReLU + maxpool 2   → [B, 2C, 7, 7]
    flatten, dropout, dense (H) + ReLU → features [B, H]   (the penultimate layer, for FID)
    dropout, dense (n_classes)         → logits [B, n_classes]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from genlib.runtime import evaluating


@dataclass(frozen=True)
class ClassifierConfig:
    """Architecture of the domain classifier."""

    n_classes: int = 49  # output classes (49 for K49 / Kana-49, 10 for MNIST)
    channels: int = 32  # channels of the first conv (the second has twice as many)
    feature_dim: int = 128  # size of the penultimate layer (the FID feature space)
    dropout: float = 0.3  # dropout probability before each dense layer

    def __post_init__(self) -> None:
        for name in ("n_classes", "channels", "feature_dim"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


class DomainClassifier(nn.Module):
    """Small CNN classifier with a feature head for FID (module docstring has the layer table)."""

    def __init__(self, config: ClassifierConfig = ClassifierConfig()) -> None:
        super().__init__()
        self.config = config
        c = config.channels
        self.body = nn.Sequential(
            nn.Conv2d(1, c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # [B, C, 14, 14]
            nn.Conv2d(c, 2 * c, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # [B, 2C, 7, 7]
            nn.Flatten(),
            nn.Dropout(config.dropout),
            nn.Linear(2 * c * 7 * 7, config.feature_dim), nn.ReLU(),  # [B, H]
        )
        self.head = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(config.feature_dim, config.n_classes))

    def features(self, x: Tensor) -> Tensor:
        """Penultimate-layer features ``[B, feature_dim]`` (>= 0, after ReLU) of images ``[B, 1, 28, 28]``."""
        return self.body(x.reshape(-1, 1, 28, 28))

    def logits(self, x: Tensor) -> Tensor:
        """Class logits ``[B, n_classes]`` of images ``[B, 1, 28, 28]`` in [0, 1]."""
        return self.head(self.features(x))

    def forward(self, x: Tensor) -> Tensor:
        """:meth:`logits`: ``[B, n_classes]`` for images ``[B, 1, 28, 28]`` in [0, 1]."""
        return self.logits(x)


@torch.no_grad()
def classify(model: DomainClassifier, images: Tensor, *, batch_size: int = 1000) -> tuple[Tensor, Tensor]:
    """Logits and features of many images in eval mode, batch by batch.

    Args:
        images: float ``[N, 1, 28, 28]`` in [0, 1] (any device; moved to the model's).
    Returns:
        ``(logits [N, n_classes], features [N, feature_dim])``, float32 on the CPU.
    """
    logits, feats = [], []
    with evaluating(model) as device:
        for start in range(0, images.shape[0], batch_size):
            f = model.features(images[start : start + batch_size].to(device))
            feats.append(f.cpu())
            logits.append(model.head(f).cpu())
    n_classes, dim = model.config.n_classes, model.config.feature_dim
    if not feats:
        return torch.empty(0, n_classes), torch.empty(0, dim)
    return torch.cat(logits), torch.cat(feats)


def predict(model: DomainClassifier, images: Tensor, *, batch_size: int = 1000) -> Tensor:
    """Predicted classes ``argmax_k logits_k``: int64 ``[N]`` on the CPU."""
    return classify(model, images, batch_size=batch_size)[0].argmax(dim=1)
