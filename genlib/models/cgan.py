"""Conditional GANs: the K49 report's MLP CGAN (§4.3) and its two variants (§6.1).

A CGAN learns ``G(z | y)`` with ``y = (class, style)`` by playing the conditional minimax game
(Mirza & Osindero 2014; the K49 report's eq. (4))::

    min_G max_D  E_x[log D(x | y)] + E_z[log(1 - D(G(z | y) | y))]

- ``arch="mlp"`` (the K49 report's §4.3.2–4.3.3): G: ``z (64) + one-hot class (49) + one-hot style (2)``
  → 256 ReLU → 784 tanh, on data rescaled to [-1, 1] (``x * 2 - 1``); D: image (784) + class (49)
  + style (2) → 256 ReLU → 1.
- ``input_order="cxs"`` (§6.1.1, Architecture 1): D reads ``(class, image, style)`` instead of
  ``(image, class, style)``. For a dense first layer this only permutes its weight columns.
- ``output="sigmoid"`` (§6.1.2, Architecture 2): G ends with a sigmoid and the data stay in [0, 1].
- ``label_range="pm1"``: the one-hot labels in {-1, +1}, as the K49 report trained its CGAN (its
  §4.3.1 applies ``x * 2 - 1`` to the whole image + label array). The report's Architecture 2 uses
  ``output="sigmoid"`` with the default ``label_range="01"``: it changed both.
- ``arch="conv"``: the StyleGAN report's convolutional cGAN (below, after the MLP).
- ``discriminator="projection"``, ``spectral_norm=True``: the improved conv discriminator of
  :mod:`genlib.models.cgan_projection` (issue "image quality"; not in either report).

The discriminators return *logits*; the reports' ``Sigmoid`` + ``BCELoss`` is folded into the
numerically stable losses of :mod:`genlib.losses` (the same function of the same numbers).
Generators return images in their data range (``model_range``); :func:`sample` maps them to [0, 1].
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from genlib.config import check_choice
from genlib.legacy import renamed_values
from genlib.models.conditioning import check_labels, label_codes, one_hot_codes, seeded_normal
from genlib.runtime import evaluating

IMAGE_PIXELS = 28 * 28
ARCHS: tuple[str, ...] = ("mlp", "conv")
OUTPUTS: tuple[str, ...] = ("tanh", "sigmoid")
LABEL_RANGES: tuple[str, ...] = ("01", "pm1")
ACTIVATIONS: tuple[str, ...] = ("lrelu", "sigmoid")
STYLE_JOINS: tuple[str, ...] = ("concat", "add")
DISCRIMINATORS: tuple[str, ...] = ("concat", "projection")


@dataclass(frozen=True)
class CGANConfig:
    """Architecture of a conditional GAN (defaults: the K49 report's MLP CGAN, §4.3).

    ``conv_config()`` gives the StyleGAN report's convolutional model.
    """

    arch: Literal["mlp", "conv"] = "mlp"  # mlp: the K49 report's dense nets; conv: the StyleGAN report's convolutional cGAN
    n_classes: int = 49  # class labels 0..n_classes-1 (49 for K49 / Kana-49, 10 for MNIST)
    n_styles: int = 2  # style labels (0 thin, 1 thick)
    latent_dim: int = 64  # size of the noise z (the K49 report: 64; the StyleGAN report: 100)
    hidden_dim: int = 256  # mlp: hidden width of G and D (the K49 report: 256)
    input_order: Literal["xcs", "cxs"] = "xcs"  # mlp D input: (image, class, style) or Architecture 1's (class, image, style)
    output: Literal["tanh", "sigmoid"] = "tanh"  # G's last activation; tanh trains on [-1, 1] data, sigmoid on [0, 1]
    label_range: Literal["01", "pm1"] = "01"  # mlp: one-hot label codes in {0, 1}, or in {-1, +1} (the K49 report's x*2-1 on image *and* labels)
    embed_dim: int = 50  # conv: size of the label embeddings (the StyleGAN report: 50)
    channels: int = 128  # conv: filters of G's transposed convs and D's second conv (the StyleGAN report: 128)
    style_join: Literal["concat", "add"] = "concat"  # conv: style as its own label map, or added to the class embedding
    dropout: float = 0.2  # conv: dropout before D's dense output (the StyleGAN report: 0.2)
    discriminator: Literal["concat", "projection"] = "concat"  # conv D: the StyleGAN report's (label maps concatenated to the image) or a projection D (labels · features out)
    spectral_norm: bool = False  # divide each D weight by its largest singular value (Miyato et al. 2018)
    kernel_size: int = 4  # conv: kernel of G's two transposed convs (the StyleGAN report: 4; its analysis' setting one: 3)
    activation: Literal["lrelu", "sigmoid"] = "lrelu"  # conv: the hidden activations of G and D (setting one of that analysis: sigmoid)
    conditional: bool = True  # conv: False is the unconditional GAN of the same architecture (no label maps; labels ignored)

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.input_order not in ("xcs", "cxs"):
            raise ValueError(f"input_order must be 'xcs' or 'cxs', got {self.input_order!r}")
        if self.arch == "conv" and self.input_order != "xcs":
            raise ValueError("input_order='cxs' is an MLP variant (the K49 report's §6.1.1); the conv D stacks label maps as channels")
        if self.output not in OUTPUTS:
            raise ValueError(f"output must be one of {OUTPUTS}, got {self.output!r}")
        if self.label_range not in LABEL_RANGES:
            raise ValueError(f"label_range must be one of {LABEL_RANGES}, got {self.label_range!r}")
        if self.label_range == "pm1" and self.arch != "mlp":
            raise ValueError("label_range='pm1' rescales the MLP's one-hot codes; the conv cGAN embeds labels (use arch='mlp')")
        if self.style_join not in STYLE_JOINS:
            raise ValueError(f"style_join must be one of {STYLE_JOINS}, got {self.style_join!r}")
        for name in ("n_classes", "n_styles", "latent_dim", "hidden_dim", "embed_dim", "channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.arch == "conv" and self.channels < 2:
            raise ValueError(f"conv channels must be >= 2 (D's first conv has channels // 2), got {self.channels}")
        check_choice("discriminator", self.discriminator, DISCRIMINATORS, renamed_values("cgan", "model_config.discriminator"))
        if self.discriminator == "projection" and self.arch != "conv":
            raise ValueError("discriminator='projection' is a conv discriminator: use it with arch='conv'")
        if not 2 <= self.kernel_size <= 7:  # larger than the 7x7 maps the first transposed conv reads: no use, only cost
            raise ValueError(f"kernel_size must be in 2..7, got {self.kernel_size}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {self.activation!r}")
        if self.arch != "conv" and (self.kernel_size != 4 or self.activation != "lrelu" or not self.conditional):
            raise ValueError("kernel_size, activation and conditional=False are conv cGAN options: use them with arch='conv'")
        if self.discriminator == "projection" and (self.activation != "lrelu" or not self.conditional):
            raise ValueError("the projection discriminator is conditional with LeakyReLU: use activation='lrelu', conditional=True")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def to_model_range(x: Tensor, config: CGANConfig) -> Tensor:
    """Images in [0, 1] → the generator's range: ``x * 2 - 1`` for tanh (the K49 report's §4.3.1), unchanged for sigmoid."""
    return x * 2 - 1 if config.output == "tanh" else x


def to_unit_range(x: Tensor, config: CGANConfig) -> Tensor:
    """Generator output → [0, 1]: ``(x + 1) / 2`` for tanh, unchanged for sigmoid."""
    return (x + 1) / 2 if config.output == "tanh" else x


def mlp_label_codes(classes: Tensor, styles: Tensor, config: CGANConfig, check: bool = True) -> tuple[Tensor, Tensor]:
    """The MLP's label inputs ``([B, n_classes], [B, n_styles])``: one-hot codes in {0, 1}, or
    ``code * 2 - 1`` in {-1, +1} for ``label_range="pm1"``: the K49 report rescales its whole
    835-wide array (image + one-hot labels) by ``x * 2 - 1`` before training (§4.3.1).
    ``check=False`` skips the range check for labels known to be valid (:func:`one_hot_codes`)."""
    codes = label_codes if check else one_hot_codes
    c1h, s1h = codes(classes, styles, config.n_classes, config.n_styles)
    if config.label_range == "pm1":
        return c1h * 2 - 1, s1h * 2 - 1
    return c1h, s1h


def output_activation(name: str) -> nn.Module:
    """``nn.Tanh()`` or ``nn.Sigmoid()`` for ``CGANConfig.output``."""
    return nn.Tanh() if name == "tanh" else nn.Sigmoid()


class Generator(nn.Module):
    """The K49 report's generator: ``[z, c1h, s1h]`` → 256 ReLU → 784 tanh (or sigmoid).

    Shapes: ``z`` ``[B, latent_dim]``; ``classes``, ``styles`` int64 ``[B]``;
    output ``[B, 1, 28, 28]`` in [-1, 1] (tanh) or [0, 1] (sigmoid).
    """

    def __init__(self, config: CGANConfig = CGANConfig()) -> None:
        super().__init__()
        if config.arch != "mlp":
            raise ValueError(f"Generator builds arch 'mlp'; use ConvGenerator for {config.arch!r}")
        self.config = config
        c = config
        self.net = nn.Sequential(
            nn.Linear(c.latent_dim + c.n_classes + c.n_styles, c.hidden_dim),  # input: noise + labels
            nn.ReLU(),
            nn.Linear(c.hidden_dim, IMAGE_PIXELS),  # output layer: one value per pixel
            output_activation(c.output),
        )

    def forward(self, z: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        c1h, s1h = mlp_label_codes(classes, styles, self.config)
        return self.net(torch.cat((z, c1h, s1h), dim=1)).reshape(-1, 1, 28, 28)


class Discriminator(nn.Module):
    """The K49 report's discriminator: ``[x, c1h, s1h]`` (or ``[c1h, x, s1h]``) → 256 ReLU → 1 logit.

    Shapes: ``x`` ``[B, 1, 28, 28]`` or ``[B, 784]`` in the generator's range; output logits ``[B]``
    (``sigmoid(logit)`` is the report's probability that ``x`` is real given its labels).
    """

    def __init__(self, config: CGANConfig = CGANConfig()) -> None:
        super().__init__()
        if config.arch != "mlp":
            raise ValueError(f"Discriminator builds arch 'mlp'; use ConvDiscriminator for {config.arch!r}")
        self.config = config
        c = config
        self.net = nn.Sequential(
            nn.Linear(IMAGE_PIXELS + c.n_classes + c.n_styles, c.hidden_dim),  # input: image + labels
            nn.ReLU(),
            nn.Linear(c.hidden_dim, 1),  # real/fake logit (the report's Sigmoid lives in the loss)
        )

    def forward(self, x: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        c1h, s1h = mlp_label_codes(classes, styles, self.config)
        x = x.reshape(x.shape[0], IMAGE_PIXELS)
        parts = (x, c1h, s1h) if self.config.input_order == "xcs" else (c1h, x, s1h)
        return self.net(torch.cat(parts, dim=1)).squeeze(1)


# ---- the StyleGAN report's convolutional cGAN ----------------------------------------------
#
# The StyleGAN report's convolutional conditional GAN, translated from Keras to PyTorch, conditioned on class and style.
#
# Generator (the report's "Generator")::
#
#     class  → Embedding(n_classes, 50) → Dense(7*7) → [B, 1, 7, 7]         (the label map)
#     z (100) → Dense(7*7*128) → LeakyReLU(0.2) → [B, 128, 7, 7]
#     concat → [B, 129, 7, 7]  (130 with a style map, see below)
#     ConvTranspose 4x4 / 2, 128 filters → LeakyReLU(0.2) → [B, 128, 14, 14]
#     ConvTranspose 4x4 / 2, 128 filters → LeakyReLU(0.2) → [B, 128, 28, 28]
#     Conv 7x7, 1 filter, sigmoid → [B, 1, 28, 28] in [0, 1]
#
# Discriminator (the report's "Discriminator")::
#
#     class → Embedding(n_classes, 50) → Dense(28*28) → [B, 1, 28, 28]; concat with the image
#     Conv 3x3 / 2, 64 filters → LeakyReLU(0.2) → [B, 64, 14, 14]
#     Conv 3x3 / 2, 128 filters → LeakyReLU(0.2) → [B, 128, 7, 7]
#     MaxPool 3x3 / 2 (valid) → [B, 128, 3, 3] → flatten (1152) → Dropout(0.2) → Dense(1) logit
#
# Style (thin/thick) is not in the StyleGAN report, which conditions on the digit only: with ``n_styles=1``
# (``DataConfig(condition="class")``) there is no style input at all and the model is the
# report's exactly (129 channels into G's first transposed conv). With more style codes the style gets its own
# embedding. ``style_join="concat"`` (default) turns it into a second label map — one more channel
# beside the class map in both G and D — so the stroke-width code reaches every position through its
# own dense layer. ``style_join="add"`` adds the style embedding to the class embedding before the
# shared dense layer (one map, the report's channel counts). Keras' ``padding="same"`` becomes
# ``padding=1`` here (same output sizes; for stride 2 Keras pads only bottom/right).

LRELU_SLOPE = 0.2  # the StyleGAN report: LeakyReLU(alpha=0.2)


def hidden_activation(config: CGANConfig) -> nn.Module:
    """The conv cGAN's hidden nonlinearity: ``LeakyReLU(0.2)`` (the StyleGAN report's model) or ``Sigmoid``
    (setting one of its analysis, read as "sigmoid in place of every LeakyReLU")."""
    return nn.LeakyReLU(LRELU_SLOPE) if config.activation == "lrelu" else nn.Sigmoid()


def upsample2(in_channels: int, out_channels: int, kernel: int) -> nn.ConvTranspose2d:
    """A transposed conv that doubles height and width for any ``kernel`` >= 2, as Keras' ``padding="same"``:
    ``out = (in - 1) * 2 - 2p + k + op = 2 * in`` with ``p = ceil((k - 2) / 2)`` and ``op = 2 - k + 2p`` (0 or 1)."""
    p = (kernel - 1) // 2
    return nn.ConvTranspose2d(in_channels, out_channels, kernel, stride=2, padding=p, output_padding=2 - kernel + 2 * p)


def conv_config(**changes: object) -> CGANConfig:
    """The StyleGAN report's model: ``CGANConfig(arch="conv", latent_dim=100, output="sigmoid")`` with ``changes`` applied."""
    base = CGANConfig(arch="conv", latent_dim=100, output="sigmoid")
    return dataclasses.replace(base, **changes)


