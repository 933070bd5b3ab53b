"""Conditional VAE: shapes, the ELBO on known values, training, checkpoints and exact resume."""

from __future__ import annotations

import math

import pytest
import torch

from genlib.losses import bce_with_logits_sum, elbo_loss, gaussian_kl
from genlib.models import cvae_train
from genlib.models.cvae import CVAEConfig, build_cvae, decode_latents, latent_grid, reconstruct, sample

ARCHS = {
    "mlp": CVAEConfig(),
    "deep": CVAEConfig(arch="deep"),
    "conv": CVAEConfig(arch="conv", latent_dim=8, hidden_dim=64, channels=8),
    "mlp-cxs": CVAEConfig(input_order="cxs"),
}


def labels(b: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(b) % 49, torch.arange(b) % 2


@pytest.mark.parametrize("name", ARCHS)
def test_forward_shapes(name: str) -> None:
    config = ARCHS[name]
    model = build_cvae(config).eval()
    c, s = labels()
    x = torch.rand(5, 1, 28, 28)
    logits, mu, logvar = model(x, c, s)
    assert logits.shape == (5, 1, 28, 28)
    assert mu.shape == logvar.shape == (5, config.latent_dim)
    assert model.decode(mu, c, s).shape == (5, 1, 28, 28)
    # a flat [B, 784] input is accepted too
    assert model(x.reshape(5, 784), c, s)[0].shape == (5, 1, 28, 28)


def test_mlp_architecture_sizes() -> None:
    """784 + 49 + 2 → 144 → 2 (mu and logvar); 2 + 51 → 144 → 784 (the K49 report's §4.2.1)."""
    model = build_cvae(CVAEConfig())
    assert model.encoder[0].in_features == 835 and model.encoder[0].out_features == 144
    assert model.fc_mu.out_features == 2 and model.fc_logvar.out_features == 2
    assert model.decoder[0].in_features == 53 and model.fc_out.out_features == 784
    n_params = sum(p.numel() for p in model.parameters())
    assert n_params == (835 * 144 + 144) + 2 * (144 * 2 + 2) + (53 * 144 + 144) + (144 * 784 + 784)


def test_kl_is_zero_at_standard_normal() -> None:
    mu, logvar = torch.zeros(4, 3), torch.zeros(4, 3)
    assert gaussian_kl(mu, logvar).item() == 0.0


def test_kl_known_value() -> None:
    # KL(N(1, e^1) || N(0, 1)) per dim = -1/2 (1 + 1 - 1 - e) = (e - 1) / 2
    mu, logvar = torch.ones(1, 2), torch.ones(1, 2)
    assert gaussian_kl(mu, logvar).item() == pytest.approx(2 * (math.e - 1) / 2, rel=1e-6)


def test_elbo_reconstruction_matches_bce_of_sigmoid() -> None:
    torch.manual_seed(0)
    logits, x = torch.randn(3, 1, 28, 28), torch.rand(3, 1, 28, 28)
    mu, logvar = torch.zeros(3, 2), torch.zeros(3, 2)
    parts = elbo_loss(logits, x, mu, logvar)
    expected = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), x, reduction="sum")
    assert parts.reconstruction.item() == pytest.approx(expected.item(), rel=1e-5)
    assert parts.kl.item() == 0.0
    assert parts.total.item() == pytest.approx(parts.reconstruction.item())
    # logits of 0 → p = 1/2 → BCE = 784 log 2 per image for any target
    half = elbo_loss(torch.zeros(2, 784), torch.rand(2, 784), mu[:2], logvar[:2])
    assert half.reconstruction.item() == pytest.approx(2 * 784 * math.log(2), rel=1e-5)


