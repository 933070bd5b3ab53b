"""Any folder of images as a training set, resized to ``size x size`` grayscale or RGB (the StyleGAN report's portraits).

Layout: ``root/<class name>/*.png`` gives one class per sub-folder (sorted by name); images directly
in ``root`` form a single class ``root.name``. Each image is center-cropped to a square and resized
(bilinear by default; the StyleGAN report resizes with nearest neighbour, ``interpolation="nearest"``).
Style labels follow the K49 report's rule on the grayscale version: foreground pixels (> 0.5) above the
per-class median → 1 ("thick"/heavy), else 0 — or all 0 with ``style_rule="none"``.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from genlib.atomic import atomic_write_bytes
from genlib.data import preprocess as pp

MAX_SIZE = 256  # the largest side genlib resizes folder images to (a 64 px StyleGAN is the report's setting)
IMAGE_SUFFIXES: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
INTERPOLATIONS: tuple[str, ...] = ("nearest", "bilinear", "lanczos")
GREY_MODES: frozenset[str] = frozenset({"1", "L", "LA", "I", "I;16", "F"})  # PIL modes without colour


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


def is_colour_mode(mode: str) -> bool:
    """Whether a PIL image mode holds colour (``RGB``, ``RGBA``, ``P``, ``CMYK``, ...) rather than grey levels."""
    return mode not in GREY_MODES


def load_image(path: Path, size: int, channels: int, interpolation: str = "bilinear") -> tuple[np.ndarray, str]:
    """One image as uint8 ``[size, size, C]`` (center-cropped square, resized, converted to L or RGB) and its file's mode."""
    from PIL import Image

    resample = {"nearest": Image.NEAREST, "bilinear": Image.BILINEAR, "lanczos": Image.LANCZOS}[interpolation]
    with Image.open(path) as im:
        mode = im.mode
        im = im.convert("L" if channels == 1 else "RGB")
        w, h = im.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        im = im.crop((left, top, left + side, top + side)).resize((size, size), resample)
        arr = np.asarray(im, dtype=np.uint8)
    return (arr[:, :, None] if arr.ndim == 2 else arr), mode


def check_one_mode(modes: dict[Path, str], root: Path, channels: int) -> None:
    """Refuse a colour run on a folder that mixes grey and colour files (grey ones would pass as colourless colour).

    Raises:
        ValueError: naming one file of each kind and how to go on.
    """
    if channels != 3:
        return
    grey = next((p for p, m in modes.items() if not is_colour_mode(m)), None)
    colour = next((p for p, m in modes.items() if is_colour_mode(m)), None)
    if grey is not None and colour is not None:
        raise ValueError(
            f"image folder {root} mixes grey and colour images ({grey.name} is {modes[grey]}, {colour.name} is {modes[colour]}): "
            "convert them to one mode, or train in grey (image_channels=1)"
        )


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
        style_rule: "median" (the K49 report's rule on grayscale foreground counts) or "none" (all styles 0).
        max_images: keep the first this many files in sorted order (0 = all).
    Raises:
        ValueError: bad argument values, a missing or empty folder, an unreadable image (named), or
            grey and colour files mixed in a colour (``channels=3``) load.
    """
    if not 1 <= size <= MAX_SIZE:
        raise ValueError(f"size must be in 1..{MAX_SIZE}, got {size}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels}")
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}")
    if style_rule not in ("median", "none"):
        raise ValueError(f"style_rule must be 'median' or 'none', got {style_rule!r}")
    files, labels, class_names = list_image_files(Path(root))
    if max_images > 0:
        files, labels = files[:max_images], labels[:max_images]
    gib = len(files) * channels * size * size * 4 / 2**30  # float32 [N, C, size, size]
    if gib > 8:
        raise ValueError(f"{len(files)} images at {size}x{size}x{channels} need {gib:.1f} GiB as float32 (limit 8 GiB): "
                         "lower size or set max_images")
    arrays, modes = [], {}
    for path in files:
        try:
            array, modes[path] = load_image(path, size, channels, interpolation)
        except OSError as err:  # PIL raises OSError subclasses for unreadable or truncated files
            raise ValueError(f"cannot read image {path}: {err}") from err
        arrays.append(array)
    check_one_mode(modes, Path(root), channels)
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


def make_demo_folder(root: Path | str, n_per_class: int = 48, size: int = 64, seed: int = 0) -> Path:
    """Write a small **synthetic** colour folder for the StyleGAN notebook when no photos are at hand.

    Two classes of cartoon heads, ``root/warm/`` and ``root/cool/`` (background hue), each head with
    a random skin tone, hair colour, hair length and eye height: colour, shape and layout vary, so
    style mixing has something to mix. These are drawn shapes, not portraits of anyone. Returns ``root``.
    """
    from PIL import Image, ImageDraw

    if not 1 <= n_per_class <= 10_000 or not 16 <= size <= MAX_SIZE:
        raise ValueError(f"n_per_class must be in 1..10000 and size in 16..{MAX_SIZE}, got {n_per_class} and {size}")
    rng = np.random.default_rng(seed)
    root = Path(root)
    skins = [(255, 224, 196), (234, 192, 150), (198, 134, 96), (141, 85, 56), (96, 60, 40)]
    backgrounds = {"warm": [(214, 96, 77), (240, 170, 60), (200, 120, 150)], "cool": [(70, 110, 190), (60, 160, 150), (120, 100, 190)]}
    for name, palette in backgrounds.items():
        folder = root / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            bg = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in palette[rng.integers(len(palette))])
            im = Image.new("RGB", (size, size), bg)
            d = ImageDraw.Draw(im)
            s = size / 64
            cx, top = 32 + rng.integers(-4, 5), 14 + rng.integers(-3, 4)
            hair = tuple(int(c) for c in rng.integers(20, 230, 3))
            length = rng.integers(0, 20)
            d.ellipse([(cx - 20) * s, (top - 4) * s, (cx + 20) * s, (top + 34 + length) * s], fill=hair)  # hair
            d.ellipse([(cx - 15) * s, top * s, (cx + 15) * s, (top + 38) * s], fill=skins[rng.integers(len(skins))])  # face
            eye = top + 14 + rng.integers(-2, 3)
            for ex in (cx - 7, cx + 7):
                d.ellipse([(ex - 2) * s, (eye - 2) * s, (ex + 2) * s, (eye + 2) * s], fill=(30, 30, 40))
            d.arc([(cx - 7) * s, (eye + 6) * s, (cx + 7) * s, (eye + 16) * s], 20, 160, fill=(120, 40, 40), width=max(1, int(s)))
            png = io.BytesIO()
            im.save(png, format="PNG")
            atomic_write_bytes(folder / f"{name}_{i:04d}.png", png.getvalue())
    return root
