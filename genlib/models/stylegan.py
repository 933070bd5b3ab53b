"""A conditional, progressively growing StyleGAN (Karras et al. 2019) small enough for a CPU.

The generator is two separate calls (StyleGAN §2):

- ``w = G.mapping(z, classes, styles)`` — 8 equalized dense layers (lr multiplier 0.01) from the
  pixel-normalized ``z`` concatenated with class and style embeddings to ``w [B, w_dim]``;
- ``img = G.synthesis(ws, step, alpha)`` — a learned constant 4x4 input, then one block per
  resolution (upsample, conv, noise, AdaIN(w), twice); ``step`` picks the output resolution
  ``4 * 2**step`` and ``alpha`` fades the newest block in: ``(1 - alpha) * upsampled_skip + alpha * out``.

Each AdaIN layer reads its own row of ``ws [B, num_ws, w_dim]``, which makes style mixing a tensor
operation: :func:`blend_w` interpolates two codes (the StyleGAN report's ``0.4 * w[0] + 0.6 * w[1]`` is ``t = 0.6``),
:func:`crossover_ws` takes coarse layers from one code and fine layers from another.

The discriminator, which mirrors the synthesis network, is in :mod:`genlib.models.stylegan_discriminator`.

Images live in [-1, 1] at ``resolution`` (28x28 data is padded by 2 px each side to 32x32);
:meth:`Generator.to_unit_images` crops back and maps to [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from genlib.config import check_range
from genlib.models.conditioning import check_labels
from genlib.models.stylegan_layers import AdaIN, EqualConv2d, EqualLinear, NoiseInjection, PixelNorm, lrelu, upsample2x

NoiseMode = Literal["random", "const", "none"]
NOISE_MODES: tuple[str, ...] = ("random", "const", "none")
TruncationTarget = Literal["label", "global"]


MAX_RESOLUTION = 256  # the StyleGAN report trains at 64 px; a CPU course stops well below 1024


@dataclass(frozen=True)
class StyleGANConfig:
    """Architecture of the conditional StyleGAN (JSON-able; a checkpoint rebuilds the model from it)."""

    resolution: int = 32  # synthesis size, a power of two >= 8 (32 for 28x28 data, 64 for image folders)
    image_size: int = 28  # data size; padded by (resolution - image_size) / 2 px per side
    image_channels: int = 1  # 1 grayscale, 3 RGB
    latent_dim: int = 128  # latent z
    w_dim: int = 128  # intermediate latent w (also the size of the label embeddings)
    mapping_layers: int = 8  # dense layers in the mapping network
    mapping_lr_mul: float = 0.01  # learning-rate multiplier of the mapping network
    channel_base: int = 512  # feature channels at resolution r: min(channel_base // r, channel_max)
    channel_max: int = 128  # at most this many channels at any resolution (so 4:128, 8:64, 16:32, 32:16, 64:8)
    n_classes: int = 49  # class labels 0..n_classes-1
    n_styles: int = 2  # style labels {0 thin, 1 thick}
    mbstd_group: int = 4  # minibatch-stddev group size in the discriminator
    w_avg_beta: float = 0.995  # decay of the running mean of w used by truncation

    def __post_init__(self) -> None:
        r = self.resolution
        if r < 8 or r & (r - 1) != 0 or r > MAX_RESOLUTION:
            sizes = [2**k for k in range(2, max(3, r.bit_length()))]  # 4, 8, ..., r: two conv outputs each, float32, batch 32
            gib = sum(2 * min(max(self.channel_base // s, 1), self.channel_max) * s * s * 4 * 32 for s in sizes) / 2**30
            need = f" (its feature maps alone would take ~{gib:.1f} GiB per batch of 32)" if r > MAX_RESOLUTION else ""
            raise ValueError(f"resolution must be a power of two in 8..{MAX_RESOLUTION}, got {r}{need}")
        if not 0 < self.image_size <= r or (r - self.image_size) % 2 != 0:
            raise ValueError(f"image_size must be in 1..{r} with an even difference to resolution {r}, got {self.image_size}")
        if self.image_channels not in (1, 3):
            raise ValueError(f"image_channels must be 1 or 3, got {self.image_channels}")
        for name in ("latent_dim", "w_dim", "mapping_layers", "channel_base", "channel_max", "n_classes", "n_styles", "mbstd_group"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        check_range("mapping_lr_mul", self.mapping_lr_mul, 0, low_open=True)
        check_range("w_avg_beta", self.w_avg_beta, 0, 1)

    @property
    def num_blocks(self) -> int:
        """Synthesis blocks, one per resolution 4, 8, ..., resolution."""
        return int(math.log2(self.resolution)) - 1

    @property
    def max_step(self) -> int:
        """Index of the last growing step (output resolution ``4 * 2**max_step = resolution``)."""
        return self.num_blocks - 1

    @property
    def num_ws(self) -> int:
        """Rows of ``ws``: two AdaIN layers per block."""
        return 2 * self.num_blocks

    @property
    def pad(self) -> int:
        """Pixels of padding on each side between ``image_size`` and ``resolution``."""
        return (self.resolution - self.image_size) // 2

    def channels(self, step: int) -> int:
        """Feature channels at growing step ``step`` (resolution ``4 * 2**step``)."""
        return min(self.channel_base // (4 * 2**step), self.channel_max)


def check_label_pair(classes: Tensor, styles: Tensor, batch: int, config: StyleGANConfig) -> tuple[Tensor, Tensor]:
    """Validated int64 ``classes`` and ``styles`` ``[B]`` for a batch of ``batch`` (clear ValueErrors)."""
    classes, styles = check_labels(classes, config.n_classes, "class"), check_labels(styles, config.n_styles, "style")
    if not classes.shape[0] == styles.shape[0] == batch:
        raise ValueError(f"batch sizes differ: {batch} inputs, {classes.shape[0]} classes, {styles.shape[0]} styles")
    return classes, styles


def blend_w(w_a: Tensor, w_b: Tensor, t: float) -> Tensor:
    """Linear style mixing ``w = (1 - t) * w_a + t * w_b``; ``t = 0`` gives ``w_a``, ``t = 1`` gives ``w_b`` exactly."""
    return (1 - t) * w_a + t * w_b


def crossover_ws(ws_a: Tensor, ws_b: Tensor, k: int) -> Tensor:
    """Crossover mixing: layers ``[:k]`` (coarse) from A, ``[k:]`` (fine) from B; ``ws [B, num_ws, w_dim]``."""
    if not 0 <= k <= ws_a.shape[1]:
        raise ValueError(f"crossover layer must be in 0..{ws_a.shape[1]}, got {k}")
    return torch.cat([ws_a[:, :k], ws_b[:, k:]], dim=1)


class MappingNetwork(nn.Module):
    """``(z, classes, styles) -> w``: normalized z and label embeddings through 8 equalized dense layers.

    Tracks running means of ``w`` (global, and per (class, style) label) for the truncation trick.
    """

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        self.config = config
        self.norm = PixelNorm()
        self.class_embed = nn.Embedding(config.n_classes, config.w_dim)  # E_c[c] = onehot(c) @ E_c, rows ~ N(0, I)
        self.style_embed = nn.Embedding(config.n_styles, config.w_dim)  # E_s[s]
        dims = [config.latent_dim + 2 * config.w_dim] + [config.w_dim] * config.mapping_layers
        self.layers = nn.ModuleList(EqualLinear(a, b, lr_mul=config.mapping_lr_mul) for a, b in zip(dims[:-1], dims[1:]))
        self.register_buffer("w_avg", torch.zeros(config.w_dim))
        self.register_buffer("w_avg_label", torch.zeros(config.n_classes, config.n_styles, config.w_dim))
        self.register_buffer("w_avg_count", torch.zeros(config.n_classes * config.n_styles + 1))  # updates per label, then global

    def forward(
        self, z: Tensor, classes: Tensor, styles: Tensor, psi: float = 1.0, truncation: TruncationTarget = "label"
    ) -> Tensor:
        """``z [B, latent_dim]``, labels int64 ``[B]`` -> ``w [B, w_dim]`` (truncated towards the mean when psi < 1)."""
        if z.ndim != 2 or z.shape[1] != self.config.latent_dim:
            raise ValueError(f"z must have shape [B, {self.config.latent_dim}], got {tuple(z.shape)}")
        classes, styles = check_label_pair(classes, styles, z.shape[0], self.config)
        c = self.class_embed(classes)  # E_c[c], [B, w_dim]
        s = self.style_embed(styles)  # E_s[s], [B, w_dim]
        x = torch.cat([self.norm(z), self.norm(c), self.norm(s)], dim=1)  # [B, latent_dim + 2 w_dim]
        for layer in self.layers:
            x = lrelu(layer(x))
        return self.truncate(x, classes, styles, psi, truncation) if psi != 1.0 else x

    def truncate(self, w: Tensor, classes: Tensor, styles: Tensor, psi: float, target: TruncationTarget = "label") -> Tensor:
        """Truncation trick ``w' = w_avg + psi * (w - w_avg)`` towards the label's (or the global) mean."""
        if target == "label":
            w_avg = self.w_avg_label[classes, styles]  # [B, w_dim]
        elif target == "global":
            w_avg = self.w_avg.expand_as(w)
        else:
            raise ValueError(f"truncation target must be 'label' or 'global', got {target!r}")
        return w_avg + psi * (w - w_avg)

    @torch.no_grad()
    def update_w_avg(self, w: Tensor, classes: Tensor, styles: Tensor) -> None:
        """Move the running means towards this batch: ``avg += r * (mean_batch - avg)``, ``r = max(1 - beta, 1/(n+1))``.

        The ``1/(n+1)`` term makes the first updates an exact running mean instead of a decay from zero.
        """
        n_labels = self.config.n_classes * self.config.n_styles
        label = classes * self.config.n_styles + styles  # [B] flat label index
        sums = torch.zeros(n_labels, w.shape[1], dtype=w.dtype, device=w.device).index_add_(0, label, w)
        hits = torch.bincount(label, minlength=n_labels)  # [n_labels]
        means = torch.cat([sums / hits.clamp(min=1)[:, None], w.mean(0, keepdim=True)])  # [n_labels + 1, w_dim]
        present = torch.cat([hits > 0, hits.new_ones(1, dtype=torch.bool)])
        rate = torch.clamp(1.0 / (self.w_avg_count + 1), min=1 - self.config.w_avg_beta) * present  # 0 where absent
        avgs = torch.cat([self.w_avg_label.reshape(n_labels, -1), self.w_avg[None]])
        avgs = avgs + rate[:, None] * (means - avgs)
        self.w_avg_label.copy_(avgs[:-1].reshape_as(self.w_avg_label))
        self.w_avg.copy_(avgs[-1])
        self.w_avg_count.add_(present.to(self.w_avg_count.dtype))


class SynthesisBlock(nn.Module):
    """One resolution: ``[upsample, conv] | const -> noise -> lrelu -> AdaIN -> conv -> noise -> lrelu -> AdaIN``."""

    def __init__(self, config: StyleGANConfig, step: int) -> None:
        super().__init__()
        out_ch, size = config.channels(step), 4 * 2**step
        if step == 0:
            self.const = nn.Parameter(torch.ones(1, out_ch, 4, 4))  # learned constant input
            self.conv1 = None
        else:
            self.conv1 = EqualConv2d(config.channels(step - 1), out_ch, 3)
        self.noise1, self.adain1 = NoiseInjection(out_ch), AdaIN(out_ch, config.w_dim)
        self.conv2 = EqualConv2d(out_ch, out_ch, 3)
        self.noise2, self.adain2 = NoiseInjection(out_ch), AdaIN(out_ch, config.w_dim)
        self.register_buffer("noise_const", torch.randn(2, 1, size, size))  # fixed noise for noise_mode="const"
        self.size = size

    def _noise(self, i: int, x: Tensor, mode: NoiseMode, generator: torch.Generator | None) -> Tensor | None:
        if mode == "random":  # drawn on the generator's device, so a CPU generator gives the same noise anywhere
            device = generator.device if generator is not None else x.device
            return torch.randn(x.shape[0], 1, self.size, self.size, device=device, generator=generator).to(x)
        return self.noise_const[i : i + 1] if mode == "const" else None

    def _noise_act_adain(
        self, x: Tensor, i: int, noise_layer: NoiseInjection, adain: AdaIN, w: Tensor, mode: NoiseMode, generator: torch.Generator | None
    ) -> Tensor:
        """``x + s * noise -> lrelu -> AdaIN(., w)`` for layer ``i`` (0 or 1) of the block."""
        noise = self._noise(i, x, mode, generator)
        if noise is not None:
            x = noise_layer(x, noise)
        return adain(lrelu(x), w)

    def forward(
        self, x: Tensor | None, w1: Tensor, w2: Tensor, noise_mode: NoiseMode, generator: torch.Generator | None
    ) -> Tensor:
        """``x [B, C_prev, S/2, S/2]`` (None for the first block), ``w1, w2 [B, w_dim]`` -> ``[B, C, S, S]``."""
        if self.conv1 is None:
            x = self.const.expand(w1.shape[0], -1, -1, -1)
        else:
            x = self.conv1(upsample2x(x))
        x = self._noise_act_adain(x, 0, self.noise1, self.adain1, w1, noise_mode, generator)
        x = self.conv2(x)
        return self._noise_act_adain(x, 1, self.noise2, self.adain2, w2, noise_mode, generator)


class SynthesisNetwork(nn.Module):
    """``ws -> image`` at resolution ``4 * 2**step``, with one to-image 1x1 conv per resolution."""

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        self.config = config
        self.blocks = nn.ModuleList(SynthesisBlock(config, i) for i in range(config.num_blocks))
        self.to_image = nn.ModuleList(EqualConv2d(config.channels(i), config.image_channels, 1, gain=1.0) for i in range(config.num_blocks))

    def forward(
        self,
        ws: Tensor,
        step: int | None = None,
        alpha: float = 1.0,
        noise_mode: NoiseMode = "random",
        noise_generator: torch.Generator | None = None,
    ) -> Tensor:
        """Render images.

        Args:
            ws: ``[B, num_ws, w_dim]`` (one w per AdaIN layer) or ``[B, w_dim]`` (broadcast to all layers).
            step: growing step 0..max_step (output ``4 * 2**step``); None = full resolution.
            alpha: fade-in of the newest block in [0, 1] (1 = fully grown).
            noise_mode: "random" (fresh noise, from ``noise_generator`` if given), "const" (fixed buffers), "none".
        Returns:
            ``[B, image_channels, 4 * 2**step, 4 * 2**step]``, roughly in [-1, 1].
        """
        step = check_step_alpha(self.config, step, alpha)
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        if ws.ndim == 2:
            ws = broadcast_ws(ws, self.config.num_ws)
        if ws.ndim != 3 or ws.shape[1] != self.config.num_ws:
            raise ValueError(f"ws must have shape [B, {self.config.num_ws}, {self.config.w_dim}] or [B, w_dim], got {tuple(ws.shape)}")
        x, prev = None, None
        for i in range(step + 1):
            prev = x
            x = self.blocks[i](x, ws[:, 2 * i], ws[:, 2 * i + 1], noise_mode, noise_generator)
        out = self.to_image[step](x)
        if step > 0 and alpha < 1:
            upsampled_skip = upsample2x(self.to_image[step - 1](prev))  # previous resolution's image, enlarged
            out = (1 - alpha) * upsampled_skip + alpha * out
        return out


def broadcast_ws(w: Tensor, num_ws: int) -> Tensor:
    """Repeat one ``w [B, w_dim]`` for every AdaIN layer: ``-> ws [B, num_ws, w_dim]``."""
    return w[:, None, :].expand(-1, num_ws, -1)


def check_step_alpha(config: StyleGANConfig, step: int | None, alpha: float) -> int:
    """The growing step (``None``: the last) after checking it and the fade-in ``alpha`` in [0, 1]."""
    step = config.max_step if step is None else step
    if not 0 <= step <= config.max_step:
        raise ValueError(f"step must be in 0..{config.max_step}, got {step}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    return step


class Generator(nn.Module):
    """``G(z, classes, styles, step, alpha) = synthesis(mapping(z, classes, styles), step, alpha)``."""

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        self.config = config
        self.mapping = MappingNetwork(config)
        self.synthesis = SynthesisNetwork(config)

    def forward(
        self,
        z: Tensor,
        classes: Tensor,
        styles: Tensor,
        step: int | None = None,
        alpha: float = 1.0,
        psi: float = 1.0,
        noise_mode: NoiseMode = "random",
        noise_generator: torch.Generator | None = None,
    ) -> Tensor:
        """``z [B, latent_dim]``, labels ``[B]`` -> images ``[B, C, 4 * 2**step, 4 * 2**step]`` in about [-1, 1]."""
        w = self.mapping(z, classes, styles, psi=psi)
        return self.synthesis(w, step, alpha, noise_mode, noise_generator)

    def mix(
        self,
        z_a: Tensor,
        z_b: Tensor,
        classes: Tensor,
        styles: Tensor,
        *,
        t: float | None = None,
        crossover: int | None = None,
        classes_b: Tensor | None = None,
        styles_b: Tensor | None = None,
        psi: float = 1.0,
        noise_mode: NoiseMode = "const",
        noise_generator: torch.Generator | None = None,
    ) -> Tensor:
        """Style mixing of A ``(z_a, classes, styles)`` and B ``(z_b, classes_b, styles_b)`` at full resolution.

        Give exactly one of ``t`` (blend: ``w = (1 - t) * w_a + t * w_b``) or ``crossover`` (layers
        ``[:crossover]`` of ``ws`` from A, the rest from B). B's labels default to A's.
        Returns ``[B, C, resolution, resolution]`` in about [-1, 1].
        """
        if (t is None) == (crossover is None):
            raise ValueError(f"give exactly one of t (blend) or crossover (layer index), got t={t}, crossover={crossover}")
        classes_b = classes if classes_b is None else classes_b
        styles_b = styles if styles_b is None else styles_b
        w_a = self.mapping(z_a, classes, styles, psi=psi)
        w_b = self.mapping(z_b, classes_b, styles_b, psi=psi)
        if t is not None:
            ws = broadcast_ws(blend_w(w_a, w_b, t), self.config.num_ws)
        else:
            ws = crossover_ws(broadcast_ws(w_a, self.config.num_ws), broadcast_ws(w_b, self.config.num_ws), crossover)
        return self.synthesis(ws, None, 1.0, noise_mode, noise_generator)

    def to_unit_images(self, img: Tensor) -> Tensor:
        """Full-resolution output ``[B, C, R, R]`` in [-1, 1] -> cropped ``[B, C, image_size, image_size]`` in [0, 1]."""
        p = self.config.pad
        img = img[..., p : img.shape[-2] - p, p : img.shape[-1] - p]
        return ((img + 1) / 2).clamp(0, 1)  # x01 = (x + 1) / 2
