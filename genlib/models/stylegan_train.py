"""The StyleGAN family: its training step, growth schedule and :class:`~genlib.scaffold.Family` (:mod:`genlib.models.stylegan`).

One training step (:func:`stylegan_step`), as the StyleGAN report's ``train_step``:

1. update D on real and fake images: WGAN critic loss ``E[D(G(z))] - E[D(x)]`` + 10 * gradient
   penalty + 0.001 * drift ``E[D(x)^2]`` (ProGAN); or the non-saturating loss + R1 (``loss="ns-r1"``);
2. update G: ``-E[D(G(z))]`` (or ``softplus(-D(G(z)))``), with style-mixing regularization;
3. move the EMA generator (the one that samples) towards G.

With ``lr_decay_start`` the learning rate of both falls linearly from that epoch to 0 at the end of
the run, letting G settle instead of wander (measured in notebook 04 §16: with the EMA generator it
scored worse than a constant rate, on Kana-49 and on the digits).

Progressive growing is counted in images shown (:func:`growth_phase`): 4x4 for ``stable_images``,
then each resolution fades in over ``fade_images`` (``alpha`` 0 → 1) and trains stable for
``stable_images``; the last resolution trains until the end. Since step and alpha are a pure
function of ``TrainState.images_seen``, a resumed run continues the schedule exactly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlib.config import check_range
from genlib.data.datasets import DataConfig, PreparedData, prepare_dataset
from genlib.losses import d_bce_loss, d_wasserstein_loss, drift_penalty, g_nonsaturating_loss, g_wasserstein_loss, gradient_penalty, r1_penalty
from genlib.models.stylegan import Generator, StyleGANConfig, broadcast_ws, crossover_ws
from genlib.models.stylegan_discriminator import Discriminator
from genlib.models.stylegan_layers import downsample2x, resize_to, upsample2x
from genlib.models.stylegan_sample import sample
from genlib.runtime import check_compute
from genlib.scaffold import Family, Run, check_label_counts, check_run_length
from genlib.training import Metric, StepFn, TrainState, adam, linear_decay, set_lr, update_ema

LOSSES: tuple[str, ...] = ("wgan-gp", "ns-r1")


@dataclass(frozen=True)
class StyleGANTrainConfig:
    """How to train the conditional StyleGAN (defaults: the StyleGAN report's WGAN-GP with drift, sized for a CPU)."""

    data: DataConfig = field(default_factory=DataConfig)  # dataset, split and style rule (unused with image_folder)
    image_folder: str = ""  # train on this image folder (sub-folders = classes) instead of `data`
    interpolation: Literal["bilinear", "nearest", "lanczos"] = "bilinear"  # image-folder resize filter (the report: nearest)
    epochs: int = 8  # passes over the training split: the length of the run
    batch_size: int = 32  # images per step for both G and D
    lr: float = 1e-2  # Adam learning rate of G and D, x mapping_lr_mul in the mapping (papers: 1e-3, 10x slower here)
    lr_decay_start: int = 0  # from this epoch on the lr falls linearly to 0 at the run's end (0 = constant lr)
    beta1: float = 0.0  # Adam beta1 (ProGAN / StyleGAN: 0)
    beta2: float = 0.99  # Adam beta2
    seed: int = 0  # seeds weights, batch order, latents and noise
    device: str = "auto"  # auto | cpu | cuda | mps
    loss: Literal["wgan-gp", "ns-r1"] = "wgan-gp"  # wgan-gp: Wasserstein loss + gradient penalty (the StyleGAN report); ns-r1: non-saturating + R1
    gp_weight: float = 10.0  # lambda of the gradient penalty (wgan-gp)
    drift_weight: float = 1e-3  # weight of the drift term E[D(x)^2] (wgan-gp)
    r1_gamma: float = 1.0  # R1 weight gamma, penalty gamma/2 * E||grad D(x)||^2 (ns-r1)
    penalty_every: int = 1  # lazy regularization: GP / R1 on every k-th step only, weighted x k (StyleGAN2 §B)
    fade_images: int = 10_000  # images shown while a new resolution fades in (alpha 0 -> 1)
    stable_images: int = 10_000  # images shown at each resolution after its fade-in (the last: until the end)
    style_mixing_prob: float = 0.5  # chance that a batch of fakes mixes two z at a random crossover layer
    ema_half_life_images: int = 10_000  # EMA generator: half-life of its average, in images
    ema_rampup: float = 0.05  # early on the half-life is at most ema_rampup * images seen (0 = off)
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: forward passes under bf16 autocast, fp32 weights, optimizer and losses
    channels_last: bool = False  # NHWC memory layout for the convolutions (same math)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("fade_images", "stable_images", "ema_half_life_images"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.penalty_every < 1:
            raise ValueError(f"penalty_every must be >= 1, got {self.penalty_every}")
        check_run_length(self)
        check_range("lr", self.lr, 0, low_open=True)
        if self.lr_decay_start < 0 or (self.lr_decay_start and self.lr_decay_start >= self.epochs):
            raise ValueError(f"lr_decay_start must be 0 (constant lr) or an epoch in 1..epochs-1={self.epochs - 1}, got {self.lr_decay_start}")
        check_range("beta1", self.beta1, 0, 1, high_open=True)
        check_range("beta2", self.beta2, 0, 1, high_open=True)
        for name in ("gp_weight", "drift_weight", "r1_gamma", "ema_rampup"):
            check_range(name, getattr(self, name), 0)
        check_range("style_mixing_prob", self.style_mixing_prob, 0, 1)
        check_compute(self)  # no compile field: its penalties need double backward, which torch.compile lacks


def growth_phase(images_seen: int, fade_images: int, stable_images: int, max_step: int) -> tuple[int, float]:
    """Growing step and fade-in ``alpha`` after ``images_seen`` images.

    Schedule: step 0 (4x4) for ``stable_images``; then for each step s = 1..max_step a fade-in of
    ``fade_images`` with ``alpha = images into the fade / fade_images``, then ``stable_images`` at alpha 1.
    """
    t = images_seen - stable_images
    if t < 0:
        return 0, 1.0
    phase = fade_images + stable_images
    step = 1 + t // phase if phase > 0 else max_step
    if step > max_step:
        return max_step, 1.0
    into = t - (step - 1) * phase
    return step, (min(1.0, into / fade_images) if fade_images > 0 else 1.0)


def images_to_full_resolution(train_config: StyleGANTrainConfig, max_step: int) -> int:
    """Images shown before the last resolution has fully faded in."""
    return train_config.stable_images + max_step * train_config.fade_images + (max_step - 1) * train_config.stable_images


def real_images_at(x: Tensor, pad: int, step: int, alpha: float) -> Tensor:
    """Real images as D sees them: ``[B, C, S, S]`` in [0, 1] -> padded, in [-1, 1], at ``4 * 2**step``.

    During a fade-in they are blended like G's output: ``(1 - alpha) * up(down(x)) + alpha * x``.
    """
    x = F.pad(x, (pad, pad, pad, pad)) * 2 - 1  # pad with background 0, then x' = 2x - 1
    x = resize_to(x, 4 * 2**step)
    if step > 0 and alpha < 1:
        x = (1 - alpha) * upsample2x(downsample2x(x)) + alpha * x
    return x


def ema_beta(batch_size: int, images_seen: int, half_life: int, rampup: float) -> float:
    """Per-step EMA decay ``beta = 0.5 ** (B / half_life)``, half-life capped at ``rampup * images_seen``."""
    if rampup > 0:
        half_life = min(half_life, rampup * images_seen)
    return 0.5 ** (batch_size / max(half_life, 1e-8))


def generate_fakes(
    G: Generator, classes: Tensor, styles: Tensor, step: int, alpha: float, mixing_prob: float
) -> tuple[Tensor, Tensor]:
    """Fakes at the current resolution for the given labels, with style-mixing regularization.

    With probability ``mixing_prob`` the ``ws`` rows from a random crossover layer on come from a
    second latent of the same labels (StyleGAN §3.1). Returns ``(images [B, C, S, S], w [B, w_dim])``.
    """
    z = torch.randn(classes.shape[0], G.config.latent_dim, device=classes.device)
    w = G.mapping(z, classes, styles)
    ws = broadcast_ws(w, G.config.num_ws)
    if mixing_prob > 0 and float(torch.rand(())) < mixing_prob:
        active = 2 * (step + 1)  # AdaIN layers in use at this step
        k = int(torch.randint(1, active, ()))
        w2 = G.mapping(torch.randn_like(z), classes, styles)
        ws = crossover_ws(ws, broadcast_ws(w2, G.config.num_ws), k)
    return G.synthesis(ws, step, alpha, "random"), w


def stylegan_step(
    G: Generator,
    D: Discriminator,
    G_ema: Generator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    tc: StyleGANTrainConfig,
    state: TrainState,
    steps_per_epoch: int = 1,
) -> StepFn:
    """One D update, one G update and one EMA update on a batch ``(images, classes, styles)``.

    ``steps_per_epoch`` places a step within the run for the learning-rate decay (``tc.lr_decay_start``).
    """
    mc = G.config

    def step(batch: tuple[Tensor, ...]) -> dict[str, Metric]:
        x, classes, styles = batch
        lr = tc.lr * linear_decay(state.epoch + state.batch / steps_per_epoch, tc.lr_decay_start, tc.epochs)
        set_lr(opt_d, lr)
        set_lr(opt_g, lr)
        g_step, alpha = growth_phase(state.images_seen, tc.fade_images, tc.stable_images, mc.max_step)
        real = real_images_at(x, mc.pad, g_step, alpha)

        def critic(img: Tensor) -> Tensor:
            return D(img, classes, styles, g_step, alpha)

        # (1) update D: maximise D(x) - D(G(z)) under the penalty (lazy: every k-th step, weight x k)
        D.requires_grad_(True)
        with torch.no_grad():
            fake, _ = generate_fakes(G, classes, styles, g_step, alpha, tc.style_mixing_prob)
        k = tc.penalty_every
        lazy = k if state.step % k == 0 else 0  # 0: no penalty this step
        penalty = torch.zeros(())
        if tc.loss == "wgan-gp":
            d_real, d_fake = critic(real), critic(fake)
            if lazy:
                penalty = gradient_penalty(critic, real, fake)
            d_loss = d_wasserstein_loss(d_real, d_fake) + lazy * tc.gp_weight * penalty + tc.drift_weight * drift_penalty(d_real)
        else:
            real.requires_grad_(lazy > 0)
            d_real, d_fake = critic(real), critic(fake)
            if lazy:
                penalty = r1_penalty(d_real, real)
            d_loss = d_bce_loss(d_real, d_fake) + lazy * tc.r1_gamma / 2 * penalty
        opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        opt_d.step()

        # (2) update G: make D score fresh fakes high
        D.requires_grad_(False)
        fake, w = generate_fakes(G, classes, styles, g_step, alpha, tc.style_mixing_prob)
        g_fake = critic(fake)
        g_loss = g_wasserstein_loss(g_fake) if tc.loss == "wgan-gp" else g_nonsaturating_loss(g_fake)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        D.requires_grad_(True)
        G.mapping.update_w_avg(w.detach(), classes, styles)

        # (3) EMA generator
        update_ema(G_ema, G, ema_beta(x.shape[0], state.images_seen, tc.ema_half_life_images, tc.ema_rampup))
        state.extra.update(growth_step=g_step, alpha=alpha)
        return {
            "d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "penalty": penalty.detach().double() * lazy,  # unbiased per-step mean
            "d_real": d_real.mean().detach(), "d_fake": d_fake.mean().detach(), "growth_step": g_step, "alpha": alpha, "lr": lr,
        }

    return step


def training_tensors(
    model_config: StyleGANConfig, train_config: StyleGANTrainConfig, data: PreparedData | None
) -> tuple[Tensor, Tensor, Tensor]:
    """``(images [N, C, S, S] in [0, 1], classes [N], styles [N])`` from ``data``, the image folder or ``train_config.data``."""
    if train_config.image_folder:
        from genlib.data.image_folder import load_image_folder

        mc, tc = model_config, train_config
        folder = load_image_folder(tc.image_folder, mc.image_size, mc.image_channels, interpolation=tc.interpolation)
        images, classes, styles = folder.images, folder.classes, folder.styles
        if len(folder.class_names) != model_config.n_classes:
            raise ValueError(f"model_config.n_classes={model_config.n_classes} but the image folder has {len(folder.class_names)} classes "
                             f"({', '.join(folder.class_names)}): set n_classes={len(folder.class_names)} (--n-classes {len(folder.class_names)})")
    else:
        data = data if data is not None else prepare_dataset(train_config.data)
        check_label_counts(model_config, data)
        images, classes, styles = data.train.images, data.train.classes, data.train.styles
    expected = (model_config.image_channels, model_config.image_size, model_config.image_size)
    if tuple(images.shape[1:]) != expected:
        raise ValueError(f"training images have shape {tuple(images.shape[1:])}, the model config expects {expected}")
    if images.shape[0] < train_config.batch_size:
        raise ValueError(f"batch_size {train_config.batch_size} is larger than the training split ({images.shape[0]} images)")
    return images, classes, styles


def _build(model_config: StyleGANConfig, train_config: StyleGANTrainConfig) -> dict[str, nn.Module]:
    G, D = Generator(model_config), Discriminator(model_config)
    return {"generator": G, "discriminator": D, "ema": copy.deepcopy(G).eval().requires_grad_(False)}


def _optimizers(modules: dict[str, nn.Module], train_config: StyleGANTrainConfig) -> dict[str, torch.optim.Optimizer]:
    betas = (float(train_config.beta1), float(train_config.beta2))
    return {"generator": adam(modules["generator"], train_config.lr, betas), "discriminator": adam(modules["discriminator"], train_config.lr, betas)}


def _step(run: Run) -> StepFn:
    m, o = run.modules, run.optimizers
    return stylegan_step(m["generator"], m["discriminator"], m["ema"], o["generator"], o["discriminator"], run.train_config, run.state,
                         max(run.steps_per_epoch, 1))


FAMILY = Family(
    name="stylegan",
    description="class- and style-conditional StyleGAN with progressive growing and style mixing",
    model_config=StyleGANConfig,
    train_config=StyleGANTrainConfig,
    build=_build,
    optimizers=_optimizers,
    step=_step,
    sampler=("ema",),  # the EMA generator samples; a slim file keeps only it
    sample=sample,
    prepare=training_tensors,  # run.data: the training tensors themselves
    tensors=lambda run: run.data,
    drop_last=True,
    slim=lambda names: ("ema",),
)
train = FAMILY.train  # train(model_config, train_config, *, data, out, resume, max_steps, save_every, slim, progress, callback)
load = FAMILY.load  # load(path, device="cpu") -> Loaded: .model (the EMA generator), .discriminator (None in a slim file)
