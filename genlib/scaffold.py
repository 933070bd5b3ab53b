"""The model-family contract, in code, and the one scaffold that trains and loads every family.

A family is one :class:`Family` value: its two config dataclasses and a few functions that are
truly its own — which modules it builds, which optimizers, what one training step does, and how
it samples. Everything the families share is written once, here:

    train_family(family, model_config, train_config)          load_family(family, path)
      device, seed_everything(seed)                              load_checkpoint (hash-verified)
      run.data = family.prepare(...)   label counts checked      config_from_dict(model, train)
      modules = family.build(...)      optimizers(...)           modules = family.build(...)
      resume: modules, optimizers, RNG, TrainState               restore the modules the file holds
      batches = TensorBatches(family.tensors(run))               Loaded(model = first of family.sampler)
      fit(family.step(run), batches, save=checkpoint closure)
      -> TrainResult(modules, state, checkpoint)

Adding a family is one model file and one ``Family(...)`` value passed to
:func:`genlib.families.register` (the families genlib ships are registered in :mod:`genlib.families`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from genlib.checkpoint import CheckpointError, load_checkpoint, restore_modules, restore_optimizers, restore_rng, save_checkpoint
from genlib.config import config_from_dict
from genlib.data.batches import TensorBatches
from genlib.data.conditions import style_names
from genlib.data import datasets
from genlib.data.datasets import DataConfig, PreparedData, class_names_of
from genlib.distributed import (
    SOLO, World, average_gradients, barrier, broadcast_modules, joined, main_first, mean_over_processes, other_ranks_rng, restore_rank_rng, seed_rank,
)
from genlib.runtime import autocast, get_device, in_precision, prepare_modules, seed_everything
from genlib.training import Metric, StepFn, TrainResult, TrainState, fit

Modules = dict[str, nn.Module]
Optimizers = dict[str, torch.optim.Optimizer]


@dataclass
class Run:
    """A training run as a family's functions see it (built by :func:`train_family`)."""

    model_config: Any
    train_config: Any
    modules: Modules  # by checkpoint name, e.g. {"generator": G, "discriminator": D, "ema": G_ema}
    optimizers: Optimizers  # by checkpoint name
    state: TrainState  # progress so far (restored when resuming)
    data: Any  # what Family.prepare returned: a PreparedData for the built-in datasets
    device: torch.device
    steps_per_epoch: int = 0  # this process's batches per epoch (set once the batches are built)


def check_label_counts(model_config: Any, data: PreparedData) -> None:
    """Raise a clear error when the model's class or style count differs from the dataset's."""
    if data.n_classes != model_config.n_classes:
        raise ValueError(f"the model has n_classes={model_config.n_classes} but dataset {data.config.dataset!r} has {data.n_classes} classes")
    n_styles = getattr(model_config, "n_styles", None)
    if n_styles is not None and n_styles != data.n_styles:
        raise ValueError(
            f"the model has n_styles={n_styles} but the data's condition {data.config.condition!r} gives {data.n_styles} "
            f"style codes ({' | '.join(data.style_names)}): set n_styles={data.n_styles} (--n-styles {data.n_styles})"
        )


def check_run_length(train_config: Any) -> None:
    """The checks every train config shares: ``epochs >= 0``, ``batch_size >= 1`` and a seed in 0..2**32-1 (one-line errors)."""
    for name, low in (("epochs", 0), ("batch_size", 1), ("seed", 0)):
        value = getattr(train_config, name)
        if not isinstance(value, int) or isinstance(value, bool) or value < low or (name == "seed" and value >= 2**32):
            allowed = "0..2**32-1" if name == "seed" else f">= {low}"
            raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")


def prepare_labelled(model_config: Any, train_config: Any, data: PreparedData | None) -> PreparedData:
    """The default ``Family.prepare``: ``data`` or ``prepare_dataset(train_config.data)``, label counts checked."""
    data = data if data is not None else datasets.prepare_dataset(train_config.data)  # looked up at call time
    check_label_counts(model_config, data)
    return data


