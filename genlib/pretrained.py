"""Named training recipes for the pretrained checkpoints in ``data/``, and load-or-train.

Every checkpoint shipped in ``data/`` is made by one command::

    genlib train --recipe <name>          # writes runs/<name>.safetensors (slim: weights only, once finished)
    genlib train --recipe <name> --out data/<name>.safetensors --overwrite-shipped   # replace the shipped file

A recipe with ``snapshot_every`` also writes ``runs/snapshots/<name>/`` as it trains; its
``snapshots.npz`` ships as ``data/snapshots/<name>.npz`` (:func:`snapshot_archive`).

``genlib recipes`` prints each recipe with the equivalent explicit flags. Notebooks call
:func:`load_or_train` with a variant and their ``DATASET`` (``load_or_train("cgan_conv", "mnist5k",
budget=BUDGET)``): it loads ``data/<variant>_<dataset>.safetensors`` or, when none ships for that
dataset, trains the variant's recipe on it within the notebook's budget and says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any, Sequence

from genlib.checkpoint import read_meta
from genlib.config import flag_of
from genlib.data.datasets import DataConfig, class_names_of, repo_data_dir
from genlib.families import Loaded, get_family, load
from genlib.models.cgan import CGANConfig, conv_config
from genlib.models.cgan_train import CGANTrainConfig
from genlib.models.classifier import ClassifierConfig
from genlib.models.classifier_train import ClassifierTrainConfig
from genlib.models.cvae import CVAEConfig
from genlib.models.cvae_train import CVAETrainConfig
from genlib.models.stylegan import StyleGANConfig
from genlib.models.stylegan_train import StyleGANTrainConfig
from genlib.quality import plus_model, plus_train


@dataclass(frozen=True)
class Recipe:
    """How one pretrained checkpoint is made."""

    name: str  # file stem under data/, says the family: cvae…, cgan…, stylegan…, classifier…
    family: str  # key of genlib.families.FAMILIES
    model_config: Any  # the family's model-config dataclass
    train_config: Any  # the family's train-config dataclass
    description: str


def snapshot_folder(name: str) -> str:
    """Where recipe ``name`` writes its snapshot figures and archive while it trains: ``runs/snapshots/<name>``."""
    return f"runs/snapshots/{name}"


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in [
        Recipe(
            "cvae_mlp_kana49", "cvae", CVAEConfig(), CVAETrainConfig(epochs=60),
            "the K49 report's CVAE (latent 2, hidden 144) and hyperparameters (Adam 1e-3, batch 100)",
        ),
        Recipe(
            "cvae_conv_kana49", "cvae", CVAEConfig(arch="conv", latent_dim=16, hidden_dim=128, channels=32),
            CVAETrainConfig(epochs=30, kl_weight=3.0),
            "genlib's convolutional CVAE (latent 16), a beta-VAE with beta = 3 (prior samples look like the "
            "requested kana; beta = 1 fits the ELBO better but draws them poorly), the K49 report's optimiser and batch size",
        ),
        Recipe(
            "cvae_conv_slant_kana49", "cvae", CVAEConfig(arch="conv", latent_dim=16, hidden_dim=128, channels=32, n_styles=4),
            CVAETrainConfig(data=DataConfig(condition="thickness+slant"), epochs=30, kl_weight=3.0),
            "the conv beta-CVAE conditioned on thickness and slant (4 style codes: thick + 2 * slanted), "
            "the K49 report's \"additional stylistic labels\"",
        ),
        Recipe(
            "cvae_conv_plus_kana49", "cvae", CVAEConfig(arch="conv", latent_dim=16, hidden_dim=128, channels=32, prior_components=3),
            CVAETrainConfig(epochs=30),
            "the conv CVAE trained on the plain ELBO (beta = 1: sharp reconstructions) and sampled from a richer prior: "
            "3 Gaussians per (class, style) cell fitted to the training posterior after the last epoch",
        ),
        Recipe(
            "cgan_mlp_kana49", "cgan", CGANConfig(),
            CGANTrainConfig(epochs=700, snapshot_every=50, snapshot_dir=snapshot_folder("cgan_mlp_kana49")),
            "the K49 report's MLP CGAN (z 64, hidden 256, tanh) and hyperparameters (Adam 1e-4, batch 128) with 0/1 "
            "labels; class conditioning appears only after ~300-500 epochs; snapshot grids every 50 epochs",
        ),
        Recipe(
            "cgan_mlp_pm1_kana49", "cgan", CGANConfig(label_range="pm1"),
            CGANTrainConfig(epochs=700, snapshot_every=50, snapshot_dir=snapshot_folder("cgan_mlp_pm1_kana49")),
            "the K49 report's MLP CGAN as it was trained: its x*2-1 rescales the one-hot labels to -1/+1 "
            "along with the image (§4.3.1); same schedule as cgan_mlp_kana49; snapshot grids every 50 epochs, "
            "shipped as data/snapshots/cgan_mlp_pm1_kana49.npz",
        ),
        Recipe(
            "cgan_conv_kana49", "cgan", conv_config(channels=64),
            CGANTrainConfig(epochs=32, lr=3e-4, beta1=0.5, d_update="split", fake_labels="random", ema_decay=0.999,
                            channels_last=True, snapshot_every=4, snapshot_dir=snapshot_folder("cgan_conv_kana49")),
            "the StyleGAN report's convolutional cGAN (label embeddings, 64 filters instead of 128), Adam 3e-4 / beta1 0.5, "
            "EMA of G, NHWC convolutions; snapshot grids every 4 epochs",
        ),
        Recipe(
            "cgan_conv_plus_kana49", "cgan", plus_model(49, channels=64),
            plus_train(DataConfig(), epochs=32, ema_decay=0.999, channels_last=True),
            "the conv cGAN with the quality ablation's plus settings (genlib.quality: hinge loss + R1 penalty, "
            "gamma 1, one joint D step, Adam 3e-4 / beta1 0.5), 64 filters, EMA of G, NHWC convolutions, 32 epochs (as cgan_conv_kana49)",
        ),
        Recipe(
            "cgan_conv_plus_long_kana49", "cgan", plus_model(49, channels=64),
            plus_train(DataConfig(), epochs=80, ema_decay=0.999, precision="bf16", channels_last=True),
            "cgan_conv_plus_kana49 trained 2.5x as long (80 epochs, 1.7M images) in bf16 autocast, which the quality "
            "ablation's bf16 row shows changes nothing measurable and which is 1.65x faster here; 60 min on one shared CPU thread",
        ),
        Recipe(
            "stylegan_kana49", "stylegan", StyleGANConfig(), StyleGANTrainConfig(),
            "conditional StyleGAN, 4x4 → 32x32 progressive growing, WGAN-GP + drift, 171k images shown "
            "(~30 min on one CPU thread)",
        ),
        Recipe(
            "stylegan_long_kana49", "stylegan", StyleGANConfig(), StyleGANTrainConfig(epochs=18),
            "stylegan_kana49 shown 2.25x as many images (385k: 18 passes over the training split; the extra "
            "images all go to the last, 32x32, phase), 89 min on one shared CPU thread",
        ),
        Recipe(
            "stylegan_lazy_kana49", "stylegan", StyleGANConfig(), StyleGANTrainConfig(epochs=24, penalty_every=4),
            "stylegan_long_kana49 with lazy regularization (the gradient penalty on every 4th D step, weighted x4: "
            "faster steps) spent on 1.33x more images (514k: 24 passes), 83 min on one shared CPU thread; "
            "it scores worse than stylegan_long_kana49 (FID 116 vs 49, less diverse): notebook 04 §16",
        ),
        Recipe(
            "stylegan_longer_kana49", "stylegan", StyleGANConfig(), StyleGANTrainConfig(epochs=36, precision="bf16", channels_last=True),
            "stylegan_long_kana49 shown 2x as many images (770k: 36 passes) in bf16 autocast with NHWC convolutions "
            "(1.5x faster steps here, though the StyleGAN ablation finds bf16 costs some FID per image), "
            "118 min on one shared CPU thread (about 82 on 2 idle ones): FID 42 "
            "(stylegan_longest_kana49 trains the same run on to 1.28M images)",
        ),
        Recipe(
            "stylegan_longest_kana49", "stylegan", StyleGANConfig(), StyleGANTrainConfig(epochs=60, precision="bf16", channels_last=True),
            "stylegan_longer_kana49 trained on to 1.28M images (60 passes; it was made by resuming that run, which is the same "
            "computation), 210 min on one shared CPU thread (about 136 on 2 idle ones, over the 90-minute budget): "
            "FID 38 (3.4x the floor), the best StyleGAN genlib ships on Kana-49; "
            "from 940k images on its FID wanders between 34 and 38 (notebook 04 §16)",
        ),
        Recipe(
            "stylegan_slant_kana49", "stylegan", StyleGANConfig(n_styles=4),
            StyleGANTrainConfig(data=DataConfig(condition="thickness+slant")),
            "the conditional StyleGAN conditioned on thickness and slant (4 style codes: thick + 2 * slanted), "
            "same schedule as stylegan_kana49",
        ),
        Recipe(
            "classifier_kana49", "classifier", ClassifierConfig(), ClassifierTrainConfig(),
            "the domain classifier behind the metric suite (conditional accuracy, FID features)",
        ),
        Recipe(
            "cgan_conv_mnist5k", "cgan", conv_config(n_classes=10, n_styles=1),
            CGANTrainConfig(data=DataConfig(dataset="mnist5k", condition="class"), epochs=100, lr=3e-4, beta1=0.5,
                            d_update="split", fake_labels="random", ema_decay=0.995, precision="bf16",
                            channels_last=True, snapshot_every=10, snapshot_dir=snapshot_folder("cgan_conv_mnist5k")),
            "the StyleGAN report's convolutional cGAN exactly (class only: 128 latent maps + 1 label map, "
            "128 filters, sigmoid, Adam 3e-4 / beta1 0.5, 100 epochs) on 3,500 real MNIST digits; "
            "EMA of G, bf16 forward passes, NHWC convolutions; snapshot grids every 10 epochs",
        ),
        Recipe(
            "cgan_conv_plus_mnist5k", "cgan", plus_model(10, channels=64),
            plus_train(DataConfig(dataset="mnist5k"), epochs=60, ema_decay=0.999, channels_last=True),
            "cgan_conv_plus_kana49 on 3,500 real MNIST digits (digit and thickness), 60 epochs",
        ),
        Recipe(
            "cgan_conv_plus_long_mnist5k", "cgan", plus_model(10, channels=64),
            plus_train(DataConfig(dataset="mnist5k"), epochs=160, ema_decay=0.999, precision="bf16", channels_last=True),
            "cgan_conv_plus_long_kana49 on 3,500 real MNIST digits (digit and thickness): bf16, 160 epochs (560k images)",
        ),
        Recipe(
            "cvae_conv_plus_mnist5k", "cvae",
            CVAEConfig(arch="conv", n_classes=10, latent_dim=16, hidden_dim=128, channels=32, prior_components=3),
            CVAETrainConfig(data=DataConfig(dataset="mnist5k"), epochs=60),
            "cvae_conv_plus_kana49 on 3,500 real MNIST digits (digit and thickness): the plain ELBO and 3 Gaussians "
            "per (digit, thickness) cell fitted to the training posterior",
        ),
        Recipe(
            "stylegan_long_mnist5k", "stylegan", StyleGANConfig(n_classes=10),
            StyleGANTrainConfig(data=DataConfig(dataset="mnist5k"), epochs=60),
            "the conditional StyleGAN on 3,500 real MNIST digits (digit and thickness), shown 210k images "
            "(60 passes; stylegan_long_kana49 sees 385k), 44 min on one shared CPU thread",
        ),
        Recipe(
            "classifier_mnist5k", "classifier", ClassifierConfig(n_classes=10),
            ClassifierTrainConfig(data=DataConfig(dataset="mnist5k"), epochs=15),
            "the domain classifier of the metric suite for the 5,000 real MNIST digits",
        ),
    ]
}


def snapshot_archive(name: str, root: Path | None = None) -> Path:
    """The shipped snapshot archive of recipe ``name``, ``data/snapshots/<name>.npz``: a copy of the
    ``snapshots.npz`` its training run wrote (read it with :func:`genlib.models.snapshots.load_snapshots`)."""
    return (Path(root) if root is not None else repo_data_dir()) / "snapshots" / f"{name}.npz"


def _renamed(recipe: Recipe, name: str, train_config: Any) -> Any:
    """``train_config`` with its snapshot folder (if it has one) following the recipe's new ``name``."""
    if getattr(train_config, "snapshot_dir", "") == snapshot_folder(recipe.name):
        return dataclasses.replace(train_config, snapshot_dir=snapshot_folder(name))
    return train_config


