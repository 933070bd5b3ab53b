"""The K49/KMNIST layer against small fake archives served from tmp_path (never the real host).

The fake files have the real format (one ``arr_0`` array per ``.npz``); their md5s are computed
here and passed in as the "published" ones, served over file:// and over an HTTP server on
127.0.0.1 that can also cut transfers short or stall.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from genlib.data import registry
from genlib.data.download import (
    ChecksumError,
    DatasetUnavailableError,
    RemoteFile,
    download_file,
    ensure_files,
    load_codh_split,
    read_npz_array,
)


def npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def md5_of(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def fake_split(n: int, n_classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, n_classes, size=n).astype(np.uint8)  # K49 stores labels as uint8
    return images, labels


def remote(name: str, data: bytes, with_size: bool = True) -> RemoteFile:
    return RemoteFile(name, md5_of(data), len(data) if with_size else None)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A folder playing the CODH host: fake K49 and KMNIST archives for both splits."""
    folder = tmp_path / "host"
    folder.mkdir()
    for key, n_classes in (("k49", 49), ("kmnist", 10)):
        for split, n in (("train", 12), ("test", 5)):
            images, labels = fake_split(n, n_classes, seed=n + n_classes)
            (folder / f"{key}-{split}-imgs.npz").write_bytes(npz_bytes(arr_0=images))
            (folder / f"{key}-{split}-labels.npz").write_bytes(npz_bytes(arr_0=labels))
    return folder


