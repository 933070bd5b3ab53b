"""Importing genlib has no side effects: no network, no files, no argv parsing, no font rendering."""

from __future__ import annotations

import os
import subprocess
import sys

SCRIPT = r"""
import os, pkgutil, socket, sys
sys.argv = ["prog", "--this-flag-would-break-argparse"]
def no_network(*args, **kwargs):
    raise AssertionError("network access during import")
socket.socket.connect = no_network
socket.create_connection = no_network
before = set(os.listdir("."))
import genlib
names = [m.name for m in pkgutil.walk_packages(genlib.__path__, "genlib.")]
for name in names:
    __import__(name)
from genlib.plots import use_kana_font
assert use_kana_font.cache_info().currsize == 0, "the kana font was registered at import"
assert set(os.listdir(".")) == before, "files were written during import"
print(len(names), "modules imported")
"""


def test_import_has_no_side_effects(tmp_path) -> None:
    env = {**os.environ, "GENLIB_DATA": str(tmp_path / "empty-data")}
    result = subprocess.run([sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "modules imported" in result.stdout
    assert not (tmp_path / "empty-data").exists()