def labelled_tensors(run: Run) -> tuple[Tensor, ...]:
    """The default ``Family.tensors``: ``(images [N, C, H, W] in [0, 1], classes [N], styles [N])`` of the training split."""
    return run.data.train.images, run.data.train.classes, run.data.train.styles


def keep_all(names: frozenset[str]) -> tuple[str, ...] | None:
    """The default ``Family.slim``: a slim file keeps every module (only optimizers and RNG go)."""
    return None


@dataclass(frozen=True)
class Family:
    """One model family: what genlib needs to train, save, load and sample it.

    Attributes:
        name: the family's one name (``genlib train NAME``, the checkpoint's ``family`` field).
        description: one line for ``genlib train --help``.
        model_config, train_config: the config dataclasses (every field is a CLI flag); the train
            config has ``data``, ``epochs``, ``batch_size``, ``seed`` and ``device``.
        build: ``(model_config, train_config) -> modules``, fresh and on the CPU, by checkpoint name.
        optimizers: ``(modules, train_config) -> optimizers``, by checkpoint name.
        step: ``run -> step_fn``; ``step_fn(batch) -> {metric: 0-dim tensor or float}`` does one optimisation step.
        sampler: module names in order of preference; the first one present samples (``Loaded.model``).
        sample: ``(model, classes [N], styles [N], *, seed, **options) -> images [N, C, H, W] in [0, 1]``;
            None for a family that does not generate (the classifier).
        prepare: ``(model_config, train_config, data | None) -> run.data`` (default: the prepared
            dataset, label counts checked).
        tensors: ``run -> tensors`` batched for training (default: images, classes, styles).
        drop_last: drop the last, short batch of each epoch.
        evaluate: ``run -> {metric: float}`` after each epoch (e.g. validation loss), or None.
        before_fit, after_epoch: ``run -> None`` hooks (e.g. snapshot figures), or None.
        finish: ``run -> {metric: float}`` once, at the end of the last epoch and before its checkpoint
            is written (e.g. fitting a CVAE's mixture prior); its metrics join that epoch's row. None: nothing.
        checkpoint_extra: ``run -> JSON dict`` stored in every checkpoint (computed once per run), or None.
        slim: ``module names -> the names a slim file keeps`` (None: all).
        suite_columns: ``(model, test split, seed) -> {column: float}``: what the metric suite adds to a
            checkpoint's row beyond the samples (the CVAE's test -ELBO and MSE), or None.
    """

    name: str
    description: str
    model_config: type
    train_config: type
    build: Callable[[Any, Any], Modules]
    optimizers: Callable[[Modules, Any], Optimizers]
    step: Callable[[Run], StepFn]
    sampler: tuple[str, ...] = ("model",)
    sample: Callable[..., Tensor] | None = None
    prepare: Callable[[Any, Any, Any], Any] = prepare_labelled
    tensors: Callable[[Run], tuple[Tensor, ...]] = labelled_tensors
    drop_last: bool = False
    evaluate: Callable[[Run], dict[str, float]] | None = None
    before_fit: Callable[[Run], None] | None = None
    after_epoch: Callable[[Run], None] | None = None
    finish: Callable[[Run], dict[str, float]] | None = None
    checkpoint_extra: Callable[[Run], dict[str, Any]] | None = None
    slim: Callable[[frozenset[str]], tuple[str, ...] | None] = keep_all
    suite_columns: Callable[[nn.Module, Any, int], dict[str, float]] | None = None

    def train(self, model_config: Any, train_config: Any | None = None, **options: Any) -> TrainResult:
        """:func:`train_family` for this family (``train_config`` defaults to the family's defaults)."""
        return train_family(self, model_config, train_config if train_config is not None else self.train_config(), **options)

    def load(self, path: str | Path, device: str = "cpu") -> "Loaded":
        """:func:`load_family` for this family."""
        return load_family(self, path, device)

    def slim_modules(self, names: Any) -> tuple[str, ...]:
        """The modules a slim copy keeps, out of ``names``."""
        keep = self.slim(frozenset(names))
        return tuple(sorted(names)) if keep is None else tuple(n for n in keep if n in names)


