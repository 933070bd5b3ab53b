"""CGAN training throughput: the reports' own loops vs genlib's loop, side by side in one run.

- **MLP CGAN (the K49 report, §4.3.4).** The report rescales its 835-wide rows ``[x | class one-hot |
  style one-hot]`` with ``x = x * 2 - 1`` (labels included, as printed), iterates
  ``DataLoader(x, batch_size=128, shuffle=True)``, splits each row into image and labels, and
  trains its Generator / Discriminator (``nn.Sigmoid`` + ``nn.BCELoss``) with Adam 1e-4. It is
  re-implemented below from the report's text; genlib trains the same network
  (``CGANConfig()``) through ``cgan_train.train`` (``TensorBatches`` + ``fit``, BCE on logits).
- **Conv cGAN (the StyleGAN report).** A plain PyTorch translation of the Keras loop: DataLoader batches of
  128, D ``train_on_batch`` on the real batch (targets 1), then on a fresh fake batch with random
  labels (targets 0), then the stacked GAN on another fresh batch (targets 1), each with
  ``sigmoid`` + ``nn.BCELoss``, Adam 3e-4 / beta1 0.5. Both loops train genlib's
  ``ConvGenerator`` / ``ConvDiscriminator`` (``conv_config()``), so only the loop differs.
  genlib's loop (``d_update="split"``, ``fake_labels="random"``) reuses the D step's fakes for
  the G step: one generator forward pass fewer per step.

    python benchmarks/bench_cgan.py [--limit 0] [--cycles 15] [--mlp-steps 30] [--conv-steps 2] [--only mlp|conv] [--threads 0]

Interleaves the variants in short windows (:mod:`interleave`): the report's loop, genlib's in fp32,
fp32 with ``torch.compile`` and bf16 (for the MLP also with the backward pass written out,
``backward="manual"``; for the conv cGAN with channels_last), and prints images/s, the median ratio to the
report's loop with its spread, FLOPs per image and this machine's GEMM rate. Not a test.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from genlib.models import cgan_train
from genlib.models.cgan import CGANConfig, build_cgan, conv_config
from genlib.models.cgan_train import CGANTrainConfig
from interleave import (MLP_SETTINGS, Runner, flops_per_image, gemm_rate, genlib_runner, genlib_variants, interleave, prepared_data,
                        print_bound_share, training_parser)


class SeedGenerator(nn.Module):
    """The K49 report's §4.3.2, as printed."""

    def __init__(self, latent_dim: int, class_dim: int, style_dim: int, img_dim: int):
        super().__init__()
        self.gen = nn.Sequential(nn.Linear(latent_dim + class_dim + style_dim, 256), nn.ReLU(), nn.Linear(256, img_dim), nn.Tanh())

    def forward(self, noise, class_labels, style_labels):
        return self.gen(torch.cat([noise, class_labels, style_labels], dim=1))


class SeedDiscriminator(nn.Module):
    """The K49 report's §4.3.3, as printed (sigmoid output)."""

    def __init__(self, img_dim: int, class_dim: int, style_dim: int):
        super().__init__()
        self.disc = nn.Sequential(nn.Linear(img_dim + class_dim + style_dim, 256), nn.ReLU(), nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, img, class_labels, style_labels):
        return self.disc(torch.cat([img, class_labels, style_labels], dim=1))


def forever(loader):
    while True:
        yield from loader


def seed_mlp_runner(x: np.ndarray, class_dim: int) -> Runner:
    """The K49 report's CGAN loop (DataLoader over its [N, 835] rows, batch 128), by windows of steps."""
    img_dim, latent_dim, style_dim, lr = 784, 64, 2, 1e-4
    generator, discriminator = SeedGenerator(latent_dim, class_dim, style_dim, img_dim), SeedDiscriminator(img_dim, class_dim, style_dim)
    opt_gen, opt_disc = torch.optim.Adam(generator.parameters(), lr=lr), torch.optim.Adam(discriminator.parameters(), lr=lr)
    criterion = nn.BCELoss()
    stream = forever(DataLoader(x, batch_size=128, shuffle=True))

    def advance(steps: int) -> int:
        seen = 0
        for _, real in zip(range(steps), stream):
            batch_size = real.shape[0]
            real_img, real_class_labels, real_style_labels = real[:, :img_dim], real[:, img_dim : img_dim + class_dim], real[:, img_dim + class_dim :]
            noise = torch.randn(batch_size, latent_dim)
            fake = generator(noise, real_class_labels, real_style_labels)
            disc_real = discriminator(real_img, real_class_labels, real_style_labels).view(-1)
            lossD_real = criterion(disc_real, torch.ones_like(disc_real))
            disc_fake = discriminator(fake.detach(), real_class_labels, real_style_labels).view(-1)
            lossD_fake = criterion(disc_fake, torch.zeros_like(disc_fake))
            lossD = (lossD_real + lossD_fake) / 2
            discriminator.zero_grad()
            lossD.backward()
            opt_disc.step()
            output = discriminator(fake, real_class_labels, real_style_labels).view(-1)
            lossG = criterion(output, torch.ones_like(output))
            generator.zero_grad()
            lossG.backward()
            opt_gen.step()
            seen += batch_size
        return seen

    return advance


