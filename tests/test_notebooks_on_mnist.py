"""Every notebook runs to the end on real MNIST digits (``DATASET="mnist5k"``) with a tiny budget.

The parameters are injected as papermill does (a cell after the one tagged ``parameters``). The
committed outputs come from Kana-49; here nothing is compared, but no cell may fail, the digits'
class names must appear, and no kana may appear in any text output.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from genlib.report import execute, notebook_paths

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
KANA = re.compile(r"[\u3040-\u30ff]")  # hiragana and katakana
PARAMETERS = 'DATASET = "mnist5k"\nBUDGET = Budget(epochs=1, limit=300)'


def text_outputs(nb) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            for kind in ("text/plain", "text/markdown", "text/html"):
                parts.append(str(out.get("data", {}).get(kind, "")))
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.parametrize("path", notebook_paths(NOTEBOOKS), ids=lambda p: p.stem)
def test_notebook_runs_on_real_digits(path: Path) -> None:
    nb = execute(path, PARAMETERS, timeout=600)
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    text = text_outputs(nb)
    assert "mnist5k" in text
    kana = KANA.findall(text)
    assert not kana, f"kana in the outputs on MNIST: {''.join(sorted(set(kana)))}"
