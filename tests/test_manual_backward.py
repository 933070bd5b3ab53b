"""The written-out backward passes (``backward="manual"``) compute autograd's gradients and train as it does.

Gradients are compared through one step with plain SGD (the update is ``-lr * gradient``, so the
parameters after the step differ exactly as the gradients do); whole runs are compared through
their losses, since Adam's first steps divide by the gradients' size and amplify rounding.
"""

from __future__ import annotations

import copy

import pytest
import torch

from genlib.checkpoint import read_meta
from genlib.models import cgan_train, cvae_train
from genlib.models.cgan import CGANConfig, build_cgan, conv_config
from genlib.models.cvae import CVAEConfig, build_cvae
from genlib.models.manual_backward import cgan_step, cvae_gradient_gap, cvae_step
from genlib.training import adam_state, adam_update

LR = 1.0  # large enough that a step moves the weights far beyond their float32 rounding


def _batch(n_classes: int, b: int = 24, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(b, 1, 28, 28, generator=g) > 0.7).float() * torch.rand(b, 1, 28, 28, generator=g)
    return x, torch.randint(0, n_classes, (b,), generator=g), torch.randint(0, 2, (b,), generator=g)


def _assert_same_parameters(a: torch.nn.Module, b: torch.nn.Module, start: torch.nn.Module) -> None:
    """After one SGD step, ``a`` and ``b`` moved by the same ``lr * gradient`` from ``start`` (relative to the largest move)."""
    for (name, p), q, p0 in zip(a.named_parameters(), b.parameters(), start.parameters()):
        p, q, p0 = p.detach(), q.detach(), p0.detach()
        moved = float((q - p0).abs().max())
        assert moved > 0, f"{name} did not move"
        rounding = 4 * torch.finfo(torch.float32).eps * float(p0.abs().max())  # a few ulps of the weights themselves
        assert float((p - q).abs().max()) <= 1e-4 * moved + rounding, (name, float((p - q).abs().max()), moved)


@pytest.mark.parametrize("changes", [{}, dict(input_order="cxs", latent_dim=3), dict(hidden_dim=32, n_classes=10)])
@pytest.mark.parametrize("kl_weight", [1.0, 4.0])
def test_cvae_gradients_are_autograds(changes, kl_weight) -> None:
    config = CVAEConfig(**changes)
    torch.manual_seed(0)
    start = build_cvae(config)
    models = {k: copy.deepcopy(start) for k in ("autograd", "manual")}
    steps = {
        "autograd": cvae_train.elbo_step(models["autograd"], torch.optim.SGD(models["autograd"].parameters(), LR), kl_weight),
        "manual": cvae_step(models["manual"], torch.optim.SGD(models["manual"].parameters(), LR), kl_weight, "fp32", False),
    }
    batch, metrics = _batch(config.n_classes), {}
    for name, step in steps.items():
        torch.manual_seed(1)  # the same reparameterisation noise
        metrics[name] = step(batch)
    _assert_same_parameters(models["manual"], models["autograd"], start)
    for k in ("loss", "reconstruction", "kl"):
        assert float(metrics["manual"][k]) == pytest.approx(float(metrics["autograd"][k]), rel=1e-5)


CGAN_CASES = [
    ({}, {}),
    (dict(input_order="cxs"), dict(fake_labels="random")),
    (dict(output="sigmoid", hidden_dim=32), dict(n_critic=2)),
    (dict(label_range="pm1", n_classes=10), dict(ema_decay=0.9)),
]


