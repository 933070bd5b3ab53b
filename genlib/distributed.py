"""Data-parallel training over several processes (``torchrun``): one process per CPU socket or GPU.

``torchrun --nproc-per-node N -m genlib train …`` starts N copies of the same command with
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` set. :func:`joined` sees them and joins the process group
(gloo on CPU, nccl on CUDA, one GPU per process: ``cuda:LOCAL_RANK``). Every process then holds the
same weights and trains on its own shard of each epoch (``TensorBatches(rank=, ranks=)``: the same
global permutation, process ``r`` takes its positions ``r, r + N, …``), so one step sees
``N * batch_size`` images.

The math is DistributedDataParallel's: before every optimizer step the gradients are averaged over
the processes, ``g = (1/N) sum_r g_r`` (:func:`average_gradients`, an optimizer step pre-hook), and
the modules' buffers (batch-norm statistics, StyleGAN's ``w_avg``) follow process 0's after each
step, as DDP broadcasts them. It is done at the optimizer rather than by wrapping the modules in
``torch.nn.parallel.DistributedDataParallel``: that wrapper reduces only gradients made by a call of
the wrapped ``forward`` and by ``backward()``, while genlib's steps call submodules directly
(StyleGAN's ``G.mapping`` / ``G.synthesis``), take gradients with ``torch.autograd.grad`` (the
gradient and R1 penalties) and freeze D during the G step. Averaging at the optimizer is correct
for every family, unchanged. Each process draws its own noise (its RNG is seeded ``seed + 1_000_003 * rank``
after the shared initialisation) and process 0 writes the checkpoints, holding every process's RNG
state, so a resumed run continues exactly. With ``N = 1`` every collective is the identity, so a
run under ``torchrun --nproc-per-node 1`` equals a plain run.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Mapping

import torch
import torch.distributed as dist
from torch import Tensor, nn

ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK")  # what torchrun sets for every process it starts


@dataclass(frozen=True)
class World:
    """This process's place among the training processes (``rank`` in ``0..size-1``)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0  # the rank on this machine: which GPU a CUDA process uses

    @property
    def is_main(self) -> bool:
        """Process 0: the one that writes files and shows progress."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        """True inside a process group (even of one process); False for a plain run."""
        return dist.is_available() and dist.is_initialized()


SOLO = World()


def world_from_env(environ: Mapping[str, str] = os.environ) -> World | None:
    """The :class:`World` torchrun describes in ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``, or None outside torchrun.

    Raises:
        ValueError: the variables are set but not integers with ``0 <= RANK < WORLD_SIZE`` (one line).
    """
    if not all(name in environ for name in ENV):
        return None
    try:
        rank, size, local = (int(environ[name]) for name in ENV)
    except ValueError:
        raise ValueError("RANK, WORLD_SIZE and LOCAL_RANK must be integers, got " + ", ".join(f"{n}={environ[n]!r}" for n in ENV)) from None
    if not (size >= 1 and 0 <= rank < size and local >= 0):
        raise ValueError(f"torchrun environment must have 0 <= RANK < WORLD_SIZE and LOCAL_RANK >= 0, got RANK={rank}, WORLD_SIZE={size}, LOCAL_RANK={local}")
    return World(rank, size, local)


def is_main_process() -> bool:
    """True unless this is a process other than 0 of a torchrun (or an initialised process group)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    world = world_from_env()
    return world is None or world.is_main


@contextmanager
def joined(device: torch.device) -> Iterator[tuple[World, torch.device]]:
    """Run a block as one process of the group torchrun started; yields ``(world, device)``.

    Outside torchrun it yields ``(SOLO, device)``. A process group that the caller initialised is
    used as it is (and left open); one this function initialises (gloo on CPU, nccl on CUDA, from
    torchrun's ``MASTER_ADDR``/``MASTER_PORT``) is closed at the end. A CUDA process trains on
    ``cuda:LOCAL_RANK``.
    """
    env = world_from_env()
    if dist.is_available() and dist.is_initialized():
        local = env.local_rank if env else 0
        yield World(dist.get_rank(), dist.get_world_size(), local), _local_device(device, local)
        return
    if env is None:
        yield SOLO, device
        return
    device = _local_device(device, env.local_rank)
    if env.is_main:  # the rendezvous blocks until every process has joined: say so, in case none will
        print(f"genlib: waiting for {env.size} processes (RANK/WORLD_SIZE are set, as torchrun sets them; "
              "unset them to train in one process)", file=sys.stderr, flush=True)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=env.rank, world_size=env.size)
    try:
        yield env, device
    finally:
        dist.destroy_process_group()


