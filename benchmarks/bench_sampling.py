"""Sampling speed of the conv cGAN: how long 10,000 images take, by memory layout, precision and grad mode.

    python benchmarks/bench_sampling.py [--channels 128] [--batch 1000] [--cycles 15] [--threads 2]

Each variant draws ``--batch`` images per step from the same generator (the StyleGAN report's conv
cGAN, fresh weights: speed does not depend on them), interleaved in short windows
(:mod:`interleave`). Printed: images/s, the ratio to genlib's default sampler with its spread, the
seconds 10,000 images take, and the share of this machine's GEMM rate each variant reaches.

- ``genlib sample``: :func:`genlib.models.cgan.sample` as ``genlib sample`` calls it (NCHW, fp32, ``no_grad``);
- ``NHWC``: the generator's weights in channels-last layout (same math);
- ``NHWC + inference_mode``: also without autograd's version counters;
- ``NHWC + bf16``: also under bf16 autocast (not the same math: images differ by ~1e-2).
"""

from __future__ import annotations

import argparse
import copy

import torch
from interleave import Runner, gemm_rate, interleave

from genlib.models.cgan import build_cgan, conv_config, sample
from genlib.models.conditioning import seeded_normal
from genlib.runtime import autocast


def runner(generator: torch.nn.Module, batch: int, *, channels_last: bool = False, bf16: bool = False, inference: bool = False) -> Runner:
    """``run(steps)``: ``steps`` batches of ``batch`` samples from ``generator`` (a copy, laid out as asked)."""
    g = copy.deepcopy(generator).eval()
    if channels_last:
        g.to(memory_format=torch.channels_last)
    n_classes, n_styles = g.config.n_classes, g.config.n_styles
    classes, styles = torch.arange(batch) % n_classes, torch.arange(batch) % n_styles
    device = torch.device("cpu")

    def run(steps: int) -> int:
        for i in range(steps):
            if not (channels_last or bf16 or inference):
                sample(g, classes, styles, seed=i)
                continue
            z = seeded_normal((batch, g.config.latent_dim), i)
            with (torch.inference_mode() if inference else torch.no_grad()), autocast(device, "bf16" if bf16 else "fp32"):
                g(z, classes, styles).float().clamp(0, 1)
        return steps * batch

    return run


def generator_flops(generator: torch.nn.Module) -> float:
    """Multiply-adds x 2 of one generator forward pass per image (convolutions, transposed ones and linears)."""
    flops = 0.0

    def count(module: torch.nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal flops
        if isinstance(module, (torch.nn.Conv2d, torch.nn.ConvTranspose2d)):
            spatial = (output if isinstance(module, torch.nn.Conv2d) else inputs[0]).shape[2:].numel()
            flops += 2 * spatial * module.weight.numel()  # each output (conv) or input (transposed) pixel: one MAC per weight
        elif isinstance(module, torch.nn.Linear):
            flops += 2 * module.weight.numel()

    hooks = [m.register_forward_hook(count) for m in generator.modules()]
    with torch.no_grad():
        generator(torch.randn(1, generator.config.latent_dim), torch.zeros(1, dtype=torch.int64), torch.zeros(1, dtype=torch.int64))
    for h in hooks:
        h.remove()
    return flops


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--channels", type=int, default=128, help="filters of the conv cGAN (the StyleGAN report: 128; cgan_conv_kana49: 64)")
    parser.add_argument("--batch", type=int, default=1000, help="images per sampling call")
    parser.add_argument("--steps", type=int, default=2, help="calls per window")
    parser.add_argument("--cycles", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    g, _ = build_cgan(conv_config(channels=args.channels))
    variants = {
        "genlib sample (NCHW, fp32, no_grad)": runner(g, args.batch),
        "NHWC": runner(g, args.batch, channels_last=True),
        "NHWC + inference_mode": runner(g, args.batch, channels_last=True, inference=True),
        "NHWC + bf16": runner(g, args.batch, channels_last=True, bf16=True),
    }
    medians = interleave(f"conv cGAN sampling, {args.channels} filters, batches of {args.batch}", variants, args.steps, args.cycles,
                         baseline=next(iter(variants)))
    flops = generator_flops(g)
    bound = {"fp32": gemm_rate(torch.float32), "bf16": gemm_rate(torch.bfloat16)}
    print(f"  {flops / 1e6:.1f} MFLOP per image (generator forward); GEMM rate fp32 {bound['fp32'] / 1e9:.0f}, "
          f"bf16 {bound['bf16'] / 1e9:.0f} GFLOP/s")
    for name, rate in medians.items():
        precision = "bf16" if "bf16" in name else "fp32"
        print(f"    {name:<44} 10,000 images in {10_000 / rate:5.2f} s   {100 * rate * flops / bound[precision]:5.1f} % of the {precision} bound"
              f" ({10_000 * flops / bound[precision]:.2f} s)")


if __name__ == "__main__":
    main()