@pytest.mark.parametrize("model_changes, train_changes", CGAN_CASES)
def test_cgan_gradients_are_autograds(model_changes, train_changes) -> None:
    config = CGANConfig(**model_changes)
    tc = cgan_train.CGANTrainConfig(**train_changes)
    torch.manual_seed(0)
    start = build_cgan(config)
    nets = {k: copy.deepcopy(start) for k in ("autograd", "manual")}
    emas = {k: copy.deepcopy(nets[k][0]) if tc.ema_decay else None for k in nets}
    metrics = {}
    for name, (G, D) in nets.items():
        make = cgan_train.adversarial_step if name == "autograd" else cgan_step
        step = make(G, D, torch.optim.SGD(G.parameters(), LR), torch.optim.SGD(D.parameters(), LR), tc, emas[name])
        torch.manual_seed(1)  # the same noise (and random labels) in the same order
        metrics[name] = step(_batch(config.n_classes))
    for i, net in enumerate(("generator", "discriminator")):
        _assert_same_parameters(nets["manual"][i], nets["autograd"][i], start[i])
    if tc.ema_decay:
        for p, q in zip(emas["manual"].parameters(), emas["autograd"].parameters()):
            assert torch.allclose(p, q, atol=1e-6)
    for k in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert float(metrics["manual"][k]) == pytest.approx(float(metrics["autograd"][k]), rel=1e-5), k


def _losses(module, model_config, train_config, data, steps: int = 12) -> list[float]:
    result = module.train(model_config, train_config, data=data, max_steps=steps, progress=False)
    return [v / result.state.batch for v in result.state.running.values()]


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_runs_train_like_autograd_and_record_the_backward(precision, tiny_data, tmp_path) -> None:
    """A short run of each family: fp32 losses match autograd's closely; bf16 within bf16's rounding."""
    cases = [
        (cvae_train, CVAEConfig(n_classes=tiny_data.n_classes), cvae_train.CVAETrainConfig, dict(batch_size=32)),
        (cgan_train, CGANConfig(n_classes=tiny_data.n_classes), cgan_train.CGANTrainConfig, dict(batch_size=32)),
    ]
    tolerance = 1e-3 if precision == "fp32" else 0.05
    for module, model_config, train_config, fields in cases:
        runs = {b: train_config(epochs=1, device="cpu", precision=precision, backward=b, **fields) for b in ("autograd", "manual")}
        auto, manual = (_losses(module, model_config, runs[b], tiny_data) for b in ("autograd", "manual"))
        assert manual == pytest.approx(auto, rel=tolerance, abs=tolerance), (module.__name__, auto, manual)
    out = tmp_path / "manual.safetensors"
    cvae_train.train(CVAEConfig(n_classes=tiny_data.n_classes), cvae_train.CVAETrainConfig(epochs=1, device="cpu", backward="manual"),
                     data=tiny_data, out=out, max_steps=2, progress=False)
    assert read_meta(out).train_config["backward"] == "manual"


def test_compiled_written_out_step_matches_the_eager_one(tiny_data) -> None:
    """``compile=True`` fuses the written-out CVAE step: the same losses as eager (other rounding only)."""
    model_config = CVAEConfig(n_classes=tiny_data.n_classes)
    eager, compiled = (
        _losses(cvae_train, model_config, cvae_train.CVAETrainConfig(epochs=1, batch_size=32, device="cpu", backward="manual", compile=c),
                tiny_data, steps=6)
        for c in (False, True)
    )
    assert compiled == pytest.approx(eager, rel=1e-4)


@pytest.mark.parametrize("compiled", [False, True])
def test_written_out_adam_is_torchs_adam_on_the_same_state(compiled) -> None:
    """Five steps of :func:`adam_update` move the weights as ``torch.optim.Adam`` does and keep its
    state (the same keys and step count), from which torch's Adam carries on."""
    g = torch.Generator().manual_seed(0)
    start = [torch.randn(6, 5, generator=g), torch.randn(5, generator=g)]
    grads = [[torch.randn(p.shape, generator=g) * 10**k for p in start] for k in range(-2, 3)]  # gradients of every size
    ours, theirs = ([p.clone().requires_grad_() for p in start] for _ in range(2))
    opt_ours, opt_theirs = (torch.optim.Adam(ps, lr=0.01, betas=(0.5, 0.999), fused=True) for ps in (ours, theirs))
    update = torch.compile(adam_update, dynamic=False) if compiled else adam_update
    for step_grads in grads:
        update(ours, step_grads, *adam_state(opt_ours, ours), 0.01, 0.5, 0.999, 1e-8)
        for p, gr in zip(theirs, step_grads):
            p.grad = gr
        opt_theirs.step()
    for a, b, s in zip(ours, theirs, start):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
        assert not torch.equal(a, s)
    for a, b in zip(opt_ours.state.values(), opt_theirs.state.values()):
        assert a.keys() == b.keys() and float(a["step"]) == float(b["step"]) == 5
        torch.testing.assert_close(a["exp_avg_sq"], b["exp_avg_sq"], rtol=1e-5, atol=0)
    for p, gr in zip(ours, grads[0]):  # torch's Adam continues from the written-out one's state
        p.grad = gr
    opt_ours.step()
    assert all(float(s["step"]) == 6 for s in opt_ours.state.values())
    with pytest.raises(ValueError, match="one parameter group with weight_decay=0, got 0.1"):
        adam_state(torch.optim.Adam(ours, weight_decay=0.1), ours)
    with pytest.raises(ValueError, match="covers one parameter group, got 2"):
        adam_state(torch.optim.Adam([{"params": ours[:1]}, {"params": ours[1:]}]), ours)


