"""StyleGAN networks: layer scaling, shapes at every growing step, every forward path, mixing, truncation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genlib.losses import gradient_penalty
from genlib.models.stylegan import Generator, StyleGANConfig, blend_w, broadcast_ws, crossover_ws
from genlib.models.stylegan_discriminator import Discriminator
from genlib.models.stylegan_layers import AdaIN, EqualConv2d, EqualLinear, MinibatchStdDev, NoiseInjection, PixelNorm, downsample2x, resize_to, upsample2x

TINY = dict(latent_dim=16, w_dim=16, channel_base=128, channel_max=16, n_classes=5)  # 4:16, 8:16, 16:8, 32:4 channels


def tiny_cfg(**overrides) -> StyleGANConfig:
    return StyleGANConfig(**{**TINY, **overrides})


def with_noise(g: Generator, scale: float = 0.5) -> Generator:
    """Noise scales start at 0 (noise off); switch them on so the noise modes are visible."""
    with torch.no_grad():
        for m in g.modules():
            if isinstance(m, NoiseInjection):
                m.scale.fill_(scale)
    return g


def inputs(cfg: StyleGANConfig, b: int = 4, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(b, cfg.latent_dim, generator=g)
    classes = torch.randint(0, cfg.n_classes, (b,), generator=g)
    styles = torch.randint(0, cfg.n_styles, (b,), generator=g)
    return z, classes, styles


# --- layers ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lr_mul", [1.0, 0.01])
def test_equal_linear_scaling(lr_mul):
    torch.manual_seed(0)
    layer = EqualLinear(400, 300, bias_init=0.5, lr_mul=lr_mul)
    # stored weights ~ N(0, 1/lr_mul^2); runtime scale sqrt(2/fan_in) * lr_mul
    assert layer.weight.std().item() == pytest.approx(1 / lr_mul, rel=0.02)
    assert layer.weight_scale == pytest.approx(math.sqrt(2 / 400) * lr_mul)
    # so the applied weight has He std sqrt(2/fan_in) whatever lr_mul is, and the effective bias is bias_init
    assert layer.effective_weight().std().item() == pytest.approx(math.sqrt(2 / 400), rel=0.02)
    x = torch.randn(3, 400)
    expected = x @ (layer.weight * math.sqrt(2 / 400) * lr_mul).T + 0.5
    torch.testing.assert_close(layer(x), expected, rtol=1e-4, atol=1e-4)


def test_equal_linear_lr_mul_scales_the_gradient_of_the_stored_weight():
    # dL/dw_hat = c * lr_mul * dL/dW: the mapping network (lr_mul 0.01) learns 100x slower under Adam's
    # scale-free step only through this factor combined with its 1/lr_mul initialisation.
    torch.manual_seed(0)
    fast, slow = EqualLinear(8, 4, lr_mul=1.0), EqualLinear(8, 4, lr_mul=0.01)
    with torch.no_grad():
        slow.weight.copy_(fast.weight / 0.01)  # same effective weight
    x = torch.randn(5, 8)
    torch.testing.assert_close(fast(x), slow(x))
    fast(x).sum().backward()
    slow(x).sum().backward()
    torch.testing.assert_close(slow.weight.grad, 0.01 * fast.weight.grad)


def test_equal_conv_scaling_and_same_padding():
    torch.manual_seed(0)
    conv = EqualConv2d(64, 32, 3)
    assert conv.weight_scale == pytest.approx(math.sqrt(2 / (64 * 9)))
    x = torch.randn(2, 64, 8, 8)
    out = conv(x)
    assert out.shape == (2, 32, 8, 8)
    torch.testing.assert_close(out, F.conv2d(x, conv.weight * math.sqrt(2 / 576), conv.bias, padding=1))
    with pytest.raises(ValueError, match="odd"):
        EqualConv2d(4, 4, 2)


def test_pixel_norm_gives_unit_second_moment():
    x = torch.randn(6, 32) * 7 + 3
    y = PixelNorm()(x)
    torch.testing.assert_close(y.pow(2).mean(1), torch.ones(6))


def test_noise_injection_is_identity_until_its_scale_is_learned():
    layer = NoiseInjection(3)
    x, n = torch.randn(2, 3, 4, 4), torch.randn(2, 1, 4, 4)
    assert torch.equal(layer(x, n), x)
    with torch.no_grad():
        layer.scale.copy_(torch.tensor([0.0, 1.0, 2.0]).view(1, 3, 1, 1))
    torch.testing.assert_close(layer(x, n), x + torch.cat([0 * n, n, 2 * n], 1))


def test_adain_sets_per_channel_mean_and_std_from_w():
    torch.manual_seed(0)
    adain = AdaIN(channels=3, w_dim=8)
    x, w = torch.randn(2, 3, 16, 16) * 5 + 2, torch.randn(2, 8)
    out = adain(x, w)
    y_s, y_b = adain.affine(w).chunk(2, dim=1)
    torch.testing.assert_close(out.mean(dim=(2, 3)), y_b, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(out.std(dim=(2, 3), unbiased=False), y_s.abs(), atol=1e-4, rtol=1e-4)
    assert torch.equal(adain.affine.bias[:3], torch.ones(3))  # y_s starts at 1


def test_minibatch_stddev_appends_group_std():
    x = torch.randn(8, 3, 4, 4)
    out = MinibatchStdDev(group_size=4)(x)
    assert out.shape == (8, 4, 4, 4)
    group0 = x[0::2]  # groups are samples i with the same i % (B / G)
    expected = group0.std(dim=0, unbiased=False).mean()
    torch.testing.assert_close(out[0, 3], torch.full((4, 4), expected.item()), atol=1e-5, rtol=1e-5)
    same = MinibatchStdDev(4)(torch.ones(6, 2, 4, 4))  # 6 -> groups of 3, identical samples -> std ~ 0
    assert same.shape == (6, 3, 4, 4) and same[:, 2].max() < 1e-3


def test_resampling_helpers():
    x = torch.randn(2, 1, 32, 32)
    assert upsample2x(x).shape == (2, 1, 64, 64)
    assert downsample2x(x).shape == (2, 1, 16, 16)
    torch.testing.assert_close(resize_to(x, 8), F.avg_pool2d(x, 4))
    with pytest.raises(ValueError, match="power of two"):
        resize_to(x, 12)


# --- config ---------------------------------------------------------------------------------------


def test_config_derived_sizes_and_validation():
    cfg = StyleGANConfig()
    assert (cfg.num_blocks, cfg.max_step, cfg.num_ws, cfg.pad) == (4, 3, 8, 2)
    assert [cfg.channels(i) for i in range(4)] == [128, 64, 32, 16]
    assert StyleGANConfig(resolution=64, image_size=64, image_channels=3).pad == 0
    for bad in (dict(resolution=24), dict(image_size=27), dict(image_channels=2), dict(w_dim=0)):
        with pytest.raises(ValueError):
            StyleGANConfig(**bad)


# --- generator and discriminator shapes -------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides", [dict(), dict(resolution=64, image_size=64, image_channels=3)], ids=["32-gray", "64-rgb"]
)
def test_shapes_at_every_step_and_alpha(overrides):
    torch.manual_seed(0)
    cfg = tiny_cfg(**overrides)
    G, D = Generator(cfg), Discriminator(cfg)
    z, c, s = inputs(cfg, b=4)
    w = G.mapping(z, c, s)
    assert w.shape == (4, cfg.w_dim)
    assert broadcast_ws(w, cfg.num_ws).shape == (4, cfg.num_ws, cfg.w_dim)
    for step in range(cfg.max_step + 1):
        for alpha in (0.0, 0.5, 1.0):
            img = G(z, c, s, step=step, alpha=alpha)
            size = 4 * 2**step
            assert img.shape == (4, cfg.image_channels, size, size)
            scores = D(img, c, s, step=step, alpha=alpha)
            assert scores.shape == (4,) and torch.isfinite(scores).all()
    full = G(z, c, s)  # step None = full resolution
    assert full.shape[-1] == cfg.resolution
    unit = G.to_unit_images(full)
    assert unit.shape == (4, cfg.image_channels, cfg.image_size, cfg.image_size)
    assert unit.min() >= 0 and unit.max() <= 1


def test_fade_in_endpoints_match_the_smaller_network():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    G, D = Generator(cfg), Discriminator(cfg)
    z, c, s = inputs(cfg)
    for step in (1, 2, 3):
        small = G(z, c, s, step=step - 1, alpha=1.0, noise_mode="const")
        faded = G(z, c, s, step=step, alpha=0.0, noise_mode="const")
        torch.testing.assert_close(faded, upsample2x(small))  # alpha 0: only the upsampled skip
        img = torch.randn(4, 1, 4 * 2**step, 4 * 2**step)
        torch.testing.assert_close(D(img, c, s, step, 0.0), D(downsample2x(img), c, s, step - 1, 1.0))
    half = G(z, c, s, step=2, alpha=0.5, noise_mode="const")
    out = G(z, c, s, step=2, alpha=1.0, noise_mode="const")
    skip = upsample2x(G(z, c, s, step=1, alpha=1.0, noise_mode="const"))
    torch.testing.assert_close(half, 0.5 * skip + 0.5 * out)


def test_noise_modes():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    G = with_noise(Generator(cfg))
    z, c, s = inputs(cfg)
    w = G.mapping(z, c, s)
    const1, const2 = G.synthesis(w, noise_mode="const"), G.synthesis(w, noise_mode="const")
    assert torch.equal(const1, const2)
    rand1, rand2 = G.synthesis(w, noise_mode="random"), G.synthesis(w, noise_mode="random")
    assert not torch.allclose(rand1, rand2)
    seeded = [G.synthesis(w, noise_mode="random", noise_generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(seeded[0], seeded[1])
    none = G.synthesis(w, noise_mode="none")
    assert not torch.allclose(none, const1)
    with torch.no_grad():  # with the learned scales at 0 every mode renders the same image
        for m in G.modules():
            if isinstance(m, NoiseInjection):
                m.scale.zero_()
    assert torch.equal(G.synthesis(w, noise_mode="none"), G.synthesis(w, noise_mode="random"))
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(w, noise_mode="fixed")


# --- style mixing and truncation ------------------------------------------------------------------


def test_blend_endpoints_reproduce_the_two_images_exactly():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    G = with_noise(Generator(cfg))
    z_a, c_a, s_a = inputs(cfg, seed=1)
    z_b, c_b, s_b = inputs(cfg, seed=2)
    img_a = G(z_a, c_a, s_a, noise_mode="const")
    img_b = G(z_b, c_b, s_b, noise_mode="const")
    mix0 = G.mix(z_a, z_b, c_a, s_a, classes_b=c_b, styles_b=s_b, t=0.0)
    mix1 = G.mix(z_a, z_b, c_a, s_a, classes_b=c_b, styles_b=s_b, t=1.0)
    assert torch.equal(mix0, img_a) and torch.equal(mix1, img_b)
    # the StyleGAN report's 0.4 * w[0] + 0.6 * w[1] is t = 0.6
    w_a, w_b = G.mapping(z_a, c_a, s_a), G.mapping(z_b, c_b, s_b)
    seed_mix = G.synthesis(0.4 * w_a + 0.6 * w_b, noise_mode="const")
    torch.testing.assert_close(G.mix(z_a, z_b, c_a, s_a, classes_b=c_b, styles_b=s_b, t=0.6), seed_mix)
    assert not torch.allclose(seed_mix, img_a) and not torch.allclose(seed_mix, img_b)
    assert torch.equal(blend_w(w_a, w_b, 0.0), w_a) and torch.equal(blend_w(w_a, w_b, 1.0), w_b)


def test_crossover_takes_coarse_layers_from_a_and_fine_layers_from_b():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    G = Generator(cfg)
    z_a, c, s = inputs(cfg, seed=1)
    z_b = inputs(cfg, seed=2)[0]
    img_a, img_b = G(z_a, c, s, noise_mode="const"), G(z_b, c, s, noise_mode="const")
    assert torch.equal(G.mix(z_a, z_b, c, s, crossover=0), img_b)
    assert torch.equal(G.mix(z_a, z_b, c, s, crossover=cfg.num_ws), img_a)
    mid = G.mix(z_a, z_b, c, s, crossover=4)
    assert not torch.allclose(mid, img_a) and not torch.allclose(mid, img_b)
    ws_a = broadcast_ws(G.mapping(z_a, c, s), cfg.num_ws)
    ws_b = broadcast_ws(G.mapping(z_b, c, s), cfg.num_ws)
    mixed = crossover_ws(ws_a, ws_b, 4)
    assert torch.equal(mixed[:, :4], ws_a[:, :4]) and torch.equal(mixed[:, 4:], ws_b[:, 4:])
    torch.testing.assert_close(mid, G.synthesis(mixed, noise_mode="const"))
    with pytest.raises(ValueError, match="exactly one"):
        G.mix(z_a, z_b, c, s, t=0.5, crossover=2)
    with pytest.raises(ValueError, match="exactly one"):
        G.mix(z_a, z_b, c, s)
    with pytest.raises(ValueError, match="crossover layer"):
        crossover_ws(ws_a, ws_b, cfg.num_ws + 1)


def test_w_avg_tracking_is_an_exact_mean_first_then_an_ema():
    cfg = tiny_cfg(n_classes=3, w_avg_beta=0.9)
    mapping = Generator(cfg).mapping
    w = torch.arange(12.0).reshape(3, 4).repeat(1, 4)  # [3, 16]
    classes, styles = torch.tensor([0, 0, 2]), torch.tensor([1, 1, 0])
    mapping.update_w_avg(w, classes, styles)
    torch.testing.assert_close(mapping.w_avg_label[0, 1], w[:2].mean(0))
    torch.testing.assert_close(mapping.w_avg_label[2, 0], w[2])
    assert torch.equal(mapping.w_avg_label[1], torch.zeros(2, 16))  # unseen labels stay untouched
    torch.testing.assert_close(mapping.w_avg, w.mean(0))
    mapping.update_w_avg(torch.zeros(1, 16), torch.tensor([2]), torch.tensor([0]))  # 2nd update: r = max(0.1, 1/2)
    torch.testing.assert_close(mapping.w_avg_label[2, 0], 0.5 * w[2])
    torch.testing.assert_close(mapping.w_avg_label[0, 1], w[:2].mean(0))  # absent: unchanged
    for _ in range(20):  # from the 10th update on the rate is 1 - beta
        mapping.update_w_avg(torch.zeros(1, 16), torch.tensor([1]), torch.tensor([1]))
    assert mapping.w_avg_count[1 * 2 + 1] == 20


def test_truncation_pulls_w_towards_the_label_mean():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    G = Generator(cfg)
    z, c, s = inputs(cfg, b=6)
    w = G.mapping(z, c, s)
    G.mapping.update_w_avg(w, c, s)
    w_avg = G.mapping.w_avg_label[c, s]
    torch.testing.assert_close(G.mapping(z, c, s, psi=0.5), w_avg + 0.5 * (w - w_avg))
    torch.testing.assert_close(G.mapping(z, c, s, psi=0.0), w_avg)
    torch.testing.assert_close(G.mapping(z, c, s, psi=0.0, truncation="global"), G.mapping.w_avg.expand(6, -1))
    same = torch.zeros(2, dtype=torch.int64)  # psi = 0: every z of a label gives the same image
    imgs = G(torch.randn(2, cfg.latent_dim), same, same, psi=0.0, noise_mode="const")
    torch.testing.assert_close(imgs[0], imgs[1])
    with pytest.raises(ValueError, match="truncation target"):
        G.mapping(z, c, s, psi=0.5, truncation="class")


# --- conditioning and validation ------------------------------------------------------------------


def test_labels_change_the_output_and_the_score():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    G, D = Generator(cfg), Discriminator(cfg)
    z = torch.randn(1, cfg.latent_dim).repeat(2, 1)
    two_classes, style0 = torch.tensor([0, 1]), torch.zeros(2, dtype=torch.int64)
    img = G(z, two_classes, style0, noise_mode="const")
    assert not torch.allclose(img[0], img[1])
    thin_thick = G(z, torch.zeros(2, dtype=torch.int64), torch.tensor([0, 1]), noise_mode="const")
    assert not torch.allclose(thin_thick[0], thin_thick[1])
    with torch.no_grad():  # projection: same image, different class -> different score
        D.class_embed.weight.normal_()
    x = torch.randn(1, 1, 32, 32).repeat(2, 1, 1, 1)
    scores = D(x, two_classes, style0)
    assert scores[0] != scores[1]


def test_bad_labels_and_arguments_raise_clear_errors():
    cfg = tiny_cfg()
    G, D = Generator(cfg), Discriminator(cfg)
    z, c, s = inputs(cfg, b=2)
    with pytest.raises(ValueError, match=r"class 5 is out of range: allowed 0..4"):
        G(z, torch.tensor([0, 5]), s)
    with pytest.raises(ValueError, match=r"style 2 is out of range: allowed 0..1"):
        G(z, c, torch.tensor([2, 0]))
    with pytest.raises(ValueError, match="integer"):
        G(z, c.float(), s)
    with pytest.raises(ValueError, match="batch sizes differ"):
        G(torch.randn(3, cfg.latent_dim), c, s)
    with pytest.raises(ValueError, match=r"z must have shape"):
        G(torch.randn(2, 7), c, s)
    with pytest.raises(ValueError, match=r"step must be in 0..3, got 4"):
        G(z, c, s, step=4)
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 1.5"):
        G(z, c, s, step=1, alpha=1.5)
    with pytest.raises(ValueError, match=r"class -1 is out of range"):
        D(torch.zeros(2, 1, 32, 32), torch.tensor([-1, 0]), s)
    with pytest.raises(ValueError, match=r"img must have shape \[B, 1, 16, 16\] at step 2"):
        D(torch.zeros(2, 1, 32, 32), c, s, step=2)


def test_gradients_reach_every_generator_and_discriminator_parameter():
    torch.manual_seed(0)
    cfg = tiny_cfg()
    G, D = with_noise(Generator(cfg)), Discriminator(cfg)
    z, c, s = inputs(cfg)
    for step in range(1, cfg.max_step + 1):  # mid-fade, so every to-image and from-image layer is used once
        D(G(z, c, s, step=step, alpha=0.5), c, s, step=step, alpha=0.5).mean().backward()
    for name, p in [*G.named_parameters(), *D.named_parameters()]:
        assert p.grad is not None and p.grad.abs().sum() > 0, name


# --- gradient penalty ---------------------------------------------------------------------------------


@pytest.mark.parametrize("scale", [0.3, 1.0, 2.5])
def test_gradient_penalty_of_a_linear_critic_is_known_exactly(scale):
    # D(x) = <a, x> has gradient a everywhere, so GP = (||a|| - 1)^2 for any real, fake and eps
    torch.manual_seed(0)
    a = torch.randn(1, 1, 8, 8)
    a = a / a.norm() * scale
    critic = lambda x: (x * a).flatten(1).sum(1)  # noqa: E731
    gp = gradient_penalty(critic, torch.randn(5, 1, 8, 8), torch.randn(5, 1, 8, 8))
    torch.testing.assert_close(gp, torch.tensor((scale - 1.0) ** 2))
