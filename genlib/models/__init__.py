"""One module per model family; see :mod:`genlib.families` for the name → family table."""
