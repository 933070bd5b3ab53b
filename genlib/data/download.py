"""Kuzushiji-49 and Kuzushiji-MNIST: md5-checked, atomic downloads and strict ``.npz`` readers.

The files live on the CODH host (https://github.com/rois-codh/kmnist). Each split is two NumPy
archives holding one array under the key ``arr_0``: images uint8 ``[N, 28, 28]`` (white strokes
on black, 0..255) and labels ``[N]`` (class indices). The file names, md5 sums, sizes and
hosts are the datasets' entries in :mod:`genlib.data.registry`.

A file is accepted if it is already in the data folder (downloaded before or placed there by
hand) and its size and md5 match; a missing file is downloaded only when asked (``download=True``)
into a temporary file in the same folder, verified, and only then renamed into place, so a partial
or corrupt file never appears under its final name. Without the files, the errors say where to
put them and how to use the embedded stand-in dataset (``kana49``) instead.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
import zipfile
import zlib
from pathlib import Path
from typing import Literal

import numpy as np

from genlib.atomic import atomic_write
from genlib.data.registry import DATASETS, RemoteFile, check_split, get_dataset

__all__ = ["ChecksumError", "DatasetUnavailableError", "RemoteFile", "download_file", "ensure_files", "load_codh_split", "read_npz_array"]


class DatasetUnavailableError(RuntimeError):
    """The dataset files are missing and could not (or may not) be downloaded."""


class ChecksumError(RuntimeError):
    """A dataset file is present or was downloaded, but its md5 or size is not the published one."""


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------


def _guidance(dataset: str, dest_dir: Path, names: list[str], base_url: str) -> str:
    """The three ways out when files are missing: download, place by hand, use the embedded set."""
    urls = "\n".join(f"    {base_url}{name}" for name in names)
    spec = DATASETS.get(dataset)
    mirror = f" (or set {spec.env_var} to a mirror's folder URL)" if spec is not None and spec.env_var else ""
    return (
        f"To get the {_title(dataset)} files, either\n"
        f"  - let genlib download them (needs internet): pass download=True (genlib data download {dataset}, or --download with train){mirror};\n"
        f"  - or fetch them yourself and put them, unrenamed, in {dest_dir}:\n{urls}\n"
        f"  - or train on the embedded stand-in that needs no download: "
        f'load_dataset("kana49") / --dataset kana49.'
    )


def _title(dataset: str) -> str:
    spec = DATASETS.get(dataset)
    return f"{spec.title} ({dataset})" if spec is not None else dataset


def resolve_base_url(dataset: str, base_url: str | None = None) -> str:
    """The URL folder to download from: ``base_url``, else ``$GENLIB_<DATASET>_BASE_URL``, else CODH.

    Always ends with ``/`` so that ``base_url + file_name`` is the file's URL.
    """
    if base_url is None:
        spec = DATASETS.get(dataset)
        if spec is None or not spec.base_url:
            known = sorted(name for name, s in DATASETS.items() if s.base_url)
            raise ValueError(f"no default base URL for dataset {dataset!r}; pass base_url (known: {known})")
        base_url = os.environ.get(spec.env_var) or spec.base_url
    return base_url if base_url.endswith("/") else base_url + "/"


# ---------------------------------------------------------------------------------------------
# Checking and downloading files
# ---------------------------------------------------------------------------------------------


def file_md5(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """md5 hex digest of a file, read in chunks (a 66 MB archive takes ~0.1 s)."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_file(path: Path, *, md5: str | None, size: int | None) -> None:
    """Check a file's size (when known) and md5 (when known).

    Raises:
        ChecksumError: naming the file, the expected and the actual value, and what to do.
    """
    advice = (
        f"Delete {path} and download it again (download=True), "
        f"or replace it with the original file from the dataset's host."
    )
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ChecksumError(f"{path}: size is {actual_size:,} bytes, expected {size:,}. {advice}")
    if md5 is not None:
        actual_md5 = file_md5(path)
        if actual_md5 != md5.lower():
            raise ChecksumError(f"{path}: md5 is {actual_md5}, expected {md5}. {advice}")


