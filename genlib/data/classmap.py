"""The 49 classes of Kuzushiji-49 (and of the embedded Kana-49 stand-in), in K49's order.

K49's ``k49_classmap.csv`` lists ``index,codepoint,char``: 0 あ U+3042 … 43 わ, 44 ゐ, 45 ゑ, 46 を,
47 ん, 48 ゝ U+309D (the iteration mark). The embedded dataset uses exactly this order, so every
K49 code path runs on it unchanged.
"""

from __future__ import annotations

import csv
from pathlib import Path

K49_CHARS: tuple[str, ...] = tuple(
    "あいうえお"
    "かきくけこ"
    "さしすせそ"
    "たちつてと"
    "なにぬねの"
    "はひふへほ"
    "まみむめも"
    "やゆよ"
    "らりるれろ"
    "わゐゑをん"
    "ゝ"
)
assert len(K49_CHARS) == 49

KMNIST_CHARS: tuple[str, ...] = tuple("おきすつなはまやれを")
MNIST_CHARS: tuple[str, ...] = tuple("0123456789")


def codepoint(char: str) -> str:
    """Return the Unicode code point of a character as K49 writes it, e.g. ``'U+3042'``."""
    return f"U+{ord(char):04X}"


def write_classmap_csv(path: Path, chars: tuple[str, ...] = K49_CHARS) -> None:
    """Write a classmap in K49's CSV format (``index,codepoint,char``)."""
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["index", "codepoint", "char"])
        for i, ch in enumerate(chars):
            writer.writerow([i, codepoint(ch), ch])


def read_classmap_csv(path: Path) -> tuple[str, ...]:
    """Read a K49-format classmap CSV and return the characters in index order.

    Raises:
        ValueError: if the file does not have the ``index,codepoint,char`` columns or the
            indices are not 0..n-1 in order.
    """
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    if not rows or [c.strip() for c in rows[0]] != ["index", "codepoint", "char"]:
        raise ValueError(f"{path}: expected a header 'index,codepoint,char', got {rows[:1]!r}")
    chars = []
    for expected, row in enumerate(rows[1:]):
        if len(row) != 3 or int(row[0]) != expected:
            raise ValueError(f"{path}: row {expected + 1} should start with index {expected}, got {row!r}")
        chars.append(row[2])
    return tuple(chars)
