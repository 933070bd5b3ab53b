"""Backpropagation written out: the K49 report's two-layer MLP CVAE and CGAN steps with hand-derived gradients.

Autograd records every op of the forward pass and replays it backwards. For the report's small MLPs
at batch 100-128 on a CPU that bookkeeping (and, in bf16, autocast's per-op casts) costs about as
much as the matrix products themselves. Written out, a training step is a dozen matrix products and
a few elementwise lines, which ``torch.compile`` fuses into a handful of loops. The model, loss,
optimizer and random numbers are the autograd step's: ``tests/test_manual_backward.py`` checks every
gradient against autograd and a short run against the autograd run.

Chosen with ``backward="manual"`` in :class:`~genlib.models.cvae_train.CVAETrainConfig` and
:class:`~genlib.models.cgan_train.CGANTrainConfig`; ``precision="bf16"`` runs the matrix products
on bf16 operands (fp32 accumulation, weights, optimizer and losses), ``compile=True`` compiles the
gradient function together with Adam's update (:func:`_compiled_with_adam`).

The rules every line below applies, for a dense layer ``h = x W^T + b`` that receives ``g = dL/dh``:

    dL/dW = g^T x        dL/db = sum over the batch of g        dL/dx = g W
    ReLU:    dL/du = g * [u > 0]            tanh:  dL/du = g * (1 - tanh(u)^2)
    sigmoid: dL/du = g * s (1 - s)          BCE with logits l, target t:  dL/dl = sigmoid(l) - t
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.distributed as dist
from torch import Tensor, nn

from genlib.losses import elbo_loss
from genlib.models.cgan import mlp_label_codes, to_model_range
from genlib.models.conditioning import label_codes, one_hot_codes
from genlib.training import Metric, StepFn, adam_hyper, adam_state, adam_update, ema_decay_at, update_ema

Grads = list[Tensor]  # one gradient per parameter, in the order of ``module.parameters()``
BACKWARDS: tuple[str, ...] = ("autograd", "manual")  # a train config's ``backward``: how a step gets its gradients


def dense(x: Tensor, layer: nn.Linear, dtype: torch.dtype) -> Tensor:
    """``x W^T + b`` with the product's operands in ``dtype`` (float32 or bfloat16); the result in float32."""
    return torch.mm(x.to(dtype), layer.weight.to(dtype).t()).float() + layer.bias


def score(h: Tensor, layer: nn.Linear) -> Tensor:
    """A dense layer with one output, ``h w^T + b`` ``[B, 1]``, as the dot product it is (float32: too small for a matrix kernel)."""
    return (h * layer.weight).sum(1, keepdim=True) + layer.bias


def score_grads(g: Tensor, h: Tensor) -> Grads:
    """``[dL/dw, dL/db] = [g^T h, sum_rows g]`` of :func:`score`, for ``g [B, 1]``, ``h [B, in]``."""
    return [(g * h).sum(0, keepdim=True), g.sum(0)]


def dense_grads(g: Tensor, x: Tensor, dtype: torch.dtype) -> Grads:
    """``[dL/dW, dL/db] = [g^T x, sum_rows g]`` of a dense layer with input ``x [B, in]`` and output gradient ``g [B, out]``."""
    return [torch.mm(g.to(dtype).t(), x.to(dtype)).float(), g.sum(0)]


def back_through(g: Tensor, layer: nn.Linear, dtype: torch.dtype, columns: slice = slice(None)) -> Tensor:
    """``dL/dx = g W`` of a dense layer, for the input ``columns`` asked for (float32)."""
    return torch.mm(g.to(dtype), layer.weight[:, columns].to(dtype)).float()


def first_layer_input(order: str, x: Tensor, c: Tensor, s: Tensor) -> Tensor:
    """The first layer's input ``[x, c, s]`` (``"xcs"``) or ``[c, x, s]`` (``"cxs"``), ``[B, 784 + n_labels]``.

    Built outside the compiled gradient functions: a plain copy is faster here than the fused,
    masked copy ``torch.compile`` makes of a concatenation.
    """
    return torch.cat((x, c, s) if order == "xcs" else (c, x, s), dim=1)


