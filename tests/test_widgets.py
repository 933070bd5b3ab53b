"""Widget views redraw on every control change (the browser test checks the same in Chromium)."""

from __future__ import annotations

import torch

from genlib import widgets
from genlib.data import K49_CHARS


def render(class_index: int, style: int, level: float) -> torch.Tensor:
    img = torch.zeros(2, 1, 28, 28)
    img[:, :, 2 + class_index % 20, :] = level
    img[:, :, :, 2 + style * 10] = 1.0
    return img


def test_live_view_redraws_image_and_caption() -> None:
    controls = {"class_index": widgets.class_slider(K49_CHARS), "style": widgets.style_toggle(), "level": widgets.float_slider("level", 0, 1, 0.5)}
    view = widgets.live_view(render, controls, caption=lambda class_index, style, level: f"{K49_CHARS[class_index]} s{style} {level:.2f}")
    label, image = view.children[-2], view.children[-1]
    first = image.value
    assert first[:8] == b"\x89PNG\r\n\x1a\n" and label.value == "<b>あ s0 0.50</b>"
    controls["class_index"].value = 3
    assert label.value == "<b>え s0 0.50</b>" and image.value != first
    second = image.value
    controls["style"].value = 1
    assert "s1" in label.value and image.value != second
    assert controls["class_index"].max == 48 and [o[0] for o in controls["style"].options] == ["thin", "thick"]
