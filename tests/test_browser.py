"""The notebooks' sliders in a real browser: Voila renders the widget cells, headless Chromium moves them.

Each notebook tags the cells a slider needs (setup, model loading, the ``live_view`` cells) with
``widgets``; this test copies exactly those cells into a small notebook, serves it with Voila on
127.0.0.1, and checks what a person sees: moving a slider changes its readout, the caption and the
image. Skipped unless Chromium (``/usr/bin/chromium``), playwright and voila are installed (see
README, "Browser tests"); screenshots go to ``$GENLIB_BROWSER_ARTIFACTS`` (default: pytest's tmp).
"""

from __future__ import annotations

import contextlib
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


def move_slider(view, index: int, presses: int = 1, key: str = "ArrowRight") -> str:
    """Press ``key`` on the ``index``-th slider of ``view``; returns its readout's number once it shows the handle's value
    (a class slider reads ``12 す``: the index, then the class name)."""
    slider = view.locator(".widget-slider").nth(index)
    handle = slider.locator(".noUi-handle")
    handle.focus()
    for _ in range(presses):
        handle.press(key)
    readout = slider.locator(".widget-readout")
    deadline = time.time() + 30
    while time.time() < deadline:  # the readout follows the handle once the kernel has the new value
        value = handle.get_attribute("aria-valuenow")  # noUiSlider may round it to fewer decimals
        decimals = len(value.split(".")[1]) if value and "." in value else 0
        number = readout.inner_text().split()[0] if readout.inner_text().strip() else "nan"
        if value is not None and abs(float(number) - float(value)) <= 0.5 * 10**-decimals + 1e-9:
            return number
        time.sleep(0.2)
    raise AssertionError(f"slider readout {readout.inner_text()!r} never matched its handle ({handle.get_attribute('aria-valuenow')})")


@contextlib.contextmanager
def open_views(url: str):
    """Launch Chromium, open the Voila page, wait for the images; yields ``(page, views)``, closes Chromium after."""
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 1800})
            page.set_default_timeout(120_000)
            page.goto(url, timeout=180_000)
            try:
                page.wait_for_selector("img.widget-image", timeout=180_000)
            except playwright_api.TimeoutError:
                pytest.fail("no widget image appeared; the page says:\n" + page.inner_text("body")[-3000:])
            yield page, page.locator(".widget-vbox")
        finally:
            browser.close()


@pytest.mark.parametrize("voila_server", ["02_cvae.ipynb"], indirect=True)
def test_cvae_sliders_update_the_character(voila_server) -> None:
    url, artifacts = voila_server
    with open_views(url) as (page, views):
        assert views.count() >= 3
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

        z1 = float(move_slider(first, 1, presses=5))  # z1, up from 0.0
        assert z1 > 0
        wait_for_change(first, after_style)
        expect(caption).to_contain_text(f"z = ({z1:.1f}, 0.0)")
        page.screenshot(path=str(artifacts / "cvae_after.png"))

        second = views.nth(1)
        before = image_src(second)
        assert move_slider(second, 1, presses=3) == "3"  # seed 0 → 3
        wait_for_change(second, before)
        expect(second.locator(".widget-html").first).to_contain_text("seed 3")

        third = views.nth(2)  # the slant-conditioned CVAE: thickness and slant toggles
        caption = third.locator(".widget-html").first
        expect(caption).to_contain_text("thin, upright")
        before = image_src(third)
        third.locator("button", has_text="slanted").click()
        wait_for_change(third, before)
        expect(caption).to_contain_text("thin, slanted")
        page.screenshot(path=str(artifacts / "cvae_slant.png"))


@pytest.mark.parametrize("voila_server", ["03_cgan.ipynb"], indirect=True)
def test_cgan_sliders_update_the_character(voila_server) -> None:
    url, artifacts = voila_server
    with open_views(url) as (page, views):
        view = views.nth(0)
        caption = view.locator(".widget-html").first
        expect(caption).to_contain_text("(class 0)")
        before = image_src(view)
        assert move_slider(view, 0, presses=2) == "2"  # class 0 → 2
        after = wait_for_change(view, before)
        expect(caption).to_contain_text("(class 2)")
        view.locator("button", has_text="thick").click()
        after_style = wait_for_change(view, after)
        expect(caption).to_contain_text("thick")
        assert move_slider(view, 1) == "1"  # noise seed 0 → 1
        wait_for_change(view, after_style)
        expect(caption).to_contain_text("seed 1")
        page.screenshot(path=str(artifacts / "cgan_after.png"))


