"""Label plumbing shared by every conditional model: validation, one-hot codes, label grids, seeded noise."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor


def check_labels(labels: Tensor, n: int, name: str) -> Tensor:
    """Validate an int64 label tensor ``[B]`` with values in 0..n-1 and return it.

    Raises:
        ValueError: wrong dtype/shape, or a value out of range — the message names the bad value
            and the allowed range, e.g. ``class 52 is out of range: allowed 0..48``.
    """
    if not isinstance(labels, Tensor):
        raise ValueError(f"{name} labels must be a torch.Tensor of int64 indices, got {type(labels).__name__}")
    if labels.dtype not in (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8):
        raise ValueError(f"{name} labels must be integer indices, got dtype {labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"{name} labels must have shape [B], got {tuple(labels.shape)}")
    if labels.numel():
        bad = labels[(labels < 0) | (labels >= n)]
        if bad.numel():
            raise ValueError(f"{name} {int(bad[0])} is out of range: allowed 0..{n - 1}")
    return labels.long()


def label_codes(classes: Tensor, styles: Tensor, n_classes: int, n_styles: int) -> tuple[Tensor, Tensor]:
    """Validated one-hot codes ``([B, n_classes], [B, n_styles])`` (float32) for class and style."""
    c = check_labels(classes, n_classes, "class")
    s = check_labels(styles, n_styles, "style")
    if c.shape != s.shape:
        raise ValueError(f"class and style labels must have the same shape, got {tuple(c.shape)} and {tuple(s.shape)}")
    return one_hot_codes(c, s, n_classes, n_styles)


def one_hot_codes(classes: Tensor, styles: Tensor, n_classes: int, n_styles: int) -> tuple[Tensor, Tensor]:
    """One-hot codes ``([B, n_classes], [B, n_styles])`` (float32) of int64 labels known to be in range
    (a training batch of a prepared dataset): no range check, so no wait for the values on the host.
    :func:`label_codes` checks first; an index out of range still raises here, with torch's message."""
    def one_hot(labels: Tensor, n: int) -> Tensor:
        return torch.zeros(labels.shape[0], n, device=labels.device).scatter_(1, labels[:, None], 1.0)

    return one_hot(classes, n_classes), one_hot(styles, n_styles)


def seeded_normal(shape: tuple[int, ...], seed: int, device: torch.device | str = "cpu") -> Tensor:
    """Standard normal noise from its own CPU generator: the same ``seed`` gives the same noise on any device."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(shape, generator=g).to(device)


def label_grid(classes: Sequence[int] | Tensor, styles: Sequence[int] | Tensor, per_cell: int = 1) -> tuple[Tensor, Tensor]:
    """Labels for every (class, style) cell, ``per_cell`` of each, style varying fastest.

    ``label_grid([3, 7], [0, 1], 2)`` gives classes ``[3, 3, 3, 3, 7, 7, 7, 7]`` and styles
    ``[0, 0, 1, 1, 0, 0, 1, 1]``: int64 ``[len(classes) * len(styles) * per_cell]`` each.
    """
    if per_cell < 1:
        raise ValueError(f"per_cell must be >= 1, got {per_cell}")
    c = torch.as_tensor(classes, dtype=torch.int64).reshape(-1)
    s = torch.as_tensor(styles, dtype=torch.int64).reshape(-1)
    return c.repeat_interleave(len(s) * per_cell), s.repeat_interleave(per_cell).repeat(len(c))


def ordered_labels(n_classes: int, n_styles: int = 2, per_cell: int = 1) -> tuple[Tensor, Tensor]:
    """The full class x style grid: :func:`label_grid` over ``0..n_classes-1`` and ``0..n_styles-1``."""
    return label_grid(torch.arange(n_classes), torch.arange(n_styles), per_cell)
