"""The K49 report's dataset preparation (§3), one small function per step.

Pipeline (the K49 report, §3.0.1): merge train and test → scale to [0, 1] float32 → count foreground
pixels → per-class median → binary style label (0 thin, 1 thick) → one-hot class and style →
seeded, stratified 70/30 split. The slant label from image moments is one of the K49 report's
"additional stylistic labels" (the StyleGAN report conditions on thickness and tilt).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

StyleRule = Literal["median", "mean"]
STYLE_NAMES: tuple[str, str] = ("thin", "thick")
SLANT_NAMES: tuple[str, str] = ("upright", "slanted")


def to_unit_float(images: np.ndarray) -> np.ndarray:
    """Scale uint8 images to float32 in [0, 1]: ``x / 255`` (the K49 report's §3.0.1).

    Args:
        images: uint8 array ``[N, H, W]`` with values 0..255 (white strokes on black).
    Returns:
        float32 array of the same shape with values in [0, 1].
    """
    if images.dtype != np.uint8:
        raise ValueError(f"expected uint8 images with values 0..255, got dtype {images.dtype}")
    return images.astype(np.float32) / 255.0


def count_foreground_pixels(images: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Count the pixels brighter than ``threshold`` in each image (the K49 report's ``countForegroundPixels``).

    Args:
        images: float array ``[N, H, W]`` in [0, 1].
        threshold: a pixel counts as foreground when its value is strictly above this, in [0, 1).
    Returns:
        int64 array ``[N]``, each in 0..H*W.
    """
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must be in [0, 1), got {threshold}")
    images = np.asarray(images)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape [N, H, W], got {images.shape}")
    return (images > threshold).sum(axis=(1, 2)).astype(np.int64)


def per_class_statistic(
    values: np.ndarray, classes: np.ndarray, n_classes: int, statistic: StyleRule = "median"
) -> np.ndarray:
    """Median (or mean) of ``values`` within each class: ``m_k = median{v_i : y_i = k}``.

    Returns:
        float64 array ``[n_classes]``; NaN for a class with no images.
    """
    if statistic not in ("median", "mean"):
        raise ValueError(f"statistic must be 'median' or 'mean', got {statistic!r}")
    reduce = np.median if statistic == "median" else np.mean
    out = np.full(n_classes, np.nan)
    for k in range(n_classes):
        members = values[classes == k]
        if members.size:
            out[k] = float(reduce(members))
    return out


def labels_above_class_threshold(values: np.ndarray, classes: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Binary label per image: 1 when its value is above its class's threshold, else 0.

    ``label_i = [v_i > t_{y_i}]`` — with foreground counts and per-class medians this is the K49 report's
    style rule (1 thick, 0 thin).
    """
    return (values > thresholds[classes]).astype(np.int64)


def style_labels_by_median(
    counts: np.ndarray, classes: np.ndarray, n_classes: int, rule: StyleRule = "median"
) -> tuple[np.ndarray, np.ndarray]:
    """The K49 report's style labels: thick (1) when an image has more foreground pixels than its class median.

    Args:
        counts: int array ``[N]`` from :func:`count_foreground_pixels`.
        classes: int array ``[N]`` with class indices in 0..n_classes-1.
        rule: ``"median"`` (the K49 report's §3) or ``"mean"`` (its §6.0.2, CVAE Architecture 1).
    Returns:
        ``(styles, thresholds)``: int64 ``[N]`` in {0, 1} and float64 ``[n_classes]``.
    """
    thresholds = per_class_statistic(counts, classes, n_classes, rule)
    return labels_above_class_threshold(counts, classes, thresholds), thresholds


def slant_of_images(images: np.ndarray) -> np.ndarray:
    """Slant of each image from its second-order central moments: ``s = mu11 / mu02``.

    ``s`` is the horizontal shift per row of the ink's principal axis (the shear used by
    moment-based deskewing); positive when the top leans right. Image rows grow downward,
    so ``s = -cov(x, y) / var(y)`` with ``y`` the row index.

    Args:
        images: float array ``[N, H, W]`` in [0, 1] (ink is bright).
    Returns:
        float64 array ``[N]``; 0 for an empty image.
    """
    images = np.asarray(images)
    n, h, w = images.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
    basis = np.stack([np.ones(h * w), xs.ravel(), ys.ravel(), (xs * ys).ravel(), (ys * ys).ravel()], axis=1)  # [HW, 5]
    m = images.reshape(n, h * w).astype(np.float64) @ basis  # raw moments [N, 5]: m00, m10, m01, m11, m02
    mass = m[:, 0]
    safe = np.where(mass > 0, mass, 1.0)
    cx, cy = m[:, 1] / safe, m[:, 2] / safe
    mu11 = m[:, 3] / safe - cx * cy  # E[xy] - E[x]E[y]
    mu02 = m[:, 4] / safe - cy * cy  # E[y^2] - E[y]^2
    slant = np.where(mu02 > 1e-12, -mu11 / np.where(mu02 > 1e-12, mu02, 1.0), 0.0)
    return np.where(mass > 0, slant, 0.0)


def one_hot(labels: np.ndarray | torch.Tensor, n: int) -> torch.Tensor:
    """One-hot float32 matrix ``[N, n]`` (the K49 report's ``to_one_hot``).

    Raises:
        ValueError: if a label is outside 0..n-1.
    """
    labels = torch.as_tensor(labels, dtype=torch.int64)
    if labels.numel() and (labels.min() < 0 or labels.max() >= n):
        bad = labels[(labels < 0) | (labels >= n)][0].item()
        raise ValueError(f"label {bad} is out of range: allowed 0..{n - 1}")
    return torch.nn.functional.one_hot(labels, n).to(torch.float32)


def stratified_split(
    classes: np.ndarray, test_fraction: float = 0.3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, class-stratified split of indices 0..N-1 (scikit-learn ``train_test_split``).

    Returns:
        ``(train_idx, test_idx)``, int64 arrays, each sorted ascending.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    from sklearn.model_selection import train_test_split  # imported here: it costs 2 s, and loading a model needs no split

    idx = np.arange(len(classes))
    n_classes, n_test = len(np.unique(classes)), int(np.ceil(test_fraction * len(classes)))
    if not n_classes <= n_test <= len(classes) - n_classes:
        raise ValueError(f"test_fraction {test_fraction} puts {n_test} of {len(classes)} images in the test split: a split "
                         f"stratified by class needs at least {n_classes} on each side")
    train_idx, test_idx = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=classes)
    return np.sort(train_idx), np.sort(test_idx)


def describe_value(value: Any, limit: int = 40) -> tuple[str, str, str]:
    """``(type, size, value)`` strings for one row of the variable overview (the K49 report's Figure 5)."""
    if isinstance(value, torch.Tensor):
        kind, size = f"Tensor of {str(value.dtype).removeprefix('torch.')}", str(tuple(value.shape))
        text = np.array2string(value.flatten()[:6].numpy(), precision=3, separator=" ")
    elif isinstance(value, np.ndarray):
        kind, size = f"Array of {value.dtype}", str(value.shape)
        text = np.array2string(value.reshape(-1)[:6], precision=3, separator=" ")
    elif isinstance(value, dict):
        kind, size = "dict", str(len(value))
        text = "{" + ", ".join(f"{k}: {v}" for k, v in list(value.items())[:4]) + ", ...}"
    else:
        kind, size, text = type(value).__name__, "1", repr(value)
    return kind, size, text if len(text) <= limit else text[: limit - 3] + "..."


def variable_overview(variables: dict[str, Any]) -> str:
    """A fixed-width table of name, type, size and a value preview, like the K49 report's Figure 5."""
    rows = [("Name", "Type", "Size", "Value")]
    rows += [(name, *describe_value(v)) for name, v in variables.items()]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def example_indices(
    classes: np.ndarray, styles: np.ndarray, n_classes: int, n_styles: int = 2, per_cell: int = 1, seed: int = 0
) -> np.ndarray:
    """Indices of ``per_cell`` random images for each (class, style) cell, ordered class-major, style fastest.

    Returns:
        int64 ``[n_classes * n_styles * per_cell]``; -1 where a cell has too few images.
    """
    rng = np.random.default_rng(seed)
    out = np.full((n_classes, n_styles, per_cell), -1, dtype=np.int64)
    for k in range(n_classes):
        for s in range(n_styles):
            members = np.flatnonzero((classes == k) & (styles == s))
            take = rng.permutation(members)[:per_cell]
            out[k, s, : len(take)] = take
    return out.reshape(-1)


def class_table(class_names: tuple[str, ...] | list[str], columns: dict[str, np.ndarray], per_row: int = 1, fmt: str = "{:g}") -> str:
    """A text table with one line per class (``index char value…``), ``per_row`` classes side by side."""
    cells = []
    for k, name in enumerate(class_names):
        values = "  ".join(fmt.format(col[k]).rjust(7) for col in columns.values())
        cells.append(f"{k:>2} {name}  {values}")
    header = "cls    " + "  ".join(h.rjust(7) for h in columns)
    width = max(len(c) for c in cells)
    rows = ["   |   ".join(c.ljust(width) for c in cells[i : i + per_row]).rstrip() for i in range(0, len(cells), per_row)]
    return "\n".join(["   |   ".join([header.ljust(width)] * min(per_row, len(cells))).rstrip(), *rows])