def test_bce_with_logits_sum_matches_torch_and_its_gradient_is_sigmoid_minus_target() -> None:
    torch.manual_seed(0)
    for scale in (1.0, 30.0):  # large logits: exp(-|l|) underflows, the loss stays finite
        logits = (torch.randn(64, 784) * scale).requires_grad_()
        x = torch.rand(64, 784)
        ours = bce_with_logits_sum(logits, x)
        (g_ours,) = torch.autograd.grad(ours, logits)
        ref = torch.nn.functional.binary_cross_entropy_with_logits(logits, x, reduction="sum")
        (g_ref,) = torch.autograd.grad(ref, logits)
        assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
        assert torch.allclose(g_ours, torch.sigmoid(logits.detach()) - x, atol=1e-6)
        assert torch.allclose(g_ours, g_ref, atol=1e-6)
    l64 = (torch.randn(6, 5, dtype=torch.float64) * 4).requires_grad_()
    x64 = torch.rand(6, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(bce_with_logits_sum, (l64, x64))  # both inputs, float64 kept
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 logits are summed in float32
        assert bce_with_logits_sum(torch.zeros(2, 3, dtype=torch.bfloat16), torch.ones(2, 3)).dtype == torch.float32
    with pytest.raises(ValueError, match=r"same shape, got \(2, 3\) and \(3, 2\)"):
        bce_with_logits_sum(torch.zeros(2, 3), torch.zeros(3, 2))


@pytest.mark.parametrize("bad", [(49, 0), (-1, 0), (0, 2)])
def test_bad_labels_raise_clear_error(bad: tuple[int, int]) -> None:
    model = build_cvae(CVAEConfig())
    c, s = torch.tensor([bad[0]]), torch.tensor([bad[1]])
    with pytest.raises(ValueError, match=r"out of range: allowed 0\.\.(48|1)"):
        model(torch.rand(1, 1, 28, 28), c, s)


def test_bad_config_raises() -> None:
    with pytest.raises(ValueError, match="arch"):
        CVAEConfig(arch="transformer")
    with pytest.raises(ValueError, match="latent_dim"):
        CVAEConfig(latent_dim=0)


def test_sampling_is_seeded_and_label_dependent() -> None:
    torch.manual_seed(0)
    model = build_cvae(CVAEConfig())
    c, s = labels(6)
    a, b = sample(model, c, s, seed=3), sample(model, c, s, seed=3)
    assert torch.equal(a, b) and a.shape == (6, 1, 28, 28)
    assert 0.0 <= a.min() and a.max() <= 1.0
    assert not torch.equal(a, sample(model, c, s, seed=4))
    assert not torch.allclose(a, sample(model, (c + 1) % 49, s, seed=3))
    grid = latent_grid(2.0, 3)
    assert grid.shape == (9, 2) and grid[0].tolist() == [-2.0, 2.0] and grid[-1].tolist() == [2.0, -2.0]
    assert decode_latents(model, grid, torch.zeros(9, dtype=torch.long), torch.zeros(9, dtype=torch.long)).shape == (9, 1, 28, 28)
    assert reconstruct(model, torch.rand(6, 1, 28, 28), c, s).shape == (6, 1, 28, 28)


def test_kl_weight_scales_only_the_kl_gradient() -> None:
    """One SGD step of ``BCE + beta * KL`` moves every weight by ``lr * (grad BCE + beta * grad KL)``."""
    torch.manual_seed(0)
    model, (c, s), x = build_cvae(CVAEConfig()), labels(4), torch.rand(4, 1, 28, 28)

    def gradients(w_rec: float, w_kl: float) -> list[torch.Tensor]:
        model.zero_grad()
        torch.manual_seed(1)  # the same reparameterisation noise every time
        logits, mu, logvar = model(x, c, s)
        parts = elbo_loss(logits, x, mu, logvar)
        (w_rec * parts.reconstruction + w_kl * parts.kl).backward()
        return [p.grad.clone() for p in model.parameters()]

    g_rec, g_kl = gradients(1.0, 0.0), gradients(0.0, 1.0)
    before = [p.detach().clone() for p in model.parameters()]
    lr, beta = 1e-3, 3.0
    torch.manual_seed(1)
    metrics = cvae_train.elbo_step(model, torch.optim.SGD(model.parameters(), lr=lr), kl_weight=beta)((x, c, s))
    for p0, p, gr, gk in zip(before, model.parameters(), g_rec, g_kl):
        torch.testing.assert_close(p0 - p.detach(), lr * (gr + beta * gk), atol=1e-6, rtol=1e-4)
    m = {k: float(v) for k, v in metrics.items()}
    assert m["loss"] == pytest.approx(m["reconstruction"] + m["kl"], rel=1e-5)  # reported: the plain -ELBO


@pytest.mark.parametrize("bad", [{"kl_weight": -1.0}, {"lr": 0.0}, {"batch_size": 0}, {"epochs": -1}])
def test_bad_train_config_names_the_value(bad: dict) -> None:
    name, value = next(iter(bad.items()))
    with pytest.raises(ValueError, match=f"{name}.*got.*{value}"):
        cvae_train.CVAETrainConfig(**bad)


def test_training_decreases_loss(tiny_data) -> None:
    result = cvae_train.train(CVAEConfig(), cvae_train.CVAETrainConfig(epochs=4, batch_size=32), data=tiny_data, progress=False)
    losses = [row["loss"] for row in result.history]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0]
    assert {"loss", "reconstruction", "kl", "val_loss", "val_mse", "seconds", "epoch"} <= set(result.history[-1])


