"""The building blocks of StyleGAN (Karras et al. 2019), each one small module with one job.

Ladder: :class:`EqualLinear` / :class:`EqualConv2d` (equalized learning rate, ProGAN §4.1) →
:class:`PixelNorm` → :class:`NoiseInjection` → :class:`AdaIN` → :class:`MinibatchStdDev`, plus the
resampling helpers :func:`upsample2x`, :func:`downsample2x` and :func:`resize_to`.

Equalized learning rate: a weight is stored as ``w_hat ~ N(0, 1/lr_mul^2)`` and used as
``w = w_hat * c * lr_mul`` with the He constant ``c = gain / sqrt(fan_in)``. Adam's update is scale
free, so every layer then learns at the same speed, and ``lr_mul`` slows a layer down by that factor
(the mapping network uses 0.01, StyleGAN §C).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_SLOPE = 0.2  # leaky ReLU slope used by every StyleGAN layer (a fixed part of the architecture)


def lrelu(x: Tensor) -> Tensor:
    """The StyleGAN's activation: ``max(x, 0.2 x)``."""
    return F.leaky_relu(x, LRELU_SLOPE)
HE_GAIN = math.sqrt(2.0)  # gain for layers followed by a (leaky) ReLU


class EqualLinear(nn.Module):
    """Fully connected layer with equalized learning rate: ``y = x (w_hat * c * lr_mul)^T + b_hat * lr_mul``.

    Args:
        in_features: input size ``F_in``.
        out_features: output size ``F_out``.
        bias: learn an additive bias.
        bias_init: initial value of the *effective* bias.
        lr_mul: learning-rate multiplier (1 for normal layers, 0.01 in the mapping network).
        gain: ``sqrt(2)`` before a leaky ReLU, 1 for linear outputs.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        gain: float = HE_GAIN,
    ) -> None:
        super().__init__()
        if lr_mul <= 0:
            raise ValueError(f"lr_mul must be > 0, got {lr_mul}")
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul)  # w_hat ~ N(0, 1/lr_mul^2)
        self.bias = nn.Parameter(torch.full((out_features,), bias_init / lr_mul)) if bias else None
        self.lr_mul = lr_mul
        self.weight_scale = gain / math.sqrt(in_features) * lr_mul  # c * lr_mul, c = gain / sqrt(fan_in)

    def effective_weight(self) -> Tensor:
        """The weight the layer actually applies, ``w_hat * c * lr_mul``, shape ``[F_out, F_in]``."""
        return self.weight * self.weight_scale

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, F_in] -> [B, F_out]``."""
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.effective_weight(), bias)


class EqualConv2d(nn.Module):
    """2-D convolution with equalized learning rate, ``fan_in = C_in * k * k``, stride 1, "same" padding.

    Args:
        in_channels, out_channels: ``C_in``, ``C_out``.
        kernel_size: odd kernel size ``k`` (3 for features, 1 for to/from-image layers).
        gain: ``sqrt(2)`` before a leaky ReLU, 1 for linear outputs (to-image).
        lr_mul: learning-rate multiplier.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, gain: float = HE_GAIN, lr_mul: float = 1.0
    ) -> None:
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd for 'same' padding, got {kernel_size}")
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.lr_mul = lr_mul
        self.weight_scale = gain / math.sqrt(in_channels * kernel_size**2) * lr_mul  # c * lr_mul
        self.padding = kernel_size // 2

    def effective_weight(self) -> Tensor:
        """The applied kernel ``w_hat * c * lr_mul``, shape ``[C_out, C_in, k, k]``."""
        return self.weight * self.weight_scale

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, C_in, H, W] -> [B, C_out, H, W]``."""
        return F.conv2d(x, self.effective_weight(), self.bias * self.lr_mul, padding=self.padding)