def moved(recipe: Recipe, dataset: str, description: str = "") -> Recipe:
    """The same recipe on another dataset: its data and class count changed, nothing else."""
    train_config = dataclasses.replace(recipe.train_config, data=dataclasses.replace(recipe.train_config.data, dataset=dataset))
    model_config = dataclasses.replace(recipe.model_config, n_classes=len(class_names_of(dataset)))
    name = recipe.name.rsplit("_", 1)[0] + f"_{dataset}"
    return Recipe(name, recipe.family, model_config, _renamed(recipe, name, train_config),
                  description or f"{recipe.description} (the Kana-49 recipe, moved to {dataset})")


RECIPES.update({
    r.name: r for r in [
        moved(RECIPES["cvae_conv_slant_kana49"], "mnist5k",
              "the conv beta-CVAE (latent 16, beta = 3) on 3,500 real MNIST digits, conditioned on digit, stroke thickness "
              "and tilt (the StyleGAN report's problem statement: 4 style codes thick + 2 * slanted)"),
    ]
})


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}: allowed {', '.join(sorted(RECIPES))}")
    return RECIPES[name]


def pretrained_path(name: str, root: Path | None = None) -> Path:
    """``data/<name>.safetensors`` (or under ``root``)."""
    return (Path(root) if root is not None else repo_data_dir()) / f"{name}.safetensors"


