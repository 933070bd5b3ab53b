"""The metric suite's judge: one domain classifier per dataset, trained once and cached.

The cache is a slim checkpoint ``data/classifier_<dataset>.safetensors`` (the shipped ones come
from ``genlib train --recipe classifier_<dataset>``); :func:`load_or_train_classifier` loads it, or
trains and writes it when it is missing, and refuses a cached judge whose test split is not the one
the caller's data would give (a rebuilt dataset needs a new judge).
"""

from __future__ import annotations

from pathlib import Path

from genlib.data.datasets import DataConfig, PreparedData, prepare_dataset, repo_data_dir
from genlib.models.classifier import ClassifierConfig
from genlib.models.classifier_train import ClassifierTrainConfig, load, split_fingerprint, train
from genlib.scaffold import Loaded


def _same_split(a: DataConfig, b: DataConfig) -> bool:
    """Whether two data configs select the same images (style rule and thresholds do not matter)."""
    keys = ("dataset", "split", "test_fraction", "split_seed", "limit")
    return all(getattr(a, k) == getattr(b, k) for k in keys)



def classifier_path(dataset: str, root: str | Path | None = None) -> Path:
    """Where the cached classifier of ``dataset`` lives: ``<root>/classifier_<dataset>.safetensors``."""
    return Path(root if root is not None else repo_data_dir()) / f"classifier_{dataset}.safetensors"


def load_or_train_classifier(
    dataset: str = "kana49",
    *,
    root: str | Path | None = None,
    data: PreparedData | None = None,
    train_config: ClassifierTrainConfig | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> Loaded:
    """Load ``classifier_<dataset>.safetensors`` from ``root`` (default ``data/``), or train and cache it.

    Args:
        data: the prepared dataset to train on when the file is missing (default: prepared from
            ``train_config.data``, itself ``DataConfig(dataset=dataset)`` by default). When the file
            exists and ``data`` selects the same images, its test split must be the one the
            classifier was evaluated on (a rebuilt dataset needs a new classifier).
        train_config: used only when training; its ``data.dataset`` must equal ``dataset``.
    Raises:
        ValueError: the cached file or ``train_config`` is for another dataset, or the dataset changed.
    """
    path = classifier_path(dataset, root)
    if path.is_file():
        loaded = load(path, device)
        if loaded.train_config.data.dataset != dataset:
            raise ValueError(f"{path} was trained on {loaded.train_config.data.dataset!r}, not {dataset!r}")
        fingerprint = loaded.extra.get("test_fingerprint", "")
        if data is not None and _same_split(data.config, loaded.train_config.data) and fingerprint:
            if split_fingerprint(data.test) != fingerprint:
                raise ValueError(f"{path} was trained on other {dataset!r} images than these (was the dataset rebuilt?): delete it to retrain")
        return loaded
    train_config = train_config or ClassifierTrainConfig(data=DataConfig(dataset=dataset), device=device)
    if train_config.data.dataset != dataset:
        raise ValueError(f"train_config.data.dataset is {train_config.data.dataset!r} but the classifier is for {dataset!r}")
    if data is None or not _same_split(data.config, train_config.data):
        data = prepare_dataset(train_config.data)
    train(ClassifierConfig(n_classes=data.n_classes), train_config, data=data, out=path, slim=True, progress=progress)
    return load(path, device)
