"""Atomic file writes: never a half-written file under its final name.

:func:`atomic_write` hands ``write_fn`` a temporary path in the target's own folder
(``<name>.<random>.tmp``), fsyncs what it wrote, renames it over the target and removes the temp
on any exception (Ctrl-C included). :func:`atomic_write_all` does the same for several files at
once: every file is written to its temp first, and only when all succeeded are they renamed, so a
failing second file never leaves the first one behind. After a successful write, temp files that
an earlier, killed write to the same target left behind are removed.

:func:`check_output` checks an output path before long work starts (training, sampling), so a
directory, a read-only file or an unwritable folder fails at once, not after an epoch.
"""

from __future__ import annotations

import glob
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

TEMP_SUFFIX = ".tmp"

WriteFn = Callable[[Path], object]


def is_temp_path(path: str | Path) -> bool:
    """True for a path that names a temporary file of an atomic write (it ends in ``.tmp``)."""
    return str(path).endswith(TEMP_SUFFIX)


def stale_temps(path: str | Path) -> list[Path]:
    """The temp files of earlier (interrupted) atomic writes to ``path``: ``<name>.*.tmp`` beside it."""
    path = Path(path)
    return sorted(Path(p) for p in glob.glob(os.path.join(glob.escape(str(path.parent)), glob.escape(path.name) + ".*" + TEMP_SUFFIX)))


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders cannot be opened, e.g. Windows)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _usual_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_all(items: Sequence[tuple[str | Path, WriteFn]]) -> list[Path]:
    """Write several files so that either all of them are replaced or none is.

    Args:
        items: ``(target path, write_fn)`` pairs; ``write_fn(temp_path)`` writes the file's content to
            ``temp_path`` (a file in the target's folder whose name ends in ``.tmp``; open it yourself,
            and do not rely on its extension).
    Returns:
        the target paths.
    Raises:
        whatever a ``write_fn`` or the file system raises; then no target has been touched (unless
        a rename itself fails midway) and every temp file is gone.
    """
    temps: list[tuple[Path, Path]] = []
    mode = _usual_mode()
    try:
        for target, write_fn in items:
            target = Path(target)
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=TEMP_SUFFIX, dir=target.parent)
            os.close(fd)
            temps.append((target, Path(tmp)))
            write_fn(Path(tmp))
            _fsync_file(Path(tmp))
            os.chmod(tmp, mode)  # mkstemp makes 0600 files; give the usual permissions
        for target, tmp in temps:
            os.replace(tmp, target)
    finally:
        for _, tmp in temps:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
    for folder in {target.parent for target, _ in temps}:
        _fsync_dir(folder)
    for target, _ in temps:
        for old in stale_temps(target):
            try:
                old.unlink()
            except OSError:
                pass
    return [target for target, _ in temps]


def atomic_write(path: str | Path, write_fn: WriteFn) -> Path:
    """Write one file atomically: ``write_fn(temp_path)`` in the target's folder, fsync, rename.

    The temp file is removed on any exception; the previous file at ``path`` (if any) is then
    untouched. Returns ``path``.
    """
    return atomic_write_all([(path, write_fn)])[0]


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write a UTF-8 text file atomically (Markdown, CSV, JSON)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write a binary file atomically (e.g. a PNG already encoded in memory)."""
    return atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def check_output(path: str | Path, flag: str = "--out", suffix: str | None = None) -> Path:
    """Check that ``path`` can be written, before any long work starts; creates nothing (missing folders come at write time).

    Args:
        path: the output file.
        flag: the option that named it, for the message.
        suffix: the extension it must have (e.g. ``".npz"``), or None.
    Raises:
        ValueError: one line naming the path and what is wrong: wrong extension, an existing
            directory, a read-only file, a parent that is a file, or a folder that cannot be written.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a directory: give a file path")
    if suffix is not None and path.suffix.lower() != suffix:
        raise ValueError(f"{flag} {path}: give a file name ending in {suffix}")
    if is_temp_path(path):
        raise ValueError(f"{flag} {path} must not end in {TEMP_SUFFIX} (the names of temporary files)")
    if path.exists() and not path.stat().st_mode & 0o222:
        raise ValueError(f"{flag} {path} is read-only: make it writable (chmod u+w) or choose another path")
    ancestor = path.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{flag} {path}: {ancestor} is a file, not a folder")
    try:  # a probe file in the nearest folder that exists: nothing is left behind, missing folders come at write time
        fd, probe = tempfile.mkstemp(prefix=path.name + ".", suffix=TEMP_SUFFIX, dir=ancestor)
        os.close(fd)
        os.remove(probe)
    except OSError as exc:
        raise ValueError(f"{flag} {path} cannot be written: {exc.strerror or exc} in {ancestor}") from exc
    return path


def npz_writer(arrays: dict[str, Any]) -> WriteFn:
    """A ``write_fn`` for :func:`atomic_write` / :func:`atomic_write_all`: ``np.savez_compressed`` of ``arrays``."""
    import numpy as np

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:  # a file object, so numpy does not append ".npz" to the temp name
            np.savez_compressed(f, **arrays)

    return write


def atomic_write_npz(path: str | Path, **arrays: Any) -> Path:
    """Write a compressed ``.npz`` atomically (K49's format: ``arr_0=...``); returns ``path``."""
    return atomic_write(path, npz_writer(arrays))
