"""The real-data paths end to end (Kuzushiji-49 and MNIST), on files in their formats that the tests make (no real host is reached).

Files placed by hand in ``$GENLIB_DATA/k49/`` (with their md5s registered as the published ones) go
through the whole course: prepare → a few training steps → sample → evaluate (a classifier trained
on them) → notebook 01 with ``DATASET = "k49"``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
import torch

from genlib.data import registry
from genlib.data.classmap import K49_CHARS
from genlib.data.datasets import DataConfig, prepare_dataset
from genlib.evaluation import evaluate_checkpoint
from genlib.families import get_family, load
from genlib.models.cvae import CVAEConfig
from genlib.models.cvae_train import CVAETrainConfig
from genlib.report import execute

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_data_prep.ipynb"


def k49_split(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """uint8 ``[49 * per_class, 28, 28]`` strokes whose position encodes the class, width the style; uint8 labels."""
    rng = np.random.default_rng(seed)
    images = np.zeros((49 * per_class, 28, 28), np.uint8)
    labels = np.repeat(np.arange(49, dtype=np.uint8), per_class)
    for i, k in enumerate(labels):
        width = 2 + 3 * (i % 2)
        col, row = 3 + (int(k) * 7) % 20, 3 + (int(k) * 3) % 20
        images[i, 4:24, col : col + width] = 255
        images[i, row : row + width, 4:24] = 180
        images[i] = np.clip(images[i] + rng.integers(0, 20, (28, 28)), 0, 255)
    return images, labels


def npz_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, arr_0=array)
    return buffer.getvalue()


def place_k49(root: Path) -> dict[str, str]:
    """Write the four K49 files into ``root/k49``; returns ``{file name: md5}``."""
    blobs = {}
    for split, per_class, seed in (("train", 8, 0), ("test", 4, 1)):
        images, labels = k49_split(per_class, seed)
        blobs[f"k49-{split}-imgs.npz"], blobs[f"k49-{split}-labels.npz"] = npz_bytes(images), npz_bytes(labels)
    (root / "k49").mkdir(parents=True)
    for name, data in blobs.items():
        (root / "k49" / name).write_bytes(data)
    return {name: hashlib.md5(data).hexdigest() for name, data in blobs.items()}


def register(md5s: dict[str, str]) -> registry.DatasetSpec:
    """The K49 spec with these files' md5s as the published ones (as if they were the real files)."""
    files = tuple(registry.RemoteFile(name, md5, None) for name, md5 in md5s.items())
    return dataclasses.replace(registry.get_dataset("k49"), files=files)


@pytest.mark.slow
def test_k49_files_go_through_the_whole_course(tmp_path, monkeypatch) -> None:
    md5s = place_k49(tmp_path)
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    monkeypatch.setitem(registry.DATASETS, "k49", register(md5s))

    data = prepare_dataset(DataConfig(dataset="k49"))  # merge, scale, style labels, stratified 70/30
    assert data.n_classes == 49 and data.class_names == K49_CHARS and not data.synthetic
    assert len(data.train) + len(data.test) == 49 * 12 and set(data.train.styles.tolist()) == {0, 1}

    out = tmp_path / "runs" / "cvae_k49.safetensors"
    get_family("cvae").train(CVAEConfig(), CVAETrainConfig(data=DataConfig(dataset="k49"), epochs=2), out=out, progress=False)
    model = load(out)
    assert model.class_names[12] == K49_CHARS[12] and model.style_names == ("thin", "thick")
    images = model.sample(torch.arange(49), torch.arange(49) % 2, seed=0)
    assert images.shape == (49, 1, 28, 28) and 0 <= images.min() and images.max() <= 1

    row = evaluate_checkpoint(out, n_per_cell=2)  # trains and caches the K49 judge in $GENLIB_DATA
    assert row["dataset"] == "k49" and row["n_samples"] == 49 * 2 * 2 and 0 <= row["cond_accuracy"] <= 1
    assert (tmp_path / "classifier_k49.safetensors").is_file()

    setup = (f'import os\nos.environ["GENLIB_DATA"] = {str(tmp_path)!r}\nimport genlib.data.download as dl\n'
             'import dataclasses\nfrom genlib.data import registry\n'
             f'registry.DATASETS["k49"] = dataclasses.replace(registry.DATASETS["k49"], '
             f'files=tuple(registry.RemoteFile(n, m, None) for n, m in {md5s!r}.items()))\n'
             'DATASET = "k49"')
    nb = execute(NOTEBOOK, setup, timeout=300)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "dataset: k49" in text and "merged: (588, 28, 28)" in text


def write_idx(path: Path, array: np.ndarray) -> None:
    """The idx-ubyte format of MNIST's raw files: magic (0, 0, 0x08, ndim), big-endian int32 dims, bytes."""
    import struct

    path.write_bytes(bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}i", *array.shape) + array.astype(np.uint8).tobytes())


@pytest.mark.slow
def test_mnist_files_go_through_the_whole_course(tmp_path, monkeypatch) -> None:
    """MNIST's four raw files placed by hand → the StyleGAN report's class-only cGAN → ``genlib sample`` → evaluate → notebook 01."""
    from genlib.cli import main
    from genlib.models.cgan import conv_config
    from genlib.models.cgan_train import CGANTrainConfig

    raw = tmp_path / "mnist" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, per_class, seed in (("train", 24, 0), ("t10k", 8, 1)):
        images, labels = k49_split(per_class, seed)
        keep = labels < 10  # ten digits
        write_idx(raw / f"{prefix}-images-idx3-ubyte", images[keep])
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[keep])
    monkeypatch.setenv("GENLIB_DATA", str(tmp_path))
    monkeypatch.chdir(tmp_path)

    data = prepare_dataset(DataConfig(dataset="mnist", condition="class"))
    assert data.class_names == tuple("0123456789") and data.n_styles == 1 and len(data.train) + len(data.test) == 320
    out = tmp_path / "runs" / "cgan_mnist.safetensors"
    config = CGANTrainConfig(data=DataConfig(dataset="mnist", condition="class"), epochs=1, lr=3e-4, beta1=0.5,
                             d_update="split", fake_labels="random")
    get_family("cgan").train(conv_config(n_classes=10, n_styles=1, channels=8), config, out=out, progress=False)
    assert main(["sample", "--checkpoint", str(out), "--n", "3", "--seed", "0", "--out", str(tmp_path / "runs" / "s.npz")]) == 0
    with np.load(tmp_path / "runs" / "s.npz") as z:
        assert z["arr_0"].shape == (30, 28, 28) and z["classes"].tolist() == [c for c in range(10) for _ in range(3)]
        assert set(z["styles"].tolist()) == {0}
    row = evaluate_checkpoint(out, n_per_cell=2)
    assert row["dataset"] == "mnist" and row["n_samples"] == 20 and np.isnan(row["style_agreement"])

    setup = f'import os\nos.environ["GENLIB_DATA"] = {str(tmp_path)!r}\nDATASET = "mnist"'
    nb = execute(NOTEBOOK, setup, timeout=300)
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    text = "\n".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", []))
    assert "dataset: mnist" in text and "merged: (320, 28, 28)" in text
