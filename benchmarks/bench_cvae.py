"""CVAE training throughput: the seed's own loop vs genlib's loop, side by side in one run.

The seed (000, §4.2.1–4.2.2) trains its ConditionalVAE from ``DataLoader(TensorDataset(...),
batch_size=100, shuffle=True)`` over the 835-wide rows ``[x | class one-hot | style one-hot]``,
with ``binary_cross_entropy(sigmoid(...), reduction='sum') + KLD``. It is re-implemented below from
the seed's text. genlib trains the same network (``CVAEConfig()``) with the same optimiser and
batch size through ``genlib.training.fit``, ``TensorBatches`` and ``genlib.training.adam`` (the
same Adam update, fused into one kernel).

    python benchmarks/bench_cvae.py [--dataset kana49] [--epochs 2] [--threads 2]

Prints images/s of each loop (best of ``--repeats``) and the ratio genlib / seed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from genlib.data import DataConfig, TensorBatches, prepare_dataset
from genlib.models.cvae import CVAEConfig, build_cvae
from genlib.models.cvae_train import elbo_step
from genlib.training import TrainState, adam, fit


class SeedConditionalVAE(nn.Module):
    """The seed's ConditionalVAE (§4.2.1), as printed (its unused labelProjector included)."""

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


def run_seed_loop(x_train: np.ndarray, epochs: int, class_dim: int) -> float:
    """The seed's §4.2.2 loop; returns images/s."""
    model = SeedConditionalVAE(class_dim=class_dim)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    dataset = TensorDataset(torch.tensor(x_train[:, :784]), torch.tensor(x_train[:, 784:]))
    loader = DataLoader(dataset, batch_size=100, shuffle=True)
    tic = time.perf_counter()
    for _ in range(epochs):
        for images, labels in loader:
            class_labels, style_labels = labels[:, :class_dim], labels[:, class_dim:]
            recon, mu, logvar = model(images, class_labels, style_labels)
            loss = seed_loss(recon, images, mu, logvar)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return epochs * len(dataset) / (time.perf_counter() - tic)


def run_genlib_loop(data, epochs: int) -> float:
    """genlib's loop on the same network and hyperparameters; returns images/s."""
    model = build_cvae(CVAEConfig(n_classes=data.n_classes))
    optimizer = adam(model, lr=1e-3)  # fused Adam where torch has it
    batches = TensorBatches((data.train.images, data.train.classes, data.train.styles), batch_size=100)
    tic = time.perf_counter()
    state = fit(elbo_step(model, optimizer), batches, TrainState(), epochs, progress=False)
    return state.images_seen / (time.perf_counter() - tic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="kana49")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    data = prepare_dataset(DataConfig(dataset=args.dataset))
    n_classes = data.n_classes
    flat = data.train.images.reshape(len(data.train), -1).numpy()
    onehots = [F.one_hot(data.train.classes, n_classes).float().numpy(), F.one_hot(data.train.styles, 2).float().numpy()]
    x_train = np.concatenate([flat, *onehots], axis=1).astype(np.float32)  # the seed's [N, 835] rows
    print(f"{args.dataset}: {len(x_train)} training images, {args.epochs} epochs per run, {torch.get_num_threads()} threads")
    seed_rates, genlib_rates = [], []
    for r in range(args.repeats):  # alternate so that both loops see the same machine state
        torch.manual_seed(r)
        seed_rates.append(run_seed_loop(x_train, args.epochs, n_classes))
        torch.manual_seed(r)
        genlib_rates.append(run_genlib_loop(data, args.epochs))
        print(f"  run {r + 1}: seed loop {seed_rates[-1]:8.0f} img/s | genlib loop {genlib_rates[-1]:8.0f} img/s")
    best_seed, best_genlib = max(seed_rates), max(genlib_rates)
    print(f"seed CVAE, seed loop (DataLoader, batch 100):   {best_seed:8.0f} images/s")
    print(f"seed CVAE, genlib loop (TensorBatches + fit):   {best_genlib:8.0f} images/s")
    print(f"ratio genlib / seed: {best_genlib / best_seed:.2f}x")


if __name__ == "__main__":
    main()
