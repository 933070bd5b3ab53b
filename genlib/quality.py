"""Image quality beyond the reports: techniques for the conv cGAN, measured one by one.

The StyleGAN report's convolutional cGAN draws the right shapes with broken strokes. Each
technique below is one config option; the ablation trains the same base model with *one*
technique switched on, on an equal budget and two training seeds, then everything together
(``all``) and the two that helped alone (``plus``), and judges every model with the metric suite of :mod:`genlib.evaluation`::

    genlib experiments --suite quality --dataset kana49 --out data/quality_kana49

| row | change from ``base`` | reference |
|---|---|---|
| ``report`` | D steps on real then fake (the report's exact loop) | the StyleGAN report |
| ``base`` | one D step on (real + fake) / 2: the same objective | the K49 report's loop |
| ``hinge`` | hinge loss | Lim & Ye 2017 |
| ``sn`` | spectral normalisation of D | Miyato et al. 2018 |
| ``projection`` | projection discriminator | Miyato & Koyama 2018 |
| ``ttur`` | D learns 4x faster than G (1e-4 / 4e-4) | Heusel et al. 2017 |
| ``r1`` | R1 penalty, gamma = 1 | Mescheder et al. 2018 |
| ``diffaug`` | DiffAugment translation | Zhao et al. 2020 |
| ``ema`` | EMA of G, decay 0.999 | Karras et al. 2018 |
| ``all`` | hinge + SN + projection + TTUR + DiffAugment + EMA | this module |
| ``plus`` | hinge + R1: the two techniques that helped alone on ``mnist5k`` | this module |
| ``bf16`` | bf16 autocast + NHWC convolutions: a speed setting that should change nothing | README, Speed |

:data:`PLUS_MODEL`, :data:`PLUS_TRAIN` and :func:`plus_train` are the ``plus`` settings, which the
``cgan_conv_plus_<dataset>`` recipes train for longer; :data:`ALL_MODEL` and :data:`ALL_TRAIN`
are the ``all`` settings.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Sequence

from genlib.data.datasets import DataConfig
from genlib.models.cgan import CGANConfig, conv_config
from genlib.models.cgan_train import CGANTrainConfig

SEEDS = (0, 1)  # two training seeds per row
ALL_MODEL: dict[str, Any] = {"discriminator": "projection", "spectral_norm": True}  # changes to the model config
ALL_TRAIN: dict[str, Any] = {"loss": "hinge", "lr": 1e-4, "lr_d": 4e-4, "augment": "translation", "ema_decay": 0.999}
PLUS_MODEL: dict[str, Any] = {}  # the base model
PLUS_TRAIN: dict[str, Any] = {"loss": "hinge", "r1_gamma": 1.0}


def base_train(data: DataConfig, epochs: int, seed: int = 0) -> CGANTrainConfig:
    """The StyleGAN report's optimiser (Adam 3e-4, beta1 0.5) and random fake labels, one joint D step."""
    return CGANTrainConfig(data=data, epochs=epochs, seed=seed, lr=3e-4, beta1=0.5, fake_labels="random", d_update="joint")


def plus_model(n_classes: int, n_styles: int = 2, channels: int = 64) -> CGANConfig:
    """The ``plus`` conv cGAN: the StyleGAN report's generator and discriminator, with :data:`PLUS_MODEL`."""
    return conv_config(n_classes=n_classes, n_styles=n_styles, channels=channels, **PLUS_MODEL)


def plus_train(data: DataConfig, epochs: int, seed: int = 0, **changes: Any) -> CGANTrainConfig:
    """The ``plus`` training settings (:data:`PLUS_TRAIN` on :func:`base_train`) with ``changes`` applied."""
    return dataclasses.replace(base_train(data, epochs, seed), **{**PLUS_TRAIN, **changes})


def variants() -> list[tuple[str, dict[str, Any], dict[str, Any], str]]:
    """``(row, model changes, train changes, description)`` of each ablation row (module table)."""
    return [
        ("report", {}, {"d_update": "split"}, "the StyleGAN report's loop: D steps on real, then on fake"),
        ("base", {}, {}, "one D step on (real + fake) / 2 (same objective), Adam 3e-4 / beta1 0.5"),
        ("hinge", {}, {"loss": "hinge"}, "hinge loss instead of BCE"),
        ("sn", {"spectral_norm": True}, {}, "spectral normalisation of every D layer"),
        ("projection", {"discriminator": "projection"}, {}, "projection discriminator (labels · features)"),
        ("ttur", {}, {"lr": 1e-4, "lr_d": 4e-4}, "two time-scales: G 1e-4, D 4e-4"),
        ("r1", {}, {"r1_gamma": 1.0}, "R1 penalty on real images, gamma = 1"),
        ("diffaug", {}, {"augment": "translation"}, "DiffAugment: random translation of D's inputs"),
        ("ema", {}, {"ema_decay": 0.999}, "EMA of G's weights, decay 0.999"),
        ("all", ALL_MODEL, ALL_TRAIN, "hinge + spectral norm + projection D + TTUR + DiffAugment + EMA"),
        ("plus", PLUS_MODEL, PLUS_TRAIN, "hinge + R1 (gamma = 1): the two that helped alone"),
        ("bf16", {}, {"precision": "bf16", "channels_last": True}, "base in bf16 autocast with NHWC convolutions: a speed setting, same objective"),
    ]


