"""The K49 report's §6 architecture experiments and the StyleGAN report's learning-rate comparison,
on equal budgets.

Every experiment trains one model for the same number of epochs on the same dataset, then
:mod:`genlib.evaluation` judges it with the same protocol; one table holds them all::

    genlib experiments --dataset kana49 --out data/experiments_kana49

or, from Python, ``run_experiments("kana49", ExperimentBudget(), "data/experiments_kana49")``.
The output folder gets ``results.md`` / ``results.csv`` (the table), ``histories.json`` (loss
curves), ``per_class.json``, ``samples.npz`` (a class x style grid of each model, uint8),
``samples.png``, ``losses.png``, ``run.json`` (budget, configs, classifier accuracy, timings),
``checkpoints/<name>.safetensors`` (each model's sampling weights, float16, ~0.5-5 MB) and
``snapshots/<name>.npz`` (the MLP CGANs at epochs 0, 50, 100). A second run finds the stored
checkpoints and only re-evaluates; ``only=[name]`` (``--only NAME``) redoes one row and keeps the rest.
:mod:`genlib.experiment_figures` draws the report's §6 figures from the stored checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import platform
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from genlib import evaluation as E
from genlib import families
from genlib import tables as T
from genlib.atomic import atomic_write_bytes, atomic_write_npz, atomic_write_text
from genlib.checkpoint import load_checkpoint, read_meta, rewrite_checkpoint
from genlib.config import config_from_dict
from genlib.data.datasets import DataConfig, PreparedData, prepare_dataset
from genlib.legacy import upgrade_config
from genlib.models.cgan import CGANConfig, conv_config
from genlib.models.cgan_train import CGANTrainConfig
from genlib.models.cvae import CVAEConfig
from genlib.models.cvae_train import CVAETrainConfig
from genlib.models.conditioning import ordered_labels

GRID_CLASSES = 10  # classes shown per model in samples.npz (styles x 2 samples each)
GRID_PER_CELL = 2
SNAPSHOT_EVERY = 50  # the MLP CGANs' snapshot epochs (the report's Figures 33-35: epochs 50 and 100)
SNAPSHOT_DIR = "<experiment>"  # placeholder: run_experiments writes each run's snapshots to a scratch folder
CHECKPOINTS = "checkpoints"  # sub-folder of the results: one slim float16 checkpoint per experiment (the sampler's weights)
SNAPSHOTS = "snapshots"  # sub-folder of the results: <name>.npz, the one-z grid of every snapshot epoch


@dataclass(frozen=True)
class ExperimentBudget:
    """The budget every experiment gets (one row of the table states it)."""

    epochs: int = 100  # epochs of each MLP model of the K49 report's §6, its CVAEs and CGANs (the report: 100)
    conv_cvae_epochs: int = 30  # epochs of each conv CVAE (genlib's, not in the report)
    conv_gan_epochs: int = 3  # epochs of each conv cGAN of the learning-rate comparison (the StyleGAN report: 100)
    conv_gan_channels: int = 128  # filters of the conv cGAN (the StyleGAN report: 128); fewer trains faster
    stylegan_epochs: int = 10  # passes over the training split of each StyleGAN of the stylegan suite
    n_per_cell: int = 50  # samples per (class, style) cell for the metrics
    seed: int = 0  # training and evaluation seed
    limit: int = 0  # at most this many images per split (0 = all): shrinks a trial run

    def __post_init__(self) -> None:
        for name, low in (("epochs", 1), ("conv_cvae_epochs", 1), ("conv_gan_epochs", 1), ("conv_gan_channels", 2), ("stylegan_epochs", 1),
                          ("n_per_cell", 2), ("limit", 0)):
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


def report_experiments(dataset: str = "kana49", budget: ExperimentBudget = ExperimentBudget(), n_classes: int = 49) -> list[Experiment]:
    """The experiments of the K49 report's §6 (+ baselines) and the StyleGAN report's 1e-4 vs 3e-4 comparison."""
    median = DataConfig(dataset=dataset, limit=budget.limit)
    mean = dataclasses.replace(median, style_rule="mean")
    cvae = CVAEConfig(n_classes=n_classes)
    cgan = CGANConfig(n_classes=n_classes)
    cvae_train = CVAETrainConfig(data=median, epochs=budget.epochs, seed=budget.seed)  # Adam 1e-3, batch 100 (the K49 report's §4.2)
    cgan_train = CGANTrainConfig(data=median, epochs=budget.epochs, seed=budget.seed,  # Adam 1e-4, batch 128 (the K49 report's §4.3.4)
                                 snapshot_every=SNAPSHOT_EVERY, snapshot_dir=SNAPSHOT_DIR)
    pm1 = dataclasses.replace(cgan, label_range="pm1")  # the report's x*2-1 of image and one-hot labels (§4.3.1)
    # the StyleGAN report's loop: Adam beta1 0.5, D steps on real then fake, fakes with random labels; NHWC layout (same math)
    conv_train = dataclasses.replace(cgan_train, epochs=budget.conv_gan_epochs, beta1=0.5, d_update="split", fake_labels="random",
                                     channels_last=True, snapshot_every=0, snapshot_dir="")
    conv = conv_config(n_classes=n_classes, channels=budget.conv_gan_channels)
    conv_cvae = CVAEConfig(arch="conv", n_classes=n_classes, latent_dim=16, hidden_dim=128)
    conv_cvae_train = dataclasses.replace(cvae_train, epochs=budget.conv_cvae_epochs)
    return [
        Experiment("cvae-mlp", "cvae", cvae, cvae_train, "the K49 report's CVAE baseline (§4.2): MLP 144, latent 2"),
        Experiment("cvae-arch1-mean", "cvae", cvae, dataclasses.replace(cvae_train, data=mean), "§6.0.2 Architecture 1: style by the class mean, not the median"),
        Experiment("cvae-arch2-cxs", "cvae", dataclasses.replace(cvae, input_order="cxs"), cvae_train, "§6.0.3 Architecture 2: encoder input (class, image, style)"),
        Experiment("cvae-arch3-deep", "cvae", dataclasses.replace(cvae, arch="deep"), cvae_train, "§6.0.4 Architecture 3: 256-128 layers with batch norm"),
        Experiment("cvae-conv", "cvae", conv_cvae, conv_cvae_train, "genlib: convolutional CVAE, latent 16"),
        Experiment("cvae-conv-beta3", "cvae", conv_cvae, dataclasses.replace(conv_cvae_train, kl_weight=3.0), "genlib: the same conv CVAE as a beta-VAE, beta = 3"),
        Experiment("cvae-conv-beta3-slant", "cvae", dataclasses.replace(conv_cvae, n_styles=4),
                   dataclasses.replace(conv_cvae_train, kl_weight=3.0, data=dataclasses.replace(median, condition="thickness+slant")),
                   "genlib: the conv beta-CVAE conditioned on thickness and slant (4 style codes)"),
        Experiment("cgan-mlp-pm1", "cgan", pm1, cgan_train, "the K49 report's CGAN baseline as trained (§4.3): MLP 256, tanh, lr 1e-4, labels -1/+1"),
        Experiment("cgan-mlp", "cgan", cgan, cgan_train, "genlib's fix of the baseline: only the image rescaled, labels stay 0/1"),
        Experiment("cgan-arch1-cxs", "cgan", dataclasses.replace(pm1, input_order="cxs"), cgan_train, "§6.1.1 Architecture 1: D input (class, image, style)"),
        Experiment("cgan-arch2-sigmoid", "cgan", dataclasses.replace(cgan, output="sigmoid"), cgan_train,
                   "§6.1.2 Architecture 2: sigmoid output on [0, 1] data, labels 0/1"),
        Experiment("cgan-conv-lr1e-4", "cgan", conv, dataclasses.replace(conv_train, lr=1e-4), "the StyleGAN report's conv cGAN, Adam lr 1e-4"),
        Experiment("cgan-conv-lr3e-4", "cgan", conv, dataclasses.replace(conv_train, lr=3e-4),
                   "the StyleGAN report's conv cGAN, Adam lr 3e-4 (the report's choice; its analysis' setting two: LeakyReLU, kernel 4)"),
        Experiment("cgan-conv-setting1", "cgan", dataclasses.replace(conv, activation="sigmoid", kernel_size=3), dataclasses.replace(conv_train, lr=1e-4),
                   "the StyleGAN report's analysis, setting one: lr 1e-4, sigmoid activations, kernel 3, stride 2"),
        Experiment("gan-conv-unconditional", "cgan", dataclasses.replace(conv, conditional=False), dataclasses.replace(conv_train, lr=3e-4),
                   "the StyleGAN report's conv GAN without conditioning (labels ignored: class accuracy at chance)"),
    ]


SUITES: tuple[str, ...] = ("report", "quality", "prior", "sampling", "stylegan")  # the reports' experiments; genlib.quality's conv cGAN
# ablation; genlib.prior_ablation's CVAE one; genlib.sampling_ablation's StyleGAN truncation and noise; genlib.stylegan_ablation's training settings


def suite_experiments(suite: str, dataset: str, budget: ExperimentBudget, n_classes: int = 49) -> list[Experiment]:
    """The experiments of one suite: ``"report"`` (:func:`report_experiments`), ``"quality"``
    (:func:`genlib.quality.quality_experiments`) or ``"stylegan"`` (:func:`genlib.stylegan_ablation.stylegan_experiments`)."""
    if suite == "report":
        return report_experiments(dataset, budget, n_classes)
    if suite == "quality":
        from genlib.quality import quality_experiments

        return quality_experiments(dataset, budget, n_classes)
    if suite == "stylegan":
        from genlib.stylegan_ablation import stylegan_experiments

        return stylegan_experiments(dataset, budget, n_classes)
    if suite == "prior":
        raise ValueError("the prior suite trains one model per row group and has its own runner: genlib.prior_ablation.run_prior_ablation")
    if suite == "sampling":
        raise ValueError("the sampling suite trains nothing and has its own runner: genlib.sampling_ablation.run_sampling_ablation")
    raise ValueError(f"unknown suite {suite!r}: allowed {', '.join(SUITES)}")


def finished(path: Path, exp: Experiment) -> bool:
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
    count as their defaults, renamed values as their new names (:func:`genlib.legacy.upgrade_config`),
    and where a run wrote its snapshot figures (``snapshot_dir``) does not count."""
    try:
        back = config_from_dict(type(config), upgrade_config(saved, family, kind))
    except (TypeError, ValueError):  # a field that no longer exists, or a value the config now rejects
        return False
    if hasattr(config, "snapshot_dir"):
        back = dataclasses.replace(back, snapshot_dir=config.snapshot_dir)
    return back == config


