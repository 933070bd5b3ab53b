"""Training, evaluation and loading for the conditional VAEs (seed §4.2.2–4.2.3).

The seed trains with Adam (lr 1e-3), batch 100, minimising ``BCE(sum) + KL`` per batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import Tensor, nn

from genlib.checkpoint import load_checkpoint, restore_modules, save_checkpoint
from genlib.config import config_from_dict
from genlib.data.batches import TensorBatches
from genlib.data.datasets import DataConfig, LabelledImages, PreparedData
from genlib.losses import elbo_loss
from genlib.models.cvae import CVAEConfig, build_cvae
from genlib.runtime import evaluating, get_device
from genlib.training import TrainResult, TrainState, adam, fit, resume_state, start_training

FAMILY = "cvae"


@dataclass(frozen=True)
class CVAETrainConfig:
    """How to train a CVAE (defaults: the seed's §4.2.1 hyperparameters, fewer epochs)."""

    data: DataConfig = field(default_factory=DataConfig)  # dataset, split and style rule
    epochs: int = 20  # passes over the training split (seed: 2000, §6: 100)
    batch_size: int = 100  # seed: 100
    lr: float = 1e-3  # Adam learning rate, seed: 0.001
    seed: int = 0  # seeds weights, batch order and reparameterisation noise
    device: str = "auto"  # auto | cpu | cuda | mps
    kl_weight: float = 1.0  # beta of a beta-VAE: loss = BCE + beta * KL (seed: 1, the ELBO)

    def __post_init__(self) -> None:
        if self.epochs < 0 or self.batch_size < 1:
            raise ValueError(f"epochs must be >= 0 and batch_size >= 1, got {self.epochs} and {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not self.kl_weight >= 0:
            raise ValueError(f"kl_weight must be >= 0 (1 = the ELBO, > 1 = a beta-VAE), got {self.kl_weight}")


def elbo_step(
    model: nn.Module, optimizer: torch.optim.Optimizer, kl_weight: float = 1.0
) -> Callable[[tuple[Tensor, ...]], dict[str, float]]:
    """One optimisation step on the negative ELBO of a batch ``(images, classes, styles)``.

    Minimises ``BCE + kl_weight * KL`` (``kl_weight = 1``: the ELBO itself). Returns per-sample
    metrics: ``loss`` = (BCE + KL) / B (always the plain negative ELBO), ``reconstruction``, ``kl``.
    """

    def step(batch: tuple[Tensor, ...]) -> dict[str, float]:
        x, classes, styles = batch
        logits, mu, logvar = model(x, classes, styles)
        parts = elbo_loss(logits, x, mu, logvar)
        optimizer.zero_grad(set_to_none=True)
        (parts.reconstruction + kl_weight * parts.kl).backward()
        optimizer.step()
        b = x.shape[0]
        return {"loss": parts.total.item() / b, "reconstruction": parts.reconstruction.item() / b, "kl": parts.kl.item() / b}

    return step


def evaluate(model: nn.Module, split: LabelledImages, *, batch_size: int = 1000, seed: int = 0) -> dict[str, float]:
    """The seed's test pass (§4.2.3): average negative ELBO per sample, its parts, and reconstruction MSE.

    ``mse = mean((sigmoid(logits) - x)^2)`` over pixels and images (the seed reports 0.06 on K49).
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


def train(
    model_config: CVAEConfig,
    train_config: CVAETrainConfig = CVAETrainConfig(),
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
    """Train a CVAE; write a checkpoint to ``out`` at each epoch end (and every ``save_every`` steps).

    Args:
        data: a prepared dataset (default: ``prepare_dataset(train_config.data)``).
        resume: a full checkpoint of an earlier run with the same configs; training continues exactly.
        max_steps: stop after this many optimisation steps in total.
        slim: save weights only (small files for ``data/``; such a checkpoint cannot resume).
    Returns:
        :class:`~genlib.training.TrainResult` with ``modules["model"]`` and the history, whose rows
        hold ``loss``/``reconstruction``/``kl`` (train, per sample), ``val_loss``, ``val_mse``, ``seconds``.
    """
    device, data = start_training(train_config, model_config, data)
    model = build_cvae(model_config).to(device)
    optimizer = adam(model, train_config.lr)
    state = resume_state(resume, FAMILY, {"model": model}, {"optimizer": optimizer}) if resume else TrainState()
    train_split = data.train.to(device)
    batches = TensorBatches((train_split.images, train_split.classes, train_split.styles), train_config.batch_size, seed=train_config.seed)

    def evaluate_epoch() -> dict[str, float]:
        metrics = evaluate(model, data.test, seed=train_config.seed)
        return {"val_loss": metrics["loss"], "val_mse": metrics["mse"]}

    def save(st: TrainState) -> None:
        save_checkpoint(
            out, family=FAMILY, model_config=model_config, train_config=train_config, modules={"model": model},
            optimizers=None if slim else {"optimizer": optimizer}, state=st.to_dict(), include_rng=not slim,
        )

    fit(
        elbo_step(model, optimizer, train_config.kl_weight), batches, state, train_config.epochs, max_steps=max_steps,
        evaluate=evaluate_epoch, save=save if out else None, save_every=save_every, callback=callback,
        progress=progress, desc=f"cvae-{model_config.arch}",
    )
    model.eval()
    return TrainResult({"model": model}, state, Path(out) if out else None)


@dataclass
class LoadedCVAE:
    """A CVAE rebuilt from a checkpoint, with the configs and history it was trained with."""

    model: nn.Module
    model_config: CVAEConfig
    train_config: CVAETrainConfig
    state: TrainState


def load(path: str | Path, device: str = "cpu") -> LoadedCVAE:
    """Rebuild a CVAE from a checkpoint (no code edits, no pickle) in eval mode."""
    ckpt = load_checkpoint(path)
    if ckpt.family != FAMILY:
        raise ValueError(f"{path} holds a {ckpt.family!r} model, not a {FAMILY!r}")
    model_config = config_from_dict(CVAEConfig, ckpt.model_config)
    model = build_cvae(model_config)
    restore_modules(ckpt, {"model": model})
    return LoadedCVAE(
        model.to(get_device(device)).eval(), model_config, config_from_dict(CVAETrainConfig, ckpt.train_config), TrainState.from_dict(ckpt.state)
    )
