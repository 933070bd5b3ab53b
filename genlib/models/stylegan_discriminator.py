"""The StyleGAN's discriminator: the synthesis network mirrored, conditioned by projection.

A from-image layer per resolution, blocks of two 3x3 convolutions and average-pool downsampling,
minibatch standard deviation, and the same fade-in as the generator while a resolution grows in.
The label enters by projection (Miyato & Koyama 2018): ``D(x, c, s) = psi(h) + <E_c[c] + E_s[s], h> / sqrt(C)``
for the final features ``h``.
"""

from __future__ import annotations

import math

from torch import Tensor, nn

from genlib.models.stylegan import StyleGANConfig, check_label_pair, check_step_alpha
from genlib.models.stylegan_layers import (
    EqualConv2d,
    EqualLinear,
    MinibatchStdDev,
    downsample2x,
    lrelu,
)


class DiscriminatorBlock(nn.Module):
    """``conv3x3 -> lrelu -> conv3x3 -> lrelu -> avg-pool``: ``[B, C_in, S, S] -> [B, C_out, S/2, S/2]``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv1 = EqualConv2d(in_ch, in_ch, 3)
        self.conv2 = EqualConv2d(in_ch, out_ch, 3)

    def forward(self, x: Tensor) -> Tensor:
        """``[B, in_ch, H, W]`` -> ``[B, out_ch, H / 2, W / 2]``: two 3x3 convs with LeakyReLU, then 2x average pooling."""
        return downsample2x(lrelu(self.conv2(lrelu(self.conv1(x)))))


class Discriminator(nn.Module):
    """Critic mirroring the synthesis network, conditioned on (class, style) by projection. Returns scores ``[B]``."""

    def __init__(self, config: StyleGANConfig) -> None:
        super().__init__()
        self.config = config
        c0 = config.channels(0)
        self.from_image = nn.ModuleList(EqualConv2d(config.image_channels, config.channels(i), 1) for i in range(config.num_blocks))
        self.blocks = nn.ModuleList(DiscriminatorBlock(config.channels(i), config.channels(i - 1)) for i in range(1, config.num_blocks))
        self.mbstd = MinibatchStdDev(config.mbstd_group)
        self.conv = EqualConv2d(c0 + 1, c0, 3)
        self.fc = EqualLinear(c0 * 16, c0)
        self.out = EqualLinear(c0, 1, gain=1.0)
        self.class_embed = nn.Embedding(config.n_classes, c0)  # projection E_c, rows ~ N(0, I)
        self.style_embed = nn.Embedding(config.n_styles, c0)  # projection E_s

    def forward(self, img: Tensor, classes: Tensor, styles: Tensor, step: int | None = None, alpha: float = 1.0) -> Tensor:
        """``img [B, C, 4 * 2**step, 4 * 2**step]`` in [-1, 1], labels ``[B]`` -> scores ``[B]`` (real high)."""
        step = check_step_alpha(self.config, step, alpha)
        size = 4 * 2**step
        if img.ndim != 4 or img.shape[1:] != (self.config.image_channels, size, size):
            raise ValueError(f"img must have shape [B, {self.config.image_channels}, {size}, {size}] at step {step}, got {tuple(img.shape)}")
        classes, styles = check_label_pair(classes, styles, img.shape[0], self.config)
        x = lrelu(self.from_image[step](img))
        if step > 0:
            x = self.blocks[step - 1](x)
            if alpha < 1:
                skip = lrelu(self.from_image[step - 1](downsample2x(img)))  # the smaller network's input path
                x = (1 - alpha) * skip + alpha * x
            for i in range(step - 1, 0, -1):
                x = self.blocks[i - 1](x)
        x = lrelu(self.conv(self.mbstd(x)))  # [B, c0, 4, 4]
        h = lrelu(self.fc(x.flatten(1)))  # final features h, [B, c0]
        e = self.class_embed(classes) + self.style_embed(styles)  # E_c[c] + E_s[s], [B, c0]
        return self.out(h).squeeze(1) + (e * h).sum(1) / math.sqrt(h.shape[1])  # psi(h) + <e, h> / sqrt(c0)
