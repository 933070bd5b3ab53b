"""The StyleGAN's w-space and noise, measured at sampling time: truncation and the noise inputs.

A trained StyleGAN (:mod:`genlib.models.stylegan`) has two knobs that need no retraining:

- **truncation** in w-space: ``w' = w_avg + psi * (w - w_avg)``, towards the mean ``w`` of the
  requested (class, style) label (``label``) or of all labels (``global``); ``psi = 1`` is none.
  ``psi < 1`` trades diversity for typical, easy-to-recognise images; ``psi > 1`` pushes ``w``
  *away* from the mean, undoing some of the contraction of the EMA generator (whose samples vary
  less than real images: diversity below 1), at some cost in class accuracy.
- **the noise inputs** of every synthesis layer: fresh per image (``random``, as in training), one
  fixed map for all images (``const``), or none.

This ablation samples one trained generator (default: the best StyleGAN shipped for the dataset,
``stylegan_longest_<dataset>`` or else ``stylegan_long_<dataset>``, :func:`default_checkpoint`)
with each setting and judges every row with the metric suite of :mod:`genlib.evaluation`, on two
*sampling* seeds (the generator is trained once)::

    genlib experiments --suite sampling --dataset kana49 --out data/sampling_kana49

Rows are named ``<setting>-s<seed>``; :func:`genlib.quality.ablation_table` averages the seeds and
:func:`genlib.experiments.load_ablation` reads the results back.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genlib import evaluation as E
from genlib.data.datasets import prepare_dataset
from genlib.experiments import label_grid, real_row, write_ablation
from genlib.models.stylegan import NoiseMode, TruncationTarget
from genlib.models.stylegan_sample import sample

SEEDS = (0, 1)  # sampling seeds (added to the budget's)
SAMPLING_METRICS = ("cond_accuracy", "style_agreement", "fid", "diversity")


@dataclass(frozen=True)
class SamplingSetting:
    """One row of the ablation: how the generator is sampled."""

    name: str
    psi: float = 1.0  # truncation: 1 = none, 0 = the mean w
    truncation: TruncationTarget = "label"  # towards the label's mean w or the global one
    noise_mode: NoiseMode = "random"  # random (as trained) | const | none
    description: str = ""


SETTINGS: tuple[SamplingSetting, ...] = (
    SamplingSetting("base", description="as trained: fresh noise per image, no truncation"),
    SamplingSetting("noise-const", noise_mode="const", description="one fixed noise map for every image"),
    SamplingSetting("noise-none", noise_mode="none", description="no noise inputs"),
    SamplingSetting("psi0.9-label", psi=0.9, description="w 10% of the way to its label's mean"),
    SamplingSetting("psi0.8-label", psi=0.8, description="w 20% of the way to its label's mean"),
    SamplingSetting("psi0.7-label", psi=0.7, description="w 30% of the way to its label's mean"),
    SamplingSetting("psi0.9-global", psi=0.9, truncation="global", description="w 10% of the way to the global mean"),
    SamplingSetting("psi0.8-global", psi=0.8, truncation="global", description="w 20% of the way to the global mean"),
    SamplingSetting("psi1.1-label", psi=1.1, description="w 10% further from its label's mean (more varied)"),
    SamplingSetting("psi1.2-label", psi=1.2, description="w 20% further from its label's mean"),
)


BEST_FIRST: tuple[str, ...] = ("stylegan_longest", "stylegan_long")  # the shipped StyleGANs, most images shown first


def default_checkpoint(dataset: str) -> Path:
    """The best StyleGAN shipped for ``dataset``: the first of :data:`BEST_FIRST` in ``data/`` (the last one's path if none is)."""
    from genlib.pretrained import pretrained_path

    paths = [pretrained_path(f"{variant}_{dataset}") for variant in BEST_FIRST]
    return next((p for p in paths if p.is_file()), paths[-1])


def run_sampling_ablation(
    dataset: str, budget: Any, out_dir: str | Path, *, checkpoint: str | Path | None = None,
    settings: tuple[SamplingSetting, ...] = SETTINGS, progress: bool = False,
) -> list[dict[str, Any]]:
    """Evaluate one StyleGAN checkpoint under every setting and sampling seed (module docstring);
    write ``results.csv`` / ``results.md``, ``samples.npz`` (each setting's grid at the first seed)
    and ``run.json`` to ``out_dir``.

    ``budget`` is an :class:`~genlib.experiments.ExperimentBudget` (``n_per_cell``, ``seed``, ``limit``).
    Returns the rows, the real held-out images first.

    Raises:
        ValueError: the checkpoint is missing, is not a StyleGAN, or was trained on another dataset.
    """
    from genlib.families import load
    from genlib.judge import load_or_train_classifier
    from genlib.quality import ablation_display, ablation_table

    path = Path(checkpoint) if checkpoint is not None else default_checkpoint(dataset)
    if not path.is_file():
        raise ValueError(f"no StyleGAN checkpoint at {path}: train one (genlib train --recipe stylegan_long_{dataset}) or pass checkpoint=")
    loaded = load(path)
    if loaded.family.name != "stylegan":
        raise ValueError(f"{path} is a {loaded.family.name!r} checkpoint: the sampling ablation needs a 'stylegan' one")
    if loaded.data_config.dataset != dataset:
        raise ValueError(f"{path} was trained on {loaded.data_config.dataset!r}, not {dataset!r}")
    data = prepare_dataset(dataclasses.replace(loaded.data_config, limit=budget.limit))
    judge = load_or_train_classifier(dataset, data=data, progress=progress)
    reference = E.real_reference(data, judge.model, budget.seed)
    ceiling, real_grid = real_row(data, judge, reference, budget)
    rows: list[dict[str, Any]] = [ceiling]
    grids = {"real": real_grid}
    run: dict[str, Any] = {"dataset": dataset, "suite": "sampling", "synthetic": data.synthetic, "checkpoint": str(path),
                           "budget": dataclasses.asdict(budget), "settings": [dataclasses.asdict(s) for s in settings]}
    note = " (the embedded Kana-49 stand-in: synthetic, not Kuzushiji)" if data.synthetic else ""
    caption = f"{path.name}, sampled with each setting on {dataset}{note}: mean over {len(SEEDS)} sampling seeds, ± half the spread"
    tic = time.perf_counter()
    for setting in settings:
        sample_fn = lambda c, s, sd, st=setting: sample(  # noqa: E731
            loaded.model, c, s, seed=sd, psi=st.psi, truncation=st.truncation, noise_mode=st.noise_mode)
        for offset in SEEDS:
            seed = budget.seed + offset
            row = E.evaluate_sampler(sample_fn, data, judge.model, n_per_cell=budget.n_per_cell, seed=seed, reference=reference)
            rows.append({"name": f"{setting.name}-s{seed}", "family": "stylegan", "dataset": dataset, "psi": setting.psi,
                         "truncation": setting.truncation, "noise_mode": setting.noise_mode, **row})
        grids[setting.name] = label_grid(sample_fn, data, budget.seed)
        run["seconds"] = time.perf_counter() - tic
        write_ablation(Path(out_dir), rows, grids, run, ablation_display(ablation_table(rows, SAMPLING_METRICS), SAMPLING_METRICS), caption)
    return rows
