"""Conditional GANs: shapes, losses on known values, the K49 report's step, training, checkpoints, resume, divergence."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from torch import nn

from conftest import make_tiny_data
from genlib.losses import d_bce_loss, d_wasserstein_loss, g_nonsaturating_loss, g_wasserstein_loss, gradient_penalty
from genlib.models import cgan_train
from genlib.models.cgan import CGANConfig, Discriminator, Generator, build_cgan, conv_config, sample, to_model_range, to_unit_range
from genlib.training import TrainingDiverged, ema_decay_at, update_ema

ARCHS = {
    "mlp": CGANConfig(),
    "mlp-cxs": CGANConfig(input_order="cxs"),
    "mlp-sigmoid": CGANConfig(output="sigmoid"),
    "conv": conv_config(channels=8),
    "conv-add": conv_config(channels=8, style_join="add"),
    "conv-tanh": conv_config(channels=8, output="tanh"),
}


def labels(b: int = 5) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.arange(b) % 49, torch.arange(b) % 2


@pytest.mark.parametrize("name", ARCHS)
def test_forward_shapes_and_ranges(name: str) -> None:
    config = ARCHS[name]
    G, D = build_cgan(config)
    c, s = labels()
    img = G(torch.randn(5, config.latent_dim), c, s)
    assert img.shape == (5, 1, 28, 28)
    low = -1.0 if config.output == "tanh" else 0.0
    assert low <= img.min().item() and img.max().item() <= 1.0
    assert D(img, c, s).shape == (5,)
    assert D(img.reshape(5, 784), c, s).shape == (5,)  # flat images are accepted too
    out = sample(G, c, s, seed=0)
    assert out.shape == (5, 1, 28, 28) and 0.0 <= out.min() and out.max() <= 1.0


def test_k49_report_mlp_sizes() -> None:
    """G: 64 + 49 + 2 → 256 → 784; D: 784 + 49 + 2 → 256 → 1 (the K49 report's §4.3.2–4.3.3)."""
    G, D = build_cgan(CGANConfig())
    assert (G.net[0].in_features, G.net[0].out_features, G.net[2].out_features) == (115, 256, 784)
    assert isinstance(G.net[3], nn.Tanh)
    assert (D.net[0].in_features, D.net[0].out_features, D.net[2].out_features) == (835, 256, 1)
    assert sum(p.numel() for p in G.parameters()) == (115 * 256 + 256) + (256 * 784 + 784)
    assert sum(p.numel() for p in D.parameters()) == (835 * 256 + 256) + (256 + 1)
    assert isinstance(Generator(CGANConfig(output="sigmoid")).net[3], nn.Sigmoid)


def test_stylegan_report_conv_shapes() -> None:
    """The StyleGAN report: 7x7 label map beside 128 maps; 28x28 label map beside the image; 1152 features before the dense."""
    config = conv_config()  # channels 128, latent 100, embedding 50
    G, D = build_cgan(config)
    c, s = labels(3)
    assert G.labels(c, s).shape == (3, 2, 7, 7)  # class map + style map
    assert G.upsample[0].in_channels == 128 + 2 and G.upsample[4].kernel_size == (7, 7)
    assert D.labels(c, s).shape == (3, 2, 28, 28)
    assert D.features(torch.rand(3, 3, 28, 28)).shape == (3, 1152)
    add = conv_config(style_join="add")
    assert build_cgan(add)[0].labels(c, s).shape == (3, 1, 7, 7)  # the StyleGAN report's 129 channels


def test_cxs_order_only_permutes_first_layer_columns() -> None:
    """Architecture 1 (class, image, style) equals the K49 report's D with its weight columns permuted."""
    torch.manual_seed(0)
    xcs, cxs = Discriminator(CGANConfig()), Discriminator(CGANConfig(input_order="cxs"))
    cxs.load_state_dict(xcs.state_dict())
    with torch.no_grad():
        w = xcs.net[0].weight  # columns: 784 image, 49 class, 2 style
        cxs.net[0].weight.copy_(torch.cat((w[:, 784:833], w[:, :784], w[:, 833:]), dim=1))
    x, (c, s) = torch.rand(4, 1, 28, 28), labels(4)
    assert torch.allclose(xcs(x, c, s), cxs(x, c, s), atol=1e-6)


def test_range_conversion_round_trips() -> None:
    x = torch.rand(2, 1, 28, 28)
    tanh, sig = CGANConfig(), CGANConfig(output="sigmoid")
    assert to_model_range(x, tanh).min() >= -1 and torch.allclose(to_unit_range(to_model_range(x, tanh), tanh), x)
    assert torch.equal(to_model_range(x, sig), x)


def test_gan_losses_known_values() -> None:
    zero = torch.zeros(4)
    assert d_bce_loss(zero, zero).item() == pytest.approx(math.log(2))  # D = 1/2 everywhere
    assert g_nonsaturating_loss(zero).item() == pytest.approx(math.log(2))
    # logits form == the K49 report's Sigmoid + BCELoss, (real + fake) / 2
    torch.manual_seed(0)
    r, f = torch.randn(8), torch.randn(8)
    bce = nn.BCELoss()
    seed_d = (bce(torch.sigmoid(r), torch.ones(8)) + bce(torch.sigmoid(f), torch.zeros(8))) / 2
    assert d_bce_loss(r, f).item() == pytest.approx(seed_d.item(), rel=1e-5)
    assert g_nonsaturating_loss(f).item() == pytest.approx(bce(torch.sigmoid(f), torch.ones(8)).item(), rel=1e-5)
    # stable where the probability form overflows: D(G(z)) = sigmoid(-200) → loss = 200
    assert g_nonsaturating_loss(torch.tensor([-200.0])).item() == pytest.approx(200.0)
    assert d_wasserstein_loss(torch.tensor([3.0, 1.0]), torch.tensor([0.5])).item() == pytest.approx(0.5 - 2.0)
    assert g_wasserstein_loss(torch.tensor([1.0, 3.0])).item() == pytest.approx(-2.0)


def test_gradient_penalty_of_linear_critic() -> None:
    """For D(x) = <w, x> the gradient is w everywhere: penalty = (||w|| - 1)^2."""
    w = torch.full((1, 1, 28, 28), 0.1)  # ||w|| = 0.1 * 28 = 2.8
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    gp = gradient_penalty(critic, torch.rand(3, 1, 28, 28), torch.rand(3, 1, 28, 28))
    assert gp.item() == pytest.approx((2.8 - 1) ** 2, rel=1e-5)


def test_joint_step_equals_the_k49_report_loop() -> None:
    """One genlib step (d_update='joint', fake_labels='real') = the K49 report's code with nn.BCELoss on sigmoid outputs."""
    config = CGANConfig()
    torch.manual_seed(0)
    G, D = build_cgan(config)
    G2, D2 = build_cgan(config)
    G2.load_state_dict(G.state_dict())
    D2.load_state_dict(D.state_dict())
    x, (c, s) = torch.rand(16, 1, 28, 28), labels(16)
    # genlib
    opt_g, opt_d = torch.optim.Adam(G.parameters(), lr=1e-4), torch.optim.Adam(D.parameters(), lr=1e-4)
    torch.manual_seed(1)
    metrics = cgan_train.adversarial_step(G, D, opt_g, opt_d, cgan_train.CGANTrainConfig())((x, c, s))
    # the K49 report, §4.3.4 (sigmoid outside the logits model)
    opt_g2, opt_d2 = torch.optim.Adam(G2.parameters(), lr=1e-4), torch.optim.Adam(D2.parameters(), lr=1e-4)
    criterion = nn.BCELoss()
    torch.manual_seed(1)
    real = x * 2 - 1
    fake = G2(torch.randn(16, 64), c, s)
    disc_real, disc_fake = torch.sigmoid(D2(real, c, s)), torch.sigmoid(D2(fake.detach(), c, s))
    loss_d = (criterion(disc_real, torch.ones_like(disc_real)) + criterion(disc_fake, torch.zeros_like(disc_fake))) / 2
    D2.zero_grad()
    loss_d.backward()
    opt_d2.step()
    output = torch.sigmoid(D2(fake, c, s))
    loss_g = criterion(output, torch.ones_like(output))
    G2.zero_grad()
    loss_g.backward()
    opt_g2.step()
    assert float(metrics["d_loss"]) == pytest.approx(loss_d.item(), rel=1e-5)
    assert float(metrics["g_loss"]) == pytest.approx(loss_g.item(), rel=1e-5)
    for a, b in zip([*G.parameters(), *D.parameters()], [*G2.parameters(), *D2.parameters()]):
        assert torch.allclose(a, b, atol=1e-6)


def test_split_step_takes_two_discriminator_steps() -> None:
    G, D = build_cgan(ARCHS["conv"])
    opt_g, opt_d = torch.optim.Adam(G.parameters()), torch.optim.Adam(D.parameters())
    tc = cgan_train.CGANTrainConfig(d_update="split", fake_labels="random")
    cgan_train.adversarial_step(G, D, opt_g, opt_d, tc)((torch.rand(4, 1, 28, 28), *labels(4)))
    assert opt_d.state[D.out.weight]["step"].item() == 2 and opt_g.state[G.project[0].weight]["step"].item() == 1


def test_update_ema_formula() -> None:
    ema, model = nn.Linear(2, 1), nn.Linear(2, 1)
    with torch.no_grad():
        ema.weight.fill_(1.0)
        model.weight.fill_(3.0)
    update_ema(ema, model, 0.75)
    assert torch.allclose(ema.weight, torch.full((1, 2), 0.75 * 1 + 0.25 * 3))
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1)  # warm-up: (1 + 0) / (10 + 0)
    assert ema_decay_at(0.999, 10**6) == 0.999


