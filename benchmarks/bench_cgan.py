"""CGAN training throughput: the seeds' own loops vs genlib's loop, side by side in one run.

- **MLP CGAN (seed 000 §4.3.4).** The seed rescales its 835-wide rows ``[x | class one-hot |
  style one-hot]`` with ``x = x * 2 - 1`` (labels included, as printed), iterates
  ``DataLoader(x, batch_size=128, shuffle=True)``, splits each row into image and labels, and
  trains its Generator / Discriminator (``nn.Sigmoid`` + ``nn.BCELoss``) with Adam 1e-4. It is
  re-implemented below from the seed's text; genlib trains the same network
  (``CGANConfig()``) through ``cgan_train.train`` (``TensorBatches`` + ``fit``, BCE on logits).
- **Conv cGAN (seed 004).** A plain PyTorch translation of the Keras loop: DataLoader batches of
  128, D ``train_on_batch`` on the real batch (targets 1), then on a fresh fake batch with random
  labels (targets 0), then the stacked GAN on another fresh batch (targets 1), each with
  ``sigmoid`` + ``nn.BCELoss``, Adam 3e-4 / beta1 0.5. Both loops train genlib's
  ``ConvGenerator`` / ``ConvDiscriminator`` (``conv_config()``), so only the loop differs.
  genlib's loop (``d_update="split"``, ``fake_labels="random"``) reuses the D step's fakes for
  the G step: one generator forward pass fewer per step.

    python benchmarks/bench_cgan.py [--limit 0] [--mlp-steps 400] [--conv-steps 12] [--threads 0]

Prints images/s of each loop (best of ``--repeats``) and the ratios genlib / seed. Not a test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from genlib.data import DataConfig, prepare_dataset
from genlib.models import cgan_train
from genlib.models.cgan import CGANConfig, build_cgan, conv_config


class SeedGenerator(nn.Module):
    """Seed 000 §4.3.2, as printed."""

    def __init__(self, latent_dim: int, class_dim: int, style_dim: int, img_dim: int):
        super().__init__()
        self.gen = nn.Sequential(nn.Linear(latent_dim + class_dim + style_dim, 256), nn.ReLU(), nn.Linear(256, img_dim), nn.Tanh())

    def forward(self, noise, class_labels, style_labels):
        return self.gen(torch.cat([noise, class_labels, style_labels], dim=1))


class SeedDiscriminator(nn.Module):
    """Seed 000 §4.3.3, as printed (sigmoid output)."""

    def __init__(self, img_dim: int, class_dim: int, style_dim: int):
        super().__init__()
        self.disc = nn.Sequential(nn.Linear(img_dim + class_dim + style_dim, 256), nn.ReLU(), nn.Linear(256, 1), nn.Sigmoid())

    def forward(self, img, class_labels, style_labels):
        return self.disc(torch.cat([img, class_labels, style_labels], dim=1))


def run_seed_mlp_loop(x: np.ndarray, class_dim: int, steps: int) -> float:
    """Seed 000's CGAN loop for ``steps`` batches; returns images/s."""
    img_dim, latent_dim, style_dim, lr = 784, 64, 2, 1e-4
    generator, discriminator = SeedGenerator(latent_dim, class_dim, style_dim, img_dim), SeedDiscriminator(img_dim, class_dim, style_dim)
    opt_gen, opt_disc = torch.optim.Adam(generator.parameters(), lr=lr), torch.optim.Adam(discriminator.parameters(), lr=lr)
    criterion = nn.BCELoss()
    loader = DataLoader(x, batch_size=128, shuffle=True)
    seen, tic = 0, time.perf_counter()
    while seen < steps * 128:
        for real in loader:
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
            if seen >= steps * 128:
                break
    return seen / (time.perf_counter() - tic)


