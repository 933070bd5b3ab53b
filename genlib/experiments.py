"""The K49 report's §6 architecture experiments and the StyleGAN report's learning-rate comparison,
on equal budgets.

Every experiment trains one model for the same number of epochs on the same dataset, then
:mod:`genlib.evaluation` judges it with the same protocol; one table holds them all::

    genlib experiments --dataset kana49 --out data/experiments_kana49

or, from Python, ``run_experiments("kana49", ExperimentBudget(), "data/experiments_kana49")``.
The output folder gets ``results.md`` / ``results.csv`` (the table), ``histories.json`` (loss
curves), ``per_class.json``, ``samples.npz`` (a class x style grid of each model, uint8),
``samples.png``, ``losses.png`` and ``run.json`` (budget, configs, classifier accuracy, timings).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch

from genlib import evaluation as E
from genlib import families
from genlib import tables as T
from genlib.atomic import atomic_write_npz, atomic_write_text
from genlib.checkpoint import load_checkpoint
from genlib.config import config_from_dict
from genlib.data.datasets import DataConfig, PreparedData, prepare_dataset
from genlib.legacy import upgrade_config
from genlib.models.cgan import CGANConfig, conv_config
from genlib.models.cgan_train import CGANTrainConfig
from genlib.models.cvae import CVAEConfig
from genlib.models.cvae_train import CVAETrainConfig
from genlib.models.conditioning import ordered_labels

if TYPE_CHECKING:
    import matplotlib.figure

GRID_CLASSES = 10  # classes shown per model in samples.npz (styles x 2 samples each)
GRID_PER_CELL = 2


@dataclass(frozen=True)
class ExperimentBudget:
    """The budget every experiment gets (one row of the table states it)."""

    epochs: int = 30  # epochs of each model of the K49 report's §6: the MLP CVAEs and CGANs, and the conv CVAE (the report: 100)
    conv_gan_epochs: int = 3  # epochs of each conv cGAN of the learning-rate comparison (the StyleGAN report: 100)
    conv_gan_channels: int = 128  # filters of the conv cGAN (the StyleGAN report: 128); fewer trains faster
    n_per_cell: int = 50  # samples per (class, style) cell for the metrics
    seed: int = 0  # training and evaluation seed
    limit: int = 0  # at most this many images per split (0 = all): shrinks a trial run

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("conv_gan_epochs", 1), ("conv_gan_channels", 2), ("n_per_cell", 2), ("limit", 0)):
            if getattr(self, name) < low:
                raise ValueError(f"{name} must be >= {low}, got {getattr(self, name)}")


@dataclass(frozen=True)
class Experiment:
    """One row of the table: a family, its two configs and what it tests."""

    name: str  # short row name, e.g. "cvae-arch1-mean"
    family: str  # "cvae" or "cgan"
    model_config: Any
    train_config: Any
    description: str  # the change from the baseline and the report section it reproduces


def seed_experiments(dataset: str = "kana49", budget: ExperimentBudget = ExperimentBudget(), n_classes: int = 49) -> list[Experiment]:
    """The experiments of the K49 report's §6 (+ baselines) and the StyleGAN report's 1e-4 vs 3e-4 comparison."""
    median = DataConfig(dataset=dataset, limit=budget.limit)
    mean = dataclasses.replace(median, style_rule="mean")
    cvae = CVAEConfig(n_classes=n_classes)
    cgan = CGANConfig(n_classes=n_classes)
    cvae_train = CVAETrainConfig(data=median, epochs=budget.epochs, seed=budget.seed)  # Adam 1e-3, batch 100 (the K49 report's §4.2)
    cgan_train = CGANTrainConfig(data=median, epochs=budget.epochs, seed=budget.seed)  # Adam 1e-4, batch 128 (the K49 report's §4.3.4)
    # the StyleGAN report's loop: Adam beta1 0.5, D steps on real then fake, fakes with random labels
    conv_train = dataclasses.replace(cgan_train, epochs=budget.conv_gan_epochs, beta1=0.5, d_update="split", fake_labels="random")
    conv = conv_config(n_classes=n_classes, channels=budget.conv_gan_channels)
    conv_cvae = CVAEConfig(arch="conv", n_classes=n_classes, latent_dim=16, hidden_dim=128)
    return [
        Experiment("cvae-seed", "cvae", cvae, cvae_train, "the K49 report's CVAE baseline (§4.2): MLP 144, latent 2"),
        Experiment("cvae-arch1-mean", "cvae", cvae, dataclasses.replace(cvae_train, data=mean), "§6.0.2 Architecture 1: style by the class mean, not the median"),
        Experiment("cvae-arch2-cxs", "cvae", dataclasses.replace(cvae, input_order="cxs"), cvae_train, "§6.0.3 Architecture 2: encoder input (class, image, style)"),
        Experiment("cvae-arch3-deep", "cvae", dataclasses.replace(cvae, arch="deep"), cvae_train, "§6.0.4 Architecture 3: 256-128 layers with batch norm"),
        Experiment("cvae-conv", "cvae", conv_cvae, cvae_train, "genlib: convolutional CVAE, latent 16"),
        Experiment("cvae-conv-beta3", "cvae", conv_cvae, dataclasses.replace(cvae_train, kl_weight=3.0), "genlib: the same conv CVAE as a beta-VAE, beta = 3"),
        Experiment("cvae-conv-beta3-slant", "cvae", dataclasses.replace(conv_cvae, n_styles=4),
                   dataclasses.replace(cvae_train, kl_weight=3.0, data=dataclasses.replace(median, condition="thickness+slant")),
                   "genlib: the conv beta-CVAE conditioned on thickness and slant (4 style codes)"),
        Experiment("cgan-seed", "cgan", cgan, cgan_train, "the K49 report's CGAN baseline (§4.3): MLP 256, tanh, lr 1e-4"),
        Experiment("cgan-arch1-cxs", "cgan", dataclasses.replace(cgan, input_order="cxs"), cgan_train, "§6.1.1 Architecture 1: D input (class, image, style)"),
        Experiment("cgan-arch2-sigmoid", "cgan", dataclasses.replace(cgan, output="sigmoid"), cgan_train, "§6.1.2 Architecture 2: sigmoid output on [0, 1] data"),
        Experiment("cgan-conv-lr1e-4", "cgan", conv, dataclasses.replace(conv_train, lr=1e-4), "the StyleGAN report's conv cGAN, Adam lr 1e-4"),
        Experiment("cgan-conv-lr3e-4", "cgan", conv, dataclasses.replace(conv_train, lr=3e-4), "the StyleGAN report's conv cGAN, Adam lr 3e-4 (the report's choice)"),
    ]


SUITES: tuple[str, ...] = ("report", "quality")  # report: the reports' experiments; quality: genlib.quality's ablation


def suite_experiments(suite: str, dataset: str, budget: ExperimentBudget, n_classes: int = 49) -> list[Experiment]:
    """The experiments of one suite: ``"report"`` (:func:`seed_experiments`) or ``"quality"`` (:func:`genlib.quality.quality_experiments`)."""
    if suite == "report":
        return seed_experiments(dataset, budget, n_classes)
    if suite == "quality":
        from genlib.quality import quality_experiments

        return quality_experiments(dataset, budget, n_classes)
    raise ValueError(f"unknown suite {suite!r}: allowed {', '.join(SUITES)}")


def _finished(path: Path, exp: Experiment) -> bool:
    """Whether ``path`` is a checkpoint of exactly ``exp``'s configs that completed its epochs."""
    if not path.is_file():
        return False
    ckpt = load_checkpoint(path)
    return (
        ckpt.family == exp.family and _same_config(ckpt.model_config, exp.model_config, exp.family, "model_config")
        and _same_config(ckpt.train_config, exp.train_config, exp.family, "train_config") and ckpt.state.get("epoch", 0) >= exp.train_config.epochs
    )


