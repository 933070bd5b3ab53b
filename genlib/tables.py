"""Results tables: rows of scalars as Markdown for people and CSV at full precision for programs.

A row is a dict ``{column: value}`` (what :func:`genlib.evaluation.evaluate_checkpoint` and the
experiments return); non-scalar values (per-class lists, histories) are left out of the tables.
Both writers go through :mod:`genlib.atomic`.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any, Sequence

from genlib.atomic import atomic_write, atomic_write_text

# Column order of the tables; the values are format specs for Markdown (CSV keeps full precision).
COLUMNS: dict[str, str] = {
    "name": "", "family": "", "dataset": "", "epochs": "d", "steps": "d", "train_seconds": ".0f", "params": ",d",
    "samples_per_s": ".0f", "cond_accuracy": ".3f", "style_agreement": ".3f", "slant_agreement": ".3f",
    "fid": ".2f", "fid_floor": ".2f", "diversity": ".3f", "test_neg_elbo": ".1f", "test_mse": ".4f", "n_samples": "d",
}



def _columns(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None) -> list[str]:
    """The columns to show: ``columns`` as given, else the scalar ones present, in :data:`COLUMNS` order first."""
    if columns is not None:
        return list(columns)
    present = {k for row in rows for k, v in row.items() if not isinstance(v, (dict, list))}
    return [c for c in COLUMNS if c in present] + sorted(present - set(COLUMNS))


def _format(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if spec and isinstance(value, (int, float)) and not isinstance(value, bool):
        return format(int(value) if spec.endswith("d") else value, spec)
    return str(value)


def markdown_table(rows: Sequence[dict[str, Any]], *, columns: Sequence[str] | None = None, caption: str = "") -> str:
    """The scalar columns of ``rows`` as a Markdown table (``–`` where a row has no value; numbers right-aligned)."""
    cols = _columns(rows, columns)
    lines = [caption, ""] if caption else []
    lines.append("| " + " | ".join(cols) + " |")
    lines.append("|" + "|".join("---" if COLUMNS.get(c, "") == "" else "---:" for c in cols) + "|")
    for row in rows:
        lines.append("| " + " | ".join(_format(row.get(c), COLUMNS.get(c, ".4g")) for c in cols) + " |")
    return "\n".join(lines) + "\n"


def write_markdown_table(
    rows: Sequence[dict[str, Any]], path: str | Path, *, columns: Sequence[str] | None = None, caption: str = ""
) -> Path:
    """Write :func:`markdown_table` to ``path`` atomically (parent folders are created)."""
    return atomic_write_text(path, markdown_table(rows, columns=columns, caption=caption))


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path, *, columns: Sequence[str] | None = None) -> Path:
    """Write the scalar columns of ``rows`` as CSV at full precision (empty cells where missing), atomically."""
    cols = _columns(rows, columns)

    def write(tmp: Path) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            writer.writeheader()
            for row in rows:
                writer.writerow({c: row.get(c, "") for c in cols})

    return atomic_write(path, write)


def read_csv(path: str | Path) -> list[dict[str, Any]]:
    """Read a table written by :func:`write_csv`, turning numeric cells back into int/float (empty → None)."""

    def parse(text: str) -> Any:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text if text != "" else None

    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path} is not a UTF-8 text table: {exc.reason} at byte {exc.start}") from None
    if rows and "name" not in (reader.fieldnames or []):
        raise ValueError(f"{path} is not a genlib results table: its header {reader.fieldnames} has no 'name' column")
    for i, row in enumerate(rows, start=2):
        if None in row or None in row.values():  # more fields than the header, or fewer
            fields = sum(v is not None for k, v in row.items() if k is not None) + len(row.get(None) or [])
            raise ValueError(f"{path} line {i} has {fields} fields, "
                             f"its header {len(reader.fieldnames or [])}: the table is damaged")
    return [{k: parse(v) for k, v in row.items()} for row in rows]


def merge_rows(old: Sequence[dict[str, Any]], new: Sequence[dict[str, Any]], key: str = "name") -> list[dict[str, Any]]:
    """``old`` with each row whose ``key`` is in ``new`` replaced in place, then the other ``new`` rows in order."""
    fresh = {row[key]: row for row in new}
    merged = [fresh.pop(row[key], row) for row in old]
    return merged + [row for row in new if row[key] in fresh]