@pytest.mark.parametrize("name", ["mlp", "conv"])
def test_the_label_is_really_used(name: str) -> None:
    torch.manual_seed(0)
    G, D = build_cgan(ARCHS[name])
    z, (c, s) = torch.randn(4, ARCHS[name].latent_dim), labels(4)
    with torch.no_grad():
        assert not torch.allclose(G(z, c, s), G(z, (c + 1) % 49, s))  # another class
        assert not torch.allclose(G(z, c, s), G(z, c, 1 - s))  # another style
        x = torch.rand(4, 1, 28, 28)
        D.eval()
        assert not torch.allclose(D(x, c, s), D(x, (c + 1) % 49, s))


@pytest.mark.parametrize("name", ["mlp", "conv"])
@pytest.mark.parametrize("bad", [(49, 0), (-1, 0), (0, 2)])
def test_bad_labels_raise_clear_error(name: str, bad: tuple[int, int]) -> None:
    G, D = build_cgan(ARCHS[name])
    c, s = torch.tensor([bad[0]]), torch.tensor([bad[1]])
    with pytest.raises(ValueError, match=r"out of range: allowed 0\.\.(48|1)"):
        sample(G, c, s)
    with pytest.raises(ValueError, match=r"out of range"):
        D(torch.rand(1, 1, 28, 28), c, s)
    with pytest.raises(ValueError, match="integer"):
        sample(G, torch.tensor([0.5]), torch.tensor([0]))


