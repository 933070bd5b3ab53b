"""Colour image folders, as the StyleGAN report's portraits: RGB through loading, training, sampling and grids."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlib import plots
from genlib.data.image_folder import MAX_SIZE, load_image_folder, make_demo_folder
from genlib.models.stylegan import StyleGANConfig
from genlib.models.stylegan_train import StyleGANTrainConfig, sample, train


def test_demo_folder_is_colour_and_varied(tmp_path) -> None:
    root = make_demo_folder(tmp_path / "demo", n_per_class=6, size=32)
    data = load_image_folder(root, size=32, channels=3, style_rule="none")
    assert data.class_names == ("cool", "warm") and data.images.shape == (12, 3, 32, 32)
    per_image_colour = data.images.mean(dim=(2, 3))  # [N, 3]
    assert per_image_colour.std(dim=0).min() > 0.02  # the colours differ between images
    assert (data.images[:, 0] - data.images[:, 2]).abs().mean() > 0.05  # and are not grey


def test_stylegan_trains_and_samples_in_colour(tmp_path) -> None:
    root = make_demo_folder(tmp_path / "demo", n_per_class=8, size=16)
    model = StyleGANConfig(resolution=16, image_size=16, image_channels=3, n_classes=2, latent_dim=16, w_dim=16,
                           channel_base=64, channel_max=16)
    config = StyleGANTrainConfig(image_folder=str(root), epochs=2, batch_size=8, stable_images=8, fade_images=8, device="cpu")
    result = train(model, config, out=tmp_path / "colour.safetensors", slim=True, progress=False)
    images = sample(result.modules["ema"], torch.tensor([0, 1, 0, 1]), torch.zeros(4, dtype=torch.long), seed=0)
    assert images.shape == (4, 3, 16, 16) and 0 <= images.min() and images.max() <= 1
    assert (images[:, 0] - images[:, 1]).abs().mean() > 1e-3  # the channels differ: colour, not grey
    grid = plots.tile(images, ncol=2)
    assert grid.shape == (2 * 18 + 2, 2 * 18 + 2, 3)
    np.testing.assert_allclose(plots.to_numpy_images(images)[1], images[1].permute(1, 2, 0).numpy())


def test_folder_limits_name_the_value(tmp_path) -> None:
    root = make_demo_folder(tmp_path / "demo", n_per_class=1, size=16)
    with pytest.raises(ValueError, match=f"size must be in 1..{MAX_SIZE}, got 100000"):
        load_image_folder(root, size=10**5)
    (root / "warm" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match="cannot read image .*broken.png"):
        load_image_folder(root, size=16)


def test_grey_and_colour_files_mixed_are_named_in_a_colour_load(tmp_path) -> None:
    from PIL import Image

    root = make_demo_folder(tmp_path / "demo", n_per_class=2, size=16)
    Image.new("L", (16, 16), 128).save(root / "cool" / "grey.png")
    with pytest.raises(ValueError, match=r"mixes grey and colour images \(grey.png is L, .*\.png is RGB\)"):
        load_image_folder(root, size=16, channels=3)
    assert load_image_folder(root, size=16, channels=1).images.shape == (5, 1, 16, 16)  # in grey they all load


def test_genlib_trains_on_a_colour_folder_and_samples_colour(tmp_path) -> None:
    from genlib.cli import main

    root = make_demo_folder(tmp_path / "demo", n_per_class=8, size=16)
    assert main(["train", "stylegan", "--image-folder", str(root), "--interpolation", "nearest", "--resolution", "16",
                 "--image-size", "16", "--image-channels", "3", "--n-classes", "2", "--latent-dim", "16", "--w-dim", "16",
                 "--channel-base", "64", "--channel-max", "16", "--epochs", "1", "--batch-size", "8", "--stable-images", "8",
                 "--fade-images", "8", "--device", "cpu", "--out", str(tmp_path / "colour.safetensors")]) == 0
    out, png = tmp_path / "s.npz", tmp_path / "s.png"
    assert main(["sample", "--checkpoint", str(tmp_path / "colour.safetensors"), "--n", "3", "--out", str(out), "--png", str(png)]) == 0
    with np.load(out) as z:
        assert z["arr_0"].shape == (2 * 2 * 3, 16, 16, 3) and z["arr_0"].dtype == np.uint8
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_stylegan_resolution_above_the_limit_names_the_memory() -> None:
    from genlib.models.stylegan import MAX_RESOLUTION

    with pytest.raises(ValueError, match=rf"power of two in 8..{MAX_RESOLUTION}, got 1024 \(its feature maps alone would take ~[\d.]+ GiB"):
        StyleGANConfig(resolution=1024, image_size=1024, channel_max=512)
