"""Conditional VAEs: the K49 report's MLP CVAE, its deeper Architecture 3, and a convolutional CVAE.

All three model ``p(x | z, y)`` with ``y = (class, style)`` one-hot and ``z ~ N(0, I)``, and an
encoder ``q(z | x, y) = N(mu, diag(sigma^2))`` (the K49 report, §2.2, §4.2). The decoders return
*logits*; ``sigmoid(logits)`` is the Bernoulli mean, i.e. the image in [0, 1].

- ``arch="mlp"``: 784 + 49 + 2 → 144 ReLU → (mu, log sigma^2) of size 2; decoder
  2 + 49 + 2 → 144 ReLU → 784 (the K49 report's §4.2.1). The report also declares a
  ``labelProjector`` that its forward pass never calls; it is left out here because it changes
  nothing the model computes.
- ``arch="deep"``: the K49 report's §6.0.4 Architecture 3 — encoder 835 → 256 → 128 (each BatchNorm + ReLU),
  decoder 53 → 256 → 144 (each BatchNorm + ReLU) → 784.
- ``arch="conv"``: two stride-2 convolutions (28 → 14 → 7) into a larger latent, mirrored by
  transposed convolutions; labels join as one-hot vectors at the dense layers.

``input_order="cxs"`` puts the image between the class and style codes (the K49 report's
§6.0.3 Architecture 2); for a dense first layer this only permutes its weight columns.

``prior_components = K > 0`` gives any of them a richer prior than ``N(0, I)``: a ``K``-component
Gaussian mixture per (class, style) cell, fitted to the training posterior after the last epoch
(:mod:`genlib.models.latent_prior`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn

from genlib.config import check_choice
from genlib.legacy import renamed_values
from genlib.models.conditioning import label_codes, seeded_normal
from genlib.models.latent_prior import CellMixturePrior, fit_cell_mixtures
from genlib.runtime import evaluating

IMAGE_PIXELS = 28 * 28
ARCHS: tuple[str, ...] = ("mlp", "deep", "conv")
PRIORS: tuple[str, ...] = ("auto", "normal", "mixture")  # what sample() draws z from


@dataclass(frozen=True)
class CVAEConfig:
    """Architecture of a conditional VAE (defaults: the K49 report's model, §4.2.1)."""

    arch: Literal["mlp", "deep", "conv"] = "mlp"  # mlp: the K49 report's MLP CVAE; deep: its deeper Architecture 3 (BatchNorm); conv: a convolutional CVAE
    n_classes: int = 49  # class one-hot size (49 for K49 / Kana-49, 10 for MNIST)
    n_styles: int = 2  # style one-hot size (0 thin, 1 thick)
    latent_dim: int = 2  # size of the latent z (the K49 report: 2)
    hidden_dim: int = 144  # width of the hidden layers (the K49 report: 144 = 12 x 12)
    input_order: Literal["xcs", "cxs"] = "xcs"  # encoder input concatenation order
    channels: int = 32  # conv arch: channels of the first conv (the second has twice as many)
    prior_components: int = 0  # 0: z ~ N(0, I) (the K49 report); K > 0: a K-Gaussian mixture per (class, style), fitted after training

    def __post_init__(self) -> None:
        check_choice("arch", self.arch, ARCHS, renamed_values("cvae", "model_config.arch"))
        if self.input_order not in ("xcs", "cxs"):
            raise ValueError(f"input_order must be 'xcs' or 'cxs', got {self.input_order!r}")
        if self.arch == "conv" and self.input_order != "xcs":
            raise ValueError("input_order='cxs' is an MLP variant (the K49 report's §6 experiments); the conv encoder reads label maps as channels")
        for name in ("n_classes", "n_styles", "latent_dim", "hidden_dim", "channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.prior_components < 0:
            raise ValueError(f"prior_components must be 0 (the normal prior) or a number of mixture components >= 1, "
                             f"got {self.prior_components}")


def reparameterize(mu: Tensor, logvar: Tensor) -> Tensor:
    """``z = mu + sigma * eps`` with ``eps ~ N(0, I)`` and ``sigma = exp(logvar / 2)`` (the reparameterisation trick)."""
    return mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)


def mixture_prior(config: CVAEConfig) -> CellMixturePrior | None:
    """The (unfitted) mixture prior of a model with ``config.prior_components > 0``, else None."""
    c = config
    return CellMixturePrior(c.n_classes, c.n_styles, c.prior_components, c.latent_dim) if c.prior_components else None


def _dense_block(n_in: int, n_out: int, batch_norm: bool) -> list[nn.Module]:
    return [nn.Linear(n_in, n_out), nn.BatchNorm1d(n_out), nn.ReLU()] if batch_norm else [nn.Linear(n_in, n_out), nn.ReLU()]


class ConditionalVAE(nn.Module):
    """The K49 report's MLP conditional VAE (``arch="mlp"``) and its Architecture 3 (``arch="deep"``).

    Shapes: ``x`` ``[B, 1, 28, 28]`` or ``[B, 784]`` in [0, 1]; ``classes``, ``styles`` int64 ``[B]``.
    """

    def __init__(self, config: CVAEConfig = CVAEConfig()) -> None:
        super().__init__()
        if config.arch not in ("mlp", "deep"):
            raise ValueError(f"ConditionalVAE builds arch 'mlp' or 'deep'; use ConvConditionalVAE for {config.arch!r}")
        self.config = config
        c = config
        n_labels = c.n_classes + c.n_styles
        if c.arch == "mlp":
            encoder = _dense_block(IMAGE_PIXELS + n_labels, c.hidden_dim, False)  # fc1 + ReLU
            decoder = _dense_block(c.latent_dim + n_labels, c.hidden_dim, False)  # fc3 + ReLU
            enc_out, dec_out = c.hidden_dim, c.hidden_dim
        else:
            encoder = _dense_block(IMAGE_PIXELS + n_labels, 256, True) + _dense_block(256, 128, True)
            decoder = _dense_block(c.latent_dim + n_labels, 256, True) + _dense_block(256, c.hidden_dim, True)
            enc_out, dec_out = 128, c.hidden_dim
        self.encoder = nn.Sequential(*encoder)
        self.fc_mu = nn.Linear(enc_out, c.latent_dim)
        self.fc_logvar = nn.Linear(enc_out, c.latent_dim)
        self.decoder = nn.Sequential(*decoder)
        self.fc_out = nn.Linear(dec_out, IMAGE_PIXELS)  # the K49 report's fc4 (sigmoid applied in the loss / sampler)
        self.prior = mixture_prior(c)

    def encode(self, x: Tensor, classes: Tensor, styles: Tensor) -> tuple[Tensor, Tensor]:
        """``q(z | x, y)``: returns ``(mu, logvar)``, each ``[B, latent_dim]``."""
        c1h, s1h = label_codes(classes, styles, self.config.n_classes, self.config.n_styles)
        x = x.reshape(x.shape[0], IMAGE_PIXELS)
        parts = (x, c1h, s1h) if self.config.input_order == "xcs" else (c1h, x, s1h)
        h = self.encoder(torch.cat(parts, dim=1))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        """``p(x | z, y)``: logits ``[B, 1, 28, 28]``; ``sigmoid`` gives the image in [0, 1]."""
        c1h, s1h = label_codes(classes, styles, self.config.n_classes, self.config.n_styles)
        h = self.decoder(torch.cat((z, c1h, s1h), dim=1))
        return self.fc_out(h).reshape(-1, 1, 28, 28)

    def forward(self, x: Tensor, classes: Tensor, styles: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Encode, sample ``z`` by reparameterisation, decode: ``(logits, mu, logvar)``."""
        mu, logvar = self.encode(x, classes, styles)
        return self.decode(reparameterize(mu, logvar), classes, styles), mu, logvar


class ConvConditionalVAE(nn.Module):
    """A convolutional conditional VAE with a larger latent (``arch="conv"``).

    Encoder: ``[B,1,28,28]`` → conv 4x4/2 → ``[B,C,14,14]`` → conv 4x4/2 → ``[B,2C,7,7]`` → flatten,
    concat one-hot (class, style) → dense ``hidden`` → (mu, logvar). Decoder mirrors it.
    """

    def __init__(self, config: CVAEConfig = CVAEConfig(arch="conv", latent_dim=16, hidden_dim=256)) -> None:
        super().__init__()
        if config.arch != "conv":
            raise ValueError(f"ConvConditionalVAE builds arch 'conv', got {config.arch!r}")
        self.config = config
        c, ch = config, config.channels
        n_labels = c.n_classes + c.n_styles
        flat = 2 * ch * 7 * 7
        self.features = nn.Sequential(
            nn.Conv2d(1, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2),  # [B, C, 14, 14]
            nn.Conv2d(ch, 2 * ch, 4, stride=2, padding=1), nn.BatchNorm2d(2 * ch), nn.LeakyReLU(0.2),  # [B, 2C, 7, 7]
            nn.Flatten(),
        )
        self.encoder = nn.Sequential(nn.Linear(flat + n_labels, c.hidden_dim), nn.LeakyReLU(0.2))
        self.fc_mu = nn.Linear(c.hidden_dim, c.latent_dim)
        self.fc_logvar = nn.Linear(c.hidden_dim, c.latent_dim)
        self.decoder = nn.Sequential(
            nn.Linear(c.latent_dim + n_labels, c.hidden_dim), nn.ReLU(),
            nn.Linear(c.hidden_dim, flat), nn.ReLU(),
            nn.Unflatten(1, (2 * ch, 7, 7)),
            nn.ConvTranspose2d(2 * ch, ch, 4, stride=2, padding=1), nn.BatchNorm2d(ch), nn.ReLU(),  # [B, C, 14, 14]
            nn.ConvTranspose2d(ch, 1, 4, stride=2, padding=1),  # [B, 1, 28, 28] logits
        )
        self.prior = mixture_prior(c)

    def encode(self, x: Tensor, classes: Tensor, styles: Tensor) -> tuple[Tensor, Tensor]:
        """``q(z | x, y)`` of images ``[B, 1, 28, 28]`` in [0, 1]: ``(mu, logvar)``, each ``[B, latent_dim]``."""
        c1h, s1h = label_codes(classes, styles, self.config.n_classes, self.config.n_styles)
        h = self.encoder(torch.cat((self.features(x.reshape(-1, 1, 28, 28)), c1h, s1h), dim=1))
        return self.fc_mu(h), self.fc_logvar(h)

    def decode(self, z: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
        """``p(x | z, y)`` as pixel logits ``[B, 1, 28, 28]`` (sigmoid gives the Bernoulli means in [0, 1]), for ``z [B, latent_dim]``."""
        c1h, s1h = label_codes(classes, styles, self.config.n_classes, self.config.n_styles)
        return self.decoder(torch.cat((z, c1h, s1h), dim=1))

    def forward(self, x: Tensor, classes: Tensor, styles: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(logits [B, 1, 28, 28], mu, logvar)``: decode one reparameterised sample ``z = mu + sigma * eps``."""
        mu, logvar = self.encode(x, classes, styles)
        return self.decode(reparameterize(mu, logvar), classes, styles), mu, logvar


def build_cvae(config: CVAEConfig) -> nn.Module:
    """The network for ``config.arch``."""
    return ConvConditionalVAE(config) if config.arch == "conv" else ConditionalVAE(config)


def sample(
    model: nn.Module, classes: Tensor, styles: Tensor, *, seed: int = 0, temperature: float = 1.0, prior: str = "auto"
) -> Tensor:
    """Draw ``x ~ p(x | z, y)``'s mean for ``z`` from the prior: images ``[N, 1, 28, 28]`` in [0, 1].

    ``prior``: ``"normal"`` draws ``z = T * eps``, ``eps ~ N(0, I)`` (the K49 report);
    ``"mixture"`` draws from the model's fitted per-cell mixture (:mod:`genlib.models.latent_prior`);
    ``"auto"`` (default) takes the mixture when the model has a fitted one, else the normal.
    ``temperature`` T < 1 draws from the centre of the prior, where the decoder has seen the most
    posterior mass: less diversity, fewer broken samples (the VAE analogue of GAN truncation).
    The noise comes from its own generator, so a seed gives the same images on any device.
    """
    if not 0.0 <= temperature <= 2.0:
        raise ValueError(f"temperature must be in [0, 2], got {temperature}")
    if prior not in PRIORS:
        raise ValueError(f"prior must be one of {PRIORS}, got {prior!r}")
    fitted = getattr(model, "prior", None) is not None and model.prior.is_fitted
    if prior == "mixture" and not fitted:
        raise ValueError("prior='mixture' needs a fitted mixture prior: train with prior_components > 0 to the last epoch")
    if fitted and prior != "normal":
        z = model.prior.sample(classes, styles, seed, temperature)
    else:
        z = temperature * seeded_normal((classes.shape[0], model.config.latent_dim), seed)
    return decode_latents(model, z, classes, styles)


def decode_latents(model: nn.Module, z: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
    """Images ``[N, 1, 28, 28]`` in [0, 1] for given latents ``z`` ``[N, latent_dim]`` (latent manifolds, sliders)."""
    with evaluating(model) as device:
        return torch.sigmoid(model.decode(z.to(device), classes.to(device), styles.to(device)))


def reconstruct(model: nn.Module, images: Tensor, classes: Tensor, styles: Tensor) -> Tensor:
    """Reconstructions from the posterior mean ``z = mu(x, y)``: ``[N, 1, 28, 28]`` in [0, 1]."""
    with evaluating(model) as device:
        classes, styles = classes.to(device), styles.to(device)
        mu, _ = model.encode(images.to(device), classes, styles)
        return torch.sigmoid(model.decode(mu, classes, styles))


def posterior_means(model: nn.Module, images: Tensor, classes: Tensor, styles: Tensor, *, batch_size: int = 2000) -> Tensor:
    """``mu(x, y)`` of every image, in batches: ``[N, latent_dim]`` float32 on the CPU."""
    with evaluating(model) as device:
        parts = [model.encode(images[i : i + batch_size].to(device), classes[i : i + batch_size].to(device),
                              styles[i : i + batch_size].to(device))[0].float().cpu() for i in range(0, images.shape[0], batch_size)]
    return torch.cat(parts) if parts else torch.zeros(0, model.config.latent_dim)


def with_mixture_prior(model: nn.Module, n_components: int) -> nn.Module:
    """A copy of a trained CVAE with an unfitted ``n_components`` mixture prior and the same weights
    (``n_components = 0``: the normal prior); the original is untouched."""
    copy = build_cvae(dataclasses.replace(model.config, prior_components=n_components))
    weights = {k: v for k, v in model.state_dict().items() if not k.startswith("prior.")}
    missing, unexpected = copy.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith("prior.") for k in missing):
        raise ValueError(f"the weights do not fit the model: missing {missing}, unexpected {unexpected}")
    return copy.to(next(model.parameters()).device).train(model.training)


def fit_prior(model: nn.Module, images: Tensor, classes: Tensor, styles: Tensor, *, seed: int = 0) -> dict[str, int]:
    """Fit ``model.prior`` (a model built with ``prior_components > 0``) to the posterior means of
    ``images`` ``[N, 1, 28, 28]`` with their labels; returns the cell counts of
    :func:`~genlib.models.latent_prior.fit_cell_mixtures`."""
    if getattr(model, "prior", None) is None:
        raise ValueError("this CVAE has the normal prior (prior_components=0): build it with prior_components > 0 to fit a mixture")
    return fit_cell_mixtures(model.prior, posterior_means(model, images, classes, styles), classes, styles, seed=seed)


def latent_grid(span: float = 2.5, n: int = 9) -> Tensor:
    """An ``n x n`` grid of 2-D latents over ``[-span, span]^2``, row-major with z2 decreasing: ``[n*n, 2]``."""
    ticks = torch.linspace(-span, span, n)
    z1, z2 = torch.meshgrid(ticks, ticks.flip(0), indexing="xy")
    return torch.stack((z1.reshape(-1), z2.reshape(-1)), dim=1)
