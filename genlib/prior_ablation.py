"""The CVAE's blur, measured: the ELBO's beta, and the prior its samples are drawn from.

The conv CVAE's samples are blurred and far from real data (FID 233 on Kana-49, 21x the floor).
Two settings pull against each other:

- ``beta = 3`` (the shipped ``cvae_conv_kana49``) pulls the posterior towards ``N(0, I)``, so prior
  samples decode to the requested kana, but the decoder learns to draw the average of many
  images: blur, even in reconstructions.
- ``beta = 1`` (the plain ELBO) reconstructs sharply, but its aggregate posterior is far from
  ``N(0, I)``: prior samples fall where the decoder has seen nothing.

This ablation trains the conv CVAE with both (2 seeds each, one budget), and samples each model
from ``N(0, I)`` and from ``K = 1, 3, 5`` Gaussians per (class, style) cell fitted to its
training posterior after training (:mod:`genlib.models.latent_prior`). The ``reconstruction``
rows decode the posterior means of held-out images instead: what the decoder can draw at best.
Every row gets the metric suite of :mod:`genlib.evaluation` and ``sharpness``, the edge strength
of the images relative to real test images' (:func:`genlib.metrics.edge_strength`; 1 = as sharp)::

    genlib experiments --suite prior --dataset kana49 --out data/prior_kana49

Rows are named ``beta<b>-<prior>-s<seed>``; :func:`genlib.quality.ablation_table` averages the seeds.
"""

from __future__ import annotations

import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from genlib import evaluation as E
from genlib import metrics as M
from genlib.data.datasets import DataConfig, PreparedData, prepare_dataset
from genlib.models import cvae_train
from genlib.experiments import Experiment, finished, label_grid, load_ablation, real_row, train_and_store, write_ablation
from genlib.models.cvae import CVAEConfig, posterior_means, reconstruct, sample, with_mixture_prior
from genlib.models.latent_prior import fit_cell_mixtures

BETAS = (3.0, 1.0)  # kl_weight of each trained model: the shipped beta-CVAE's, then the ELBO's
COMPONENTS = (1, 3, 5)  # Gaussians per (class, style) cell of the mixture rows
SEEDS = (0, 1)  # training seeds (added to the budget's)
PRIOR_METRICS = ("cond_accuracy", "style_agreement", "fid", "diversity", "sharpness", "train_seconds")


def conv_cvae(n_classes: int, n_styles: int) -> CVAEConfig:
    """The conv CVAE of the ``cvae_conv_*`` recipes (latent 16, hidden 128, 32 channels), normal prior."""
    return CVAEConfig(arch="conv", n_classes=n_classes, n_styles=n_styles, latent_dim=16, hidden_dim=128, channels=32)


def row_names(kl_weight: float, seed: int) -> list[str]:
    """The rows one trained model gives: normal prior, each mixture, reconstructions."""
    head = f"beta{kl_weight:g}"
    return [f"{head}-{p}-s{seed}" for p in ("normal", *(f"cell{k}" for k in COMPONENTS), "reconstruction")]


def _trained(exp: Experiment, stored: Path, data: PreparedData, progress: bool) -> tuple[nn.Module, float]:
    """The model of ``exp`` stored at ``stored`` if it finished with these configs, else trained now and
    stored there (float16 weights, as every experiment's). Returns ``(model, training seconds)``."""
    if not finished(stored, exp):
        with tempfile.TemporaryDirectory(prefix="genlib-prior-") as tmp:
            train_and_store(exp, data, stored, Path(tmp) / "snapshots", Path(tmp), progress)
    loaded = cvae_train.load(stored)
    return loaded.model, float(loaded.state.seconds)


def _samplers(model: nn.Module, data: PreparedData, real: E.SampleFn, seed: int) -> dict[str, E.SampleFn]:
    """``row's prior name -> sampler`` for one trained model: normal, each mixture, reconstructions."""
    out: dict[str, E.SampleFn] = {"normal": lambda c, s, sd: sample(model, c, s, seed=sd, prior="normal")}
    train = data.train
    latents = posterior_means(model, train.images, train.classes, train.styles)  # encoded once, fitted by every K
    for k in COMPONENTS:
        mixed = with_mixture_prior(model, k)
        fit_cell_mixtures(mixed.prior, latents, train.classes, train.styles, seed=seed)
        out[f"cell{k}"] = lambda c, s, sd, m=mixed: sample(m, c, s, seed=sd, prior="mixture")
    out["reconstruction"] = lambda c, s, sd: reconstruct(model, real(c, s, sd), c, s)  # held-out images of half B
    return out


def _recording(sample_fn: E.SampleFn, kept: list[Tensor]) -> E.SampleFn:
    """``sample_fn`` that also keeps every batch it returns (for the sharpness of the images)."""

    def sample(classes: Tensor, styles: Tensor, seed: int) -> Tensor:
        images = sample_fn(classes, styles, seed)
        kept.append(images.float().cpu())
        return images

    return sample