def run_seed004_conv_loop(data, steps: int, channels: int) -> float:
    """Seed 004's Keras loop, translated: DataLoader batches, D real / D fake / GAN updates; images/s."""
    config = conv_config(n_classes=data.n_classes, channels=channels)
    generator, discriminator = build_cgan(config)
    opt_g = torch.optim.Adam(generator.parameters(), lr=3e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=3e-4, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    loader = DataLoader(TensorDataset(data.train.images, data.train.classes, data.train.styles), batch_size=128, shuffle=True)

    def latent_points(n: int):
        return torch.randn(n, config.latent_dim), torch.randint(0, config.n_classes, (n,)), torch.randint(0, config.n_styles, (n,))

    seen, tic = 0, time.perf_counter()
    while seen < steps * 128:
        for images, classes, styles in loader:
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
            if seen >= steps * 128:
                break
    return seen / (time.perf_counter() - tic)


def run_genlib_loop(data, model_config: CGANConfig, train_config: cgan_train.CGANTrainConfig, steps: int) -> float:
    """genlib's ``cgan_train.train`` for ``steps`` steps; images/s of its training loop (``fit``'s own clock)."""
    result = cgan_train.train(model_config, train_config, data=data, max_steps=steps, progress=False)
    return result.state.images_seen / result.state.seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="kana49")
    parser.add_argument("--limit", type=int, default=0, help="at most this many training images (0 = all)")
    parser.add_argument("--mlp-steps", type=int, default=400, help="batches of 128 per MLP run")
    parser.add_argument("--conv-steps", type=int, default=12, help="batches of 128 per conv run")
    parser.add_argument("--conv-channels", type=int, default=128, help="conv filters (seed 004: 128)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = prepare_dataset(DataConfig(dataset=args.dataset, limit=args.limit))
    n_classes = data.n_classes
    flat = data.train.images.reshape(len(data.train), -1).numpy()
    onehots = [F.one_hot(data.train.classes, n_classes).float().numpy(), F.one_hot(data.train.styles, 2).float().numpy()]
    x = np.concatenate([flat, *onehots], axis=1).astype(np.float32)  # the seed's [N, 835] rows
    x = x * 2 - 1  # seed §4.3.1: "Renormalize values in x to be between -1 and 1" (the whole row)
    print(f"{args.dataset}: {len(x)} training images, {torch.get_num_threads()} threads, "
          f"MLP {args.mlp_steps} steps, conv {args.conv_steps} steps (channels {args.conv_channels}) per run")
    mlp_tc = cgan_train.CGANTrainConfig(device="cpu")
    conv_mc = conv_config(n_classes=n_classes, channels=args.conv_channels)
    conv_tc = cgan_train.CGANTrainConfig(device="cpu", lr=3e-4, beta1=0.5, d_update="split", fake_labels="random")
    rates: dict[str, list[float]] = {"seed mlp": [], "genlib mlp": [], "seed004 conv": [], "genlib conv": []}
    for r in range(args.repeats):  # alternate so that both loops see the same machine state
        torch.manual_seed(r)
        rates["seed mlp"].append(run_seed_mlp_loop(x, n_classes, args.mlp_steps))
        rates["genlib mlp"].append(run_genlib_loop(data, CGANConfig(n_classes=n_classes), mlp_tc, args.mlp_steps))
        torch.manual_seed(r)
        rates["seed004 conv"].append(run_seed004_conv_loop(data, args.conv_steps, args.conv_channels))
        rates["genlib conv"].append(run_genlib_loop(data, conv_mc, conv_tc, args.conv_steps))
        print(f"  run {r + 1}: " + " | ".join(f"{k} {v[-1]:7.0f} img/s" for k, v in rates.items()))
    best = {k: max(v) for k, v in rates.items()}
    print(f"seed MLP CGAN, seed loop (DataLoader, BCELoss on sigmoid):  {best['seed mlp']:8.0f} images/s")
    print(f"seed MLP CGAN, genlib loop (TensorBatches + fit):           {best['genlib mlp']:8.0f} images/s")
    print(f"seed 004 conv cGAN, Keras-style loop (DataLoader):          {best['seed004 conv']:8.0f} images/s")
    print(f"seed 004 conv cGAN, genlib loop (split D, reused fakes):    {best['genlib conv']:8.0f} images/s")
    print(f"ratio genlib / seed: MLP {best['genlib mlp'] / best['seed mlp']:.2f}x, conv {best['genlib conv'] / best['seed004 conv']:.2f}x")


if __name__ == "__main__":
    main()
