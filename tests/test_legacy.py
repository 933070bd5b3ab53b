"""Renamed config values: old values are refused with their new name, old checkpoints load with the new one."""

from __future__ import annotations

import copy
import dataclasses
import json

import pytest
import torch
from safetensors import safe_open

from genlib import families
from genlib.checkpoint import read_meta, save_checkpoint
from genlib.config import check_choice, config_from_dict
from genlib.data.datasets import DataConfig, repo_data_dir
from genlib.legacy import LEGACY_VALUES, renamed_values, upgrade_config, upgrade_names
from genlib.models import cgan_train, cvae_train
from genlib.models.cgan import CGANConfig, conv_config
from genlib.models.cvae import CVAEConfig


@pytest.mark.parametrize("make, message", [
    (lambda: CVAEConfig(arch="seed"), "arch 'seed' was renamed 'mlp': allowed 'mlp', 'deep', 'conv'"),
    (lambda: DataConfig(split="seed"), "split 'seed' was renamed 'stratified': allowed 'stratified', 'official'"),
    (lambda: CGANConfig(discriminator="seed"), "discriminator 'seed' was renamed 'concat': allowed 'concat', 'projection'"),
], ids=["cvae-arch", "data-split", "cgan-discriminator"])
def test_an_old_value_is_refused_with_its_new_name(make, message) -> None:
    with pytest.raises(ValueError) as info:
        make()
    assert str(info.value) == message  # one line: the bad value, its new name, the allowed values


def test_unknown_values_still_name_the_allowed_ones() -> None:
    with pytest.raises(ValueError, match="^arch must be one of 'mlp', 'deep', 'conv', got 'transformer'$"):
        CVAEConfig(arch="transformer")
    with pytest.raises(ValueError, match="^split must be one of 'stratified', 'official', got 'random'$"):
        DataConfig(split="random")
    check_choice("x", "a", ("a", "b"), {"old": "a"})  # an allowed value passes
    assert CVAEConfig().arch == "mlp" and DataConfig().split == "stratified" and conv_config().discriminator == "concat"


def test_renamed_values_merge_the_family_and_the_shared_tables() -> None:
    assert renamed_values("cvae", "model_config.arch") == {"seed": "mlp"}
    assert renamed_values("cgan", "model_config.arch") == {}  # the CGAN's "mlp"/"conv" never changed
    assert renamed_values("stylegan", "train_config.data.split") == {"seed": "stratified"}
    for table in LEGACY_VALUES.values():
        for path, renames in table.items():
            assert path.split(".")[0] in ("model_config", "train_config") and all(old != new for old, new in renames.items())


def test_upgrade_names_renames_values_without_changing_its_input() -> None:
    blob = {
        "family": "cvae",
        "model_config": {**dataclasses.asdict(CVAEConfig()), "arch": "seed"},
        "train_config": {"data": {"dataset": "kana49", "split": "seed"}, "epochs": 3},
        "state": {"epoch": 3},
        "optimizers": {},
    }
    before = copy.deepcopy(blob)
    out = upgrade_names(blob)
    assert blob == before  # the input is not changed
    assert out["model_config"]["arch"] == "mlp" and out["train_config"]["data"]["split"] == "stratified"
    assert out["state"] == blob["state"] and out["train_config"]["epochs"] == 3
    assert upgrade_names(out) == out  # today's values come back equal
    gan = {"family": "cgan", "model_config": {"arch": "conv", "discriminator": "seed"}, "train_config": {}, "state": {}}
    assert upgrade_names(gan)["model_config"] == {"arch": "conv", "discriminator": "concat"}
    stylegan = {"family": "stylegan", "model_config": {"z_dim": 8}, "train_config": {"data": {"split": "seed"}},
                "state": {"history": [{"loss_d": 1.0}]}, "optimizers": {"opt_g": {}}}
    frozen = copy.deepcopy(stylegan)
    new = upgrade_names(stylegan)
    assert stylegan == frozen and new["model_config"] == {"latent_dim": 8} and new["train_config"]["data"]["split"] == "stratified"
    assert new["state"]["history"] == [{"d_loss": 1.0}] and list(new["optimizers"]) == ["generator"]
    assert upgrade_config({"data": "not a dict"}, "cvae", "train_config") == {"data": "not a dict"}


