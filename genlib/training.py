"""The training loop that every model family shares.

A family supplies a *step function* — one optimisation step on one batch, returning its metrics —
and :func:`fit` does the rest: epochs over an in-memory :class:`~genlib.data.TensorBatches`, a tqdm
progress bar, per-epoch averages and wall time in a history, an optional validation pass,
NaN/inf detection, checkpoints through a ``save`` callback, a step budget, and exact resumption
from a :class:`TrainState` (epoch, batch, step, running sums; the RNG lives in the checkpoint).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from genlib.data.batches import TensorBatches

Metric = Tensor | float  # a 0-dim tensor (left on its device) or a Python number
StepFn = Callable[[tuple[Tensor, ...]], dict[str, Metric]]


def adam(module: nn.Module, lr: float, betas: tuple[float, float] = (0.9, 0.999)) -> torch.optim.Adam:
    """Adam over a module's parameters, fused into one kernel per step where torch has one (CPU, CUDA).

    The update is Adam's (Kingma & Ba 2015, Algorithm 1); fusing only saves the per-parameter
    Python and kernel-launch overhead — about 20 % of a step for the K49 report's small MLPs on a CPU.
    """
    params = list(module.parameters())
    fused = bool(params) and params[0].device.type in ("cpu", "cuda")
    return torch.optim.Adam(params, lr=lr, betas=betas, fused=fused)


def adam_state(optimizer: torch.optim.Adam, params: list[Tensor]) -> tuple[list[Tensor], list[Tensor], list[Tensor]]:
    """The optimizer's own ``(exp_avg, exp_avg_sq, step)`` tensors for ``params``, created as torch's
    Adam creates them on its first step (zeros; a float32 step count on the parameter's device), so
    :func:`adam_update` and ``optimizer.step()`` can take turns and the checkpoints look the same.

    Raises:
        ValueError: an Adam option :func:`adam_update` does not write out (weight decay, AMSGrad, maximize, several groups).
    """
    if len(optimizer.param_groups) != 1:
        raise ValueError(f"the written-out Adam covers one parameter group, got {len(optimizer.param_groups)}")
    group = optimizer.param_groups[0]
    for name, plain in (("weight_decay", 0), ("amsgrad", False), ("maximize", False)):
        if group.get(name, plain) != plain:
            raise ValueError(f"the written-out Adam covers one parameter group with {name}={plain!r}, got {group.get(name)!r}")
    for p in params:
        state = optimizer.state[p]
        if not state:
            state["step"] = torch.zeros((), dtype=torch.float32, device=p.device)
            state["exp_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
            state["exp_avg_sq"] = torch.zeros_like(p, memory_format=torch.preserve_format)
    states = [optimizer.state[p] for p in params]
    return [s["exp_avg"] for s in states], [s["exp_avg_sq"] for s in states], [s["step"] for s in states]


def adam_hyper(optimizer: torch.optim.Adam) -> tuple[float, float, float, float]:
    """``(lr, beta1, beta2, eps)`` of the optimizer's (single) parameter group."""
    group = optimizer.param_groups[0]
    return float(group["lr"]), float(group["betas"][0]), float(group["betas"][1]), float(group["eps"])


@torch.no_grad()
def adam_update(params: list[Tensor], grads: list[Tensor], exp_avgs: list[Tensor], exp_avg_sqs: list[Tensor], steps: list[Tensor],
                lr: float, beta1: float, beta2: float, eps: float) -> None:
    """One Adam step in place (Kingma & Ba 2015, Algorithm 1, in ``torch.optim.Adam``'s form), on the
    state of :func:`adam_state`. Compiled into a written-out training step
    (:mod:`genlib.models.manual_backward`) it runs in the same loops that compute the gradients.
    """
    for p, g, m, v, t in zip(params, grads, exp_avgs, exp_avg_sqs, steps):
        t.add_(1)
        m.lerp_(g, 1 - beta1)  # m = b1 m + (1 - b1) g
        v.mul_(beta2).addcmul_(g, g, value=1 - beta2)  # v = b2 v + (1 - b2) g^2
        denom = v.sqrt() / (1 - beta2**t).sqrt() + eps  # sqrt(v / (1 - b2^t)) + eps
        p.sub_(lr / (1 - beta1**t) * m / denom)  # p -= lr / (1 - b1^t) * m / denom


def linear_decay(progress: float, start: float, end: float) -> float:
    """Learning-rate factor in [0, 1]: 1 until epoch ``start``, then falling linearly to 0 at epoch ``end``.

    ``progress`` counts epochs, fractions included (epoch + batch / batches per epoch); ``start = 0``
    means no decay (factor 1 throughout).
    """
    if start <= 0 or progress <= start:
        return 1.0
    return max(0.0, 1.0 - (progress - start) / max(end - start, 1e-12))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Set every parameter group's learning rate to ``lr``."""
    for group in optimizer.param_groups:
        group["lr"] = lr


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the last good checkpoint (if any) is left untouched."""


@dataclass
class TrainState:
    """Everything about a run's progress that a checkpoint must carry to resume exactly."""

    epoch: int = 0  # finished epochs
    batch: int = 0  # finished batches of the current epoch
    step: int = 0  # finished steps (batches) in total
    images_seen: int = 0  # real images consumed so far
    seconds: float = 0.0  # wall time spent in fit() so far
    epoch_seconds: float = 0.0  # wall time of the current, unfinished epoch
    running: dict[str, float] = field(default_factory=dict)  # metric sums of the current epoch
    history: list[dict[str, float]] = field(default_factory=list)  # one row per finished epoch
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific progress (JSON-able)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainState":
        return cls(**d)


def _check_finite(metrics: dict[str, float], state: TrainState, since: int | None = None) -> None:
    """Raise :class:`TrainingDiverged` if a metric (or a running sum of one) is NaN or infinite."""
    bad = {k: v for k, v in metrics.items() if not math.isfinite(v)}
    if bad:
        where = f"step {state.step}" if since is None or since >= state.step - 1 else f"steps {since + 1}-{state.step}"
        raise TrainingDiverged(
            f"training diverged at epoch {state.epoch + 1}, {where}: {bad}. "
            "The last saved checkpoint is kept; lower the learning rate or try another seed."
        )


class RunningSums:
    """The epoch's metric sums, kept where the metrics are (the GPU, say) so a step never waits for the host.

    ``add`` is one float64 addition per metric on the metric's device; ``read`` is the one host
    sync, done every ``sync_every`` steps, at saves and at the epoch's end. Float64 sums of the
    same per-step values in the same order: the sums are bit-identical however often they are read,
    so a resumed run's history equals an uninterrupted run's.
    """

    def __init__(self, start: dict[str, float]):
        self.sums: dict[str, Tensor] = {k: torch.tensor(v, dtype=torch.float64) for k, v in start.items()}

    def add(self, metrics: dict[str, Metric]) -> None:
        for k, v in metrics.items():
            v = torch.as_tensor(v).detach().to(torch.float64)  # float32 → float64 is exact
            s = self.sums.get(k)
            self.sums[k] = v if s is None else s.to(v.device) + v

    def read(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.sums.items()}


def fit(
    step_fn: StepFn,
    batches: TensorBatches,
    state: TrainState,
    epochs: int,
    *,
    max_steps: int | None = None,
    evaluate: Callable[[], dict[str, float]] | None = None,
    save: Callable[[TrainState], None] | None = None,
    save_every: int = 0,
    callback: Callable[[TrainState], None] | None = None,
    progress: bool = True,
    desc: str = "train",
    combine: Callable[[dict[str, float]], dict[str, float]] | None = None,
    sync_every: int = 25,
) -> TrainState:
    """Train until ``epochs`` epochs are done (or ``max_steps`` steps), resuming from ``state``.

    Args:
        step_fn: ``batch -> {metric: 0-dim tensor or float}``; does forward, backward and the
            optimizer step(s). Tensors stay on their device: no step waits for the host.
        batches: the training split; ``batches.epoch(e, start)`` gives epoch ``e`` from batch ``start``.
        state: progress so far (a fresh ``TrainState()`` to start); updated in place and returned.
        epochs: total epochs to reach (not additional epochs).
        max_steps: stop once ``state.step`` reaches this (a budget for tests, demos and resuming).
        evaluate: called after each epoch; its metrics join the history row (e.g. ``val_loss``).
        save: called with the state at every checkpoint point (epoch ends, every ``save_every``
            steps, and when stopping at ``max_steps``) — after the finiteness check.
        callback: called after each finished epoch (e.g. a live plot).
        progress: show a tqdm bar (notebook-aware).
        combine: maps the epoch's running metric sums to their mean over the training processes
            (:func:`genlib.distributed.mean_over_processes`), before each save and at each epoch end.
        sync_every: read the metric sums on the host (NaN check, progress bar) every this many
            steps, and at every save and epoch end; a NaN is caught at most this many steps late,
            and never saved.
    Returns:
        ``state``, whose ``history`` has one row per epoch: mean step metrics, evaluation metrics,
        ``epoch`` (1-based) and ``seconds``.
    Raises:
        TrainingDiverged: a metric became NaN or infinite.
    """
    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if max_steps is not None and max_steps < 0:
        raise ValueError(f"max_steps must be >= 0 or None, got {max_steps}")
    if sync_every < 1:
        raise ValueError(f"sync_every must be >= 1, got {sync_every}")
    while state.epoch < epochs:
        if max_steps is not None and state.step >= max_steps:
            break
        bar = tqdm(total=len(batches), initial=state.batch, desc=f"{desc} {state.epoch + 1}/{epochs}", disable=not progress, leave=False)
        sums, synced = RunningSums(state.running), state.step

        def sync() -> None:  # the host reads the sums: one wait per sync_every steps
            nonlocal synced
            state.running = sums.read()
            _check_finite(state.running, state, since=synced)
            synced = state.step
            bar.set_postfix({k: f"{v / max(state.batch, 1):.4g}" for k, v in state.running.items()}, refresh=False)

        tic = time.perf_counter()
        for batch in batches.epoch(state.epoch, start=state.batch):
            sums.add(step_fn(batch))
            state.batch += 1
            state.step += 1
            state.images_seen += batch[0].shape[0] * batches.ranks  # every process's shard holds as many
            bar.update(1)
            stop = max_steps is not None and state.step >= max_steps
            saving = save is not None and state.batch < len(batches) and (stop or (save_every and state.step % save_every == 0))
            if saving or state.step - synced >= sync_every:
                sync()
            if stop or (save_every and state.step % save_every == 0):
                toc = time.perf_counter()
                state.epoch_seconds += toc - tic
                state.seconds += toc - tic
                tic = toc
                if saving:
                    if combine is not None:
                        state.running = combine(state.running)
                        sums = RunningSums(state.running)
                    save(state)
            if stop and state.batch < len(batches):
                sync()
                bar.close()
                return state
        sync()
        bar.close()
        toc = time.perf_counter()
        state.epoch_seconds += toc - tic
        state.seconds += toc - tic
        if combine is not None:
            state.running = combine(state.running)
        row = {"epoch": state.epoch + 1, **{k: v / max(state.batch, 1) for k, v in state.running.items()}}
        if evaluate is not None:
            eval_metrics = {k: float(v) for k, v in evaluate().items()}
            _check_finite(eval_metrics, state)
            row.update(eval_metrics)
        row["seconds"] = state.epoch_seconds
        state.history.append(row)
        state.epoch += 1
        state.batch, state.running, state.epoch_seconds = 0, {}, 0.0
        if save is not None:
            save(state)
        if callback is not None:
            callback(state)
    return state


@dataclass
class TrainResult:
    """What a family's ``train`` returns: the trained modules, the final state and the checkpoint path."""

    modules: dict[str, Any]  # e.g. {"model": vae} or {"generator": G, "discriminator": D}
    state: TrainState
    checkpoint: Any = None  # Path of the last checkpoint written, or None

    @property
    def history(self) -> list[dict[str, float]]:
        return self.state.history


def ema_decay_at(decay: float, step: int) -> float:
    """Warm-up of the EMA decay: ``min(decay, (1 + t) / (10 + t))`` after ``t`` updates, so the
    average forgets the random initial weights quickly (as TensorFlow's ``ExponentialMovingAverage``)."""
    return min(decay, (1 + step) / (10 + step))


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float) -> None:
    """``theta_ema <- decay * theta_ema + (1 - decay) * theta`` for every parameter; buffers are copied."""
    for e, p in zip(ema.parameters(), model.parameters()):
        e.lerp_(p, 1.0 - decay)
    for e, b in zip(ema.buffers(), model.buffers()):
        e.copy_(b)
