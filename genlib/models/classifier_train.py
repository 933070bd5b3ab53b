"""Training, evaluation, loading and caching of the domain classifier (the metrics' judge).

The classifier is trained with cross-entropy and Adam on a dataset's training split and cached as a
slim checkpoint ``data/classifier_<dataset>.safetensors``; :func:`load_or_train_classifier` loads
it or trains it when it is missing. Its test accuracy and balanced accuracy (mean per-class recall,
the metric the K49 benchmark ranks by, because K49's classes are imbalanced) are in the history.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from genlib.checkpoint import load_checkpoint, restore_modules, save_checkpoint
from genlib.config import config_from_dict
from genlib.data.batches import TensorBatches
from genlib.data.datasets import DataConfig, LabelledImages, PreparedData, prepare_dataset, repo_data_dir
from genlib.metrics import accuracy, balanced_accuracy
from genlib.models.classifier import ClassifierConfig, DomainClassifier, classify
from genlib.runtime import get_device
from genlib.training import TrainResult, TrainState, adam, fit, resume_state, start_training

FAMILY = "classifier"


@dataclass(frozen=True)
class ClassifierTrainConfig:
    """How to train the domain classifier (a few CPU minutes on Kana-49)."""

    data: DataConfig = field(default_factory=DataConfig)  # dataset and split (train split is used)
    epochs: int = 6  # passes over the training split
    batch_size: int = 128  # images per step
    lr: float = 1e-3  # Adam learning rate
    seed: int = 0  # seeds weights, batch order and dropout
    device: str = "auto"  # auto | cpu | cuda | mps


def split_fingerprint(split: LabelledImages) -> str:
    """16 hex digits of SHA-256 over a split's images (as uint8) and classes: detects a changed dataset."""
    h = hashlib.sha256((split.images.cpu() * 255).round().to(torch.uint8).numpy().tobytes())
    h.update(split.classes.cpu().to(torch.int64).numpy().tobytes())
    return h.hexdigest()[:16]


def _same_split(a: DataConfig, b: DataConfig) -> bool:
    """Whether two data configs select the same images (style rule and thresholds do not matter)."""
    keys = ("dataset", "split", "test_fraction", "split_seed", "limit")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def cross_entropy_step(model: DomainClassifier, optimizer: torch.optim.Optimizer) -> Callable[[tuple[Tensor, ...]], dict[str, float]]:
    """One optimisation step on a batch ``(images, classes)``: ``L = -mean_i log softmax(f(x_i))_{y_i}``."""

    def step(batch: tuple[Tensor, ...]) -> dict[str, float]:
        x, classes = batch
        logits = model(x)  # (1) forward
        loss = F.cross_entropy(logits, classes)
        optimizer.zero_grad(set_to_none=True)  # (2) backward and update
        loss.backward()
        optimizer.step()
        return {"loss": loss.item(), "accuracy": (logits.argmax(1) == classes).float().mean().item()}

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


