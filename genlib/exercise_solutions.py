"""Worked solutions to the notebooks' exercises (:mod:`genlib.exercises`), kept apart from the notebooks.

Each solution computes its answer with the library, the way a student would in the notebook, so
that it checks the checker: ``exercises.check(key, SOLUTIONS[key](**context), **context)`` is True
(``tests/test_exercises.py``). Context is what the notebook passes to ``check`` (class counts, a
model, a results table).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn


def median_rule() -> list[int]:
    """01.median_rule: the median of [10, 12, 14, 60] is 13; 14 and 60 lie strictly above it."""
    from genlib.data import style_labels_by_median

    styles, _ = style_labels_by_median(np.array([10, 12, 14, 60]), np.zeros(4, dtype=np.int64), n_classes=1)
    return styles.tolist()   # [0, 0, 1, 1]; the mean (24) would give [0, 0, 0, 1]


def ties() -> float:
    """01.ties: the median of [5, 7, 7, 7, 9, 11] is 7; only 9 and 11 are above it: 2 of 6."""
    from genlib.data import style_labels_by_median

    styles, _ = style_labels_by_median(np.array([5, 7, 7, 7, 9, 11]), np.zeros(6, dtype=np.int64), n_classes=1)
    return float(styles.mean())   # 1/3


def row_width(n_classes: int, n_styles: int) -> int:
    """01.row_width: concatenate a flattened image with both one-hot codes and measure the row."""
    from genlib.data import one_hot

    row = torch.cat([torch.zeros(1, 28 * 28), one_hot(np.array([0]), n_classes), one_hot(np.array([0]), n_styles)], dim=1)
    return row.shape[1]   # 835 on Kana-49 (784 + 49 + 2), 796 on MNIST (784 + 10 + 2)


def kl() -> float:
    """02.kl: 1/2 (1 + 1 - 1 - 0) + 1/2 (4 + 4 - 1 - log 4) = 0.5 + 2.807 = 3.307."""
    from genlib.losses import gaussian_kl

    return gaussian_kl(torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, math.log(4)]])).item()


def reparam() -> float:
    """02.reparam: sigma = exp(-2 / 2) = 0.368; measured on 100,000 draws of the reparameterisation."""
    from genlib.models.cvae import reparameterize

    torch.manual_seed(0)
    z = reparameterize(torch.zeros(100_000, 1), torch.full((100_000, 1), -2.0))
    return z.std().item()   # 0.368 (exactly exp(-1) = 0.3679)


def beta() -> tuple[str, str]:
    """02.beta: beta > 1 buys a smaller KL (12 instead of 26 nats per image on Kana-49) with a looser
    bound: the test -ELBO rises (163.1 vs 155.1 in notebook 04's table)."""
    return ("down", "up")


def grad_logvar() -> float:
    """02.grad_logvar: autograd of L = g_z * z + KL with z = mu + exp(log sigma^2 / 2) * eps gives
    1/2 (g_z eps sigma + sigma^2 - 1) = 1/2 (1 * 0.5 * 2 + 4 - 1) = 2.0, the line genlib.models.manual_backward writes out."""
    from genlib.losses import gaussian_kl

    mu, eps, logvar = torch.zeros(1, 1), torch.full((1, 1), 0.5), torch.full((1, 1), math.log(4), requires_grad=True)
    z = mu + torch.exp(0.5 * logvar) * eps
    (1.0 * z.sum() + gaussian_kl(mu, logvar)).backward()
    return logvar.grad.item()


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def mlp_cvae_params(n_classes: int, n_styles: int) -> int:
    """02.params: build the K49 report's CVAE and count (242,420 on Kana-49)."""
    from genlib.models.cvae import CVAEConfig, build_cvae

    return count_parameters(build_cvae(CVAEConfig(n_classes=n_classes, n_styles=n_styles)))


def d_star() -> float:
    """03.d_star: 0.3 / (0.3 + 0.1) = 0.75."""
    return 0.3 / (0.3 + 0.1)


def conv_transpose() -> int:
    """03.conv_transpose: run the layer and read the size: (7 - 1) * 2 - 2 + 4 = 14."""
    layer = nn.ConvTranspose2d(1, 1, kernel_size=4, stride=2, padding=1)
    return layer(torch.zeros(1, 1, 7, 7)).shape[-1]


def ns_grad() -> float:
    """03.ns_grad: autograd of -log sigmoid(l) at l = -2 gives -(1 - sigmoid(-2)) = -0.881."""
    from genlib.losses import g_nonsaturating_loss

    logit = torch.tensor([-2.0], requires_grad=True)
    (grad,) = torch.autograd.grad(g_nonsaturating_loss(logit), logit)
    return grad.abs().item()


def cgan_generator_params(n_classes: int, n_styles: int) -> int:
    """03.gen_params: build the K49 report's MLP CGAN and count its generator (231,184 on Kana-49)."""
    from genlib.models.cgan import CGANConfig, build_cgan

    generator, _ = build_cgan(CGANConfig(n_classes=n_classes, n_styles=n_styles))
    return count_parameters(generator)


def fid_shift() -> float:
    """04.fid_shift: equal covariances leave ||delta||^2 = 1 + 4 + 4 = 9."""
    from genlib.metrics import frechet_distance

    return frechet_distance(np.zeros(3), np.eye(3), np.array([1.0, 2.0, 2.0]), np.eye(3))


def fid_scale() -> float:
    """04.fid_scale: 1 + 4 - 2 sqrt(1 * 4) = 1 = (1 - 2)^2."""
    from genlib.metrics import frechet_distance

    return frechet_distance(np.zeros(1), np.eye(1), np.zeros(1), 4 * np.eye(1))


def balanced() -> float:
    """04.balanced: per-class recalls 0.9 and 0.5, mean 0.7 (plain accuracy would be 95/110 = 0.864)."""
    from genlib.metrics import balanced_accuracy

    target = np.repeat([0, 1], [100, 10])
    predicted = np.concatenate([np.repeat([0, 1], [90, 10]), np.repeat([1, 0], [5, 5])])
    return balanced_accuracy(predicted, target, n_classes=2)


def lowest_fid(results: Sequence[dict[str, Any]]) -> str:
    """04.lowest_fid: sort the models (not the real-data row) by FID."""
    models = sorted((r for r in results if r["family"] != "data"), key=lambda r: float(r["fid"]))
    return models[0]["name"]   # cvae-conv-beta3 in the saved Kana-49 table


def truncation() -> tuple[float, float]:
    """05.truncation: w' = (1, 0) + 0.5 * ((3, 2) - (1, 0)) = (2, 1)."""
    w_mean, w = torch.tensor([1.0, 0.0]), torch.tensor([3.0, 2.0])
    return tuple(torch.lerp(w_mean, w, 0.5).tolist())


def adain() -> tuple[float, float]:
    """05.adain: normalise any channel, scale by -2, shift by 0.5: mean 0.5, std |-2| = 2."""
    x = torch.randn(1, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 5 + 3
    out = -2.0 * nn.functional.instance_norm(x, eps=1e-8) + 0.5
    return round(out.mean().item(), 3), round(out.std(unbiased=False).item(), 3)


def layer_resolution() -> int:
    """05.layer_resolution: layers 4 and 5 are the third resolution's pair: 4 * 2**2 = 16."""
    return 4 * 2 ** (4 // 2)


def crossover(model: Any, class_index: int = 0, seed: int = 0) -> int:
    """05.crossover: the ink of the crossover view for every k, then the first k nearer A's end (k = 7
    for class 0 and seed 0 of the shipped Kana-49 StyleGAN: thickness lives in the 32x32 layers)."""
    from genlib.data import count_foreground_pixels
    from genlib.models.stylegan_sample import sample_mixed

    c = torch.full((5,), class_index)
    thin, thick = torch.zeros(5, dtype=torch.int64), torch.ones(5, dtype=torch.int64)
    ink = [count_foreground_pixels(sample_mixed(model, c, thin, c, thick, seed_a=seed, seed_b=seed + 100, crossover=k)[:, 0].numpy()).mean()
           for k in range(model.config.num_ws + 1)]
    midpoint = (ink[0] + ink[-1]) / 2   # B's (thick) ink at k = 0, A's (thin) at k = num_ws
    return int(np.argmax(np.array(ink) < midpoint))


SOLUTIONS: dict[str, Callable[..., Any]] = {
    "01.median_rule": median_rule, "01.ties": ties, "01.row_width": row_width,
    "02.kl": kl, "02.reparam": reparam, "02.beta": beta, "02.params": mlp_cvae_params, "02.grad_logvar": grad_logvar,
    "03.d_star": d_star, "03.conv_transpose": conv_transpose, "03.ns_grad": ns_grad, "03.gen_params": cgan_generator_params,
    "04.fid_shift": fid_shift, "04.fid_scale": fid_scale, "04.balanced": balanced, "04.lowest_fid": lowest_fid,
    "05.truncation": truncation, "05.adain": adain, "05.layer_resolution": layer_resolution, "05.crossover": crossover,
}