def _old(config) -> dict:
    """A config as JSON, with every renamed value put back to its old name."""
    d = json.loads(json.dumps(dataclasses.asdict(config)))
    if isinstance(config, CVAEConfig) and d["arch"] == "mlp":
        d["arch"] = "seed"
    if d.get("discriminator") == "concat":
        d["discriminator"] = "seed"
    if isinstance(d.get("data"), dict) and d["data"]["split"] == "stratified":
        d["data"]["split"] = "seed"
    return d


@pytest.mark.parametrize("family, model_config, train_config", [
    (cvae_train.FAMILY, CVAEConfig(n_classes=5, hidden_dim=8), cvae_train.CVAETrainConfig(epochs=1)),
    (cgan_train.FAMILY, conv_config(n_classes=5, channels=4), cgan_train.CGANTrainConfig(epochs=1)),
], ids=["cvae", "cgan-conv"])
def test_a_checkpoint_with_old_values_loads_with_the_new_ones(tmp_path, family, model_config, train_config) -> None:
    torch.manual_seed(0)
    modules = family.build(model_config, train_config)
    path = tmp_path / "old.safetensors"
    old_model, old_train = _old(model_config), _old(train_config)
    assert "seed" in json.dumps(old_model) and old_train["data"]["split"] == "seed"
    save_checkpoint(path, family=family.name, model_config=old_model, train_config=old_train, modules=modules,
                    state={"epoch": 1}, include_rng=False)
    with safe_open(str(path), framework="pt") as f:
        assert json.loads(f.metadata()["genlib"])["model_config"] == old_model  # the file holds the old values
    meta = read_meta(path)
    assert config_from_dict(family.model_config, meta.model_config) == model_config
    loaded = families.load(path)
    assert loaded.model_config == model_config and loaded.train_config == train_config
    today = save_checkpoint(tmp_path / "new.safetensors", family=family.name, model_config=model_config,
                            train_config=train_config, modules=modules, state={"epoch": 1}, include_rng=False)
    classes, styles = torch.tensor([0, 4]), torch.tensor([0, 1])
    assert torch.equal(loaded.sample(classes, styles, seed=3), families.load(today).sample(classes, styles, seed=3))


def test_experiments_compare_old_values_as_the_new_ones(tmp_path) -> None:
    import shutil

    from genlib.experiments import _same_config, load_results

    old = _old(CVAEConfig())
    assert old["arch"] == "seed" and _same_config(old, CVAEConfig(), "cvae", "model_config")
    assert not _same_config(old, CVAEConfig(arch="deep"), "cvae", "model_config")
    tc = cvae_train.CVAETrainConfig(epochs=3)
    assert _same_config(_old(tc), tc, "cvae", "train_config")
    for name in ("results.csv", "histories.json", "samples.npz"):  # a results folder whose run.json predates the renames
        shutil.copy(repo_data_dir() / "experiments_kana49" / name, tmp_path / name)
    cvae_run = {"family": "cvae", "model_config": _old(CVAEConfig()), "train_config": _old(tc)}
    (tmp_path / "run.json").write_text(json.dumps({"experiments": {"cvae-mlp": cvae_run}}))
    run = load_results(tmp_path)[3]
    assert run["experiments"]["cvae-mlp"]["model_config"]["arch"] == "mlp"
    assert {e["train_config"]["data"]["split"] for e in run["experiments"].values()} == {"stratified"}


def test_shipped_checkpoints_read_as_todays_recipes() -> None:
    from genlib.pretrained import RECIPES, pretrained_path

    checked = 0
    for name, recipe in RECIPES.items():
        path = pretrained_path(name)
        if not path.is_file():
            continue
        family = families.get_family(recipe.family)
        meta = read_meta(path)
        assert config_from_dict(family.model_config, meta.model_config) == recipe.model_config, name
        assert config_from_dict(DataConfig, meta.train_config["data"]) == recipe.train_config.data, name
        checked += 1
    assert checked >= 5 and read_meta(pretrained_path("cvae_mlp_kana49")).model_config["arch"] == "mlp"
