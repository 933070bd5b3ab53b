"""``genlib report``: execute every notebook headless and leave its figures in a run folder.

The run folder holds the executed notebooks, every figure they drew as a numbered PNG, and an
index (``index.md`` and ``index.html``) that shows each figure under the heading of the notebook
section it belongs to, with a link to the executed notebook — what a teacher opens after class,
or what CI can archive.

By default the notebooks run *quick*: every parameter that sets how much a notebook trains gets
its smallest value (:data:`QUICK`, injected after the cell tagged ``parameters`` as papermill
would). Models come from the pretrained checkpoints in ``data/`` either way; only the
demonstration runs shrink, so their figures show a few steps of training, not the notebook's
own budget (``quick=False``, ``genlib report --full``).
"""

from __future__ import annotations

import ast
import base64
import html
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

import nbformat
from nbclient import NotebookClient
from tqdm.auto import tqdm

from genlib.atomic import atomic_write_bytes, atomic_write_text

# The smallest value of each training parameter a notebook's parameters cell may define; a name
# is injected only where the notebook defines it.
QUICK: dict[str, str] = {
    "BUDGET": "Budget(epochs=1, limit=1000)",  # demonstration runs: 1 epoch on at most 1,000 images per split
    "DEMO_STEPS": "10",  # StyleGAN demonstration steps
    "FOLDER_STEPS": "10",  # StyleGAN steps on an image folder
    "SNAPSHOT_EVERY": "1",  # a snapshot after the (single) epoch
}
KERNEL_ARGS = ["--IPKernelApp.log_level=ERROR"]  # ipykernel warns at every start that local TCP is unencrypted: once is none