# ---- the conditional VAE (the K49 report's §4.2.1) -------------------------------------------


def cvae_gradients(model: nn.Module, inp: Tensor, x: Tensor, c1h: Tensor, s1h: Tensor, eps: Tensor, kl_weight: float,
                   dtype: torch.dtype) -> tuple[Grads, Tensor, Tensor]:
    """Gradients of ``BCE + kl_weight * KL`` for the MLP CVAE, and the summed ``(BCE, KL)``.

    Shapes: ``inp [B, 784 + n_labels]`` the encoder's input (:func:`first_layer_input`); ``x [B, 784]``
    in [0, 1]; ``c1h [B, n_classes]``, ``s1h [B, n_styles]`` one-hot; ``eps [B, latent_dim]`` the
    reparameterisation noise. Gradients follow ``model.parameters()``.
    """
    enc, dec = model.encoder[0], model.decoder[0]
    h1 = dense(inp, enc, dtype).relu()  # encoder hidden layer
    mu, logvar = dense(h1, model.fc_mu, dtype), dense(h1, model.fc_logvar, dtype)
    std = torch.exp(0.5 * logvar)
    z = mu + eps * std  # the reparameterisation trick
    din = torch.cat((z, c1h, s1h), dim=1)
    h3 = dense(din, dec, dtype).relu()  # decoder hidden layer
    logits = dense(h3, model.fc_out, dtype)  # [B, 784]
    e = torch.exp(-logits.abs())  # exp(-|l|) in (0, 1], as genlib.losses.bce_with_logits_sum
    bce = (logits.clamp_min(0) - x * logits + torch.log(1 + e)).sum()
    var = std * std
    kl = 0.5 * (mu * mu + var - 1 - logvar).sum()  # KL(N(mu, var) || N(0, I))
    # backward: dBCE/dl = sigmoid(l) - x, with sigmoid(l) = 1/(1+e) for l >= 0 and e/(1+e) below
    g_logits = torch.where(logits >= 0, 1.0, e) / (1 + e) - x
    g_h3 = back_through(g_logits, model.fc_out, dtype) * (h3 > 0)
    g_z = back_through(g_h3, dec, dtype, slice(0, z.shape[1]))
    g_mu = g_z + kl_weight * mu  # z = mu + eps * std; dKL/dmu = mu
    g_logvar = 0.5 * (g_z * eps * std + kl_weight * (var - 1))  # dstd/dlogvar = std / 2; dKL/dlogvar = (var - 1) / 2
    g_h1 = (back_through(g_mu, model.fc_mu, dtype) + back_through(g_logvar, model.fc_logvar, dtype)) * (h1 > 0)
    grads = {
        enc: dense_grads(g_h1, inp, dtype), model.fc_mu: dense_grads(g_mu, h1, dtype),
        model.fc_logvar: dense_grads(g_logvar, h1, dtype), dec: dense_grads(g_h3, din, dtype),
        model.fc_out: dense_grads(g_logits, h3, dtype),
    }
    return _in_parameter_order(model, grads), bce, kl


def cvae_step(model: nn.Module, optimizer: torch.optim.Optimizer, kl_weight: float, precision: str, compile: bool) -> StepFn:
    """The CVAE's :func:`~genlib.models.cvae_train.elbo_step` with the gradients of :func:`cvae_gradients`."""
    check_mlp_cvae(model.config)
    gradients = _maybe_compiled(cvae_gradients, compile)
    train = _compiled_with_adam(cvae_gradients, compile)
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    cfg = model.config

    def step(batch: tuple[Tensor, ...]) -> dict[str, Metric]:
        x, classes, styles = batch
        c1h, s1h = one_hot_codes(classes, styles, cfg.n_classes, cfg.n_styles)  # a prepared dataset's labels: in range
        eps = torch.randn(x.shape[0], cfg.latent_dim, device=x.device)  # the autograd step's randn_like(mu)
        x = x.reshape(x.shape[0], -1)
        with _written_out(x.device):
            inp = first_layer_input(cfg.input_order, x, c1h, s1h)
            bce, kl = _train_step(train, gradients, model, optimizer, model, inp, x, c1h, s1h, eps, kl_weight, dtype)
        b = x.shape[0]
        return {k: v.detach().double() / b for k, v in {"loss": bce + kl, "reconstruction": bce, "kl": kl}.items()}

    return step