def resume_state(path: str | Path, family: str, modules: Modules, optimizers: Optimizers, world: World = SOLO) -> TrainState:
    """Restore modules, optimizers and RNG from a full checkpoint of ``family`` and return its :class:`TrainState`.

    Under data-parallel training each process restores its own RNG state (process 0's is ``rng/torch``).

    Raises:
        genlib.checkpoint.CheckpointError: wrong family, a slim checkpoint without optimizer state, or
            a mid-epoch checkpoint of a run with another number of processes.
    """
    ckpt = load_checkpoint(path)
    if ckpt.family != family:
        raise CheckpointError(f"{path} is a {ckpt.family!r} checkpoint; cannot resume it as {family!r}")
    state = TrainState.from_dict(ckpt.state)
    processes = ckpt.extra.get("processes", 1)
    if processes != world.size and state.batch > 0:
        raise CheckpointError(f"{path} stopped mid-epoch in a run of {processes} process(es): resume it with "
                              f"torchrun --nproc-per-node {processes} (this run has {world.size}), or from an epoch end")
    restore_modules(ckpt, modules)
    restore_optimizers(ckpt, optimizers)
    if world.is_main:
        restore_rng(ckpt.rng)
    else:
        restore_rank_rng(world, ckpt.rng)  # none stored (a run of fewer processes): it keeps its fresh stream
    return state


def train_family(
    family: Family,
    model_config: Any,
    train_config: Any,
    *,
    data: PreparedData | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    max_steps: int | None = None,
    save_every: int = 0,
    slim: bool = False,
    progress: bool = True,
    callback: Callable[[TrainState], None] | None = None,
) -> TrainResult:
    """Train a model of ``family``; write a checkpoint to ``out`` at each epoch end (and every ``save_every`` steps).

    Under ``torchrun`` (:mod:`genlib.distributed`) every process runs this; each trains on its shard
    of the data with gradients averaged over the processes, and process 0 alone writes ``out`` and
    runs the family's ``before_fit``/``after_epoch`` hooks.

    Args:
        data: a prepared dataset (default: ``prepare_dataset(train_config.data)``).
        resume: a full checkpoint of an earlier run with the same configs; training continues exactly
            (weights, optimizer moments, RNG, batch order and running sums).
        max_steps: stop after this many optimisation steps in total.
        slim: save only what ``family.slim`` keeps, without optimizers (such a file cannot resume).
        callback: called with the state after each finished epoch.
    Returns:
        :class:`~genlib.training.TrainResult`: the modules (in eval mode), the final state and history.
    Raises:
        ValueError: the model's label counts differ from the data's.
        genlib.training.TrainingDiverged: a metric became NaN/inf (the last checkpoint is kept).
    """
    with joined(get_device(train_config.device)) as (world, device):
        return _train(family, model_config, train_config, world, device, data=data, out=out, resume=resume, max_steps=max_steps,
                      save_every=save_every, slim=slim, progress=progress, callback=callback)


