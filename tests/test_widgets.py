"""Widget views redraw on every control change (the browser tests check the same in Chromium), carry a
still PNG for renderers without a kernel, and load the shipped kana font for their readouts."""

from __future__ import annotations

import base64

import torch

from genlib import widgets
from genlib.data import K49_CHARS
from genlib.plots import shipped_font_file

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def render(class_index: int, style: int, level: float) -> torch.Tensor:
    img = torch.zeros(2, 1, 28, 28)
    img[:, :, 2 + class_index % 20, :] = level
    img[:, :, :, 2 + style * 10] = 1.0
    return img


def make_view() -> widgets.LiveView:
    controls = {"class_index": widgets.class_slider(K49_CHARS), "style": widgets.style_toggle(), "level": widgets.float_slider("level", 0, 1, 0.5)}
    return widgets.live_view(render, controls, caption=lambda class_index, style, level: f"{K49_CHARS[class_index]} s{style} {level:.2f}")


def test_live_view_redraws_image_and_caption() -> None:
    view = make_view()
    controls, label, image = view.controls, view.caption, view.image
    assert list(view.children[: len(controls)]) == list(controls.values()) and label in view.children and image in view.children
    first = image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and label.value == "<b>あ s0 0.50</b>"
    controls["class_index"].value = 3
    assert label.value == "<b>え s0 0.50</b>" and image.value != first
    second = image.value
    controls["style"].value = 1
    assert "s1" in label.value and image.value != second
    assert len(controls["class_index"].options) == 49 and [o[0] for o in controls["style"].options] == ["thin", "thick"]


def test_class_readout_shows_index_and_name() -> None:
    slider = widgets.class_slider(K49_CHARS, value=12)
    assert slider.value == 12 and slider.label == "12 す"
    digits = widgets.class_slider([str(i) for i in range(10)], value=3)
    assert digits.label == "3" and digits.value == 3   # a digit's name is its index: shown once
    assert widgets.class_slider(["cool", "warm"], value=1).label == "1 warm"


def test_display_bundle_has_the_widget_and_a_still_of_the_first_view() -> None:
    view = make_view()
    bundle = view._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == view.model_id
    still = bundle["image/png"]
    assert still[:8] == b"\x89PNG\r\n\x1a\n" and 1_000 < len(still) < 80_000
    assert still != view.image.value   # the still also carries the caption as its title
    first_still = view.still
    view.controls["class_index"].value = 5  # moving a slider changes the live image, not the still
    assert view._repr_mimebundle_()["image/png"] == first_still
    assert "level" in bundle["text/plain"] and "VBox(" not in bundle["text/plain"]


def test_image_is_capped_to_fit_one_screen() -> None:
    view = make_view()
    width, height = widgets.png_size(view.image.value)
    shown = int(view.image.width)
    assert shown <= widgets.MAX_IMAGE_WIDTH and shown * height / width <= widgets.MAX_IMAGE_HEIGHT + 1
    tall = widgets.figure_png(widgets.show_images(torch.rand(1, 1, 28, 28), ncol=1, scale=8))
    w, h = widgets.png_size(tall)
    assert h > widgets.MAX_IMAGE_HEIGHT and widgets.display_width(tall) == int(w * widgets.MAX_IMAGE_HEIGHT / h)


def test_readouts_use_the_shipped_font() -> None:
    css = widgets.kana_font_css()
    font = shipped_font_file()
    assert font is not None and base64.b64encode(font.read_bytes()).decode() in css
    assert "@font-face" in css and widgets.KANA_FONT in css and "unicode-range" in css and ".widget-readout" in css
    view = make_view()
    assert "genlib-view" in view._dom_classes
    assert any(getattr(c, "value", None) == css for c in view.children)