def _same_config(saved: dict[str, Any], config: Any, family: str = "*", kind: str = "train_config") -> bool:
    """Whether a checkpoint's JSON config (``kind`` of ``family``) equals ``config``; fields it predates
    count as their defaults, and renamed values as their new names (:func:`genlib.legacy.upgrade_config`)."""
    try:
        return config_from_dict(type(config), upgrade_config(saved, family, kind)) == config
    except (TypeError, ValueError):  # a field that no longer exists, or a value the config now rejects
        return False


def _real_row(base: PreparedData, classifier: Any, reference: E.RealReference, budget: ExperimentBudget) -> tuple[dict[str, Any], np.ndarray]:
    """The ceiling row (real held-out images through the same protocol, without repeats) and its sample grid."""
    real = E.real_sampler(base, reference)
    n_real = max(2, min(budget.n_per_cell, E.smallest_cell(base, reference)))
    row = E.evaluate_sampler(real, base, classifier.model, n_per_cell=n_real, seed=budget.seed, reference=reference)
    classes, styles = ordered_labels(min(GRID_CLASSES, base.n_classes), 2, GRID_PER_CELL)
    grid = (real(classes, styles, budget.seed)[:, 0] * 255).round().to(torch.uint8).numpy()
    return {"name": "real (held-out)", "family": "data", "dataset": base.config.dataset, **row, "samples_per_s": float("nan")}, grid


