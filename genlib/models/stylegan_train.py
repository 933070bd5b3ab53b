"""Training, loading and sampling for the conditional StyleGAN (:mod:`genlib.models.stylegan`).

One training step (:func:`stylegan_step`), as the seed's ``train_step``:

1. update D on real and fake images: WGAN critic loss ``E[D(G(z))] - E[D(x)]`` + 10 * gradient
   penalty + 0.001 * drift ``E[D(x)^2]`` (ProGAN); or the non-saturating loss + R1 (``loss="ns-r1"``);
2. update G: ``-E[D(G(z))]`` (or ``softplus(-D(G(z)))``), with style-mixing regularization;
3. move the EMA generator (the one that samples) towards G.

Progressive growing is counted in images shown (:func:`growth_phase`): 4x4 for ``stable_images``,
then each resolution fades in over ``fade_images`` (``alpha`` 0 → 1) and trains stable for
``stable_images``; the last resolution trains until the end. Since step and alpha are a pure
function of ``TrainState.images_seen``, a resumed run continues the schedule exactly.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlib.checkpoint import load_checkpoint, restore_modules, save_checkpoint
from genlib.config import config_from_dict
from genlib.data.batches import TensorBatches
from genlib.data.datasets import DataConfig, PreparedData, prepare_dataset
from genlib.losses import (
    d_bce_loss,
    d_wasserstein_loss,
    drift_penalty,
    g_nonsaturating_loss,
    g_wasserstein_loss,
    gradient_penalty,
    r1_penalty,
)
from genlib.models.conditioning import seeded_normal
from genlib.models.stylegan import (
    Discriminator,
    Generator,
    NoiseMode,
    StyleGANConfig,
    TruncationTarget,
    broadcast_ws,
    crossover_ws,
)
from genlib.models.stylegan_layers import downsample2x, resize_to, upsample2x
from genlib.runtime import get_device, seed_everything
from genlib.training import TrainResult, TrainState, adam, check_label_counts, fit, resume_state

FAMILY = "stylegan"
LOSSES: tuple[str, ...] = ("wgan-gp", "ns-r1")


@dataclass(frozen=True)
class StyleGANTrainConfig:
    """How to train the conditional StyleGAN (defaults: the seed's WGAN-GP with drift, sized for a CPU)."""

    data: DataConfig = field(default_factory=DataConfig)  # dataset, split and style rule (unused with image_folder)
    image_folder: str = ""  # train on this image folder (sub-folders = classes) instead of `data`
    interpolation: Literal["bilinear", "nearest", "lanczos"] = "bilinear"  # image-folder resize filter (the report: nearest)
    epochs: int = 8  # passes over the training split: the length of the run
    batch_size: int = 32  # images per step for both G and D
    lr: float = 1e-2  # Adam learning rate of G and D, x mapping_lr_mul in the mapping (papers: 1e-3, 10x slower here)
    beta1: float = 0.0  # Adam beta1 (ProGAN / StyleGAN: 0)
    beta2: float = 0.99  # Adam beta2
    seed: int = 0  # seeds weights, batch order, latents and noise
    device: str = "auto"  # auto | cpu | cuda | mps
    loss: Literal["wgan-gp", "ns-r1"] = "wgan-gp"  # seed: wgan-gp; ns-r1 = non-saturating + R1
    gp_weight: float = 10.0  # lambda of the gradient penalty (wgan-gp)
    drift_weight: float = 1e-3  # weight of the drift term E[D(x)^2] (wgan-gp)
    r1_gamma: float = 1.0  # R1 weight gamma, penalty gamma/2 * E||grad D(x)||^2 (ns-r1)
    penalty_every: int = 1  # lazy regularization: GP / R1 on every k-th step only, weighted x k (StyleGAN2 §B)
    fade_images: int = 10_000  # images shown while a new resolution fades in (alpha 0 -> 1)
    stable_images: int = 10_000  # images shown at each resolution after its fade-in (the last: until the end)
    style_mixing_prob: float = 0.5  # chance that a batch of fakes mixes two z at a random crossover layer
    ema_half_life_images: int = 10_000  # EMA generator: half-life of its average, in images
    ema_rampup: float = 0.05  # early on the half-life is at most ema_rampup * images seen (0 = off)

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("epochs", "fade_images", "stable_images", "ema_half_life_images"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.penalty_every < 1:
            raise ValueError(f"penalty_every must be >= 1, got {self.penalty_every}")
        if self.batch_size < 1 or self.lr <= 0:
            raise ValueError(f"batch_size must be >= 1 and lr > 0, got {self.batch_size} and {self.lr}")
        if not 0.0 <= self.style_mixing_prob <= 1.0:
            raise ValueError(f"style_mixing_prob must be in [0, 1], got {self.style_mixing_prob}")


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


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, beta: float) -> None:
    """``p_ema = beta * p_ema + (1 - beta) * p`` for every parameter; buffers (w averages, noise) are copied."""
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1 - beta)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