def train_and_store(exp: Experiment, data: PreparedData, stored: Path, snapshots: Path, scratch: Path, progress: bool) -> None:
    """Train ``exp`` in ``scratch`` and keep its sampler's weights, in float16, at ``stored`` (and the
    MLP CGANs' snapshot grids as ``snapshots/<name>.npz``)."""
    from genlib.models.snapshots import ARCHIVE

    family = families.get_family(exp.family)
    train_config = exp.train_config
    if getattr(train_config, "snapshot_every", 0):
        train_config = dataclasses.replace(train_config, snapshot_dir=str(scratch / exp.name))
    full = scratch / f"{exp.name}.safetensors"
    family.train(exp.model_config, train_config, data=data, out=full, slim=True, progress=progress)
    present = set(read_meta(full).modules)
    keep = next(m for m in family.sampler if m in present)
    rewrite_checkpoint(full, stored, slim=True, modules=[keep], half=True)
    archive = scratch / exp.name / ARCHIVE
    if archive.is_file():
        snapshots.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(snapshots / f"{exp.name}.npz", archive.read_bytes())


def real_row(base: PreparedData, classifier: Any, reference: E.RealReference, budget: ExperimentBudget) -> tuple[dict[str, Any], np.ndarray]:
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
    length = {
        "report": f"{budget.epochs} epochs for every MLP model of the K49 report's §6, {budget.conv_cvae_epochs} for each conv CVAE, "
                  f"{budget.conv_gan_epochs} for each conv cGAN ({budget.conv_gan_channels} filters)",
        "stylegan": f"{budget.stylegan_epochs} epochs for every StyleGAN (the long row: more)",
    }.get(suite, f"{budget.conv_gan_epochs} epochs for every conv cGAN ({budget.conv_gan_channels} filters)")
    return (
        f"Dataset {base.config.dataset}{note}. Budget: {length}; training seed {budget.seed}; metrics on {budget.n_per_cell} "
        f"samples per (class, style) cell; classifier test accuracy {metrics.get('accuracy', float('nan')):.4f}, balanced "
        f"{metrics.get('balanced_accuracy', float('nan')):.4f}; {torch.get_num_threads()} CPU thread(s)."
    )


