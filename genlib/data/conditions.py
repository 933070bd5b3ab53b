"""What a model is conditioned on besides the class: the *condition* and its style codes.

Every family takes two label tensors, ``classes [B]`` and ``styles [B]``. The condition says what
the style code means. It is built from binary factors, lowest bit first::

    condition          factors                 style codes (n_styles)
    "class"            —                       0 "any"                     (1: class only, the StyleGAN report's cGAN)
    "thickness"        thickness               0 thin, 1 thick            (2: the K49 report's default)
    "slant"            slant                   0 upright, 1 slanted       (2)
    "thickness+slant"  thickness, slant        thick + 2 * slanted        (4)

Each factor comes from the per-class median rule of the K49 report (§3): foreground-pixel counts
for thickness, the moment slant for slant (:mod:`genlib.data.preprocess`).
"""

from __future__ import annotations

import itertools

import numpy as np
from torch import Tensor

from genlib.data.preprocess import SLANT_NAMES, STYLE_NAMES

FACTOR_NAMES: dict[str, tuple[str, str]] = {"thickness": STYLE_NAMES, "slant": SLANT_NAMES}
CONDITIONS: dict[str, tuple[str, ...]] = {
    "class": (),
    "thickness": ("thickness",),
    "slant": ("slant",),
    "thickness+slant": ("thickness", "slant"),
}


def condition_factors(condition: str) -> tuple[str, ...]:
    """The binary factors a condition encodes, lowest bit first; raises ValueError naming the allowed ones."""
    if condition not in CONDITIONS:
        raise ValueError(f"unknown condition {condition!r}: allowed {', '.join(CONDITIONS)}")
    return CONDITIONS[condition]


def style_names(condition: str = "thickness") -> tuple[str, ...]:
    """Names of the style codes, indexed by code: e.g. ``("thin, upright", "thick, upright", ...)``."""
    factors = condition_factors(condition)
    if not factors:
        return ("any",)
    combos = itertools.product(*(FACTOR_NAMES[f] for f in reversed(factors)))  # the highest bit varies slowest
    return tuple(", ".join(reversed(names)) for names in combos)


def style_code(bits: dict[str, np.ndarray], condition: str) -> np.ndarray:
    """One style code per image from its binary factors: ``sum_i bits[factor_i] * 2**i`` (int64 ``[N]``).

    ``bits`` maps each factor name to a 0/1 array ``[N]``; factors the condition does not use are ignored.
    """
    factors = condition_factors(condition)
    n = len(next(iter(bits.values())))
    code = np.zeros(n, np.int64)
    for i, factor in enumerate(factors):
        code += np.asarray(bits[factor], np.int64) << i
    return code


def style_factor(styles: Tensor, condition: str, factor: str) -> Tensor | None:
    """The 0/1 value of one factor in style codes ``[N]``, or None when the condition does not encode it."""
    factors = condition_factors(condition)
    if factor not in factors:
        return None
    return (styles >> factors.index(factor)) & 1
