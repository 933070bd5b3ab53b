"""The embedded Kana-49 dataset: shipped files, exact regeneration, ground truth, atlas and title font."""

from __future__ import annotations

import hashlib
import logging
import warnings
from pathlib import Path

import numpy as np
import pytest

from genlib.data.classmap import K49_CHARS, read_classmap_csv
from genlib.data.kana49 import (
    FACTOR_DTYPES,
    Kana49Config,
    build_kana49,
    gaussian_kernel,
    load_atlas,
    median_rule_agreement,
    render_images,
    smooth,
)

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "data" / "kana49"
ATLAS = FOLDER / "kana49-atlas.npz"
TITLE_FONT = ROOT / "genlib" / "assets" / "KleeOne-Kana49.ttf"
FONT_ROOT = Path("/usr/share/fonts/truetype")


def _load(split: str) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    with np.load(FOLDER / f"kana49-{split}-imgs.npz", allow_pickle=False) as z:
        assert z.files == ["arr_0"]
        images = z["arr_0"]
    with np.load(FOLDER / f"kana49-{split}-labels.npz", allow_pickle=False) as z:
        assert z.files == ["arr_0"]
        labels = z["arr_0"]
    with np.load(FOLDER / f"kana49-{split}-factors.npz", allow_pickle=False) as z:
        factors = {k: z[k] for k in z.files}
    return images, labels, factors


@pytest.fixture(scope="module")
def shipped() -> dict[str, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
    return {split: _load(split) for split in ("train", "test")}


@pytest.fixture(scope="module")
def atlas():
    return load_atlas(ATLAS)


@pytest.mark.parametrize("split", ["train", "test"])
def test_shipped_files_have_k49_format(shipped, split):
    images, labels, _ = shipped[split]
    n = Kana49Config().count(split)
    assert images.dtype == np.uint8 and images.shape == (n, 28, 28)
    assert labels.dtype == np.uint8 and labels.shape == (n,)
    # white strokes on black: the background (most pixels, the frame's corners) is exactly 0
    assert np.bincount(images.ravel(), minlength=256).argmax() == 0
    assert (np.median(images.reshape(n, -1), axis=1) == 0).mean() > 0.95
    assert (images[:, 0, 0] == 0).mean() > 0.95
    assert images.max(axis=(1, 2)).min() > 127                         # every image has bright ink


@pytest.mark.parametrize("split", ["train", "test"])
def test_classes_balanced_in_classmap_order(shipped, split):
    _, labels, factors = shipped[split]
    counts = np.bincount(labels, minlength=49)
    assert counts.size == 49 and (counts == counts[0]).all()
    assert counts[0] == (520 if split == "train" else 104)
    np.testing.assert_array_equal(labels, np.arange(labels.size) % 49)
    assert read_classmap_csv(FOLDER / "kana49_classmap.csv") == K49_CHARS
    # every class is half thin, half thick
    thick_per_class = np.bincount(labels, weights=factors["thick"], minlength=49)
    np.testing.assert_array_equal(thick_per_class, counts / 2)


def test_atlas_holds_k49_classes(atlas):
    assert atlas.chars == K49_CHARS
    assert atlas.sdf.shape[:2] == (len(atlas.faces), 49)
    assert atlas.usable.any(axis=0).all()                                # each class has a face
    assert (atlas.sdf > 0).any(axis=(2, 3)).all()                        # no empty glyph


@pytest.mark.parametrize("split, indices", [
    ("train", np.r_[0:40, 12345:12350, 25479]),
    ("test", np.r_[0:30, 5000:5096:7]),
])
def test_slices_regenerate_to_the_shipped_bytes(shipped, atlas, split, indices):
    images, labels, factors = shipped[split]
    got_images, got_labels, got_factors = render_images(atlas, Kana49Config(), split, indices)
    assert got_images.tobytes() == images[indices].tobytes()
    assert got_labels.tobytes() == labels[indices].tobytes()
    assert set(got_factors) == set(factors)
    for name, values in got_factors.items():
        assert values.dtype == factors[name].dtype, name
        assert values.tobytes() == factors[name][indices].tobytes(), name


@pytest.mark.parametrize("split", ["train", "test"])
def test_factors_one_value_per_image(shipped, atlas, split):
    images, _, factors = shipped[split]
    assert set(factors) == set(FACTOR_DTYPES)
    for name, values in factors.items():
        assert values.shape == (len(images),), name
        assert values.dtype == FACTOR_DTYPES[name], name
    assert set(np.unique(factors["thick"])) == {0, 1}
    assert 0.08 < factors["fragment"].mean() < 0.16
    assert factors["face"].max() < len(atlas.faces)
    config = Kana49Config()
    thin, thick = factors["stroke_width"][factors["thick"] == 0], factors["stroke_width"][factors["thick"] == 1]
    assert thin.max() < thick.min()                                      # two separate modes
    assert abs(float(thin.mean()) - config.thin_width) < 0.05
    assert abs(float(thick.mean()) - config.thick_width) < 0.05


def test_train_and_test_use_disjoint_streams(shipped, atlas):
    indices = np.arange(10)
    train, _, f_train = render_images(atlas, Kana49Config(), "train", indices)
    test, _, f_test = render_images(atlas, Kana49Config(), "test", indices)
    assert not any(np.array_equal(a, b) for a, b in zip(train, test))
    assert not np.array_equal(f_train["rotation"], f_test["rotation"])
    digests = {hashlib.sha1(img.tobytes()).digest() for img in shipped["train"][0]}
    assert not any(hashlib.sha1(img.tobytes()).digest() in digests for img in shipped["test"][0])


def test_median_rule_recovers_the_thick_flag(shipped):
    images, labels, factors = shipped["train"]
    agreement = median_rule_agreement(images, labels, factors["thick"], threshold=0.5)
    assert 0.9 <= agreement < 0.995                                       # recoverable, not trivial
    assert median_rule_agreement(images, labels, factors["thick"], threshold=0.0) < agreement


def test_render_images_is_deterministic_and_batch_independent(atlas):
    indices = np.array([3, 1000, 77, 20000])
    first = render_images(atlas, Kana49Config(), "train", indices)
    second = render_images(atlas, Kana49Config(), "train", indices, batch_size=3)
    assert first[0].tobytes() == second[0].tobytes()
    alone = render_images(atlas, Kana49Config(), "train", indices[2:3])
    assert alone[0].tobytes() == first[0][2:3].tobytes()
    other_seed = render_images(atlas, Kana49Config(seed=7), "train", indices)
    assert first[0].tobytes() != other_seed[0].tobytes()


def test_bad_split_and_index_are_rejected(atlas):
    with pytest.raises(ValueError, match="unknown split 'valid': allowed 'train' or 'test'"):
        render_images(atlas, Kana49Config(), "valid", np.arange(3))
    with pytest.raises(ValueError, match="index 5096 is out of range.*0..5095"):
        render_images(atlas, Kana49Config(), "test", np.array([0, 5096]))


def test_smoothing_keeps_a_constant_field_inside(atlas):
    taps = gaussian_kernel(2.0)
    assert len(taps) == 13 and abs(sum(taps) - 1.0) < 1e-12 and taps == taps[::-1]
    out = smooth(np.ones((1, 28, 28)), taps)
    np.testing.assert_allclose(out[0, 6:22, 6:22], 1.0, rtol=1e-12)
    assert out[0, 0, 0] < 0.6                                             # zero padding at the edges


def test_build_kana49_writes_k49_files(tmp_path, atlas):
    config = Kana49Config(train_per_class=2, test_per_class=1)
    paths = build_kana49(tmp_path, ATLAS, config)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())
    with np.load(paths["train-imgs"]) as z:
        assert z.files == ["arr_0"] and z["arr_0"].shape == (98, 28, 28)
    with np.load(paths["test-labels"]) as z:
        np.testing.assert_array_equal(z["arr_0"], np.arange(49, dtype=np.uint8))
    # the small build's images are the first images of the full dataset (same per-image streams)
    with np.load(paths["test-imgs"]) as z:
        assert z["arr_0"].tobytes() == render_images(atlas, Kana49Config(), "test", np.arange(49))[0].tobytes()
    assert read_classmap_csv(paths["classmap"]) == K49_CHARS


