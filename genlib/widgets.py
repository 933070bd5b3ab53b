"""ipywidgets controls that redraw generated characters live, with a still picture for static renderers.

A notebook builds a view from a *render* function — keyword arguments in, images
``[N, C, H, W]`` in [0, 1] out — and a dict of controls whose names match those arguments::

    view = live_view(render, {"class_index": class_slider(names), "style": style_toggle()},
                     caption=lambda class_index, style: f"{names[class_index]} {STYLE_NAMES[style]}")

Every slider value maps to a reproducible image: seeds are explicit controls, never hidden state.

Two things a plain ``VBox`` of sliders lacks:

- **A still for renderers without a kernel.** GitHub, nbviewer and ``jupyter nbconvert --to html``
  cannot draw a live widget and fall back to the next mimetype of the cell's output.
  :class:`LiveView` adds ``image/png`` — the initial view, drawn by the same function as the live
  image, with the caption as its title — beside the widget view; JupyterLab and Voila still show the
  live widget, which ranks higher.
- **Kana without a CJK font.** Slider readouts and captions use the font shipped in
  ``genlib/assets`` through an ``@font-face`` with a data: URL (:func:`kana_font_css`), restricted
  to the kana block so every other character keeps the page's font.
"""

from __future__ import annotations

import base64
import html
import io
import struct
from functools import lru_cache
from typing import Any, Callable, Sequence

import ipywidgets as W
import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from torch import Tensor

from genlib.plots import shipped_font_file, show_images

KANA_FONT = "GenlibKana"                 # the CSS family name of the shipped font
KANA_RANGE = "U+3041-309F"               # hiragana: the shipped font's only non-ASCII glyphs
MAX_IMAGE_WIDTH, MAX_IMAGE_HEIGHT = 880, 300   # px: sliders, caption and image fit one screen


def class_slider(class_names: Sequence[str], value: int = 0, description: str = "class") -> W.SelectionSlider:
    """A slider over class indices 0..C-1 whose readout shows index and name (``12 す``); its value is the index."""
    if not class_names:
        raise ValueError("class_slider needs at least one class name, got none")
    options = [(f"{i} {name}" if str(name) != str(i) else str(i), i) for i, name in enumerate(class_names)]
    return W.SelectionSlider(options=options, value=value, description=description, continuous_update=False)


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


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` in pixels, read from a PNG's header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"not a PNG: starts with {png[:8]!r}")
    return struct.unpack(">II", png[16:24])


def display_width(png: bytes, max_width: int = MAX_IMAGE_WIDTH, max_height: int = MAX_IMAGE_HEIGHT) -> int:
    """The width in px at which ``png`` fits a ``max_width`` x ``max_height`` box (never enlarged)."""
    width, height = png_size(png)
    return max(1, int(min(width, max_width, width * max_height / height)))


@lru_cache(maxsize=1)
def kana_font_css() -> str:
    """A ``<style>`` that loads the shipped font as ``GenlibKana`` and uses it for kana in genlib views.

    The font travels as a data: URL, so it works offline and in Voila; ``unicode-range`` limits it to
    the kana block (everything else keeps the page's font), and ``size-adjust`` draws the kana, small in
    this font, at about the height of the text around them. Empty when no font is shipped.
    """
    path = shipped_font_file()
    if path is None:
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    family = f"'{KANA_FONT}', var(--jp-widgets-font-family, sans-serif)"
    return (
        f"<style>@font-face {{ font-family: '{KANA_FONT}'; src: url(data:font/ttf;base64,{data}) format('truetype'); "
        f"unicode-range: {KANA_RANGE}; size-adjust: 130%; }}\n"
        f".genlib-view .widget-readout, .genlib-view .widget-label, .genlib-view .widget-html-content, "
        f".genlib-view .widget-toggle-button {{ font-family: {family}; }}\n"
        f".jp-RenderedHTMLCommon {{ font-family: '{KANA_FONT}', var(--jp-content-font-family, sans-serif); }}</style>"
    )


class LiveView(W.VBox):
    """The controls, a caption and a live image; its display bundle also carries a PNG of the first view.

    Attributes: ``controls`` (name -> widget), ``caption`` (``HTML``), ``image`` (``Image``) and
    ``still`` (PNG bytes of the initial view with the caption as title, a few tens of KB).
    """

    def __init__(self, controls: dict[str, W.ValueWidget], caption: W.HTML, image: W.Image, still: bytes) -> None:
        font = W.HTML(kana_font_css(), layout=W.Layout(height="0px", margin="0px", overflow="hidden"))
        super().__init__([*controls.values(), caption, image, font])
        self.add_class("genlib-view")
        self.controls, self.caption, self.image, self.still = controls, caption, image, still

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle = super()._repr_mimebundle_(**kwargs)
        names = ", ".join(w.description or name for name, w in self.controls.items())
        bundle["text/plain"] = f"live view ({names}): run the notebook to move the sliders"
        bundle["image/png"] = self.still
        return bundle


def live_view(
    render: Callable[..., Tensor],
    controls: dict[str, W.ValueWidget],
    caption: Callable[..., str] | None = None,
    ncol: int = 10,
) -> LiveView:
    """Controls above a caption and an image that are redrawn whenever a control changes.

    Args:
        render: called as ``render(**{name: control.value})``; returns images ``[N, C, H, W]`` in [0, 1].
        controls: the widgets, keyed by ``render``'s argument names.
        caption: called with the same values; its text is shown above the image (e.g. the kana shown).
        ncol: images per row.
    Returns:
        a :class:`LiveView` (a ``VBox``); display it as the cell's last expression. The image is shown
        at most ``MAX_IMAGE_WIDTH`` x ``MAX_IMAGE_HEIGHT`` px.
    """
    image = W.Image(format="png")
    label = W.HTML()

    def picture(images: Tensor, title: str | None = None) -> bytes:
        return figure_png(show_images(images, ncol=min(ncol, images.shape[0]), scale=1.4, title=title))

    def redraw(*_: Any) -> Tensor:
        values = {name: w.value for name, w in controls.items()}
        images = render(**values)
        label.value = f"<b>{html.escape(caption(**values))}</b>" if caption else ""
        image.value = picture(images)
        image.width = str(display_width(image.value))
        return images

    for w in controls.values():
        w.observe(redraw, names="value")
    first = redraw()
    initial = {name: w.value for name, w in controls.items()}
    still = picture(first, title=caption(**initial) if caption else None)
    return LiveView(controls, label, image, still)