def cvae_gradient_gap(model: nn.Module, x: Tensor, classes: Tensor, styles: Tensor, kl_weight: float = 1.0,
                      seed: int = 0) -> dict[str, float]:
    """How far :func:`cvae_gradients` is from autograd on one batch: per parameter, ``max|manual - autograd| / max|autograd|``.

    Both see the same reparameterisation noise (drawn from ``seed``); float32 rounding alone gives ~1e-7.
    ``x [B, 1, 28, 28]`` in [0, 1]; ``classes``, ``styles`` int64 ``[B]``. The model's ``.grad`` are left as they were.
    """
    check_mlp_cvae(model.config)
    cfg, flat = model.config, x.reshape(x.shape[0], -1)
    eps = torch.randn(x.shape[0], cfg.latent_dim, generator=torch.Generator().manual_seed(seed))
    c1h, s1h = label_codes(classes, styles, cfg.n_classes, cfg.n_styles)
    with torch.no_grad():
        manual, _, _ = cvae_gradients(model, first_layer_input(cfg.input_order, flat, c1h, s1h), flat, c1h, s1h, eps, kl_weight, torch.float32)
    mu, logvar = model.encode(x, classes, styles)
    parts = elbo_loss(model.decode(mu + eps * torch.exp(0.5 * logvar), classes, styles), x, mu, logvar)
    params = dict(model.named_parameters())
    auto = torch.autograd.grad(parts.reconstruction + kl_weight * parts.kl, list(params.values()))
    return {name: float((m - a).abs().max() / a.abs().max()) for name, m, a in zip(params, manual, auto)}


# ---- the conditional GAN (the K49 report's §4.3) ---------------------------------------------


def discriminator_gradients(D: nn.Module, inp: Tensor, dtype: torch.dtype) -> tuple[Grads, Tensor, Tensor, Tensor]:
    """Gradients of ``L_D = 1/2 [mean softplus(-D(x)) + mean softplus(D(G(z)))]`` (the BCE of real
    against 1 and fake against 0), and ``(L_D, mean sigmoid(D(x)), mean sigmoid(D(G(z))))``.

    ``inp [2B, 784 + n_labels]``: D's input rows (:func:`first_layer_input`), the real batch then the fakes.
    """
    b = inp.shape[0] // 2
    h = dense(inp, D.net[0], dtype).relu()
    out = score(h, D.net[2])  # [2B, 1] logits
    p = torch.sigmoid(out)
    target = torch.cat((torch.ones_like(out[:b]), torch.zeros_like(out[b:])))
    loss = 0.5 * (torch.nn.functional.softplus(out[:b].neg()).mean() + torch.nn.functional.softplus(out[b:]).mean())
    g_out = 0.5 / b * (p - target)  # d/dl of 1/2 mean BCE(sigmoid(l), t)
    g_h = g_out * D.net[2].weight * (h > 0)  # dL/dh = g_out w (an outer product), through the ReLU
    grads = {D.net[0]: dense_grads(g_h, inp, dtype), D.net[2]: score_grads(g_out, h)}
    return _in_parameter_order(D, grads), loss, p[:b].mean(), p[b:].mean()


