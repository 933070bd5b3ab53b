"""Snapshot figures of a conditional GAN while it trains (the K49 report's Figures 12–14 and 20).

The CGAN family writes them every ``snapshot_every`` epochs (``CGANTrainConfig``); notebook 03 shows
them and draws :func:`style_pairs_figure` of a trained model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import torch
from torch import nn

from genlib.data.conditions import style_names as names_of_styles
from genlib.data.datasets import LabelledImages
from genlib.models.cgan import CGANConfig, sample
from genlib.models.conditioning import seeded_normal

if TYPE_CHECKING:
    from matplotlib.figure import Figure


ARCHIVE = "snapshots.npz"  # the snapshot folder's archive of one-z grids, one key per epoch


def archive_snapshot(path: Path, epoch: int, grid: torch.Tensor) -> None:
    """Add ``grid`` (``[N, 1, 28, 28]`` in [0, 1]) to the ``.npz`` archive at ``path`` as ``epoch_NNNN``
    (uint8), keeping the epochs already there; written atomically."""
    from genlib.atomic import atomic_write_npz

    kept = dict(np.load(path)) if path.is_file() else {}
    kept[f"epoch_{epoch:04d}"] = (grid[:, 0].detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    atomic_write_npz(path, **kept)


def load_snapshots(path: str | Path) -> dict[int, np.ndarray]:
    """``{epoch: uint8 [N, 28, 28]}`` from a snapshot archive (or a snapshot folder holding one), by epoch.

    Raises:
        FileNotFoundError: no archive at ``path``.
    """
    path = Path(path)
    path = path / ARCHIVE if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no snapshot archive at {path}: train with snapshot_every > 0 to write one")
    with np.load(path) as archive:
        return {int(k.split("_")[1]): archive[k] for k in sorted(archive.files)}


def snapshots_figure(
    snapshots: dict[int, np.ndarray] | dict[str, np.ndarray], n_styles: int, classes: Sequence[int] = (0, 10, 20, 30, 40),
    title: str | None = None,
) -> Figure:
    """One row per snapshot: the same ``z`` drawn as ``classes`` x every style (thin, thick, …).

    ``snapshots`` is :func:`load_snapshots`' ``{epoch: grid}`` (rows labelled "epoch N") or any
    ``{label: grid}``; each grid lists the classes in order with the style varying fastest, as
    :func:`write_snapshot` drew it.
    """
    import matplotlib.pyplot as plt

    from genlib.plots import image_row, tile

    fig, axes = plt.subplots(len(snapshots), 1, figsize=(0.5 * len(classes) * n_styles + 2.4, 0.55 * len(snapshots) + 0.5), squeeze=False)
    for ax, (key, grid) in zip(axes[:, 0], snapshots.items()):
        picked = [grid[c * n_styles + s] for c in classes if (c + 1) * n_styles <= len(grid) for s in range(n_styles)]
        image_row(ax, tile(np.stack(picked).astype(np.float32) / 255, ncol=len(picked), pad=1), f"epoch {key}" if isinstance(key, int) else key)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def write_snapshot(
    generator: nn.Module,
    real: LabelledImages,
    history: Sequence[dict[str, float]],
    epoch: int,
    model_config: CGANConfig,
    train_config: Any,
    class_names: Sequence[str],
    folder: Path,
) -> list[Path]:
    """Save the training figures of ``epoch`` as PNGs in ``folder`` and return their paths.

    ``train_config`` is the run's ``CGANTrainConfig`` (its learning rate, batch size, epochs and seed).

    - ``epoch_NNNN_real_vs_fake.png``: real images and fakes with the same labels and fixed noise,
      captioned with the hyperparameters (the K49 report's Figures 12–14);
    - ``epoch_NNNN_classes.png``: one fixed ``z`` across every class and style;
    - ``epoch_NNNN_styles.png``: the same classes and noise, one panel per style;
    - ``losses.png``: D and G loss per epoch so far (the K49 report's Figure 20);
    - ``snapshots.npz``: the one-``z`` grid of every snapshot so far, uint8 ``[classes * styles, 28, 28]``
      under the key ``epoch_NNNN`` (small enough to ship; :func:`load_snapshots` reads it back).
    """
    from genlib.models.conditioning import ordered_labels
    from genlib.plots import class_style_grid, plot_history, real_vs_fake, save_figure

    folder.mkdir(parents=True, exist_ok=True)
    seed, tag = train_config.seed, f"epoch_{epoch:04d}"
    fake = sample(generator, real.classes, real.styles, seed=seed)
    caption = (
        f"Learning Rate: {train_config.lr}, Latent Dim: {model_config.latent_dim}, "
        f"Batch Size: {train_config.batch_size}, Total Epochs: {train_config.epochs}, Epoch: {epoch}"
    )
    paths = [folder / f"{tag}_real_vs_fake.png", folder / f"{tag}_classes.png", folder / f"{tag}_styles.png"]
    save_figure(real_vs_fake(real.images, fake, caption), str(paths[0]))
    classes, styles = ordered_labels(model_config.n_classes, model_config.n_styles)
    grid = sample(generator, classes, styles, seed=seed, same_noise=True)
    archive_snapshot(folder / ARCHIVE, epoch, grid)
    names = names_of_styles(train_config.data.condition)
    save_figure(class_style_grid(grid, class_names, names, title=f"one z, every class and style - epoch {epoch}"), str(paths[1]))
    pairs = style_pairs_figure(generator, class_names, seed=seed, style_names=names, title=f"same z, {' vs '.join(names)} - epoch {epoch}")
    save_figure(pairs, str(paths[2]))
    if history:
        paths.append(folder / "losses.png")
        save_figure(plot_history(history, ["d_loss", "g_loss"], title="CGAN loss"), str(paths[-1]))
    return paths


def style_pairs_figure(
    generator: nn.Module,
    class_names: Sequence[str],
    classes: Sequence[int] = (0, 10, 20, 30, 40),
    n_noise: int = 8,
    seed: int = 0,
    title: str | None = None,
    style_names: Sequence[str] = ("thin", "thick"),
) -> Figure:
    """One panel per style code, side by side (thin and thick by default).

    Row ``i`` of every panel is ``classes[i]``, column ``j`` the noise ``z_j`` (the same in every panel).
    """
    from genlib.plots import side_by_side

    classes = [c for c in classes if c < generator.config.n_classes] or [0]
    z = seeded_normal((n_noise, generator.config.latent_dim), seed).repeat(len(classes), 1)  # [rows * n_noise, latent]
    c = torch.tensor(classes).repeat_interleave(n_noise)
    panels = {}
    for s, name in enumerate(tuple(style_names)[: generator.config.n_styles]):
        panels[name] = sample(generator, c, torch.full_like(c, s), z=z)
    rows = ", ".join(class_names[k] for k in classes)
    return side_by_side(panels, ncol=n_noise, suptitle=title if title is None else f"{title} (rows: {rows})")
