"""pytest setup for the whole repository (unit tests and nbval notebooks).

Tests run in parallel processes (``pytest -n 2``), so each process — and each notebook kernel,
which inherits this environment — uses one torch thread: on a 2-core machine two busy
processes with two threads each slow tiny models down by an order of magnitude.
"""

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