def test_bad_configs_raise() -> None:
    with pytest.raises(ValueError, match="arch"):
        CGANConfig(arch="transformer")
    with pytest.raises(ValueError, match="output"):
        CGANConfig(output="relu")
    with pytest.raises(ValueError, match="input_order"):
        conv_config(input_order="cxs")
    with pytest.raises(ValueError, match="loss"):
        cgan_train.CGANTrainConfig(loss="least-squares")
    with pytest.raises(ValueError, match="split"):
        cgan_train.CGANTrainConfig(loss="wgan-gp", d_update="split")
    with pytest.raises(ValueError, match="snapshot_dir"):
        cgan_train.CGANTrainConfig(snapshot_every=5)
    with pytest.raises(ValueError, match="ema_decay"):
        cgan_train.CGANTrainConfig(ema_decay=1.0)


def test_sampling_is_seeded() -> None:
    torch.manual_seed(0)
    G, _ = build_cgan(CGANConfig())
    c, s = labels(6)
    a = sample(G, c, s, seed=3)
    assert torch.equal(a, sample(G, c, s, seed=3)) and not torch.equal(a, sample(G, c, s, seed=4))
    same = sample(G, torch.zeros(3, dtype=torch.long), torch.zeros(3, dtype=torch.long), seed=3, same_noise=True)
    # one z for all, same labels → the same image; rows at different batch positions may round
    # differently (GEMM kernels block by position on AVX-512), so equal up to float rounding
    torch.testing.assert_close(same[0], same[2], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="z must have shape"):
        sample(G, c, s, z=torch.zeros(6, 3))


