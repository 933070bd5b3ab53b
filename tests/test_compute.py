"""The compute fields every train config has: ``precision``, ``channels_last`` and ``compile``.

bf16 trains every family with float32 weights and float32 losses close to fp32's; channels_last is
the same math (close to NCHW, and a stopped run resumes bit for bit); each field is recorded in
the checkpoint and bad values are one-line errors.
"""

from __future__ import annotations

import pytest
import torch

from genlib.checkpoint import read_meta
from genlib.models import cgan_train, classifier_train, cvae_train, stylegan_train
from genlib.models.cgan import conv_config
from genlib.models.classifier import ClassifierConfig
from genlib.models.cvae import CVAEConfig
from genlib.models.stylegan import StyleGANConfig

CONV_CVAE = CVAEConfig(arch="conv", latent_dim=4, hidden_dim=16, channels=4)
RUNS = {  # family module, model config, train config fields, the loss metric to compare
    "cvae": (cvae_train, CONV_CVAE, cvae_train.CVAETrainConfig, dict(batch_size=32), "loss"),
    "classifier": (classifier_train, ClassifierConfig(channels=4, feature_dim=16, dropout=0.0), classifier_train.ClassifierTrainConfig,
                   dict(batch_size=32), "loss"),
    "cgan": (cgan_train, conv_config(channels=8), cgan_train.CGANTrainConfig, dict(batch_size=32, d_update="split", fake_labels="random"), "d_loss"),
    "stylegan": (stylegan_train, StyleGANConfig(latent_dim=16, w_dim=16, channel_base=128, channel_max=16), stylegan_train.StyleGANTrainConfig,
                 dict(batch_size=16, fade_images=32, stable_images=32), "d_loss"),
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_bf16_trains_every_family_with_fp32_weights_and_close_losses(name, tiny_data, tmp_path) -> None:
    module, model_config, train_config, fields, metric = RUNS[name]
    rows = {}
    for precision in ("fp32", "bf16"):
        out = tmp_path / f"{precision}.safetensors"
        result = module.train(model_config, train_config(epochs=1, device="cpu", precision=precision, **fields), data=tiny_data,
                              out=out, max_steps=4, progress=False)
        assert all(p.dtype == torch.float32 for m in result.modules.values() for p in m.parameters())
        assert read_meta(out).train_config["precision"] == precision
        rows[precision] = result.state.running[metric] / result.state.batch
    assert rows["bf16"] == pytest.approx(rows["fp32"], rel=0.05, abs=0.05), rows


def test_channels_last_is_the_same_math_and_resumes_exactly(tiny_data, tmp_path) -> None:
    base = dict(epochs=2, batch_size=32, seed=3, device="cpu")
    nchw = cvae_train.train(CONV_CVAE, cvae_train.CVAETrainConfig(**base), data=tiny_data, progress=False)
    nhwc_config = cvae_train.CVAETrainConfig(channels_last=True, **base)
    straight = cvae_train.train(CONV_CVAE, nhwc_config, data=tiny_data, progress=False)
    full = straight.modules["model"]
    conv = next(m for m in full.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    path = tmp_path / "part.safetensors"
    cvae_train.train(CONV_CVAE, nhwc_config, data=tiny_data, out=path, max_steps=5, progress=False)
    assert read_meta(path).train_config["channels_last"] is True
    resumed = cvae_train.train(CONV_CVAE, nhwc_config, data=tiny_data, out=path, resume=path, progress=False).modules["model"]
    for (key, p), q in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(p, q), key
    for row, row_nchw in zip(straight.history, nchw.history):  # other kernels, other rounding: the same losses
        for k in ("loss", "val_loss", "val_mse"):
            assert row[k] == pytest.approx(row_nchw[k], rel=1e-3), k
    cvae_train.train(CONV_CVAE, nhwc_config, data=tiny_data, out=path, resume=path, progress=False)
    loaded = cvae_train.load(path)  # trained in NHWC: loaded in NHWC, sampling as the run's own module does
    wide = [m for m in loaded.model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1]  # C = 1: both layouts at once
    assert wide and all(m.weight.is_contiguous(memory_format=torch.channels_last) for m in wide)
    c, s = torch.arange(6) % 49, torch.arange(6) % 2
    assert torch.allclose(loaded.sample(c, s, seed=2), cvae_train.FAMILY.sample(full.eval(), c, s, seed=2), atol=1e-5)
    plain = tmp_path / "plain.safetensors"
    cvae_train.train(CONV_CVAE, cvae_train.CVAETrainConfig(**base), data=tiny_data, out=plain, progress=False)
    conv = next(m for m in cvae_train.load(plain).model.modules() if isinstance(m, torch.nn.Conv2d) and m.in_channels > 1)
    assert not conv.weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("bad, message", [
    (dict(precision="fp16"), "precision must be one of ('fp32', 'bf16'), got 'fp16'"),
    (dict(channels_last="yes"), "channels_last must be True or False, got 'yes'"),
    (dict(compile=1), "compile must be True or False, got 1"),
])
def test_bad_compute_fields_are_one_line_errors(bad, message) -> None:
    for config in (cvae_train.CVAETrainConfig, classifier_train.ClassifierTrainConfig, cgan_train.CGANTrainConfig):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
            config(**bad)
    with pytest.raises(ValueError, match="compile=True cannot train loss='wgan-gp'"):
        cgan_train.CGANTrainConfig(compile=True, loss="wgan-gp")


def test_bf16_sampling_is_float32_and_close_to_fp32(tiny_data, tmp_path) -> None:
    path = tmp_path / "cvae.safetensors"
    cvae_train.train(CONV_CVAE, cvae_train.CVAETrainConfig(epochs=1, batch_size=32), data=tiny_data, out=path, progress=False)
    loaded = cvae_train.load(path)
    c, s = torch.arange(20) % 49, torch.arange(20) % 2
    fp32, bf16 = loaded.sample(c, s, seed=1), loaded.sample(c, s, seed=1, precision="bf16")
    assert bf16.dtype == torch.float32 and bf16.shape == fp32.shape
    assert torch.equal(bf16, loaded.sample(c, s, seed=1, precision="bf16"))
    assert 0 < (fp32 - bf16).abs().mean() < 0.01  # other arithmetic, the same images
    with pytest.raises(ValueError, match="precision must be one of"):
        loaded.sample(c, s, precision="fp16")
