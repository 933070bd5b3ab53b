"""``python -m genlib``: the same as the ``genlib`` command."""

from genlib.cli import main

raise SystemExit(main())