def test_checkpoint_round_trip_gives_identical_outputs(tiny_data, tmp_path) -> None:
    path = tmp_path / "cvae.safetensors"
    config = ARCHS["conv"]
    result = cvae_train.train(config, cvae_train.CVAETrainConfig(epochs=1, batch_size=32), data=tiny_data, out=path, progress=False)
    loaded = cvae_train.load(path)
    assert loaded.model_config == config and loaded.state.epoch == 1
    c, s = labels(4)
    assert torch.equal(sample(result.modules["model"], c, s, seed=1), sample(loaded.model, c, s, seed=1))


def test_resume_matches_uninterrupted_run(tiny_data, tmp_path) -> None:
    config, tc = ARCHS["deep"], cvae_train.CVAETrainConfig(epochs=2, batch_size=32, seed=7)
    full = cvae_train.train(config, tc, data=tiny_data, progress=False).modules["model"]
    path = tmp_path / "part.safetensors"
    cvae_train.train(config, tc, data=tiny_data, out=path, max_steps=5, progress=False)  # stops mid-epoch 1 (7 batches/epoch)
    resumed = cvae_train.train(config, tc, data=tiny_data, out=path, resume=path, progress=False)
    assert resumed.state.step == 2 * 7
    for (name, p), q in zip(full.state_dict().items(), resumed.modules["model"].state_dict().values()):
        assert torch.equal(p, q), name


def test_slim_checkpoint_cannot_resume(tiny_data, tmp_path) -> None:
    from genlib.checkpoint import CheckpointError

    path = tmp_path / "slim.safetensors"
    tc = cvae_train.CVAETrainConfig(epochs=1, batch_size=32)
    cvae_train.train(CVAEConfig(), tc, data=tiny_data, out=path, slim=True, progress=False)
    cvae_train.load(path)  # loads for sampling
    with pytest.raises(CheckpointError, match="cannot resume"):
        cvae_train.train(CVAEConfig(), tc, data=tiny_data, resume=path, progress=False)


def test_evaluate_is_reproducible(tiny_data) -> None:
    model = build_cvae(CVAEConfig())
    a = cvae_train.evaluate(model, tiny_data.test, seed=1)
    b = cvae_train.evaluate(model, tiny_data.test, seed=1)
    assert a == b and set(a) == {"loss", "reconstruction", "kl", "mse"}
    assert a["loss"] == pytest.approx(a["reconstruction"] + a["kl"], rel=1e-5)