@pytest.mark.parametrize(
    "name, tc",
    [
        ("mlp", dict()),
        ("conv", dict(d_update="split", fake_labels="random", lr=3e-4, beta1=0.5)),
        ("mlp-sigmoid", dict(loss="wgan-gp", n_critic=2)),
    ],
)
def test_training_smoke(tiny_data, name: str, tc: dict) -> None:
    config = cgan_train.CGANTrainConfig(epochs=3, batch_size=32, lr=tc.pop("lr", 1e-3), **tc)
    result = cgan_train.train(ARCHS[name], config, data=tiny_data, progress=False)
    rows = result.history
    assert len(rows) == 3 and result.state.step == 3 * 7
    assert {"d_loss", "g_loss", "d_real", "d_fake", "seconds", "epoch"} <= set(rows[-1])
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["g_loss"]) for r in rows)
    assert rows[-1]["d_real"] > rows[-1]["d_fake"]  # D has learned to tell real from fake


def test_checkpoint_round_trip_and_ema(tiny_data, tmp_path) -> None:
    path = tmp_path / "cgan.safetensors"
    config = ARCHS["conv"]
    tc = cgan_train.CGANTrainConfig(epochs=1, batch_size=32, ema_decay=0.5)
    result = cgan_train.train(config, tc, data=tiny_data, out=path, progress=False)
    loaded = cgan_train.load(path)
    assert loaded.model_config == config and loaded.train_config == tc and loaded.state.epoch == 1
    c, s = labels(4)
    assert torch.equal(sample(result.modules["ema"], c, s, seed=1), sample(loaded.model, c, s, seed=1))
    assert not torch.equal(sample(loaded.generator, c, s, seed=1), sample(loaded.model, c, s, seed=1))  # model is the EMA
    x = torch.rand(4, 1, 28, 28)
    assert torch.equal(result.modules["discriminator"](x, c, s), loaded.discriminator(x, c, s))
    with pytest.raises(ValueError, match="not a 'cgan'"):
        from genlib.checkpoint import save_checkpoint

        other = save_checkpoint(tmp_path / "x.safetensors", family="cvae", model_config={}, train_config={}, modules={})
        cgan_train.load(other)


def test_resume_matches_uninterrupted_run(tiny_data, tmp_path) -> None:
    config = ARCHS["conv"]
    tc = cgan_train.CGANTrainConfig(epochs=2, batch_size=32, seed=7, d_update="split", fake_labels="random", ema_decay=0.9)
    full = cgan_train.train(config, tc, data=tiny_data, progress=False).modules
    path = tmp_path / "part.safetensors"
    cgan_train.train(config, tc, data=tiny_data, out=path, max_steps=5, progress=False)  # stops mid-epoch 1 (7 batches/epoch)
    resumed = cgan_train.train(config, tc, data=tiny_data, out=path, resume=path, progress=False)
    assert resumed.state.step == 2 * 7
    for name in ("generator", "discriminator", "ema"):
        for (key, p), q in zip(full[name].state_dict().items(), resumed.modules[name].state_dict().values()):
            assert torch.equal(p, q), f"{name}.{key}"


def test_divergence_raises_and_keeps_last_checkpoint(tiny_data, tmp_path) -> None:
    path = tmp_path / "good.safetensors"
    tc = cgan_train.CGANTrainConfig(epochs=1, batch_size=32)
    cgan_train.train(CGANConfig(), tc, data=tiny_data, out=path, progress=False)
    before = path.read_bytes()
    poisoned = tiny_data.train.subset(slice(None))
    poisoned.images = poisoned.images.clone()
    poisoned.images[0, 0, 0, 0] = float("nan")  # a NaN in every epoch's data
    bad = type(tiny_data)(**{**tiny_data.__dict__, "train": poisoned})
    with pytest.raises(TrainingDiverged, match="diverged"):
        cgan_train.train(CGANConfig(), cgan_train.CGANTrainConfig(epochs=2, batch_size=32), data=bad, out=path, resume=path, progress=False)
    assert path.read_bytes() == before
    # an absurd learning rate blows the weights up within a few epochs
    with pytest.raises(TrainingDiverged):
        cgan_train.train(CGANConfig(), cgan_train.CGANTrainConfig(epochs=20, batch_size=32, lr=1e30), data=tiny_data, progress=False)


