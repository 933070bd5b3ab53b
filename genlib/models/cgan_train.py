"""Training, snapshots and loading for the conditional GANs (seed 000 §4.3.4; seed 004's training loop).

One step on a real batch ``(x, y)`` (seed eqs. (5)–(6)):

1. update D: ascend ``log D(x | y) + log(1 - D(G(z | y') | y'))`` — i.e. descend the BCE of real
   against 1 and fake against 0 — with ``y' = y`` (seed 000) or random labels (seed 004);
2. update G: descend ``-log D(G(z | y') | y')``, the non-saturating form of eq. (6) (the seed's
   ``criterion(output, ones)``), on the same fakes;
3. optionally move an exponential moving average (EMA) of G's weights.

``d_update="joint"`` takes one D step on ``(BCE_real + BCE_fake) / 2`` (seed 000);
``d_update="split"`` takes one step on the real half, then one on the fake half (seed 004's two
``train_on_batch`` calls). ``loss="wgan-gp"`` swaps in the Wasserstein critic loss with gradient
penalty (Gulrajani et al. 2017; the seed's future work, §7.3).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlib.checkpoint import load_checkpoint, restore_modules, save_checkpoint
from genlib.config import config_from_dict
from genlib.data.batches import TensorBatches
from genlib.data.datasets import DataConfig, LabelledImages, PreparedData
from genlib.losses import d_bce_loss, d_wasserstein_loss, g_nonsaturating_loss, g_wasserstein_loss, gradient_penalty
from genlib.models.cgan import CGANConfig, build_cgan, sample, to_model_range
from genlib.models.conditioning import seeded_normal
from genlib.runtime import autocast, check_precision, get_device
from genlib.training import TrainResult, TrainState, adam, fit, resume_state, start_training

if TYPE_CHECKING:
    from matplotlib.figure import Figure

FAMILY = "cgan"


@dataclass(frozen=True)
class CGANTrainConfig:
    """How to train a CGAN (defaults: seed 000 §4.3.4 — Adam 1e-4 with torch's default betas, batch 128)."""

    data: DataConfig = field(default_factory=DataConfig)  # dataset, split and style rule
    epochs: int = 20  # passes over the training split (seed 000: 2000, §6: 100; seed 004: 100)
    batch_size: int = 128  # real images per step (both seeds: 128)
    lr: float = 1e-4  # Adam learning rate of G and D (seed 000: 1e-4; seed 004: 3e-4)
    seed: int = 0  # seeds weights, batch order, noise and random labels
    device: str = "auto"  # auto | cpu | cuda | mps
    beta1: float = 0.9  # Adam beta1 (seed 000: torch default 0.9; seed 004: 0.5)
    beta2: float = 0.999  # Adam beta2
    loss: Literal["bce", "wgan-gp"] = "bce"  # bce: the seeds' minimax BCE; wgan-gp: Wasserstein critic + gradient penalty
    gp_weight: float = 10.0  # wgan-gp: lambda of the gradient penalty (paper: 10)
    n_critic: int = 1  # D updates per G update, each on the same real batch with fresh fakes (WGAN-GP paper: 5)
    d_update: Literal["joint", "split"] = "joint"  # joint: one D step on (real+fake)/2 (seed 000); split: real, then fake (seed 004)
    fake_labels: Literal["real", "random"] = "real"  # labels of the fakes: the real batch's (seed 000) or uniform random (seed 004)
    ema_decay: float = 0.0  # EMA of G's weights (e.g. 0.999, warmed up as min(decay, (1+t)/(10+t))); 0 = off
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: forward passes under bf16 autocast (~2x on AVX-512 CPUs), fp32 weights and losses
    snapshot_every: int = 0  # write snapshot figures every this many epochs (0 = never)
    snapshot_dir: str = ""  # folder for snapshot PNGs (required when snapshot_every > 0)

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {self.epochs} and {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.loss not in ("bce", "wgan-gp"):
            raise ValueError(f"loss must be 'bce' or 'wgan-gp', got {self.loss!r}")
        if self.d_update not in ("joint", "split"):
            raise ValueError(f"d_update must be 'joint' or 'split', got {self.d_update!r}")
        if self.d_update == "split" and self.loss != "bce":
            raise ValueError("d_update='split' is seed 004's BCE loop; use d_update='joint' with loss='wgan-gp'")
        if self.fake_labels not in ("real", "random"):
            raise ValueError(f"fake_labels must be 'real' or 'random', got {self.fake_labels!r}")
        if self.n_critic < 1:
            raise ValueError(f"n_critic must be >= 1, got {self.n_critic}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        check_precision(self.precision)
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0, got {self.snapshot_every}")
        if self.snapshot_every and not self.snapshot_dir:
            raise ValueError("snapshot_every > 0 needs a snapshot_dir to write the PNGs to")


def ema_decay_at(decay: float, step: int) -> float:
    """Warm-up of the EMA decay: ``min(decay, (1 + t) / (10 + t))`` after ``t`` updates, so the
    average forgets the random initial weights quickly (as TensorFlow's ``ExponentialMovingAverage``)."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``theta_ema <- decay * theta_ema + (1 - decay) * theta`` for every parameter; buffers are copied."""
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)


def adversarial_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    train_config: CGANTrainConfig,
    ema: nn.Module | None = None,
    start_step: int = 0,
) -> Callable[[tuple[Tensor, ...]], dict[str, float]]:
    """One CGAN step on a batch ``(images [B,1,28,28] in [0,1], classes [B], styles [B])``.

    ``start_step`` is the number of steps already taken (a resumed run), for the EMA warm-up.

    Returns ``d_loss``, ``g_loss`` and the critic's mean output on real and fake images
    (``d_real``/``d_fake``: probabilities for BCE, scores for WGAN-GP; plus ``gp`` for WGAN-GP).
    """
    mc, tc = generator.config, train_config
    wgan = tc.loss == "wgan-gp"
    steps_done = [start_step]
    device = next(generator.parameters()).device

    def G(z: Tensor, classes: Tensor, styles: Tensor) -> Tensor:  # the generator in the run's precision, float32 out
        with autocast(device, tc.precision):
            return generator(z, classes, styles).float()

    def D(x: Tensor, classes: Tensor, styles: Tensor) -> Tensor:  # the discriminator's logits, float32 for the loss
        with autocast(device, tc.precision):
            return discriminator(x, classes, styles).float()

    def fakes(classes: Tensor, styles: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if tc.fake_labels == "random":  # seed 004: fakes get uniformly random labels
            classes = torch.randint(0, mc.n_classes, classes.shape, device=classes.device)
            styles = torch.randint(0, mc.n_styles, styles.shape, device=styles.device)
        z = torch.randn(classes.shape[0], mc.latent_dim, device=classes.device)  # z ~ N(0, I)
        return G(z, classes, styles), classes, styles

    def d_loss_of(real: Tensor, classes: Tensor, styles: Tensor, fake: Tensor, fc: Tensor, fs: Tensor) -> tuple[Tensor, dict[str, float]]:
        real_out, fake_out = D(real, classes, styles), D(fake.detach(), fc, fs)
        if not wgan:  # L_D = 1/2 [BCE(D(x|y), 1) + BCE(D(G(z|y')|y'), 0)]
            loss = d_bce_loss(real_out, fake_out)
            return loss, {"d_real": torch.sigmoid(real_out).mean().item(), "d_fake": torch.sigmoid(fake_out).mean().item()}
        gp = gradient_penalty(lambda x_hat: D(x_hat, classes, styles), real, fake)  # x_hat bound to the real labels
        loss = d_wasserstein_loss(real_out, fake_out) + tc.gp_weight * gp  # E[D(G(z))] - E[D(x)] + lambda * GP
        return loss, {"d_real": real_out.mean().item(), "d_fake": fake_out.mean().item(), "gp": gp.item()}

    def step(batch: tuple[Tensor, ...]) -> dict[str, float]:
        x, classes, styles = batch
        real = to_model_range(x, mc)  # seed 000: x * 2 - 1 for the tanh generator
        # (1) update D: max log D(x|y) + log(1 - D(G(z|y')|y'))
        for _ in range(tc.n_critic):
            fake, fc, fs = fakes(classes, styles)
            if tc.d_update == "joint":
                d_loss, metrics = d_loss_of(real, classes, styles, fake, fc, fs)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
            else:  # seed 004: one step on the real half, then one on the fake half
                real_out = D(real, classes, styles)
                loss_real = F.binary_cross_entropy_with_logits(real_out, torch.ones_like(real_out))  # -log D(x|y)
                opt_d.zero_grad(set_to_none=True)
                loss_real.backward()
                opt_d.step()
                fake_out = D(fake.detach(), fc, fs)
                loss_fake = F.binary_cross_entropy_with_logits(fake_out, torch.zeros_like(fake_out))  # -log(1 - D(G(z)))
                opt_d.zero_grad(set_to_none=True)
                loss_fake.backward()
                opt_d.step()
                d_loss = 0.5 * (loss_real.detach() + loss_fake.detach())
                metrics = {"d_real": torch.sigmoid(real_out).mean().item(), "d_fake": torch.sigmoid(fake_out).mean().item()}
        # (2) update G: max log D(G(z|y')|y') on the same fakes (the seed's criterion(output, ones));
        # D is frozen meanwhile: G needs gradients through D, not D's own (the seed computes and discards them)
        discriminator.requires_grad_(False)
        fake_out = D(fake, fc, fs)
        g_loss = g_wasserstein_loss(fake_out) if wgan else g_nonsaturating_loss(fake_out)
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        discriminator.requires_grad_(True)
        # (3) EMA of G's weights
        if ema is not None:
            update_ema(ema, generator, ema_decay_at(tc.ema_decay, steps_done[0]))
        steps_done[0] += 1
        return {"d_loss": d_loss.item(), "g_loss": g_loss.item(), **metrics}

    return step


def write_snapshot(
    generator: nn.Module,
    real: LabelledImages,
    history: Sequence[dict[str, float]],
    epoch: int,
    model_config: CGANConfig,
    train_config: CGANTrainConfig,
    class_names: Sequence[str],
    folder: Path,
) -> list[Path]:
    """Save the training figures of ``epoch`` as PNGs in ``folder`` and return their paths.

    - ``epoch_NNNN_real_vs_fake.png``: real images and fakes with the same labels and fixed noise,
      captioned with the hyperparameters (seed 000 Figures 12–14);
    - ``epoch_NNNN_classes.png``: one fixed ``z`` across every class, thin and thick;
    - ``epoch_NNNN_styles.png``: the same classes and noise, thin next to thick;
    - ``losses.png``: D and G loss per epoch so far (seed 000 Figure 20).
    """
    from genlib.plots import class_style_grid, ordered_labels, plot_history, real_vs_fake, save_figure

    folder.mkdir(parents=True, exist_ok=True)
    seed, tag = train_config.seed, f"epoch_{epoch:04d}"
    fake = sample(generator, real.classes, real.styles, seed=seed)
    caption = (
        f"Learning Rate: {train_config.lr}, Latent Dim: {model_config.latent_dim}, "
        f"Batch Size: {train_config.batch_size}, Total Epochs: {train_config.epochs}, Epoch: {epoch}"
    )
    paths = [folder / f"{tag}_real_vs_fake.png", folder / f"{tag}_classes.png", folder / f"{tag}_styles.png"]
    save_figure(real_vs_fake(real.images, fake, caption), str(paths[0]))
    classes, styles = ordered_labels(model_config.n_classes, model_config.n_styles)
    grid = sample(generator, classes, styles, seed=seed, same_noise=True)
    save_figure(class_style_grid(grid, class_names, title=f"one z, every class and style - epoch {epoch}"), str(paths[1]))
    save_figure(style_pairs_figure(generator, class_names, seed=seed, title=f"same z, thin vs thick - epoch {epoch}"), str(paths[2]))
    if history:
        paths.append(folder / "losses.png")
        save_figure(plot_history(history, ["d_loss", "g_loss"], title="CGAN loss"), str(paths[-1]))
    return paths


def style_pairs_figure(
    generator: nn.Module,
    class_names: Sequence[str],
    classes: Sequence[int] = (0, 10, 20, 30, 40),
    n_noise: int = 8,
    seed: int = 0,
    title: str | None = None,
) -> Figure:
    """Thin and thick panels side by side: row ``i`` is ``classes[i]``, column ``j`` the noise ``z_j`` (same in both panels)."""
    from genlib.plots import side_by_side

    classes = [c for c in classes if c < generator.config.n_classes] or [0]
    z = seeded_normal((n_noise, generator.config.latent_dim), seed).repeat(len(classes), 1)  # [rows * n_noise, latent]
    c = torch.tensor(classes).repeat_interleave(n_noise)
    panels = {}
    for s, name in enumerate(("thin", "thick")[: generator.config.n_styles]):
        panels[name] = sample(generator, c, torch.full_like(c, s), z=z)
    rows = ", ".join(class_names[k] for k in classes)
    return side_by_side(panels, ncol=n_noise, suptitle=title if title is None else f"{title} (rows: {rows})")


def train(
    model_config: CGANConfig,
    train_config: CGANTrainConfig = CGANTrainConfig(),
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
    """Train a CGAN; write a checkpoint to ``out`` at each epoch end (and every ``save_every`` steps).

    Args:
        data: a prepared dataset (default: ``prepare_dataset(train_config.data)``).
        resume: a full checkpoint of an earlier run with the same configs; training continues exactly.
        max_steps: stop after this many steps (one step = n_critic D updates + one G update).
        slim: save weights only (small files for ``data/``; such a checkpoint cannot resume).
    Returns:
        :class:`~genlib.training.TrainResult` with ``modules["generator"]``, ``["discriminator"]``
        (and ``["ema"]``); history rows hold ``d_loss``, ``g_loss``, ``d_real``, ``d_fake``, ``seconds``.
    Raises:
        genlib.training.TrainingDiverged: a loss became NaN/inf (the last checkpoint is kept).
    """
    device, data = start_training(train_config, model_config, data)
    generator, discriminator = (m.to(device) for m in build_cgan(model_config))
    betas = (train_config.beta1, train_config.beta2)
    opt_g = adam(generator, train_config.lr, betas)
    opt_d = adam(discriminator, train_config.lr, betas)
    modules = {"generator": generator, "discriminator": discriminator}
    ema = None
    if train_config.ema_decay > 0:
        ema = modules["ema"] = copy.deepcopy(generator).eval().requires_grad_(False)
    optimizers = {"generator": opt_g, "discriminator": opt_d}
    state = resume_state(resume, FAMILY, modules, optimizers) if resume else TrainState()
    train_split = data.train.to(device)
    batches = TensorBatches((train_split.images, train_split.classes, train_split.styles), train_config.batch_size, seed=train_config.seed)

    def save(st: TrainState) -> None:
        save_checkpoint(
            out, family=FAMILY, model_config=model_config, train_config=train_config, modules=modules,
            optimizers=None if slim else optimizers, state=st.to_dict(), include_rng=not slim,
        )

    def snapshot(epoch: int) -> None:
        real = train_split.subset(slice(0, 32))
        shown = ema if ema is not None else generator
        write_snapshot(shown, real, state.history, epoch, model_config, train_config, data.class_names, Path(train_config.snapshot_dir))

    def after_epoch(st: TrainState) -> None:
        if train_config.snapshot_every and st.epoch % train_config.snapshot_every == 0:
            snapshot(st.epoch)
        if callback is not None:
            callback(st)

    if train_config.snapshot_every and state.step == 0:
        snapshot(0)  # the untrained generator: noise (seed 000 Figure 12)
    fit(
        adversarial_step(generator, discriminator, opt_g, opt_d, train_config, ema, state.step), batches, state, train_config.epochs,
        max_steps=max_steps, save=save if out else None, save_every=save_every, callback=after_epoch,
        progress=progress, desc=f"cgan-{model_config.arch}",
    )
    for m in modules.values():
        m.eval()
    return TrainResult(modules, state, Path(out) if out else None)


@dataclass
class LoadedCGAN:
    """A CGAN rebuilt from a checkpoint. ``model`` is the generator to sample from (the EMA copy if trained with one)."""

    model: nn.Module
    model_config: CGANConfig
    train_config: CGANTrainConfig
    state: TrainState
    generator: nn.Module
    discriminator: nn.Module


def load(path: str | Path, device: str = "cpu") -> LoadedCGAN:
    """Rebuild a CGAN from a checkpoint (no code edits, no pickle), every module in eval mode."""
    ckpt = load_checkpoint(path)
    if ckpt.family != FAMILY:
        raise ValueError(f"{path} holds a {ckpt.family!r} model, not a {FAMILY!r}")
    model_config = config_from_dict(CGANConfig, ckpt.model_config)
    generator, discriminator = build_cgan(model_config)
    modules = {"generator": generator, "discriminator": discriminator}
    if "ema" in ckpt.modules:
        modules["ema"] = build_cgan(model_config)[0]
        if "generator" not in ckpt.modules:  # a slim file keeps the EMA copy only: it stands in for the generator
            del modules["generator"]
    restore_modules(ckpt, modules)
    generator = modules.get("generator", modules.get("ema"))
    dev = get_device(device)
    for m in modules.values():
        m.to(dev).eval()
    return LoadedCGAN(
        modules.get("ema", generator), model_config, config_from_dict(CGANTrainConfig, ckpt.train_config),
        TrainState.from_dict(ckpt.state), generator, discriminator,
    )
