"""Datasets (one table: :mod:`genlib.data.registry`), the K49 report's preprocessing and an in-memory batch iterator.

Heavy or optional pieces (downloads, font rendering) are imported lazily by the functions that
need them, so ``import genlib.data`` does no I/O.
"""

from genlib.data.batches import TensorBatches
from genlib.data.classmap import K49_CHARS, KMNIST_CHARS, MNIST_CHARS
from genlib.data.registry import DATASETS, SPLITS, DatasetSpec, dataset_names, get_dataset
from genlib.data.datasets import (
    DataConfig,
    LabelledImages,
    PreparedData,
    RawSplit,
    load_dataset,
    prepare_dataset,
    repo_data_dir,
)
from genlib.data.preprocess import (
    SLANT_NAMES,
    STYLE_NAMES,
    count_foreground_pixels,
    one_hot,
    per_class_statistic,
    slant_of_images,
    stratified_split,
    style_labels_by_median,
    to_unit_float,
    variable_overview,
)

__all__ = [
    "DATASETS", "DataConfig", "DatasetSpec", "SPLITS", "dataset_names", "get_dataset", "K49_CHARS", "KMNIST_CHARS", "LabelledImages", "MNIST_CHARS", "PreparedData",
    "RawSplit", "SLANT_NAMES", "STYLE_NAMES", "TensorBatches", "count_foreground_pixels", "load_dataset",
    "one_hot", "per_class_statistic", "prepare_dataset", "repo_data_dir", "slant_of_images",
    "stratified_split", "style_labels_by_median", "to_unit_float", "variable_overview",
]
