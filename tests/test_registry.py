"""The one dataset table: every part reads it, and a new dataset is one entry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from genlib.cli import main
from genlib.cli_options import parse_bool
from genlib.data import registry
from genlib.data.datasets import READERS, DataConfig, load_dataset, prepare_dataset


def test_every_dataset_has_a_reader_and_a_meaning() -> None:
    for spec in registry.DATASETS.values():
        assert spec.reader in READERS and spec.n_classes in (10, 49)
        assert spec.downloadable == (spec.reader in ("codh", "torchvision"))
        assert bool(spec.files) == (spec.reader == "codh")
    assert [s.name for s in registry.DATASETS.values() if s.synthetic] == ["kana49"]
    assert registry.dataset_names(downloadable=True) == ("k49", "kmnist", "mnist")


def test_unknown_names_are_refused_where_they_enter() -> None:
    with pytest.raises(ValueError, match="unknown dataset 'cifar': allowed kana49, k49, kmnist, mnist, mnist5k"):
        DataConfig(dataset="cifar")
    with pytest.raises(ValueError, match="unknown split 'val': allowed train, test"):
        load_dataset("mnist5k", "val")
    with pytest.raises(ValueError, match="unknown reader 'ftp'"):
        registry.DatasetSpec("x", "X", ("a",), "ftp")
    with pytest.raises(ValueError, match="already registered"):
        registry.register_dataset(registry.get_dataset("k49"))


def test_a_registered_dataset_is_usable_everywhere(monkeypatch, tmp_path, capsys) -> None:
    """A fourth Kuzushiji-like set, added as one entry, is loaded, prepared and listed."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "tiny"
    folder.mkdir()
    for split, n in (("train", 40), ("test", 20)):
        np.savez(folder / f"tiny-{split}-imgs.npz", arr_0=rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        np.savez(folder / f"tiny-{split}-labels.npz", arr_0=np.arange(n, dtype=np.uint8) % 2)
    spec = registry.DatasetSpec("tiny", "Tiny", ("a", "b"), "codh", folder="tiny", summary="two classes of noise")
    monkeypatch.setattr(registry, "DATASETS", {**registry.DATASETS})
    registry.register_dataset(dataclasses.replace(spec, files=tuple(
        registry.RemoteFile(p.name, None, None) for p in sorted(folder.iterdir()))))
    data = prepare_dataset(DataConfig(dataset="tiny"), root=tmp_path)
    assert data.class_names == ("a", "b") and len(data.train) + len(data.test) == 60 and not data.synthetic
    assert main(["data", "list"]) == 0
    assert "tiny" in capsys.readouterr().out


def test_data_list_names_every_dataset(capsys) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in registry.DATASETS) and "synthetic" in out


def test_bool_options_are_strict() -> None:
    assert parse_bool("Yes") and not parse_bool("off")
    with pytest.raises(Exception, match="expected true or false, got 'maybe'"):
        parse_bool("maybe")
