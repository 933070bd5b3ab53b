"""The conditional GAN family: its adversarial step and its :class:`~genlib.scaffold.Family` (the K49 report §4.3.4; the StyleGAN report's loop).

One step on a real batch ``(x, y)`` (the K49 report's eqs. (5)–(6)):

1. update D: ascend ``log D(x | y) + log(1 - D(G(z | y') | y'))`` — i.e. descend the BCE of real
   against 1 and fake against 0 — with ``y' = y`` (the K49 report) or random labels (the StyleGAN report);
2. update G: descend ``-log D(G(z | y') | y')``, the non-saturating form of eq. (6) (the K49
   report's ``criterion(output, ones)``), on the same fakes;
3. optionally move an exponential moving average (EMA) of G's weights.

``d_update="joint"`` takes one D step on ``(BCE_real + BCE_fake) / 2`` (the K49 report);
``d_update="split"`` takes one step on the real half, then one on the fake half (the StyleGAN
report's two ``train_on_batch`` calls). ``loss="wgan-gp"`` swaps in the Wasserstein critic loss with gradient
penalty (Gulrajani et al. 2017; the K49 report's future work, §7.3).

Techniques for image quality beyond both reports, each one option (measured one by one in
``genlib experiments --suite quality``): ``loss="hinge"`` (:func:`~genlib.losses.d_hinge_loss`),
``lr_d`` ≠ ``lr`` (two time-scale update rule, TTUR: Heusel et al. 2017), ``r1_gamma`` (the R1
penalty ``gamma/2 * E||grad_x D(x)||^2`` on real images, Mescheder et al. 2018), ``augment``
(DiffAugment: :mod:`genlib.augment`) and, in the model config, a projection discriminator and
spectral normalisation (:mod:`genlib.models.cgan_projection`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlib.config import check_choice, check_range
from genlib.data.datasets import DataConfig
from genlib.augment import diff_augment, parse_policy
from genlib.losses import d_bce_loss, d_hinge_loss, d_wasserstein_loss, g_nonsaturating_loss, g_wasserstein_loss, gradient_penalty, r1_penalty
from genlib.models.cgan import CGANConfig, build_cgan, sample, to_model_range
from genlib.models.manual_backward import BACKWARDS, cgan_step, check_manual_cgan, check_mlp_cgan
from genlib.models.snapshots import write_snapshot
from genlib.runtime import check_compute
from genlib.scaffold import Family, Run, check_run_length
from genlib.training import StepFn, adam, ema_decay_at, update_ema


LOSSES: tuple[str, ...] = ("bce", "hinge", "wgan-gp")


@dataclass(frozen=True)
class CGANTrainConfig:
    """How to train a CGAN (defaults: the K49 report's §4.3.4 — Adam 1e-4 with torch's default betas, batch 128)."""

    data: DataConfig = field(default_factory=DataConfig)  # dataset, split and style rule
    epochs: int = 20  # passes over the training split (the K49 report: 2000, its §6: 100; the StyleGAN report: 100)
    batch_size: int = 128  # real images per step (both reports: 128)
    lr: float = 1e-4  # Adam learning rate of G and D (the K49 report: 1e-4; the StyleGAN report: 3e-4)
    seed: int = 0  # seeds weights, batch order, noise and random labels
    device: str = "auto"  # auto | cpu | cuda | mps
    beta1: float = 0.9  # Adam beta1 (the K49 report: torch's default 0.9; the StyleGAN report: 0.5)
    beta2: float = 0.999  # Adam beta2
    loss: Literal["bce", "hinge", "wgan-gp"] = "bce"  # bce: the reports' minimax BCE; hinge: margin loss (SNGAN); wgan-gp: Wasserstein critic + gradient penalty
    lr_d: float = 0.0  # Adam learning rate of D when it differs from G's (TTUR, e.g. 4x lr); 0 = lr
    r1_gamma: float = 0.0  # weight gamma of the R1 penalty gamma/2 * E||grad D(x)||^2 on real images; 0 = off
    augment: str = ""  # DiffAugment of D's inputs: comma-separated color, translation, cutout; empty = off
    gp_weight: float = 10.0  # wgan-gp: lambda of the gradient penalty (paper: 10)
    n_critic: int = 1  # D updates per G update, each on the same real batch with fresh fakes (WGAN-GP paper: 5)
    d_update: Literal["joint", "split"] = "joint"  # joint: one D step on (real+fake)/2 (the K49 report); split: real, then fake (the StyleGAN report)
    fake_labels: Literal["real", "random"] = "real"  # labels of the fakes: the real batch's (the K49 report) or uniform random (the StyleGAN report)
    ema_decay: float = 0.0  # EMA of G's weights (e.g. 0.999, warmed up as min(decay, (1+t)/(10+t))); 0 = off
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: forward passes under bf16 autocast (~2x on AVX-512 CPUs), fp32 weights and losses
    channels_last: bool = False  # conv models: NHWC memory layout for the convolutions (same math)
    compile: bool = False  # torch.compile the modules (slow first steps; not with loss="wgan-gp": no double backward); with backward="manual" also the gradient functions
    backward: Literal["autograd", "manual"] = "autograd"  # manual: the MLP CGAN's gradients written out (BCE, joint D update; same math, faster on a CPU)
    snapshot_every: int = 0  # write snapshot figures every this many epochs (0 = never)
    snapshot_dir: str = ""  # folder for snapshot PNGs (required when snapshot_every > 0)

    def __post_init__(self) -> None:
        check_run_length(self)
        check_range("lr", self.lr, 0, low_open=True)
        check_range("beta1", self.beta1, 0, 1, high_open=True)
        check_range("beta2", self.beta2, 0, 1, high_open=True)
        check_range("gp_weight", self.gp_weight, 0)
        check_range("lr_d", self.lr_d, 0)
        check_range("r1_gamma", self.r1_gamma, 0)
        parse_policy(self.augment)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        if self.d_update not in ("joint", "split"):
            raise ValueError(f"d_update must be 'joint' or 'split', got {self.d_update!r}")
        if self.d_update == "split" and self.loss != "bce":
            raise ValueError(f"d_update='split' is the StyleGAN report's BCE loop; use d_update='joint' with loss={self.loss!r}")
        if self.d_update == "split" and (self.r1_gamma or self.augment):
            raise ValueError("r1_gamma and augment need d_update='joint' (one D pass over real || fake)")
        if self.fake_labels not in ("real", "random"):
            raise ValueError(f"fake_labels must be 'real' or 'random', got {self.fake_labels!r}")
        if not 1 <= self.n_critic <= 100:
            raise ValueError(f"n_critic must be in 1..100 (the WGAN-GP paper: 5), got {self.n_critic}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1) (0 = off), got {self.ema_decay}")
        check_compute(self)
        check_choice("backward", self.backward, BACKWARDS)
        if self.backward == "manual":
            check_manual_cgan(self)
        if self.compile and (self.loss == "wgan-gp" or self.r1_gamma):
            raise ValueError("compile=True cannot train loss='wgan-gp' or r1_gamma > 0: torch.compile has no double backward for the penalty")
        if self.snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0, got {self.snapshot_every}")
        if self.snapshot_every and not self.snapshot_dir:
            raise ValueError("snapshot_every > 0 needs a snapshot_dir to write the PNGs to")
        if self.snapshot_every and Path(self.snapshot_dir).exists() and not Path(self.snapshot_dir).is_dir():
            raise ValueError(f"snapshot_dir {self.snapshot_dir!r} is a file: give a folder for the snapshot PNGs")


def adversarial_step(
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    train_config: CGANTrainConfig,
    ema: nn.Module | None = None,
    start_step: int = 0,
) -> StepFn:
    """One CGAN step on a batch ``(images [B,1,28,28] in [0,1], classes [B], styles [B])``.

    ``start_step`` is the number of steps already taken (a resumed run), for the EMA warm-up.

    Returns ``d_loss``, ``g_loss`` and the critic's mean output on real and fake images
    (``d_real``/``d_fake``: probabilities for BCE, scores for hinge and WGAN-GP; plus ``gp`` for
    WGAN-GP and ``r1`` with an R1 penalty).
    """
    mc, tc = generator.config, train_config
    steps_done = [start_step]
    G = generator  # under precision="bf16" the scaffold runs the step in autocast, outputs float32
    ops = parse_policy(tc.augment)
    background, span = (-1.0, 2.0) if mc.output == "tanh" else (0.0, 1.0)  # an empty pixel and the width of G's range

    def D(x: Tensor, classes: Tensor, styles: Tensor) -> Tensor:  # D sees augmented images only (DiffAugment), real and fake alike
        return discriminator(diff_augment(x, ops, background, span), classes, styles)

    def fakes(classes: Tensor, styles: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if tc.fake_labels == "random":  # the StyleGAN report: fakes get uniformly random labels
            classes = torch.randint(0, mc.n_classes, classes.shape, device=classes.device)
            styles = torch.randint(0, mc.n_styles, styles.shape, device=styles.device)
        z = torch.randn(classes.shape[0], mc.latent_dim, device=classes.device)  # z ~ N(0, I)
        return G(z, classes, styles), classes, styles

    def d_loss_of(real: Tensor, classes: Tensor, styles: Tensor, fake: Tensor, fc: Tensor, fs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        if tc.r1_gamma:
            real = real.detach().requires_grad_(True)  # R1 differentiates D's verdict on the real images
        both = D(torch.cat([real, fake.detach()]), torch.cat([classes, fc]), torch.cat([styles, fs]))  # one D pass over real || fake
        real_out, fake_out = both[: real.shape[0]], both[real.shape[0] :]
        if tc.loss == "bce":  # L_D = 1/2 [BCE(D(x|y), 1) + BCE(D(G(z|y')|y'), 0)]
            loss = d_bce_loss(real_out, fake_out)
            metrics = {"d_real": torch.sigmoid(real_out).mean().detach(), "d_fake": torch.sigmoid(fake_out).mean().detach()}
        elif tc.loss == "hinge":  # L_D = E[max(0, 1 - D(x|y))] + E[max(0, 1 + D(G(z|y')|y'))]
            loss = d_hinge_loss(real_out, fake_out)
            metrics = {"d_real": real_out.mean().detach(), "d_fake": fake_out.mean().detach()}
        else:
            gp = gradient_penalty(lambda x_hat: D(x_hat, classes, styles), real, fake)  # x_hat bound to the real labels
            loss = d_wasserstein_loss(real_out, fake_out) + tc.gp_weight * gp  # E[D(G(z))] - E[D(x)] + lambda * GP
            metrics = {"d_real": real_out.mean().detach(), "d_fake": fake_out.mean().detach(), "gp": gp.detach()}
        if tc.r1_gamma:
            r1 = r1_penalty(real_out, real)  # E ||grad_x D(x|y)||^2
            loss = loss + tc.r1_gamma / 2 * r1
            metrics["r1"] = r1.detach()
        return loss, metrics

    def step(batch: tuple[Tensor, ...]) -> dict[str, Tensor]:
        x, classes, styles = batch
        real = to_model_range(x, mc)  # the K49 report: x * 2 - 1 for the tanh generator
        # (1) update D: max log D(x|y) + log(1 - D(G(z|y')|y'))
        for _ in range(tc.n_critic):
            fake, fc, fs = fakes(classes, styles)
            if tc.d_update == "joint":
                d_loss, metrics = d_loss_of(real, classes, styles, fake, fc, fs)
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()
            else:  # the StyleGAN report: one step on the real half, then one on the fake half
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
                metrics = {"d_real": torch.sigmoid(real_out).mean().detach(), "d_fake": torch.sigmoid(fake_out).mean().detach()}
        # (2) update G: max log D(G(z|y')|y') on the same fakes (the K49 report's criterion(output, ones));
        # D is frozen meanwhile: G needs gradients through D, not D's own (the K49 report computes and discards them)
        discriminator.requires_grad_(False)
        fake_out = D(fake, fc, fs)
        g_loss = g_nonsaturating_loss(fake_out) if tc.loss == "bce" else g_wasserstein_loss(fake_out)  # hinge and WGAN: -E[D(G(z))]
        opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        opt_g.step()
        discriminator.requires_grad_(True)
        # (3) EMA of G's weights
        if ema is not None:
            update_ema(ema, generator, ema_decay_at(tc.ema_decay, steps_done[0]))
        steps_done[0] += 1
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), **metrics}  # left on the device: fit reads them in bulk

    return step


def _build(model_config: CGANConfig, train_config: CGANTrainConfig) -> dict[str, nn.Module]:
    if train_config.backward == "manual":
        check_mlp_cgan(model_config)
    generator, discriminator = build_cgan(model_config)
    modules = {"generator": generator, "discriminator": discriminator}
    if train_config.ema_decay > 0:  # the EMA copy starts as G's initial weights and samples once trained
        modules["ema"] = copy.deepcopy(generator).eval().requires_grad_(False)
    return modules


def _optimizers(modules: dict[str, nn.Module], train_config: CGANTrainConfig) -> dict[str, torch.optim.Optimizer]:
    tc = train_config
    betas = (tc.beta1, tc.beta2)
    return {"generator": adam(modules["generator"], tc.lr, betas), "discriminator": adam(modules["discriminator"], tc.lr_d or tc.lr, betas)}


def _step(run: Run) -> StepFn:
    m, o = run.modules, run.optimizers
    if run.train_config.backward == "manual":
        return cgan_step(m["generator"], m["discriminator"], o["generator"], o["discriminator"], run.train_config, m.get("ema"), run.state.step)
    return adversarial_step(m["generator"], m["discriminator"], o["generator"], o["discriminator"], run.train_config, m.get("ema"), run.state.step)


def _snapshot(run: Run) -> None:
    """The snapshot figures of the sampling generator (the EMA copy where there is one) after ``run.state.epoch`` epochs."""
    tc = run.train_config
    shown = run.modules.get("ema", run.modules["generator"])
    real = run.data.train.subset(slice(0, 32)).to(run.device)
    write_snapshot(shown, real, run.state.history, run.state.epoch, run.model_config, tc, run.data.class_names, Path(tc.snapshot_dir))


def _first_snapshot(run: Run) -> None:  # the untrained generator draws noise (the K49 report's Figure 12)
    if run.train_config.snapshot_every and run.state.step == 0:
        _snapshot(run)


def _epoch_snapshot(run: Run) -> None:
    if run.train_config.snapshot_every and run.state.epoch % run.train_config.snapshot_every == 0:
        _snapshot(run)


def _slim(names: frozenset[str]) -> tuple[str, ...] | None:
    """A slim CGAN file keeps what samples and D: the EMA copy stands in for G when there is one."""
    return ("ema", "discriminator") if "ema" in names else None


FAMILY = Family(
    name="cgan",
    description="conditional GAN (the K49 report's MLP and its variants, the StyleGAN report's convolutional cGAN)",
    model_config=CGANConfig,
    train_config=CGANTrainConfig,
    build=_build,
    optimizers=_optimizers,
    step=_step,
    sampler=("ema", "generator"),
    sample=sample,
    before_fit=_first_snapshot,
    after_epoch=_epoch_snapshot,
    slim=_slim,
)
train = FAMILY.train  # train(model_config, train_config, *, data, out, resume, max_steps, save_every, slim, progress, callback)
load = FAMILY.load  # load(path, device="cpu") -> Loaded: .model (EMA if trained with one), .generator, .discriminator
