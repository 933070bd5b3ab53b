"""The classroom app: its pages over the shipped checkpoints, and ``genlib app``'s server (token, address).

The pages are driven here in Python (each control is set as a user would set it, and the image
must change); ``tests/test_browser.py`` drives them in Chromium and times them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import ipywidgets as W
import nbformat
import pytest

from genlib import app
from genlib.app_server import AppServer, announce, default_pages_dir, page_names

PAGES_DIR = default_pages_dir()


def views_of(page: W.VBox) -> dict[str, W.VBox]:
    """The live views of a page by tab title (empty when no model ships)."""
    tab = page.children[0]
    return dict(zip(tab.titles, tab.children)) if isinstance(tab, W.Tab) else {}


def image_of(view: W.VBox) -> W.Image:
    return next(c for c in view.children if isinstance(c, W.Image))


def caption_of(view: W.VBox) -> str:
    return next(c for c in view.children if isinstance(c, W.HTML)).value


def test_requested_dataset_reads_the_url_then_the_environment(monkeypatch) -> None:
    monkeypatch.delenv("QUERY_STRING", raising=False)
    monkeypatch.delenv(app.DATASET_ENV, raising=False)
    assert app.requested_dataset() == "kana49"
    monkeypatch.setenv(app.DATASET_ENV, "mnist5k")
    assert app.requested_dataset() == "mnist5k"
    monkeypatch.setenv("QUERY_STRING", "dataset=kana49&x=1")  # what Voila passes a page's kernel
    assert app.requested_dataset() == "kana49"
    monkeypatch.setenv("QUERY_STRING", "dataset=imagenet")
    with pytest.raises(ValueError, match="unknown dataset 'imagenet': allowed kana49"):
        app.requested_dataset()


@pytest.mark.parametrize("name, tabs", [
    ("cvae", ["latent plane", "conv CVAE", "fitted prior", "thickness + slant"]),
    ("cgan", ["conv cGAN", "MLP CGAN"]),
    ("stylegan", ["StyleGAN", "thickness + slant"]),
    ("mixing", ["blend", "crossover"]),
])
def test_every_control_of_every_page_redraws_the_image(name, tabs) -> None:
    views = views_of(app.PAGES[name]("kana49"))
    assert list(views) == tabs
    for title, view in views.items():
        controls = [c for c in view.children if isinstance(c, (W.IntSlider, W.FloatSlider, W.SelectionSlider, W.ToggleButtons))]
        assert view.children.index(controls[-1]) < view.children.index(image_of(view)), "controls come above the image"
        for control in controls:
            before, before_caption = image_of(view).value, caption_of(view)
            if isinstance(control, W.ToggleButtons):
                control.value = 1 - control.value
            elif isinstance(control, W.SelectionSlider):  # the class slider: its readout is "12 す", its value the index
                control.index = control.index - 1 if control.index + 1 == len(control.options) else control.index + 1
            else:  # one step, down from the maximum
                step = -control.step if control.value + control.step > control.max else control.step
                control.value = round(control.value + step, 6)
            assert image_of(view).value != before, f"{name}/{title}: {control.description} did not change the image"
            assert caption_of(view) != before_caption, f"{name}/{title}: {control.description} did not change the caption"


def test_captions_say_what_is_shown() -> None:
    views = views_of(app.mixing_page("kana49"))
    blend, crossover = views["blend"], views["crossover"]
    assert "w = 0.40 w_A + 0.60 w_B: A = あ (class 0), thin, B = お (class 4), thick" in caption_of(blend)
    assert "coarse layers 0..3 from A, fine layers 4..7 from B" in caption_of(crossover)
    assert app.crossover_text(0, 7) == "every layer (0..7) from B" and app.crossover_text(8, 7) == "every layer (0..7) from A"
    cvae = views_of(app.cvae_page("kana49"))
    assert "thick, slanted" in caption_of(cvae["thickness + slant"]) or "thin, upright" in caption_of(cvae["thickness + slant"])


def test_a_dataset_without_shipped_models_gets_notes_not_training(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # a page must write nothing (no runs/ folder: nothing is trained)
    cgan = app.cgan_page("mnist5k")
    assert list(views_of(cgan)) == ["conv cGAN"]
    note = cgan.children[-1].value
    assert "No pretrained <code>cgan_mlp_mnist5k</code> ships in data/" in note and "genlib train cgan" in note
    assert "synthetic" not in note
    stylegan = app.stylegan_page("mnist5k")
    assert views_of(stylegan) == {} and "stylegan_mnist5k" in stylegan.children[-1].value
    assert not list(tmp_path.iterdir())


def test_the_app_notebooks_are_a_parameters_cell_and_a_page() -> None:
    assert page_names(PAGES_DIR) == sorted(app.PAGES)
    for name in app.PAGES:
        nb = nbformat.read(PAGES_DIR / f"{name}.ipynb", as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert [c for c in code if "parameters" in c.metadata.get("tags", [])] == code[:1]
        assert "DATASET = app.requested_dataset()" in code[0].source and f"app.{name}_page(DATASET)" in code[-1].source


def test_an_app_notebook_runs_headless_with_an_injected_dataset() -> None:
    from genlib.report import execute

    nb = execute(PAGES_DIR / "cgan.ipynb", 'DATASET = "mnist5k"', timeout=300)
    outputs = [o for c in nb.cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_server_listens_on_this_machine_only_with_a_token_unless_told() -> None:
    local = AppServer(PAGES_DIR, port=9100)
    assert len(local.token) >= 16 and local.token != AppServer(PAGES_DIR).token  # a fresh random token per start
    assert "--Voila.ip=127.0.0.1" in local.command() and f"--Voila.token={local.token}" in local.command()
    assert local.url("cvae") == f"http://127.0.0.1:9100/voila/render/cvae.ipynb?token={local.token}"
    shared = AppServer(PAGES_DIR, port=9100, network=True, token="board-token")
    assert "--Voila.ip=0.0.0.0" in shared.command() and "--Voila.token=board-token" in shared.command()
    assert shared.url(host="10.0.0.5") == "http://10.0.0.5:9100/?token=board-token"
    assert "share this URL with the class" in announce(shared, ["cvae"]) and "this machine only" in announce(local, ["cvae"])
    with pytest.raises(ValueError, match="--port 70000 is out of range"):
        AppServer(PAGES_DIR, port=70000)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_genlib_app_needs_the_token_and_stops_voila_on_sigterm(tmp_path) -> None:
    pytest.importorskip("voila", reason="pip install -e '.[app]'")
    from genlib.app_server import lan_address

    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "app.log"
    proc = subprocess.Popen([sys.executable, "-m", "genlib", "app", "--port", str(port), "--token", "t0ken"], env=env,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.time() + 60
        while "Ctrl-C stops" not in log.read_text() and time.time() < deadline and proc.poll() is None:
            time.sleep(0.2)
        assert f"http://127.0.0.1:{port}/?token=t0ken" in log.read_text(), log.read_text()
        denied = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30)
        assert "/login" in denied.geturl()  # no token: the login page, not the app
        allowed = urllib.request.urlopen(f"http://127.0.0.1:{port}/?token=t0ken", timeout=30)
        assert "/login" not in allowed.geturl() and "voila-tree-main" in allowed.read().decode()  # the page list
        if lan_address() != "127.0.0.1":  # not reachable from the network without --network
            with pytest.raises(urllib.error.URLError):
                urllib.request.urlopen(f"http://{lan_address()}:{port}/?token=t0ken", timeout=5)
        with pytest.raises(OSError, match=f"port {port} on 127.0.0.1 is in use"):
            from genlib.app_server import check_port_free

            check_port_free("127.0.0.1", port)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    children = subprocess.run(["pgrep", "-f", f"--port={port}"], capture_output=True, text=True).stdout.split()
    assert not children, f"voila still runs after genlib app stopped: {children}"


def test_app_help_and_bad_options_are_one_line(capsys) -> None:
    from genlib.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["app", "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "usage: genlib app" in out and "--network" in out and "token is still required" in out
    assert main(["app", "--dataset", "imagenet"]) == 1
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err
    assert main(["app", "--pages", str(Path(__file__).parent / "data")]) == 1
    assert "no app notebooks" in capsys.readouterr().err
