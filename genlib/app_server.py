"""``genlib app``: serve the classroom app's pages (:mod:`genlib.app`) with Voila, safely by default.

By default the server listens on 127.0.0.1 only (this machine) and every URL needs a token, a
random one per start. ``network=True`` (``genlib app --network``) listens on every interface so
that a classroom can connect; the token stays, and the URL to share (this machine's address, the
port and the token) is printed. A fixed token (``--token``) may be written on the board; there is
no way to serve without one, since that would open the pages, and the Python kernels behind
them, to anyone who can reach the port.
"""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

LOCAL, EVERYWHERE = "127.0.0.1", "0.0.0.0"


def default_pages_dir() -> Path:
    """``notebooks/app/`` of the repository that holds this genlib (an editable install or a clone)."""
    return Path(__file__).resolve().parents[1] / "notebooks" / "app"


def page_names(folder: Path) -> list[str]:
    """The app notebooks of ``folder`` (``cvae``, ``cgan``, ...), sorted.

    Raises:
        FileNotFoundError: the folder holds no notebook (names the folder).
    """
    names = sorted(p.stem for p in Path(folder).glob("*.ipynb"))
    if not names:
        raise FileNotFoundError(f"no app notebooks (*.ipynb) in {folder}: pass --pages DIR")
    return names


def lan_address() -> str:
    """The address other machines on the network reach this one by (best guess; 127.0.0.1 if there is none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("10.254.254.254", 1))  # a UDP "connect" sends nothing: it only picks the outgoing interface
            return s.getsockname()[0]
        except OSError:
            pass
    try:
        return socket.gethostbyname(socket.gethostname())
    except OSError:
        return LOCAL


def check_port_free(ip: str, port: int) -> None:
    """Raise OSError naming the port when something already listens there."""
    with socket.socket() as s:
        try:
            s.bind((ip, port))
        except OSError:
            raise OSError(f"port {port} on {ip} is in use (another genlib app or Voila?): pass --port N") from None


@dataclass(frozen=True)
class AppServer:
    """Where the app listens and the token every URL carries."""

    folder: Path  # the app notebooks
    port: int = 8866
    network: bool = False  # listen on every interface (a classroom), not only 127.0.0.1
    token: str = ""  # "" = a fresh random token

    def __post_init__(self) -> None:
        if not 1 <= self.port <= 65535:
            raise ValueError(f"--port {self.port} is out of range: allowed 1..65535")
        object.__setattr__(self, "token", self.token or secrets.token_urlsafe(16))

    @property
    def ip(self) -> str:
        return EVERYWHERE if self.network else LOCAL

    def url(self, page: str | None = None, host: str | None = None) -> str:
        """The URL of the page list (or of one page) with the token, as seen from ``host`` (default: the share address)."""
        host = host or (lan_address() if self.network else LOCAL)
        path = f"voila/render/{page}.ipynb" if page else ""
        return f"http://{host}:{self.port}/{path}?token={self.token}"

    def command(self) -> list[str]:
        """The Voila command line: app mode (no code), this address and port only, this token."""
        return [sys.executable, "-m", "voila", str(self.folder), "--no-browser", f"--port={self.port}",
                "--Voila.port_retries=0", f"--Voila.ip={self.ip}", f"--Voila.token={self.token}"]


def start(server: AppServer, *, dataset: str | None = None, timeout: float = 60.0, log: Path | None = None) -> subprocess.Popen:
    """Start Voila and wait until it accepts connections; returns the process (stop it with ``terminate``).

    Raises:
        OSError: the port is taken. RuntimeError: Voila exited or did not listen within ``timeout`` s.
    """
    page_names(server.folder)
    check_port_free(server.ip, server.port)
    env = dict(os.environ)
    if dataset:
        env["GENLIB_DATASET"] = dataset  # genlib.app.requested_dataset reads it in every page's kernel
    out = open(log, "wb") if log else subprocess.DEVNULL
    proc = subprocess.Popen(server.command(), cwd=server.folder, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # ready when the port accepts a TCP connection (a GET would run a page)
        if proc.poll() is not None:
            raise RuntimeError(f"voila exited with code {proc.returncode}" + (f"; see {log}" if log else ""))
        try:
            socket.create_connection((LOCAL, server.port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"voila did not listen on port {server.port} within {timeout:.0f} s")


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate the Voila process (and kill it if it does not stop within ``timeout`` s)."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def announce(server: AppServer, pages: Sequence[str]) -> str:
    """What ``genlib app`` prints once the server listens: the URL to open or share, and one per page."""
    where = "every network interface: share this URL with the class" if server.network else "this machine only (127.0.0.1)"
    lines = [f"genlib app: serving {server.folder} on {where}", f"  {server.url()}"]
    lines += [f"  {name:<9} {server.url(name)}" for name in pages]
    lines.append("Every URL carries the token; Ctrl-C stops the server.")
    return "\n".join(lines)


def serve(server: AppServer, *, dataset: str | None = None) -> int:
    """Start Voila, print :func:`announce`, and wait; Ctrl-C or SIGTERM stops Voila and its kernels. Returns 0."""
    def terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, terminated)  # so that `kill` also stops Voila, not only this process
    try:
        proc = start(server, dataset=dataset)
        try:
            print(announce(server, page_names(server.folder)), flush=True)
            code = proc.wait()
            return 0 if code in (0, -signal.SIGTERM) else code
        except KeyboardInterrupt:
            return 0
        finally:
            stop(proc)
    finally:
        signal.signal(signal.SIGTERM, previous)
