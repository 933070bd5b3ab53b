"""Training, evaluation and loading of the domain classifier (the metrics' judge; its cache is
:mod:`genlib.judge`).

The classifier is trained with cross-entropy and Adam on a dataset's training split. Its test accuracy and balanced accuracy (mean per-class recall,
the metric the K49 benchmark ranks by, because K49's classes are imbalanced) are in the history.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlib.config import check_range
from genlib.data.datasets import DataConfig, LabelledImages
from genlib.metrics import accuracy, balanced_accuracy
from genlib.models.classifier import ClassifierConfig, DomainClassifier, classify
from genlib.runtime import check_compute
from genlib.scaffold import Family, Run, check_run_length
from genlib.training import Metric, StepFn, adam


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """How to train the domain classifier (a few CPU minutes on Kana-49)."""

    data: DataConfig = field(default_factory=DataConfig)  # dataset and split (train split is used)
    epochs: int = 6  # passes over the training split
    batch_size: int = 128  # images per step
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # seeds weights, batch order and dropout
    device: str = "auto"  # auto | cpu | cuda | mps
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: forward passes under bf16 autocast, fp32 weights, optimizer and losses
    channels_last: bool = False  # conv models: NHWC memory layout for the convolutions (same math)
    compile: bool = False  # torch.compile the modules (slow first steps)

    def __post_init__(self) -> None:
        check_run_length(self)
        check_compute(self)
        check_range("lr", self.lr, 0, low_open=True)


def split_fingerprint(split: LabelledImages) -> str:
    """16 hex digits of SHA-256 over a split's images (as uint8) and classes: detects a changed dataset."""
    h = hashlib.sha256((split.images.cpu() * 255).round().to(torch.uint8).numpy().tobytes())
    h.update(split.classes.cpu().to(torch.int64).numpy().tobytes())
    return h.hexdigest()[:16]


def cross_entropy_step(model: DomainClassifier, optimizer: torch.optim.Optimizer) -> StepFn:
    """One optimisation step on a batch ``(images, classes)``: ``L = -mean_i log softmax(f(x_i))_{y_i}``."""

    def step(batch: tuple[Tensor, ...]) -> dict[str, Metric]:
        x, classes = batch
        logits = model(x)  # (1) forward
        loss = F.cross_entropy(logits, classes)
        optimizer.zero_grad(set_to_none=True)  # (2) backward and update
        loss.backward()
        optimizer.step()
        return {"loss": loss.detach(), "accuracy": (logits.argmax(1) == classes).float().mean()}  # on the device: fit reads them in bulk

    return step


def evaluate(model: DomainClassifier, split: LabelledImages, *, batch_size: int = 1000) -> dict[str, float]:
    """Mean cross-entropy, accuracy and balanced accuracy (mean per-class recall) on a split."""
    logits, _ = classify(model, split.images, batch_size=batch_size)
    target = split.classes.cpu()
    pred = logits.argmax(dim=1)
    return {
        "loss": F.cross_entropy(logits, target).item(),
        "accuracy": accuracy(pred, target),
        "balanced_accuracy": balanced_accuracy(pred, target, model.config.n_classes),
    }


def _build(model_config: ClassifierConfig, train_config: ClassifierTrainConfig) -> dict[str, nn.Module]:
    return {"model": DomainClassifier(model_config)}


def _optimizers(modules: dict[str, nn.Module], train_config: ClassifierTrainConfig) -> dict[str, torch.optim.Optimizer]:
    return {"optimizer": adam(modules["model"], train_config.lr)}


def _step(run: Run) -> StepFn:
    return cross_entropy_step(run.modules["model"], run.optimizers["optimizer"])


def _validate(run: Run) -> dict[str, float]:  # history: val_loss, val_accuracy, val_balanced_accuracy
    return {f"val_{k}": v for k, v in evaluate(run.modules["model"], run.data.test).items()}


FAMILY = Family(
    name="classifier",
    description="domain classifier used by the metric suite (it classifies; it does not generate)",
    model_config=ClassifierConfig,
    train_config=ClassifierTrainConfig,
    build=_build,
    optimizers=_optimizers,
    step=_step,
    tensors=lambda run: (run.data.train.images, run.data.train.classes),
    evaluate=_validate,
    checkpoint_extra=lambda run: {"test_fingerprint": split_fingerprint(run.data.test)},  # detects a rebuilt dataset
)
train = FAMILY.train  # train(model_config, train_config, *, data, out, resume, max_steps, save_every, slim, progress, callback)
load = FAMILY.load  # load(path, device="cpu") -> Loaded: .model, .test_metrics, .extra["test_fingerprint"]
