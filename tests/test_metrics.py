"""Metrics on cases with known answers: accuracies, style/slant agreement, FID, diversity, halves."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from genlib import metrics as M
from genlib.data.preprocess import count_foreground_pixels, per_class_statistic, slant_of_images, style_labels_by_median


def test_accuracy_and_balanced_accuracy_known_values() -> None:
    pred, target = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 1, 1])
    assert M.accuracy(pred, target) == 0.75
    per_class = M.per_class_accuracy(pred, target, 3)
    assert per_class[0] == 1.0 and per_class[1] == pytest.approx(2 / 3) and np.isnan(per_class[2])
    # mean recall over the present classes: (1 + 2/3) / 2, not the plain accuracy 0.75
    assert M.balanced_accuracy(pred, target, 3) == pytest.approx(5 / 6)


def test_conditional_accuracy_right_and_wrong_class() -> None:
    requested = torch.arange(10) % 5
    assert M.conditional_accuracy(requested.clone(), requested) == 1.0
    assert M.conditional_accuracy((requested + 1) % 5, requested) == 0.0


def test_accuracy_length_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError, match="same length"):
        M.accuracy(torch.zeros(3), torch.zeros(4))


def _labelled_real(tiny_data) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Images, classes, and the K49 report's style labels and thresholds recomputed from the images."""
    x = tiny_data.train.images[:, 0].numpy()
    c = tiny_data.train.classes.numpy()
    styles, thresholds = style_labels_by_median(count_foreground_pixels(x), c, tiny_data.n_classes)
    return x, c, styles, thresholds


def test_style_agreement_real_images_own_labels_and_flipped(tiny_data) -> None:
    x, c, styles, thresholds = _labelled_real(tiny_data)
    assert 0 < styles.mean() < 1  # both styles occur
    images = torch.from_numpy(x).unsqueeze(1)  # [N, 1, 28, 28] is accepted as well as [N, 28, 28]
    assert M.style_agreement(images, c, styles, thresholds) == 1.0
    assert M.style_agreement(x, c, 1 - styles, thresholds) == 0.0


def test_style_of_images_counts_against_the_class_threshold() -> None:
    img = np.zeros((2, 28, 28))
    img[0, :2, :5] = 1.0  # 10 foreground pixels
    img[1, :1, :3] = 0.9  # 3 foreground pixels
    # class 0 median 5 → image 0 thick; class 1 median 3 → image 1 (3, not above 3) thin
    assert M.style_of_images(img, np.array([0, 1]), np.array([5.0, 3.0])).tolist() == [1, 0]
    # pixels at exactly the foreground threshold do not count
    assert M.style_of_images(img * 0.5, np.array([0, 1]), np.array([0.0, 0.0]), foreground_threshold=0.5).tolist() == [0, 0]


def test_slant_agreement_real_images_own_labels_and_flipped() -> None:
    rng = np.random.default_rng(0)
    x = np.zeros((40, 28, 28))
    classes = np.arange(40) % 2
    for i in range(40):  # a stroke from (4, 14 - k) to (23, 14 + k): slant grows with k
        k = rng.uniform(-5, 5)
        for r in range(4, 24):
            x[i, r, int(round(14 + k * (r - 13.5) / 10))] = 1.0
    slant = slant_of_images(x)
    thresholds = per_class_statistic(slant, classes, 2)
    slants = (slant > thresholds[classes]).astype(np.int64)
    assert M.slant_agreement(x, classes, slants, thresholds) == 1.0
    assert M.slant_agreement(x, classes, 1 - slants, thresholds) == 0.0


def test_fid_of_identical_gaussians_is_zero() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    sigma = a @ a.T + np.eye(6)
    mu = rng.normal(size=6)
    assert M.frechet_distance(mu, sigma, mu, sigma) == pytest.approx(0.0, abs=1e-9)


def test_fid_of_shifted_gaussians_is_the_squared_shift() -> None:
    rng = np.random.default_rng(1)
    features = rng.normal(size=(500, 8))
    shift = np.arange(8) / 4.0
    # the same covariance, so only ||mu1 - mu2||^2 remains
    assert M.fid(features, features + shift) == pytest.approx(float(np.sum(shift**2)), rel=1e-6)
    assert M.fid(features, features) == pytest.approx(0.0, abs=1e-8)


def test_fid_of_isotropic_gaussians_known_value() -> None:
    # N(0, a^2 I) vs N(0, b^2 I) in D dims: D a^2 + D b^2 - 2 D a b = D (a - b)^2
    d, a, b = 5, 2.0, 0.5
    value = M.frechet_distance(np.zeros(d), a**2 * np.eye(d), np.zeros(d), b**2 * np.eye(d))
    assert value == pytest.approx(d * (a - b) ** 2)


def test_fid_matches_scipy_sqrtm_and_is_symmetric() -> None:
    rng = np.random.default_rng(2)
    f1, f2 = rng.normal(size=(300, 6)), rng.normal(size=(200, 6)) @ rng.normal(size=(6, 6)) + 1.0
    mu1, s1 = M.gaussian_statistics(f1)
    mu2, s2 = M.gaussian_statistics(f2)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    expected = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * covmean)
    assert M.fid(f1, f2) == pytest.approx(expected, rel=1e-6)
    assert M.fid(f2, f1) == pytest.approx(M.fid(f1, f2), rel=1e-9)


def test_fid_with_rank_deficient_covariance_is_finite_and_nonnegative() -> None:
    f = np.zeros((50, 10))
    f[:, 0] = np.linspace(0, 1, 50)  # nine dims that never move, as dead ReLU features do
    assert M.fid(f, f) == pytest.approx(0.0, abs=1e-9)
    assert M.fid(f, f + 1.0) == pytest.approx(10.0, rel=1e-6)


def test_gaussian_statistics_rejects_too_few_samples() -> None:
    with pytest.raises(ValueError, match="N >= 2"):
        M.gaussian_statistics(np.zeros((1, 4)))
    with pytest.raises(ValueError, match="shape mismatch"):
        M.frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_mean_pairwise_distance_known_values() -> None:
    assert M.mean_pairwise_distance(np.ones((7, 3))) == 0.0  # identical samples: no diversity
    assert M.mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0]])) == pytest.approx(5.0)
    # points 0, 1, 3 on a line: pairs 1, 3, 2 → mean 2
    assert M.mean_pairwise_distance(np.array([[0.0], [1.0], [3.0]])) == pytest.approx(2.0)
    assert np.isnan(M.mean_pairwise_distance(np.zeros((1, 3))))


def test_intra_class_diversity_per_class() -> None:
    features = np.array([[0.0], [2.0], [5.0], [5.0], [9.0]])
    classes = np.array([0, 0, 1, 1, 2])
    div = M.intra_class_diversity(features, classes, 4)
    assert div[0] == pytest.approx(2.0) and div[1] == 0.0
    assert np.isnan(div[2]) and np.isnan(div[3])  # fewer than two samples


def test_stratified_halves_are_disjoint_and_balanced() -> None:
    classes = np.repeat(np.arange(5), [10, 11, 4, 7, 2])
    a, b = M.stratified_halves(classes, seed=3)
    assert len(np.intersect1d(a, b)) == 0 and len(a) + len(b) == len(classes)
    counts_a, counts_b = np.bincount(classes[a], minlength=5), np.bincount(classes[b], minlength=5)
    assert np.all(np.abs(counts_a - counts_b) <= 1)
    a2, _ = M.stratified_halves(classes, seed=3)
    assert np.array_equal(a, a2)  # seeded
