"""Device selection and seeding: the two things every training run sets first."""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16")


def get_device(preference: str = "auto") -> torch.device:
    """Pick the training device: CUDA, then Apple MPS, then CPU (``preference="auto"``).

    Args:
        preference: one of ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"`` (``"cuda:1"`` also works).
    Raises:
        ValueError: for an unknown name, or a device that this machine does not have.
    """
    name = preference.split(":")[0]
    if name not in DEVICES:
        raise ValueError(f"device must be one of {DEVICES} (or 'cuda:N'), got {preference!r}")
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {preference!r} was requested but CUDA is not available here; use 'auto' or 'cpu'")
    if name == "mps" and not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
        raise ValueError(f"device {preference!r} was requested but MPS is not available here; use 'auto' or 'cpu'")
    return torch.device(preference)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) so a run is reproducible on the same machine."""
    if not 0 <= seed < 2**32:
        raise ValueError(f"seed must be in 0..2**32-1, got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_precision(precision: str) -> str:
    """Return ``precision`` if genlib knows it; raises ValueError naming the allowed ones."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def autocast(device: torch.device, precision: str) -> torch.autocast:
    """Mixed precision for a block of forward passes: bf16 matmuls and convolutions under ``"bf16"``.

    Weights, gradients and optimizer state stay float32 (autocast only casts the operands of each
    op), so a bf16 run resumes and samples exactly like an fp32 one. ``"fp32"``: a no-op.
    """
    check_precision(precision)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16")


@contextmanager
def evaluating(module: torch.nn.Module) -> Iterator[torch.device]:
    """Run a block with ``module`` in eval mode and gradients off; restores its mode afterwards.

    Yields the module's device, so callers can move inputs: ``with evaluating(model) as device: ...``.
    """
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield next(module.parameters()).device
    finally:
        module.train(was_training)