def run_prior_ablation(
    dataset: str, budget: Any, out_dir: str | Path, *, checkpoint_dir: str | Path | None = None, progress: bool = False,
) -> list[dict[str, Any]]:
    """Train ``len(BETAS) x len(SEEDS)`` conv CVAEs for ``budget.conv_cvae_epochs`` epochs and
    evaluate each with every prior (module docstring); write ``results.csv`` / ``results.md``,
    ``samples.npz`` (each row's grid at the first seed) and ``run.json`` to ``out_dir``, the models
    to ``checkpoint_dir`` (default ``out_dir/checkpoints``; stored ones with the same configs are reused).

    ``budget`` is an :class:`~genlib.experiments.ExperimentBudget` (``conv_cvae_epochs``,
    ``n_per_cell``, ``seed``, ``limit``). Returns the rows, the real held-out images first.
    """
    from genlib.judge import load_or_train_classifier
    from genlib.quality import ablation_display, ablation_table

    out = Path(out_dir)
    keep = Path(checkpoint_dir) if checkpoint_dir is not None else out / "checkpoints"
    keep.mkdir(parents=True, exist_ok=True)
    data = prepare_dataset(DataConfig(dataset=dataset, limit=budget.limit))
    judge = load_or_train_classifier(dataset, data=data, progress=progress)
    classifier = judge.model
    reference = E.real_reference(data, classifier, budget.seed)
    real = E.real_sampler(data, reference)
    real_edges = M.edge_strength(data.test.images[torch.as_tensor(reference.index_b)])
    n_real = max(2, min(budget.n_per_cell, E.smallest_cell(data, reference)))  # half B's images of each cell, without repeats
    ceiling, real_grid = real_row(data, judge, reference, budget)
    rows: list[dict[str, Any]] = [{**ceiling, "sharpness": 1.0}]
    grids = {"real": real_grid}
    run: dict[str, Any] = {"dataset": dataset, "suite": "prior", "synthetic": data.synthetic, "budget": dataclasses.asdict(budget),
                           "threads": torch.get_num_threads(), "real_edge_strength": real_edges, "models": {}}
    tic = time.perf_counter()
    for kl_weight in BETAS:
        for offset in SEEDS:
            seed = budget.seed + offset
            model_config = conv_cvae(data.n_classes, data.n_styles)
            train_config = cvae_train.CVAETrainConfig(data=data.config, epochs=budget.conv_cvae_epochs, kl_weight=kl_weight, seed=seed)
            name = f"beta{kl_weight:g}-s{seed}"
            exp = Experiment(name, "cvae", model_config, train_config, f"conv CVAE, beta {kl_weight:g}, training seed {seed}")
            model, seconds = _trained(exp, keep / f"{name}.safetensors", data, progress)
            run["models"][name] = {"model_config": dataclasses.asdict(model_config), "train_config": dataclasses.asdict(train_config)}
            for prior, sample_fn in _samplers(model, data, real, seed).items():
                kept: list[Tensor] = []
                n_per_cell = n_real if prior == "reconstruction" else budget.n_per_cell  # half B's images, without repeats
                row = E.evaluate_sampler(_recording(sample_fn, kept), data, classifier, seed=budget.seed, reference=reference,
                                         n_per_cell=n_per_cell)
                row = {"name": f"beta{kl_weight:g}-{prior}-s{seed}", "family": "cvae", "dataset": dataset, "kl_weight": kl_weight,
                       "prior": prior, "epochs": budget.conv_cvae_epochs, "train_seconds": seconds, **row,
                       "sharpness": M.edge_strength(torch.cat(kept)) / real_edges}
                rows.append(row)
                if offset == 0:
                    grids[f"beta{kl_weight:g}-{prior}"] = label_grid(sample_fn, data, budget.seed)
            run["seconds"] = time.perf_counter() - tic
            _write(out, rows, grids, run, ablation_display(ablation_table(rows, PRIOR_METRICS), PRIOR_METRICS))
    return rows


def _write(out: Path, rows: list[dict[str, Any]], grids: dict[str, np.ndarray], run: dict[str, Any], table: list[dict[str, Any]]) -> None:
    note = " (the embedded Kana-49 stand-in: synthetic, not Kuzushiji)" if run["synthetic"] else ""
    write_ablation(out, rows, grids, run, table, f"conv CVAE, beta x prior on {run['dataset']}{note}: mean over "
                   f"{len(SEEDS)} training seeds, ± half the spread; {run['budget']['conv_cvae_epochs']} epochs each")


def load_prior_results(out_dir: str | Path) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """``(rows, sample grids in [0, 1])`` as :func:`run_prior_ablation` saved them."""
    return load_ablation(out_dir)