class PixelNorm(nn.Module):
    """Normalize each feature vector to unit second moment: ``x / sqrt(mean_c(x^2) + eps)`` (ProGAN §4.2)."""

    def __init__(self, eps: float = 1e-8) -> None:
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, C, ...]`` -> same shape, with ``mean_c(x^2) = 1`` at every position."""
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class NoiseInjection(nn.Module):
    """Add single-channel noise with a learned per-channel scale: ``x + s_c * n`` (StyleGAN §2, "B").

    The scale ``s`` starts at 0, so noise is switched on only as far as training finds it useful.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: Tensor, noise: Tensor) -> Tensor:
        """``x [B, C, H, W]``, ``noise [B or 1, 1, H, W]`` -> ``[B, C, H, W]``."""
        return x + self.scale * noise


class AdaIN(nn.Module):
    """Adaptive instance normalization driven by ``w`` (Huang & Belongie 2017; StyleGAN eq. (1)).

    ``AdaIN(x, w) = y_s * (x - mu(x)) / sigma(x) + y_b`` with ``(y_s, y_b) = A(w)``, a learned affine map
    ("A" in the StyleGAN figure). ``y_s`` starts at 1 and ``y_b`` at 0.

    Args:
        channels: feature channels ``C`` of ``x``.
        w_dim: size of ``w``.
    """

    def __init__(self, channels: int, w_dim: int) -> None:
        super().__init__()
        self.affine = EqualLinear(w_dim, 2 * channels, gain=1.0)
        with torch.no_grad():
            self.affine.bias[:channels] = 1.0  # y_s starts at 1 (lr_mul = 1, so stored = effective)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        """``x [B, C, H, W]``, ``w [B, w_dim]`` -> ``[B, C, H, W]``."""
        y_s, y_b = self.affine(w).chunk(2, dim=1)  # [B, C] each
        x = F.instance_norm(x, eps=1e-8)  # (x - mu) / sigma per sample and channel
        return y_s[:, :, None, None] * x + y_b[:, :, None, None]


class MinibatchStdDev(nn.Module):
    """Append the average feature standard deviation over a group of samples as one channel (ProGAN §3).

    Gives the discriminator a direct view of the batch's variety, discouraging mode collapse.

    Args:
        group_size: samples per group; the largest divisor of the batch size not above it is used.
    """

    def __init__(self, group_size: int = 4) -> None:
        super().__init__()
        self.group_size = group_size

    def forward(self, x: Tensor) -> Tensor:
        """``x [B, C, H, W]`` -> ``[B, C + 1, H, W]``."""
        b, c, h, w = x.shape
        g = max(d for d in range(1, min(self.group_size, b) + 1) if b % d == 0)
        y = x.reshape(g, b // g, c, h, w)  # [G, M, C, H, W]; sample i is in group i % M
        y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt()  # std over the group, [M, C, H, W]
        y = y.mean(dim=(1, 2, 3))  # one number per group, [M]
        y = y.reshape(-1, 1, 1, 1).repeat(g, 1, h, w)  # back to [B, 1, H, W]
        return torch.cat([x, y], dim=1)


def upsample2x(x: Tensor) -> Tensor:
    """Bilinear 2x upsampling, ``[B, C, H, W] -> [B, C, 2H, 2W]`` (smoother than nearest: fewer checkerboards)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def downsample2x(x: Tensor) -> Tensor:
    """2x2 average pooling, ``[B, C, H, W] -> [B, C, H/2, W/2]``."""
    return F.avg_pool2d(x, 2)


def resize_to(x: Tensor, size: int) -> Tensor:
    """Shrink square images by repeated 2x average pooling, ``[B, C, S, S] -> [B, C, size, size]``.

    Used to show the discriminator real images at the current growing resolution.
    Raises:
        ValueError: if ``S / size`` is not a power of two.
    """
    s = x.shape[-1]
    factor = s // size
    if size <= 0 or s % size != 0 or factor & (factor - 1) != 0:
        raise ValueError(f"cannot resize images of size {s} to {size}: the ratio must be a power of two")
    while x.shape[-1] > size:
        x = downsample2x(x)
    return x