def quality_experiments(dataset: str, budget: Any, n_classes: int, n_styles: int = 2) -> list[Any]:
    """One :class:`~genlib.experiments.Experiment` per (row, seed): ``<row>-s<seed>``.

    Every model is the conv cGAN with ``budget.conv_gan_channels`` filters trained for
    ``budget.conv_gan_epochs`` epochs; seeds ``budget.seed + SEEDS``.
    """
    data = DataConfig(dataset=dataset, limit=budget.limit)
    model = conv_config(n_classes=n_classes, n_styles=n_styles, channels=budget.conv_gan_channels)
    return seeded_rows("cgan", variants(), lambda seed: (model, base_train(data, budget.conv_gan_epochs, seed)), budget.seed)


def seeded_rows(family: str, rows: Sequence[tuple[str, dict[str, Any], dict[str, Any], str]], base: Callable[[int], tuple[Any, Any]],
                first_seed: int) -> list[Any]:
    """One :class:`~genlib.experiments.Experiment` named ``<row>-s<seed>`` per ablation row and seed.

    ``rows`` are ``(row, model changes, train changes, description)``; ``base(seed)`` gives the base
    row's ``(model config, train config)`` for a training seed; seeds are ``first_seed + SEEDS``.
    """
    from genlib.experiments import Experiment

    out = []
    for row, model_changes, train_changes, description in rows:
        for seed in (first_seed + s for s in SEEDS):
            model, train = base(seed)
            out.append(Experiment(f"{row}-s{seed}", family, dataclasses.replace(model, **model_changes),
                                  dataclasses.replace(train, **train_changes), description))
    return out


def row_name(name: str) -> str:
    """``"hinge-s1"`` → ``"hinge"`` (the ablation row of an experiment)."""
    head, _, tail = name.rpartition("-s")
    return head if head and tail.isdigit() else name


ABLATION_METRICS = ("cond_accuracy", "style_agreement", "fid", "diversity", "train_seconds")


def ablation_table(rows: Sequence[dict[str, Any]], metrics: Sequence[str] = ABLATION_METRICS) -> list[dict[str, Any]]:
    """Mean over seeds and half the spread (max - min) / 2 of each metric, per ablation row.

    ``rows`` are the saved results (``results.csv``); the real-data row gives the FID floor.
    Returns one dict per row in table order: ``technique``, ``seeds``, ``<metric>`` and
    ``<metric>_spread`` for each of ``metrics`` (default :data:`ABLATION_METRICS`), and ``fid_x_floor``.
    """
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("family") != "data":
            groups.setdefault(row_name(str(r["name"])), []).append(r)
    out = []
    for name, group in groups.items():
        entry: dict[str, Any] = {"technique": name, "seeds": len(group)}
        for key in metrics:
            values = [float(r[key]) for r in group if r.get(key) not in (None, "") and not math.isnan(float(r[key]))]
            entry[key] = sum(values) / len(values) if values else math.nan
            entry[f"{key}_spread"] = (max(values) - min(values)) / 2 if values else math.nan
        floor = float(group[0].get("fid_floor", math.nan))
        entry["fid_x_floor"] = entry["fid"] / floor if "fid" in entry and floor else math.nan
        out.append(entry)
    return out


LABELS = {"cond_accuracy": "class acc.", "style_agreement": "style agr.", "fid": "FID", "diversity": "diversity",
          "sharpness": "sharpness", "train_seconds": "train s"}


def ablation_display(table: Sequence[dict[str, Any]], metrics: Sequence[str] = ABLATION_METRICS) -> list[dict[str, str]]:
    """:func:`ablation_table`'s rows for reading: ``technique``, ``seeds``, each metric as
    ``mean ± half spread`` (3 significant places), and FID as a multiple of the floor."""

    def cell(mean: float, spread: float, digits: int) -> str:
        if math.isnan(mean):
            return "–"
        return f"{mean:.{digits}f}" + (f" ± {spread:.{digits}f}" if not math.isnan(spread) and spread > 0 else "")

    out = []
    for entry in table:
        row = {"technique": str(entry["technique"]), "seeds": str(entry["seeds"])}
        for key in metrics:
            digits = 0 if key in ("fid", "train_seconds") else 3
            row[LABELS.get(key, key)] = cell(entry[key], entry[f"{key}_spread"], digits)
            if key == "fid":
                row["× floor"] = "–" if math.isnan(entry["fid_x_floor"]) else f"{entry['fid_x_floor']:.1f}"
        out.append(row)
    return out
