"""Any folder of images as a training set, resized to ``size x size`` grayscale or RGB (seed 004, StyleGAN).

Layout: ``root/<class name>/*.png`` gives one class per sub-folder (sorted by name); images directly
in ``root`` form a single class ``root.name``. Each image is center-cropped to a square and resized
(bilinear by default; the seed resizes with nearest neighbour, ``interpolation="nearest"``).
Style labels follow the seed's rule on the grayscale version: foreground pixels (> 0.5) above the
per-class median → 1 ("thick"/heavy), else 0 — or all 0 with ``style_rule="none"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from genlib.data import preprocess as pp

IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
INTERPOLATIONS: tuple[str, ...] = ("nearest", "bilinear", "lanczos")


@dataclass
class FolderImages:
    """A folder's images and labels as tensors.

    Attributes:
        images: float32 ``[N, C, size, size]`` in [0, 1] (C = 1 grayscale or 3 RGB).
        classes: int64 ``[N]`` in 0..len(class_names)-1.
        styles: int64 ``[N]``, 0 / 1 by the per-class median of foreground counts (or all 0).
        class_names: the sub-folder names (or the folder's own name), index order.
        paths: the source file of each image.
    """

    images: Tensor
    classes: Tensor
    styles: Tensor
    class_names: tuple[str, ...]
    paths: tuple[Path, ...]

    def __len__(self) -> int:
        return self.images.shape[0]


def list_image_files(root: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
    """Image files under ``root`` with their class index: sub-folders are classes, else one class.

    Raises:
        ValueError: ``root`` is not a folder or holds no image files.
    """
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"image folder {root} does not exist or is not a directory")

    def images_in(folder: Path) -> list[Path]:
        return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)

    subdirs = sorted(d for d in root.iterdir() if d.is_dir() and images_in(d))
    if subdirs:
        files, labels = [], []
        for k, d in enumerate(subdirs):
            found = images_in(d)
            files += found
            labels += [k] * len(found)
        return files, labels, tuple(d.name for d in subdirs)
    files = images_in(root)
    if not files:
        raise ValueError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) found in {root} or its sub-folders")
    return files, [0] * len(files), (root.name,)


def load_image(path: Path, size: int, channels: int, interpolation: str = "bilinear") -> np.ndarray:
    """One image as uint8 ``[size, size, C]``: center-cropped square, resized, converted to L or RGB."""
    from PIL import Image

    resample = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}[interpolation]
    with Image.open(path) as im:
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side)).resize((size, size), resample)
        arr = np.asarray(im, dtype=np.uint8)
    return arr[:, :, None] if arr.ndim == 2 else arr


def load_image_folder(
    root: Path | str,
    size: int = 64,
    channels: int = 1,
    *,
    interpolation: Literal["nearest", "bilinear", "lanczos"] = "bilinear",
    style_rule: Literal["median", "none"] = "median",
    max_images: int = 0,
) -> FolderImages:
    """Load every image under ``root`` as ``[N, channels, size, size]`` float32 in [0, 1] with labels.

    Args:
        root: the folder (sub-folders = classes).
        size: output side in pixels (64 for the StyleGAN image-folder setting).
        channels: 1 (grayscale) or 3 (RGB).
        interpolation: resize filter.
        style_rule: "median" (seed rule on grayscale foreground counts) or "none" (all styles 0).
        max_images: keep the first this many files in sorted order (0 = all).
    Raises:
        ValueError: bad argument values, a missing or empty folder, or an unreadable image (named).
    """
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if style_rule not in ("median", "none"):
        raise ValueError(f"style_rule must be 'median' or 'none', got {style_rule!r}")
    files, labels, class_names = list_image_files(Path(root))
    if max_images > 0:
        files, labels = files[:max_images], labels[:max_images]
    arrays = []
    for path in files:
        try:
            arrays.append(load_image(path, size, channels, interpolation))
        except OSError as err:  # PIL raises OSError subclasses for unreadable or truncated files
            raise ValueError(f"cannot read image {path}: {err}") from err
    images = pp.to_unit_float(np.stack(arrays))  # [N, size, size, C] in [0, 1]
    classes = np.asarray(labels, dtype=np.int64)
    if style_rule == "median":
        gray = images.mean(axis=3)  # [N, size, size]
        counts = pp.count_foreground_pixels(gray)
        styles, _ = pp.style_labels_by_median(counts, classes, len(class_names))
    else:
        styles = np.zeros(len(files), dtype=np.int64)
    return FolderImages(
        images=torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(),  # [N, C, size, size]
        classes=torch.from_numpy(classes),
        styles=torch.from_numpy(np.asarray(styles, dtype=np.int64)),
        class_names=class_names,
        paths=tuple(files),
    )
