"""Shared fixtures: a tiny, deterministic labelled dataset that needs no files."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from genlib.data.datasets import DataConfig, LabelledImages, PreparedData


def make_tiny_data(n_classes: int = 49, per_class: int = 6, seed: int = 0) -> PreparedData:
    """Bars whose position encodes the class and whose width encodes the style: ``[N,1,28,28]`` in [0, 1]."""
    rng = np.random.default_rng(seed)
    images, classes, styles = [], [], []
    for k in range(n_classes):
        for i in range(per_class):
            img = np.zeros((28, 28), np.float32)
            width = 2 if i % 2 == 0 else 5
            col = 3 + (k * 7) % 20
            row = 3 + (k * 3) % 20
            img[4:24, col : col + width] = 1.0
            img[row : row + width, 4:24] = 0.7
            img += rng.uniform(0, 0.05, img.shape).astype(np.float32)
            images.append(np.clip(img, 0, 1))
            classes.append(k)
            styles.append(int(width == 5))
    x = torch.from_numpy(np.stack(images)).unsqueeze(1)
    c = torch.tensor(classes)
    s = torch.tensor(styles)
    split = LabelledImages(x, c, s, torch.zeros_like(c))
    test_idx = torch.arange(0, len(c), 3)
    train_mask = torch.ones(len(c), dtype=torch.bool)
    train_mask[test_idx] = False
    return PreparedData(
        config=DataConfig(dataset="kana49"),
        class_names=tuple(str(i) for i in range(n_classes)),
        train=split.subset(train_mask),
        test=split.subset(test_idx),
        style_thresholds=np.zeros(n_classes),
        slant_thresholds=np.zeros(n_classes),
        synthetic=True,
    )


def sheared(images: torch.Tensor, every: int = 4) -> torch.Tensor:
    """Shear images 2, 3 of every 4 (row r moves by (r - 14) // 3 pixels), whatever their thickness."""
    out = images.clone()
    pick = (torch.arange(len(images)) % every) >= every // 2
    for r in range(28):
        out[pick, :, r] = torch.roll(images[pick, :, r], (r - 14) // 3, dims=-1)
    return out


def with_slant_condition(data: PreparedData) -> PreparedData:
    """Shear half the images, then add the slant bit to the style codes (``thick + 2 * slanted``) by the
    per-class median rule, as ``condition="thickness+slant"`` does."""
    from genlib.data.preprocess import labels_above_class_threshold, per_class_statistic, slant_of_images

    data = dataclasses.replace(data, train=dataclasses.replace(data.train, images=sheared(data.train.images)),
                               test=dataclasses.replace(data.test, images=sheared(data.test.images)))
    images = torch.cat([data.train.images, data.test.images])[:, 0].numpy()
    classes = torch.cat([data.train.classes, data.test.classes]).numpy()
    slant = slant_of_images(images)
    thresholds = per_class_statistic(slant, classes, data.n_classes, "median")
    slants = torch.from_numpy(labels_above_class_threshold(slant, classes, thresholds))
    n = len(data.train)

    def add(split, bits):
        return dataclasses.replace(split, styles=split.styles + 2 * bits, slants=bits)

    return dataclasses.replace(
        data, config=dataclasses.replace(data.config, condition="thickness+slant"),
        train=add(data.train, slants[:n]), test=add(data.test, slants[n:]), slant_thresholds=thresholds,
    )


@pytest.fixture(autouse=True)
def one_thread():
    """Tests use one torch thread: tiny models run fastest so, and ``pytest -n 2`` runs two processes."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_data() -> PreparedData:
    return make_tiny_data()