@pytest.mark.parametrize("voila_server", ["05_stylegan_mixing.ipynb"], indirect=True)
def test_stylegan_mixing_sliders(voila_server) -> None:
    url, artifacts = voila_server
    with open_views(url) as (page, views):
        blend, crossover = views.nth(0), views.nth(1)
        caption = blend.locator(".widget-html").first
        expect(caption).to_contain_text("w = 0.40 w_A + 0.60 w_B")
        before = image_src(blend)
        t = float(move_slider(blend, 3))  # blend factor t, up from 0.60
        assert t > 0.6
        after = wait_for_change(blend, before)
        expect(caption).to_contain_text(f"w = {1 - t:.2f} w_A + {t:.2f} w_B")
        assert move_slider(blend, 1) == "5"  # class B: 4 → 5
        after_b = wait_for_change(blend, after)
        expect(caption).to_contain_text("B = か")
        psi = float(move_slider(blend, 4, key="ArrowLeft"))  # truncation psi, down from 1.00
        assert psi < 1.0
        wait_for_change(blend, after_b)
        expect(caption).to_contain_text(f"psi = {psi:.2f}")

        x_caption = crossover.locator(".widget-html").first
        before = image_src(crossover)
        assert move_slider(crossover, 2) == "5"  # crossover layer k: 4 → 5
        wait_for_change(crossover, before)
        expect(x_caption).to_contain_text("layers 0..4 from thin A, 5..7 from thick B")
        page.screenshot(path=str(artifacts / "stylegan_after.png"), full_page=True)


# --- the classroom app: `genlib app` serves notebooks/app/ ----------------------------------------

APP_INTERACTIVE_LIMIT_S = 20.0  # the page must show its sliders and first image within this (target: under 10 s)
APP_PAGES = ("cvae", "cgan", "stylegan", "mixing")


@pytest.fixture(scope="module")
def genlib_app(tmp_path_factory):
    """``genlib app`` on a free port, as a user starts it; yields ``{page: URL with the token}`` and stops it after."""
    tmp = tmp_path_factory.mktemp("app")
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(tmp / "cfg"), "JUPYTER_RUNTIME_DIR": str(tmp / "rt"),
           "JUPYTER_DATA_DIR": str(tmp / "data")}
    log = tmp / "genlib_app.log"
    proc = subprocess.Popen([sys.executable, "-m", "genlib", "app", "--port", str(free_port())], env=env, cwd=tmp,
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    deadline = time.time() + 90
    while time.time() < deadline and "Ctrl-C stops" not in log.read_text() and proc.poll() is None:
        time.sleep(0.2)
    text = log.read_text()
    urls = {parts[0]: parts[1] for parts in (line.split() for line in text.splitlines()) if len(parts) == 2 and parts[0] in APP_PAGES}
    if set(urls) != set(APP_PAGES):
        proc.kill()
        pytest.fail("genlib app did not announce its pages:\n" + text[-2000:])
    yield urls
    proc.terminate()  # genlib app stops Voila and its kernels on SIGTERM
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def visible_view(page):
    """The live view of the selected tab: its sliders, toggles, caption and image."""
    return page.locator(".widget-tab .widget-vbox").filter(visible=True).first


def move_every_control(view, where: str) -> int:
    """Move each slider one step (down from its maximum) and click each toggle's other button; the image must
    change every time. Returns how many controls were moved."""
    moved = 0
    for i in range(view.locator(".widget-slider").count()):
        handle = view.locator(".widget-slider").nth(i).locator(".noUi-handle")
        at_max = handle.get_attribute("aria-valuenow") == handle.get_attribute("aria-valuemax")
        before = image_src(view)
        move_slider(view, i, key="ArrowLeft" if at_max else "ArrowRight")
        try:
            wait_for_change(view, before)
        except AssertionError:
            raise AssertionError(f"{where}: moving slider {i} ({view.locator('.widget-slider').nth(i).inner_text()!r}) did not change the image") from None
        moved += 1
    toggles = view.locator(".widget-toggle-buttons")
    for i in range(toggles.count()):
        before = image_src(view)
        toggles.nth(i).locator("button:not(.mod-active)").first.click()
        wait_for_change(view, before)
        moved += 1
    return moved


@pytest.mark.parametrize("name", APP_PAGES)
def test_app_page_is_interactive_fast_and_every_slider_redraws(genlib_app, name, tmp_path) -> None:
    artifacts = Path(os.environ.get("GENLIB_BROWSER_ARTIFACTS", tmp_path))
    artifacts.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            tic = time.perf_counter()
            page.goto(genlib_app[name], timeout=60_000)
            page.locator("img.widget-image").first.wait_for(timeout=60_000)
            page.locator(".noUi-handle").first.wait_for(timeout=60_000)
            interactive_s = time.perf_counter() - tic
            print(f"app page {name}: interactive after {interactive_s:.1f} s")
            (artifacts / f"app_{name}_interactive_s.txt").write_text(f"{interactive_s:.2f}\n")
            assert interactive_s < APP_INTERACTIVE_LIMIT_S, f"{name} took {interactive_s:.1f} s to become interactive"
            slider_top = page.locator(".noUi-handle").first.bounding_box()["y"]
            assert slider_top < 300, f"the first slider of {name} is {slider_top:.0f} px down the page, not at the top"
            tabs = page.locator(".widget-tab .lm-TabBar-tab")
            assert tabs.count() >= 1
            for t in range(tabs.count()):
                tabs.nth(t).click()
                title = tabs.nth(t).inner_text()
                assert move_every_control(visible_view(page), f"{name} / {title}") >= 2
                page.screenshot(path=str(artifacts / f"app_{name}_{t}.png"))
        finally:
            browser.close()
