"""Device selection, seeding and how the arithmetic runs (precision, memory layout, compilation).

Every train config has the three compute fields :func:`check_compute` checks:
``precision = "fp32" | "bf16"``, ``channels_last`` (NHWC convolutions) and ``compile``
(``torch.compile`` of the modules); :func:`genlib.scaffold.train_family` puts them into effect.
"""

from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import numpy as np
import torch

DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16")
T, R = TypeVar("T"), TypeVar("R")


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


def check_compute(config: object) -> None:
    """The one-line checks of a train config's compute fields: ``precision`` in :data:`PRECISIONS`,
    ``channels_last`` and ``compile`` booleans (a config may leave ``compile`` out)."""
    check_precision(config.precision)
    for name in ("channels_last", "compile"):
        value = getattr(config, name, False)
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")


def autocast(device: torch.device, precision: str, *, cache: bool = True) -> torch.autocast:
    """Mixed precision for a block of forward passes: bf16 matmuls and convolutions under ``"bf16"``.

    Weights, gradients and optimizer state stay float32 (autocast only casts the operands of each
    op), so a bf16 run resumes and samples exactly like an fp32 one. ``"fp32"``: a no-op.
    ``cache=False`` for a block that also steps an optimizer: autocast's cache of bf16 weight
    copies would otherwise serve the weights from before the step.
    """
    check_precision(precision)
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16", cache_enabled=cache)


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


def _float32(value: object) -> object:
    """Floating tensors (also inside tuples and lists) as float32; anything else unchanged."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() else value
    if isinstance(value, (tuple, list)):
        return type(value)(_float32(v) for v in value)
    return value


def prepare_modules(modules: dict[str, torch.nn.Module], config: object) -> None:
    """Put a train config's compute fields into effect on the modules, in place.

    - ``channels_last``: every 4-D weight in NHWC layout, so convolutions take the NHWC kernels
      (their outputs follow the weights' layout); checkpoints store plain contiguous tensors.
    - ``precision="bf16"``: each module's floating outputs are cast back to float32, so losses and
      metrics are computed and reduced in float32 (only the modules' insides run in bf16).
    - ``compile``: ``torch.compile`` of each module's forward (``nn.Module.compile``: names and
      state dicts unchanged; the first steps are slow while it compiles).

    Configs without these fields (a family of your own) get the defaults: fp32, NCHW, eager.
    """
    precision = getattr(config, "precision", "fp32")
    for module in modules.values():
        if getattr(config, "channels_last", False):
            module.to(memory_format=torch.channels_last)
        if precision != "fp32":
            module.register_forward_hook(lambda m, inputs, output: _float32(output))
        if getattr(config, "compile", False):
            module.compile()


def in_precision(step: Callable[[T], R], device: torch.device, precision: str) -> Callable[[T], R]:
    """``step`` (forward, backward and optimizer steps) run under :func:`autocast` without its weight cache."""
    if precision == "fp32":
        return step

    def step_in_precision(batch: T) -> R:
        with autocast(device, precision, cache=False):
            return step(batch)

    return step_in_precision