def _flags(config: Any, default: Any) -> list[str]:
    out = []
    for f in fields(config):
        value, base = getattr(config, f.name), getattr(default, f.name)
        if is_dataclass(value):
            out += _flags(value, base)
        elif value != base:
            out.append(f"{flag_of(f.name)} {' '.join(map(str, value)) if isinstance(value, tuple) else value}")
    return out


def recipe_command(recipe: Recipe) -> str:
    """The explicit ``genlib train`` command equivalent to ``genlib train --recipe <name>``."""
    family = get_family(recipe.family)
    flags = _flags(recipe.model_config, family.model_config()) + _flags(recipe.train_config, family.train_config())
    return " ".join(["genlib train", recipe.family, *flags, f"--out runs/{recipe.name}.safetensors", "--slim"])


def train_recipe(
    name: str | Recipe,
    root: Path | None = None,
    progress: bool = True,
    out: Path | None = None,
    *,
    overwrite: bool = False,
    max_steps: int | None = None,
    data: Any = None,
) -> Path:
    """Train a recipe (a name in :data:`RECIPES`, or a :class:`Recipe`) from scratch and write its slim
    checkpoint once training has finished; returns the path.

    The target is ``out``, else ``<root>/<name>.safetensors`` when ``root`` (a data folder) is
    given, else ``runs/<name>.safetensors``. While training, full (resumable) checkpoints are saved
    at the target, or at ``runs/<name>.safetensors`` when the target lies in a data folder (``root``
    or the shipped ``data/``), so an interrupted run never replaces a finished model there.

    Args:
        overwrite: allow replacing an existing file in a data folder, and writing into the shipped
            ``data/`` (a missing file in the data folder given as ``root`` may always be created).
        max_steps: stop after this many steps (then no slim file is written; returns the full one).
        data: a prepared dataset to use instead of the recipe's.
    Raises:
        ValueError: the target exists in a data folder and ``overwrite`` is not set, or cannot be written.
    """
    from genlib.cli_io import TrainPlan, check_something_to_train, is_shipped, run_plan

    recipe = name if isinstance(name, Recipe) else get_recipe(name)
    name = recipe.name
    target = Path(out) if out is not None else pretrained_path(name, root) if root is not None else Path("runs") / f"{name}.safetensors"
    protect = root is not None or is_shipped(target)
    if protect and target.exists() and not overwrite:
        raise ValueError(f"{target} exists: pass overwrite=True (genlib train --overwrite-shipped) to replace it")
    check_something_to_train(recipe.train_config, None, max_steps)
    shipped_ok = overwrite or (root is not None and Path(root).resolve() == repo_data_dir().resolve() and not target.exists())
    plan = TrainPlan.make(get_family(recipe.family), recipe.model_config, recipe.train_config, target, slim=True,
                          overwrite_shipped=shipped_ok, protect=protect)
    return run_plan(plan, data=data, max_steps=max_steps, progress=progress).written


