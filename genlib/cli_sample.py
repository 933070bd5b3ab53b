"""``genlib sample``: draw a checkpoint's samples for every (class, style) cell into K49's npz format.

``arr_0`` uint8 ``[N, 28, 28]`` (or ``[N, H, W, 3]`` for colour) with the requested ``classes`` and
``styles`` of each sample; with ``--png`` also a labelled sheet of them (:mod:`genlib.sample_sheet`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Sequence

from genlib.cli_options import Parser, at_least, seed_arg

MAX_SAMPLES = 1_000_000  # images one `genlib sample` may draw (28x28 float32: about 3 GiB)


def sample_labels(n: int, n_classes: int, n_styles: int, class_index: int | None, style: int | None) -> tuple[Any, Any]:
    """Requested labels: ``n`` per (class, style) cell over the chosen classes and styles, style fastest."""
    if n < 1:
        raise ValueError(f"--n must be >= 1, got {n}")
    if class_index is not None and not 0 <= class_index < n_classes:
        raise ValueError(f"--class {class_index} is out of range: allowed 0..{n_classes - 1}")
    if style is not None and not 0 <= style < n_styles:
        raise ValueError(f"--style {style} is out of range: allowed 0..{n_styles - 1}")
    total = n * (1 if class_index is not None else n_classes) * (1 if style is not None else n_styles)
    if total > MAX_SAMPLES:
        raise ValueError(f"--n {n} asks for {total:,} images (about {total * 28 * 28 * 4 / 2**30:,.0f} GiB as 28x28 float32): "
                         f"at most {MAX_SAMPLES:,} per call; lower --n or pick a --class")
    from genlib.models.conditioning import label_grid

    classes = range(n_classes) if class_index is None else [class_index]
    styles = range(n_styles) if style is None else [style]
    return label_grid(list(classes), list(styles), n)


def sample_command(argv: Sequence[str]) -> int:
    """``genlib sample``: draw samples of a checkpoint into an npz in K49's format (and a labelled PNG sheet)."""
    import numpy as np

    from genlib.atomic import atomic_write_all, check_output, npz_writer

    parser = Parser(prog="genlib sample", description="Draw samples from a checkpoint into an npz file in K49's format "
                    "(and, with --png, a labelled grid of them).")
    parser.add_argument("--checkpoint", type=Path, required=True, metavar="FILE", help="the model to sample, e.g. data/cvae_conv_kana49.safetensors")
    parser.add_argument("--n", type=at_least(1), default=10, help="samples per (class, style) cell: --n 10 on a 49-class, "
                        "2-style model gives 49 x 2 x 10 = 980 images (default 10)")
    parser.add_argument("--seed", type=seed_arg, default=0, help="noise seed, 0..2**32-1: the same seed gives the same images (default 0)")
    parser.add_argument("--out", type=Path, metavar="FILE.npz", help="arr_0 uint8 [N,28,28] ([N,H,W,3] for colour), classes, styles "
                        "(default runs/<checkpoint>_samples.npz)")
    parser.add_argument("--class", dest="class_index", type=int, metavar="K", help="only this class index (default: every class)")
    parser.add_argument("--style", type=int, metavar="S", help="only this style code: 0 thin / 1 thick; with slant conditioning "
                        "2 thin slanted / 3 thick slanted (default: every style)")
    parser.add_argument("--png", type=Path, nargs="?", const=True, metavar="FILE.png", help="also save a labelled grid of the samples, one row "
                        "per (class, style) cell, at most 10 per row (default: --out's name with .png)")
    parser.add_argument("--device", default="cpu", help="where to run the model: cpu, cuda or mps (default cpu)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "bf16"), help="bf16: forward passes under bf16 autocast, "
                        "faster on CPUs and GPUs with bf16 kernels; pixels differ from fp32's by ~0.02 (CVAE, cGAN) to ~0.1 (StyleGAN) at most (default fp32)")
    parser.add_argument("--overwrite-shipped", action="store_true", help="allow writing files in the shipped data/ folder")
    args = parser.parse_args(argv)
    out = args.out or Path("runs") / f"{args.checkpoint.stem}_samples.npz"
    png = out.with_suffix(".png") if args.png is True else args.png
    from genlib.cli_io import check_not_shipped

    for path, flag, suffix in [(out, "--out", ".npz")] + ([(png, "--png", ".png")] if png is not None else []):
        check_output(path, flag, suffix)
        if path.exists():  # a shipped file is never replaced unasked (e.g. a sample file over the dataset's own npz)
            check_not_shipped(path, args.overwrite_shipped)
    from genlib.families import load

    loaded = load(args.checkpoint, device=args.device)
    if loaded.family.sample is None:
        raise ValueError(f"{args.checkpoint} is a {loaded.family.name!r} checkpoint, which does not generate images")
    classes, styles = sample_labels(args.n, loaded.model_config.n_classes, loaded.model_config.n_styles, args.class_index, args.style)
    if len(classes) >= 2000:  # a few seconds or more: say what is under way
        print(f"genlib sample: drawing {len(classes):,} images ({len(classes) // args.n} cells x {args.n}) "
              f"from {args.checkpoint.name}, seed {args.seed} ...", file=sys.stderr, flush=True)
    images = loaded.sample(classes, styles, seed=args.seed, precision=args.precision)  # [N, C, H, W] in [0, 1]
    pixels = images[:, 0] if images.shape[1] == 1 else images.permute(0, 2, 3, 1)  # [N, H, W] or colour [N, H, W, 3]
    arr = (pixels.clamp(0, 1) * 255).round().to("cpu").numpy().astype(np.uint8)
    sheet: list[Any] = []  # the layout, once the grid is drawn

    def write_png(tmp: Path) -> None:
        from genlib.sample_sheet import DPI, sample_sheet

        title = f"{args.checkpoint.name}, seed {args.seed}: {args.n} per cell"
        fig, lay = sample_sheet(images.cpu(), classes.tolist(), styles.tolist(), loaded.class_names, loaded.style_names, title=title)
        fig.savefig(tmp, format="png", dpi=DPI)  # as genlib.plots.save_figure, to a temp name
        sheet.append((lay, "{:.0f} x {:.0f}".format(*fig.get_size_inches() * DPI)))

    npz = npz_writer({"arr_0": arr, "classes": classes.numpy(), "styles": styles.numpy()})  # K49's format
    atomic_write_all([(out, npz)] + ([(png, write_png)] if png is not None else []))
    print(f"wrote {out}: {len(arr)} samples of {args.checkpoint.name} (seed {args.seed})")
    if sheet:
        lay, size = sheet[0]
        shown = f"{lay.cells} cells" if lay.cells == len(classes) // args.n else f"the first {lay.cells} of {len(classes) // args.n} cells"
        print(f"wrote {png}: a {size} px grid, one row per (class, style) cell "
              f"({shown}, up to {lay.columns} samples each)")
    return 0
