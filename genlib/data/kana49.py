"""Kana-49: the embedded, synthetic stand-in for Kuzushiji-49 (same 49 classes, same npz format).

Every image is a pure-numpy function of the shipped SDF atlas (see ``tools/kana49_atlas.py``)
and of its own random stream ``SeedSequence([seed, split_id, index])``, so any slice regenerates
alone and byte for byte on any machine: float64 arithmetic, bilinear sampling, smoothing by explicit
fixed-order sums, trigonometry and ``exp`` only on per-image scalars (``math``), no reductions whose
order numpy may choose.

One image, step by step (output pixels, frame centre at 14, 14):

1. draw its factors: face, stroke width (thin or thick: two well separated modes), rotation,
   slant, scale, aspect, shift, elastic strength, ink level, edge softness, an optional fragment
   of a neighbouring glyph at one edge;
2. warp the pixel grid: a smooth random displacement field (elastic), then the inverse of
   ``p = R(rotation) · Shear(slant) · diag(k·aspect, k/aspect) · g + shift`` into atlas coordinates ``g``;
3. sample the glyph's SDF bilinearly, take off the font's own stroke half-width, convert to output
   pixels and put on half the drawn stroke width (see :func:`glyph_distance`);
4. ink coverage ``smoothstep(clip(1/2 + d / softness, 0, 1))``, times a smoothly varying ink level;
5. ``round(255 · coverage · ink)`` → uint8, white strokes on black like K49.

Image ``index`` has class ``index % 49`` and is thick when ``(index // 49) % 2 == 1``, so every
class holds equally many thin and thick images.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genlib.atomic import atomic_write, atomic_write_npz
from genlib.data.classmap import K49_CHARS, write_classmap_csv

SPLIT_IDS: dict[str, int] = {"train": 0, "test": 1}


@dataclass(frozen=True)
class Kana49Config:
    """Counts, seed and augmentation ranges of Kana-49 (lengths in output pixels of the 28x28 frame)."""

    train_per_class: int = 520                         # 49 x 520 = 25,480 training images
    test_per_class: int = 104                          # 49 x 104 = 5,096 test images
    seed: int = 49                                     # base of every per-image SeedSequence
    frame: int = 28                                    # output side, pixels
    glyph_box: float = 25.0                            # longer side of the glyph box at scale 1
    thin_width: float = 2.0                            # stroke width of the thin mode, pixels
    thick_width: float = 3.6                           # stroke width of the thick mode, pixels
    width_spread: float = 0.3                          # within-mode spread, triangular on ±spread
    rotation_deg: float = 7.0                          # rotation, triangular on ±rotation_deg
    slant: float = 0.22                                # shear dx/dy, triangular on ±slant
    scale_range: tuple[float, float] = (0.84, 1.04)    # glyph size factor, uniform
    log_aspect: float = 0.12                           # width/height = exp(triangular on ±log_aspect)
    shift: float = 1.2                                 # centre shift in x and y, triangular on ±shift
    elastic_max: float = 1.1                           # RMS elastic displacement, uniform in [0, max]
    elastic_sigma: float = 4.0                         # smoothness of the displacement field, pixels
    fragment_prob: float = 0.12                        # chance of a neighbour's fragment at an edge
    fragment_depth: tuple[float, float] = (2.5, 6.0)   # how far the neighbour's box enters the frame
    ink_range: tuple[float, float] = (0.85, 1.35)      # ink level, uniform; above 1 saturates stroke cores
    ink_variation: float = 0.1                         # relative std of the smooth ink-level field
    softness_range: tuple[float, float] = (0.6, 1.2)   # width of the edge ramp, uniform

    def count(self, split: str) -> int:
        """Number of images in ``split`` (``'train'`` or ``'test'``)."""
        check_split(split)
        return 49 * (self.train_per_class if split == "train" else self.test_per_class)


@dataclass(frozen=True)
class Atlas:
    """The shipped glyph shapes: quantized SDFs and their metadata (see ``tools/kana49_atlas.py``)."""

    sdf: np.ndarray          # float64 [F, 49, S, S], signed distance in atlas pixels (> 0 inside)
    half_width: np.ndarray   # float64 [F, 49], mean stroke half-width of each glyph, atlas pixels
    usable: np.ndarray       # bool [F, 49], False for a glyph that is a solid blob, not strokes
    faces: tuple[str, ...]   # face names, F
    chars: tuple[str, ...]   # the 49 characters, K49 order
    box: float               # atlas pixels spanned by the longer side of a glyph box
    far: float               # SDF value used outside the cells (the most negative level)


def check_split(split: str) -> int:
    """Return the split's stream id; ``ValueError`` for anything but ``'train'`` or ``'test'``."""
    if split not in SPLIT_IDS:
        raise ValueError(f"unknown split {split!r}: allowed 'train' or 'test'")
    return SPLIT_IDS[split]


