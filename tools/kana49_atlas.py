"""Fonts → signed-distance-field atlas for the embedded Kana-49 dataset (a development tool).

Run from the repository root, on a machine with the fonts (not part of the installed package)::

    python tools/kana49_atlas.py --fonts /usr/share/fonts/truetype --out data/kana49/kana49-atlas.npz
    python tools/kana49_atlas.py --fonts /usr/share/fonts/truetype --title-font genlib/assets/KleeOne-Kana49.ttf
    genlib data build-kana49     # then regenerate the dataset files from the new atlas


Glyph rasterisation depends on the FreeType and Pillow versions, so the dataset does not render
fonts at generation time. This module renders every kana of every face once, turns each glyph into
a signed distance field (SDF) and ships the quantized fields as ``kana49-atlas.npz``; the pure-numpy
augmentation in :mod:`genlib.data.kana49` then warps and thresholds the SDFs, identically on every
machine. Needs Pillow, fontTools, scipy and the fonts (Debian packages ``fonts-aoyagi-soseki``,
``fonts-kouzan-mouhitsu``, ``fonts-klee``, ``fonts-kiloji``, ``fonts-yozvox-yozfont-antique``).

Atlas layout (one ``.npz``, no pickles):

- ``sdf``: uint8 ``[F, 49, S, S]``, ``q = clip(round(zero + levels_per_px * d), 0, 255)`` where ``d`` is
  the signed distance to the glyph outline in atlas pixels (positive inside the ink).
- ``half_width``: float64 ``[F, 49]``, the mean stroke half-width of each glyph in atlas pixels.
- ``usable``: bool ``[F, 49]``, False for a glyph that is a solid mark rather than strokes (its
  half-width above ``blob_ratio`` times its face's median; the brush faces' ゝ is a teardrop blob).
- ``faces``, ``chars``: the face names and the 49 characters in K49 order.
- ``zero``, ``levels_per_px``, ``box``: the quantization and the glyph box (the longer side of each
  glyph's ink bounding box spans ``box`` atlas pixels, centred in the cell).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from genlib.atomic import atomic_write, atomic_write_npz
from genlib.data.classmap import K49_CHARS

FONT_ROOT = Path("/usr/share/fonts/truetype")  # where Debian's font packages install (override with --fonts)


def default_font_paths(root: Path = FONT_ROOT) -> list[Path]:
    """The brush and handwriting faces Kana-49 is rendered from, in atlas order.

    Left out on purpose: ``KouzanBrushFontSousyo.ttf`` (its kana are identical to
    ``kouzan-mouhitsu.ttf``), ``kiloji_p.ttf`` (kana identical to ``kiloji.ttf``), ``kiloji_b.ttf`` and
    ``kiloji_d.ttf`` (the same outlines as ``kiloji.ttf`` at another weight, and stroke weight is an
    augmentation factor here), and every mincho/gothic print face.
    """
    names = (
        "aoyagi-soseki/aoyagi-soseki.ttf",              # public domain, brush (kaisho-like)
        "kouzan-mouhitsu/kouzan-mouhitsu.ttf",          # public domain, brush
        "kouzan-mouhitsu/kouzan-mouhitsu-gyosho.ttf",   # public domain, brush, semi-cursive
        "klee/KleeOne-Regular.ttf",                     # OFL-1.1, pencil handwriting
        "kiloji/kiloji.ttf",                            # BSD-3-Clause, felt-pen handwriting
        "yozvox-yozfont/YOzRA_.ttf",                    # OFL-1.1, antique handwriting
    )
    return [root / n for n in names]


def check_coverage(font_path: Path, chars: Sequence[str] = K49_CHARS) -> None:
    """Raise ``ValueError`` unless the face maps every character to a glyph of its own.

    A character counts as covered when the face's cmap lists it, its rendering has ink, and the
    rendering differs from the face's ``.notdef`` box (drawn for the noncharacter U+FFFF).
    """
    from fontTools.ttLib import TTFont

    cmap = TTFont(str(font_path), lazy=True).getBestCmap()
    missing = [c for c in chars if ord(c) not in cmap]
    if missing:
        raise ValueError(f"{font_path}: no glyph for {''.join(missing)!r}; every face must cover all {len(chars)} kana")
    notdef = render_glyph(font_path, "\uffff")
    for c in chars:
        ink = render_glyph(font_path, c)
        if ink.max() < 128 or np.array_equal(ink > 127, notdef > 127):
            raise ValueError(f"{font_path}: {c!r} (U+{ord(c):04X}) renders empty or as .notdef")


def render_glyph(font_path: Path, char: str, font_size: int = 256) -> np.ndarray:
    """Rasterise one character with Pillow: uint8 ``[H, H]`` (``H = 1.5 * font_size``), ink 255 on 0."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(font_path), font_size)
    side = font_size * 3 // 2
    canvas = Image.new("L", (side, side), 0)
    ImageDraw.Draw(canvas).text((side / 2, side / 2), char, font=font, fill=255, anchor="mm")
    return np.asarray(canvas, dtype=np.uint8)


