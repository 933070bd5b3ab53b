"""The figures of the architecture experiments (the K49 report's §6), drawn from what
:func:`genlib.experiments.run_experiments` stored: its table, curves and sample grids, and the
slim checkpoints under ``checkpoints/``, so nothing is retrained to redraw them.

=======================================  =====================================================
the K49 report's figure                  function (file written by :func:`write_figures`)
=======================================  =====================================================
21, 24, 29, 30, 37: loss curves          :func:`losses_figure` (``losses.png``)
22, 25: CVAE reconstructions             :func:`reconstructions_figure` (``reconstructions.png``)
23, 26, 27, 36: generated images         :func:`samples_figure` (``samples.png``)
31-32: CGAN class 0/10 x style 0/1       :func:`label_grids_figure` (``label_grids.png``)
33-35: CGAN at epochs 50 and 100         :func:`snapshots_figure` (``snapshots.png``)
=======================================  =====================================================
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from genlib import families

if TYPE_CHECKING:
    import matplotlib.figure

    from genlib.data.datasets import PreparedData

REPORT_CELLS = ((0, 0), (0, 1), (10, 0), (10, 1))  # the K49 report's generatorCGAN calls: (class, style)


def samples_figure(grids: dict[str, np.ndarray]) -> "matplotlib.figure.Figure":
    """One row per model of its ``samples.npz`` grid (classes 0.., thin x2 then thick x2 each)."""
    import matplotlib.pyplot as plt

    from genlib.plots import image_row, tile

    fig, axes = plt.subplots(len(grids), 1, figsize=(12, 0.62 * len(grids) + 0.4), squeeze=False)
    for ax, (name, grid) in zip(axes[:, 0], grids.items()):
        image_row(ax, tile(grid, ncol=len(grid), pad=1), name)
    fig.tight_layout()
    return fig


def losses_figure(histories: dict[str, list[dict[str, float]]], ncols: int = 5) -> "matplotlib.figure.Figure":
    """One panel per model: train and validation negative ELBO (CVAEs) or D and G losses (CGANs)."""
    import matplotlib.pyplot as plt

    from genlib.plots import plot_history

    histories = {k: v for k, v in histories.items() if v}
    nrows = -(-len(histories) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.8 * nrows), squeeze=False)
    for ax in axes.flat[len(histories) :]:
        ax.set_visible(False)
    for ax, (name, history) in zip(axes.flat, histories.items()):
        keys = ["loss", "val_loss"] if "val_loss" in history[0] else ["d_loss", "g_loss"]
        plot_history(history, keys, title=name, ax=ax)
    fig.tight_layout()
    return fig


def checkpoints_of(out_dir: str | Path, family: str) -> dict[str, Path]:
    """``{experiment name: stored checkpoint}`` of one family, in the table's order."""
    from genlib.checkpoint import read_meta
    from genlib.experiments import CHECKPOINTS
    from genlib.tables import read_csv

    folder = Path(out_dir) / CHECKPOINTS
    names = [r["name"] for r in read_csv(Path(out_dir) / "results.csv")]
    paths = {n: folder / f"{n}.safetensors" for n in names if (folder / f"{n}.safetensors").is_file()}
    return {n: p for n, p in paths.items() if read_meta(p).family == family}


def reconstructions_figure(out_dir: str | Path, data: "PreparedData", n: int = 12, names: Sequence[str] | None = None) -> "matplotlib.figure.Figure":
    """The first ``n`` held-out images (top row) and each stored CVAE's reconstruction of them:
    ``x̂ = decoder(mu(x, c, s), c, s)``, the posterior mean, as in the K49 report's Figures 22 and 25."""
    import matplotlib.pyplot as plt

    from genlib.models.cvae import reconstruct
    from genlib.plots import image_row, tile

    paths = checkpoints_of(out_dir, "cvae")
    paths = {k: v for k, v in paths.items() if names is None or k in names}
    test = data.test.subset(slice(0, n))
    rows = {"held-out": test.images}
    for name, path in paths.items():
        loaded = families.load(path)
        if loaded.model_config.n_styles == data.n_styles:  # the slant model has other style codes
            rows[name] = reconstruct(loaded.model, test.images, test.classes, test.styles)
    fig, axes = plt.subplots(len(rows), 1, figsize=(0.5 * n + 1.6, 0.6 * len(rows) + 0.3), squeeze=False)
    for ax, (name, images) in zip(axes[:, 0], rows.items()):
        image_row(ax, tile(images.clamp(0, 1), ncol=n, pad=1), name)
    fig.tight_layout()
    return fig


