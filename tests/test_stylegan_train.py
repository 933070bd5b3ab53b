"""StyleGAN training: image-folder data, growing schedule, a short run across a growth step, exact resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genlib.data.image_folder import load_image_folder

# --- image folders ----------------------------------------------------------------------------------


def write_png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def disc(size: int, radius: float, width: int | None = None) -> np.ndarray:
    """A white disc on black, uint8 ``[size, width or size]``."""
    width = width or size
    yy, xx = np.mgrid[:size, :width]
    return (((yy - size / 2) ** 2 + (xx - width / 2) ** 2 < radius**2) * 255).astype(np.uint8)


def test_image_folder_with_class_subfolders(tmp_path):
    for k, name in enumerate(["a_small", "b_large"]):
        for i, r in enumerate([6, 10, 14, 18]):
            write_png(tmp_path / name / f"{i}.png", disc(40 + 8 * k, r + 4 * k))
    (tmp_path / "notes.txt").write_text("ignored")
    data = load_image_folder(tmp_path, size=64, channels=1)
    assert data.images.shape == (8, 1, 64, 64) and data.images.dtype == torch.float32
    assert 0 <= data.images.min() and data.images.max() <= 1 and data.images.max() > 0.99
    assert data.class_names == ("a_small", "b_large")
    assert data.classes.tolist() == [0] * 4 + [1] * 4
    # the K49 report's style rule within each class: more foreground than the class median -> 1
    assert data.styles.tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert data.paths[0].name == "0.png" and len(data) == 8


def test_flat_rgb_folder_is_one_class_and_is_center_cropped(tmp_path):
    wide = np.zeros((20, 40, 3), dtype=np.uint8)
    wide[:, 10:30] = [255, 0, 0]  # the centered 20x20 square is pure red; the sides are black
    write_png(tmp_path / "img" / "wide.png", wide)
    write_png(tmp_path / "img" / "gray.png", np.repeat(disc(30, 9)[:, :, None], 3, axis=2))  # grey content, an RGB file
    data = load_image_folder(tmp_path / "img", size=64, channels=3, style_rule="none")
    assert data.images.shape == (2, 3, 64, 64)
    assert data.class_names == ("img",) and data.classes.tolist() == [0, 0]
    assert data.styles.tolist() == [0, 0]
    red = data.images[data.paths.index(tmp_path / "img" / "wide.png")]
    torch.testing.assert_close(red[:, 32, 32], torch.tensor([1.0, 0.0, 0.0]))
    assert red[0].min() > 0.99  # the crop kept only the red square
    assert load_image_folder(tmp_path / "img", size=16, max_images=1).images.shape == (1, 1, 16, 16)


def test_image_folder_errors_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images"):
        load_image_folder(tmp_path)
    write_png(tmp_path / "x.png", disc(8, 3))
    with pytest.raises(ValueError, match="channels must be 1"):
        load_image_folder(tmp_path, channels=2)
    with pytest.raises(ValueError, match="interpolation"):
        load_image_folder(tmp_path, interpolation="cubic")
    (tmp_path / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        load_image_folder(tmp_path)


# --- schedule, real images, EMA -----------------------------------------------------------------------

from genlib.checkpoint import load_checkpoint  # noqa: E402
from genlib.cli_io import check_schedule_kept  # noqa: E402
from genlib.models.stylegan import Generator, StyleGANConfig  # noqa: E402
from genlib.models.stylegan_layers import downsample2x, upsample2x  # noqa: E402
from genlib.models.stylegan_sample import sample, sample_mixed  # noqa: E402
from genlib.models.stylegan_train import StyleGANTrainConfig, ema_beta, growth_phase, images_to_full_resolution, load, real_images_at, train  # noqa: E402
from genlib.training import update_ema  # noqa: E402

TINY_MODEL = StyleGANConfig(latent_dim=16, w_dim=16, channel_base=128, channel_max=16)  # 49 classes, 28 -> 32 px


def tiny_train_config(**overrides) -> StyleGANTrainConfig:
    base = dict(epochs=3, batch_size=8, stable_images=16, fade_images=24, device="cpu", seed=3)
    return StyleGANTrainConfig(**{**base, **overrides})


def test_growth_schedule_counts_images():
    phase = lambda n: growth_phase(n, fade_images=100, stable_images=50, max_step=3)  # noqa: E731
    assert phase(0) == (0, 1.0) and phase(49) == (0, 1.0)  # 4x4 stable
    assert phase(50) == (1, 0.0) and phase(75) == (1, 0.25) and phase(150) == (1, 1.0)  # 8x8 fade, stable
    assert phase(199) == (1, 1.0) and phase(200) == (2, 0.0)
    assert phase(350) == (3, 0.0) and phase(400) == (3, 0.5) and phase(10**9) == (3, 1.0)
    assert growth_phase(123, 0, 0, 3) == (3, 1.0)  # no schedule: full resolution from the start
    cfg = StyleGANTrainConfig(fade_images=100, stable_images=50)
    assert images_to_full_resolution(cfg, 3) == 450 and phase(450) == (3, 1.0) and phase(449)[1] < 1


def test_real_images_are_padded_scaled_and_faded_like_the_generator():
    x = torch.rand(2, 1, 28, 28)
    full = real_images_at(x, pad=2, step=3, alpha=1.0)
    assert full.shape == (2, 1, 32, 32)
    assert torch.equal(full[..., :2, :], -torch.ones(2, 1, 2, 32))  # black padding -> -1
    torch.testing.assert_close(full[..., 2:30, 2:30], 2 * x - 1)
    at8 = real_images_at(x, 2, step=1, alpha=1.0)
    torch.testing.assert_close(at8, torch.nn.functional.avg_pool2d(full, 4))
    faded = real_images_at(x, 2, step=1, alpha=0.25)
    torch.testing.assert_close(faded, 0.75 * upsample2x(downsample2x(at8)) + 0.25 * at8)


def test_ema_update_and_half_life():
    assert ema_beta(32, 10**9, half_life=32, rampup=0) == pytest.approx(0.5)
    assert ema_beta(10, 100, half_life=10_000, rampup=0.1) == pytest.approx(0.5)  # ramp-up: half-life 10
    torch.manual_seed(0)
    g, ema = Generator(TINY_MODEL), Generator(TINY_MODEL)
    with torch.no_grad():
        g.mapping.w_avg.fill_(3.0)
    before = [p.clone() for p in ema.parameters()]
    update_ema(ema, g, 0.9)
    for b, p_ema, p in zip(before, ema.parameters(), g.parameters()):
        torch.testing.assert_close(p_ema, 0.9 * b + 0.1 * p)
    assert torch.equal(ema.mapping.w_avg, g.mapping.w_avg)  # buffers are copied


def test_train_config_validation():
    for bad in (dict(loss="hinge"), dict(batch_size=0), dict(style_mixing_prob=1.5), dict(fade_images=-1)):
        with pytest.raises(ValueError):
            StyleGANTrainConfig(**bad)


# --- training runs ------------------------------------------------------------------------------------


def test_short_run_crosses_a_growth_step_and_samples(tiny_data, tmp_path):
    result = train(TINY_MODEL, tiny_train_config(), data=tiny_data, out=tmp_path / "sg.safetensors", max_steps=8, progress=False)
    state = result.state
    assert state.step == 8 and state.images_seen == 64
    assert state.extra == {"growth_step": 2, "alpha": 0.0}  # the last step began at 56 images: 16x16 fade-in starts
    G, ema = result.modules["generator"], result.modules["ema"]
    assert any(not torch.equal(a, b) for a, b in zip(G.parameters(), ema.parameters()))
    assert G.mapping.w_avg_count[-1] == 8  # one w-average update per step
    classes, styles = torch.arange(6) % 49, torch.arange(6) % 2
    imgs = sample(ema, classes, styles, seed=1)
    assert imgs.shape == (6, 1, 28, 28) and imgs.min() >= 0 and imgs.max() <= 1
    assert torch.equal(imgs, sample(ema, classes, styles, seed=1))
    assert not torch.equal(imgs, sample(ema, classes, styles, seed=2))
    assert sample(ema, classes, styles, seed=1, psi=0.5, noise_mode="const").shape == (6, 1, 28, 28)
    same = sample(ema, torch.zeros(3, dtype=torch.int64), torch.zeros(3, dtype=torch.int64), seed=1, same_noise=True)
    for row in (1, 2):  # one z, fixed noise: the same image, up to rounding at another batch position
        torch.testing.assert_close(same[row], same[0], rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="class 49 is out of range: allowed 0..48"):
        sample(ema, torch.tensor([49]), torch.tensor([0]))


def test_non_saturating_r1_option_runs(tiny_data):
    result = train(TINY_MODEL, tiny_train_config(loss="ns-r1", style_mixing_prob=1.0), data=tiny_data, max_steps=3, progress=False)
    assert result.state.step == 3
    assert result.state.running["penalty"] > 0  # R1 was computed


def test_resume_mid_fade_matches_an_uninterrupted_run(tiny_data, tmp_path):
    cfg = tiny_train_config()
    # schedule (batch 8): 4x4 for images 0-16, 8x8 fades in over 16-40, stable 40-56, 16x16 fades in from 56
    full = train(TINY_MODEL, cfg, data=tiny_data, max_steps=10, progress=False)
    train(TINY_MODEL, cfg, data=tiny_data, out=tmp_path / "part.safetensors", max_steps=4, progress=False)
    assert load_checkpoint(tmp_path / "part.safetensors").state["extra"] == {"growth_step": 1, "alpha": pytest.approx(1 / 3)}
    resumed = train(TINY_MODEL, cfg, data=tiny_data, resume=tmp_path / "part.safetensors", max_steps=10, progress=False)
    assert resumed.state.images_seen == full.state.images_seen == 80
    assert resumed.state.extra == full.state.extra == {"growth_step": 2, "alpha": pytest.approx(2 / 3)}
    for name in ("generator", "discriminator", "ema"):
        a, b = full.modules[name].state_dict(), resumed.modules[name].state_dict()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{name}.{key}"
    assert resumed.state.running == pytest.approx(full.state.running)


def test_lr_decay_falls_linearly_after_its_start_and_resumes_exactly(tiny_data, tmp_path):
    decayed = tiny_train_config(batch_size=32, epochs=3, lr_decay_start=1)  # the training split: 6 steps per epoch
    full = train(TINY_MODEL, decayed, data=tiny_data, progress=False)
    # step b of epoch e runs at progress e + b/6; past the start the factor is 1 - (progress - 1) / 2,
    # so epoch 2 averages 1 - mean(b)/12 = 1 - 2.5/12 and epoch 3 starts half-way down
    assert full.state.step == 18
    mean_lr = [row["lr"] / decayed.lr for row in full.state.history]
    assert mean_lr == pytest.approx([1.0, 1 - 2.5 / 12, 0.5 - 2.5 / 12])
    # a constant-lr run stopped at the start of the decay, resumed with the decay, is the decayed run
    train(TINY_MODEL, tiny_train_config(batch_size=32, epochs=1), data=tiny_data, out=tmp_path / "e1.safetensors", progress=False)
    resumed = train(TINY_MODEL, decayed, data=tiny_data, resume=tmp_path / "e1.safetensors", progress=False)
    constant = train(TINY_MODEL, tiny_train_config(batch_size=32, epochs=3), data=tiny_data, progress=False)
    for name in ("generator", "discriminator", "ema"):
        for key, value in full.modules[name].state_dict().items():
            assert torch.equal(value, resumed.modules[name].state_dict()[key]), f"{name}.{key}"
    assert not torch.equal(next(full.modules["generator"].parameters()), next(constant.modules["generator"].parameters()))
    with pytest.raises(ValueError, match="lr_decay_start must be 0 .* or an epoch in 1..epochs-1=2, got 3"):
        tiny_train_config(epochs=3, lr_decay_start=3)


def test_a_resumed_run_cannot_rewrite_a_decay_that_has_begun():
    constant, decaying = tiny_train_config(epochs=60), tiny_train_config(epochs=65, lr_decay_start=55)
    at_55, into_56 = {"epoch": 55, "batch": 0}, {"epoch": 55, "batch": 3}
    check_schedule_kept(constant, decaying, at_55)  # no step has decayed yet: the same as one decayed run
    check_schedule_kept(decaying, decaying, {"epoch": 60, "batch": 0})
    check_schedule_kept(decaying, tiny_train_config(epochs=70, lr_decay_start=60), at_55)  # moved before it began
    for stored, resumed, state in ((constant, decaying, into_56), (constant, tiny_train_config(epochs=65, lr_decay_start=50), at_55),
                                   (decaying, tiny_train_config(epochs=70, lr_decay_start=55), {"epoch": 60, "batch": 0}),
                                   (decaying, tiny_train_config(epochs=65), {"epoch": 60, "batch": 0})):
        with pytest.raises(ValueError, match="past lr_decay_start=.*: a resumed run cannot change a learning-rate decay that has begun"):
            check_schedule_kept(stored, resumed, state)


def test_checkpoint_round_trip_slim_and_full(tiny_data, tmp_path):
    result = train(TINY_MODEL, tiny_train_config(), data=tiny_data, out=tmp_path / "full.safetensors", max_steps=3, progress=False)
    train(TINY_MODEL, tiny_train_config(), data=tiny_data, out=tmp_path / "slim.safetensors", max_steps=3, slim=True, progress=False)
    classes, styles = torch.tensor([0, 48, 7]), torch.tensor([1, 0, 1])
    expected = sample(result.modules["ema"], classes, styles, seed=5)
    for name in ("full", "slim"):
        loaded = load(tmp_path / f"{name}.safetensors")
        assert loaded.model_config == TINY_MODEL and loaded.train_config == tiny_train_config()
        assert loaded.state.step == 3 and not loaded.model.training
        assert torch.equal(sample(loaded.model, classes, styles, seed=5), expected)
        assert (loaded.discriminator is not None) == (name == "full")
    slim_size = (tmp_path / "slim.safetensors").stat().st_size
    assert slim_size < (tmp_path / "full.safetensors").stat().st_size / 3  # EMA generator only
    mixed = sample_mixed(load(tmp_path / "slim.safetensors").model, classes, styles, classes.flip(0), styles, seed_a=5, seed_b=6, t=0.0)
    # t = 0 is image A alone; the mixing path computes it by another route, so equal up to rounding
    torch.testing.assert_close(mixed, sample(result.modules["ema"], classes, styles, seed=5, noise_mode="const"),
                               rtol=0, atol=1e-5)


def test_training_data_must_match_the_model(tiny_data):
    with pytest.raises(ValueError, match="n_classes=10 but dataset 'kana49' has 49 classes"):
        train(StyleGANConfig(latent_dim=16, w_dim=16, channel_base=128, channel_max=16, n_classes=10), tiny_train_config(), data=tiny_data, max_steps=1, progress=False)
    with pytest.raises(ValueError, match="batch_size 1000 is larger"):
        train(TINY_MODEL, tiny_train_config(batch_size=1000), data=tiny_data, max_steps=1, progress=False)


def test_training_on_an_image_folder_at_64px(tmp_path):
    for k in range(2):
        for i in range(4):
            write_png(tmp_path / "faces" / f"class{k}" / f"{i}.png", disc(48, 8 + 3 * i + 10 * k))
    model = StyleGANConfig(resolution=64, image_size=64, image_channels=3, latent_dim=16, w_dim=16, channel_base=128, channel_max=16, n_classes=2)
    cfg = tiny_train_config(image_folder=str(tmp_path / "faces"), batch_size=4, stable_images=0, fade_images=0)
    result = train(model, cfg, max_steps=2, progress=False)
    assert result.state.extra == {"growth_step": 4, "alpha": 1.0}
    imgs = sample(result.modules["ema"], torch.tensor([0, 1]), torch.tensor([0, 1]))
    assert imgs.shape == (2, 3, 64, 64)


def test_sampling_refuses_nan_psi_and_a_blend_outside_0_1() -> None:
    G = Generator(TINY_MODEL).eval()
    c = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match="psi .* must be a finite number in \\[0, 2\\], got nan"):
        sample(G, c, c, psi=float("nan"))
    with pytest.raises(ValueError, match="t .* must be a finite number in \\[0, 1\\], got 5"):
        sample_mixed(G, c, c, c, c, t=5)
    assert sample_mixed(G, c, c, c, c, t=0.6).shape[0] == 2


def test_a_checkpoint_with_the_old_names_loads_and_resumes_as_today(tiny_data, tmp_path):
    """Before the names were made consistent, StyleGAN checkpoints said ``z_dim``, ``loss_d``/``loss_g``
    and ``opt_g``/``opt_d``; such a file loads under today's names and resumes to the same weights."""
    import dataclasses

    from genlib.checkpoint import save_checkpoint
    from genlib.legacy import LEGACY_NAMES
    from genlib.models.stylegan_train import FAMILY

    cfg = tiny_train_config()
    now = tmp_path / "now.safetensors"
    train(TINY_MODEL, cfg, data=tiny_data, out=now, max_steps=4, progress=False)
    stored = load_checkpoint(now)
    modules = FAMILY.build(TINY_MODEL, cfg)
    for name, module in modules.items():
        module.load_state_dict(stored.modules[name])
    optimizers = FAMILY.optimizers(modules, cfg)
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(stored.optimizers[name])
    old = {kind: {new: old for old, new in names.items()} for kind, names in LEGACY_NAMES["stylegan"].items()}
    state = dict(stored.state)
    state["history"] = [{old["metrics"].get(k, k): v for k, v in row.items()} for row in state["history"]]
    state["running"] = {old["metrics"].get(k, k): v for k, v in state["running"].items()}
    assert "loss_d" in state["running"]
    legacy = tmp_path / "legacy.safetensors"
    torch.set_rng_state(stored.rng["torch"])
    save_checkpoint(legacy, family="stylegan",
                    model_config={old["model_config"].get(k, k): v for k, v in dataclasses.asdict(TINY_MODEL).items()},
                    train_config=cfg, modules=modules,
                    optimizers={old["optimizers"][k]: v for k, v in optimizers.items()}, state=state, extra=stored.extra)

    loaded = load(legacy)
    assert loaded.model_config == TINY_MODEL and loaded.state.running.keys() == stored.state["running"].keys()
    a = train(TINY_MODEL, cfg, data=tiny_data, resume=now, max_steps=8, progress=False)
    b = train(TINY_MODEL, cfg, data=tiny_data, resume=legacy, max_steps=8, progress=False)
    for name in ("generator", "discriminator", "ema"):
        for key, value in a.modules[name].state_dict().items():
            assert torch.equal(value, b.modules[name].state_dict()[key]), f"{name}.{key}"
    assert a.state.running == b.state.running and "d_loss" in a.state.running
