"""Figures used by the notebooks and the report: image grids, class x style grids, loss curves.

Every function takes tensors/arrays in genlib's convention (images ``[N, 1, 28, 28]`` in [0, 1],
white on black) and returns the matplotlib ``Figure`` so callers can save or show it. Kana in
titles render with the small CJK font shipped in ``genlib/assets`` (registered on first use).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from torch import Tensor


def shipped_font_file() -> Traversable | None:
    """The kana font shipped in ``genlib/assets`` (a ``.ttf``/``.otf``), or None when there is none."""
    assets = resources.files("genlib") / "assets"
    fonts = sorted((p for p in assets.iterdir() if p.name.endswith((".ttf", ".otf"))), key=lambda p: p.name) if assets.is_dir() else []
    return fonts[0] if fonts else None


@lru_cache(maxsize=1)
def use_kana_font() -> str | None:
    """Register the shipped kana font with matplotlib and put it first in the sans-serif list.

    Returns:
        the font's family name, or None when no font file is shipped (titles then fall back to
        matplotlib's default font, which has no kana glyphs).
    """
    from matplotlib import font_manager

    font = shipped_font_file()
    if font is None:
        return None
    path = str(font)
    font_manager.fontManager.addfont(path)
    family = font_manager.FontProperties(fname=path).get_name()
    plt.rcParams["font.family"] = [family, "DejaVu Sans"]  # per-glyph fallback for arrows, Greek, …
    return family


def to_numpy_images(images: Tensor | np.ndarray) -> np.ndarray:
    """Images as float arrays in [0, 1] for matplotlib: grayscale ``[N, H, W]``, colour ``[N, H, W, 3]``.

    Accepts ``[N, 1, H, W]``, ``[N, 3, H, W]`` (genlib's tensors), ``[N, H, W]`` or ``[N, H, W, 3]``
    (the npz format of ``genlib sample``), float in [0, 1] or uint8.
    """
    if isinstance(images, Tensor):
        images = images.detach().float().cpu().numpy()
    images = np.asarray(images)
    if images.dtype == np.uint8:
        images = images.astype(np.float32) / 255.0
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    elif images.ndim == 4 and images.shape[1] == 3:
        images = images.transpose(0, 2, 3, 1)  # [N, H, W, 3]
    if not (images.ndim == 3 or (images.ndim == 4 and images.shape[-1] == 3)):
        raise ValueError(f"expected images [N, 1 or 3, H, W], [N, H, W] or [N, H, W, 3], got shape {images.shape}")
    return images


def tile(images: Tensor | np.ndarray, ncol: int, pad: int = 2) -> np.ndarray:
    """Tile ``N`` images into one array, ``ncol`` per row, with ``pad`` pixels of grey between them
    (``[rows, cols]``, or ``[rows, cols, 3]`` for colour images)."""
    x = to_numpy_images(images)
    n, h, w = x.shape[:3]
    nrow = -(-n // ncol)
    out = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, *x.shape[3:]), 0.35, dtype=np.float32)
    for i in range(n):
        r, c = divmod(i, ncol)
        out[pad + r * (h + pad) : pad + r * (h + pad) + h, pad + c * (w + pad) : pad + c * (w + pad) + w] = x[i]
    return out


def show_images(
    images: Tensor | np.ndarray,
    ncol: int = 10,
    title: str | None = None,
    ax: plt.Axes | None = None,
    scale: float = 0.6,
) -> Figure:
    """One grid of images (white on black) with an optional title."""
    use_kana_font()
    grid = tile(images, ncol)
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(2.0, grid.shape[1] / 30 * scale * 1.6), max(1.5, grid.shape[0] / 30 * scale * 1.6)))
    else:
        fig = ax.figure
    ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return fig


def labelled_grid(
    images: Tensor | np.ndarray, titles: Sequence[str], ncol: int = 10, suptitle: str | None = None, scale: float = 1.0
) -> Figure:
    """Images in a grid of axes, each with its own title (e.g. ``"あ thick"``)."""
    use_kana_font()
    x = to_numpy_images(images)
    if len(titles) != len(x):
        raise ValueError(f"got {len(x)} images but {len(titles)} titles")
    nrow = -(-len(x) // ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(ncol * 0.9 * scale, nrow * 1.05 * scale), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, img, t in zip(axes.flat, x, titles):
        ax.imshow(img, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(t, fontsize=8, pad=2)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def class_style_grid(
    images: Tensor | np.ndarray,
    class_names: Sequence[str],
    style_names: Sequence[str] = ("thin", "thick"),
    title: str | None = None,
    ncol: int = 7,
) -> Figure:
    """One panel per style, each a grid of the classes with the class's character above every cell.

    Args:
        images: ``[C * S, 1, 28, 28]`` ordered class-major with the style index varying fastest
            (as :func:`genlib.models.conditioning.ordered_labels` makes them); an index of -1 cell may be blank (all zeros).
    """
    use_kana_font()
    x = to_numpy_images(images)
    n_classes, n_styles = len(class_names), len(style_names)
    if len(x) != n_classes * n_styles:
        raise ValueError(f"expected {n_classes} x {n_styles} = {n_classes * n_styles} images, got {len(x)}")
    x = x.reshape(n_classes, n_styles, *x.shape[1:])
    ncol = min(ncol, n_classes)
    nrow = -(-n_classes // ncol)
    fig = plt.figure(figsize=(n_styles * (ncol * 0.62 + 0.3), nrow * 0.72 + 0.6))
    for s, sub in enumerate(np.atleast_1d(fig.subfigures(1, n_styles, wspace=0.04))):
        axes = sub.subplots(nrow, ncol, squeeze=False)
        for ax in axes.flat:
            ax.set_axis_off()
        for k in range(n_classes):
            ax = axes.flat[k]
            ax.imshow(x[k, s], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
            ax.set_title(class_names[k], fontsize=8, pad=1)
        sub.suptitle(style_names[s], fontsize=11)
    if title:
        fig.suptitle(title, y=1.02)
    return fig


def plot_history(
    history: Sequence[dict[str, float]], keys: Sequence[str], title: str | None = None, ax: plt.Axes | None = None, ylabel: str = "loss"
) -> Figure:
    """Curves of ``keys`` from a training history (one row per epoch)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
    else:
        fig = ax.figure
    epochs = [row["epoch"] for row in history]
    for key in keys:
        missing = [row["epoch"] for row in history if key not in row]
        if missing:
            raise ValueError(f"history has no {key!r} in epochs {missing[:3]}…; available: {sorted(history[0])}")
        ax.plot(epochs, [row[key] for row in history], label=key, marker="o" if len(epochs) < 30 else None, ms=3)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def real_vs_fake(real: Tensor | np.ndarray, fake: Tensor | np.ndarray, caption: str = "", ncol: int = 8) -> Figure:
    """Real and generated images side by side with a caption (the K49 report's Figures 12–14)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4.8))
    show_images(real, ncol=ncol, title="Real images", ax=a)
    show_images(fake, ncol=ncol, title="Fake images", ax=b)
    if caption:
        fig.text(0.5, 0.02, caption, ha="center", fontsize=9, wrap=True)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def side_by_side(panels: dict[str, Tensor | np.ndarray], ncol: int = 10, suptitle: str | None = None) -> Figure:
    """Several image grids next to each other, one per named panel (model comparisons).

    At most three panels share a row (four make a 2 x 2 grid), so that the titles stay readable
    when a notebook shrinks the figure to its width.
    """
    use_kana_font()
    per_row = len(panels) if len(panels) <= 3 else -(-len(panels) // 2)
    nrow = -(-len(panels) // per_row)
    aspect = max(g.shape[0] / g.shape[1] for g in (tile(images, min(ncol, len(images))) for images in panels.values()))
    fig, axes = plt.subplots(nrow, per_row, figsize=(4.2 * per_row, min(4.4, 4.2 * aspect + 0.6) * nrow), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_axis_off()
    for ax, (name, images) in zip(axes.flat, panels.items()):
        show_images(images, ncol=ncol, title=name, ax=ax)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def per_class_bars(values: Sequence[float] | np.ndarray, class_names: Sequence[str], ylabel: str, title: str | None = None) -> Figure:
    """A bar per class (e.g. per-class median foreground count or conditional accuracy)."""
    use_kana_font()
    values = np.asarray(values, dtype=float)
    fig, ax = plt.subplots(figsize=(min(16, 0.3 * len(values) + 2), 3.2))
    ax.bar(np.arange(len(values)), values, color="#4c72b0")
    ax.set_xticks(np.arange(len(values)))
    ax.set_xticklabels(class_names, fontsize=9)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def image_row(ax, image: np.ndarray, label: str) -> None:
    """A tiled strip (from :func:`tile`, values in [0, 1]) on ``ax``, no ticks, ``label`` on its left."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)


def save_figure(fig: Figure, path: str, dpi: int = 120) -> None:
    """Save a figure as PNG atomically (never a half-written file under ``path``) and close it."""
    from genlib.atomic import atomic_write

    try:
        atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight"))
    finally:
        plt.close(fig)