class LabelMap(nn.Module):
    """Labels → spatial maps: ``Embedding(n, embed_dim) → Dense(size*size) → [B, k, size, size]``.

    ``k = 2`` (a class map and a style map) for ``style_join="concat"``; ``k = 1`` for ``"add"``,
    where the map is ``Dense(E_class[c] + E_style[s])``, and for ``n_styles = 1`` (class only:
    ``Dense(E_class[c])``, the StyleGAN report's label map, no style parameters).
    """

    def __init__(self, config: CGANConfig, size: int) -> None:
        super().__init__()
        self.config = config
        self.size = size
        self.class_embed = nn.Embedding(config.n_classes, config.embed_dim)
        styled = config.n_styles > 1
        self.style_embed = nn.Embedding(config.n_styles, config.embed_dim) if styled else None
        self.class_dense = nn.Linear(config.embed_dim, size * size)
        self.style_dense = nn.Linear(config.embed_dim, size * size) if styled and config.style_join == "concat" else None

    @property
    def channels(self) -> int:
        return 2 if self.style_dense is not None else 1

    def forward(self, classes: Tensor, styles: Tensor) -> Tensor:
        c = check_labels(classes, self.config.n_classes, "class")
        s = check_labels(styles, self.config.n_styles, "style")
        if c.shape != s.shape:
            raise ValueError(f"class and style labels must have the same shape, got {tuple(c.shape)} and {tuple(s.shape)}")
        if self.style_embed is None:  # class only (the StyleGAN report)
            maps = self.class_dense(self.class_embed(c)).unsqueeze(1)  # [B, 1, size*size]
        elif self.style_dense is None:
            maps = self.class_dense(self.class_embed(c) + self.style_embed(s)).unsqueeze(1)  # [B, 1, size*size]
        else:
            maps = torch.stack((self.class_dense(self.class_embed(c)), self.style_dense(self.style_embed(s))), dim=1)  # [B, 2, size*size]
        return maps.reshape(-1, self.channels, self.size, self.size)


