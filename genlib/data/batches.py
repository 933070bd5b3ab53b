"""An in-memory batch iterator: a whole split as tensors on the training device.

For 28x28 images a DataLoader's per-sample Python work (``__getitem__``, collate) costs more than
a small model's forward pass on a CPU. Here an epoch is one random permutation and each batch is
one ``index_select`` per tensor, so batching costs next to nothing beside the model's compute.
The permutation of epoch ``e`` is a pure function of ``(seed, e)``, which lets training resume
mid-epoch exactly. Under data-parallel training (:mod:`genlib.distributed`) process ``r`` of ``R``
takes positions ``r, r + R, r + 2R, …`` of that same permutation: disjoint shards of equal length
(the last ``N mod R`` samples of an epoch are left out), so batch ``b`` of all processes together
is positions ``b*B*R .. (b+1)*B*R - 1``, one global batch of ``R * B``.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch import Tensor


class TensorBatches:
    """Shuffled mini-batches over tensors that share their first dimension.

    Args:
        tensors: e.g. ``(images [N,1,28,28], classes [N], styles [N])``, all on one device.
        batch_size: samples per batch, >= 1.
        shuffle: draw a new permutation each epoch (else batches are in order).
        drop_last: drop the final incomplete batch.
        seed: base seed of the per-epoch permutations.
        rank, ranks: this process's shard ``rank`` of ``ranks`` (data-parallel training; default: all samples).
    """

    def __init__(
        self,
        tensors: Sequence[Tensor],
        batch_size: int,
        *,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int = 0,
        rank: int = 0,
        ranks: int = 1,
    ) -> None:
        if not tensors:
            raise ValueError("TensorBatches needs at least one tensor")
        n = tensors[0].shape[0]
        if any(t.shape[0] != n for t in tensors):
            raise ValueError(f"all tensors must have the same first dimension, got {[t.shape[0] for t in tensors]}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if n == 0:
            raise ValueError("TensorBatches got empty tensors (0 samples)")
        if not 0 <= rank < ranks:
            raise ValueError(f"rank must be in 0..ranks-1, got rank={rank}, ranks={ranks}")
        if n < ranks:
            raise ValueError(f"{n} samples cannot be shared by {ranks} processes (at least one each)")
        self.tensors = tuple(tensors)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.rank, self.ranks = rank, ranks

    @property
    def n_samples(self) -> int:
        """Samples per epoch of this process (all of them unless sharded)."""
        return self.tensors[0].shape[0] // self.ranks

    def __len__(self) -> int:
        """Batches per epoch."""
        full, rest = divmod(self.n_samples, self.batch_size)
        return full if (self.drop_last or rest == 0) else full + 1

    def permutation(self, epoch: int) -> Tensor:
        """This process's sample order in ``epoch``, int64 ``[n_samples]`` on CPU: its shard of
        ``randperm(N)`` seeded by ``(seed, epoch)`` (the whole permutation unless sharded)."""
        n = self.tensors[0].shape[0]
        if not self.shuffle:
            order = torch.arange(n)
        else:
            g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            order = torch.randperm(n, generator=g)
        return order[self.rank : self.n_samples * self.ranks : self.ranks]

    def epoch(self, epoch: int = 0, start: int = 0) -> Iterator[tuple[Tensor, ...]]:
        """Yield the batches of ``epoch``, beginning with batch number ``start`` (for resuming)."""
        order = self.permutation(epoch).to(self.tensors[0].device)
        for b in range(start, len(self)):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            yield tuple(t.index_select(0, idx) for t in self.tensors)

    def __iter__(self) -> Iterator[tuple[Tensor, ...]]:
        return self.epoch(0)