@dataclass(frozen=True)
class Budget:
    """How much a notebook may train when no pretrained checkpoint exists for its dataset.

    A budgeted model is a demonstration, not the recipe's result: it is written under
    ``runs/notebook_models/`` (never into ``data/``) with the budget in its file name.
    """

    epochs: int = 2  # at most this many epochs (the recipe's own count when it is smaller)
    limit: int = 2000  # at most this many images per split, class-stratified (0 = all)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.limit < 0:
            raise ValueError(f"a budget needs epochs >= 1 and limit >= 0, got epochs={self.epochs}, limit={self.limit}")

    @property
    def tag(self) -> str:
        return f"e{self.epochs}-l{self.limit}"


def recipe_for(variant: str, dataset: str) -> Recipe:
    """The recipe ``<variant>_<dataset>``: a named one if it exists, else the Kana-49 recipe of that
    variant moved to ``dataset`` (its data and class count changed, nothing else).

    Raises:
        ValueError: no recipe of that variant exists (names the variants there are).
    """
    name = f"{variant}_{dataset}"
    if name in RECIPES:
        return RECIPES[name]
    base = RECIPES.get(f"{variant}_kana49")
    if base is None:
        variants = sorted({n.rsplit("_", 1)[0] for n in RECIPES})
        raise ValueError(f"unknown model variant {variant!r}: allowed {', '.join(variants)}")
    return moved(base, dataset)