def generate_fakes(
    G: Generator, classes: Tensor, styles: Tensor, step: int, alpha: float, mixing_prob: float
) -> tuple[Tensor, Tensor]:
    """Fakes at the current resolution for the given labels, with style-mixing regularization.

    With probability ``mixing_prob`` the ``ws`` rows from a random crossover layer on come from a
    second latent of the same labels (StyleGAN §3.1). Returns ``(images [B, C, S, S], w [B, w_dim])``.
    """
    z = torch.randn(classes.shape[0], G.cfg.z_dim, device=classes.device)
    w = G.mapping(z, classes, styles)
    ws = broadcast_ws(w, G.cfg.num_ws)
    if mixing_prob > 0 and float(torch.rand(())) < mixing_prob:
        active = 2 * (step + 1)  # AdaIN layers in use at this step
        k = int(torch.randint(1, active, ()))
        w2 = G.mapping(torch.randn_like(z), classes, styles)
        ws = crossover_ws(ws, broadcast_ws(w2, G.cfg.num_ws), k)
    return G.synthesis(ws, step, alpha, "random"), w


def stylegan_step(
    G: Generator,
    D: Discriminator,
    G_ema: Generator,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    tc: StyleGANTrainConfig,
    state: TrainState,
) -> Callable[[tuple[Tensor, ...]], dict[str, float]]:
    """One D update, one G update and one EMA update on a batch ``(images, classes, styles)``."""
    cfg = G.cfg

    def step(batch: tuple[Tensor, ...]) -> dict[str, float]:
        x, classes, styles = batch
        g_step, alpha = growth_phase(state.images_seen, tc.fade_images, tc.stable_images, cfg.max_step)
        real = real_images_at(x, cfg.pad, g_step, alpha)

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
            loss_d = d_wasserstein_loss(d_real, d_fake) + lazy * tc.gp_weight * penalty + tc.drift_weight * drift_penalty(d_real)
        else:
            real.requires_grad_(lazy > 0)
            d_real, d_fake = critic(real), critic(fake)
            if lazy:
                penalty = r1_penalty(d_real, real)
            loss_d = d_bce_loss(d_real, d_fake) + lazy * tc.r1_gamma / 2 * penalty
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()

        # (2) update G: make D score fresh fakes high
        D.requires_grad_(False)
        fake, w = generate_fakes(G, classes, styles, g_step, alpha, tc.style_mixing_prob)
        g_fake = critic(fake)
        loss_g = g_wasserstein_loss(g_fake) if tc.loss == "wgan-gp" else g_nonsaturating_loss(g_fake)
        opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        opt_g.step()
        G.mapping.update_w_avg(w.detach(), classes, styles)

        # (3) EMA generator
        update_ema(G_ema, G, ema_beta(x.shape[0], state.images_seen, tc.ema_half_life_images, tc.ema_rampup))
        state.extra.update(growth_step=g_step, alpha=alpha)
        return {
            "loss_d": loss_d.item(), "loss_g": loss_g.item(), "penalty": lazy * penalty.item(),  # unbiased per-step mean
            "d_real": d_real.mean().item(), "d_fake": d_fake.mean().item(), "growth_step": g_step, "alpha": alpha,
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
            raise ValueError(f"model_config.n_classes={model_config.n_classes} but the image folder has {len(folder.class_names)} classes")
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


def train(
    model_config: StyleGANConfig = StyleGANConfig(),
    train_config: StyleGANTrainConfig = StyleGANTrainConfig(),
    *,
    data: PreparedData | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    max_steps: int | None = None,
    save_every: int = 0,
    slim: bool = False,
    progress: bool = True,
    callback: Callable[[TrainState], None] | None = None,
) -> TrainResult:
    """Train the conditional StyleGAN; checkpoint to ``out`` at epoch ends (and every ``save_every`` steps).

    Args:
        data: a prepared dataset (default: ``prepare_dataset(train_config.data)``, or the image folder).
        resume: a full checkpoint of an earlier run with the same configs; training continues exactly.
        max_steps: stop after this many steps in total.
        slim: save only the EMA generator (a small file that samples but cannot resume).
    Returns:
        :class:`~genlib.training.TrainResult` with modules ``generator``, ``discriminator`` and ``ema``
        (the sampler); history rows hold ``loss_d``, ``loss_g``, ``penalty``, ``d_real``, ``d_fake``,
        ``growth_step``, ``alpha`` (epoch means) and ``seconds``.
    """
    device = get_device(train_config.device)
    seed_everything(train_config.seed)
    images, classes, styles = training_tensors(model_config, train_config, data)
    G, D = Generator(model_config).to(device), Discriminator(model_config).to(device)
    G_ema = copy.deepcopy(G).eval().requires_grad_(False)
    betas = (float(train_config.beta1), float(train_config.beta2))
    opt_g = adam(G, train_config.lr, betas)
    opt_d = adam(D, train_config.lr, betas)
    modules = {"generator": G, "discriminator": D, "ema": G_ema}
    optimizers = {"opt_g": opt_g, "opt_d": opt_d}
    state = resume_state(resume, FAMILY, modules, optimizers) if resume else TrainState()
    batches = TensorBatches(
        (images.to(device), classes.to(device), styles.to(device)), train_config.batch_size, drop_last=True, seed=train_config.seed
    )

    def save(st: TrainState) -> None:
        save_checkpoint(
            out, family=FAMILY, model_config=model_config, train_config=train_config,
            modules={"ema": G_ema} if slim else modules, optimizers=None if slim else optimizers,
            state=st.to_dict(), include_rng=not slim,
        )

    fit(
        stylegan_step(G, D, G_ema, opt_g, opt_d, train_config, state), batches, state, train_config.epochs,
        max_steps=max_steps, save=save if out else None, save_every=save_every, callback=callback,
        progress=progress, desc="stylegan",
    )
    D.requires_grad_(True)
    return TrainResult(modules, state, Path(out) if out else None)


@dataclass
class LoadedStyleGAN:
    """A StyleGAN rebuilt from a checkpoint: the EMA generator samples; D only in full checkpoints."""

    model: Generator
    model_config: StyleGANConfig
    train_config: StyleGANTrainConfig
    state: TrainState
    discriminator: Discriminator | None = None


def load(path: str | Path, device: str = "cpu") -> LoadedStyleGAN:
    """Rebuild the EMA generator (and D when present) from a checkpoint, in eval mode (no pickle)."""
    ckpt = load_checkpoint(path)
    if ckpt.family != FAMILY:
        raise ValueError(f"{path} holds a {ckpt.family!r} model, not a {FAMILY!r}")
    model_config = config_from_dict(StyleGANConfig, ckpt.model_config)
    G = Generator(model_config)
    restore_modules(ckpt, {"ema": G})
    D = None
    if "discriminator" in ckpt.modules:
        D = Discriminator(model_config)
        restore_modules(ckpt, {"discriminator": D})
        D = D.to(get_device(device)).eval()
    train_config = config_from_dict(StyleGANTrainConfig, ckpt.train_config)
    return LoadedStyleGAN(G.to(get_device(device)).eval(), model_config, train_config, TrainState.from_dict(ckpt.state), D)


def _noise_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed + 1_000_003)  # a stream apart from the latents' (seeded_normal(seed))