def _train(family: Family, model_config: Any, train_config: Any, world: World, device: torch.device, *, data: PreparedData | None,
           out: str | Path | None, resume: str | Path | None, max_steps: int | None, save_every: int, slim: bool, progress: bool,
           callback: Callable[[TrainState], None] | None) -> TrainResult:
    seed_everything(train_config.seed)
    with main_first(world):  # process 0 builds and caches a dataset first, the others read it
        prepared = family.prepare(model_config, train_config, data)
    modules = {name: m.to(device) for name, m in family.build(model_config, train_config).items()}
    prepare_modules(modules, train_config)  # channels_last, float32 outputs under bf16, compile
    optimizers = family.optimizers(modules, train_config)
    seed_rank(world, train_config.seed)  # each process draws its own noise (process 0: the plain run's stream)
    state = resume_state(resume, family.name, modules, optimizers, world) if resume else TrainState()
    broadcast_modules(modules.values(), world)  # every process starts from process 0's weights, as DDP does
    for optimizer in optimizers.values():
        average_gradients(optimizer, world)
    run = Run(model_config, train_config, modules, optimizers, state, prepared, device)
    tensors = tuple(t.to(device) for t in family.tensors(run))
    batches = TensorBatches(tensors, train_config.batch_size, drop_last=family.drop_last, seed=train_config.seed,
                            rank=world.rank, ranks=world.size)
    run.steps_per_epoch = len(batches)
    kept = family.slim_modules(modules)
    extra = family.checkpoint_extra(run) if family.checkpoint_extra else None  # once: it describes the data, not the step
    if world.size > 1:
        extra = {**(extra or {}), "processes": world.size}

    def save(st: TrainState) -> None:
        more_rng = other_ranks_rng(world)  # every process takes part; process 0 gets the others' states
        if world.is_main:
            save_checkpoint(
                out, family=family.name, model_config=model_config, train_config=train_config,
                modules={k: modules[k] for k in kept} if slim else modules, optimizers=None if slim else optimizers,
                state=st.to_dict(), include_rng=not slim, extra=extra, more_rng=None if slim else more_rng,
            )
        barrier(world)  # the others wait until the file is complete

    def after_epoch(st: TrainState) -> None:
        if family.after_epoch is not None and world.is_main:
            family.after_epoch(run)
        if callback is not None:
            callback(st)

    if family.before_fit is not None and world.is_main:
        family.before_fit(run)
    step = in_precision(family.step(run), device, getattr(train_config, "precision", "fp32"))
    if any(True for m in modules.values() for _ in m.buffers()) and world.active:
        step = _following_buffers(step, modules, world)

    def end_of_epoch() -> dict[str, float]:
        metrics = family.evaluate(run) if family.evaluate else {}
        if family.finish is not None and state.epoch + 1 == train_config.epochs:  # the last epoch, before its save
            metrics = {**metrics, **family.finish(run)}
        return metrics

    arch = getattr(model_config, "arch", None)
    fit(
        step, batches, state, train_config.epochs, max_steps=max_steps,
        evaluate=end_of_epoch if family.evaluate or family.finish else None, save=save if out else None,
        save_every=save_every, callback=after_epoch, progress=progress and world.is_main,
        desc=f"{family.name}-{arch}" if arch else family.name,
        combine=(lambda running: mean_over_processes(running, world)) if world.active else None,
    )
    for m in modules.values():
        m.eval()
    return TrainResult(modules, state, Path(out) if out else None)


def _following_buffers(step: StepFn, modules: Modules, world: World) -> StepFn:
    """``step``, after which every process takes process 0's buffers (batch-norm statistics, ``w_avg``), as DDP does."""

    def synced(batch: tuple[Tensor, ...]) -> dict[str, Metric]:
        metrics = step(batch)
        broadcast_modules(modules.values(), world, parameters=False)
        return metrics

    return synced


