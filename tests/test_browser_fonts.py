"""Kana and layout in a real browser: the shipped font reaches slider readouts and captions, and a view fits one screen.

Uses the Voila server and Chromium helpers of ``tests/test_browser.py`` (same requirements, same
``browser`` marker). A machine without a CJK font draws kana as tofu boxes unless the page brings
its own font: each genlib view carries an ``@font-face`` with the shipped font as a data: URL.
"""

from __future__ import annotations

import pytest

pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")
import test_browser  # noqa: E402  (its module-level skips apply here too)
from test_browser import expect, move_slider, open_views  # noqa: E402

voila_server = test_browser.voila_server   # the fixture: serve one notebook's widget cells with Voila

pytestmark = pytest.mark.browser
SCREEN_HEIGHT = 800   # px: a laptop screen, less the browser's bars

FONT_OF = "el => getComputedStyle(el).fontFamily"
# 1 when the page's fonts include the shipped one, loaded and able to draw the glyph
FONT_LOADED = """async glyph => {
    const faces = await document.fonts.load("16px GenlibKana", glyph);
    return faces.length > 0 && document.fonts.check("16px GenlibKana", glyph);
}"""


@pytest.mark.parametrize("voila_server", ["02_cvae.ipynb"], indirect=True)
def test_kana_readout_uses_the_shipped_font_and_the_view_fits_a_screen(voila_server) -> None:
    url, artifacts = voila_server
    with open_views(url) as (page, views):
        first = views.nth(0)
        readout = first.locator(".widget-slider").nth(0).locator(".widget-readout")
        assert readout.inner_text().strip() == "0 あ"
        assert move_slider(first, 0, presses=12) == "12"
        assert readout.inner_text().strip() == "12 す"
        assert "GenlibKana" in readout.evaluate(FONT_OF)
        caption = first.locator(".widget-html-content").first
        expect(caption).to_contain_text("す (class 12)")
        assert "GenlibKana" in caption.evaluate(FONT_OF)
        assert page.evaluate(FONT_LOADED, "す"), "the shipped font did not load from its data: URL"

        box = first.bounding_box()   # the K49 report's CVAE view: four controls, a caption and one character
        assert box is not None and box["height"] <= SCREEN_HEIGHT, f"the view is {box['height']:.0f} px high"
        image = first.locator("img.widget-image").first.bounding_box()
        assert image is not None and image["height"] <= 301
        page.screenshot(path=str(artifacts / "cvae_font.png"))