def _local_device(device: torch.device, local_rank: int) -> torch.device:
    if device.type != "cuda":
        return device
    local = torch.device("cuda", local_rank)
    torch.cuda.set_device(local)
    return local


@contextmanager
def main_first(world: World) -> Iterator[None]:
    """Process 0 runs the block first (e.g. builds and caches a dataset), the others after it."""
    if world.active and not world.is_main:
        dist.barrier()
    yield
    if world.active and world.is_main:
        dist.barrier()


def barrier(world: World) -> None:
    """Wait until every process got here (a no-op for a plain run)."""
    if world.active:
        dist.barrier()


def _flat_apply(tensors: list[Tensor], collective) -> None:
    """Apply a collective to ``tensors`` as one flat buffer per dtype, then copy the result back."""
    by_dtype: dict[torch.dtype, list[Tensor]] = {}
    for t in tensors:
        by_dtype.setdefault(t.dtype, []).append(t)
    for group in by_dtype.values():
        flat = torch.cat([t.reshape(-1) for t in group])
        collective(flat)
        offset = 0
        for t in group:
            t.copy_(flat[offset : offset + t.numel()].view_as(t))
            offset += t.numel()


def broadcast_modules(modules: Iterable[nn.Module], world: World, *, parameters: bool = True) -> None:
    """Give every process process 0's parameters (if ``parameters``) and buffers (no-op for a plain run)."""
    if not world.active:
        return
    with torch.no_grad():
        tensors = [t for m in modules for t in ((*m.parameters(), *m.buffers()) if parameters else m.buffers())]
        if tensors:
            _flat_apply(tensors, lambda flat: dist.broadcast(flat, src=0))


def average_gradients(optimizer: torch.optim.Optimizer, world: World) -> None:
    """Before each ``optimizer.step()``, replace every gradient by its mean over the processes.

    Every process must hold gradients for the same parameters (the same step code runs everywhere).
    """
    if not world.active:
        return

    def mean(flat: Tensor) -> None:  # g = (1/N) sum_r g_r
        dist.all_reduce(flat)
        flat.div_(world.size)

    def hook(opt: torch.optim.Optimizer, args: object, kwargs: object) -> None:
        grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
        if grads:
            _flat_apply(grads, mean)

    optimizer.register_step_pre_hook(hook)


def mean_over_processes(values: dict[str, float], world: World) -> dict[str, float]:
    """``values`` averaged over the processes (every process passes the same keys); itself for a plain run."""
    if not world.active or not values:
        return values
    keys = sorted(values)
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: v / world.size for k, v in zip(keys, t.tolist())}


def rank_seed(seed: int, rank: int) -> int:
    """The RNG seed of process ``rank`` after the shared initialisation (process 0 keeps its stream)."""
    return (seed + 1_000_003 * rank) % 2**32


def _own_rng() -> dict[str, Tensor]:
    states = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def other_ranks_rng(world: World) -> dict[str, Tensor]:
    """On process 0: the RNG states of processes 1..N-1 as ``{"rank<r>/torch": …, "rank<r>/cuda": …}`` (every process calls it)."""
    if not world.active or world.size == 1:
        return {}
    gathered: list[dict[str, Tensor] | None] = [None] * world.size
    dist.all_gather_object(gathered, _own_rng())
    if not world.is_main:
        return {}
    return {f"rank{r}/{k}": v.cpu() for r, states in enumerate(gathered) if r > 0 for k, v in (states or {}).items()}


def seed_rank(world: World, seed: int) -> None:
    """Give a process other than 0 its own RNG stream, ``rank_seed(seed, rank)`` (process 0 keeps the plain run's)."""
    if world.rank > 0:
        torch.manual_seed(rank_seed(seed, world.rank))


def restore_rank_rng(world: World, saved: Mapping[str, Tensor]) -> bool:
    """Put back this process's RNG state from a checkpoint's ``rng/rank<r>/…`` tensors; False where it holds none."""
    own = {k.split("/", 1)[1]: v for k, v in saved.items() if k.startswith(f"rank{world.rank}/")}
    if "torch" not in own:
        return False
    torch.set_rng_state(own["torch"])
    if "cuda" in own and torch.cuda.is_available():
        torch.cuda.set_rng_state(own["cuda"])
    return True
