"""Every checkpoint shipped in ``data/`` loads and samples as it did when it was made.

``tests/data/shipped_samples.npz`` holds, for each shipped file, four seeded samples (a classifier:
its logits on four fixed images), recorded with ``python tests/test_shipped.py``. A refactor of the
model, loading or sampling code that changed what a shipped model draws fails here. Values are
compared with a tolerance: float rounding differs between CPUs (AVX2, AVX-512) by about 1e-6.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from genlib import families

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "shipped_samples.npz"
SHIPPED = sorted((ROOT / "data").glob("*.safetensors"))


def reference_output(path: Path) -> np.ndarray:
    """Four seeded samples ``[4, C, H, W]`` in [0, 1] of the model in ``path`` (a classifier: logits ``[4, K]``)."""
    run = families.load(path)
    n_classes, n_styles = run.model_config.n_classes, len(run.style_names)
    classes = torch.tensor([0, 1, n_classes - 1, n_classes // 2])
    styles = torch.tensor([0, n_styles - 1, 0, n_styles - 1])
    if run.family.sample is None:
        images = torch.Generator().manual_seed(0)
        x = torch.rand(4, 1, 28, 28, generator=images)
        with torch.no_grad():
            return run.model(x).numpy()
    return run.sample(classes, styles, seed=7).numpy()


def test_every_shipped_checkpoint_has_a_reference() -> None:
    stored = set(np.load(REFERENCE).files)
    assert {p.stem for p in SHIPPED} <= stored, f"no reference for {sorted({p.stem for p in SHIPPED} - stored)}: run python tests/test_shipped.py"


def test_every_file_in_data_carries_the_payload_hash(tmp_path) -> None:
    """A flipped byte in any shipped weight is refused on load, not sampled from."""
    from safetensors import safe_open

    from genlib.checkpoint import HASH_KEY, CheckpointError, load_checkpoint

    files = sorted((ROOT / "data").rglob("*.safetensors"))
    assert len(files) > len(SHIPPED)  # the experiment folders' models too
    for path in files:
        with safe_open(str(path), framework="pt") as f:
            assert HASH_KEY in (f.metadata() or {}), f"{path.relative_to(ROOT)} has no {HASH_KEY}: damage would go unnoticed"
    damaged = tmp_path / "damaged.safetensors"
    data = bytearray(SHIPPED[0].read_bytes())
    data[-5] ^= 0x01  # a bit of the last tensor's last bytes
    damaged.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="do not match the stored hash"):
        load_checkpoint(damaged)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_checkpoint_samples_as_recorded(path: Path) -> None:
    expected = np.load(REFERENCE)[path.stem]
    got = reference_output(path)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=1e-4)


if __name__ == "__main__":  # record the references (only after a deliberate change of a shipped model)
    outputs = {p.stem: reference_output(p) for p in SHIPPED}
    with open(REFERENCE, "wb") as f:
        np.savez_compressed(f, **outputs)
    print(f"wrote {REFERENCE} ({len(outputs)} checkpoints)", file=sys.stderr)
