"""A labelled sheet of samples that fits a screen: what ``genlib sample --png`` writes.

One row per (class, style) cell, the cell's name at its left (``12 す thick``), at most
``max_columns`` samples per row. Rows that do not fit the height of one panel continue in the next
panel to the right, so 49 classes x 2 styles x 100 samples become four panels of 25 rows x 10
images (about 1,600 x 800 px) instead of one strip 17,770 px wide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from genlib.plots import to_numpy_images, use_kana_font

PAD = 2  # grey pixels between images
LABEL_PX = 90  # width of a panel's row labels
TITLE_PX = 30  # height of the title line
DPI = 100


@dataclass(frozen=True)
class SheetLayout:
    """How the cells are laid out: ``rows`` cells per panel, ``columns`` samples per cell, ``panels`` side by side."""

    cells: int  # (class, style) cells shown
    rows: int
    columns: int
    panels: int
    tile: int  # image size + PAD, in pixels

    @property
    def size_px(self) -> tuple[int, int]:
        """``(width, height)`` of the sheet in pixels."""
        return self.panels * (LABEL_PX + self.columns * self.tile + PAD) + PAD, self.rows * self.tile + PAD + TITLE_PX


def layout(n_cells: int, per_cell: int, image_px: int, max_columns: int = 10, screen: tuple[int, int] = (1800, 1000)) -> SheetLayout:
    """The layout of ``n_cells`` rows of ``per_cell`` images each within ``screen`` pixels (width, height).

    Panels hold as many rows as fit the height; the columns shrink (to no fewer than 3) until the
    panels fit the width; cells beyond what fits even then are left out (``cells < n_cells``).
    """
    if n_cells < 1 or per_cell < 1:
        raise ValueError(f"a sheet needs at least one cell and one image per cell, got {n_cells} cells of {per_cell}")
    tile = image_px + PAD
    rows = max(1, min(n_cells, (screen[1] - TITLE_PX - PAD) // tile))
    panels = math.ceil(n_cells / rows)
    columns = min(max_columns, per_cell)
    while columns > 3 and panels * (LABEL_PX + columns * tile + PAD) > screen[0]:
        columns -= 1
    fit = max(1, (screen[0] - PAD) // (LABEL_PX + columns * tile + PAD))
    panels = min(panels, fit)
    cells = min(n_cells, panels * rows)
    rows = math.ceil(cells / panels)  # balance the panels
    return SheetLayout(cells, rows, columns, panels, tile)


def cell_order(classes: Sequence[int], styles: Sequence[int]) -> list[tuple[int, int]]:
    """The distinct ``(class, style)`` pairs in the order they first appear."""
    return list(dict.fromkeys(zip(map(int, classes), map(int, styles))))


def sample_sheet(
    images: Tensor | np.ndarray,
    classes: Sequence[int],
    styles: Sequence[int],
    class_names: Sequence[str],
    style_names: Sequence[str],
    *,
    title: str = "",
    max_columns: int = 10,
) -> tuple[Figure, SheetLayout]:
    """The sheet of ``images`` ``[N, C, H, W]`` (or ``[N, H, W(, 3)]``) in [0, 1], labelled by ``classes``/``styles`` ``[N]``.

    Returns:
        the figure (save it at :data:`DPI`: :attr:`SheetLayout.size_px`, wider if the title needs it) and its layout.
    """
    use_kana_font()
    x = to_numpy_images(images)
    classes, styles = np.asarray(classes), np.asarray(styles)
    if not len(x) == len(classes) == len(styles):
        raise ValueError(f"got {len(x)} images for {len(classes)} classes and {len(styles)} styles")
    cells = cell_order(classes, styles)
    per_cell = max(int(np.sum((classes == c) & (styles == s))) for c, s in cells)
    lay = layout(len(cells), per_cell, max(x.shape[1:3]), max_columns)
    width, height = lay.size_px
    more = f" (the first {lay.cells} of {len(cells)} cells)" if lay.cells < len(cells) else ""
    width = max(width, int(7 * len(title + more)) + 2 * PAD)  # room for the title (about 7 px a character at 10 pt)
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    panel_px = LABEL_PX + lay.columns * lay.tile + PAD
    for p in range(lay.panels):
        shown = cells[p * lay.rows : min((p + 1) * lay.rows, lay.cells)]
        grid = np.full((len(shown) * lay.tile + PAD, lay.columns * lay.tile + PAD, *x.shape[3:]), 0.35, np.float32)
        for r, (c, s) in enumerate(shown):
            for j, i in enumerate(np.flatnonzero((classes == c) & (styles == s))[: lay.columns]):
                h, w = x[i].shape[:2]
                grid[PAD + r * lay.tile : PAD + r * lay.tile + h, PAD + j * lay.tile : PAD + j * lay.tile + w] = x[i]
        left = (PAD + p * panel_px + LABEL_PX) / width
        bottom = (height - TITLE_PX - grid.shape[0]) / height  # every panel hangs from below the title
        ax = fig.add_axes((left, bottom, grid.shape[1] / width, grid.shape[0] / height))
        ax.imshow(grid, cmap="gray", vmin=0, vmax=1, interpolation="nearest", aspect="auto")
        ax.set_xticks([])
        ax.set_yticks([PAD + r * lay.tile + lay.tile / 2 for r in range(len(shown))])
        ax.set_yticklabels([cell_label(c, s, class_names, style_names) for c, s in shown], fontsize=8)
        ax.tick_params(length=0, pad=3)
        for spine in ax.spines.values():
            spine.set_visible(False)
    fig.text(0.5, 1 - 6 / height, f"{title}{more}", ha="center", va="top", fontsize=10)
    return fig, lay


def cell_label(c: int, s: int, class_names: Sequence[str], style_names: Sequence[str]) -> str:
    """``"12 す thick"``: the class index and name, and the style's name unless the model has one style only."""
    style = f" {style_names[s]}" if len(style_names) > 1 else ""
    name = class_names[c] if class_names[c] == str(c) else f"{c} {class_names[c]}"  # digits name themselves
    return f"{name}{style}"
