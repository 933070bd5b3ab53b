"""Data-parallel training (``genlib.distributed``): gloo, two CPU processes, a few steps.

- Shards: the processes' shards of an epoch are disjoint, equally long, and batch ``b`` of all of
  them together is one contiguous global batch of the shared permutation.
- Two processes with batch B train a (dropout-free, hence deterministic) classifier to the same
  weights and history as one process with batch 2B: gradients and metrics are averaged.
- Two processes stopped after 3 steps and resumed end exactly where an uninterrupted two-process
  run ends (a CVAE with batch norm: per-process noise, RNG states and buffers in the checkpoint).
- The written-out backward pass (``backward="manual"``) is averaged over the processes as autograd's is.
- ``torchrun --nproc-per-node 1 -m genlib train …`` writes the very file a plain run writes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from genlib.checkpoint import load_checkpoint
from genlib.cli import main
from genlib.data import TensorBatches
from genlib.distributed import world_from_env
from genlib.models import classifier_train, cvae_train
from genlib.models.classifier import ClassifierConfig
from genlib.models.cvae import CVAEConfig

pytestmark = pytest.mark.skipif(sys.platform != "linux" or not torch.distributed.is_gloo_available(), reason="needs fork and gloo")

CLASSIFIER = ClassifierConfig(n_classes=49, channels=4, feature_dim=16, dropout=0.0)
CVAE = CVAEConfig(arch="deep", hidden_dim=16)
MLP_CVAE = CVAEConfig(hidden_dim=16)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_shards_are_disjoint_and_make_contiguous_global_batches() -> None:
    x = torch.arange(23)
    shards = [TensorBatches((x,), 3, seed=5, rank=r, ranks=3) for r in range(3)]
    perm = TensorBatches((x,), 3, seed=5).permutation(4)
    assert [len(s) for s in shards] == [3, 3, 3] and all(s.n_samples == 7 for s in shards)  # 23 // 3; the last 2 left out
    epochs = [[b[0] for b in s.epoch(4)] for s in shards]
    for b in range(3):
        together = torch.cat([epochs[r][b] for r in range(3)])
        assert sorted(together.tolist()) == sorted(perm[9 * b : min(9 * (b + 1), 21)].tolist())  # the last one is short
    everything = torch.cat([t for e in epochs for t in e])
    assert len(set(everything.tolist())) == 21
    with pytest.raises(ValueError, match="rank must be in 0..ranks-1, got rank=2, ranks=2"):
        TensorBatches((x,), 3, rank=2, ranks=2)


def test_torchrun_environment_is_read_and_checked() -> None:
    assert world_from_env({}) is None
    world = world_from_env({"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1"})
    assert (world.rank, world.size, world.local_rank, world.is_main) == (1, 2, 1, False)
    with pytest.raises(ValueError, match="0 <= RANK < WORLD_SIZE.*RANK=2, WORLD_SIZE=2"):
        world_from_env({"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})
    with pytest.raises(ValueError, match="must be integers.*RANK='x'"):
        world_from_env({"RANK": "x", "WORLD_SIZE": "2", "LOCAL_RANK": "0"})


def _worker(rank: int, ports: list[int], folder: Path, data) -> None:
    """One of two processes: the three runs the test compares, each in its own process group."""
    os.environ.update(RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1")
    torch.set_num_threads(1)
    runs = [
        (classifier_train.FAMILY, CLASSIFIER, classifier_train.ClassifierTrainConfig(epochs=2, batch_size=14, device="cpu"), {}, "classifier"),
        (cvae_train.FAMILY, CVAE, cvae_train.CVAETrainConfig(epochs=2, batch_size=14, device="cpu"), {}, "cvae_full"),
        (cvae_train.FAMILY, CVAE, cvae_train.CVAETrainConfig(epochs=2, batch_size=14, device="cpu"), {"max_steps": 3}, "cvae_part"),
        (cvae_train.FAMILY, CVAE, cvae_train.CVAETrainConfig(epochs=2, batch_size=14, device="cpu"), {"resume": folder / "cvae_part.safetensors"}, "cvae_part"),
        *((cvae_train.FAMILY, MLP_CVAE, cvae_train.CVAETrainConfig(epochs=2, batch_size=14, device="cpu", backward=b), {}, f"mlp_{b}")
          for b in ("autograd", "manual")),
    ]
    for port, (family, mc, tc, options, name) in zip(ports, runs):
        os.environ["MASTER_PORT"] = str(port)
        family.train(mc, tc, data=data, out=folder / f"{name}.safetensors", progress=False, **options)


def run_two_processes(folder: Path, data) -> None:
    context = mp.start_processes(_worker, args=([free_port() for _ in range(6)], folder, data), nprocs=2, start_method="fork", join=False)
    deadline = time.monotonic() + 120
    while not context.join(timeout=1):
        if time.monotonic() > deadline:
            for p in context.processes:
                p.kill()
            pytest.fail("the two training processes did not finish within 120 s")


def weights(path: Path) -> dict[str, torch.Tensor]:
    ckpt = load_checkpoint(path)
    return {f"{m}/{k}": v for m, d in ckpt.modules.items() for k, v in d.items()}


def test_two_processes_average_gradients_and_resume_exactly(tmp_path, tiny_data) -> None:
    run_two_processes(tmp_path, tiny_data)
    # (1) 2 processes x batch 14 == 1 process x batch 28: the same global batches, mean gradients
    two = load_checkpoint(tmp_path / "classifier.safetensors")
    one = classifier_train.train(CLASSIFIER, classifier_train.ClassifierTrainConfig(epochs=2, batch_size=28, device="cpu"),
                                 data=tiny_data, out=tmp_path / "one.safetensors", progress=False)
    assert two.state["step"] == one.state.step == 2 * len(tiny_data.train) // 28 and two.state["images_seen"] == one.state.images_seen
    assert two.extra["processes"] == 2
    assert "rank1/torch" in two.rng and not torch.equal(two.rng["rank1/torch"], two.rng["torch"])  # each process has its own noise
    w_two, w_one = weights(tmp_path / "classifier.safetensors"), weights(tmp_path / "one.safetensors")
    for k in w_one:
        torch.testing.assert_close(w_two[k], w_one[k], rtol=1e-4, atol=1e-5, msg=k)
    for row_two, row_one in zip(two.state["history"], one.history):
        for k in ("loss", "accuracy", "val_loss"):
            assert row_two[k] == pytest.approx(row_one[k], rel=1e-4, abs=1e-6), k
    # (2) stopped after 3 steps and resumed: exactly the uninterrupted run
    full, resumed = load_checkpoint(tmp_path / "cvae_full.safetensors"), load_checkpoint(tmp_path / "cvae_part.safetensors")
    assert resumed.state["step"] == full.state["step"] == 2 * len(TensorBatches((tiny_data.train.classes,), 14, rank=1, ranks=2))
    for k, v in weights(tmp_path / "cvae_full.safetensors").items():
        assert torch.equal(v, weights(tmp_path / "cvae_part.safetensors")[k]), k
    for row_full, row_resumed in zip(full.state["history"], resumed.state["history"]):
        for k in ("loss", "kl", "val_loss"):
            assert row_resumed[k] == pytest.approx(row_full[k], rel=1e-9), k
    # (3) the written-out gradients are averaged too: the same run as autograd's, to rounding
    auto, manual = weights(tmp_path / "mlp_autograd.safetensors"), weights(tmp_path / "mlp_manual.safetensors")
    for k in auto:
        torch.testing.assert_close(manual[k], auto[k], rtol=1e-3, atol=1e-4, msg=k)


def test_torchrun_one_process_equals_a_plain_run(tmp_path, monkeypatch) -> None:
    flags = ["train", "cvae", "--limit", "490", "--batch-size", "50", "--hidden-dim", "16", "--max-steps", "4", "--epochs", "1",
             "--device", "cpu", "--no-progress", "--threads", "1"]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1]), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "1", "-m", "genlib"]
    done = subprocess.run([*command, *flags, "--out", str(tmp_path / "torchrun.safetensors")], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "wrote" in done.stdout
    monkeypatch.chdir(tmp_path)
    assert main([*flags, "--out", "plain.safetensors"]) == 0
    a, b = load_checkpoint(tmp_path / "torchrun.safetensors"), load_checkpoint(tmp_path / "plain.safetensors")
    assert a.extra == b.extra and a.state["step"] == b.state["step"] == 4
    for k, v in weights(tmp_path / "plain.safetensors").items():
        assert torch.equal(v, weights(tmp_path / "torchrun.safetensors")[k]), k
    assert torch.equal(a.rng["torch"], b.rng["torch"])
    for name in b.optimizers:
        assert all(torch.equal(x, y) for x, y in zip(_flat(a.optimizers[name]), _flat(b.optimizers[name])))


def _flat(state: dict) -> list[torch.Tensor]:
    return [v for per in state["state"].values() for v in per.values() if isinstance(v, torch.Tensor)]
