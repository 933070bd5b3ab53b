"""Image-quality techniques: DiffAugment, hinge loss, projection D, spectral norm, TTUR, R1, the ablation suite."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from genlib import augment
from genlib.experiments import ExperimentBudget, suite_experiments
from genlib.losses import d_hinge_loss
from genlib.models import cgan_train
from genlib.models.cgan import CGANConfig, build_cgan, conv_config
from genlib.models.cgan_projection import ProjectionDiscriminator, largest_singular_value
from genlib.quality import ALL_MODEL, ALL_TRAIN, ablation_display, ablation_table, plus_model, plus_train, row_name, variants


def strokes(b: int = 6) -> torch.Tensor:
    """Images in [0, 1] with a bright square away from the border (so shifts keep it whole)."""
    x = torch.zeros(b, 1, 28, 28)
    x[:, :, 10:18, 9:19] = torch.rand(b, 1, 8, 10) * 0.5 + 0.5
    return x


def test_translation_is_a_shift_of_each_image_filled_with_background() -> None:
    torch.manual_seed(0)
    x = strokes()
    y = augment.translation(x, background=0.0)
    found = 0
    for a, b in zip(x, y):  # each output is its input moved by one (dy, dx) with |d| <= 4 (28 * 1/8, rounded)
        shifts = [(dy, dx) for dy in range(-4, 5) for dx in range(-4, 5) if torch.equal(torch.roll(a, (dy, dx), (1, 2)), b)]
        assert len(shifts) == 1
        found += shifts[0] != (0, 0)
    assert found >= 3  # the shifts are random, not all zero
    t = augment.translation(torch.full((4, 1, 28, 28), 0.5), background=-1.0)
    assert set(t.unique().tolist()) <= {-1.0, 0.5}  # shifted-in pixels are the background


def test_cutout_blanks_one_square_of_half_the_size() -> None:
    torch.manual_seed(1)
    x = torch.ones(8, 1, 28, 28)
    y = augment.cutout(x, background=0.0)
    for img in y[:, 0]:
        rows, cols = torch.nonzero(img == 0, as_tuple=True)
        assert 0 < rows.numel() <= 14 * 14
        assert rows.numel() == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)  # a rectangle
        assert rows.max() - rows.min() + 1 <= 14 and cols.max() - cols.min() + 1 <= 14


def test_color_changes_brightness_and_contrast_per_image() -> None:
    torch.manual_seed(2)
    x = strokes(4)
    y = augment.color(x, span=1.0)
    assert y.shape == x.shape and not torch.allclose(y, x)
    offsets = (y - x).mean(dim=(1, 2, 3))
    assert offsets.std() > 0  # a different draw per image


def test_diff_augment_passes_gradients_and_empty_policy_is_identity() -> None:
    x = strokes(3).requires_grad_(True)
    assert augment.diff_augment(x, "") is x
    y = augment.diff_augment(x, "color,translation,cutout")
    y.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


@pytest.mark.parametrize("bad", ["flip", "translation,translation", "color;cutout"])
def test_unknown_policy_is_a_one_line_error(bad: str) -> None:
    with pytest.raises(ValueError, match="augment must be") as err:
        augment.parse_policy(bad)
    assert repr(bad) in str(err.value) and "\n" not in str(err.value)


def test_hinge_loss_known_values() -> None:
    real, fake = torch.tensor([2.0, 0.5, -1.0]), torch.tensor([-2.0, 0.0, 1.0])
    # real: max(0, 1 - [2, .5, -1]) = [0, .5, 2] -> 5/6; fake: max(0, 1 + [-2, 0, 1]) = [0, 1, 2] -> 1
    assert d_hinge_loss(real, fake).item() == pytest.approx(5 / 6 + 1)


def test_projection_discriminator_uses_labels_through_the_inner_product() -> None:
    torch.manual_seed(0)
    config = conv_config(channels=8, discriminator="projection")
    d = ProjectionDiscriminator(config)
    x = torch.rand(4, 1, 28, 28)
    c, s = torch.tensor([0, 1, 2, 3]), torch.tensor([0, 1, 0, 1])
    out = d(x, c, s)
    assert out.shape == (4,)
    h = d.features(x).sum(dim=(2, 3))
    expected = d.out(h).squeeze(1) + (d.class_embed(c) * h).sum(1) + (d.style_embed(s) * h).sum(1)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(d(x, c + 5, s), out)  # another class, another verdict
    class_only = ProjectionDiscriminator(conv_config(channels=8, n_styles=1, discriminator="projection"))
    assert class_only.style_embed is None


def test_spectral_norm_makes_every_layer_about_one_lipschitz() -> None:
    torch.manual_seed(0)
    _, d = build_cgan(conv_config(channels=8, discriminator="projection", spectral_norm=True))
    x = torch.rand(16, 1, 28, 28)
    for _ in range(30):  # power iterations run in training-mode forwards
        d(x, torch.zeros(16, dtype=torch.long), torch.zeros(16, dtype=torch.long))
    layers = [m for m in d.modules() if hasattr(m, "parametrizations")]
    assert len(layers) == 6  # 3 convs, the output layer, 2 embeddings
    for layer in layers:
        assert largest_singular_value(layer.weight) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize(
    "changes, message",
    [
        (dict(loss="hinge", d_update="split"), "d_update='split'"),
        (dict(augment="translation", d_update="split"), "need d_update='joint'"),
        (dict(r1_gamma=1.0, compile=True), "compile=True"),
        (dict(lr_d=-1.0), "lr_d"),
        (dict(augment="mirror"), "augment must be"),
        (dict(loss="wgan"), "loss must be one of"),
    ],
)
def test_bad_technique_options_raise(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cgan_train.CGANTrainConfig(**changes)
    with pytest.raises(ValueError, match="arch='conv'"):
        CGANConfig(discriminator="projection")  # the MLP CGAN has no projection D


def test_ttur_gives_the_discriminator_its_own_learning_rate() -> None:
    tc = cgan_train.CGANTrainConfig(lr=1e-4, lr_d=4e-4)
    modules = cgan_train._build(conv_config(channels=8), tc)
    opts = cgan_train._optimizers(modules, tc)
    assert opts["generator"].param_groups[0]["lr"] == 1e-4 and opts["discriminator"].param_groups[0]["lr"] == 4e-4
    same = cgan_train._optimizers(modules, cgan_train.CGANTrainConfig(lr=2e-4))
    assert same["discriminator"].param_groups[0]["lr"] == 2e-4  # lr_d = 0: D uses lr


def test_r1_penalty_is_reported_and_matches_its_formula() -> None:
    torch.manual_seed(0)
    config = conv_config(channels=8)
    g, d = build_cgan(config)
    d.eval()  # no dropout: the step below sees the same D as this check
    tc = cgan_train.CGANTrainConfig(r1_gamma=2.0, lr=1e-12)  # a tiny lr: D barely moves, so R1 can be recomputed
    x = torch.rand(8, 1, 28, 28)
    c, s = torch.arange(8) % 49, torch.arange(8) % 2
    real = x.clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(d(real, c, s).sum(), real)
    expected = grad.pow(2).flatten(1).sum(1).mean().item()  # E ||grad_x D(x|y)||^2
    step = cgan_train.adversarial_step(g, d, torch.optim.Adam(g.parameters(), 1e-12), torch.optim.Adam(d.parameters(), 1e-12), tc)
    metrics = step((x, c, s))
    assert float(metrics["r1"]) == pytest.approx(expected, rel=1e-4)


def test_plus_training_runs_and_resumes_exactly(tiny_data, tmp_path) -> None:
    model = dataclasses.replace(plus_model(49, channels=8), **ALL_MODEL)  # spectral norm's u, v must resume too
    tc = plus_train(tiny_data.config, epochs=2, seed=3, batch_size=32, r1_gamma=0.5, augment="color,translation,cutout", **{
        k: v for k, v in ALL_TRAIN.items() if k != "augment"})
    full = cgan_train.train(model, tc, data=tiny_data, progress=False)
    assert all(math.isfinite(r["d_loss"]) and math.isfinite(r["r1"]) for r in full.history)
    path = tmp_path / "part.safetensors"
    cgan_train.train(model, tc, data=tiny_data, out=path, max_steps=5, progress=False)  # stops inside epoch 1
    resumed = cgan_train.train(model, tc, data=tiny_data, out=path, resume=path, progress=False)
    for name in ("generator", "discriminator", "ema"):
        for (key, p), q in zip(full.modules[name].state_dict().items(), resumed.modules[name].state_dict().values()):
            assert torch.equal(p, q), f"{name}.{key}"  # spectral-norm vectors u, v included
    loaded = cgan_train.load(path)
    assert loaded.model_config == model and loaded.train_config == tc


def test_quality_suite_has_two_seeds_per_technique_and_changes_one_thing() -> None:
    budget = ExperimentBudget(conv_gan_epochs=2, conv_gan_channels=16)
    experiments = suite_experiments("quality", "kana49", budget)
    names = [e.name for e in experiments]
    assert len(names) == 2 * len(variants()) and len(set(names)) == len(names)
    by_row: dict[str, list] = {}
    for e in experiments:
        by_row.setdefault(row_name(e.name), []).append(e)
        assert e.train_config.epochs == 2 and e.model_config.channels == 16
    assert {e.train_config.seed for e in by_row["hinge"]} == {0, 1}
    base = by_row["base"][0]
    for row, model_changes, train_changes, _ in variants():
        e = next(x for x in by_row[row] if x.train_config.seed == 0)
        changed = {k for k in vars(e.train_config) if getattr(e.train_config, k) != getattr(base.train_config, k)}
        changed |= {k for k in vars(e.model_config) if getattr(e.model_config, k) != getattr(base.model_config, k)}
        assert changed == set(model_changes) | set(train_changes), row
    with pytest.raises(ValueError, match="unknown suite 'best'"):
        suite_experiments("best", "kana49", budget)


def test_ablation_table_averages_seeds_and_scales_by_the_floor() -> None:
    rows = [
        {"name": "real (held-out)", "family": "data", "fid": 11.0, "fid_floor": 11.0},
        {"name": "hinge-s0", "family": "cgan", "fid": 100.0, "fid_floor": 10.0, "cond_accuracy": 0.9, "style_agreement": 0.8,
         "diversity": 0.7, "train_seconds": 60.0},
        {"name": "hinge-s1", "family": "cgan", "fid": 120.0, "fid_floor": 10.0, "cond_accuracy": 0.94, "style_agreement": "nan",
         "diversity": 0.9, "train_seconds": 62.0},
    ]
    (entry,) = ablation_table(rows)
    assert entry["technique"] == "hinge" and entry["seeds"] == 2
    assert entry["fid"] == pytest.approx(110.0) and entry["fid_spread"] == pytest.approx(10.0)
    assert entry["fid_x_floor"] == pytest.approx(11.0)
    assert entry["style_agreement"] == pytest.approx(0.8) and entry["style_agreement_spread"] == 0  # NaN seeds skipped
    assert row_name("report-s12") == "report" and row_name("cgan-mlp-pm1") == "cgan-mlp-pm1"
    (shown,) = ablation_display([entry])
    assert shown == {"technique": "hinge", "seeds": "2", "class acc.": "0.920 ± 0.020", "style agr.": "0.800", "FID": "110 ± 10",
                     "× floor": "11.0", "diversity": "0.800 ± 0.100", "train s": "61 ± 1"}
    (sharp,) = ablation_display(ablation_table([{**r, "sharpness": 0.5} for r in rows], ("sharpness",)), ("sharpness",))
    assert sharp == {"technique": "hinge", "seeds": "2", "sharpness": "0.500"}
