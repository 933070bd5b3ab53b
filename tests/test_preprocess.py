"""The K49 report's preprocessing (§3) on hand-made images with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genlib.data import preprocess as pp


def square(size: int, offset: int = 4) -> np.ndarray:
    img = np.zeros((28, 28), np.float32)
    img[offset : offset + size, offset : offset + size] = 1.0
    return img


def test_to_unit_float_scales_and_rejects_floats() -> None:
    x = pp.to_unit_float(np.array([[[0, 255, 51]]], dtype=np.uint8))
    assert x.dtype == np.float32 and np.allclose(x, [[[0.0, 1.0, 0.2]]], atol=1e-7)
    with pytest.raises(ValueError, match="uint8"):
        pp.to_unit_float(np.zeros((1, 2, 2), np.float32))


def test_count_foreground_pixels() -> None:
    images = np.stack([square(3), square(5), np.zeros((28, 28), np.float32)])
    images[2, 0, :4] = [0.2, 0.5, 0.51, 0.9]
    assert pp.count_foreground_pixels(images, 0.5).tolist() == [9, 25, 2]
    assert pp.count_foreground_pixels(images, 0.0).tolist() == [9, 25, 4]
    with pytest.raises(ValueError, match=r"threshold must be in \[0, 1\)"):
        pp.count_foreground_pixels(images, 1.5)


def test_style_labels_by_median_on_hand_made_images() -> None:
    # class 0: squares of side 2, 3, 4 (median 9 px); class 1: sides 5, 6, 7, 8 (median (36+49)/2)
    sides = [2, 3, 4, 5, 6, 7, 8]
    classes = np.array([0, 0, 0, 1, 1, 1, 1])
    counts = pp.count_foreground_pixels(np.stack([square(s) for s in sides]))
    styles, medians = pp.style_labels_by_median(counts, classes, 2)
    assert medians.tolist() == [9.0, 42.5]
    assert styles.tolist() == [0, 0, 1, 0, 0, 1, 1]  # thick (1) only when strictly above the class median
    styles_mean, means = pp.style_labels_by_median(counts, classes, 2, rule="mean")
    assert means[0] == pytest.approx((4 + 9 + 16) / 3) and styles_mean.tolist() == [0, 0, 1, 0, 0, 1, 1]
    with pytest.raises(ValueError, match="median"):
        pp.per_class_statistic(counts, classes, 2, "mode")


def test_empty_class_gets_nan_threshold() -> None:
    stats = pp.per_class_statistic(np.array([1.0, 2.0]), np.array([0, 0]), 3)
    assert stats[0] == 1.5 and np.isnan(stats[1:]).all()


def test_slant_sign_and_zero_for_upright_bar() -> None:
    upright = np.zeros((28, 28)); upright[4:24, 13:15] = 1
    right = np.zeros((28, 28))
    left = np.zeros((28, 28))
    for r in range(4, 24):  # top leans right: column grows as the row index shrinks
        right[r, 20 - (r - 4) // 2 : 22 - (r - 4) // 2] = 1
        left[r, 6 + (r - 4) // 2 : 8 + (r - 4) // 2] = 1
    s = pp.slant_of_images(np.stack([upright, right, left, np.zeros((28, 28))]))
    assert s[0] == pytest.approx(0.0, abs=1e-9)
    assert s[1] > 0.3 and s[2] < -0.3 and s[3] == 0.0


def test_one_hot_and_its_errors() -> None:
    assert pp.one_hot(np.array([0, 2]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match=r"label 3 is out of range: allowed 0\.\.2"):
        pp.one_hot(torch.tensor([3]), 3)


def test_stratified_split_is_reproducible_and_stratified() -> None:
    classes = np.repeat(np.arange(5), 20)
    tr1, te1 = pp.stratified_split(classes, 0.3, seed=1)
    tr2, te2 = pp.stratified_split(classes, 0.3, seed=1)
    assert np.array_equal(tr1, tr2) and np.array_equal(te1, te2)
    assert len(te1) == 30 and np.bincount(classes[te1]).tolist() == [6] * 5
    assert not set(tr1) & set(te1) and len(tr1) + len(te1) == 100
    assert not np.array_equal(te1, pp.stratified_split(classes, 0.3, seed=2)[1])
    with pytest.raises(ValueError, match="test_fraction"):
        pp.stratified_split(classes, 1.0)


def test_variable_overview_lists_names_types_and_shapes() -> None:
    table = pp.variable_overview({"images": np.zeros((3, 28, 28), np.float32), "style1H": torch.zeros(3, 2), "medians": {0: 1.0}})
    lines = table.splitlines()
    assert lines[0].split() == ["Name", "Type", "Size", "Value"]
    assert "Array of float32" in lines[2] and "(3, 28, 28)" in lines[2]
    assert "Tensor of float32" in lines[3] and "(3, 2)" in lines[3]
    assert lines[4].startswith("medians") and "dict" in lines[4]


def test_prepare_dataset_with_slant_condition_codes_both_bits() -> None:
    """``condition="thickness+slant"``: the same images and split, style code = thick + 2 * slanted."""
    from genlib.data.datasets import DataConfig, prepare_dataset

    plain = prepare_dataset(DataConfig(limit=980))
    both = prepare_dataset(DataConfig(limit=980, condition="thickness+slant"))
    assert (plain.n_styles, both.n_styles) == (2, 4)
    assert both.style_names == ("thin, upright", "thick, upright", "thin, slanted", "thick, slanted")
    for a, b in ((plain.train, both.train), (plain.test, both.test)):
        assert torch.equal(a.images, b.images) and torch.equal(a.classes, b.classes) and torch.equal(a.slants, b.slants)
        assert torch.equal(b.styles, a.styles + 2 * a.slants)
    counts = torch.bincount(both.train.styles, minlength=4)
    assert counts.min() > 0.15 * len(both.train)  # all four codes are common (thickness and slant are not one label)
    with pytest.raises(ValueError, match=r"unknown condition 'tilt': allowed class, thickness, slant, thickness\+slant"):
        prepare_dataset(DataConfig(condition="tilt"))


def test_class_and_slant_conditions_code_their_factors() -> None:
    """``"class"``: one style code (all 0); ``"slant"``: the slant bit alone; the images and split never change."""
    from genlib.data.conditions import style_code, style_factor, style_names
    from genlib.data.datasets import DataConfig, prepare_dataset

    plain = prepare_dataset(DataConfig(limit=980))
    only_class = prepare_dataset(DataConfig(limit=980, condition="class"))
    slant = prepare_dataset(DataConfig(limit=980, condition="slant"))
    assert (only_class.n_styles, only_class.style_names, slant.style_names) == (1, ("any",), ("upright", "slanted"))
    assert torch.equal(only_class.train.images, plain.train.images) and int(only_class.train.styles.abs().sum()) == 0
    assert torch.equal(slant.train.styles, plain.train.slants)
    codes = style_code({"thickness": np.array([0, 1, 0, 1]), "slant": np.array([0, 0, 1, 1])}, "thickness+slant")
    assert codes.tolist() == [0, 1, 2, 3] and style_names("thickness+slant")[codes[2]] == "thin, slanted"
    styles = torch.tensor([0, 1, 2, 3])
    assert style_factor(styles, "thickness+slant", "slant").tolist() == [0, 0, 1, 1]
    assert style_factor(styles, "thickness+slant", "thickness").tolist() == [0, 1, 0, 1]
    assert style_factor(styles, "class", "thickness") is None