def _caption(base: PreparedData, budget: ExperimentBudget, classifier: Any, suite: str = "report") -> str:
    note = " — the embedded Kana-49 stand-in (synthetic, not Kuzushiji)" if base.synthetic else ""
    metrics = classifier.test_metrics
    length = (f"{budget.epochs} epochs for every model of the K49 report's §6, {budget.conv_gan_epochs} for each conv cGAN"
              if suite == "report" else f"{budget.conv_gan_epochs} epochs for every conv cGAN")
    return (
        f"Dataset {base.config.dataset}{note}. Budget: {length} ({budget.conv_gan_channels} filters); training seed {budget.seed}; metrics on {budget.n_per_cell} "
        f"samples per (class, style) cell; classifier test accuracy {metrics.get('accuracy', float('nan')):.4f}, balanced "
        f"{metrics.get('balanced_accuracy', float('nan')):.4f}; {torch.get_num_threads()} CPU thread(s)."
    )


def sample_grid(row_path: Path, n_classes: int, seed: int) -> np.ndarray:
    """uint8 ``[GRID_CLASSES * 2 * GRID_PER_CELL, 28, 28]``: the first classes, thin then thick, per model."""
    classes, styles = ordered_labels(min(GRID_CLASSES, n_classes), 2, GRID_PER_CELL)
    images = families.load(row_path).sample(classes, styles, seed=seed)
    return (images[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def _write_outputs(out: Path, rows: list[dict[str, Any]], grids: dict[str, np.ndarray], run: dict[str, Any], caption: str) -> None:
    table = [{k: v for k, v in r.items() if k not in ("history", "per_class")} for r in rows]
    T.write_markdown_table(table, out / "results.md", caption=caption)
    T.write_csv(table, out / "results.csv")
    atomic_write_text(out / "histories.json", json.dumps({r["name"]: r.get("history", []) for r in rows}, indent=1))
    atomic_write_text(out / "per_class.json", json.dumps({r["name"]: r.get("per_class", {}) for r in rows}))
    atomic_write_npz(out / "samples.npz", **grids)
    atomic_write_text(out / "run.json", json.dumps(run, indent=1, default=str))


def run_experiments(
    dataset: str = "kana49",
    budget: ExperimentBudget = ExperimentBudget(),
    out_dir: str | Path = "data/experiments_kana49",
    *,
    only: Sequence[str] | None = None,
    suite: str = "report",
    checkpoint_dir: str | Path | None = None,
    threads: int | None = None,
    progress: bool = False,
    figures: bool = True,
) -> list[dict[str, Any]]:
    """Train and evaluate every experiment on one budget; write the table and curves to ``out_dir``.

    Args:
        only: names of the experiments to run (default: all of the suite).
        suite: ``"report"`` (the reports' experiments) or ``"quality"`` (the image-quality ablation).
        checkpoint_dir: keep the checkpoints here; a finished one is evaluated, not retrained
            (default: a temporary folder, deleted at the end).
        threads: torch threads (e.g. 1 while other work shares the machine).
        figures: also write ``samples.png`` and ``losses.png``.
    Returns:
        the rows: first the real held-out images (the ceiling), then one per experiment.
        Results are rewritten after every experiment, so an interrupted run keeps what it finished.
    """
    from genlib.judge import load_or_train_classifier

    if threads is not None:
        torch.set_num_threads(threads)
    names = [e.name for e in suite_experiments(suite, dataset, budget)]
    unknown = set(only or ()) - set(names)
    if unknown:
        raise ValueError(f"unknown experiment(s) {sorted(unknown)}: allowed {', '.join(names)}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base = prepare_dataset(DataConfig(dataset=dataset, limit=budget.limit))
    experiments = [e for e in suite_experiments(suite, dataset, budget, base.n_classes) if only is None or e.name in only]
    classifier = load_or_train_classifier(dataset, data=base, progress=progress)
    reference = E.real_reference(base, classifier.model, budget.seed)
    datasets: dict[DataConfig, PreparedData] = {base.config: base}
    real_row, real_grid = _real_row(base, classifier, reference, budget)
    rows, grids, caption = [real_row], {"real": real_grid}, _caption(base, budget, classifier, suite)
    run = {
        "dataset": dataset, "suite": suite, "synthetic": base.synthetic, "budget": dataclasses.asdict(budget), "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "classifier": classifier.test_metrics,
        "experiments": {e.name: {"family": e.family, "description": e.description, "model_config": dataclasses.asdict(e.model_config),
                                 "train_config": dataclasses.asdict(e.train_config)} for e in experiments},
    }
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genlib-experiments-") as tmp:
        ckpt_dir = Path(checkpoint_dir) if checkpoint_dir is not None else Path(tmp)
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        for exp in experiments:
            path = ckpt_dir / f"{exp.name}.safetensors"
            data_config = exp.train_config.data
            if data_config not in datasets:
                datasets[data_config] = prepare_dataset(data_config)
            data = datasets[data_config]
            if not _finished(path, exp):
                families.get_family(exp.family).train(exp.model_config, exp.train_config, data=data, out=path, slim=True, progress=progress)
            row = E.evaluate_checkpoint(path, n_per_cell=budget.n_per_cell, seed=budget.seed, data=data,
                                        classifier=classifier.model, reference=reference, name=exp.name)
            rows.append(row)
            grids[exp.name] = sample_grid(path, base.n_classes, budget.seed)
            run["seconds"] = time.perf_counter() - tic
            _write_outputs(out, rows, grids, run, caption)
    if figures:
        write_figures(out)
    return rows


def samples_figure(grids: dict[str, np.ndarray]) -> "matplotlib.figure.Figure":
    """One row per model of its ``samples.npz`` grid (classes 0.., thin x2 then thick x2 each)."""
    import matplotlib.pyplot as plt

    from genlib.plots import tile

    fig, axes = plt.subplots(len(grids), 1, figsize=(12, 0.62 * len(grids) + 0.4), squeeze=False)
    for ax, (name, grid) in zip(axes[:, 0], grids.items()):
        ax.imshow(tile(grid, ncol=len(grid), pad=1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def losses_figure(histories: dict[str, list[dict[str, float]]], ncols: int = 5) -> "matplotlib.figure.Figure":
    """One panel per model: train and validation negative ELBO (CVAEs) or D and G losses (CGANs)."""
    import matplotlib.pyplot as plt

    from genlib.plots import plot_history

    histories = {k: v for k, v in histories.items() if v}
    nrows = -(-len(histories) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
    for ax in axes.flat[len(histories) :]:
        ax.set_visible(False)
    for ax, (name, history) in zip(axes.flat, histories.items()):
        keys = ["loss", "val_loss"] if "val_loss" in history[0] else ["d_loss", "g_loss"]
        plot_history(history, keys, title=name, ax=ax)
    fig.tight_layout()
    return fig


def load_results(out_dir: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, np.ndarray], dict[str, Any]]:
    """``(rows, histories, sample grids, run info)`` as :func:`run_experiments` saved them; the run
    info's configs with renamed values under their new names (:func:`genlib.legacy.upgrade_config`)."""
    out = Path(out_dir)
    rows = T.read_csv(out / "results.csv")
    histories = json.loads((out / "histories.json").read_text())
    grids = {k: v.astype(np.float32) / 255 for k, v in np.load(out / "samples.npz").items()}
    run = json.loads((out / "run.json").read_text())
    for e in run.get("experiments", {}).values():
        e.update({kind: upgrade_config(e[kind], e.get("family", ""), kind) for kind in ("model_config", "train_config") if kind in e})
    return rows, histories, grids, run


def write_figures(out_dir: str | Path) -> None:
    """``samples.png`` and ``losses.png`` from the saved results in ``out_dir``."""
    from genlib.plots import save_figure

    _, histories, grids, _ = load_results(out_dir)
    for name, fig, dpi in (("samples.png", samples_figure(grids), 90), ("losses.png", losses_figure(histories), 80)):
        save_figure(fig, str(Path(out_dir) / name), dpi=dpi)
