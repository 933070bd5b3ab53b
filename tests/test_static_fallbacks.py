"""Every slider cell of the committed notebooks shows a picture where no kernel runs.

GitHub, nbviewer and ``jupyter nbconvert --to html`` cannot draw a live widget; they fall back to the
next mimetype of the output, which :class:`genlib.widgets.LiveView` makes a PNG of the initial view.
This reads the committed outputs (nothing is executed) and exports each notebook to HTML. A notebook
that stores widget state (``metadata.widgets``) would make the exporter embed the widget instead, drawn
by JavaScript from a CDN (an empty output offline), so the committed notebooks store none: execute them
with ``--ExecutePreprocessor.store_widget_state=False``.
"""

from __future__ import annotations

import base64
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def slider_outputs(nb) -> list[dict]:
    """The outputs that display a live widget view, one per slider cell."""
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if WIDGET_VIEW in o.get("data", {})
            and "live_view(" in c.source]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_html_export_shows_a_picture_for_every_slider_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state: re-execute it with --ExecutePreprocessor.store_widget_state=False"
    sliders = [c for c in nb.cells if c.cell_type == "code" and "live_view(" in c.source]
    outputs = slider_outputs(nb)
    assert len(outputs) == len(sliders), f"{path.name}: {len(sliders)} slider cells but {len(outputs)} widget outputs (re-execute it)"
    html, _ = HTMLExporter().from_notebook_node(nb)
    pngs = [o.data["image/png"] for o in outputs if "image/png" in o.data]
    assert len(pngs) == len(sliders), f"{path.name}: {len(sliders) - len(pngs)} slider cell(s) without a still PNG"
    for png in pngs:
        raw = base64.b64decode(png)
        assert raw[:8] == b"\x89PNG\r\n\x1a\n" and len(raw) < 80_000
        assert html.count(f'src="data:image/png;base64,{png.strip()}"') == 1
    all_pngs = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert html.count('src="data:image/png;base64,') == all_pngs   # one picture per figure and per slider cell, none twice
