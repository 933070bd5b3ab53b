"""The family contract: a family defined here, in the test, trains, resumes, samples and is evaluated
through ``genlib train / sample / evaluate`` with no change to the library.

The toy family is a tiny conditional autoencoder: ``x' = sigmoid(W_d [z, onehot(y)])`` with
``z = W_e [x, onehot(y)]``, trained on the mean squared reconstruction error; it samples by decoding
``z ~ N(0, I)``. It is one model class, two configs and one :class:`~genlib.scaffold.Family` value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genlib import families
from genlib.cli import main
from genlib.data.datasets import DataConfig
from genlib.models.conditioning import label_codes, seeded_normal
from genlib.runtime import evaluating
from genlib.scaffold import Family, Run
from genlib.training import StepFn, adam


@dataclass(frozen=True)
class ToyConfig:
    """The toy autoencoder's shape."""

    n_classes: int = 49  # class labels
    n_styles: int = 2  # style codes
    latent_dim: int = 3  # size of z


@dataclass(frozen=True)
class ToyTrainConfig:
    """How to train it."""

    data: DataConfig = field(default_factory=DataConfig)  # dataset and split
    epochs: int = 1  # passes over the training split
    batch_size: int = 70  # images per step
    lr: float = 1e-2  # Adam learning rate
    seed: int = 0  # seeds weights and batch order
    device: str = "cpu"  # auto | cpu | cuda | mps


class ToyAutoencoder(nn.Module):
    def __init__(self, config: ToyConfig) -> None:
        super().__init__()
        self.config = config
        labels = config.n_classes + config.n_styles
        self.encoder = nn.Linear(28 * 28 + labels, config.latent_dim)
        self.decoder = nn.Linear(config.latent_dim + labels, 28 * 28)

    def decode(self, z: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        y = label_codes(classes, styles, self.config.n_classes, self.config.n_styles)
        return torch.sigmoid(self.decoder(torch.cat([z, *y], 1))).view(-1, 1, 28, 28)

    def forward(self, x: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        y = label_codes(classes, styles, self.config.n_classes, self.config.n_styles)
        return self.decode(self.encoder(torch.cat([x.flatten(1), *y], 1)), classes, styles)


def toy_step(run: Run) -> StepFn:
    model, optimizer = run.modules["model"], run.optimizers["optimizer"]

    def step(batch: tuple[Tensor, ...]) -> dict[str, float]:
        x, classes, styles = batch
        loss = F.mse_loss(model(x, classes, styles), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return {"loss": loss.item()}

    return step


def toy_sample(model: ToyAutoencoder, classes: Tensor, styles: Tensor, *, seed: int = 0) -> Tensor:
    with evaluating(model) as device:
        z = seeded_normal((classes.shape[0], model.config.latent_dim), seed, device)
        return model.decode(z, classes.to(device), styles.to(device))


def toy_suite_columns(model: ToyAutoencoder, test, seed: int) -> dict[str, float]:
    """The toy's own column in the metric suite's row: reconstruction MSE on the test split."""
    with torch.no_grad():
        return {"test_mse": F.mse_loss(model(test.images, test.classes, test.styles), test.images).item()}


TOY = Family(
    name="toy",
    description="a tiny conditional autoencoder (defined in a test)",
    model_config=ToyConfig,
    train_config=ToyTrainConfig,
    build=lambda mc, tc: {"model": ToyAutoencoder(mc)},
    optimizers=lambda modules, tc: {"optimizer": adam(modules["model"], tc.lr)},
    step=toy_step,
    sample=toy_sample,
    suite_columns=toy_suite_columns,
)

FLAGS = ["--limit", "490", "--latent-dim", "4", "--no-progress"]


@pytest.fixture
def toy(monkeypatch, tmp_path):
    monkeypatch.setitem(families.FAMILIES, "toy", TOY)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_new_family_goes_through_train_sample_and_evaluate(toy, capsys) -> None:
    assert main(["train", "toy", "--epochs", "2", "--out", "runs/toy.safetensors", *FLAGS]) == 0
    assert "wrote runs/toy.safetensors" in capsys.readouterr().out
    loaded = families.load("runs/toy.safetensors")
    assert loaded.family is TOY and loaded.model_config == ToyConfig(latent_dim=4) and loaded.state.epoch == 2
    assert loaded.state.history[1]["loss"] < loaded.state.history[0]["loss"]  # it learns

    assert main(["sample", "--checkpoint", "runs/toy.safetensors", "--n", "2", "--seed", "0", "--out", "runs/s.npz"]) == 0
    with np.load(toy / "runs" / "s.npz") as f:
        assert f["arr_0"].shape == (49 * 2 * 2, 28, 28) and f["arr_0"].dtype == np.uint8
        expected = loaded.sample(torch.from_numpy(f["classes"]), torch.from_numpy(f["styles"]), seed=0)
        assert np.abs(f["arr_0"].astype(int) - (expected[:, 0] * 255).round().numpy().astype(int)).max() <= 1

    assert main(["evaluate", "runs/toy.safetensors", "--n-per-cell", "2", "--out", "runs/r.md"]) == 0
    table = (toy / "runs" / "r.md").read_text()
    assert "| toy | toy | kana49 | 2 |" in table and "| fid |" in table  # the metric suite ran on it
    assert "| test_mse |" in table  # with the family's own column (Family.suite_columns)


def test_a_new_family_resumes_exactly(toy) -> None:
    assert main(["train", "toy", "--epochs", "2", "--out", "runs/straight.safetensors", *FLAGS]) == 0
    assert main(["train", "toy", "--epochs", "1", "--out", "runs/half.safetensors", *FLAGS]) == 0
    assert main(["train", "--resume", "runs/half.safetensors", "--epochs", "2", "--no-progress"]) == 0
    straight, resumed = families.load("runs/straight.safetensors"), families.load("runs/half.safetensors")
    for a, b in zip(straight.model.state_dict().values(), resumed.model.state_dict().values()):
        assert torch.equal(a, b)  # the very same computation repeats: bit for bit


def test_a_slim_file_keeps_what_the_family_says(toy) -> None:
    two_modules = dataclasses.replace(TOY, name="toy", build=lambda mc, tc: {"model": ToyAutoencoder(mc), "spare": nn.Linear(2, 2)},
                                      slim=lambda names: ("model",))
    families.FAMILIES["toy"] = two_modules
    assert main(["train", "toy", "--epochs", "1", "--slim", "--out", "runs/slim.safetensors", *FLAGS]) == 0
    loaded = families.load("runs/slim.safetensors")
    assert loaded.spare is None and loaded.model is loaded.modules["model"]
    with pytest.raises(ValueError, match="already registered"):
        families.register(TOY)
