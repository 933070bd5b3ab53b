"""CVAE training throughput: the K49 report's own loop vs genlib's loop, side by side in one run.

The K49 report (§4.2.1–4.2.2) trains its ConditionalVAE from ``DataLoader(TensorDataset(...),
batch_size=100, shuffle=True)`` over the 835-wide rows ``[x | class one-hot | style one-hot]``,
with ``binary_cross_entropy(sigmoid(...), reduction='sum') + KLD``. It is re-implemented below from
the report's text. genlib trains the same network (``CVAEConfig()``) with the same optimiser and
batch size through ``genlib.training.fit``, ``TensorBatches`` and ``genlib.training.adam`` (the
same Adam update, fused into one kernel).

    python benchmarks/bench_cvae.py [--dataset kana49] [--cycles 15] [--steps 40] [--threads 2]

Interleaves the report's loop and genlib's in fp32, fp32 with ``torch.compile`` and bf16, each with
autograd and with the backward pass written out (``backward="manual"``), in short windows
(:mod:`interleave`) and prints images/s, the median ratio to the report's loop and its spread, the
model's FLOPs per image and this machine's GEMM rate (for the share of the FLOP bound).
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from genlib.models import cvae_train
from genlib.models.cvae import CVAEConfig
from genlib.models.cvae_train import CVAETrainConfig
from interleave import (MLP_SETTINGS, Runner, flops_per_image, gemm_rate, genlib_runner, genlib_variants, interleave, prepared_data,
                        print_bound_share, training_parser)


class SeedConditionalVAE(nn.Module):
    """The K49 report's ConditionalVAE (§4.2.1), as printed (its unused labelProjector included)."""

    def __init__(self, input_dim: int = 784, hidden_dim: int = 144, latent_dim: int = 2, class_dim: int = 49, style_dim: int = 2):
        super().__init__()
        self.input_dim = input_dim
        self.fc1 = nn.Linear(input_dim + class_dim + style_dim, hidden_dim)
        self.fc_mu = nn.Linear(hidden_dim, latent_dim)
        self.fc_logvar = nn.Linear(hidden_dim, latent_dim)
        self.fc3 = nn.Linear(latent_dim + class_dim + style_dim, hidden_dim)
        self.fc4 = nn.Linear(hidden_dim, input_dim)
        self.label_projector = nn.Sequential(nn.Linear(class_dim + style_dim, hidden_dim), nn.ReLU())

    def encode(self, x, c, s):
        h = F.relu(self.fc1(torch.cat((x, c, s), dim=1)))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z, c, s):
        return torch.sigmoid(self.fc4(F.relu(self.fc3(torch.cat((z, c, s), dim=1)))))

    def forward(self, x, c, s):
        mu, logvar = self.encode(x.view(-1, self.input_dim), c, s)
        z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
        return self.decode(z, c, s), mu, logvar


def seed_loss(recon_x, x, mu, logvar):
    bce = F.binary_cross_entropy(recon_x, x.view(-1, 784), reduction="sum")
    kld = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce + kld


def seed_runner(x_train: np.ndarray, class_dim: int) -> Runner:
    """The K49 report's §4.2.2 loop (DataLoader over its [N, 835] rows, batch 100), by windows of steps."""
    model = SeedConditionalVAE(class_dim=class_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dataset = TensorDataset(torch.tensor(x_train[:, :784]), torch.tensor(x_train[:, 784:]))
    loader = DataLoader(dataset, batch_size=100, shuffle=True)

    def batches():
        while True:
            yield from loader

    stream = batches()

    def advance(steps: int) -> int:
        seen = 0
        for _, (images, labels) in zip(range(steps), stream):
            class_labels, style_labels = labels[:, :class_dim], labels[:, class_dim:]
            recon, mu, logvar = model(images, class_labels, style_labels)
            loss = seed_loss(recon, images, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            seen += images.shape[0]
        return seen

    return advance


def main() -> None:
    parser = training_parser(__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="batches of 100 per variant per cycle")
    args = parser.parse_args()
    data = prepared_data(args)
    n_classes = data.n_classes
    flat = data.train.images.reshape(len(data.train), -1).numpy()
    onehots = [F.one_hot(data.train.classes, n_classes).float().numpy(), F.one_hot(data.train.styles, 2).float().numpy()]
    x_train = np.concatenate([flat, *onehots], axis=1).astype(np.float32)  # the K49 report's [N, 835] rows
    print(f"{args.dataset}: {len(x_train)} training images")
    model = CVAEConfig(n_classes=n_classes)
    variants = {"K49 report's loop (DataLoader, fp32)": seed_runner(x_train, n_classes),
                **genlib_variants(cvae_train.FAMILY, model, partial(CVAETrainConfig, device="cpu"), data, MLP_SETTINGS)}
    medians = interleave("CVAE (K49 report), batch 100", variants, args.steps, args.cycles, baseline=next(iter(variants)), warmup=3)
    bound = {"fp32": gemm_rate(torch.float32), "bf16": gemm_rate(torch.bfloat16)}
    print(f"  GEMM rate here: fp32 {bound['fp32'] / 1e9:.0f} GFLOP/s, bf16 {bound['bf16'] / 1e9:.0f} GFLOP/s")
    print_bound_share(medians, flops_per_image(genlib_runner(cvae_train.FAMILY, model, CVAETrainConfig(device="cpu"), data)), bound)


if __name__ == "__main__":
    main()
