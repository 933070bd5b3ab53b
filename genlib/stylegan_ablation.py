"""Image quality of the StyleGAN, measured at training time: one setting changed at a time.

:mod:`genlib.sampling_ablation` turns the knobs of a *trained* StyleGAN (truncation, noise). This
ablation retrains it: every row is the ``stylegan_<dataset>`` recipe's model and training loop with
*one* setting changed, shown the same number of images (``budget.stylegan_epochs`` passes, twice as
many for ``long``) on two training seeds, and judged by the metric suite of :mod:`genlib.evaluation`::

    genlib experiments --suite stylegan --dataset mnist5k --stylegan-epochs 10 --out data/stylegan_ablation_mnist5k

| row | change from ``base`` | reference |
|---|---|---|
| ``base`` | the recipe's loop (WGAN-GP + drift, style mixing 0.5, 8 mapping layers, EMA of G) in bf16 + NHWC | the StyleGAN report |
| ``fp32`` | full precision: a speed setting that should change nothing | README, Speed |
| ``long`` | twice as many images shown | a longer schedule |
| ``ns-r1`` | non-saturating loss + R1 (gamma 1) instead of WGAN-GP | Mescheder et al. 2018, StyleGAN |
| ``lazy`` | the gradient penalty on every 4th D step only, weighted x4 | StyleGAN2 §B |
| ``no-mixing`` | no style-mixing regularisation | StyleGAN §3.1 |
| ``mapping-2`` | a 2-layer mapping network instead of 8 (a less disentangled w) | StyleGAN §4 |
| ``no-ema`` | samples from G itself, not its moving average | ProGAN §A.1 |
| ``lr-decay`` | the learning rate falls linearly to 0 over the second half of the run (from 2 epochs) | a common GAN schedule |

Progressive growing is compressed to the budget: ``GROWTH_IMAGES`` images for each fade-in and
each stable phase (32x32 from 6 x ``GROWTH_IMAGES`` images on). Rows are named ``<row>-s<seed>``;
:func:`genlib.quality.ablation_table` averages the seeds.
"""

from __future__ import annotations

from typing import Any

from genlib.data.datasets import DataConfig
from genlib.models.stylegan import StyleGANConfig
from genlib.models.stylegan_train import StyleGANTrainConfig
from genlib.quality import seeded_rows

GROWTH_IMAGES = 3_500  # images per fade-in and per stable phase (one pass over mnist5k's training split)
LONG = 2  # the `long` row is shown this many times the images of the others


def base_configs(data: DataConfig, epochs: int, n_classes: int, seed: int = 0) -> tuple[StyleGANConfig, StyleGANTrainConfig]:
    """The ``base`` row: the recipes' StyleGAN and loop, bf16 + NHWC, growth compressed to ``GROWTH_IMAGES``."""
    train = StyleGANTrainConfig(data=data, epochs=epochs, seed=seed, fade_images=GROWTH_IMAGES, stable_images=GROWTH_IMAGES,
                                precision="bf16", channels_last=True)
    return StyleGANConfig(n_classes=n_classes), train


def variants(epochs: int) -> list[tuple[str, dict[str, Any], dict[str, Any], str]]:
    """``(row, model changes, train changes, description)`` of each ablation row (module table)."""
    return [
        ("base", {}, {}, "the stylegan recipe's loop (WGAN-GP + drift, mixing 0.5, 8 mapping layers, EMA) in bf16 + NHWC"),
        ("fp32", {}, {"precision": "fp32", "channels_last": False}, "base in full precision: a speed setting, same objective"),
        ("long", {}, {"epochs": LONG * epochs}, f"{LONG}x as many images shown"),
        ("ns-r1", {}, {"loss": "ns-r1"}, "non-saturating loss + R1 penalty (gamma 1) instead of WGAN-GP"),
        ("lazy", {}, {"penalty_every": 4}, "the gradient penalty on every 4th D step only, weighted x4"),
        ("no-mixing", {}, {"style_mixing_prob": 0.0}, "no style-mixing regularisation"),
        ("mapping-2", {"mapping_layers": 2}, {}, "a 2-layer mapping network instead of 8"),
        ("no-ema", {}, {"ema_half_life_images": 0}, "samples from G itself, not its moving average"),
    ] + ([("lr-decay", {}, {"lr_decay_start": epochs // 2}, "the learning rate falls linearly to 0 over the second half of the run")]
         if epochs >= 2 else [])  # a one-epoch budget has no whole epoch to decay over: no such row


def stylegan_experiments(dataset: str, budget: Any, n_classes: int) -> list[Any]:
    """One :class:`~genlib.experiments.Experiment` per (row, seed): ``<row>-s<seed>``, seeds ``budget.seed`` + :data:`genlib.quality.SEEDS`."""
    data = DataConfig(dataset=dataset, limit=budget.limit)
    return seeded_rows("stylegan", variants(budget.stylegan_epochs),
                       lambda seed: base_configs(data, budget.stylegan_epochs, n_classes, seed), budget.seed)
