"""A richer prior for a trained CVAE: a Gaussian mixture per (class, style) cell, fitted after training.

A VAE is trained to decode latents of the *aggregate posterior* ``q(z | y) = E_x q(z | x, y)``,
but is sampled from the prior ``N(0, I)``. Where the two differ, prior samples land in regions
the decoder never saw, and the images break. With the ELBO's ``beta = 1`` that gap is large: the
conv CVAE reconstructs well but draws poorly, which is why the shipped conv CVAE uses ``beta = 3``
and pays in blur.

Ex-post density estimation (Ghosh et al. 2020, "From variational to deterministic autoencoders")
closes the gap without retraining: encode the training images, and fit a density to their
posterior means. In a *conditional* VAE the latents still carry some class information, so one
unconditional density is not enough (samples of one class's ``z`` decoded as another class look
like neither). Here each (class, style) cell ``y`` gets its own mixture:

    p(z | y) = sum_k pi_{y,k} N(z; mu_{y,k}, Sigma_{y,k}),  k = 1..K,

fitted by EM (scikit-learn's ``GaussianMixture``, full covariances) to the posterior means
``mu(x, y)`` of the cell's training images. A cell with too few images uses its class's images,
and a class with too few falls back to ``N(0, I)``.

The mixture is stored as buffers (``log_weights [cells, K]``, ``means [cells, K, D]``,
``scale_tril [cells, K, D, D]`` with ``Sigma = L L^T``), so it travels in the checkpoint's
safetensors with the weights.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from genlib.models.conditioning import check_labels


class CellMixturePrior(nn.Module):
    """``p(z | class, style)``: a ``K``-component Gaussian mixture per (class, style) cell.

    Unfitted (``fitted`` is 0) every cell is ``N(0, I)``; :func:`fit_cell_mixtures` fits it.
    """

    def __init__(self, n_classes: int, n_styles: int, n_components: int, latent_dim: int) -> None:
        super().__init__()
        if n_components < 1:
            raise ValueError(f"n_components must be >= 1, got {n_components}")
        self.n_classes, self.n_styles, self.n_components, self.latent_dim = n_classes, n_styles, n_components, latent_dim
        cells, k, d = n_classes * n_styles, n_components, latent_dim
        self.register_buffer("log_weights", torch.full((cells, k), -float(np.log(k))))
        self.register_buffer("means", torch.zeros(cells, k, d))
        self.register_buffer("scale_tril", torch.eye(d).expand(cells, k, d, d).clone())
        self.register_buffer("fitted", torch.zeros(()))

    @property
    def is_fitted(self) -> bool:
        """Whether :func:`fit_cell_mixtures` has set the mixture (else every cell is ``N(0, I)``)."""
        return bool(self.fitted.item())

    def cells(self, classes: Tensor, styles: Tensor) -> Tensor:
        """The cell index ``class * n_styles + style`` of each label pair: int64 ``[N]``."""
        c = check_labels(classes.cpu(), self.n_classes, "class")
        s = check_labels(styles.cpu(), self.n_styles, "style")
        return c * self.n_styles + s

    def sample(self, classes: Tensor, styles: Tensor, seed: int, temperature: float = 1.0) -> Tensor:
        """``z ~ p(z | y)`` for each label pair: ``[N, latent_dim]`` float32 on the CPU.

        Draws a component ``k ~ pi_y``, then ``z = mu_{y,k} + T * L_{y,k} eps`` with ``eps ~ N(0, I)``
        from a generator seeded by ``seed`` (the same latents on any device). ``T`` scales the
        spread around each component's mean, as the temperature of the normal prior does.
        """
        cells = self.cells(classes, styles)
        g = torch.Generator().manual_seed(int(seed))
        weights = self.log_weights.float().cpu()[cells].softmax(dim=1)  # [N, K]
        k = torch.multinomial(weights, 1, generator=g).squeeze(1) if cells.numel() else cells  # [N]
        eps = torch.randn(cells.shape[0], self.latent_dim, 1, generator=g)
        mean = self.means.float().cpu()[cells, k]  # [N, D]
        scale = self.scale_tril.float().cpu()[cells, k]  # [N, D, D]
        return mean + temperature * (scale @ eps).squeeze(2)


def fit_cell_mixtures(
    prior: CellMixturePrior, latents: Tensor, classes: Tensor, styles: Tensor, *, seed: int = 0, min_images: int | None = None
) -> dict[str, int]:
    """Fit every cell's mixture to ``latents`` ``[N, D]`` (posterior means) with labels ``[N]``; in place.

    A cell with fewer than ``min_images`` images (default ``max(4 K, D + 1)``) is fitted to its
    class's images, and a class with fewer stays ``N(0, I)``. EM runs with scikit-learn's
    ``GaussianMixture`` (full covariances, ``reg_covar = 1e-4`` on the diagonal, seeded).

    Returns:
        how many cells were fitted to their own images (``"cell"``), to their class's (``"class"``)
        and left ``N(0, I)`` (``"normal"``).
    """
    from sklearn.mixture import GaussianMixture

    k, d = prior.n_components, prior.latent_dim
    if latents.ndim != 2 or latents.shape[1] != d:
        raise ValueError(f"latents must have shape [N, {d}], got {tuple(latents.shape)}")
    least = min_images if min_images is not None else max(4 * k, d + 1)
    z = latents.detach().double().cpu().numpy()
    cells = prior.cells(classes, styles).numpy()
    class_of = classes.cpu().numpy()
    counts = {"cell": 0, "class": 0, "normal": 0}
    for cell in range(prior.n_classes * prior.n_styles):
        chosen, source = z[cells == cell], "cell"
        if len(chosen) < least:
            chosen, source = z[class_of == cell // prior.n_styles], "class"
        if len(chosen) < least:
            counts["normal"] += 1
            continue
        gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-4, random_state=seed).fit(chosen)
        prior.log_weights[cell] = torch.from_numpy(np.log(gmm.weights_)).to(prior.log_weights)
        prior.means[cell] = torch.from_numpy(gmm.means_).to(prior.means)
        prior.scale_tril[cell] = torch.from_numpy(np.linalg.cholesky(gmm.covariances_)).to(prior.scale_tril)
        counts[source] += 1
    prior.fitted.fill_(1.0)
    return counts