@dataclass
class Loaded:
    """A trained model of any family, rebuilt from its checkpoint, with what it was trained on.

    Attributes:
        family: the :class:`Family` that wrote the checkpoint.
        path: the checkpoint file.
        model: the module that samples (a GAN's EMA generator where it has one, the CVAE, the
            classifier), in eval mode.
        model_config, train_config: the family's config dataclasses, as stored.
        state: the :class:`~genlib.training.TrainState` (epochs, steps, history, wall time).
        modules: every module the family builds, by name; None where the file holds none (a slim
            file). Each is also an attribute: ``loaded.discriminator``.
        extra: what the family stored besides (e.g. a classifier's ``test_fingerprint``).
    """

    family: Family
    path: Path
    model: nn.Module
    model_config: Any
    train_config: Any
    state: TrainState
    modules: dict[str, nn.Module | None] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Any:  # only called for names Loaded itself does not have
        modules = self.__dict__.get("modules", {})
        if name in modules:
            return modules[name]
        raise AttributeError(f"a loaded {self.__dict__.get('family').name!r} model has no attribute or module {name!r}")

    @property
    def data_config(self) -> DataConfig:
        """The data the model was trained on (dataset, split, condition)."""
        return self.train_config.data

    @property
    def class_names(self) -> tuple[str, ...]:
        """What each class index means, e.g. kana for K49 and Kana-49, ``"0"``..``"9"`` for MNIST."""
        return class_names_of(self.data_config.dataset)[: self.model_config.n_classes]

    @property
    def style_names(self) -> tuple[str, ...]:
        """What each style code means for this model: ``("thin", "thick")``, ``("any",)`` for class only, ..."""
        return style_names(self.data_config.condition)

    @property
    def test_metrics(self) -> dict[str, float]:
        """The ``val_*`` metrics of the last finished epoch, without the prefix (empty if none)."""
        last = self.state.history[-1] if self.state.history else {}
        return {k[len("val_") :]: v for k, v in last.items() if k.startswith("val_")}

    def sample(self, classes: Tensor, styles: Tensor, *, seed: int = 0, precision: str = "fp32", **options: Any) -> Tensor:
        """Images for the labels, ``[N, C, H, W]`` float32 in [0, 1], seeded; ``options`` go to the family's
        sampler (e.g. ``temperature`` for a CVAE, ``psi`` for the StyleGAN, ``same_noise`` for the GANs).

        ``precision="bf16"`` runs the forward passes under bf16 autocast: about 1.9x faster for the conv
        cGAN on a CPU with bf16 kernels (``benchmarks/bench_sampling.py``); pixels differ from fp32's by
        at most ~0.05 and ~6e-4 on average, the metric suite's numbers by less than their seed noise.
        The noise is drawn as in fp32, so a seed picks the same samples.
        """
        if self.family.sample is None:
            raise ValueError(f"{self.path} is a {self.family.name!r} checkpoint: it classifies, it does not generate")
        device = next(self.model.parameters()).device
        with autocast(device, precision):
            return self.family.sample(self.model, classes, styles, seed=seed, **options).float()


def load_family(family: Family, path: str | Path, device: str = "cpu") -> Loaded:
    """Rebuild the model in a checkpoint of ``family`` (no pickle), every module in eval mode (and in
    the channels-last layout when the run trained in it).

    A slim file holds only some modules (``family.slim``); the others are None in ``Loaded.modules``.

    Raises:
        genlib.checkpoint.CheckpointError: the file is missing or corrupt, or holds none of the
            modules that sample.
        ValueError: the file holds a model of another family.
    """
    ckpt = load_checkpoint(path)
    if ckpt.family != family.name:
        raise ValueError(f"{path} holds a {ckpt.family!r} model, not a {family.name!r}")
    model_config = config_from_dict(family.model_config, ckpt.model_config)
    train_config = config_from_dict(family.train_config, ckpt.train_config)
    built = family.build(model_config, train_config)
    present = {name: m for name, m in built.items() if name in ckpt.modules}
    restore_modules(ckpt, present)
    dev = get_device(device)
    for m in present.values():
        m.to(dev).eval()
        if getattr(train_config, "channels_last", False):  # trained in NHWC: sample in NHWC too (same math, ~1.6x faster convs)
            m.to(memory_format=torch.channels_last)
    sampler = next((name for name in family.sampler if name in present), None)
    if sampler is None:
        raise CheckpointError(f"{path} holds none of the modules that sample ({', '.join(family.sampler)}): it holds {sorted(ckpt.modules)}")
    modules = {name: present.get(name) for name in built}
    return Loaded(family, Path(path), present[sampler], model_config, train_config, TrainState.from_dict(ckpt.state), modules, ckpt.extra)
