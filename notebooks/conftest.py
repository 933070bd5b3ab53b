"""nbval collects notebooks recursively: the course notebooks are NN_*.ipynb here.

``app/`` holds the classroom app's pages (``genlib app``): widget-only notebooks committed without
outputs (their images differ between CPUs, and a widget has no text to compare). They are tested
by ``tests/test_app.py`` (executed headless, every control moved) and ``tests/test_browser.py``
(served by ``genlib app`` and driven in Chromium).
"""

collect_ignore = ["app"]
