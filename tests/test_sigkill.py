"""SIGKILL at random moments while training: nothing but complete, verified checkpoints is ever
accepted, and the run resumed after 20 kills ends bit for bit where an uninterrupted run ends (CPU).

Each life of the run is a forked child (fast: torch is already imported) that trains or resumes
with a checkpoint every step; the parent kills it with SIGKILL after a random delay, then checks
every file the run left with the genlib loader.
"""

from __future__ import annotations

import os
import random
import signal
import sys
import time
from pathlib import Path

import pytest
import torch

from genlib.checkpoint import CheckpointError, load_checkpoint
from genlib.cli import main
from genlib.data import datasets

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform != "linux", reason="needs fork (Linux)")

EPOCHS = 400  # 4,000 steps, a checkpoint after each: about twice what 20 lives of at most 1.6 s get through
                # (without per-step host syncs a life trains ~100 steps; 2,000 steps could finish in 19 lives)
FLAGS = ["--limit", "490", "--batch-size", "50", "--hidden-dim", "16", "--no-progress", "--threads", "1"]
KILLS = 20


def life(argv: list[str]) -> int:
    """Fork a child that runs ``genlib`` with ``argv``; returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child: quiet, one thread, then train until killed
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            torch.set_num_threads(1)
            os._exit(main(argv))
        except BaseException:
            os._exit(3)
    return pid


def accepted(folder: Path) -> dict[str, dict]:
    """Every file in ``folder`` that genlib's loader accepts, with its train state."""
    found = {}
    for path in folder.iterdir():
        try:
            found[path.name] = load_checkpoint(path).state
        except (CheckpointError, ValueError, OSError):
            continue
    return found


def test_sigkill_twenty_times_then_resume_is_exact(tmp_path, monkeypatch) -> None:
    cache: dict = {}
    real = datasets.prepare_dataset

    def prepared(config=datasets.DataConfig(), root=None):  # prepared once, inherited by every child
        return cache.setdefault((config, root), real(config, root))

    monkeypatch.setattr(datasets, "prepare_dataset", prepared)
    monkeypatch.chdir(tmp_path)
    torch.set_num_threads(1)
    runs = tmp_path / "runs"
    assert main(["train", "cvae", "--epochs", str(EPOCHS), "--out", "straight/x.safetensors", *FLAGS]) == 0

    rng = random.Random(0)
    work, kills, progress = runs / "k.safetensors", 0, set()
    while kills < KILLS:
        if work.exists():
            argv = ["train", "--resume", str(work), "--epochs", str(EPOCHS), "--save-every", "1", "--no-progress", "--threads", "1"]
        else:
            argv = ["train", "cvae", "--epochs", str(EPOCHS), "--save-every", "1", "--out", str(work), *FLAGS]
        pid = life(argv)
        time.sleep(rng.uniform(0.5, 1.6))  # a life needs about 0.5 s to its first step
        os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        assert os.WIFSIGNALED(status) or os.WEXITSTATUS(status) == 0, f"a life failed with exit {os.WEXITSTATUS(status)}"
        kills += os.WIFSIGNALED(status)
        if runs.exists():
            ok = accepted(runs)
            assert set(ok) <= {work.name}, f"a loader accepted {sorted(ok)}"  # temp files are never taken
            if ok:
                progress.add(ok[work.name]["step"])
                if ok[work.name]["epoch"] >= EPOCHS:
                    break
    assert kills == KILLS, f"the run finished after {kills} kills"
    assert len(progress) >= 3, f"the run hardly moved between kills (steps {sorted(progress)})"

    if load_checkpoint(work).state["epoch"] < EPOCHS:
        assert main(["train", "--resume", str(work), "--epochs", str(EPOCHS), "--no-progress", "--threads", "1"]) == 0
    straight, resumed = load_checkpoint("straight/x.safetensors"), load_checkpoint(work)
    assert resumed.state["step"] == straight.state["step"]
    for key, tensor in straight.modules["model"].items():
        assert torch.equal(tensor, resumed.modules["model"][key]), key  # the same computation repeated: bitwise
    for key, value in straight.optimizers["optimizer"]["state"].items():
        for name, t in value.items():
            assert torch.equal(torch.as_tensor(t), torch.as_tensor(resumed.optimizers["optimizer"]["state"][key][name]))
