"""Loss functions as pure tensor functions, each with the formula it implements.

- VAE: :func:`elbo_loss` (Kingma & Welling 2014, Appendix B for the Gaussian KL).
- GAN, logits form (numerically stable BCE): :func:`d_bce_loss`, :func:`g_nonsaturating_loss`
  (Goodfellow et al. 2014, eqs. (1)-(3); Mirza & Osindero 2014 for the conditional form).
- Hinge: :func:`d_hinge_loss` (Lim & Ye 2017; Miyato et al. 2018, SNGAN), whose G loss is
  :func:`g_wasserstein_loss`.
- WGAN-GP: :func:`d_wasserstein_loss`, :func:`g_wasserstein_loss`, :func:`gradient_penalty`,
  :func:`drift_penalty` (Arjovsky et al. 2017; Gulrajani et al. 2017; Karras et al. 2018, ProGAN).
- R1 regularisation: :func:`r1_penalty` (Mescheder et al. 2018).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class ElboParts:
    """The two terms of the negative ELBO, summed over the batch (as the K49 report's ``lossFunction``)."""

    total: Tensor  # BCE + KL, scalar
    reconstruction: Tensor  # BCE summed over pixels and batch, scalar
    kl: Tensor  # KL(q(z|x,y) || N(0, I)) summed over latent dims and batch, scalar


def gaussian_kl(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over all elements.

    ``KL = -1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2)`` (VAE paper, Appendix B), computed as
    ``1/2 * sum(mu^2 + sigma^2 - 1 - log sigma^2)`` (the same number, and +0.0 rather than -0.0 at the prior).

    Args:
        mu, logvar: ``[B, latent_dim]``.
    """
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - 1 - logvar)


class _BCEWithLogitsSum(torch.autograd.Function):
    """``sum(max(l, 0) - x * l + log(1 + exp(-|l|)))``: BCE between ``x`` and ``sigmoid(l)``, summed.

    The same numerically stable formula as ``F.binary_cross_entropy_with_logits(reduction="sum")``,
    built from ``exp`` and ``log``: on the 2-core AVX-512 CPU genlib is developed on, torch 2.14's
    ``log1p`` (inside the stock kernel's log-sigmoid) ran about 8x slower per element than ``log``,
    and this function takes a CVAE batch's loss from 0.9 to 0.38 ms (forward and backward).
    ``log(1 + e)`` for ``e = exp(-|l|)`` in (0, 1] differs from ``log1p(e)`` by at most one rounding
    of ``1 + e`` (absolute 6e-8 per pixel). The gradient is the textbook ``sigmoid(l) - x``.
    """

    @staticmethod
    def forward(ctx, logits: Tensor, target: Tensor) -> Tensor:  # type: ignore[override]
        e = torch.exp(-logits.abs())  # exp(-|l|) in (0, 1]: never overflows
        ctx.save_for_backward(logits, target)
        return (logits.clamp_min(0) - target * logits + torch.log(1 + e)).sum()

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor | None, Tensor | None]:  # type: ignore[override]
        logits, target = ctx.saved_tensors
        grad_logits = (torch.sigmoid(logits) - target) * grad if ctx.needs_input_grad[0] else None
        grad_target = -logits * grad if ctx.needs_input_grad[1] else None
        return grad_logits, grad_target


def bce_with_logits_sum(logits: Tensor, target: Tensor) -> Tensor:
    """``-sum(x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)))`` in float32 (or float64), for any matching shapes.

    Equals ``F.binary_cross_entropy_with_logits(logits, target, reduction="sum")`` to float32
    rounding; see :class:`_BCEWithLogitsSum` for why genlib computes it itself.
    """
    if logits.shape != target.shape:
        raise ValueError(f"logits and target must have the same shape, got {tuple(logits.shape)} and {tuple(target.shape)}")
    dtype = torch.promote_types(logits.dtype, torch.float32)  # bf16 logits (autocast) are summed in float32
    return _BCEWithLogitsSum.apply(logits.to(dtype), target.to(dtype))


def elbo_loss(recon_logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor) -> ElboParts:
    """Negative ELBO = BCE(sum) + KL, from decoder logits (stable :func:`bce_with_logits_sum`).

    ``-ELBO = -E_q[log p(x|z,y)] + KL(q(z|x,y) || p(z))``; with a Bernoulli decoder the first term is
    the binary cross-entropy between ``x`` and ``sigmoid(recon_logits)`` summed over pixels.

    Args:
        recon_logits: decoder output before the sigmoid, any shape with B*784 elements.
        x: target images in [0, 1], same number of elements.
        mu, logvar: ``[B, latent_dim]`` posterior parameters.
    Returns:
        :class:`ElboParts` summed over the batch; divide by B for per-sample values.
    """
    bce = bce_with_logits_sum(recon_logits.reshape(x.shape[0], -1), x.reshape(x.shape[0], -1))
    kl = gaussian_kl(mu, logvar)
    return ElboParts(total=bce + kl, reconstruction=bce, kl=kl)


def d_bce_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """Discriminator BCE on logits, averaged over real and fake as in the K49 report.

    ``L_D = 1/2 [ -log sigmoid(D(x|y)) - log(1 - sigmoid(D(G(z|y)|y))) ]`` (eq. (5), maximised by D).
    """
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)


def g_nonsaturating_loss(fake_logits: Tensor) -> Tensor:
    """Generator loss ``-log sigmoid(D(G(z|y)|y))`` (the non-saturating form of eq. (6)).

    Equal to ``softplus(-D(G(z)))``; minimising it maximises ``log D(G(z))``.
    """
    return F.softplus(-fake_logits).mean()


def d_wasserstein_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Critic loss ``E[D(G(z))] - E[D(x)]`` (WGAN, Arjovsky et al. 2017)."""
    return fake_scores.mean() - real_scores.mean()