def load_atlas(path: Path) -> Atlas:
    """Load ``kana49-atlas.npz``: ``d = (q - zero) / levels_per_px`` atlas pixels (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        zero, levels = float(z["zero"]), float(z["levels_per_px"])
        chars = tuple(str(c) for c in z["chars"])
        if chars != K49_CHARS:
            raise ValueError(f"{path}: atlas characters {''.join(chars)!r} are not K49's 49 classes in order")
        return Atlas(
            sdf=(z["sdf"].astype(np.float64) - zero) / levels,
            half_width=z["half_width"].astype(np.float64),
            usable=z["usable"].astype(bool),
            faces=tuple(str(f) for f in z["faces"]),
            chars=chars,
            box=float(z["box"]),
            far=(0.0 - zero) / levels,
        )


def _half(x: float) -> float:
    """Round to float16 and back: factors are stored as float16 and rendered from exactly that value."""
    return float(np.float16(x))


def _tri(rng: np.random.Generator, half_range: float) -> float:
    """Triangular draw on ``[-half_range, half_range]``: ``(u + v - 1) * half_range``."""
    return (rng.random() + rng.random() - 1.0) * half_range


def _uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """``lo + u * (hi - lo)`` with ``u`` uniform in [0, 1)."""
    return bounds[0] + rng.random() * (bounds[1] - bounds[0])


def draw_factors(rng: np.random.Generator, config: Kana49Config, usable: np.ndarray, label: int,
                 thick: bool) -> tuple[dict[str, float], np.ndarray]:
    """Draw one image's factors and its three uniform noise fields, always in the same order.

    The face is drawn among those that write ``label`` as strokes (``usable[:, label]``), the
    neighbour's class among those the face writes as strokes. ``thick`` is set by the caller
    (``(index // 49) % 2``), so every class is exactly half thin, half thick and the per-class
    median has a true split to find.

    Returns:
        ``(factors, noise)``: scalars (continuous ones already rounded to float16) and float64
        ``[3, frame, frame]`` uniform noise in [0, 1) (x and y displacement, ink level).
    """
    faces = np.flatnonzero(usable[:, label])
    f: dict[str, float] = {"face": float(faces[rng.integers(faces.size)])}
    f["thick"] = float(thick)
    mode = config.thick_width if f["thick"] else config.thin_width
    f["stroke_width"] = _half(mode + _tri(rng, config.width_spread))
    f["rotation"] = _half(_tri(rng, config.rotation_deg))
    f["slant"] = _half(_tri(rng, config.slant))
    f["scale"] = _half(_uniform(rng, config.scale_range))
    f["aspect"] = _half(math.exp(_tri(rng, config.log_aspect)))
    f["shift_x"] = _half(_tri(rng, config.shift))
    f["shift_y"] = _half(_tri(rng, config.shift))
    f["elastic"] = _half(rng.random() * config.elastic_max)
    f["ink"] = _half(_uniform(rng, config.ink_range))
    f["softness"] = _half(_uniform(rng, config.softness_range))
    f["fragment"] = float(rng.random() < config.fragment_prob)
    neighbours = np.flatnonzero(usable[int(f["face"])])
    f["fragment_class"] = float(neighbours[rng.integers(neighbours.size)])
    u = rng.random()                                   # side: top, bottom (vertical text) more often
    f["fragment_side"] = float(0 if u < 0.35 else 1 if u < 0.7 else 2 if u < 0.85 else 3)
    f["fragment_depth"] = _half(_uniform(rng, config.fragment_depth))
    f["fragment_along"] = _half(_tri(rng, 4.0))
    if not f["fragment"]:                              # drawn all the same, so the stream never shifts
        f.update(fragment_class=0.0, fragment_side=0.0, fragment_depth=0.0, fragment_along=0.0)
    noise = rng.random((3, config.frame, config.frame))
    return f, noise


def gaussian_kernel(sigma: float) -> list[float]:
    """Normalised 1-D Gaussian taps ``w_j ∝ exp(-j² / 2σ²)``, ``j = -3σ..3σ``, built with ``math.exp``."""
    radius = int(math.ceil(3.0 * sigma))
    taps = [math.exp(-(j * j) / (2.0 * sigma * sigma)) for j in range(-radius, radius + 1)]
    total = math.fsum(taps)
    return [t / total for t in taps]


def smooth(fields: np.ndarray, taps: list[float]) -> np.ndarray:
    """Separable convolution over the last two axes, zero padding, taps summed in a fixed order.

    Args:
        fields: float64 ``[..., H, W]``.
    Returns:
        float64 ``[..., H, W]``: ``out = Σ_i Σ_j w_i w_j x[y + i, x + j]`` (zeros outside).
    """
    r = len(taps) // 2
    h, w = fields.shape[-2:]
    pad = [(0, 0)] * (fields.ndim - 2)
    padded = np.pad(fields, pad + [(0, 0), (r, r)])
    rows, term = taps[0] * padded[..., :, 0:w], np.empty(fields.shape)
    for j in range(1, len(taps)):                      # rows += w_j * x[:, j:j+w], in place
        rows += np.multiply(taps[j], padded[..., :, j : j + w], out=term)
    padded = np.pad(rows, pad + [(r, r), (0, 0)])
    out = taps[0] * padded[..., 0:h, :]
    for j in range(1, len(taps)):
        out += np.multiply(taps[j], padded[..., j : j + h, :], out=term)
    return out


def sample_bilinear(sdf: np.ndarray, cells: np.ndarray, ax: np.ndarray, ay: np.ndarray, far: float) -> np.ndarray:
    """Bilinearly sample SDF cells at atlas coordinates (pixel centres at integers).

    Args:
        sdf: float64 ``[F, 49, S, S]``; cells: int ``[B, 2]`` (face, class) per image.
        ax, ay: float64 ``[B, H, W]`` column and row coordinates.
        far: value outside the cell.
    Returns:
        float64 ``[B, H, W]``: ``(1-fy)((1-fx) v00 + fx v01) + fy((1-fx) v10 + fx v11)``.
    """
    s = sdf.shape[-1]
    x0, y0 = np.floor(ax), np.floor(ay)
    fx, fy = ax - x0, ay - y0
    x0, y0 = x0.astype(np.int64), y0.astype(np.int64)
    face = cells[:, 0][:, None, None]
    cls = cells[:, 1][:, None, None]

    def tap(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        inside = (yy >= 0) & (yy < s) & (xx >= 0) & (xx < s)
        vals = sdf[face, cls, np.clip(yy, 0, s - 1), np.clip(xx, 0, s - 1)]
        return np.where(inside, vals, far)

    top = (1.0 - fx) * tap(y0, x0) + fx * tap(y0, x0 + 1)
    bottom = (1.0 - fx) * tap(y0 + 1, x0) + fx * tap(y0 + 1, x0 + 1)
    return (1.0 - fy) * top + fy * bottom


def inverse_affine(f: dict[str, float], k: float) -> tuple[float, float, float, float]:
    """Inverse of ``M = R(θ) · Shear(s) · diag(k·a, k/a)`` (y down; θ > 0 turns counter-clockwise on screen).

    ``R = [[cos θ, sin θ], [-sin θ, cos θ]]``, ``Shear = [[1, -s], [0, 1]]`` (the top leans right for
    ``s > 0``). Returns ``(i00, i01, i10, i11)`` of ``M⁻¹``, computed on Python floats.
    """
    t = math.radians(f["rotation"])
    c, s_ = math.cos(t), math.sin(t)
    sx, sy = k * f["aspect"], k / f["aspect"]
    m00, m01 = c * sx, (c * -f["slant"] + s_) * sy         # R · Shear · diag, row 0
    m10, m11 = -s_ * sx, (-s_ * -f["slant"] + c) * sy      # row 1
    det = m00 * m11 - m01 * m10
    return m11 / det, -m01 / det, -m10 / det, m00 / det


def _column(factors: list[dict[str, float]], name: str) -> np.ndarray:
    """One factor of a batch as float64 ``[B, 1, 1]`` for broadcasting over pixels."""
    return np.array([f[name] for f in factors], dtype=np.float64)[:, None, None]


def glyph_distance(atlas: Atlas, factors: list[dict[str, float]], cells: np.ndarray, gx: np.ndarray,
                   gy: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Signed distance in output pixels to the edge of the re-weighted strokes (> 0 is ink).

    ``d_out = (d_atlas - h_fc) / k + stroke_width / 2``: the glyph's own mean half-width ``h_fc`` is
    taken off (leaving a centre line), the result is scaled by ``k`` atlas pixels per output pixel,
    and the drawn stroke width is put back on. Faces then differ in shape, not in weight, and every
    class is written with the same pen, whatever its size in the font.
    """
    centre = atlas.sdf.shape[-1] / 2.0 - 0.5
    d = sample_bilinear(atlas.sdf, cells, gx + centre, gy + centre, atlas.far)
    own = atlas.half_width[cells[:, 0], cells[:, 1]][:, None, None]
    return (d - own) / k + 0.5 * _column(factors, "stroke_width")


def _render_batch(atlas: Atlas, config: Kana49Config, labels: np.ndarray, factors: list[dict[str, float]],
                  noise: np.ndarray) -> np.ndarray:
    """Render one batch: float64 coverage·ink in [0, 1], ``[B, frame, frame]`` (steps 2-4 above)."""
    size = config.frame
    taps = gaussian_kernel(config.elastic_sigma)
    unit = 1.0 / (math.sqrt(1.0 / 3.0) * math.fsum(t * t for t in taps))   # smoothed U(-1,1) → std 1
    field = smooth(2.0 * noise - 1.0, taps) * unit                          # [B, 3, H, W], std ≈ 1
    grid = np.arange(size, dtype=np.float64) + 0.5 - size / 2.0             # pixel centres, frame centre 0
    px = grid[None, None, :] - _column(factors, "shift_x") + _column(factors, "elastic") * field[:, 0]
    py = grid[None, :, None] - _column(factors, "shift_y") + _column(factors, "elastic") * field[:, 1]
    scale = [atlas.box / (config.glyph_box * f["scale"]) for f in factors]  # atlas px per output px
    inv = np.array([inverse_affine(f, 1.0 / k) for f, k in zip(factors, scale)])[:, :, None, None]
    gx = inv[:, 0] * px + inv[:, 1] * py                                    # g = M⁻¹ p', atlas pixels
    gy = inv[:, 2] * px + inv[:, 3] * py
    k = np.array(scale)[:, None, None]
    cells = np.array([[int(f["face"]), int(lab)] for f, lab in zip(factors, labels)], dtype=np.int64)
    d = glyph_distance(atlas, factors, cells, gx, gy, k)
    frag = np.array([f["fragment"] == 1.0 for f in factors])
    if frag.any():
        d[frag] = np.maximum(d[frag], fragment_distance(atlas, config, [f for f, m in zip(factors, frag) if m],
                                                        px[frag], py[frag], k[frag]))
    t = np.clip(0.5 + d / _column(factors, "softness"), 0.0, 1.0)
    coverage = t * t * (3.0 - 2.0 * t)                                      # smoothstep
    ink = np.clip(_column(factors, "ink") * (1.0 + config.ink_variation * field[:, 2]), 0.0, 1.0)
    return coverage * ink


def fragment_distance(atlas: Atlas, config: Kana49Config, factors: list[dict[str, float]], px: np.ndarray,
                      py: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Distance field of a neighbouring glyph (same face and pen, upright) poking in at one edge.

    Its box centre sits ``frame/2 + box/2 - depth`` from the frame centre, beyond the chosen side
    (0 top, 1 bottom, 2 left, 3 right), moved ``along`` pixels parallel to that side.
    """
    offsets = []
    for f in factors:
        reach = config.frame / 2.0 + config.glyph_box * f["scale"] / 2.0 - f["fragment_depth"]
        along = f["fragment_along"]
        offsets.append([(along, -reach), (along, reach), (-reach, along), (reach, along)][int(f["fragment_side"])])
    off = np.array(offsets)[:, :, None, None]
    cells = np.array([[int(f["face"]), int(f["fragment_class"])] for f in factors], dtype=np.int64)
    return glyph_distance(atlas, factors, cells, (px - off[:, 0]) * k, (py - off[:, 1]) * k, k)


FACTOR_DTYPES: dict[str, type] = {
    "face": np.uint8, "thick": np.uint8, "stroke_width": np.float16,
    "rotation": np.float16, "slant": np.float16, "scale": np.float16, "aspect": np.float16,
    "shift_x": np.float16, "shift_y": np.float16, "elastic": np.float16, "ink": np.float16,
    "softness": np.float16, "fragment": np.uint8, "fragment_class": np.uint8, "fragment_side": np.uint8,
    "fragment_depth": np.float16, "fragment_along": np.float16,
}


def render_images(
    atlas: Atlas, config: Kana49Config, split: str, indices: np.ndarray, batch_size: int = 256
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Render images ``indices`` of ``split``; each depends only on ``(config.seed, split, index)``.

    Args:
        indices: int array ``[n]`` of image indices, each in ``0..config.count(split) - 1``.
    Returns:
        ``(images, labels, factors)``: uint8 ``[n, 28, 28]`` (white strokes on black), uint8 labels
        ``[n]`` (``index % 49``) and one array ``[n]`` per factor (dtypes in ``FACTOR_DTYPES``).
    """
    split_id = check_split(split)
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    total = config.count(split)
    if indices.size and (indices.min() < 0 or indices.max() >= total):
        bad = indices[(indices < 0) | (indices >= total)][0]
        raise ValueError(f"index {bad} is out of range for split {split!r}: allowed 0..{total - 1}")
    labels = (indices % 49).astype(np.uint8)
    images = np.zeros((indices.size, config.frame, config.frame), dtype=np.uint8)
    drawn: list[dict[str, float]] = []
    for start in range(0, indices.size, batch_size):
        stop = min(start + batch_size, indices.size)
        batch, noise = [], np.empty((stop - start, 3, config.frame, config.frame))
        for j, index in enumerate(indices[start:stop]):
            rng = np.random.default_rng(np.random.SeedSequence([config.seed, split_id, int(index)]))
            label = int(labels[start + j])
            f, noise[j] = draw_factors(rng, config, atlas.usable, label, thick=(index // 49) % 2 == 1)
            batch.append(f)
        values = _render_batch(atlas, config, labels[start:stop], batch, noise)
        images[start:stop] = np.clip(np.round(255.0 * values), 0, 255).astype(np.uint8)  # step 5
        drawn.extend(batch)
    factors = {name: np.array([f[name] for f in drawn], dtype=np.float64).astype(dt)
               for name, dt in FACTOR_DTYPES.items()}
    return images, labels, factors


def median_rule_agreement(images: np.ndarray, labels: np.ndarray, thick: np.ndarray,
                          threshold: float = 0.5) -> float:
    """Fraction of images whose style label by the K49 report's rule (more foreground than the class median) equals ``thick``.

    Args:
        images: uint8 ``[N, 28, 28]``; labels: class indices ``[N]``; thick: ground truth ``[N]`` in {0, 1}.
        threshold: foreground threshold on ``images / 255`` (the K49 report's §3 ``countForegroundPixels``).
    """
    from genlib.data.preprocess import count_foreground_pixels, style_labels_by_median

    counts = count_foreground_pixels(images.astype(np.float64) / 255.0, threshold)
    styles, _ = style_labels_by_median(counts, labels.astype(np.int64), 49)
    return float((styles == thick.astype(np.int64)).mean())


def build_kana49(out_dir: Path, atlas_path: Path, config: Kana49Config = Kana49Config()) -> dict[str, Path]:
    """Generate both splits and write the K49-format files, the factors and the classmap to ``out_dir``.

    Files: ``kana49-{train,test}-{imgs,labels,factors}.npz`` (images and labels as ``arr_0``, like
    K49) and ``kana49_classmap.csv``. Each file is written atomically.

    Returns:
        name → path of every file written (``"train-imgs"``, ..., ``"test-factors"``, ``"classmap"``).
    """
    from tqdm.auto import tqdm

    out_dir = Path(out_dir)
    atlas = load_atlas(atlas_path)
    paths: dict[str, Path] = {}
    chunk = 2048
    with tqdm(total=config.count("train") + config.count("test"), desc="Kana-49", unit="img") as bar:
        for split in ("train", "test"):
            parts = []
            for start in range(0, config.count(split), chunk):
                idx = np.arange(start, min(start + chunk, config.count(split)))
                parts.append(render_images(atlas, config, split, idx))
                bar.update(idx.size)
            images = np.concatenate([p[0] for p in parts])
            labels = np.concatenate([p[1] for p in parts])
            factors = {k: np.concatenate([p[2][k] for p in parts]) for k in FACTOR_DTYPES}
            paths[f"{split}-imgs"] = atomic_write_npz(out_dir / f"kana49-{split}-imgs.npz", arr_0=images)
            paths[f"{split}-labels"] = atomic_write_npz(out_dir / f"kana49-{split}-labels.npz", arr_0=labels)
            paths[f"{split}-factors"] = atomic_write_npz(out_dir / f"kana49-{split}-factors.npz", **factors)
    paths["classmap"] = atomic_write(out_dir / "kana49_classmap.csv", write_classmap_csv)
    return paths
