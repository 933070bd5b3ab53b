"""Interleaved throughput measurement: every variant runs a short window in turn, for many cycles.

On a shared machine a single long run measures the neighbours as much as the code. Here each cycle
runs every variant for a few steps, one after the other, and the ratio to the baseline is taken
within the cycle, so a slow moment slows both sides of a ratio. Printed: images/s (median over
cycles) and, per variant, the median ratio to the baseline with its spread (the 25th-75th
percentiles of the per-cycle ratios).

A variant is a ``run(steps) -> images`` function that continues its own training for ``steps``
steps; :func:`genlib_runner` makes one for genlib's loop (the family's step inside ``fit``).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any, Callable

import numpy as np
import torch

from genlib.data import DataConfig, PreparedData, TensorBatches, prepare_dataset
from genlib.runtime import in_precision, prepare_modules
from genlib.scaffold import Family, Run
from genlib.training import TrainState, fit

Runner = Callable[[int], int]
MLP_SETTINGS: list[dict[str, Any]] = [  # genlib's variants of the K49 report's MLPs: autograd, then the backward pass written out
    dict(precision="fp32"), dict(precision="fp32", compile=True), dict(precision="bf16"),
    dict(precision="fp32", backward="manual"), dict(precision="bf16", backward="manual"),
    dict(precision="fp32", backward="manual", compile=True), dict(precision="bf16", backward="manual", compile=True),
]


def training_parser(description: str, limit: int = 0) -> argparse.ArgumentParser:
    """The options every training benchmark takes: ``--dataset``, ``--limit``, ``--cycles``, ``--threads``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--dataset", default="kana49")
    parser.add_argument("--limit", type=int, default=limit, help=f"at most this many training images (0 = all; default {limit})")
    parser.add_argument("--cycles", type=int, default=15)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    return parser


def prepared_data(args: argparse.Namespace) -> PreparedData:
    """Set torch's threads from ``--threads`` (0: leave them) and prepare ``--dataset`` cut to ``--limit``."""
    if args.threads:
        torch.set_num_threads(args.threads)
    return prepare_dataset(DataConfig(dataset=args.dataset, limit=args.limit))


def genlib_runner(family: Family, model_config: Any, train_config: Any, data: Any, images_seen: int = 0) -> Runner:
    """genlib's training of ``family`` as :func:`~genlib.scaffold.train_family` sets it up (CPU, no checkpoints), by windows.

    ``images_seen`` starts the run as if that many images had been shown (a StyleGAN then trains at
    the resolution of that point of its growth schedule).
    """
    device = torch.device("cpu")
    modules = family.build(model_config, train_config)
    prepare_modules(modules, train_config)
    optimizers = family.optimizers(modules, train_config)
    state = TrainState(images_seen=images_seen)
    run = Run(model_config, train_config, modules, optimizers, state, family.prepare(model_config, train_config, data), device)
    batches = TensorBatches(family.tensors(run), train_config.batch_size, drop_last=family.drop_last, seed=train_config.seed)
    run.steps_per_epoch = len(batches)  # as train_family sets it before the step is built (a StyleGAN's lr decay reads it)
    step = in_precision(family.step(run), device, train_config.precision)

    def advance(steps: int) -> int:
        before = state.images_seen
        fit(step, batches, state, 10**9, max_steps=state.step + steps, progress=False)
        return state.images_seen - before

    return advance


def genlib_variants(family: Family, model_config: Any, train_config: Callable[..., Any], data: Any,
                    settings: list[dict[str, Any]]) -> dict[str, Runner]:
    """One :func:`genlib_runner` per dict of train-config ``settings``, named by them, e.g.
    ``"genlib loop (bf16, compile, manual backward)"`` for ``dict(precision="bf16", compile=True, backward="manual")``."""
    variants = {}
    for setting in settings:
        words = [setting.get("precision", "fp32")] + [k.replace("_", " ") for k, v in setting.items() if v is True]
        words += ["manual backward"] if setting.get("backward") == "manual" else []
        variants[f"genlib loop ({', '.join(words)})"] = genlib_runner(family, model_config, train_config(**setting), data)
    return variants


def interleave(title: str, variants: dict[str, Runner], steps: int, cycles: int, baseline: str, warmup: int = 1) -> dict[str, float]:
    """Run each variant ``steps`` steps per cycle for ``cycles`` cycles; print, and return each one's median images/s."""
    for run in variants.values():  # first steps allocate and pick kernels
        run(warmup)
    rates: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(cycles):
        for name, run in variants.items():
            tic = time.perf_counter()
            images = run(steps)
            rates[name].append(images / (time.perf_counter() - tic))
    print(f"\n{title}: {cycles} cycles x {steps} steps per variant, {torch.get_num_threads()} thread(s)")
    print(f"  {'variant':<46} {'images/s':>10} {'ratio':>7}  spread (25-75 %)")
    medians = {}
    for name, values in rates.items():
        ratios = np.array(values) / np.array(rates[baseline])
        medians[name] = statistics.median(values)
        q1, q3 = np.percentile(ratios, [25, 75])
        print(f"  {name:<46} {medians[name]:10.0f} {np.median(ratios):6.2f}x  {q1:.2f}-{q3:.2f}")
    return medians


def print_bound_share(medians: dict[str, float], flops: float, bound: dict[str, float]) -> None:
    """The share of the GEMM bound each variant reaches: ``images/s * FLOP per image / GEMM rate`` of its precision."""
    print(f"  {flops / 1e6:.1f} MFLOP per image and step (matmuls and convolutions, forward + backward); share of the GEMM bound:")
    for name, rate in medians.items():
        precision = "bf16" if "bf16" in name else "fp32"
        print(f"    {name:<44} {100 * rate * flops / bound[precision]:5.1f} % of {precision}")


def gemm_rate(dtype: torch.dtype = torch.float32, n: int = 512, seconds: float = 0.5) -> float:
    """This machine's matrix-multiply rate in FLOP/s for ``dtype`` (``n x n`` products, best of a short run)."""
    a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
    best, end = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < end:
        tic = time.perf_counter()
        for _ in range(4):
            a @ b
        best = max(best, 4 * 2 * n**3 / (time.perf_counter() - tic))
    return best


def flops_per_image(run: Runner) -> float:
    """Matmul and convolution FLOPs of one training step of ``run`` (forward and backward), per image."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        images = run(1)
    return counter.get_total_flops() / images