def shipped_variant(variants: Sequence[str], dataset: str, root: Path | None = None) -> str:
    """The first of ``variants`` (e.g. ``("stylegan", "stylegan_long")``) whose checkpoint
    ``data/<variant>_<dataset>.safetensors`` ships, else the first: what :func:`load_or_train` should load."""
    if not variants:
        raise ValueError("shipped_variant needs at least one variant")
    return next((v for v in variants if pretrained_path(f"{v}_{dataset}", root).is_file()), variants[0])


def budgeted(recipe: Recipe, budget: Budget) -> Recipe:
    """``recipe`` cut to a budget: at most ``budget.epochs`` epochs on at most ``budget.limit`` images per split."""
    tc = recipe.train_config
    data = dataclasses.replace(tc.data, limit=budget.limit if not tc.data.limit else min(tc.data.limit, budget.limit))
    train_config = dataclasses.replace(tc, data=data, epochs=min(tc.epochs, budget.epochs))
    name = f"{recipe.name}-{budget.tag}"
    return dataclasses.replace(recipe, name=name, train_config=_renamed(recipe, name, train_config))


def estimated_minutes(recipe: Recipe, n_images: int, root: Path | None = None) -> float | None:
    """Minutes to train ``recipe`` on ``n_images`` images, from the wall time per image that the
    shipped Kana-49 checkpoint of the same variant recorded (None when there is none to go by)."""
    reference = pretrained_path(recipe.name.split("-")[0].rsplit("_", 1)[0] + "_kana49", root)
    if not reference.is_file():
        return None
    state = read_meta(reference).state
    if not state.get("images_seen"):
        return None
    return state["seconds"] / state["images_seen"] * n_images / 60


def load_or_train(
    name: str,
    dataset: str | None = None,
    *,
    budget: Budget | None = None,
    root: Path | None = None,
    runs: Path = Path("runs") / "notebook_models",
    device: str = "cpu",
    progress: bool = True,
) -> Loaded:
    """The pretrained model ``<name>_<dataset>`` (or the recipe ``name`` when no dataset is given).

    Loads ``data/<name>_<dataset>.safetensors`` when it is there. Otherwise, with a ``budget``, it
    trains the recipe cut to that budget into ``runs/notebook_models/`` (or loads an earlier such
    run) and says so, with the estimated time; without a budget it trains the full recipe into
    ``data/``, as ``genlib train --recipe`` would.

    Returns:
        a :class:`genlib.families.Loaded`: ``.model``, ``.state``, ``.sample(...)``, ``.class_names`` …
    """
    recipe = get_recipe(name) if dataset is None else recipe_for(name, dataset)
    path = pretrained_path(recipe.name, root)
    if path.exists():
        return load(path, device=device)
    if budget is None:
        print(f"{path} not found: training it now with `genlib train --recipe {recipe.name}` (this takes a while on a CPU)")
        train_recipe(recipe, root=path.parent, progress=progress)  # a missing file there may be created, never replaced
        return load(path, device=device)
    small = budgeted(recipe, budget)
    out = Path(runs) / f"{small.name}.safetensors"
    if not out.exists():
        n_images = small.train_config.epochs * (small.train_config.data.limit or 0)
        minutes = estimated_minutes(small, n_images, root) if n_images else None
        eta = f", about {max(minutes, 0.1):.1f} min on this machine" if minutes is not None else ""
        print(f"no pretrained {recipe.name} in {path.parent}: training a small demonstration model instead "
              f"({small.train_config.epochs} epochs on at most {budget.limit} images{eta}) -> {out}")
        train_recipe(small, out=out, progress=progress)
    return load(out, device=device)