def generator_forward(G: nn.Module, gin: Tensor, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """``(hidden [B, hidden], fake [B, 784])`` of the MLP generator on ``gin = [z, c, s]``: ``fake = out(W2 relu(W1 gin + b1) + b2)``."""
    hidden = dense(gin, G.net[0], dtype).relu()
    pre = dense(hidden, G.net[2], dtype)
    if G.config.output == "tanh":  # tanh(u) = 2 sigmoid(2u) - 1: compiled, 2.5x faster than torch.tanh on a CPU
        return hidden, 2 * torch.sigmoid(2 * pre) - 1
    return hidden, torch.sigmoid(pre)


def generator_gradients(G: nn.Module, D: nn.Module, gin: Tensor, hidden: Tensor, fake: Tensor, inp: Tensor,
                        dtype: torch.dtype) -> tuple[Grads, Tensor]:
    """Gradients of ``L_G = mean softplus(-D(fake))`` (the non-saturating loss) for G, through a frozen D; and ``L_G``.

    ``gin``, ``hidden``, ``fake [B, 784]``: :func:`generator_forward`'s input and outputs; ``inp``:
    D's input rows of the fakes. D is differentiated with respect to its input only, not its weights.
    """
    b, n_classes = fake.shape[0], D.config.n_classes
    h = dense(inp, D.net[0], dtype).relu()
    out = score(h, D.net[2])  # [B, 1]
    loss = torch.nn.functional.softplus(out.neg()).mean()
    g_out = (torch.sigmoid(out) - 1) / b  # d/dl of mean softplus(-l)
    g_h = g_out * D.net[2].weight * (h > 0)
    image = slice(0, fake.shape[1]) if D.config.input_order == "xcs" else slice(n_classes, n_classes + fake.shape[1])
    g_fake = back_through(g_h, D.net[0], dtype, image)  # dL/dfake: D's first layer, image columns only
    g_pre = g_fake * (1 - fake * fake) if G.config.output == "tanh" else g_fake * fake * (1 - fake)
    g_hidden = back_through(g_pre, G.net[2], dtype) * (hidden > 0)
    grads = {G.net[0]: dense_grads(g_hidden, gin, dtype), G.net[2]: dense_grads(g_pre, hidden, dtype)}
    return _in_parameter_order(G, grads), loss


def cgan_step(G: nn.Module, D: nn.Module, opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, train_config: object,
              ema: nn.Module | None = None, start_step: int = 0) -> StepFn:
    """The MLP CGAN's :func:`~genlib.models.cgan_train.adversarial_step` (BCE, one D pass over real || fake)
    with the gradients written out: the same random numbers in the same order, the same updates."""
    check_mlp_cgan(G.config)
    check_manual_cgan(train_config)
    tc, mc = train_config, G.config
    dtype = torch.bfloat16 if tc.precision == "bf16" else torch.float32
    g_forward, d_grads, g_grads = (_maybe_compiled(f, tc.compile) for f in (generator_forward, discriminator_gradients, generator_gradients))
    d_train, g_train = (_compiled_with_adam(f, tc.compile) for f in (discriminator_gradients, generator_gradients))
    steps_done = [start_step]

    def step(batch: tuple[Tensor, ...]) -> dict[str, Metric]:
        x, classes, styles = batch
        real = to_model_range(x, mc).reshape(x.shape[0], -1)  # the K49 report: x * 2 - 1 for the tanh generator
        y_real = mlp_label_codes(classes, styles, mc, check=False)  # a prepared dataset's labels: in range
        with _written_out(x.device):
            for _ in range(tc.n_critic):  # (1) D steps, each on fresh fakes
                y_fake = y_real  # the K49 report: fakes get the real batch's labels
                if tc.fake_labels == "random":  # the StyleGAN report: fakes get uniformly random labels
                    fc = torch.randint(0, mc.n_classes, classes.shape, device=x.device)
                    fs = torch.randint(0, mc.n_styles, styles.shape, device=x.device)
                    y_fake = mlp_label_codes(fc, fs, mc, check=False)
                z = torch.randn(classes.shape[0], mc.latent_dim, device=x.device)  # z ~ N(0, I)
                gin = torch.cat((z, *y_fake), dim=1)
                hidden, fake = g_forward(G, gin, dtype)
                inp = torch.cat((first_layer_input(mc.input_order, real, *y_real), first_layer_input(mc.input_order, fake, *y_fake)))
                d_loss, d_real, d_fake = _train_step(d_train, d_grads, D, opt_d, D, inp, dtype)
            # (2) G step on the same fakes, through the updated D
            (g_loss,) = _train_step(g_train, g_grads, G, opt_g, G, D, gin, hidden, fake, inp[real.shape[0]:], dtype)
        if ema is not None:  # (3) EMA of G's weights
            update_ema(ema, G, ema_decay_at(tc.ema_decay, steps_done[0]))
        steps_done[0] += 1
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach(), "d_real": d_real.detach(), "d_fake": d_fake.detach()}

    return step