class ConvGenerator(nn.Module):
    """The StyleGAN report's generator (module docstring). ``z`` ``[B, latent_dim]``, labels int64 ``[B]`` →
    ``[B, 1, 28, 28]`` in [0, 1] (sigmoid, as in the report) or [-1, 1] (``output="tanh"``)."""

    def __init__(self, config: CGANConfig) -> None:
        super().__init__()
        if config.arch != "conv":
            raise ValueError(f"ConvGenerator builds arch 'conv', got {config.arch!r}")
        self.config = config
        ch = config.channels
        self.labels = LabelMap(config, 7) if config.conditional else None  # [B, 1 or 2, 7, 7]
        k = self.labels.channels if self.labels is not None else 0
        self.project = nn.Sequential(nn.Linear(config.latent_dim, 7 * 7 * ch), hidden_activation(config))  # Dense(7*7*128)
        self.upsample = nn.Sequential(
            upsample2(ch + k, ch, config.kernel_size), hidden_activation(config),  # [B, ch, 14, 14]
            upsample2(ch, ch, config.kernel_size), hidden_activation(config),  # [B, ch, 28, 28]
            nn.Conv2d(ch, 1, 7, padding=3),  # [B, 1, 28, 28]
            output_activation(config.output),
        )

    def forward(self, z: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        x = self.project(z).reshape(-1, self.config.channels, 7, 7)  # [B, ch, 7, 7]
        if self.labels is None:  # unconditional: the labels are checked, then ignored
            label_codes(classes, styles, self.config.n_classes, self.config.n_styles)
            return self.upsample(x)
        label_maps = self.labels(classes, styles)  # [B, k, 7, 7]
        return self.upsample(torch.cat((x, label_maps), dim=1))  # concatenate along channels, like Keras' Concatenate()


class ConvDiscriminator(nn.Module):
    """The StyleGAN report's discriminator (module docstring). ``x`` ``[B, 1, 28, 28]`` in G's range, labels
    int64 ``[B]`` → logits ``[B]`` (the report's final sigmoid lives in the loss)."""

    def __init__(self, config: CGANConfig) -> None:
        super().__init__()
        if config.arch != "conv":
            raise ValueError(f"ConvDiscriminator builds arch 'conv', got {config.arch!r}")
        self.config = config
        ch = config.channels
        self.labels = LabelMap(config, 28) if config.conditional else None  # [B, 1 or 2, 28, 28]
        k = self.labels.channels if self.labels is not None else 0
        self.features = nn.Sequential(
            nn.Conv2d(1 + k, ch // 2, 3, stride=2, padding=1), hidden_activation(config),  # [B, 64, 14, 14]
            nn.Conv2d(ch // 2, ch, 3, stride=2, padding=1), hidden_activation(config),  # [B, 128, 7, 7]
            nn.MaxPool2d(3, stride=2),  # [B, 128, 3, 3]
            nn.Flatten(),  # [B, 1152]
            nn.Dropout(config.dropout),
        )
        self.out = nn.Linear(ch * 3 * 3, 1)  # real/fake logit

    def forward(self, x: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        x = x.reshape(-1, 1, 28, 28)
        if self.labels is None:  # unconditional: D judges the image alone
            label_codes(classes, styles, self.config.n_classes, self.config.n_styles)
            return self.out(self.features(x)).squeeze(1)
        merged = torch.cat((x, self.labels(classes, styles)), dim=1)  # [B, 1 + k, 28, 28]
        return self.out(self.features(merged)).squeeze(1)


def build_cgan(config: CGANConfig) -> tuple[nn.Module, nn.Module]:
    """The ``(generator, discriminator)`` pair for ``config.arch`` and ``config.discriminator``,
    with spectral normalisation on every D layer when ``config.spectral_norm``."""
    from genlib.models.cgan_projection import ProjectionDiscriminator, spectrally_normalised

    if config.arch == "conv":
        d = ProjectionDiscriminator(config) if config.discriminator == "projection" else ConvDiscriminator(config)
        g: nn.Module = ConvGenerator(config)
    else:
        g, d = Generator(config), Discriminator(config)
    return g, spectrally_normalised(d) if config.spectral_norm else d


def noise_for(model: nn.Module, n: int, seed: int, same_noise: bool = False) -> Tensor:
    """Seeded latents ``z`` ``[n, latent_dim]`` on the model's device; ``same_noise`` repeats one ``z`` n times."""
    device = next(model.parameters()).device
    if same_noise:
        return seeded_normal((1, model.config.latent_dim), seed, device).expand(n, -1)
    return seeded_normal((n, model.config.latent_dim), seed, device)


def sample(
    model: nn.Module, classes: Tensor, styles: Tensor, *, seed: int = 0, same_noise: bool = False, z: Tensor | None = None
) -> Tensor:
    """Generate ``G(z | class, style)`` for ``z ~ N(0, I)``: images ``[N, 1, 28, 28]`` in [0, 1].

    Args:
        model: a generator (``Generator`` or ``ConvGenerator``; e.g. ``load(path).model``).
        classes, styles: int64 ``[N]``.
        seed: seeds the noise, which comes from its own generator (same images on any device).
        same_noise: use one ``z`` for all N images (fixed-noise grids: only the labels change).
        z: explicit latents ``[N, latent_dim]`` (overrides ``seed`` and ``same_noise``).
    """
    if z is None:
        z = noise_for(model, classes.shape[0], seed, same_noise)
    elif z.shape != (classes.shape[0], model.config.latent_dim):
        raise ValueError(f"z must have shape {(classes.shape[0], model.config.latent_dim)}, got {tuple(z.shape)}")
    with evaluating(model) as device:
        images = model(z.to(device), classes.to(device), styles.to(device))
    return to_unit_range(images, model.config).clamp(0, 1)