def label_grids_figure(out_dir: str | Path, n: int = 10, seed: int = 0, cells: Sequence[tuple[int, int]] = REPORT_CELLS,
                       names: Sequence[str] | None = None) -> "matplotlib.figure.Figure":
    """``n`` samples of each stored CGAN for each (class, style) of ``cells``: the K49 report's
    ``generatorCGAN(generator, 10, class, style)`` calls for class 0 and 10, thin (0) and thick (1)
    (its Figures 15-18 and, for the §6 variants, 31-32). The noise is the same in every cell; a class
    beyond the dataset's (10 of MNIST's 0..9) becomes its last one."""
    import matplotlib.pyplot as plt

    from genlib.checkpoint import read_meta
    from genlib.plots import image_row, tile

    paths = checkpoints_of(out_dir, "cgan")
    paths = {k: v for k, v in paths.items() if names is None or k in names}
    n_classes = read_meta(next(iter(paths.values()))).model_config["n_classes"] if paths else 1
    cells = list(dict.fromkeys((min(c, n_classes - 1), s) for c, s in cells))  # class 10 is MNIST's last class, 9
    fig, axes = plt.subplots(len(paths), len(cells), figsize=(2.6 * len(cells) + 1.2, 0.75 * len(paths) + 0.6), squeeze=False)
    for i, (name, path) in enumerate(paths.items()):
        loaded = families.load(path)
        for j, (c, s) in enumerate(cells):
            classes, styles = torch.full((n,), c), torch.full((n,), s)
            images = loaded.sample(classes, styles, seed=seed)
            ax = axes[i, j]
            image_row(ax, tile(images, ncol=n // 2 or 1, pad=1), name if j == 0 else "")
            if i == 0:
                ax.set_title(f"class {c}, style {s}", fontsize=9)
    fig.tight_layout()
    return fig


def snapshots_figure(out_dir: str | Path, n_styles: int = 2, classes: Sequence[int] = (0, 10, 20, 30, 40)) -> "matplotlib.figure.Figure":
    """Each MLP CGAN at its snapshot epochs (0, 50, 100: the K49 report's Figures 33-35), one ``z``
    across ``classes`` x every style, one row per (experiment, epoch).

    Raises:
        FileNotFoundError: ``out_dir`` has no snapshot archives.
    """
    from genlib.experiments import SNAPSHOTS
    from genlib.models import snapshots as S

    archives = sorted(Path(out_dir, SNAPSHOTS).glob("*.npz"))
    rows = {f"{a.stem}, epoch {e}": grid for a in archives for e, grid in S.load_snapshots(a).items()}
    if not rows:
        raise FileNotFoundError(f"no snapshot archives in {Path(out_dir, SNAPSHOTS)}: run genlib experiments to make them")
    return S.snapshots_figure(rows, n_styles, classes)


def write_figures(out_dir: str | Path, data: "PreparedData | None" = None) -> list[Path]:
    """Every figure above as a PNG in ``out_dir``, from its saved results and stored checkpoints
    (reconstructions need ``data``, the prepared dataset; skipped without it). Returns the paths."""
    from genlib.experiments import SNAPSHOTS, load_results
    from genlib.plots import save_figure

    _, histories, grids, _ = load_results(out_dir)
    out = Path(out_dir)
    figures = [("samples.png", lambda: samples_figure(grids), 90), ("losses.png", lambda: losses_figure(histories), 80)]
    if checkpoints_of(out, "cgan"):
        figures.append(("label_grids.png", lambda: label_grids_figure(out), 80))
    if data is not None and checkpoints_of(out, "cvae"):
        figures.append(("reconstructions.png", lambda: reconstructions_figure(out, data), 90))
    if any(Path(out, SNAPSHOTS).glob("*.npz")):
        figures.append(("snapshots.png", lambda: snapshots_figure(out), 90))
    written = []
    for name, draw, dpi in figures:
        save_figure(draw(), str(out / name), dpi=dpi)
        written.append(out / name)
    return written
