"""ipywidgets controls that redraw generated characters live.

A notebook builds a view from a *render* function — keyword arguments in, images
``[N, 1, 28, 28]`` in [0, 1] out — and a dict of controls whose names match those arguments::

    view = live_view(render, {"class_index": class_slider(names), "style": style_toggle()},
                     caption=lambda class_index, style: f"{names[class_index]} {STYLE_NAMES[style]}")

Every slider value maps to a reproducible image: seeds are explicit controls, never hidden state.
"""

from __future__ import annotations

import io
from typing import Any, Callable, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import Tensor

from genlib.plots import show_images


def class_slider(class_names: Sequence[str], value: int = 0, description: str = "class") -> W.IntSlider:
    """A slider over class indices 0..C-1 (the kana it selects is shown by :func:`live_view`'s caption)."""
    return W.IntSlider(value=value, min=0, max=len(class_names) - 1, step=1, description=description, continuous_update=False)


def style_toggle(value: int = 0, names: Sequence[str] = ("thin", "thick"), description: str = "style") -> W.ToggleButtons:
    """Thin/thick toggle whose value is the style index."""
    return W.ToggleButtons(options=[(n, i) for i, n in enumerate(names)], value=value, description=description)


def int_slider(description: str, low: int, high: int, value: int = 0) -> W.IntSlider:
    """An integer slider (seeds, layer indices)."""
    return W.IntSlider(value=value, min=low, max=high, step=1, description=description, continuous_update=False)


def float_slider(description: str, low: float, high: float, value: float, step: float = 0.05) -> W.FloatSlider:
    """A float slider (latents z1/z2, blend factor, truncation psi)."""
    return W.FloatSlider(value=value, min=low, max=high, step=step, description=description, continuous_update=False, readout_format=".2f")


def figure_png(fig: Figure, dpi: int = 100) -> bytes:
    """Render a figure to PNG bytes and close it (an ``ipywidgets.Image`` shows them without an Output widget)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def live_view(
    render: Callable[..., Tensor],
    controls: dict[str, W.ValueWidget],
    caption: Callable[..., str] | None = None,
    ncol: int = 10,
) -> W.VBox:
    """Controls above a caption and an image that are redrawn whenever a control changes.

    Args:
        render: called as ``render(**{name: control.value})``; returns images ``[N, 1, 28, 28]``.
        controls: the widgets, keyed by ``render``'s argument names.
        caption: called with the same values; its text is shown above the image (e.g. the kana shown).
    Returns:
        a ``VBox`` of the controls and the output; display it as the cell's last expression.
    """
    image = W.Image(format="png")
    label = W.HTML()

    def redraw(*_: Any) -> None:
        values = {name: w.value for name, w in controls.items()}
        images = render(**values)
        label.value = f"<b>{caption(**values)}</b>" if caption else ""
        image.value = figure_png(show_images(images, ncol=min(ncol, images.shape[0]), scale=1.4))

    for w in controls.values():
        w.observe(redraw, names="value")
    redraw()
    return W.VBox([*controls.values(), label, image])