def test_compiled_written_out_cgan_step_matches_the_eager_one_and_resumes_either_way(tiny_data, tmp_path) -> None:
    """The compiled CGAN step (gradients and Adam in one function) gives the eager step's losses up to
    rounding, and its checkpoint (torch Adam's state layout) resumes without compile."""
    model_config = CGANConfig(n_classes=tiny_data.n_classes)
    config = dict(epochs=1, batch_size=32, device="cpu", backward="manual")
    eager, compiled = (_losses(cgan_train, model_config, cgan_train.CGANTrainConfig(**config, compile=c), tiny_data, steps=6)
                       for c in (False, True))
    assert compiled == pytest.approx(eager, rel=1e-3)
    out = tmp_path / "compiled.safetensors"
    cgan_train.train(model_config, cgan_train.CGANTrainConfig(**config, compile=True), data=tiny_data, out=out, max_steps=3, progress=False)
    resumed = cgan_train.train(model_config, cgan_train.CGANTrainConfig(**config), data=tiny_data, resume=out, max_steps=6, progress=False)
    assert resumed.state.step == 6
    assert [v / 6 for v in resumed.state.running.values()] == pytest.approx(eager, rel=1e-3)


@pytest.mark.parametrize("family, model_config, fields, message", [
    (cvae_train, CVAEConfig(arch="conv"), {}, "backward='manual' is written out for the MLP CVAE (arch='mlp'), got arch='conv'"),
    (cvae_train, CVAEConfig(arch="deep"), {}, "got arch='deep'"),
    (cgan_train, conv_config(), {}, "written out for the MLP CGAN (arch='mlp'), got arch='conv'"),
])
def test_models_without_a_written_out_backward_are_refused(family, model_config, fields, message, tiny_data) -> None:
    tc = family.FAMILY.train_config(epochs=1, device="cpu", backward="manual", **fields)
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        family.train(model_config, tc, data=tiny_data, max_steps=1, progress=False)


@pytest.mark.parametrize("fields, message", [
    (dict(loss="hinge"), "written out for loss='bce', got loss='hinge'"),
    (dict(d_update="split"), "written out for d_update='joint', got d_update='split'"),
    (dict(r1_gamma=1.0), "written out for r1_gamma=0.0, got r1_gamma=1.0"),
    (dict(augment="color"), "written out for augment='', got augment='color'"),
    (dict(backward="by hand"), "backward"),
])
def test_cgan_options_without_a_written_out_backward_are_refused(fields, message) -> None:
    with pytest.raises(ValueError, match=message):
        cgan_train.CGANTrainConfig(**{"backward": "manual", **fields})


def test_gradient_gap_measures_the_written_out_cvae_against_autograd() -> None:
    """The notebook's check: float32 rounding only, and the model's own gradients untouched."""
    torch.manual_seed(0)
    model = build_cvae(CVAEConfig(n_classes=10))
    x, classes, styles = _batch(10)
    gaps = cvae_gradient_gap(model, x, classes, styles, kl_weight=2.0, seed=3)
    assert list(gaps) == [name for name, _ in model.named_parameters()]
    assert max(gaps.values()) < 1e-5, gaps
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(ValueError, match="got arch='conv'"):
        cvae_gradient_gap(build_cvae(CVAEConfig(arch="conv")), x, classes, styles)