def signed_distance(mask: np.ndarray) -> np.ndarray:
    """Signed distance to the outline of a boolean ink mask, in pixels: ``> 0`` inside, ``< 0`` outside.

    ``d = edt(ink) - 1/2`` inside and ``d = -(edt(paper) - 1/2)`` outside, so the zero level lies on the
    pixel edges between ink and paper.
    """
    from scipy.ndimage import distance_transform_edt

    inside = distance_transform_edt(mask)
    outside = distance_transform_edt(~mask)
    return np.where(mask, inside - 0.5, -(outside - 0.5))


def glyph_sdf(ink: np.ndarray, size: int, box: float) -> tuple[np.ndarray, float]:
    """Resample a high-resolution glyph into a ``[size, size]`` SDF cell in atlas pixels.

    The longer side of the ink bounding box is scaled to ``box`` atlas pixels and the box is centred.

    Returns:
        ``(sdf, half_width)``: float64 ``[size, size]`` signed distances in atlas pixels, and the mean
        stroke half-width ``2 * mean(d | d > 0)`` in atlas pixels (a strip of width ``w`` has mean
        inner distance ``w / 4``).
    """
    from scipy.ndimage import map_coordinates

    mask = ink > 127
    rows, cols = np.nonzero(mask)
    if rows.size == 0:
        raise ValueError("cannot build an SDF of an empty glyph")
    d_hi = signed_distance(mask)
    cy = (rows.min() + rows.max() + 1) / 2.0              # bounding-box centre, hi-res pixels
    cx = (cols.min() + cols.max() + 1) / 2.0
    longest = max(rows.max() + 1 - rows.min(), cols.max() + 1 - cols.min())
    hi_per_atlas = longest / box                         # hi-res pixels per atlas pixel
    grid = (np.arange(size, dtype=np.float64) + 0.5 - size / 2.0) * hi_per_atlas
    yy, xx = np.meshgrid(cy + grid - 0.5, cx + grid - 0.5, indexing="ij")
    far = -float(d_hi.shape[0])
    sdf = map_coordinates(d_hi, [yy, xx], order=1, mode="constant", cval=far) / hi_per_atlas
    half_width = 2.0 * float(d_hi[mask].mean()) / hi_per_atlas
    return sdf, half_width


def quantize_sdf(sdf: np.ndarray, zero: int, levels_per_px: float) -> np.ndarray:
    """``q = clip(round(zero + levels_per_px * d), 0, 255)`` as uint8."""
    return np.clip(np.round(zero + levels_per_px * sdf), 0, 255).astype(np.uint8)


def stroke_like(half_width: np.ndarray, blob_ratio: float) -> np.ndarray:
    """bool ``[F, C]``: a glyph is strokes, not a blob, when ``h_fc <= blob_ratio * median_c(h_fc)``."""
    return half_width <= blob_ratio * np.median(half_width, axis=1, keepdims=True)


