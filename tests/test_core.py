"""Batches, the shared training loop, checkpoints, configs and device selection."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import save_file

from genlib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from genlib.config import config_from_dict, config_replace
from genlib.data.batches import TensorBatches
from genlib.data.datasets import DataConfig
from genlib.runtime import get_device, seed_everything
from genlib.training import TrainingDiverged, TrainState, fit


def test_batches_cover_every_sample_once_per_epoch() -> None:
    x, y = torch.arange(10).float(), torch.arange(10)
    batches = TensorBatches((x, y), batch_size=4, seed=3)
    assert len(batches) == 3
    seen = torch.cat([b[1] for b in batches.epoch(0)])
    assert sorted(seen.tolist()) == list(range(10))
    assert all(torch.equal(bx.long(), by) for bx, by in batches.epoch(1))  # rows stay aligned
    assert not torch.equal(batches.permutation(0), batches.permutation(1))
    assert torch.equal(batches.permutation(0), TensorBatches((x,), 4, seed=3).permutation(0))
    assert len(TensorBatches((x,), 4, drop_last=True)) == 2
    # resuming at batch 1 gives the same remaining batches
    assert [b[1].tolist() for b in batches.epoch(2, start=1)] == [b[1].tolist() for b in batches.epoch(2)][1:]
    assert [b[0].tolist() for b in TensorBatches((x,), 4, shuffle=False)] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_batches_reject_bad_input() -> None:
    with pytest.raises(ValueError, match="same first dimension"):
        TensorBatches((torch.zeros(3), torch.zeros(4)), 2)
    with pytest.raises(ValueError, match="batch_size"):
        TensorBatches((torch.zeros(3),), 0)


def test_fit_history_budget_and_divergence() -> None:
    batches = TensorBatches((torch.ones(8),), batch_size=2)
    calls = []

    def step(batch):
        calls.append(1)
        return {"loss": float(len(calls))}

    state = fit(step, batches, TrainState(), epochs=2, progress=False, evaluate=lambda: {"val": 1.0})
    assert [row["loss"] for row in state.history] == [2.5, 6.5] and state.history[0]["val"] == 1.0
    assert state.step == 8 and state.images_seen == 16 and state.epoch == 2

    partial = fit(step, batches, TrainState(), epochs=5, max_steps=3, progress=False)
    assert partial.step == 3 and partial.epoch == 0 and partial.batch == 3

    saved = []
    with pytest.raises(TrainingDiverged, match="diverged"):
        fit(lambda b: {"loss": float("nan")}, batches, TrainState(), epochs=1, progress=False, save=saved.append)
    assert saved == []  # the last good checkpoint is never overwritten by a diverged state


def test_fit_reads_device_sums_in_bulk_with_identical_results() -> None:
    """Step metrics may be 0-dim tensors; fit reads their sums every sync_every steps, and the
    history is bit-identical however often it reads them (and to plain float metrics)."""
    batches = TensorBatches((torch.arange(24).float(),), batch_size=2)  # 12 steps per epoch

    def step(batch):
        return {"loss": (batch[0] / 3).sum().sin(), "lr": 0.1}  # a float32 tensor and a Python number

    histories = [fit(step, batches, TrainState(), epochs=2, progress=False, sync_every=n).history for n in (1, 5, 100)]
    as_floats = fit(lambda b: {k: float(v) for k, v in step(b).items()}, batches, TrainState(), epochs=2, progress=False).history
    strip = [[{k: v for k, v in row.items() if k != "seconds"} for row in h] for h in [*histories, as_floats]]
    assert strip[0] == strip[1] == strip[2] == strip[3]
    # stopped mid-epoch at a step that is no multiple of sync_every, then resumed: the same history
    part = fit(step, batches, TrainState(), epochs=2, max_steps=7, progress=False, sync_every=5)
    assert part.step == 7 and set(part.running) == {"loss", "lr"}
    resumed = fit(step, batches, TrainState.from_dict(json.loads(json.dumps(part.to_dict()))), epochs=2, progress=False, sync_every=5)
    assert [{k: v for k, v in row.items() if k != "seconds"} for row in resumed.history] == strip[0]
    with pytest.raises(ValueError, match="sync_every must be >= 1, got 0"):
        fit(step, batches, TrainState(), epochs=1, progress=False, sync_every=0)


def test_fit_catches_a_nan_between_syncs_and_never_saves_it() -> None:
    batches = TensorBatches((torch.arange(40).float(),), batch_size=1)
    saved: list[int] = []

    calls: list[int] = []

    def step(batch):  # finite for steps 1-12, NaN from step 13 on
        calls.append(1)
        return {"loss": torch.tensor(float("nan") if len(calls) > 12 else 1.0)}

    with pytest.raises(TrainingDiverged, match=r"steps 11-20"):  # read at step 10 (fine), then at step 20
        fit(step, batches, TrainState(), epochs=1, progress=False, sync_every=10, save=lambda st: saved.append(st.step), save_every=10)
    assert saved == [10]  # the good state at step 10 was saved; nothing after the NaN


def test_train_state_round_trips_through_json() -> None:
    state = TrainState(epoch=2, step=10, history=[{"epoch": 1, "loss": 1.5}], extra={"alpha": 0.5})
    assert TrainState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_checkpoint_round_trip_and_atomicity(tmp_path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    path = tmp_path / "sub" / "ckpt.safetensors"
    save_checkpoint(path, family="test", model_config={"a": 1}, train_config=DataConfig(), modules={"m": model}, optimizers={"opt": opt}, state={"step": 1})
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.safetensors"]  # no temp files left
    ckpt = load_checkpoint(path)
    assert ckpt.family == "test" and ckpt.model_config == {"a": 1} and ckpt.state == {"step": 1}
    assert ckpt.train_config["dataset"] == "kana49"
    for k, v in model.state_dict().items():
        assert torch.equal(ckpt.modules["m"][k], v)
    opt2 = torch.optim.Adam(model.parameters(), lr=0.5)
    opt2.load_state_dict(ckpt.optimizers["opt"])
    assert opt2.param_groups[0]["lr"] == 0.01
    assert torch.equal(opt2.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert "torch" in ckpt.rng


def test_load_checkpoint_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(junk)
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match="not a genlib checkpoint"):
        load_checkpoint(foreign)


def test_config_from_dict_nested_and_unknown_keys() -> None:
    from genlib.models.cvae_train import CVAETrainConfig

    tc = CVAETrainConfig(data=DataConfig(dataset="mnist5k", limit=10), epochs=3)
    assert config_from_dict(CVAETrainConfig, json.loads(json.dumps(tc.__dict__, default=lambda o: o.__dict__))) == tc
    with pytest.raises(ValueError, match="unknown CVAETrainConfig field"):
        config_from_dict(CVAETrainConfig, {"epochz": 3})
    with pytest.raises(ValueError, match="allowed"):
        config_replace(tc, nope=1)


def test_device_and_seed() -> None:
    assert get_device("cpu").type == "cpu"
    assert get_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(ValueError, match="device must be one of"):
        get_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            get_device("cuda")
    seed_everything(5)
    a = torch.rand(3)
    seed_everything(5)
    assert torch.equal(a, torch.rand(3))
    with pytest.raises(ValueError, match="seed"):
        seed_everything(-1)


def test_every_family_trains_on_thickness_and_slant_and_rejects_two_style_models() -> None:
    """``condition="thickness+slant"``: each generator trains with ``n_styles=4``; ``n_styles=2`` is a clear error."""
    import dataclasses

    from conftest import make_tiny_data, with_slant_condition
    from genlib.models import cgan_train, cvae_train, stylegan_train
    from genlib.models.cgan import conv_config
    from genlib.models.cvae import CVAEConfig
    from genlib.models.stylegan import StyleGANConfig

    data = with_slant_condition(make_tiny_data())
    cases = {
        "cvae": (cvae_train.train, CVAEConfig(arch="conv", latent_dim=4, hidden_dim=16, channels=4), cvae_train.CVAETrainConfig(batch_size=32)),
        "cgan": (cgan_train.train, conv_config(channels=4), cgan_train.CGANTrainConfig(batch_size=32)),
        "stylegan": (stylegan_train.train, StyleGANConfig(latent_dim=8, w_dim=8, channel_base=64, channel_max=8),
                     stylegan_train.StyleGANTrainConfig(batch_size=8, device="cpu")),
    }
    for name, (train, model_config, train_config) in cases.items():
        with pytest.raises(ValueError, match=r"n_styles=2 but the data's condition 'thickness\+slant' gives 4 style codes.*--n-styles 4"):
            train(model_config, train_config, data=data, max_steps=1, progress=False)
        result = train(dataclasses.replace(model_config, n_styles=4), train_config, data=data, max_steps=2, progress=False)
        assert result.state.step == 2, name


def test_read_meta_answers_from_the_header_alone(tmp_path) -> None:
    """``read_meta`` gives family, configs, state and module names without reading the tensors."""
    from genlib.checkpoint import CheckpointError, read_meta, save_checkpoint

    path = save_checkpoint(tmp_path / "m.safetensors", family="toy", model_config={"width": 3}, train_config={"lr": 0.1},
                           modules={"model": torch.nn.Linear(2, 3)}, state={"epoch": 4})
    meta = read_meta(path)
    assert (meta.family, meta.model_config, meta.train_config, meta.state["epoch"], meta.modules) == (
        "toy", {"width": 3}, {"lr": 0.1}, 4, ("model",))
    with pytest.raises(CheckpointError, match="interrupted write"):
        read_meta(tmp_path / "m.safetensors.abc.tmp")
    from genlib.data.datasets import repo_data_dir

    assert read_meta(repo_data_dir() / "cgan_conv_mnist5k.safetensors").modules == ("discriminator", "ema")
