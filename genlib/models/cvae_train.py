"""The conditional VAE family: its training step, its test pass and its :class:`~genlib.scaffold.Family` (the K49 report §4.2.2–4.2.3).

The K49 report trains with Adam (lr 1e-3), batch 100, minimising ``BCE(sum) + KL`` per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor, nn

from genlib.config import check_choice, check_range
from genlib.data.datasets import DataConfig, LabelledImages
from genlib.losses import elbo_loss
from genlib.models.cvae import CVAEConfig, build_cvae, fit_prior, sample
from genlib.models.manual_backward import BACKWARDS, check_mlp_cvae, cvae_step
from genlib.runtime import check_compute, evaluating
from genlib.scaffold import Family, Run, check_run_length
from genlib.training import Metric, StepFn, adam


@dataclass(frozen=True)
class CVAETrainConfig:
    """How to train a CVAE (defaults: the K49 report's §4.2.1 hyperparameters, fewer epochs)."""

    data: DataConfig = field(default_factory=DataConfig)  # dataset, split and style rule
    epochs: int = 20  # passes over the training split (the K49 report: 2000, its §6: 100)
    batch_size: int = 100  # images per step (the K49 report: 100)
    lr: float = 1e-3  # Adam learning rate (the K49 report: 0.001)
    seed: int = 0  # seeds weights, batch order and reparameterisation noise
    device: str = "auto"  # auto | cpu | cuda | mps
    kl_weight: float = 1.0  # beta of a beta-VAE: loss = BCE + beta * KL (the K49 report: 1, the ELBO)
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: forward passes under bf16 autocast, fp32 weights, optimizer and losses
    channels_last: bool = False  # conv models: NHWC memory layout for the convolutions (same math)
    compile: bool = False  # torch.compile the modules (slow first steps); with backward="manual" also the gradient function
    backward: Literal["autograd", "manual"] = "autograd"  # manual: the MLP CVAE's gradients written out (same math, faster on a CPU)

    def __post_init__(self) -> None:
        check_run_length(self)
        check_choice("backward", self.backward, BACKWARDS)
        check_range("lr", self.lr, 0, low_open=True)
        check_range("kl_weight (1 = the ELBO, > 1 = a beta-VAE)", self.kl_weight, 0)
        check_compute(self)


def elbo_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, kl_weight: float = 1.0
) -> StepFn:
    """One optimisation step on the negative ELBO of a batch ``(images, classes, styles)``.

    Minimises ``BCE + kl_weight * KL`` (``kl_weight = 1``: the ELBO itself). Returns per-sample
    metrics: ``loss`` = (BCE + KL) / B (always the plain negative ELBO), ``reconstruction``, ``kl``.
    """

    def step(batch: tuple[Tensor, ...]) -> dict[str, Metric]:
        x, classes, styles = batch
        logits, mu, logvar = model(x, classes, styles)
        parts = elbo_loss(logits, x, mu, logvar)
        optimizer.zero_grad(set_to_none=True)
        (parts.reconstruction + kl_weight * parts.kl).backward()
        optimizer.step()
        b = x.shape[0]
        sums = {"loss": parts.total, "reconstruction": parts.reconstruction, "kl": parts.kl}
        return {k: v.detach().double() / b for k, v in sums.items()}  # on the device: fit reads them in bulk

    return step


def evaluate(model: nn.Module, split: LabelledImages, *, batch_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """The K49 report's test pass (§4.2.3): average negative ELBO per sample, its parts, and reconstruction MSE.

    ``mse = mean((sigmoid(logits) - x)^2)`` over pixels and images (the K49 report measures 0.06 on K49).
    The reparameterisation noise is seeded inside a forked RNG, so the numbers are reproducible
    and the caller's RNG stream is untouched.
    """
    totals = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0, "mse": 0.0}
    with evaluating(model) as device, torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, len(split), batch_size):
            part = split.subset(slice(start, start + batch_size))
            x, c, s = part.images.to(device), part.classes.to(device), part.styles.to(device)
            logits, mu, logvar = model(x, c, s)
            parts = elbo_loss(logits, x, mu, logvar)
            totals["loss"] += parts.total.item()
            totals["reconstruction"] += parts.reconstruction.item()
            totals["kl"] += parts.kl.item()
            totals["mse"] += ((torch.sigmoid(logits) - x) ** 2).mean(dim=(1, 2, 3)).sum().item()
    return {k: v / len(split) for k, v in totals.items()}


def _build(model_config: CVAEConfig, train_config: CVAETrainConfig) -> dict[str, nn.Module]:
    if train_config.backward == "manual":
        check_mlp_cvae(model_config)
    return {"model": build_cvae(model_config)}


def _optimizers(modules: dict[str, nn.Module], train_config: CVAETrainConfig) -> dict[str, torch.optim.Optimizer]:
    return {"optimizer": adam(modules["model"], train_config.lr)}  # the K49 report: Adam(lr=0.001)


def _step(run: Run) -> StepFn:
    tc, model, optimizer = run.train_config, run.modules["model"], run.optimizers["optimizer"]
    if tc.backward == "manual":
        return cvae_step(model, optimizer, tc.kl_weight, tc.precision, tc.compile)
    return elbo_step(model, optimizer, tc.kl_weight)


def _validate(run: Run) -> dict[str, float]:
    metrics = evaluate(run.modules["model"], run.data.test, seed=run.train_config.seed)
    return {"val_loss": metrics["loss"], "val_mse": metrics["mse"]}


def _suite_columns(model: nn.Module, test: LabelledImages, seed: int) -> dict[str, float]:
    """The metric suite's extra columns for a CVAE: test -ELBO per image and reconstruction MSE."""
    metrics = evaluate(model, test, seed=seed)
    return {"test_neg_elbo": metrics["loss"], "test_mse": metrics["mse"]}


def _finish(run: Run) -> dict[str, float]:
    """Fit the mixture prior (``prior_components > 0``) to the training split's posterior means."""
    model = run.modules["model"]
    if getattr(model, "prior", None) is None:
        return {}
    train = run.data.train
    counts = fit_prior(model, train.images, train.classes, train.styles, seed=run.train_config.seed)
    return {"prior_cells_fitted": float(counts["cell"])}


FAMILY = Family(
    name="cvae",
    description="conditional VAE (the K49 report's MLP CVAE, its deep Architecture 3, a convolutional one)",
    model_config=CVAEConfig,
    train_config=CVAETrainConfig,
    build=_build,
    optimizers=_optimizers,
    step=_step,
    sampler=("model",),
    sample=sample,
    evaluate=_validate,
    finish=_finish,
    suite_columns=_suite_columns,
)
train = FAMILY.train  # train(model_config, train_config, *, data, out, resume, max_steps, save_every, slim, progress, callback)
load = FAMILY.load  # load(path, device="cpu") -> Loaded; history rows hold loss/reconstruction/kl, val_loss, val_mse