def build_atlas(
    font_paths: Sequence[Path],
    out_path: Path,
    size: int = 48,
    box: float = 34.5,
    zero: int = 128,
    levels_per_px: float = 16.0,
    blob_ratio: float = 3.0,
    chars: Sequence[str] = K49_CHARS,
) -> Path:
    """Render ``chars`` in every face, build the SDF atlas and write it atomically to ``out_path``.

    Args:
        font_paths: TrueType files; each must cover every character (checked).
        out_path: destination ``.npz``.
        size: atlas cell side in pixels.
        box: atlas pixels spanned by the longer side of each glyph's ink bounding box.
        zero, levels_per_px: SDF quantization, ``q = zero + levels_per_px * d``.
        blob_ratio: glyphs whose half-width exceeds this multiple of their face's median are
            marked unusable (see :func:`stroke_like`); every character must keep one usable face.
    Returns:
        ``out_path``.
    """
    if not 0 < box < size:
        raise ValueError(f"box must be in (0, size={size}), got {box}")
    font_paths = [Path(p) for p in font_paths]
    if not font_paths:
        raise ValueError("font_paths is empty: give at least one TrueType file")
    sdf = np.zeros((len(font_paths), len(chars), size, size), dtype=np.uint8)
    half_width = np.zeros((len(font_paths), len(chars)), dtype=np.float64)
    for f, path in enumerate(font_paths):
        check_coverage(path, chars)
        for k, char in enumerate(chars):
            field, half_width[f, k] = glyph_sdf(render_glyph(path, char), size, box)
            sdf[f, k] = quantize_sdf(field, zero, levels_per_px)
    usable = stroke_like(half_width, blob_ratio)
    if not usable.any(axis=0).all():
        bad = [chars[k] for k in np.nonzero(~usable.any(axis=0))[0]]
        raise ValueError(f"no face draws {''.join(bad)!r} as strokes; raise blob_ratio={blob_ratio} or add a face")
    arrays = {
        "sdf": sdf,
        "half_width": half_width,
        "usable": usable,
        "faces": np.array([p.stem for p in font_paths]),
        "chars": np.array(list(chars)),
        "zero": np.array(zero, dtype=np.int64),
        "levels_per_px": np.array(levels_per_px, dtype=np.float64),
        "box": np.array(box, dtype=np.float64),
    }
    return atomic_write_npz(out_path, **arrays)


def build_title_font(
    font_path: Path = FONT_ROOT / "klee/KleeOne-Regular.ttf",
    out_path: Path = Path("genlib/assets/KleeOne-Kana49.ttf"),
    family: str = "Klee One Kana49",
    chars: Sequence[str] = K49_CHARS,
) -> Path:
    """Subset a face to the 49 kana plus printable ASCII for matplotlib titles (fontTools subsetter).

    Klee One is under the SIL OFL 1.1 with no Reserved Font Name, so a renamed subset may be
    shipped with the licence beside it. Hinting and layout features are dropped to keep it small;
    the family is renamed so it never shadows a full Klee One installed on the system.
    """
    from fontTools import subset

    options = subset.Options()
    options.layout_features = []                 # no GSUB/GPOS features: titles need plain glyphs
    options.hinting = False
    options.notdef_outline = True
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13, 14]    # copyright, names, version, licence
    options.drop_tables += ["gasp", "FFTM"]
    font = subset.load_font(str(font_path), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(text="".join(chars) + "".join(chr(c) for c in range(32, 127)))
    subsetter.subset(font)
    postscript = family.replace(" ", "")
    for record in font["name"].names:
        if record.nameID in (1, 4):              # family, full name
            record.string = family if record.nameID == 1 else f"{family} Regular"
        elif record.nameID in (3, 6):            # unique id, PostScript name
            record.string = f"{postscript}-Regular"
    return atomic_write(Path(out_path), lambda tmp: subset.save_font(font, str(tmp), options))


def main(argv: Sequence[str] | None = None) -> int:
    """``python tools/kana49_atlas.py [--fonts DIR] (--out ATLAS.npz | --title-font FONT.ttf)``."""
    import argparse

    parser = argparse.ArgumentParser(description="Build the Kana-49 SDF atlas or the kana title font from system fonts.")
    parser.add_argument("--fonts", type=Path, default=FONT_ROOT, help=f"the TrueType folder (default {FONT_ROOT})")
    parser.add_argument("--out", type=Path, help="write the atlas here (e.g. data/kana49/kana49-atlas.npz)")
    parser.add_argument("--title-font", type=Path, help="write the subset title font here (e.g. genlib/assets/KleeOne-Kana49.ttf)")
    args = parser.parse_args(argv)
    if not (args.out or args.title_font):
        parser.error("give --out, --title-font or both")
    if args.out:
        print(f"wrote {build_atlas(default_font_paths(args.fonts), args.out)}")
    if args.title_font:
        print(f"wrote {build_title_font(args.fonts / 'klee/KleeOne-Regular.ttf', args.title_font)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