@torch.no_grad()
def sample(
    model: Generator,
    classes: Tensor,
    styles: Tensor,
    *,
    seed: int = 0,
    psi: float = 1.0,
    truncation: TruncationTarget = "label",
    noise_mode: NoiseMode = "random",
    same_noise: bool = False,
) -> Tensor:
    """Draw images for the labels: ``[N, C, image_size, image_size]`` in [0, 1] (``[N, 1, 28, 28]`` on kana49).

    ``z`` and the noise come from CPU generators seeded by ``seed``: the same images on any device.
    ``psi < 1`` truncates ``w`` towards the mean of its (class, style) label (or the global mean).
    ``same_noise=True`` uses one ``z`` and the fixed noise maps for every image: only the labels differ.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    classes, styles = classes.to(device), styles.to(device)
    z = seeded_normal((1 if same_noise else classes.shape[0], model.cfg.z_dim), seed, device).expand(classes.shape[0], -1)
    noise_mode = "const" if same_noise else noise_mode
    w = model.mapping(z, classes, styles, psi=psi, truncation=truncation)
    img = model.synthesis(w, None, 1.0, noise_mode, _noise_generator(seed))
    model.train(was_training)
    return model.to_unit_images(img)


@torch.no_grad()
def sample_mixed(
    model: Generator,
    classes: Tensor,
    styles: Tensor,
    classes_b: Tensor,
    styles_b: Tensor,
    *,
    seed_a: int = 0,
    seed_b: int = 1,
    t: float | None = None,
    crossover: int | None = None,
    psi: float = 1.0,
    noise_mode: NoiseMode = "const",
) -> Tensor:
    """Style mixing of A (labels, ``seed_a``) and B (``classes_b``, ``styles_b``, ``seed_b``) in [0, 1].

    Exactly one of ``t`` (blend ``(1 - t) * w_a + t * w_b``; the seed's 0.4/0.6 mix is ``t = 0.6``) or
    ``crossover`` (coarse layers ``ws[:, :crossover]`` from A). Returns ``[N, C, image_size, image_size]``.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    z_a = seeded_normal((classes.shape[0], model.cfg.z_dim), seed_a, device)
    z_b = seeded_normal((classes_b.shape[0], model.cfg.z_dim), seed_b, device)
    img = model.mix(
        z_a, z_b, classes.to(device), styles.to(device), t=t, crossover=crossover, classes_b=classes_b.to(device),
        styles_b=styles_b.to(device), psi=psi, noise_mode=noise_mode, noise_generator=_noise_generator(seed_a),
    )
    model.train(was_training)
    return model.to_unit_images(img)
