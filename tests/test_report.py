"""``genlib report`` executes numbered notebooks and keeps their figures."""

from __future__ import annotations

import nbformat
import pytest

from genlib.report import notebook_paths, run_report


def test_report_runs_notebooks_and_extracts_figures(tmp_path) -> None:
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    cells = [nbformat.v4.new_code_cell("import matplotlib\nmatplotlib.use('module://matplotlib_inline.backend_inline')\nimport matplotlib.pyplot as plt\nplt.plot([0, 1], [1, 0]); plt.show()")]
    nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}}), nbdir / "01_plot.ipynb")
    (nbdir / "scratch.ipynb").write_text("not a numbered notebook")
    assert [p.name for p in notebook_paths(nbdir)] == ["01_plot.ipynb"]
    index = run_report(nbdir, tmp_path / "run", timeout=120)
    text = (tmp_path / "run" / "index.md").read_text()
    assert "## [01_plot](01_plot.ipynb)" in text and "1 figures" in text
    assert index.name == "index.html" and "<a href='01_plot.ipynb'>" in index.read_text()
    figure = tmp_path / "run" / "figures" / "01_plot_fig01.png"
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "run" / "01_plot.ipynb").exists()


def test_report_needs_numbered_notebooks(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no numbered notebooks"):
        notebook_paths(tmp_path)
