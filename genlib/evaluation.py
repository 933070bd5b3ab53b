"""Evaluate generator checkpoints with one protocol (the rows of :mod:`genlib.tables`).

The protocol (every family, every checkpoint, one seed):

1. Request ``n_per_cell`` samples for every (class, style) cell of the dataset, in chunks of
   :data:`CHUNK` images with seeds ``seed * 1000 + chunk``; time the sampling (images/s).
2. Classify them with the dataset's domain classifier (:mod:`genlib.models.classifier_train`):
   conditional accuracy, and features for FID and diversity.
3. Measure thickness with the dataset's own per-class median rule: style agreement.
4. FID against half A of the held-out test split; the floor is half B (as many images as were
   sampled, at most all of B) against the same half A: what a perfect generator would score.
5. Intra-class diversity relative to real test images of the same class (1 = as varied as real).
6. VAEs also get the test negative ELBO and reconstruction MSE (:func:`genlib.models.cvae_train.evaluate`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor

from genlib import metrics as M
from genlib.checkpoint import load_checkpoint
from genlib.config import config_from_dict
from genlib.data.conditions import style_factor
from genlib.data.datasets import DataConfig, PreparedData, prepare_dataset
from genlib.models.classifier import DomainClassifier, classify
from genlib.models.conditioning import ordered_labels

SampleFn = Callable[[Tensor, Tensor, int], Tensor]  # (classes [N], styles [N], seed) -> images [N, 1, 28, 28] in [0, 1]
CHUNK = 1024  # images per sampling call: bounds memory, and the seeds per chunk fix the samples

@dataclass
class RealReference:
    """Held-out real features that every generator is compared with (computed once per dataset)."""

    features_a: Tensor  # [N_a, D] classifier features of test half A (the FID reference)
    features_b: Tensor  # [N_b, D] of test half B (the real-vs-real floor)
    index_b: np.ndarray  # [N_b] indices of half B in data.test
    diversity: np.ndarray  # [n_classes] mean pairwise feature distance of real test images per class
    accuracy: float  # the classifier's accuracy on the whole test split
    balanced_accuracy: float  # its mean per-class recall


def real_reference(data: PreparedData, classifier: DomainClassifier, seed: int = 0) -> RealReference:
    """Split ``data.test`` into class-stratified halves A/B and embed them with ``classifier``."""
    logits, feats = classify(classifier, data.test.images)
    classes = data.test.classes.cpu()
    thick = style_factor(data.test.styles.cpu(), data.config.condition, "thickness")  # the same halves whether or not slant is conditioned on
    thick = torch.zeros_like(classes) if thick is None else thick
    idx_a, idx_b = M.stratified_halves(classes * 2 + thick, seed)  # balanced (class, thickness) cells
    pred = logits.argmax(1)
    return RealReference(
        features_a=feats[idx_a], features_b=feats[idx_b], index_b=idx_b,
        diversity=M.intra_class_diversity(feats, classes, data.n_classes),
        accuracy=M.accuracy(pred, classes), balanced_accuracy=M.balanced_accuracy(pred, classes, data.n_classes),
    )


def fid_floor(reference: RealReference, n: int, seed: int = 0) -> float:
    """FID of ``min(n, N_b)`` real images of half B (a seeded subset) against half A."""
    b = reference.features_b
    if n < b.shape[0]:
        b = b[np.sort(np.random.default_rng(seed).choice(b.shape[0], n, replace=False))]
    return M.fid(b, reference.features_a)


def real_sampler(data: PreparedData, reference: RealReference) -> SampleFn:
    """A 'generator' that returns real test images of half B with the requested class and style.

    Its scores are the ceiling of the protocol (classifier accuracy, style agreement 1, FID ≈ floor,
    diversity ≈ 1). Within each (class, style) cell the images of half B come in a seeded random
    order, repeated when more are requested than the cell holds; requesting exactly the cell sizes
    of half B returns half B itself, whose FID is the floor.
    """
    pools = (data.test.subset(torch.as_tensor(reference.index_b)), data.test)

    def sample(classes: Tensor, styles: Tensor, seed: int) -> Tensor:
        rng = np.random.default_rng(seed)
        out = torch.empty(classes.shape[0], 1, 28, 28)
        for c, s in sorted({(int(c), int(s)) for c, s in zip(classes, styles)}):
            want = torch.nonzero((classes == c) & (styles == s)).flatten()
            for pool in pools:  # half B; the whole test split only if B lacks the cell (tiny splits)
                have = torch.nonzero((pool.classes == c) & (pool.styles == s)).flatten()
                if have.numel():
                    break
            else:
                raise ValueError(f"the test split has no image of class {c}, style {s}")
            order = have[torch.as_tensor(rng.permutation(have.numel()))]
            out[want] = pool.images[order.repeat(-(-want.numel() // have.numel()))[: want.numel()]]
        return out

    return sample


def smallest_cell(data: PreparedData, reference: RealReference) -> int:
    """The fewest images that any (class, style) cell has in half B (the most :func:`real_sampler` gives without repeats)."""
    cells = data.test.classes[reference.index_b] * data.n_styles + data.test.styles[reference.index_b]
    return int(torch.bincount(cells, minlength=data.n_styles * data.n_classes).min())


def draw_samples(sample_fn: SampleFn, classes: Tensor, styles: Tensor, seed: int) -> tuple[Tensor, float]:
    """All requested samples, in chunks of :data:`CHUNK`; returns ``(images [N,1,28,28], seconds)``."""
    parts, seconds = [], 0.0
    for i, start in enumerate(range(0, classes.shape[0], CHUNK)):
        tic = time.perf_counter()
        parts.append(sample_fn(classes[start : start + CHUNK], styles[start : start + CHUNK], seed * 1000 + i).float().cpu())
        seconds += time.perf_counter() - tic
    return torch.cat(parts), seconds


def evaluate_sampler(
    sample_fn: SampleFn,
    data: PreparedData,
    classifier: DomainClassifier,
    *,
    n_per_cell: int = 50,
    seed: int = 0,
    reference: RealReference | None = None,
) -> dict[str, Any]:
    """The metric suite for any conditional sampler (module docstring, steps 1–5).

    Returns:
        a row: ``n_samples``, ``samples_per_s``, ``cond_accuracy``, ``style_agreement`` (thickness),
        ``fid``, ``fid_floor``, ``diversity`` and ``per_class`` (lists of per-class accuracy, style
        agreement and diversity ratio); ``style_agreement`` is NaN when the condition does not
        include thickness (e.g. ``"class"``), and ``slant_agreement`` is added when it includes slant.
    """
    if n_per_cell < 2:
        raise ValueError(f"n_per_cell must be >= 2 (diversity needs pairs), got {n_per_cell}")
    if classifier.config.n_classes != data.n_classes:
        raise ValueError(f"the classifier has {classifier.config.n_classes} classes but the dataset has {data.n_classes}")
    reference = reference if reference is not None else real_reference(data, classifier)
    classes, styles = ordered_labels(data.n_classes, data.n_styles, n_per_cell)  # [C * S * n_per_cell] each
    images, seconds = draw_samples(sample_fn, classes, styles, seed)
    if images.shape != (classes.shape[0], 1, 28, 28):
        raise ValueError(f"the sampler returned shape {tuple(images.shape)}, expected {(classes.shape[0], 1, 28, 28)}")
    logits, feats = classify(classifier, images)
    pred = logits.argmax(1)
    condition = data.config.condition
    thick = M.style_of_images(images, classes, data.style_thresholds, data.config.foreground_threshold)
    wanted_thick, wanted_slant = (style_factor(styles, condition, f) for f in ("thickness", "slant"))
    diversity = M.intra_class_diversity(feats, classes, data.n_classes) / reference.diversity  # per class, 1 = real
    cells = classes.numpy()
    nan_per_class = [math.nan] * data.n_classes
    row: dict[str, Any] = {
        "n_samples": int(classes.shape[0]),
        "samples_per_s": classes.shape[0] / max(seconds, 1e-9),
        "cond_accuracy": M.conditional_accuracy(pred, classes),
        "style_agreement": math.nan if wanted_thick is None else M.accuracy(thick, wanted_thick.numpy()),  # NaN: not conditioned on
        "fid": M.fid(feats, reference.features_a),
        "fid_floor": fid_floor(reference, classes.shape[0], seed),
        "diversity": float(np.nanmean(diversity)),
        "per_class": {
            "cond_accuracy": M.per_class_accuracy(pred, classes, data.n_classes).tolist(),
            "style_agreement": nan_per_class if wanted_thick is None else
            [float(np.mean(thick[cells == k] == wanted_thick.numpy()[cells == k])) for k in range(data.n_classes)],
            "diversity": diversity.tolist(),
        },
    }
    if wanted_slant is not None:  # measured by the per-class median moment slant (notebook 01)
        row["slant_agreement"] = M.slant_agreement(images, classes, wanted_slant.numpy(), data.slant_thresholds)
    return row


def _data_config(ckpt_train_config: dict[str, Any]) -> DataConfig:
    return config_from_dict(DataConfig, ckpt_train_config.get("data", {}))


def evaluate_checkpoint(
    path: str | Path,
    *,
    n_per_cell: int = 50,
    seed: int = 0,
    data: PreparedData | None = None,
    classifier: DomainClassifier | None = None,
    reference: RealReference | None = None,
    name: str | None = None,
) -> dict[str, Any]:
    """Evaluate one generator checkpoint of any family (module docstring).

    Args:
        data: the dataset it was trained on (default: prepared from the checkpoint's ``data`` config,
            so a mean-rule model is judged by the mean rule).
        classifier: the domain classifier (default: :func:`load_or_train_classifier` of the dataset).
        reference: precomputed real features (shared by :func:`evaluate_checkpoints`).
        name: the row's name (default: the file stem).
    Returns:
        one table row (see :data:`genlib.tables.COLUMNS`) plus ``per_class``, ``history`` and ``dataset``.
    """
    from genlib.families import load

    loaded = load(path)  # one read: weights verified, family and configs known
    _check_generator(path, loaded.family.name)
    data_config = loaded.data_config
    if data is None:
        data = prepare_dataset(data_config)
    elif data.config.dataset != data_config.dataset:
        raise ValueError(f"{path} was trained on {data_config.dataset!r} but data is {data.config.dataset!r}")
    if classifier is None:
        from genlib.judge import load_or_train_classifier

        classifier = load_or_train_classifier(data.config.dataset, data=data).model
    model = loaded.model
    result = evaluate_sampler(
        lambda c, s, sd: loaded.sample(c, s, seed=sd), data, classifier, n_per_cell=n_per_cell, seed=seed, reference=reference
    )
    state = loaded.state.to_dict()
    row: dict[str, Any] = {
        "name": name or Path(path).stem,
        "family": loaded.family.name,
        "dataset": data.config.dataset,
        "epochs": int(state.get("epoch", 0)),
        "steps": int(state.get("step", 0)),
        "train_seconds": float(state.get("seconds", 0.0)),
        "params": sum(p.numel() for p in model.parameters()),
        **result,
    }
    if loaded.family.suite_columns is not None:
        row.update(loaded.family.suite_columns(model, data.test, seed))
    row["history"] = state.get("history", [])
    return row


def _check_generator(path: str | Path, family: str) -> None:
    """Refuse a checkpoint whose family draws no images (the classifier), naming the file."""
    from genlib.families import get_family

    if get_family(family).sample is None:
        raise ValueError(f"{path} is a {family!r} checkpoint, which does not generate images: evaluate a generator (cvae, cgan, stylegan)")


def evaluate_checkpoints(
    paths: Sequence[str | Path],
    *,
    n_per_cell: int = 50,
    seed: int = 0,
    data: PreparedData | None = None,
    classifier: DomainClassifier | None = None,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Evaluate several checkpoints, preparing each distinct dataset config, classifier and reference once.

    Args:
        data: one prepared dataset for all checkpoints (default: each checkpoint's own ``data`` config).
        classifier: one classifier for all (default: :func:`load_or_train_classifier` per dataset).
        progress: a bar over the checkpoints that names the step under way (stderr).
    """
    from tqdm.auto import tqdm

    datasets: dict[DataConfig, PreparedData] = {}
    classifiers: dict[str, DomainClassifier] = {}
    references: dict[DataConfig, RealReference] = {}
    rows = []
    train_configs = []
    for path in paths:  # every file an intact generator checkpoint (hash and weights verified) before anything is done
        checkpoint = load_checkpoint(path)
        _check_generator(path, checkpoint.family)
        train_configs.append(checkpoint.train_config)
    bar = tqdm(paths, desc="evaluate", unit="checkpoint", disable=not progress)
    for path, train_config in zip(bar, train_configs):
        config = data.config if data is not None else _data_config(train_config)
        bar.set_postfix_str(f"{Path(path).stem}: preparing {config.dataset}, its classifier and real features")
        if config not in datasets:
            datasets[config] = data if data is not None else prepare_dataset(config)
        if config.dataset not in classifiers:
            from genlib.judge import load_or_train_classifier

            classifiers[config.dataset] = classifier if classifier is not None else load_or_train_classifier(config.dataset, data=datasets[config]).model
        if config not in references:
            references[config] = real_reference(datasets[config], classifiers[config.dataset], seed)
        n = n_per_cell * datasets[config].n_classes * datasets[config].n_styles
        bar.set_postfix_str(f"{Path(path).stem}: sampling and scoring {n:,} images")
        rows.append(
            evaluate_checkpoint(
                path, n_per_cell=n_per_cell, seed=seed, data=datasets[config],
                classifier=classifiers[config.dataset], reference=references[config],
            )
        )
    return rows


# --- tables -----------------------------------------------------------------------------------