def seed004_conv_runner(data, channels: int) -> Runner:
    """The StyleGAN report's Keras loop, translated: DataLoader batches, D real / D fake / GAN updates, by windows of steps."""
    config = conv_config(n_classes=data.n_classes, channels=channels)
    generator, discriminator = build_cgan(config)
    opt_g = torch.optim.Adam(generator.parameters(), lr=3e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=3e-4, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    stream = forever(DataLoader(TensorDataset(data.train.images, data.train.classes, data.train.styles), batch_size=128, shuffle=True))

    def latent_points(n: int):
        return torch.randn(n, config.latent_dim), torch.randint(0, config.n_classes, (n,)), torch.randint(0, config.n_styles, (n,))

    def advance(steps: int) -> int:
        seen = 0
        for _, (images, classes, styles) in zip(range(steps), stream):
            n = images.shape[0]
            # d_model.train_on_batch([X_real, labels_real], y_real)
            d_real = torch.sigmoid(discriminator(images, classes, styles))
            loss = bce(d_real, torch.ones_like(d_real))
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            # d_model.train_on_batch([X_fake, labels], y_fake)
            z, c, s = latent_points(n)
            with torch.no_grad():
                fake = generator(z, c, s)
            d_fake = torch.sigmoid(discriminator(fake, c, s))
            loss = bce(d_fake, torch.zeros_like(d_fake))
            opt_d.zero_grad()
            loss.backward()
            opt_d.step()
            # gan_model.train_on_batch([z_input, labels_input], y_gan), D frozen
            z, c, s = latent_points(n)
            out = torch.sigmoid(discriminator(generator(z, c, s), c, s))
            loss = bce(out, torch.ones_like(out))
            opt_g.zero_grad()
            loss.backward()
            opt_g.step()
            seen += n
        return seen

    return advance


def main() -> None:
    parser = training_parser(__doc__.splitlines()[0])
    parser.add_argument("--mlp-steps", type=int, default=30, help="batches of 128 per MLP variant per cycle")
    parser.add_argument("--conv-steps", type=int, default=2, help="batches of 128 per conv variant per cycle")
    parser.add_argument("--conv-channels", type=int, default=128, help="conv filters (the StyleGAN report: 128)")
    parser.add_argument("--only", choices=("mlp", "conv"), help="run one of the two comparisons")
    args = parser.parse_args()
    data = prepared_data(args)
    n_classes = data.n_classes
    print(f"{args.dataset}: {len(data.train)} training images")
    bound = {"fp32": gemm_rate(torch.float32), "bf16": gemm_rate(torch.bfloat16)}
    print(f"GEMM rate here: fp32 {bound['fp32'] / 1e9:.0f} GFLOP/s, bf16 {bound['bf16'] / 1e9:.0f} GFLOP/s")
    if args.only != "conv":
        flat = data.train.images.reshape(len(data.train), -1).numpy()
        onehots = [F.one_hot(data.train.classes, n_classes).float().numpy(), F.one_hot(data.train.styles, 2).float().numpy()]
        x = np.concatenate([flat, *onehots], axis=1).astype(np.float32)  # the K49 report's [N, 835] rows
        x = x * 2 - 1  # the K49 report's §4.3.1: "Renormalize values in x to be between -1 and 1" (the whole row)
        mlp = CGANConfig(n_classes=n_classes)
        variants = {"K49 report's loop (DataLoader, BCELoss on sigmoid)": seed_mlp_runner(x, n_classes),
                    **genlib_variants(cgan_train.FAMILY, mlp, partial(CGANTrainConfig, device="cpu"), data, MLP_SETTINGS)}
        medians = interleave("MLP CGAN (K49 report), batch 128", variants, args.mlp_steps, args.cycles, baseline=next(iter(variants)), warmup=3)
        print_bound_share(medians, flops_per_image(genlib_runner(cgan_train.FAMILY, mlp, CGANTrainConfig(device="cpu"), data)), bound)
    if args.only != "mlp":
        conv = conv_config(n_classes=n_classes, channels=args.conv_channels)
        base = dict(device="cpu", lr=3e-4, beta1=0.5, d_update="split", fake_labels="random")
        variants = {"StyleGAN report's loop (Keras-style, DataLoader)": seed004_conv_runner(data, args.conv_channels)}
        settings = [dict(precision=p, channels_last=c) for p in ("fp32", "bf16") for c in (False, True)]
        variants.update(genlib_variants(cgan_train.FAMILY, conv, partial(CGANTrainConfig, **base), data, settings))
        medians = interleave(f"conv cGAN (StyleGAN report), {args.conv_channels} filters, batch 128", variants, args.conv_steps,
                             args.cycles, baseline=next(iter(variants)))
        print_bound_share(medians, flops_per_image(genlib_runner(cgan_train.FAMILY, conv, CGANTrainConfig(**base), data)), bound)


if __name__ == "__main__":
    main()
