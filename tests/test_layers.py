"""The layer rule of docs/DESIGN.md, checked on the source: a module imports only modules of its own
row or of rows below it (function-level imports included), and every module has a row.

``LAYERS`` mirrors the table in DESIGN.md's "Layers" section, top row first; a new module must be
placed in both (the test names a module that is in neither, and a table row DESIGN.md lacks).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "genlib"

LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "report"),
    ("cli_sample", "sample_sheet"),
    ("app", "app_server"),
    ("experiments", "evaluation", "pretrained", "experiment_figures", "quality", "prior_ablation", "sampling_ablation",
     "stylegan_ablation"),
    ("cli_io",),
    ("cli_options",),
    ("judge", "tables"),
    ("families",),
    ("exercises", "exercise_solutions"),
    ("models",),
    ("scaffold",),
    ("training", "losses", "metrics"),
    ("augment",),
    ("checkpoint",),
    ("data",),
    ("plots", "widgets"),
    ("distributed",),
    ("atomic", "config", "runtime", "legacy"),
)
ENTRY_POINTS = ("__init__", "__main__")  # the package itself: it may reach any layer


def row_of(module: str) -> int:
    """The table row of ``genlib.<module>`` (subpackages ``models`` and ``data`` are one row each)."""
    top = module.split(".")[0]
    for i, row in enumerate(LAYERS):
        if top in row:
            return i
    raise KeyError(module)


def modules() -> list[str]:
    """Every module of the package as ``a.b`` relative to ``genlib``, entry points left out."""
    names = [".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in PACKAGE.rglob("*.py")]
    return sorted(n for n in names if n.split(".")[-1] not in ENTRY_POINTS)


def genlib_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, module)`` for every ``genlib`` module that ``path`` imports, at any depth of the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name[len("genlib."):]) for a in node.names if a.name.startswith("genlib.")]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "genlib":
                found += [(node.lineno, a.name) for a in node.names if a.name != "__version__"]
            elif node.module.startswith("genlib."):
                found.append((node.lineno, node.module[len("genlib."):]))
    return found


def test_every_module_has_a_row_here_and_in_design_md() -> None:
    design = (ROOT / "docs" / "DESIGN.md").read_text()
    layers = design[design.index("## Layers"):design.index("## Tensors and labels")]
    for module in modules():
        row_of(module)  # KeyError: a module that LAYERS does not place
        if "." not in module:
            assert f"{module}.py" in layers, f"genlib/{module}.py is not in DESIGN.md's layer table"


@pytest.mark.parametrize("module", modules())
def test_a_module_imports_nothing_above_its_row(module: str) -> None:
    path = PACKAGE / (module.replace(".", "/") + ".py")
    row = row_of(module)
    above = [f"line {line}: genlib.{name} (row {row_of(name)})" for line, name in genlib_imports(path) if row_of(name) < row]
    assert not above, f"genlib/{module.replace('.', '/')}.py (row {row}) imports a higher row: " + "; ".join(above)


def test_the_check_sees_a_lazy_upward_import(tmp_path) -> None:
    source = tmp_path / "m.py"
    source.write_text("import torch\n\ndef f():\n    from genlib.cli import main\n    import genlib.data.batches\n")
    assert genlib_imports(source) == [(4, "cli"), (5, "data.batches")]
    assert row_of("cli") < row_of("training")