def published(host: Path, *names: str) -> tuple[RemoteFile, ...]:
    return tuple(remote(name, (host / name).read_bytes()) for name in names)


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves ``server.files[name]``; ``server.truncate`` names get half their bytes, ``server.stall`` sleeps."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        name = self.path.lstrip("/")
        data = self.server.files.get(name)
        if data is None:
            self.send_error(404)
            return
        if name in self.server.stall:
            time.sleep(1.5)
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))  # announce the whole file ...
        self.end_headers()
        self.wfile.write(data[: len(data) // 2] if name in self.server.truncate else data)  # ... maybe send half
        self.close_connection = True

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def http_host():
    """An HTTP server on 127.0.0.1 (free port) in a background thread; yields (server, base URL)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.daemon_threads = True
    server.block_on_close = False
    server.files, server.truncate, server.stall = {}, set(), set()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens here once the socket is closed


# --- the published table ------------------------------------------------------------------------


def test_published_files_are_well_formed():
    for key in ("k49", "kmnist"):
        spec = registry.get_dataset(key)
        assert len({f.name for f in spec.files}) == 5 and spec.downloadable and spec.reader == "codh"
        for f in spec.files:
            assert f.name.startswith(key) and re.fullmatch("[0-9a-f]{32}", f.md5) and f.size > 0
    assert registry.get_dataset("k49").base_url == "https://codh.rois.ac.jp/kmnist/dataset/k49/"
    assert registry.get_dataset("kmnist").base_url == "https://codh.rois.ac.jp/kmnist/dataset/kmnist/"


# --- downloads ----------------------------------------------------------------------------------


def test_download_over_http_verifies_and_shows_progress(tmp_path, host, http_host, capsys):
    server, base = http_host
    files = published(host, "k49-train-imgs.npz", "k49-train-labels.npz")
    server.files = {f.name: (host / f.name).read_bytes() for f in files}
    dest = tmp_path / "data"
    paths = ensure_files(files, dest, download=True, dataset="k49", base_url=base, progress=True)
    assert list(paths) == [f.name for f in files]
    for f in files:
        assert paths[f.name].read_bytes() == server.files[f.name]
    assert leftovers(dest) == sorted(f.name for f in files)  # no temporary files left behind
    assert "k49-train-imgs.npz" in capsys.readouterr().err  # the tqdm bar, labelled with the file


def test_download_over_file_url_then_reuse_without_network(tmp_path, host):
    files = published(host, "kmnist-test-imgs.npz", "kmnist-test-labels.npz")
    dest = tmp_path / "data"
    ensure_files(files, dest, download=True, dataset="kmnist", base_url=host.as_uri(), progress=False)
    # second call: the files are present and verified, so an unreachable host does not matter
    dead = f"http://127.0.0.1:{closed_port()}/"
    paths = ensure_files(files, dest, download=False, dataset="kmnist", base_url=dead)
    assert all(p.is_file() for p in paths.values())


def test_env_var_overrides_the_base_url(tmp_path, host, monkeypatch):
    monkeypatch.setenv("GENLIB_KMNIST_BASE_URL", host.as_uri())
    files = published(host, "kmnist-train-imgs.npz", "kmnist-train-labels.npz")  # the fakes' md5s
    monkeypatch.setitem(registry.DATASETS, "kmnist", dataclasses.replace(registry.get_dataset("kmnist"), files=files))
    images, labels = load_codh_split("kmnist", tmp_path / "kmnist", "train", download=True, progress=False)
    assert images.shape == (12, 28, 28) and images.dtype == np.uint8
    assert labels.dtype == np.int64 and labels.min() >= 0 and labels.max() <= 9
    expected_images, expected_labels = fake_split(12, 10, seed=22)
    np.testing.assert_array_equal(images, expected_images)
    np.testing.assert_array_equal(labels, expected_labels)


def test_download_with_wrong_md5_leaves_nothing(tmp_path, host):
    good = host / "k49-test-labels.npz"
    wrong = RemoteFile(good.name, md5_of(b"other content"), None)
    dest = tmp_path / "data"
    with pytest.raises(ChecksumError) as info:
        download_file(good.as_uri(), dest / good.name, md5=wrong.md5, size=None, progress=False)
    assert wrong.md5 in str(info.value) and md5_of(good.read_bytes()) in str(info.value)
    assert leftovers(dest) == []


def test_a_killed_download_leaves_a_temp_file_that_the_next_download_removes(tmp_path, host):
    good = host / "k49-test-labels.npz"
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / f"{good.name}.abc123.tmp").write_bytes(b"half a file")  # as SIGKILL mid-transfer leaves it
    download_file(good.as_uri(), dest / good.name, md5=md5_of(good.read_bytes()), size=None, progress=False)
    assert leftovers(dest) == [good.name]


def test_truncated_download_leaves_nothing(tmp_path, host, http_host):
    server, base = http_host
    name = "k49-test-imgs.npz"
    server.files = {name: (host / name).read_bytes()}
    server.truncate = {name}
    dest = tmp_path / "data"
    for size in (len(server.files[name]), None):  # the published size, then only Content-Length
        with pytest.raises(DatasetUnavailableError, match="(?i)incomplete"):
            download_file(base + name, dest / name, md5=None, size=size, progress=False)
        assert leftovers(dest) == []


def test_offline_gives_guidance(tmp_path, host):
    files = published(host, "k49-train-imgs.npz")
    dest = tmp_path / "k49"
    dead = f"http://127.0.0.1:{closed_port()}/"
    with pytest.raises(DatasetUnavailableError) as info:
        ensure_files(files, dest, download=True, dataset="k49", base_url=dead, progress=False)
    message = str(info.value)
    assert str(dest / "k49-train-imgs.npz") in message and "kana49" in message and dead in message
    assert leftovers(dest) == []


def test_http_error_and_timeout_give_guidance(tmp_path, host, http_host):
    server, base = http_host
    name = "k49-test-labels.npz"
    server.files = {name: (host / name).read_bytes()}
    dest = tmp_path / "data"
    with pytest.raises(DatasetUnavailableError, match="404"):
        download_file(base + "no-such-file.npz", dest / "x.npz", md5=None, size=None, progress=False)
    server.stall = {name}
    start = time.perf_counter()
    with pytest.raises(DatasetUnavailableError, match="kana49"):
        download_file(base + name, dest / name, md5=None, size=None, progress=False, timeout_s=0.3)
    assert time.perf_counter() - start < 1.4  # gave up at the timeout, before the server answered
    assert leftovers(dest) == []


# --- files placed by hand -----------------------------------------------------------------------


def test_missing_without_download_says_what_to_do(tmp_path):
    dest = tmp_path / "k49"
    with pytest.raises(DatasetUnavailableError) as info:
        load_codh_split("k49", dest, "test", download=False)
    message = str(info.value)
    for text in ("k49-test-imgs.npz", "k49-test-labels.npz", str(dest), registry.get_dataset("k49").base_url + "k49-test-imgs.npz",
                 'load_dataset("kana49")', "--dataset kana49", "download=True"):
        assert text in message
    assert leftovers(dest) == []


def test_files_placed_by_hand_are_accepted(tmp_path, host):
    files = published(host, "k49-train-imgs.npz", "k49-train-labels.npz")
    dest = tmp_path / "k49"
    dest.mkdir()
    for f in files:
        (dest / f.name).write_bytes((host / f.name).read_bytes())
    paths = ensure_files(files, dest, download=False, dataset="k49")
    assert [p.name for p in paths.values()] == [f.name for f in files]


def test_present_file_with_wrong_md5_or_size(tmp_path, host):
    name = "k49-train-labels.npz"
    data = (host / name).read_bytes()
    dest = tmp_path / "k49"
    dest.mkdir()
    (dest / name).write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, one bit flipped
    with pytest.raises(ChecksumError) as info:
        ensure_files((remote(name, data),), dest, download=True, dataset="k49", base_url=host.as_uri())
    message = str(info.value)
    assert name in message and md5_of(data) in message and md5_of((dest / name).read_bytes()) in message
    assert "Delete" in message
    (dest / name).write_bytes(data + b"x")
    with pytest.raises(ChecksumError, match=f"expected {len(data):,}"):
        ensure_files((remote(name, data),), dest, download=False, dataset="k49")


def test_real_k49_md5s_guard_hand_placed_files(tmp_path, host):
    dest = tmp_path / "k49"
    dest.mkdir()
    (dest / "k49-test-labels.npz").write_bytes((host / "k49-test-labels.npz").read_bytes())
    (dest / "k49-test-imgs.npz").write_bytes((host / "k49-test-imgs.npz").read_bytes())
    with pytest.raises(ChecksumError, match="k49-test-imgs.npz"):  # a fake is not the published file
        load_codh_split("k49", dest, "test", download=False)


# --- reading archives ---------------------------------------------------------------------------


def test_read_npz_array_accepts_the_real_layout(tmp_path):
    images, labels = fake_split(7, 49)
    (tmp_path / "i.npz").write_bytes(npz_bytes(arr_0=images))
    (tmp_path / "l.npz").write_bytes(npz_bytes(arr_0=labels))
    np.testing.assert_array_equal(read_npz_array(tmp_path / "i.npz", kind="images", n_expected=7), images)
    np.testing.assert_array_equal(read_npz_array(tmp_path / "l.npz", kind="labels"), labels)
    with pytest.raises(ValueError, match="expected 8"):
        read_npz_array(tmp_path / "l.npz", kind="labels", n_expected=8)


@pytest.mark.parametrize(
    "arrays, kind, match",
    [
        ({"images": np.zeros((3, 28, 28), np.uint8)}, "images", r"key 'arr_0'.*\['images'\]"),
        ({"arr_0": np.zeros((3, 32, 32), np.uint8)}, "images", r"shape \(3, 32, 32\).*uint8 \[N, 28, 28\]"),
        ({"arr_0": np.zeros((3, 28, 28), np.float32)}, "images", r"dtype float32.*uint8"),
        ({"arr_0": np.zeros((3, 1), np.int64)}, "labels", r"shape \(3, 1\).*integer array \[N\]"),
        ({"arr_0": np.zeros(3, np.float64)}, "labels", r"dtype float64.*integer"),
    ],
)
def test_read_npz_array_rejects_wrong_layouts(tmp_path, arrays, kind, match):
    path = tmp_path / "bad.npz"
    path.write_bytes(npz_bytes(**arrays))
    with pytest.raises(ValueError, match=match) as info:
        read_npz_array(path, kind=kind)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("damage", ["empty", "10 bytes", "half", "last 30 bytes cut", "bit flip"])
def test_read_npz_array_rejects_truncated_or_corrupt_archives(tmp_path, damage):
    data = npz_bytes(arr_0=fake_split(40, 49)[0])
    damaged = {
        "empty": b"",
        "10 bytes": data[:10],
        "half": data[: len(data) // 2],
        "last 30 bytes cut": data[:-30],
        "bit flip": data[: len(data) // 2] + bytes([data[len(data) // 2] ^ 0xFF]) + data[len(data) // 2 + 1 :],
    }[damage]
    path = tmp_path / "damaged.npz"
    path.write_bytes(damaged)
    with pytest.raises(ValueError, match="truncated or corrupt") as info:
        read_npz_array(path, kind="images")
    assert str(path) in str(info.value)


def test_read_npz_array_rejects_npy_and_pickles(tmp_path):
    np.save(tmp_path / "plain.npy", np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(ValueError, match="plain .npy"):
        read_npz_array(tmp_path / "plain.npy", kind="images")
    (tmp_path / "obj.npz").write_bytes(npz_bytes(arr_0=np.array([{"a": 1}], dtype=object)))
    with pytest.raises(ValueError, match="pickled"):
        read_npz_array(tmp_path / "obj.npz", kind="labels")


# --- whole splits -------------------------------------------------------------------------------


def _place_split(dest: Path, key: str, images: np.ndarray, labels: np.ndarray, monkeypatch) -> None:
    """Write a split by hand and make its md5s the 'published' ones."""
    dest.mkdir(parents=True, exist_ok=True)
    blobs = {f"{key}-test-imgs.npz": npz_bytes(arr_0=images), f"{key}-test-labels.npz": npz_bytes(arr_0=labels)}
    for name, data in blobs.items():
        (dest / name).write_bytes(data)
    files = tuple(remote(name, data) for name, data in blobs.items())
    monkeypatch.setitem(registry.DATASETS, key, dataclasses.replace(registry.get_dataset(key), files=files))


def test_split_lengths_must_agree(tmp_path, monkeypatch):
    images, labels = fake_split(6, 49)
    _place_split(tmp_path, "k49", images, labels[:5], monkeypatch)
    with pytest.raises(ValueError, match="6 images but .*5 labels"):
        load_codh_split("k49", tmp_path, "test", download=False)


@pytest.mark.parametrize("bad_label", [10, 255])
def test_labels_out_of_range(tmp_path, monkeypatch, bad_label):
    images, labels = fake_split(6, 10)
    labels[3] = bad_label
    _place_split(tmp_path, "kmnist", images, labels, monkeypatch)
    with pytest.raises(ValueError, match=f"0..{bad_label}.*classes 0..9"):
        load_codh_split("kmnist", tmp_path, "test", download=False)


def test_k49_labels_up_to_48_are_fine(tmp_path, monkeypatch):
    images, labels = fake_split(6, 49)
    labels[0] = 48
    _place_split(tmp_path, "k49", images, labels, monkeypatch)
    got_images, got_labels = load_codh_split("k49", tmp_path, "test", download=False)
    assert got_labels.dtype == np.int64 and got_labels.max() == 48
    np.testing.assert_array_equal(got_images, images)


def test_bad_split_name(tmp_path):
    with pytest.raises(ValueError, match="'val'.*train, test"):
        load_codh_split("k49", tmp_path, "val", download=False)
