"""The CVAE's mixture prior: EM recovers known per-cell Gaussians, sampling is seeded, training fits it and saves it."""

from __future__ import annotations

import pytest
import torch
from conftest import make_tiny_data

from genlib.models import cvae_train
from genlib.models.cvae import CVAEConfig, build_cvae, decode_latents, fit_prior, posterior_means, sample, with_mixture_prior
from genlib.models.latent_prior import CellMixturePrior, fit_cell_mixtures

CONV = CVAEConfig(arch="conv", latent_dim=4, hidden_dim=32, channels=4, prior_components=2)


def known_cells(n_per_cell: int = 400) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Latents of 3 classes x 2 styles, cell ``j`` drawn from ``N(3 j * 1, diag(0.5^2))`` in 2-D."""
    g = torch.Generator().manual_seed(0)
    classes = torch.arange(3).repeat_interleave(2 * n_per_cell)
    styles = torch.arange(2).repeat_interleave(n_per_cell).repeat(3)
    cells = classes * 2 + styles
    centres = 3.0 * cells.double()[:, None].expand(-1, 2)
    return centres + 0.5 * torch.randn(cells.shape[0], 2, generator=g, dtype=torch.float64), classes, styles, cells


def test_fit_recovers_each_cells_gaussian() -> None:
    z, classes, styles, _ = known_cells()
    prior = CellMixturePrior(3, 2, n_components=1, latent_dim=2)
    assert not prior.is_fitted
    counts = fit_cell_mixtures(prior, z, classes, styles, seed=0)
    assert counts == {"cell": 6, "class": 0, "normal": 0} and prior.is_fitted
    for cell in range(6):
        assert torch.allclose(prior.means[cell, 0], torch.full((2,), 3.0 * cell), atol=0.1)
        covariance = prior.scale_tril[cell, 0] @ prior.scale_tril[cell, 0].T
        assert torch.allclose(covariance, 0.25 * torch.eye(2), atol=0.06)
    drawn = prior.sample(torch.full((2000,), 2), torch.ones(2000, dtype=torch.int64), seed=3)  # cell 5
    assert torch.allclose(drawn.mean(0), torch.full((2,), 15.0), atol=0.1)
    assert torch.allclose(drawn.std(0), torch.full((2,), 0.5), atol=0.05)


def test_small_cells_borrow_their_class_and_empty_classes_stay_normal() -> None:
    z, classes, styles, cells = known_cells()
    keep = (cells != 1) | (torch.arange(cells.shape[0]) % 400 < 3)  # cell 1 (class 0, thick) keeps 3 images
    keep &= classes != 2  # class 2 has none
    prior = CellMixturePrior(3, 2, n_components=1, latent_dim=2)
    counts = fit_cell_mixtures(prior, z[keep], classes[keep], styles[keep], seed=0)
    assert counts == {"cell": 3, "class": 1, "normal": 2}
    assert prior.means[1, 0].norm() < prior.means[0, 0].norm() + 0.2  # class 0's pooled mean, near cell 0's
    assert torch.equal(prior.means[4], torch.zeros(1, 2)) and torch.equal(prior.scale_tril[5, 0], torch.eye(2))


def test_sampling_is_seeded_and_checks_labels() -> None:
    prior = CellMixturePrior(3, 2, n_components=2, latent_dim=4)
    c, s = torch.tensor([0, 2, 1]), torch.tensor([1, 0, 1])
    assert torch.equal(prior.sample(c, s, seed=5), prior.sample(c, s, seed=5))
    assert not torch.equal(prior.sample(c, s, seed=5), prior.sample(c, s, seed=6))
    with pytest.raises(ValueError, match="class 3 is out of range: allowed 0..2"):
        prior.sample(torch.tensor([3]), torch.tensor([0]), seed=0)
    with pytest.raises(ValueError, match="n_components must be >= 1, got 0"):
        CellMixturePrior(3, 2, n_components=0, latent_dim=4)


def test_config_and_sampler_errors_name_the_value() -> None:
    with pytest.raises(ValueError, match="prior_components must be 0 .* got -1"):
        CVAEConfig(prior_components=-1)
    model = build_cvae(CONV)
    c, s = torch.tensor([0, 1]), torch.tensor([0, 1])
    with pytest.raises(ValueError, match="prior must be one of .* got 'gmm'"):
        sample(model, c, s, prior="gmm")
    with pytest.raises(ValueError, match="needs a fitted mixture prior"):
        sample(model, c, s, prior="mixture")  # built, not fitted
    with pytest.raises(ValueError, match="has the normal prior"):
        fit_prior(build_cvae(CVAEConfig()), torch.zeros(2, 1, 28, 28), c, s)
    assert torch.equal(sample(model, c, s, seed=2), sample(model, c, s, seed=2, prior="normal"))  # auto: unfitted → normal


def test_training_fits_the_prior_at_the_last_epoch_and_saves_it(tmp_path) -> None:
    tiny_data = make_tiny_data(per_class=24)  # 8 training images per (class, style) cell: each cell gets its own mixture
    path = tmp_path / "plus.safetensors"
    tc = cvae_train.CVAETrainConfig(epochs=2, batch_size=32)
    result = cvae_train.train(CONV, tc, data=tiny_data, out=path, progress=False)
    model = result.modules["model"]
    assert model.prior.is_fitted
    assert "prior_cells_fitted" not in result.history[0] and result.history[1]["prior_cells_fitted"] == 49 * 2
    train = tiny_data.train  # the fitted means are those of the training split's posterior means
    mu = posterior_means(model, train.images, train.classes, train.styles)
    cell = int(train.classes[0]) * 2 + int(train.styles[0])
    in_cell = (train.classes * 2 + train.styles) == cell
    weights = model.prior.log_weights[cell].softmax(0)
    assert torch.allclose((weights[:, None] * model.prior.means[cell]).sum(0), mu[in_cell].mean(0), atol=1e-3)
    loaded = cvae_train.load(path)
    c, s = torch.tensor([0, 1, 2]), torch.tensor([1, 0, 1])
    drawn = sample(loaded.model, c, s, seed=4)
    assert torch.equal(drawn, sample(model, c, s, seed=4))  # the mixture travels in the checkpoint
    assert not torch.equal(drawn, sample(loaded.model, c, s, seed=4, prior="normal"))


def test_a_run_stopped_before_its_last_epoch_keeps_the_normal_prior(tiny_data, tmp_path) -> None:
    path = tmp_path / "part.safetensors"
    tc = cvae_train.CVAETrainConfig(epochs=2, batch_size=32)
    cvae_train.train(CONV, tc, data=tiny_data, out=path, max_steps=3, progress=False)
    assert not cvae_train.load(path).model.prior.is_fitted
    resumed = cvae_train.train(CONV, tc, data=tiny_data, out=path, resume=path, progress=False)
    full = cvae_train.train(CONV, tc, data=tiny_data, progress=False)
    for (name, p), q in zip(full.modules["model"].state_dict().items(), resumed.modules["model"].state_dict().values()):
        assert torch.equal(p, q), name  # weights and the fitted prior alike


def test_with_mixture_prior_keeps_the_weights_and_leaves_the_original_alone() -> None:
    plain = build_cvae(CVAEConfig(arch="conv", latent_dim=4, hidden_dim=32, channels=4)).eval()
    mixed = with_mixture_prior(plain, 3)
    assert plain.prior is None and mixed.prior.n_components == 3 and not mixed.prior.is_fitted
    assert mixed.config.prior_components == 3 and not mixed.training
    z, c, s = torch.randn(3, 4), torch.tensor([0, 5, 48]), torch.tensor([1, 0, 1])
    assert torch.equal(decode_latents(plain, z, c, s), decode_latents(mixed, z, c, s))
    assert torch.equal(decode_latents(with_mixture_prior(mixed, 0), z, c, s), decode_latents(plain, z, c, s))


def test_the_prior_ablation_runs_end_to_end_and_reuses_its_models(tmp_path, monkeypatch) -> None:
    from genlib import prior_ablation
    from genlib.data.datasets import DataConfig, prepare_dataset
    from genlib.experiments import Experiment, ExperimentBudget
    from genlib.quality import ablation_table

    budget = ExperimentBudget(conv_cvae_epochs=1, n_per_cell=4, limit=600)
    rows = prior_ablation.run_prior_ablation("mnist5k", budget, tmp_path)  # real digits: 10 classes x 2 styles
    names = [r["name"] for r in rows]
    expected = [n for b in prior_ablation.BETAS for s in prior_ablation.SEEDS for n in prior_ablation.row_names(b, s)]
    assert names == ["real (held-out)", *expected] and rows[0]["sharpness"] == 1.0
    by_name = {r["name"]: r for r in rows}
    assert by_name["beta1-cell3-s0"]["fid"] != by_name["beta1-normal-s0"]["fid"]  # the prior changes the samples
    assert all(0 < r["sharpness"] < 2 for r in rows) and by_name["beta3-normal-s1"]["kl_weight"] == 3.0
    table = ablation_table(rows, prior_ablation.PRIOR_METRICS)
    assert [t["technique"] for t in table][:2] == ["beta3-normal", "beta3-cell1"] and all(t["seeds"] == 2 for t in table)
    saved, grids = prior_ablation.load_prior_results(tmp_path)
    assert [r["name"] for r in saved] == names and {"real", "beta1-cell3", "beta3-reconstruction"} <= set(grids)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["beta1-s0.safetensors", "beta1-s1.safetensors",
                                                                            "beta3-s0.safetensors", "beta3-s1.safetensors"]

    def no_training(*args, **kwargs):
        raise AssertionError("a stored model with the same configs was trained again")

    monkeypatch.setattr(prior_ablation, "train_and_store", no_training)
    prepared = prepare_dataset(DataConfig(dataset="mnist5k", limit=600))
    config = prior_ablation.conv_cvae(prepared.n_classes, prepared.n_styles)
    train_config = cvae_train.CVAETrainConfig(data=prepared.config, epochs=1, kl_weight=1.0, seed=0)
    exp = Experiment("beta1-s0", "cvae", config, train_config, "")
    model, seconds = prior_ablation._trained(exp, tmp_path / "checkpoints" / "beta1-s0.safetensors", prepared, False)
    assert seconds > 0 and model.config == config
