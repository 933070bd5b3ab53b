"""The notebooks' sliders in a real browser: Voila renders the widget cells, headless Chromium moves them.

Each notebook tags the cells a slider needs (setup, model loading, the ``live_view`` cells) with
``widgets``; this test copies exactly those cells into a small notebook, serves it with Voila on
127.0.0.1, and checks what a person sees: moving a slider changes its readout, the caption and the
image. Skipped unless Chromium (``/usr/bin/chromium``), playwright and voila are installed (see
README, "Browser tests"); screenshots go to ``$GENLIB_BROWSER_ARTIFACTS`` (default: pytest's tmp).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright (never `playwright install`)")
pytest.importorskip("voila", reason="pip install voila")
if not os.path.exists(CHROMIUM):
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)


def widget_notebook(source: Path, dest: Path) -> int:
    """Copy the cells tagged ``widgets`` of ``source`` into a new notebook; returns how many."""
    nb = nbformat.read(source, as_version=4)
    cells = [c for c in nb.cells if "widgets" in c.metadata.get("tags", [])]
    out = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.source) for c in cells], metadata=nb.metadata)
    nbformat.write(out, dest)
    return len(cells)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def voila_server(tmp_path, request):
    """Serve one notebook's widget cells with Voila; yields ``(url, artifacts_dir)``."""
    source = NOTEBOOKS / request.param
    nb_path = tmp_path / f"widgets_{source.stem}.ipynb"
    assert widget_notebook(source, nb_path) >= 2, f"{source.name} tags no widget cells"
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "rt"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "MPLBACKEND": "module://matplotlib_inline.backend_inline"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", str(nb_path), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
         "--show_tracebacks=True", "--VoilaConfiguration.file_allowlist=['.*']"],
        cwd=tmp_path, env=env, stdout=open(tmp_path / "voila.log", "wb"), stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 60
    while time.time() < deadline:  # readiness by TCP connect: every GET of / executes the notebook
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("voila did not start: " + (tmp_path / "voila.log").read_text()[-2000:])
    artifacts = Path(os.environ.get("GENLIB_BROWSER_ARTIFACTS", tmp_path / "screens"))
    artifacts.mkdir(parents=True, exist_ok=True)
    yield f"http://127.0.0.1:{port}/", artifacts
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def expect(locator):
    """playwright's polling assertion (waits up to 30 s for the page to catch up)."""
    return playwright_api.expect(locator)


def image_src(view) -> str:
    return view.locator("img.widget-image").first.get_attribute("src") or ""


def wait_for_change(view, before: str, timeout_s: float = 30.0) -> str:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        now = image_src(view)
        if now and now != before:
            return now
        time.sleep(0.2)
    raise AssertionError("the image did not change")


def move_slider(view, index: int, presses: int = 1) -> str:
    """Press ArrowRight on the ``index``-th slider of ``view``; returns its readout."""
    slider = view.locator(".widget-slider").nth(index)
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(presses):
        handle.press("ArrowRight")
    readout = slider.locator(".widget-readout")
    value = handle.get_attribute("aria-valuenow")
    assert value is not None and float(readout.inner_text()) == pytest.approx(float(value))
    return readout.inner_text()


@pytest.mark.parametrize("voila_server", ["02_cvae.ipynb"], indirect=True)
def test_cvae_sliders_update_the_character(voila_server) -> None:
    url, artifacts = voila_server
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1600})
        page.set_default_timeout(120_000)
        page.goto(url, timeout=180_000)
        page.wait_for_selector("img.widget-image", timeout=180_000)
        views = page.locator(".widget-vbox")
        assert views.count() >= 2
        first = views.nth(0)
        caption = first.locator(".widget-html").first
        expect(caption).to_contain_text("(class 0)")
        expect(caption).to_contain_text("thin")
        page.screenshot(path=str(artifacts / "cvae_before.png"))

        before = image_src(first)
        assert move_slider(first, 0) == "1"  # class 0 → 1
        after = wait_for_change(first, before)
        expect(caption).to_contain_text("(class 1)")

        first.locator("button", has_text="thick").click()  # style toggle
        after_style = wait_for_change(first, after)
        expect(caption).to_contain_text("thick")

        move_slider(first, 1, presses=5)  # z1: 0.0 → 0.5
        wait_for_change(first, after_style)
        expect(caption).to_contain_text("z = (0.5, 0.0)")
        page.screenshot(path=str(artifacts / "cvae_after.png"))

        second = views.nth(1)
        before = image_src(second)
        move_slider(second, 1, presses=3)  # seed 0 → 3
        wait_for_change(second, before)
        expect(second.locator(".widget-html").first).to_contain_text("seed 3")
        browser.close()