# ---- what the written-out steps cover, and the plumbing ----------------------------------------


def check_mlp_cvae(model_config: object) -> None:
    """Raise unless the CVAE is the K49 report's MLP (the only CVAE with a written-out backward pass)."""
    if model_config.arch != "mlp":
        raise ValueError(f"backward='manual' is written out for the MLP CVAE (arch='mlp'), got arch={model_config.arch!r}: "
                         "use backward='autograd'")


def check_mlp_cgan(model_config: object) -> None:
    """Raise unless the CGAN is the K49 report's MLP (the only CGAN with a written-out backward pass)."""
    if model_config.arch != "mlp":
        raise ValueError(f"backward='manual' is written out for the MLP CGAN (arch='mlp'), got arch={model_config.arch!r}: "
                         "use backward='autograd'")


def check_manual_cgan(train_config: object) -> None:
    """Raise unless the CGAN trains with the K49 report's BCE loss and one D pass over real || fake (what is written out)."""
    tc = train_config
    written_out = {"loss": (tc.loss, "bce"), "d_update": (tc.d_update, "joint"), "r1_gamma": (tc.r1_gamma, 0.0), "augment": (tc.augment, "")}
    for name, (value, allowed) in written_out.items():
        if value != allowed:
            raise ValueError(f"backward='manual' is written out for {name}={allowed!r}, got {name}={value!r}: use backward='autograd'")


def _in_parameter_order(module: nn.Module, grads: dict[nn.Module, Grads]) -> Grads:
    """``[dW, db]`` of each layer in ``grads``, flattened in the order of ``module.parameters()``."""
    by_param = {id(p): g for layer, pair in grads.items() for p, g in zip((layer.weight, layer.bias), pair)}
    return [by_param[id(p)] for p in module.parameters()]


def _train_step(fused: Callable | None, gradients: Callable, module: nn.Module, optimizer: torch.optim.Optimizer,
                *args: object) -> tuple[Tensor, ...]:
    """Update ``module`` from ``gradients(*args)`` and return the rest of what it returns (losses):
    with ``fused`` (:func:`_compiled_with_adam`) gradients and Adam in one compiled call, else the
    gradients handed to ``optimizer.step()``."""
    if fused is not None:
        params = list(module.parameters())
        return fused(params, adam_state(optimizer, params), adam_hyper(optimizer), *args)
    grads, *out = gradients(*args)
    _apply(module, grads, optimizer)
    return tuple(out)


def _apply(module: nn.Module, grads: Grads, optimizer: torch.optim.Optimizer) -> None:
    """Hand ``grads`` to the parameters' ``.grad`` and take one optimizer step."""
    for p, g in zip(module.parameters(), grads):
        p.grad = g
    optimizer.step()


@contextmanager
def _written_out(device: torch.device) -> Iterator[None]:
    """No autograd graph (the gradients are written out) and no autocast (the steps cast their own matrix products)."""
    with torch.no_grad(), torch.autocast(device.type, enabled=False):
        yield


def _compiled_with_adam(gradients: Callable, compile: bool) -> Callable | None:
    """``gradients`` followed by :func:`~genlib.training.adam_update`, compiled as one function:
    ``train(params, adam_state, adam_hyper, *args)`` returns what ``gradients(*args)`` returns after
    the gradients (which never leave the compiled loops; 1.09x the separate Adam step for the CVAE here).

    None without ``compile`` (eagerly the written-out update would run op by op, where torch's fused
    Adam is one kernel) or with several processes, where ``optimizer.step()``'s hook first averages
    the gradients (:mod:`genlib.distributed`).
    """
    if not compile or (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return None

    def train(params: list[Tensor], state: tuple[list[Tensor], ...], hyper: tuple[float, ...], *args: object) -> tuple[Tensor, ...]:
        grads, *out = gradients(*args)
        adam_update(params, grads, *state, *hyper)
        return tuple(out)

    return torch.compile(train, dynamic=False)


def _maybe_compiled(fn: Callable, compile: bool) -> Callable:
    """``torch.compile(fn)`` (one fused kernel per elementwise chain) or ``fn`` itself."""
    return torch.compile(fn, dynamic=False) if compile else fn
