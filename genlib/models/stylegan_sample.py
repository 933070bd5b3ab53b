"""Sampling and style mixing with a trained StyleGAN generator (:mod:`genlib.models.stylegan`).

Both functions draw ``z`` and the noise maps from CPU generators seeded by ``seed``, so the same
seed gives the same images on any device; both return ``[N, C, image_size, image_size]`` in [0, 1].
"""

from __future__ import annotations

import torch
from torch import Tensor

from genlib.config import check_range
from genlib.models.conditioning import seeded_normal
from genlib.models.stylegan import Generator, NoiseMode, TruncationTarget
from genlib.runtime import evaluating


def _noise_generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed + 1_000_003)  # a stream apart from the latents' (seeded_normal(seed))


def sample(
    model: Generator,
    classes: Tensor,
    styles: Tensor,
    *,
    seed: int = 0,
    psi: float = 1.0,
    truncation: TruncationTarget = "label",
    noise_mode: NoiseMode = "random",
    same_noise: bool = False,
) -> Tensor:
    """Draw images for the labels: ``[N, C, image_size, image_size]`` in [0, 1] (``[N, 1, 28, 28]`` on kana49).

    ``z`` and the noise come from CPU generators seeded by ``seed``: the same images on any device.
    ``psi < 1`` truncates ``w`` towards the mean of its (class, style) label (or the global mean).
    ``same_noise=True`` uses one ``z`` and the fixed noise maps for every image: only the labels differ.
    """
    check_range("psi (truncation: 1 = none, 0 = the mean w)", psi, 0, 2)
    with evaluating(model) as device:
        classes, styles = classes.to(device), styles.to(device)
        z = seeded_normal((1 if same_noise else classes.shape[0], model.config.latent_dim), seed, device).expand(classes.shape[0], -1)
        noise_mode = "const" if same_noise else noise_mode
        w = model.mapping(z, classes, styles, psi=psi, truncation=truncation)
        img = model.synthesis(w, None, 1.0, noise_mode, _noise_generator(seed))
        return model.to_unit_images(img)


def sample_mixed(
    model: Generator,
    classes: Tensor,
    styles: Tensor,
    classes_b: Tensor,
    styles_b: Tensor,
    *,
    seed_a: int = 0,
    seed_b: int = 1,
    t: float | None = None,
    crossover: int | None = None,
    psi: float = 1.0,
    noise_mode: NoiseMode = "const",
) -> Tensor:
    """Style mixing of A (labels, ``seed_a``) and B (``classes_b``, ``styles_b``, ``seed_b``) in [0, 1].

    Exactly one of ``t`` (blend ``(1 - t) * w_a + t * w_b``; the StyleGAN report's 0.4/0.6 mix is ``t = 0.6``) or
    ``crossover`` (coarse layers ``ws[:, :crossover]`` from A). Returns ``[N, C, image_size, image_size]``.
    """
    check_range("psi (truncation: 1 = none, 0 = the mean w)", psi, 0, 2)
    if t is not None:
        check_range("t (blend: 0 = all A, 1 = all B)", t, 0, 1)
    with evaluating(model) as device:
        z_a = seeded_normal((classes.shape[0], model.config.latent_dim), seed_a, device)
        z_b = seeded_normal((classes_b.shape[0], model.config.latent_dim), seed_b, device)
        img = model.mix(
            z_a, z_b, classes.to(device), styles.to(device), t=t, crossover=crossover, classes_b=classes_b.to(device),
            styles_b=styles_b.to(device), psi=psi, noise_mode=noise_mode, noise_generator=_noise_generator(seed_a),
        )
        return model.to_unit_images(img)