def test_snapshots_are_written(tmp_path) -> None:
    data = make_tiny_data(n_classes=10)  # fewer classes: fewer panels to draw
    tc = cgan_train.CGANTrainConfig(epochs=2, batch_size=64, snapshot_every=2, snapshot_dir=str(tmp_path / "snaps"))
    cgan_train.train(CGANConfig(n_classes=10), tc, data=data, progress=False)
    names = sorted(p.name for p in (tmp_path / "snaps").iterdir())
    assert names == [
        "epoch_0000_classes.png", "epoch_0000_real_vs_fake.png", "epoch_0000_styles.png",
        "epoch_0002_classes.png", "epoch_0002_real_vs_fake.png", "epoch_0002_styles.png", "losses.png", "snapshots.npz",
    ]
    from genlib.models.snapshots import load_snapshots, snapshots_figure

    snaps = load_snapshots(tmp_path / "snaps")  # the folder or its archive
    assert list(snaps) == [0, 2] and all(g.dtype == np.uint8 and g.shape == (20, 28, 28) for g in snaps.values())
    assert not np.array_equal(snaps[0], snaps[2])  # two epochs of training changed the drawing
    fig = snapshots_figure(snaps, n_styles=2, classes=(0, 5, 9))
    assert [ax.get_ylabel() for ax in fig.axes] == ["epoch 0", "epoch 2"]
    with pytest.raises(FileNotFoundError, match="no snapshot archive"):
        load_snapshots(tmp_path / "nothing")


def test_snapshots_do_not_change_what_is_trained(tmp_path) -> None:
    """Drawing snapshots uses its own seeded noise: a recipe trains the same weights with or without them."""
    data = make_tiny_data(n_classes=10)
    base = cgan_train.CGANTrainConfig(epochs=2, batch_size=64)
    plain = cgan_train.train(CGANConfig(n_classes=10), base, data=data, progress=False)
    shot = cgan_train.train(CGANConfig(n_classes=10), dataclasses.replace(base, snapshot_every=1, snapshot_dir=str(tmp_path)),
                            data=data, progress=False)
    for (name, a), b in zip(plain.modules["generator"].state_dict().items(), shot.modules["generator"].state_dict().values()):
        assert torch.equal(a, b), name  # the very same computation, repeated


def test_pm1_labels_are_the_one_hot_codes_rescaled() -> None:
    """label_range='pm1' feeds G and D ``onehot * 2 - 1`` (the K49 report's x*2-1 of labels and image)."""
    torch.manual_seed(0)
    G01, Gpm = Generator(CGANConfig()), Generator(CGANConfig(label_range="pm1"))
    D01, Dpm = Discriminator(CGANConfig()), Discriminator(CGANConfig(label_range="pm1"))
    Gpm.load_state_dict(G01.state_dict())
    Dpm.load_state_dict(D01.state_dict())
    z, x, (c, s) = torch.randn(4, 64), torch.rand(4, 1, 28, 28) * 2 - 1, labels(4)
    c1h, s1h = nn.functional.one_hot(c, 49).float(), nn.functional.one_hot(s, 2).float()
    assert torch.equal(Gpm(z, c, s), G01.net(torch.cat((z, c1h * 2 - 1, s1h * 2 - 1), 1)).reshape(-1, 1, 28, 28))
    assert torch.equal(Dpm(x, c, s), D01.net(torch.cat((x.reshape(4, -1), c1h * 2 - 1, s1h * 2 - 1), 1)).squeeze(1))
    assert not torch.allclose(Gpm(z, c, s), G01(z, c, s))  # the codes really differ
    with pytest.raises(ValueError, match="label_range='pm1' rescales the MLP"):
        conv_config(label_range="pm1")
    with pytest.raises(ValueError, match=r"label_range must be one of \('01', 'pm1'\), got '\+-1'"):
        CGANConfig(label_range="+-1")