def notebook_paths(folder: Path) -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` of a folder, in order."""
    paths = sorted(p for p in Path(folder).glob("[0-9][0-9]_*.ipynb"))
    if not paths:
        raise FileNotFoundError(f"no numbered notebooks (NN_name.ipynb) in {folder}")
    return paths


def parameters_cell(nb: nbformat.NotebookNode) -> int:
    """The index of the one cell tagged ``parameters``.

    Raises:
        ValueError: the notebook has no cell tagged ``parameters``, or more than one.
    """
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"a notebook needs exactly one cell tagged 'parameters', found {len(tagged)}")
    return tagged[0]


def inject_parameters(nb: nbformat.NotebookNode, source: str) -> nbformat.NotebookNode:
    """Override a notebook's parameters the way papermill does: a cell tagged ``injected-parameters``
    holding ``source`` (e.g. ``'DATASET = "mnist5k"'``) right after the cell tagged ``parameters``.

    Raises:
        ValueError: the notebook has no cell tagged ``parameters``, or more than one.
    """
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]})
    nb.cells.insert(parameters_cell(nb) + 1, cell)
    return nb


def quick_parameters(nb: nbformat.NotebookNode) -> str:
    """The :data:`QUICK` assignments for the names that the notebook's parameters cell assigns ("" if none,
    or if the notebook has no cell tagged ``parameters``)."""
    if not any("parameters" in c.get("metadata", {}).get("tags", []) for c in nb.cells):
        return ""
    tree = ast.parse(nb.cells[parameters_cell(nb)].source)
    names = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets if isinstance(t, ast.Name)}
    lines = [f"{name} = {value}" for name, value in QUICK.items() if name in names]
    if lines and "BUDGET" in names:
        lines.insert(0, "from genlib.pretrained import Budget")
    return "\n".join(lines)


class _CellClient(NotebookClient):
    """A notebook client that calls ``on_cell(index, cell)`` before it executes each cell."""

    on_cell: Callable[[int, Any], None] | None = None

    async def async_execute_cell(self, cell: Any, cell_index: int, *args: Any, **kwargs: Any) -> Any:
        if self.on_cell is not None:
            self.on_cell(cell_index, cell)
        return await super().async_execute_cell(cell, cell_index, *args, **kwargs)


def execute(path: Path, parameters: str = "", timeout: int = 900, on_cell: Callable[[int, Any], None] | None = None) -> nbformat.NotebookNode:
    """Run a notebook headless in its own folder (with ``parameters`` injected, if given) and return it.

    ``on_cell(index, cell)`` is called before each cell runs (progress bars).
    """
    path = Path(path).resolve()
    nb = nbformat.read(path, as_version=4)
    if parameters:
        inject_parameters(nb, parameters)
    client = _CellClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}},
                         extra_arguments=KERNEL_ARGS)
    client.on_cell = on_cell
    client.execute()
    return nb


def heading_of(source: str) -> str | None:
    """The last Markdown heading in a cell's source, without its ``#`` marks (None if it has none)."""
    headings = [line.lstrip("#").strip() for line in source.splitlines() if line.startswith("#")]
    return headings[-1] if headings else None


@dataclass
class Figure:
    """One PNG a notebook drew: where it was written and the section heading above its cell."""

    path: Path
    caption: str
    cell: int  # index of the cell that drew it


def extract_figures(nb: nbformat.NotebookNode, out_dir: Path, stem: str) -> list[Figure]:
    """Write each PNG output of an executed notebook to ``out_dir/<stem>_figNN.png``, captioned by the
    nearest Markdown heading above its cell (the notebook's title before the first section)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    section = stem
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            section = heading_of(cell.source) or section
            continue
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            if "image/png" in data:
                path = out_dir / f"{stem}_fig{len(figures) + 1:02d}.png"
                atomic_write_bytes(path, base64.b64decode(data["image/png"]))
                figures.append(Figure(path, section, index))
    return figures


@dataclass
class NotebookRun:
    """What the report shows of one executed notebook."""

    path: Path  # the executed notebook in the run folder
    seconds: float
    figures: list[Figure]
    parameters: str
    cell_seconds: list[tuple[int, float]] = field(default_factory=list)  # (cell index, seconds), slowest first


def index_markdown(runs: list[NotebookRun], title: str) -> str:
    """The Markdown index: per notebook a link, its time and parameters, then each figure under its caption."""
    lines = [f"# {title}", ""]
    for run in runs:
        lines += [f"## [{run.path.stem}]({run.path.name}) ({run.seconds:.0f} s, {len(run.figures)} figures)", ""]
        if run.parameters:
            lines += ["Parameters: `" + "; ".join(run.parameters.splitlines()) + "`", ""]
        for k, fig in enumerate(run.figures, 1):
            lines += [f"**Figure {k}** ({fig.caption}, cell {fig.cell})", "", f"![{fig.caption}](figures/{fig.path.name})", ""]
    return "\n".join(lines)


def index_html(runs: list[NotebookRun], title: str) -> str:
    """The same index as one HTML page (a browser shows it straight from the run folder)."""
    e = html.escape
    parts = [f"<!doctype html><meta charset='utf-8'><title>{e(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1100px;margin:auto}img{max-width:100%}"
             "figure{margin:1em 0}figcaption{color:#444}</style>", f"<h1>{e(title)}</h1>"]
    for run in runs:
        parts.append(f"<h2><a href='{e(run.path.name)}'>{e(run.path.stem)}</a> ({run.seconds:.0f} s, {len(run.figures)} figures)</h2>")
        if run.parameters:
            parts.append(f"<p>Parameters: <code>{e('; '.join(run.parameters.splitlines()))}</code></p>")
        for k, fig in enumerate(run.figures, 1):
            parts.append(f"<figure><img src='figures/{e(fig.path.name)}' alt='{e(fig.caption)}'>"
                         f"<figcaption>Figure {k}: {e(fig.caption)} (cell {fig.cell})</figcaption></figure>")
    return "\n".join(parts) + "\n"


def run_notebook(path: Path, out: Path, *, quick: bool, timeout: int, position: int = 1) -> NotebookRun:
    """Execute one notebook with a per-cell progress bar; write it and its figures into ``out``."""
    source = nbformat.read(path, as_version=4)
    parameters = quick_parameters(source) if quick else ""
    n_cells = len(source.cells) + (1 if parameters else 0)
    bar = tqdm(total=n_cells, desc=f"  {path.stem}", unit="cell", position=position, leave=False)
    times: dict[int, float] = {}
    section = [path.stem]
    last = [time.perf_counter(), None]

    def on_cell(index: int, cell: Any) -> None:
        now = time.perf_counter()
        if last[1] is not None:
            times[last[1]] = now - last[0]
        last[:] = [now, index]
        if cell.cell_type == "markdown":
            section[0] = heading_of(cell.source) or section[0]
        bar.n = index
        bar.set_postfix_str(f"cell {index + 1}/{n_cells}: {section[0][:50]}")

    tic = time.perf_counter()
    try:
        nb = execute(path, parameters, timeout=timeout, on_cell=on_cell)
    finally:
        bar.close()
    seconds = time.perf_counter() - tic
    if last[1] is not None:
        times[last[1]] = time.perf_counter() - last[0]
    executed = out / path.name
    atomic_write_text(executed, nbformat.writes(nb))
    figures = extract_figures(nb, out / "figures", path.stem)
    return NotebookRun(executed, seconds, figures, parameters, sorted(times.items(), key=lambda kv: -kv[1]))


def run_report(notebooks: Path, out: Path | None = None, timeout: int = 900, *, quick: bool = True) -> Path:
    """Execute the notebooks (working directory: their folder) and write figures, ``index.md`` and ``index.html``.

    Args:
        quick: inject :data:`QUICK` (the smallest training budgets); False runs each notebook as committed.
    Returns:
        the path of ``index.html``.
    """
    if timeout < 1:
        raise ValueError(f"timeout must be >= 1 second per cell, got {timeout}")
    paths = notebook_paths(Path(notebooks).resolve())  # before anything is created
    out = Path(out) if out is not None else Path("runs") / f"report-{datetime.now():%Y%m%d-%H%M%S}"
    out.mkdir(parents=True, exist_ok=True)
    title = f"genlib report ({datetime.now():%Y-%m-%d %H:%M}, {'quick: smallest budgets' if quick else 'the notebooks’ own budgets'})"
    runs = []
    for path in tqdm(paths, desc="notebooks", unit="notebook", position=0):
        runs.append(run_notebook(path, out, quick=quick, timeout=timeout))
        tqdm.write(f"{path.name}: {runs[-1].seconds:.0f} s, {len(runs[-1].figures)} figures")
    atomic_write_text(out / "index.md", index_markdown(runs, title))
    return atomic_write_text(out / "index.html", index_html(runs, title))
