"""``genlib report``: execute every notebook headless and leave its figures in a run folder.

The run folder holds the executed notebooks, every figure they drew as a numbered PNG, and an
``index.md`` listing them — what a teacher opens after class, or what CI can archive.
"""

from __future__ import annotations

import base64
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from tqdm.auto import tqdm

from genlib.atomic import atomic_write_bytes, atomic_write_text


def notebook_paths(folder: Path) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` of a folder, in order."""
    paths = sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {folder}")
    return paths


def inject_parameters(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """Override a notebook's parameters the way papermill does: a cell tagged ``injected-parameters``
    holding ``source`` (e.g. ``'DATASET = "mnist5k"'``) right after the cell tagged ``parameters``.

    Raises:
        ValueError: the notebook has no cell tagged ``parameters``, or more than one.
    """
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"a notebook needs exactly one cell tagged 'parameters', found {len(tagged)}")
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(tagged[0] + 1, cell)
    return nb


def execute(path: Path, parameters: str = "", timeout: int = 900) -> nbformat.NotebookNode:
    """Run a notebook headless in its own folder (with ``parameters`` injected, if given) and return it."""
    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    if parameters:
        inject_parameters(nb, parameters)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    return nb


def extract_figures(nb: nbformat.NotebookNode, out_dir: Path, stem: str) -> list[Path]:
    """Write each PNG output of an executed notebook to ``out_dir/<stem>_figNN.png``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                path = out_dir / f"{stem}_fig{len(paths) + 1:02d}.png"
                atomic_write_bytes(path, base64.b64decode(data["image/png"]))
                paths.append(path)
    return paths


def run_report(notebooks: Path, out: Path | None = None, timeout: int = 900) -> Path:
    """Execute the notebooks (working directory: their folder) and write figures + ``index.md``.

    Returns:
        the path of ``index.md``.
    """
    if timeout < 1:
        raise ValueError(f"timeout must be >= 1 second per cell, got {timeout}")
    paths = notebook_paths(Path(notebooks).resolve())  # before anything is created
    out = Path(out) if out is not None else Path("runs") / f"report-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# genlib report ({datetime.now():%Y-%m-%d %H:%M})", ""]
    for path in tqdm(paths, desc="notebooks"):
        tic = time.perf_counter()
        nb = execute(path, timeout=timeout)
        seconds = time.perf_counter() - tic
        atomic_write_text(out / path.name, nbformat.writes(nb))
        figures = extract_figures(nb, out / "figures", path.stem)
        lines += [f"## {path.stem} ({seconds:.0f} s, {len(figures)} figures)", ""]
        lines += [f"![{p.stem}](figures/{p.name})" for p in figures] + [""]
    index = out / "index.md"
    atomic_write_text(index, "\n".join(lines))
    return index