def d_hinge_loss(real_scores: Tensor, fake_scores: Tensor) -> Tensor:
    """Hinge loss of the discriminator ``E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]``.

    Real scores above +1 and fake scores below -1 cost nothing, so D stops pushing samples it
    already separates by a margin (Lim & Ye 2017); the generator descends ``-E[D(G(z))]``.
    """
    return F.relu(1 - real_scores).mean() + F.relu(1 + fake_scores).mean()


def g_wasserstein_loss(fake_scores: Tensor) -> Tensor:
    """Generator loss ``-E[D(G(z))]`` (WGAN; also the generator's hinge loss)."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, generator: torch.Generator | None = None
) -> Tensor:
    """WGAN-GP penalty ``E[(||grad_x_hat D(x_hat)||_2 - 1)^2]`` on ``x_hat = eps*x + (1-eps)*G(z)``.

    Args:
        critic: maps images ``[B, C, H, W]`` to scores ``[B]`` or ``[B, 1]`` (labels bound inside).
        real, fake: ``[B, C, H, W]``; ``fake`` is detached here.
        generator: optional RNG for the interpolation weights ``eps ~ U[0, 1]`` (one per sample).
    Returns:
        scalar penalty (Gulrajani et al. 2017, eq. (3)); multiply by lambda (10 in the paper).
    """
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype, generator=generator)
    x_hat = (eps * real.detach() + (1 - eps) * fake.detach()).requires_grad_(True)
    scores = critic(x_hat)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(2, dim=1)  # ||grad||_2 per sample, [B]
    return ((norms - 1) ** 2).mean()


def drift_penalty(real_scores: Tensor) -> Tensor:
    """ProGAN's drift term ``E[D(x)^2]`` that keeps critic scores near 0 (weight 1e-3 in ProGAN)."""
    return real_scores.pow(2).mean()


def r1_penalty(real_scores: Tensor, real: Tensor) -> Tensor:
    """R1 penalty ``E[||grad_x D(x)||^2]`` on real images (``real`` must require grad).

    Multiply by ``gamma / 2`` (Mescheder et al. 2018, eq. (9)).
    """
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
