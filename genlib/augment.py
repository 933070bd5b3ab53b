"""Differentiable augmentation of the discriminator's inputs (DiffAugment; Zhao et al. 2020).

A discriminator trained on few images memorises them, and its verdicts stop teaching the
generator. DiffAugment shows D only *augmented* images, real and fake alike, in both the D and
the G step. Every operation is differentiable in the image, so G's gradient flows back through
the augmentation, and G learns the un-augmented distribution: ``D(T(x))`` against ``D(T(G(z)))``
for a random ``T`` drawn afresh for every image.

Policies (comma-separated in :data:`POLICIES` order, e.g. ``"translation,cutout"``):

- ``color``: brightness ``x + (u - 0.5) * span`` and contrast ``(x - mean) * (u + 0.5) + mean``,
  ``u ~ U[0, 1)`` per image; ``span`` is the width of the data range (1 for [0, 1], 2 for [-1, 1]);
- ``translation``: shift by up to 1/8 of the size in each direction, empty pixels = background;
- ``cutout``: a square of half the size at a random centre set to the background.

Images are ``[B, C, H, W]`` in the model's range; ``background`` is the value of an empty pixel
there (0 for [0, 1] data, -1 for [-1, 1]). The random draws use torch's global generator, which
the training scaffold seeds and saves, so augmented runs resume exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

POLICIES: tuple[str, ...] = ("color", "translation", "cutout")
TRANSLATION_RATIO = 0.125  # largest shift, as a fraction of the image size (DiffAugment: 1/8)
CUTOUT_RATIO = 0.5  # side of the cut-out square, as a fraction of the image size (DiffAugment: 1/2)


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"translation,cutout"`` → ``("translation", "cutout")``; ``""`` → ``()``.

    Raises:
        ValueError: an unknown or repeated operation (names the allowed ones).
    """
    ops = tuple(p.strip() for p in policy.split(",") if p.strip())
    unknown = [p for p in ops if p not in POLICIES]
    if unknown or len(set(ops)) != len(ops):
        raise ValueError(f"augment must be a comma-separated subset of {', '.join(POLICIES)} (each once), got {policy!r}")
    return ops


def color(x: Tensor, span: float) -> Tensor:
    """Random brightness then contrast per image (values may leave the data range, as in DiffAugment)."""
    b = x.shape[0]
    x = x + (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5) * span  # brightness: x + (u - 1/2) * span
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean  # contrast in [0.5, 1.5)


def translation(x: Tensor, background: float, ratio: float = TRANSLATION_RATIO) -> Tensor:
    """Shift each image by integers ``(dy, dx)``, ``|d| <= round(size * ratio)``; pixels shifted in are ``background``."""
    b, _, h, w = x.shape
    my, mx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-my, my + 1, (b, 1), device=x.device)
    dx = torch.randint(-mx, mx + 1, (b, 1), device=x.device)
    padded = torch.nn.functional.pad(x, (mx, mx, my, my), value=background)  # [B, C, H + 2my, W + 2mx]
    rows = torch.arange(h, device=x.device) + my - dy  # output row i reads padded row i + my - dy, [B, H]
    cols = torch.arange(w, device=x.device) + mx - dx  # [B, W]
    batch = torch.arange(b, device=x.device)[:, None, None]
    return padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)  # [B, C, H, W]


def cutout(x: Tensor, background: float, ratio: float = CUTOUT_RATIO) -> Tensor:
    """Set a ``round(size * ratio)`` square around a random centre (clipped at the border) to ``background``."""
    b, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h, (b, 1, 1), device=x.device)
    cx = torch.randint(0, w, (b, 1, 1), device=x.device)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    top, left = cy - sy // 2, cx - sx // 2  # the square covers rows [top, top + sy) and columns [left, left + sx)
    inside = (ys >= top) & (ys < top + sy) & (xs >= left) & (xs < left + sx)  # [B, H, W]
    keep = (~inside).unsqueeze(1).to(x.dtype)  # [B, 1, H, W]: 0 inside the square
    return x * keep + background * (1 - keep)


def diff_augment(x: Tensor, policy: str | tuple[str, ...], background: float = 0.0, span: float = 1.0) -> Tensor:
    """Apply the operations of ``policy`` in :data:`POLICIES` order; ``x`` ``[B, C, H, W]`` → same shape.

    An empty policy returns ``x`` itself (no copy, no random draws).
    """
    ops = parse_policy(policy) if isinstance(policy, str) else policy
    if "color" in ops:
        x = color(x, span)
    if "translation" in ops:
        x = translation(x, background)
    if "cutout" in ops:
        x = cutout(x, background)
    return x