def test_title_font_covers_kana_and_renders_titles():
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager
    from matplotlib.ft2font import FT2Font

    assert TITLE_FONT.stat().st_size < 100_000
    assert (TITLE_FONT.parent / "KleeOne-Kana49.LICENSE.txt").is_file()
    charmap = FT2Font(str(TITLE_FONT)).get_charmap()
    wanted = list(K49_CHARS) + [chr(c) for c in range(32, 127)]
    assert [c for c in wanted if ord(c) not in charmap] == []
    font_manager.fontManager.addfont(str(TITLE_FONT))
    props = font_manager.FontProperties(fname=str(TITLE_FONT))
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logging.getLogger("matplotlib").addHandler(handler)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            fig, ax = plt.subplots(figsize=(2, 2))
            ax.set_title("0 あ  thick / 48 ゝ thin", fontproperties=props)
            fig.canvas.draw()
            plt.close(fig)
    finally:
        logging.getLogger("matplotlib").removeHandler(handler)
    assert not [r for r in records if "missing" in r.getMessage().lower()]


def _atlas_tool():
    """``tools/kana49_atlas.py``, the development tool (not part of the package), as a module."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "tools" / "kana49_atlas.py"
    spec = importlib.util.spec_from_file_location("kana49_atlas", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _installed(*names: str) -> list[Path]:
    paths = [FONT_ROOT / n for n in names]
    if not all(p.is_file() for p in paths):
        pytest.skip("the Kana-49 fonts are not installed (Debian fonts-klee, fonts-dejavu-core)")
    return paths


def test_atlas_rebuild_matches_the_shipped_face(tmp_path, atlas):
    pytest.importorskip("PIL")
    pytest.importorskip("fontTools")
    [klee] = _installed("klee/KleeOne-Regular.ttf")
    build_atlas = _atlas_tool().build_atlas
    rebuilt = load_atlas(build_atlas([klee], tmp_path / "atlas.npz"))
    face = atlas.faces.index("KleeOne-Regular")
    # FreeType versions may move an outline by a fraction of a pixel: compare, do not hash
    assert np.abs(rebuilt.sdf[0] - atlas.sdf[face]).mean() < 0.05
    np.testing.assert_allclose(rebuilt.half_width[0], atlas.half_width[face], atol=0.05)


def test_atlas_rejects_a_face_without_kana(tmp_path):
    pytest.importorskip("PIL")
    pytest.importorskip("fontTools")
    [dejavu] = _installed("dejavu/DejaVuSans.ttf")
    build_atlas = _atlas_tool().build_atlas
    with pytest.raises(ValueError, match="no glyph for"):
        build_atlas([dejavu], tmp_path / "atlas.npz")
    assert not (tmp_path / "atlas.npz").exists()
