"""``python -m genlib …`` is the ``genlib`` command (and ``torchrun … -m genlib train …`` runs it in every process)."""

from genlib.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