def download_file(
    url: str,
    dest: Path,
    *,
    md5: str | None,
    size: int | None,
    progress: bool = True,
    timeout_s: float = 60.0,
    chunk_bytes: int = 1 << 20,
) -> Path:
    """Download ``url`` to ``dest`` atomically and verify it.

    The bytes go to the temporary file of :func:`genlib.atomic.atomic_write`; only after the byte
    count (``size`` and the server's Content-Length) and the md5 match is it renamed to ``dest``. On
    any failure the temporary file is removed, so ``dest`` is either absent or complete and verified;
    what a killed download left is removed by the next download of that file.

    Args:
        url: http(s):// or file:// URL.
        dest: final path; its folder is created if needed.
        md5, size: published md5 / byte size; None skips that check.
        progress: show a tqdm progress bar (on stderr, or as a widget in notebooks).
        timeout_s: seconds to wait for the connection and for each read.
    Returns:
        ``dest``.
    Raises:
        DatasetUnavailableError: the host is unreachable, answered with an HTTP error, timed out,
            or the transfer ended early.
        ChecksumError: the complete download has another md5 than the published one.
    """
    from tqdm.auto import tqdm  # imported here: only a real download needs it

    def fetch(tmp: Path) -> None:  # into the temp file of an atomic write; raising leaves dest as it was
        digest = hashlib.md5(usedforsecurity=False)
        n_bytes = 0
        try:
            with open(tmp, "wb") as out, urllib.request.urlopen(url, timeout=timeout_s) as response:
                header = response.headers.get("Content-Length")
                announced = int(header) if header is not None and header.isdigit() else None
                total = size if size is not None else announced
                with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=Path(dest).name,
                          disable=not progress, leave=False) as bar:
                    for chunk in iter(lambda: response.read(chunk_bytes), b""):
                        out.write(chunk)
                        digest.update(chunk)
                        n_bytes += len(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as err:
            # URLError covers HTTP errors and refused connections; TimeoutError and resets are OSErrors
            raise DatasetUnavailableError(
                f"Could not download {url}: {err}.\n" + _offline_advice(dest, url)
            ) from err
        for expected, what in ((announced, "the server announced"), (size, "the published size is")):
            if expected is not None and n_bytes != expected:
                raise DatasetUnavailableError(
                    f"Download of {url} was incomplete: received {n_bytes:,} bytes, {what} {expected:,}. "
                    f"Try again, or\n" + _offline_advice(dest, url)
                )
        if md5 is not None and digest.hexdigest() != md5.lower():
            raise ChecksumError(
                f"Downloaded {url} has md5 {digest.hexdigest()}, expected {md5}; it was not saved as {dest}. "
                f"The transfer was corrupted or the host changed the file: try again, or place the "
                f"original file in {Path(dest).parent} by hand."
            )

    return atomic_write(dest, fetch)


def _offline_advice(dest: Path, url: str) -> str:
    return (
        f"Put the file there by hand: {dest} (from {url}), "
        f'or use the embedded dataset that needs no download: load_dataset("kana49") / --dataset kana49.'
    )


def ensure_files(
    files: tuple[RemoteFile, ...] | list[RemoteFile],
    dest_dir: Path,
    *,
    download: bool,
    dataset: str,
    base_url: str | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Make sure every file is in ``dest_dir`` with its published md5; download missing ones if allowed.

    A file already in ``dest_dir`` (downloaded before or placed by hand) is verified (size and md5
    when known) and used. A missing file is downloaded from ``base_url + name`` when
    ``download=True`` (``base_url`` defaults to ``$GENLIB_<DATASET>_BASE_URL``, else the CODH host).

    Returns:
        ``{file name: path}`` in the order of ``files``.
    Raises:
        DatasetUnavailableError: files are missing and ``download=False``, or the download failed;
            the message names the files, the folder to put them in, their URLs and the
            ``kana49`` alternative.
        ChecksumError: a present or downloaded file does not match its md5 or size.
    """
    dest_dir = Path(dest_dir)
    missing = [f for f in files if not (dest_dir / f.name).is_file()]
    for f in files:
        if f not in missing:
            verify_file(dest_dir / f.name, md5=f.md5, size=f.size)
    if missing and not download:
        spec = DATASETS.get(dataset)
        url = resolve_base_url(dataset, base_url) if base_url or (spec is not None and spec.base_url) else "<host>/"
        names = [f.name for f in missing]
        raise DatasetUnavailableError(
            f"{_title(dataset)}: {len(names)} file(s) missing from {dest_dir}: {', '.join(names)}.\n"
            + _guidance(dataset, dest_dir, names, url)
        )
    if missing:
        url = resolve_base_url(dataset, base_url)
        for f in missing:
            download_file(url + f.name, dest_dir / f.name, md5=f.md5, size=f.size, progress=progress)
    return {f.name: dest_dir / f.name for f in files}


# ---------------------------------------------------------------------------------------------
# Reading the archives
# ---------------------------------------------------------------------------------------------


def read_npz_array(
    path: Path, *, kind: Literal["images", "labels"], n_expected: int | None = None
) -> np.ndarray:
    """Load the single array ``arr_0`` of a K49/KMNIST ``.npz`` archive and check its layout.

    Args:
        path: the archive.
        kind: ``"images"`` requires uint8 ``[N, 28, 28]``; ``"labels"`` an integer ``[N]``.
        n_expected: required length N, if known.
    Returns:
        The array, as stored (not converted).
    Raises:
        ValueError: the file is not a readable npz archive (truncated, corrupt, pickled objects),
            has no ``arr_0``, or the array has another dtype/shape than allowed.
    """
    if kind not in ("images", "labels"):
        raise ValueError(f"kind must be 'images' or 'labels', got {kind!r}")
    path = Path(path)
    unreadable = (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError)  # what np.load raises on bad bytes
    try:
        loaded = np.load(path, allow_pickle=False)
    except unreadable as err:
        raise ValueError(_unreadable_message(path, err)) from err
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: expected an .npz archive, found a plain .npy array {getattr(loaded, 'shape', '')}")
    with loaded as archive:
        if "arr_0" not in archive.files:
            raise ValueError(f"{path}: expected the key 'arr_0' (the K49/KMNIST layout), found keys {archive.files}")
        try:
            array = archive["arr_0"]
        except unreadable as err:
            raise ValueError(_unreadable_message(path, err)) from err

    if kind == "images" and (array.dtype != np.uint8 or array.ndim != 3 or array.shape[1:] != (28, 28)):
        raise ValueError(
            f"{path}: 'arr_0' has dtype {array.dtype} and shape {array.shape}; images must be uint8 [N, 28, 28]"
        )
    if kind == "labels" and (not np.issubdtype(array.dtype, np.integer) or array.ndim != 1):
        raise ValueError(
            f"{path}: 'arr_0' has dtype {array.dtype} and shape {array.shape}; labels must be an integer array [N]"
        )
    if n_expected is not None and len(array) != n_expected:
        raise ValueError(f"{path}: 'arr_0' holds {len(array):,} {kind}, expected {n_expected:,}")
    return array


def _unreadable_message(path: Path, err: Exception) -> str:
    return (
        f"{path}: not a readable .npz archive ({type(err).__name__}: {err}); the file is probably "
        f"truncated or corrupt (or holds pickled objects): delete it and download it again."
    )


def load_codh_split(
    dataset: str, root: Path, split: Literal["train", "test"], *, download: bool, base_url: str | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One split of a CODH dataset (``k49``: 232,365 train / 38,547 test; ``kmnist``: 60,000 / 10,000)
    from ``root``, downloading its two archives if allowed (md5-checked against the registry).

    Returns:
        images uint8 ``[N, 28, 28]`` in 0..255, labels int64 ``[N]`` in 0..n_classes-1.
    Raises:
        ValueError: an unknown split, archives of different lengths, or labels out of range.
    """
    spec = get_dataset(dataset)
    check_split(split)
    names = (f"{spec.name}-{split}-imgs.npz", f"{spec.name}-{split}-labels.npz")
    files = tuple(f for f in spec.files if f.name in names)
    paths = ensure_files(files, Path(root), download=download, dataset=spec.name, base_url=base_url, progress=progress)
    images = read_npz_array(paths[names[0]], kind="images")
    labels = read_npz_array(paths[names[1]], kind="labels")
    if len(images) != len(labels):
        raise ValueError(
            f"{spec.title} {split}: {paths[names[0]].name} holds {len(images):,} images but "
            f"{paths[names[1]].name} holds {len(labels):,} labels; they must match one to one"
        )
    if len(labels) and (labels.min() < 0 or labels.max() >= spec.n_classes):
        raise ValueError(
            f"{paths[names[1]]}: labels range over {labels.min()}..{labels.max()}; "
            f"{spec.title} has classes 0..{spec.n_classes - 1}"
        )
    return images, labels.astype(np.int64)