def sample_grid(row_path: Path, n_classes: int, seed: int) -> np.ndarray:
    """uint8 ``[GRID_CLASSES * 2 * GRID_PER_CELL, 28, 28]``: the first classes, thin then thick, per model."""
    classes, styles = ordered_labels(min(GRID_CLASSES, n_classes), 2, GRID_PER_CELL)
    images = families.load(row_path).sample(classes, styles, seed=seed)
    return (images[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def label_grid(sample_fn: E.SampleFn, data: PreparedData, seed: int) -> np.ndarray:
    """uint8 ``[GRID_CLASSES * styles * GRID_PER_CELL, 28, 28]`` from any sampler: the first classes, every style."""
    classes, styles = ordered_labels(min(GRID_CLASSES, data.n_classes), data.n_styles, GRID_PER_CELL)
    return (sample_fn(classes, styles, seed)[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def _put_row(rows: list[dict[str, Any]], row: dict[str, Any], order: Sequence[str]) -> list[dict[str, Any]]:
    """``rows`` with ``row`` in place of the one of the same name, the real row first, then in ``order``."""
    kept = {r["name"]: r for r in rows}
    kept[row["name"]] = row
    return [kept[n] for n in ["real (held-out)", *order] if n in kept]


def _merge_previous(out: Path, rows: list[dict[str, Any]], grids: dict[str, np.ndarray], run: dict[str, Any]) -> tuple[
        list[dict[str, Any]], dict[str, np.ndarray], dict[str, Any]]:
    """The rows, grids and run info saved in ``out``, with today's real row, grid and run info on top
    (``--only`` re-runs some experiments and keeps the others' results)."""
    histories = json.loads((out / "histories.json").read_text())
    per_class = json.loads((out / "per_class.json").read_text())
    old = [{**r, "history": histories.get(r["name"], []), "per_class": per_class.get(r["name"], {})}
           for r in T.read_csv(out / "results.csv") if r["name"] != rows[0]["name"]]
    with np.load(out / "samples.npz") as saved:
        old_grids = {k: saved[k] for k in saved.files}
    previous = json.loads((out / "run.json").read_text()) if (out / "run.json").is_file() else {}
    merged_run = {**previous, **run, "experiments": {**previous.get("experiments", {}), **run["experiments"]}}
    return rows[:1] + old, {**old_grids, **grids}, merged_run


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
        suite: ``"report"`` (the reports' experiments), ``"quality"`` (the conv cGAN's image-quality
            ablation), ``"prior"`` (the conv CVAE's beta x prior ablation, :mod:`genlib.prior_ablation`),
            ``"sampling"`` (the StyleGAN's truncation and noise at sampling time, :mod:`genlib.sampling_ablation`)
            or ``"stylegan"`` (the StyleGAN's training settings, :mod:`genlib.stylegan_ablation`).
        only: re-run just these experiments (names as in the table); the others' saved rows in
            ``out_dir`` are kept, so one row can be redone without retraining the rest.
        checkpoint_dir: where the slim float16 checkpoints are kept (default ``out_dir/checkpoints``);
            a finished one whose configs match is evaluated again, not retrained, so a second run
            redraws every table row and figure from the stored models.
        threads: torch threads (e.g. 1 while other work shares the machine).
        figures: also write ``samples.png`` and ``losses.png``.
    Returns:
        the rows: first the real held-out images (the ceiling), then one per experiment.
        Results are rewritten after every experiment, so an interrupted run keeps what it finished.
    """
    from genlib.judge import load_or_train_classifier

    if threads is not None:
        torch.set_num_threads(threads)
    if suite == "prior":  # one trained model gives several rows (one per prior): its own runner
        from genlib.prior_ablation import run_prior_ablation

        if only is not None:
            raise ValueError("--only applies to the report and quality suites; the prior suite reuses its stored models by itself")
        return run_prior_ablation(dataset, budget, out_dir, checkpoint_dir=checkpoint_dir, progress=progress)
    if suite == "sampling":  # samples one trained StyleGAN several ways: its own runner
        from genlib.sampling_ablation import run_sampling_ablation

        if only is not None or checkpoint_dir is not None:
            raise ValueError("--only and --checkpoints apply to the suites that train; the sampling suite evaluates the best shipped StyleGAN, data/stylegan_longest_<dataset> or stylegan_long_<dataset>")
        return run_sampling_ablation(dataset, budget, out_dir, progress=progress)
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
    real, real_grid = real_row(base, classifier, reference, budget)
    rows, grids, caption = [real], {"real": real_grid}, _caption(base, budget, classifier, suite)
    run = {
        "dataset": dataset, "suite": suite, "synthetic": base.synthetic, "budget": dataclasses.asdict(budget), "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(), "classifier": classifier.test_metrics,
        "experiments": {e.name: {"family": e.family, "description": e.description, "model_config": dataclasses.asdict(e.model_config),
                                 "train_config": dataclasses.asdict(e.train_config)} for e in experiments},
    }
    if only is not None and (out / "results.csv").is_file():  # keep the rows of the experiments not re-run
        rows, grids, run = _merge_previous(out, rows, grids, run)
    keep_dir = Path(checkpoint_dir) if checkpoint_dir is not None else out / CHECKPOINTS
    keep_dir.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="genlib-experiments-") as tmp:
        for exp in experiments:
            path = keep_dir / f"{exp.name}.safetensors"
            data_config = exp.train_config.data
            if data_config not in datasets:
                datasets[data_config] = prepare_dataset(data_config)
            data = datasets[data_config]
            if not finished(path, exp):
                train_and_store(exp, data, path, out / SNAPSHOTS, Path(tmp), progress)
            row = E.evaluate_checkpoint(path, n_per_cell=budget.n_per_cell, seed=budget.seed, data=data,
                                        classifier=classifier.model, reference=reference, name=exp.name)
            rows = _put_row(rows, row, order=names)
            grids[exp.name] = sample_grid(path, base.n_classes, budget.seed)
            run["seconds"] = time.perf_counter() - tic
            _write_outputs(out, rows, grids, run, caption)
    if figures:
        write_figures(out, base)
    return rows


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


def write_figures(out_dir: str | Path, data: PreparedData | None = None) -> list[Path]:
    """The figures of :mod:`genlib.experiment_figures` as PNGs in ``out_dir`` (from its stored results)."""
    from genlib.experiment_figures import write_figures as write

    return write(out_dir, data)


def write_ablation(out: Path, rows: list[dict[str, Any]], grids: dict[str, np.ndarray], run: dict[str, Any],
                   table: list[dict[str, Any]], caption: str) -> None:
    """An ablation's files in ``out``: ``results.csv`` (every row), ``results.md`` (``table``, the seeds
    averaged, under ``caption``), ``samples.npz`` (uint8 grids) and ``run.json``."""
    T.write_csv([{k: v for k, v in r.items() if k != "per_class"} for r in rows], out / "results.csv")
    T.write_markdown_table(table, out / "results.md", columns=list(table[0]) if table else None, caption=caption)
    atomic_write_npz(out / "samples.npz", **grids)
    atomic_write_text(out / "run.json", json.dumps(run, indent=1, default=str))


def load_ablation(out_dir: str | Path) -> tuple[list[dict[str, Any]], dict[str, np.ndarray]]:
    """``(rows, sample grids in [0, 1])`` as :func:`write_ablation` saved them."""
    out = Path(out_dir)
    with np.load(out / "samples.npz") as saved:
        grids = {k: saved[k].astype(np.float32) / 255 for k in saved.files}
    return T.read_csv(out / "results.csv"), grids
