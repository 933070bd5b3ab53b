"""StyleGAN training throughput at its last resolution: fp32, lazy regularisation, bf16 and NHWC, side by side in one run.

There is no report's loop to compare with here (the StyleGAN report's training code is not
re-implemented); the baseline is genlib's own fp32 step with the gradient penalty on every step.
Every variant starts as if ``--images-seen`` images had been shown, so all of them train at 32x32
(the resolution where a recipe spends most of its time).

    python benchmarks/bench_stylegan.py [--cycles 15] [--steps 8] [--threads 1] [--limit 5000]

Interleaves the variants in short windows (:mod:`interleave`) and prints images/s and the median
ratio to the fp32 step with its spread. ``penalty_every=4`` changes the optimisation (the penalty
is applied on one critic step in four, weighted x4); the others are the same math. Not a test.
"""

from __future__ import annotations

from genlib.models import stylegan_train
from genlib.models.stylegan import StyleGANConfig
from genlib.models.stylegan_train import StyleGANTrainConfig
from interleave import genlib_runner, interleave, prepared_data, training_parser

VARIANTS: dict[str, dict[str, object]] = {
    "genlib step (fp32)": {},
    "genlib step (fp32, penalty every 4th step)": {"penalty_every": 4},
    "genlib step (bf16)": {"precision": "bf16"},
    "genlib step (bf16, channels_last)": {"precision": "bf16", "channels_last": True},
}


def main() -> None:
    parser = training_parser(__doc__.splitlines()[0], limit=5000)
    parser.add_argument("--steps", type=int, default=8, help="batches of 32 per variant per cycle")
    parser.add_argument("--images-seen", type=int, default=300_000, help="start every variant this far into the growth schedule")
    args = parser.parse_args()
    data = prepared_data(args)
    model = StyleGANConfig(n_classes=data.n_classes)
    variants = {name: genlib_runner(stylegan_train.FAMILY, model, StyleGANTrainConfig(device="cpu", **changes), data, args.images_seen)
                for name, changes in VARIANTS.items()}
    interleave("conditional StyleGAN, 32x32, batch 32", variants, args.steps, args.cycles, baseline=next(iter(variants)), warmup=2)


if __name__ == "__main__":
    main()
