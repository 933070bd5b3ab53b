"""The evaluation protocol on samplers with known answers, on checkpoints, and the table writers."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import make_tiny_data, with_slant_condition
from genlib import evaluation as E
from genlib import tables as T
from genlib.data.datasets import PreparedData
from genlib.data.preprocess import count_foreground_pixels, style_labels_by_median
from genlib.models import classifier_train, cvae_train
from genlib.models.classifier import ClassifierConfig
from genlib.models.cvae import CVAEConfig

N_CLASSES = 10
ROOT = Path(__file__).resolve().parents[1]




def with_seed_style_labels(data: PreparedData) -> PreparedData:
    """Recompute style labels and per-class medians from the images, as prepare_dataset does."""
    images = torch.cat([data.train.images, data.test.images])
    classes = torch.cat([data.train.classes, data.test.classes])
    styles, thresholds = style_labels_by_median(count_foreground_pixels(images[:, 0].numpy()), classes.numpy(), data.n_classes)
    n = len(data.train)
    styles = torch.from_numpy(styles)
    return dataclasses.replace(
        data,
        train=dataclasses.replace(data.train, styles=styles[:n]),
        test=dataclasses.replace(data.test, styles=styles[n:]),
        style_thresholds=thresholds,
    )


@pytest.fixture(scope="module")
def bars() -> PreparedData:
    return with_seed_style_labels(make_tiny_data(n_classes=N_CLASSES, per_class=60))  # 400 train, 200 test


@pytest.fixture(scope="module")
def judge(bars):
    torch.set_num_threads(1)
    config = classifier_train.ClassifierTrainConfig(epochs=5, batch_size=32, lr=3e-3, device="cpu")
    model = classifier_train.train(ClassifierConfig(n_classes=N_CLASSES, channels=8, feature_dim=16), config, data=bars, progress=False)
    return model.modules["model"]


@pytest.fixture(scope="module")
def reference(bars, judge) -> E.RealReference:
    return E.real_reference(bars, judge)


def test_reference_halves_and_classifier_accuracy(bars, reference) -> None:
    assert reference.features_a.shape[0] + reference.features_b.shape[0] == len(bars.test)
    assert reference.accuracy > 0.95 and reference.balanced_accuracy > 0.95
    assert np.all(reference.diversity > 0)


def test_real_images_score_like_real_data(bars, judge, reference) -> None:
    real = E.real_sampler(bars, reference)
    per_cell = 5  # half B holds 5 images of every (class, style) cell: the sampler returns B itself
    assert len(reference.index_b) == N_CLASSES * 2 * per_cell and E.smallest_cell(bars, reference) == per_cell
    row = E.evaluate_sampler(real, bars, judge, n_per_cell=per_cell, reference=reference)
    assert row["n_samples"] == N_CLASSES * 2 * per_cell
    assert row["cond_accuracy"] > 0.95
    assert row["style_agreement"] == 1.0  # the labels were made by this rule
    assert row["fid"] == pytest.approx(row["fid_floor"], rel=1e-3, abs=1e-4)  # float32 features, other batches
    assert 0.7 < row["diversity"] < 1.3
    assert len(row["per_class"]["cond_accuracy"]) == N_CLASSES


def test_wrong_class_and_flipped_style_score_zero(bars, judge, reference) -> None:
    real = E.real_sampler(bars, reference)
    wrong_class = E.evaluate_sampler(lambda c, s, seed: real((c + 1) % N_CLASSES, s, seed), bars, judge, n_per_cell=4, reference=reference)
    assert wrong_class["cond_accuracy"] < 0.05
    flipped = E.evaluate_sampler(lambda c, s, seed: real(c, 1 - s, seed), bars, judge, n_per_cell=4, reference=reference)
    assert flipped["style_agreement"] == 0.0 and flipped["cond_accuracy"] > 0.95


def test_slant_condition_scores_both_bits(bars, judge) -> None:
    """Four style codes: real images score 1 on thickness and slant; flipping one bit zeroes only its score."""
    slanted = with_slant_condition(bars)
    assert slanted.n_styles == 4 and set(slanted.test.styles.tolist()) == {0, 1, 2, 3}
    reference = E.real_reference(slanted, judge)
    real = E.real_sampler(slanted, reference)
    row = E.evaluate_sampler(real, slanted, judge, n_per_cell=2, reference=reference)
    assert row["n_samples"] == N_CLASSES * 4 * 2
    assert row["style_agreement"] == 1.0 and row["slant_agreement"] == 1.0 and row["cond_accuracy"] > 0.95
    flip_slant = E.evaluate_sampler(lambda c, s, seed: real(c, s ^ 2, seed), slanted, judge, n_per_cell=2, reference=reference)
    assert flip_slant["slant_agreement"] == 0.0 and flip_slant["style_agreement"] == 1.0
    flip_thickness = E.evaluate_sampler(lambda c, s, seed: real(c, s ^ 1, seed), slanted, judge, n_per_cell=2, reference=reference)
    assert flip_thickness["style_agreement"] == 0.0 and flip_thickness["slant_agreement"] == 1.0
    assert "slant_agreement" not in E.evaluate_sampler(E.real_sampler(bars, E.real_reference(bars, judge)), bars, judge, n_per_cell=2)


def test_noise_has_a_large_fid_and_copies_have_no_diversity(bars, judge, reference) -> None:
    real = E.real_sampler(bars, reference)
    baseline = E.evaluate_sampler(real, bars, judge, n_per_cell=4, reference=reference)
    noise = E.evaluate_sampler(lambda c, s, seed: torch.rand(c.shape[0], 1, 28, 28), bars, judge, n_per_cell=4, reference=reference)
    assert noise["fid"] > 10 * baseline["fid"]
    copies = E.evaluate_sampler(lambda c, s, seed: _one_per_class(real, c), bars, judge, n_per_cell=4, reference=reference)
    assert copies["diversity"] == 0.0


def _one_per_class(real, classes: torch.Tensor) -> torch.Tensor:
    """The same real image for every request of a class."""
    first = real(torch.arange(N_CLASSES), torch.zeros(N_CLASSES, dtype=torch.int64), 0)
    return first[classes]


def test_sampler_with_wrong_shape_and_bad_arguments(bars, judge, reference) -> None:
    with pytest.raises(ValueError, match="shape"):
        E.evaluate_sampler(lambda c, s, seed: torch.rand(c.shape[0], 28, 28), bars, judge, n_per_cell=2, reference=reference)
    with pytest.raises(ValueError, match="n_per_cell"):
        E.evaluate_sampler(E.real_sampler(bars, reference), bars, judge, n_per_cell=1)
    with pytest.raises(ValueError, match="classes"):
        E.evaluate_sampler(E.real_sampler(bars, reference), make_tiny_data(n_classes=5), judge, n_per_cell=2)


def test_evaluate_checkpoint_of_a_cvae(bars, judge, tmp_path) -> None:
    path = tmp_path / "cvae.safetensors"
    config = cvae_train.CVAETrainConfig(epochs=1, batch_size=32, device="cpu")
    result = cvae_train.train(CVAEConfig(n_classes=N_CLASSES), config, data=bars, out=path, slim=True, progress=False)
    row = E.evaluate_checkpoint(path, n_per_cell=3, data=bars, classifier=judge)
    assert row["name"] == "cvae" and row["family"] == "cvae" and row["dataset"] == "kana49"
    assert row["epochs"] == 1 and row["steps"] == math.ceil(len(bars.train) / 32)
    assert row["train_seconds"] == pytest.approx(result.state.seconds)
    assert row["params"] == sum(p.numel() for p in result.modules["model"].parameters())
    assert row["n_samples"] == N_CLASSES * 2 * 3 and row["samples_per_s"] > 0
    expected = cvae_train.evaluate(result.modules["model"], bars.test, seed=0)
    assert row["test_neg_elbo"] == pytest.approx(expected["loss"]) and row["test_mse"] == pytest.approx(expected["mse"])
    again = E.evaluate_checkpoint(path, n_per_cell=3, data=bars, classifier=judge)
    for key in ("cond_accuracy", "style_agreement", "fid", "fid_floor", "diversity"):
        assert again[key] == row[key], key  # one seed, one answer
    other_seed = E.evaluate_checkpoint(path, n_per_cell=3, seed=1, data=bars, classifier=judge)
    assert other_seed["fid"] != row["fid"]
    assert len(row["history"]) == 1


def test_evaluate_checkpoints_of_two_families(bars, judge, tmp_path) -> None:
    from genlib.models import cgan_train
    from genlib.models.cgan import CGANConfig

    cvae_path, cgan_path = tmp_path / "a.safetensors", tmp_path / "b.safetensors"
    cvae_train.train(CVAEConfig(n_classes=N_CLASSES), cvae_train.CVAETrainConfig(epochs=1, device="cpu"), data=bars, out=cvae_path, slim=True, progress=False)
    cgan_train.train(CGANConfig(n_classes=N_CLASSES), cgan_train.CGANTrainConfig(epochs=1, device="cpu"), data=bars, out=cgan_path, slim=True, progress=False)
    rows = E.evaluate_checkpoints([cvae_path, cgan_path], n_per_cell=2, data=bars, classifier=judge)
    assert [r["family"] for r in rows] == ["cvae", "cgan"]
    assert "test_neg_elbo" in rows[0] and "test_neg_elbo" not in rows[1]
    assert rows[0]["fid_floor"] == rows[1]["fid_floor"]  # one reference for both


def test_families_by_name_and_a_classifier_does_not_sample(tmp_path) -> None:
    from genlib import families
    from genlib.models import cvae, cvae_train

    assert families.get_family("cvae") is cvae_train.FAMILY and cvae_train.FAMILY.sample is cvae.sample
    with pytest.raises(ValueError, match="unknown model family 'nope'"):
        families.get_family("nope")
    judge = families.load(ROOT / "data" / "classifier_kana49.safetensors")
    with pytest.raises(ValueError, match="does not generate"):
        judge.sample(torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long))


ROWS = [
    {"name": "a", "family": "cvae", "epochs": 3, "fid": 1.23456, "cond_accuracy": 0.5, "per_class": {"x": [1]}},
    {"name": "b", "family": "cgan", "epochs": 4, "fid": float("nan"), "test_mse": 0.0123456, "note": "hi"},
]


def test_markdown_table(tmp_path) -> None:
    path = T.write_markdown_table(ROWS, tmp_path / "t.md", caption="Caption.")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "Caption."
    assert lines[2] == "| name | family | epochs | cond_accuracy | fid | test_mse | note |"
    assert lines[3] == "|---|---|---:|---:|---:|---:|---|"
    assert lines[4] == "| a | cvae | 3 | 0.500 | 1.23 | – | – |"
    assert lines[5] == "| b | cgan | 4 | – | – | 0.0123 | hi |"


def test_csv_round_trip(tmp_path) -> None:
    path = T.write_csv(ROWS, tmp_path / "t.csv")
    back = T.read_csv(path)
    assert back[0]["fid"] == 1.23456 and back[0]["epochs"] == 3 and back[0]["test_mse"] is None
    assert math.isnan(back[1]["fid"]) and back[1]["note"] == "hi"
    assert "per_class" not in back[0]


# --- the experiment table ---------------------------------------------------------------------


def test_report_experiments_reproduce_the_report_variants() -> None:
    from genlib.experiments import ExperimentBudget, report_experiments

    budget = ExperimentBudget(epochs=7, conv_cvae_epochs=3, conv_gan_epochs=2, conv_gan_channels=32, limit=100)
    exps = {e.name: e for e in report_experiments("kana49", budget)}
    assert list(exps) == [
        "cvae-mlp", "cvae-arch1-mean", "cvae-arch2-cxs", "cvae-arch3-deep", "cvae-conv", "cvae-conv-beta3", "cvae-conv-beta3-slant",
        "cgan-mlp-pm1", "cgan-mlp", "cgan-arch1-cxs", "cgan-arch2-sigmoid", "cgan-conv-lr1e-4", "cgan-conv-lr3e-4",
        "cgan-conv-setting1", "gan-conv-unconditional",
    ]
    base = exps["cvae-mlp"]
    assert exps["cvae-arch1-mean"].train_config.data.style_rule == "mean" and base.train_config.data.style_rule == "median"
    assert exps["cvae-arch1-mean"].model_config == base.model_config
    assert exps["cvae-arch2-cxs"].model_config.input_order == "cxs"
    assert exps["cvae-arch3-deep"].model_config.arch == "deep"
    assert exps["cvae-conv"].model_config.arch == "conv" and exps["cvae-conv"].model_config.latent_dim == 16
    beta = exps["cvae-conv-beta3"]
    assert beta.model_config == exps["cvae-conv"].model_config
    assert beta.train_config == dataclasses.replace(base.train_config, kl_weight=3.0, epochs=3)
    slant = exps["cvae-conv-beta3-slant"]
    assert slant.model_config == dataclasses.replace(beta.model_config, n_styles=4)
    assert slant.train_config == dataclasses.replace(beta.train_config, data=dataclasses.replace(beta.train_config.data, condition="thickness+slant"))
    seed, onehot = exps["cgan-mlp-pm1"].model_config, exps["cgan-mlp"].model_config
    assert (seed.label_range, onehot.label_range) == ("pm1", "01")  # as the report trained it, and genlib's fix
    assert dataclasses.replace(seed, label_range="01") == onehot and exps["cgan-mlp-pm1"].train_config == exps["cgan-mlp"].train_config
    assert exps["cgan-arch1-cxs"].model_config == dataclasses.replace(seed, input_order="cxs")  # Architecture 1: only the order
    arch2 = exps["cgan-arch2-sigmoid"].model_config  # Architecture 2: sigmoid output *and* 0/1 labels
    assert (arch2.output, arch2.label_range, seed.output) == ("sigmoid", "01", "tanh")
    assert exps["cgan-mlp-pm1"].train_config.snapshot_every == 50  # the report's Figures 33-35
    slow, fast = exps["cgan-conv-lr1e-4"], exps["cgan-conv-lr3e-4"]
    assert (slow.train_config.lr, fast.train_config.lr) == (1e-4, 3e-4)
    assert dataclasses.replace(slow.train_config, lr=3e-4) == fast.train_config  # only the learning rate differs
    assert slow.model_config == fast.model_config and slow.model_config.channels == 32
    one, none = exps["cgan-conv-setting1"], exps["gan-conv-unconditional"]  # the StyleGAN report's analysis, and no conditioning
    assert one.model_config == dataclasses.replace(fast.model_config, activation="sigmoid", kernel_size=3) and one.train_config == slow.train_config
    assert none.model_config == dataclasses.replace(fast.model_config, conditional=False) and none.train_config == fast.train_config
    for e in exps.values():
        epochs = 2 if "-conv-" in e.name and "gan" in e.name else 3 if e.name.startswith("cvae-conv") else 7
        assert e.train_config.epochs == epochs, e.name
        assert e.train_config.data.dataset == "kana49" and e.train_config.data.limit == 100
        assert e.model_config.n_classes == 49


def test_saved_configs_match_with_defaults_for_newer_fields() -> None:
    """A checkpoint written before a config field existed still counts as the same experiment."""
    from genlib.experiments import _same_config
    from genlib.models.cvae_train import CVAETrainConfig

    config = CVAETrainConfig(epochs=3)
    saved = json.loads(json.dumps(dataclasses.asdict(config)))
    assert _same_config(saved, config)
    older = {k: v for k, v in saved.items() if k != "kl_weight"}  # written before kl_weight was added
    assert _same_config(older, config) and not _same_config(older, dataclasses.replace(config, kl_weight=3.0))
    assert not _same_config({**saved, "epochs": 4}, config)
    assert not _same_config({**saved, "removed_field": 1}, config)


def test_experiment_budget_validation() -> None:
    from genlib.experiments import ExperimentBudget, run_experiments

    with pytest.raises(ValueError, match="n_per_cell"):
        ExperimentBudget(n_per_cell=1)
    with pytest.raises(ValueError, match="conv_gan_epochs"):
        ExperimentBudget(conv_gan_epochs=0)
    with pytest.raises(ValueError, match="unknown experiment"):
        run_experiments("kana49", ExperimentBudget(limit=980), "/nonexistent-never-written", only=["cvae-nope"])


@pytest.mark.slow
def test_run_experiments_writes_the_table(tmp_path) -> None:
    from safetensors.torch import load_file

    from genlib.checkpoint import read_meta
    from genlib.experiments import ExperimentBudget, run_experiments
    from genlib.models.snapshots import load_snapshots

    budget = ExperimentBudget(epochs=1, conv_gan_epochs=1, n_per_cell=3, limit=980)
    rows = run_experiments("kana49", budget, tmp_path, only=["cvae-mlp", "cgan-mlp-pm1"], threads=1)
    assert [r["name"] for r in rows] == ["real (held-out)", "cvae-mlp", "cgan-mlp-pm1"]
    for name in ("results.md", "results.csv", "histories.json", "per_class.json", "samples.npz", "samples.png", "losses.png", "run.json"):
        assert (tmp_path / name).is_file(), name
    table = T.read_csv(tmp_path / "results.csv")
    assert [r["name"] for r in table] == ["real (held-out)", "cvae-mlp", "cgan-mlp-pm1"] and table[1]["epochs"] == 1
    assert "synthetic, not Kuzushiji" in (tmp_path / "results.md").read_text(encoding="utf-8")
    assert set(np.load(tmp_path / "samples.npz")) == {"real", "cvae-mlp", "cgan-mlp-pm1"}
    # every model is kept (its sampler only, float16) with the CGAN's snapshots, and the report's figures drawn from them
    stored = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "checkpoints").iterdir()}
    assert set(stored) == {"cvae-mlp.safetensors", "cgan-mlp-pm1.safetensors"}
    assert read_meta(tmp_path / "checkpoints" / "cgan-mlp-pm1.safetensors").modules == ("generator",)
    assert load_file(str(tmp_path / "checkpoints" / "cgan-mlp-pm1.safetensors"))["model/generator/net.0.weight"].dtype == torch.float16
    assert list(load_snapshots(tmp_path / "snapshots" / "cgan-mlp-pm1.npz")) == [0]  # epoch 0 only in a 1-epoch run
    for name in ("label_grids.png", "reconstructions.png", "snapshots.png"):
        assert (tmp_path / name).is_file(), name
    # --only redoes one row from its stored checkpoint (nothing retrained) and keeps the others
    before = T.read_csv(tmp_path / "results.csv")
    rows = run_experiments("kana49", budget, tmp_path, only=["cgan-mlp-pm1"], threads=1, figures=False)
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "checkpoints").iterdir()} == stored
    after = T.read_csv(tmp_path / "results.csv")
    assert [r["name"] for r in after] == [r["name"] for r in before]
    assert after[1] == before[1] and after[2]["fid"] == pytest.approx(before[2]["fid"], rel=1e-6)  # the same model, judged again
    assert json.loads((tmp_path / "histories.json").read_text())["cvae-mlp"]  # the kept row's curves are kept too


@pytest.mark.slow
def test_the_report_figures_redraw_from_the_shipped_experiments(tmp_path, capsys) -> None:
    """``genlib experiments --figures`` redraws every §6 figure from data/experiments_kana49's stored models."""
    import shutil

    from genlib.cli import main
    from genlib.data import repo_data_dir

    out = tmp_path / "experiments_kana49"
    shutil.copytree(repo_data_dir() / "experiments_kana49", out, ignore=shutil.ignore_patterns("seed1", "*.png"))
    assert main(["experiments", "--figures", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    for name in ("samples.png", "losses.png", "label_grids.png", "reconstructions.png", "snapshots.png"):
        assert (out / name).stat().st_size > 10_000 and f"wrote {out / name}" in printed, name
    assert main(["experiments", "--figures", "--out", str(tmp_path / "none")]) == 1
    assert "has no results.csv" in capsys.readouterr().err