def test_class_only_conv_cgan_is_the_reports_generator() -> None:
    """``n_styles=1``: 128 latent maps + 1 label map = 129 channels, no style parameters, any style input must be 0."""
    G, D = build_cgan(conv_config(n_classes=10, n_styles=1))
    assert G.upsample[0].in_channels == 129 and D.features[0].in_channels == 2
    assert G.labels.style_embed is None and G.labels.style_dense is None
    x = G(torch.randn(4, 100), torch.arange(4), torch.zeros(4, dtype=torch.long))
    assert x.shape == (4, 1, 28, 28) and 0 <= x.min() and x.max() <= 1
    with pytest.raises(ValueError, match="style 1 is out of range: allowed 0..0"):
        G(torch.randn(1, 100), torch.tensor([0]), torch.tensor([1]))


def test_bf16_training_keeps_fp32_weights_and_tracks_fp32(tiny_data) -> None:
    """``precision="bf16"`` runs the forward passes in bf16; weights stay float32 and the losses stay close to fp32's."""
    tc = dict(epochs=1, batch_size=32, lr=3e-4, beta1=0.5, d_update="split", fake_labels="random")
    rows = {}
    for precision in ("fp32", "bf16"):
        config = cgan_train.CGANTrainConfig(precision=precision, **tc)
        result = cgan_train.train(conv_config(channels=16), config, data=tiny_data, progress=False)
        assert all(p.dtype == torch.float32 for p in result.modules["generator"].parameters())
        rows[precision] = result.history[-1]
    assert abs(rows["bf16"]["d_loss"] - rows["fp32"]["d_loss"]) < 0.05
    with pytest.raises(ValueError, match="precision must be one of"):
        cgan_train.CGANTrainConfig(precision="fp16")


@pytest.mark.parametrize("kernel", [2, 3, 4, 5])
def test_any_generator_kernel_doubles_the_size(kernel: int) -> None:
    G, _ = build_cgan(conv_config(channels=8, kernel_size=kernel))
    c, s = labels(2)
    assert G(torch.randn(2, 100), c, s).shape == (2, 1, 28, 28)
    assert G.upsample[0].kernel_size == (kernel, kernel)


def test_the_analysis_setting_one_swaps_every_leaky_relu_for_a_sigmoid() -> None:
    """The StyleGAN report's setting one: sigmoid activations, kernel 3 (its setting two is the default model)."""
    one = conv_config(channels=8, kernel_size=3, activation="sigmoid")
    for net in build_cgan(one):
        kinds = {type(m) for m in net.modules()}
        assert nn.Sigmoid in kinds and nn.LeakyReLU not in kinds
    two = build_cgan(conv_config(channels=8))[0]
    assert sum(isinstance(m, nn.LeakyReLU) for m in two.modules()) == 3


def test_the_unconditional_gan_ignores_its_labels() -> None:
    G, D = build_cgan(conv_config(channels=8, conditional=False))
    assert G.labels is None and D.labels is None and G.upsample[0].in_channels == 8 and D.features[0].in_channels == 1
    z, x = torch.randn(1, 100).expand(3, -1), torch.rand(1, 1, 28, 28).expand(3, -1, -1, -1)
    c, s = torch.tensor([0, 7, 48]), torch.tensor([0, 1, 0])
    D.eval()
    images, verdicts = G(z, c, s), D(x, c, s)
    # the same z: the same image, any class (rows of one batch may differ in the last bits on AVX-512)
    assert torch.allclose(images[0], images[1], atol=1e-6) and torch.allclose(images[0], images[2], atol=1e-6)
    assert torch.allclose(verdicts[0], verdicts[1], atol=1e-6)
    conditional = build_cgan(conv_config(channels=8))[0]
    assert not torch.allclose(conditional(z, c, s)[0], conditional(z, c, s)[1])
    with pytest.raises(ValueError, match="class 49 is out of range"):
        G(z[:1], torch.tensor([49]), torch.tensor([0]))
    with pytest.raises(ValueError, match="conv cGAN options"):
        CGANConfig(conditional=False)
    with pytest.raises(ValueError, match="kernel_size must be in 2..7, got 1"):
        conv_config(kernel_size=1)
    with pytest.raises(ValueError, match="activation must be one of"):
        conv_config(activation="relu")
    with pytest.raises(ValueError, match="projection discriminator is conditional"):
        conv_config(discriminator="projection", conditional=False)
