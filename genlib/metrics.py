"""Metrics for conditional generators: pure functions on tensors and arrays.

One protocol judges every model family (see :mod:`genlib.evaluation` for how they are combined):

- **conditional accuracy** — the share of samples that a domain classifier assigns to the class
  they were requested for;
- **style agreement** — the share whose thickness (or slant) by the dataset's own per-class median
  rule matches the requested style: ``thick = [count(x > t_fg) > m_class]`` (the K49 report, §3);
- **FID** in the classifier's feature space — the Fréchet distance between Gaussians fitted to real
  and generated features, ``||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})`` (Heusel et al. 2017);
- **intra-class diversity** — the mean pairwise feature distance between samples of one class.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from genlib.data.preprocess import count_foreground_pixels, labels_above_class_threshold, slant_of_images

ArrayLike = Tensor | np.ndarray


def _np(x: ArrayLike) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def _images_hw(images: ArrayLike) -> np.ndarray:
    """``[N, 1, H, W]`` or ``[N, H, W]`` → float64 ``[N, H, W]``."""
    x = _np(images).astype(np.float64)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"expected single-channel images [N, 1, H, W], got shape {x.shape}")
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"expected images [N, 1, H, W] or [N, H, W], got shape {x.shape}")
    return x


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {k: len(v) for k, v in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"inputs must have the same length, got {lengths}")


# --- classification ---------------------------------------------------------------------------


def accuracy(predicted: ArrayLike, target: ArrayLike) -> float:
    """``mean_i [pred_i == target_i]`` for int labels ``[N]`` (NaN when N = 0)."""
    p, t = _np(predicted), _np(target)
    _same_length(predicted=p, target=t)
    return float(np.mean(p == t)) if len(t) else float("nan")


def per_class_accuracy(predicted: ArrayLike, target: ArrayLike, n_classes: int) -> np.ndarray:
    """Recall of each class ``k``: ``mean{pred_i == k : target_i = k}``; float64 ``[n_classes]``, NaN if absent."""
    p, t = _np(predicted), _np(target)
    _same_length(predicted=p, target=t)
    out = np.full(n_classes, np.nan)
    for k in range(n_classes):
        members = t == k
        if members.any():
            out[k] = float(np.mean(p[members] == k))
    return out


def balanced_accuracy(predicted: ArrayLike, target: ArrayLike, n_classes: int) -> float:
    """Mean per-class recall over the classes present (the K49 benchmark's ranking metric)."""
    return float(np.nanmean(per_class_accuracy(predicted, target, n_classes)))


def conditional_accuracy(predicted: ArrayLike, requested: ArrayLike) -> float:
    """Share of generated samples classified as the class they were requested for, in [0, 1]."""
    return accuracy(predicted, requested)


# --- style and slant --------------------------------------------------------------------------


def style_of_images(images: ArrayLike, classes: ArrayLike, thresholds: ArrayLike, foreground_threshold: float = 0.5) -> np.ndarray:
    """Thick (1) / thin (0) by the K49 report's rule: ``[count(x > t_fg) > m_class]``; int64 ``[N]``.

    Args:
        images: ``[N, 1, 28, 28]`` or ``[N, 28, 28]`` in [0, 1].
        classes: int ``[N]``, the class whose median ``thresholds[class]`` applies.
        thresholds: ``[n_classes]`` per-class median (or mean) foreground counts
            (``PreparedData.style_thresholds``).
    """
    x, c = _images_hw(images), _np(classes).astype(np.int64)
    _same_length(images=x, classes=c)
    counts = count_foreground_pixels(x, foreground_threshold)
    return labels_above_class_threshold(counts, c, np.asarray(thresholds))


def slant_of_labelled(images: ArrayLike, classes: ArrayLike, thresholds: ArrayLike) -> np.ndarray:
    """Slanted (1) / upright (0): ``[slant(x) > median slant of the class]``; int64 ``[N]``."""
    x, c = _images_hw(images), _np(classes).astype(np.int64)
    _same_length(images=x, classes=c)
    return labels_above_class_threshold(slant_of_images(x), c, np.asarray(thresholds))


def style_agreement(
    images: ArrayLike, classes: ArrayLike, styles: ArrayLike, thresholds: ArrayLike, foreground_threshold: float = 0.5
) -> float:
    """Share of images whose measured thickness equals the requested style, in [0, 1].

    Real images with their own labels score 1 (the labels were made by this very rule).
    """
    measured = style_of_images(images, classes, thresholds, foreground_threshold)
    return accuracy(measured, _np(styles))


def slant_agreement(images: ArrayLike, classes: ArrayLike, slants: ArrayLike, thresholds: ArrayLike) -> float:
    """Share of images whose measured slant label equals the requested one, in [0, 1]."""
    return accuracy(slant_of_labelled(images, classes, thresholds), _np(slants))


# --- Fréchet distance -------------------------------------------------------------------------


def gaussian_statistics(features: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and unbiased covariance ``[D, D]`` (float64) of features ``[N, D]``, N >= 2."""
    f = _np(features).astype(np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need features of shape [N, D] with N >= 2, got {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """Symmetric square root ``S^{1/2} = V diag(sqrt(max(l, 0))) V^T`` of a PSD matrix."""
    eigvals, eigvecs = np.linalg.eigh((matrix + matrix.T) / 2)
    return (eigvecs * np.sqrt(np.clip(eigvals, 0, None))) @ eigvecs.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between ``N(mu1, S1)`` and ``N(mu2, S2)``.

    ``d^2 = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^{1/2})``, with the last trace computed
    stably as ``sum_i sqrt(l_i)`` over the eigenvalues ``l_i >= 0`` of the symmetric PSD matrix
    ``S1^{1/2} S2 S1^{1/2}``, which has the same eigenvalues as ``S1 S2``. Never negative.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"shape mismatch: mu {mu1.shape} vs {mu2.shape}, sigma {s1.shape} vs {s2.shape}")
    root1 = _sqrt_psd(s1)
    middle = root1 @ s2 @ root1
    trace_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()  # Tr((S1 S2)^{1/2})
    d2 = float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)
    return max(d2, 0.0)


def fid(features_a: ArrayLike, features_b: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``[N_a, D]`` and ``[N_b, D]``."""
    return frechet_distance(*gaussian_statistics(features_a), *gaussian_statistics(features_b))


# --- blur -------------------------------------------------------------------------------------


def edge_strength(images: ArrayLike) -> float:
    """Mean absolute finite difference ``mean(|x[i+1, j] - x[i, j]|) + mean(|x[i, j+1] - x[i, j]|)``
    over images ``[N, 28, 28]`` (or ``[N, 1, H, W]``) in [0, 1]: a blur measure (a blurred stroke has
    the same ink spread over more pixels, so smaller steps). Compare it with real images' value."""
    x = _images_hw(images).astype(np.float64)
    return float(np.abs(np.diff(x, axis=1)).mean() + np.abs(np.diff(x, axis=2)).mean())


# --- diversity --------------------------------------------------------------------------------


def mean_pairwise_distance(features: ArrayLike) -> float:
    """``mean_{i<j} ||f_i - f_j||_2`` over rows of ``[N, D]`` (NaN when N < 2; 0 for identical rows)."""
    f = torch.as_tensor(_np(features), dtype=torch.float64)
    n = f.shape[0]
    if n < 2:
        return float("nan")
    d = torch.cdist(f, f)  # [N, N] Euclidean distances
    return float(d.sum() / (n * (n - 1)))  # the diagonal is 0; each pair counted twice


def intra_class_diversity(features: ArrayLike, classes: ArrayLike, n_classes: int) -> np.ndarray:
    """Mean pairwise feature distance within each class; float64 ``[n_classes]``, NaN for < 2 samples."""
    f, c = _np(features), _np(classes)
    _same_length(features=f, classes=c)
    return np.array([mean_pairwise_distance(f[c == k]) for k in range(n_classes)])


def stratified_halves(classes: ArrayLike, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split indices ``0..N-1`` into two disjoint halves with (nearly) equal class counts.

    Within each class the members are shuffled with ``seed`` and alternate between halves.
    Returns two sorted int64 index arrays (for the real-vs-real FID floor).
    """
    c = _np(classes)
    rng = np.random.default_rng(seed)
    a, b = [], []
    for k in np.unique(c):
        members = rng.permutation(np.flatnonzero(c == k))
        a.append(members[0::2])
        b.append(members[1::2])
    return np.sort(np.concatenate(a)).astype(np.int64), np.sort(np.concatenate(b)).astype(np.int64)