def train(
    model_config: ClassifierConfig,
    train_config: ClassifierTrainConfig = ClassifierTrainConfig(),
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
    """Train the classifier on ``data.train``; checkpoint to ``out`` at each epoch end.

    Same keyword arguments as :func:`genlib.models.cvae_train.train`. The history rows hold
    ``loss``/``accuracy`` (train) and ``val_loss``/``val_accuracy``/``val_balanced_accuracy`` (test split).
    """
    device, data = start_training(train_config, model_config, data)
    model = DomainClassifier(model_config).to(device)
    optimizer = adam(model, train_config.lr)
    state = resume_state(resume, FAMILY, {"model": model}, {"optimizer": optimizer}) if resume else TrainState()
    train_split = data.train.to(device)
    batches = TensorBatches((train_split.images, train_split.classes), train_config.batch_size, seed=train_config.seed)

    def evaluate_epoch() -> dict[str, float]:
        return {f"val_{k}": v for k, v in evaluate(model, data.test).items()}

    def save(st: TrainState) -> None:
        save_checkpoint(
            out, family=FAMILY, model_config=model_config, train_config=train_config, modules={"model": model},
            optimizers=None if slim else {"optimizer": optimizer}, state=st.to_dict(), include_rng=not slim,
            extra={"test_fingerprint": split_fingerprint(data.test)},
        )

    model.train()
    fit(
        cross_entropy_step(model, optimizer), batches, state, train_config.epochs, max_steps=max_steps,
        evaluate=evaluate_epoch, save=save if out else None, save_every=save_every, callback=callback,
        progress=progress, desc="classifier",
    )
    model.eval()
    return TrainResult({"model": model}, state, Path(out) if out else None)


@dataclass
class LoadedClassifier:
    """A classifier rebuilt from a checkpoint, with its configs and history."""

    model: DomainClassifier
    model_config: ClassifierConfig
    train_config: ClassifierTrainConfig
    state: TrainState
    test_fingerprint: str = ""  # split_fingerprint of the test split it was evaluated on

    @property
    def test_metrics(self) -> dict[str, float]:
        """``val_*`` metrics of the last finished epoch (empty if none finished)."""
        last = self.state.history[-1] if self.state.history else {}
        return {k[len("val_") :]: v for k, v in last.items() if k.startswith("val_")}


def load(path: str | Path, device: str = "cpu") -> LoadedClassifier:
    """Rebuild a classifier from a checkpoint (no pickle), in eval mode."""
    ckpt = load_checkpoint(path)
    if ckpt.family != FAMILY:
        raise ValueError(f"{path} holds a {ckpt.family!r} model, not a {FAMILY!r}")
    model_config = config_from_dict(ClassifierConfig, ckpt.model_config)
    model = DomainClassifier(model_config)
    restore_modules(ckpt, {"model": model})
    return LoadedClassifier(
        model.to(get_device(device)).eval(), model_config, config_from_dict(ClassifierTrainConfig, ckpt.train_config),
        TrainState.from_dict(ckpt.state), ckpt.extra.get("test_fingerprint", ""),
    )


def classifier_path(dataset: str, root: str | Path | None = None) -> Path:
    """Where the cached classifier of ``dataset`` lives: ``<root>/classifier_<dataset>.safetensors``."""
    return Path(root if root is not None else repo_data_dir()) / f"classifier_{dataset}.safetensors"


def load_or_train_classifier(
    dataset: str = "kana49",
    *,
    root: str | Path | None = None,
    data: PreparedData | None = None,
    train_config: ClassifierTrainConfig | None = None,
    device: str = "cpu",
    progress: bool = False,
) -> LoadedClassifier:
    """Load ``classifier_<dataset>.safetensors`` from ``root`` (default ``data/``), or train and cache it.

    Args:
        data: the prepared dataset to train on when the file is missing (default: prepared from
            ``train_config.data``, itself ``DataConfig(dataset=dataset)`` by default). When the file
            exists and ``data`` selects the same images, its test split must be the one the
            classifier was evaluated on (a rebuilt dataset needs a new classifier).
        train_config: used only when training; its ``data.dataset`` must equal ``dataset``.
    Raises:
        ValueError: the cached file or ``train_config`` is for another dataset, or the dataset changed.
    """
    path = classifier_path(dataset, root)
    if path.is_file():
        loaded = load(path, device)
        if loaded.train_config.data.dataset != dataset:
            raise ValueError(f"{path} was trained on {loaded.train_config.data.dataset!r}, not {dataset!r}")
        if data is not None and _same_split(data.config, loaded.train_config.data) and loaded.test_fingerprint:
            if split_fingerprint(data.test) != loaded.test_fingerprint:
                raise ValueError(f"{path} was trained on other {dataset!r} images than these (was the dataset rebuilt?): delete it to retrain")
        return loaded
    train_config = train_config or ClassifierTrainConfig(data=DataConfig(dataset=dataset), device=device)
    if train_config.data.dataset != dataset:
        raise ValueError(f"train_config.data.dataset is {train_config.data.dataset!r} but the classifier is for {dataset!r}")
    if data is None or not _same_split(data.config, train_config.data):
        data = prepare_dataset(train_config.data)
    train(ClassifierConfig(n_classes=data.n_classes), train_config, data=data, out=path, slim=True, progress=progress)
    return load(path, device)
