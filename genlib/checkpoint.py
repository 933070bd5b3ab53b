"""Checkpoints that rebuild a model and resume training, without pickle.

One ``.safetensors`` file holds every tensor — model weights (``model/<name>/<key>``), optimizer
state (``optim/<name>/<param>/<key>``) and RNG state (``rng/torch``) — and a JSON metadata blob with
the model family, its configs, the training state (epoch, step, history, …) and the optimizers'
hyperparameters. Loading parses JSON and raw tensors only: no code is ever executed.

Writes are atomic: the file is written under a temporary name, read back and compared, then
renamed into place, so a crash never leaves a half-written checkpoint under the final name.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

FORMAT = "genlib-checkpoint/1"


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, corrupt, or not a genlib checkpoint."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` returns: plain dicts and tensors, ready to rebuild a model."""

    family: str  # e.g. "cvae", "cgan", "stylegan"
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    state: dict[str, Any]  # TrainState as a dict (epoch, step, history, ...)
    modules: dict[str, dict[str, Tensor]]  # module name -> state_dict
    optimizers: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> optimizer state_dict
    rng: dict[str, Tensor] = field(default_factory=dict)  # "torch" -> ByteTensor
    extra: dict[str, Any] = field(default_factory=dict)  # any other JSON the family stored


def _as_dict(config: Any) -> dict[str, Any]:
    return asdict(config) if is_dataclass(config) else dict(config)


def _optimizer_tensors(name: str, optimizer: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Split an optimizer's state_dict into tensors and JSON (hyperparameters, scalar state)."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, pstate in sd["state"].items():
        for key, value in pstate.items():
            if isinstance(value, Tensor):
                tensors[f"optim/{name}/{pid}/{key}"] = value.detach().clone().contiguous()
            else:
                scalars[f"{pid}/{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _rebuild_optimizer_state(name: str, tensors: dict[str, Tensor], meta: dict[str, Any]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    prefix = f"optim/{name}/"
    for key, value in tensors.items():
        if key.startswith(prefix):
            pid, k = key[len(prefix) :].split("/", 1)
            state.setdefault(int(pid), {})[k] = value
    for key, value in meta["scalars"].items():
        pid, k = key.split("/", 1)
        state.setdefault(int(pid), {})[k] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(
    path: str | Path,
    *,
    family: str,
    model_config: Any,
    train_config: Any,
    modules: dict[str, nn.Module],
    optimizers: dict[str, torch.optim.Optimizer] | None = None,
    state: dict[str, Any] | None = None,
    include_rng: bool = True,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint atomically and verify it by reading it back.

    Args:
        path: destination ``.safetensors`` file (parent folders are created).
        family: the model family name that :mod:`genlib.families` knows.
        model_config, train_config: dataclasses (or dicts) that rebuild the model and the run.
        modules: e.g. ``{"model": vae}`` or ``{"generator": G, "discriminator": D, "ema": G_ema}``.
        optimizers: optimizers to resume; omit for a small inference-only checkpoint.
        state: the training state as a JSON-able dict (see :class:`genlib.training.TrainState`).
        include_rng: store torch's global RNG state so resumed training draws the same numbers.
    Returns:
        the final path.
    """
    path = Path(path)
    tensors: dict[str, Tensor] = {}
    for name, module in modules.items():
        for key, value in module.state_dict().items():
            tensors[f"model/{name}/{key}"] = value.detach().cpu().clone().contiguous()
    optim_meta = {}
    for name, optimizer in (optimizers or {}).items():
        t, meta = _optimizer_tensors(name, optimizer)
        tensors.update({k: v.cpu() for k, v in t.items()})
        optim_meta[name] = meta
    if include_rng:
        tensors["rng/torch"] = torch.get_rng_state()
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            for i, s in enumerate(torch.cuda.get_rng_state_all()):
                tensors[f"rng/cuda{i}"] = s
    blob = {
        "family": family,
        "model_config": _as_dict(model_config),
        "train_config": _as_dict(train_config),
        "state": state or {},
        "optimizers": optim_meta,
        "extra": extra or {},
    }
    metadata = {"format": FORMAT, "genlib": json.dumps(blob)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=metadata)
        back = load_file(tmp)  # verify: every tensor reads back identical
        if back.keys() != tensors.keys() or not all(torch.equal(back[k], tensors[k]) for k in tensors):
            raise CheckpointError(f"verification of {tmp} failed: tensors differ after writing")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (JSON + raw tensors; never unpickles).

    Raises:
        CheckpointError: the file is missing, not a safetensors file, or not a genlib checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path), device=str(map_location))
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: {exc}") from exc
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a genlib checkpoint (format {metadata.get('format')!r}, expected {FORMAT!r})")
    blob = json.loads(metadata["genlib"])
    modules: dict[str, dict[str, Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("model/"):
            name, param = key[len("model/") :].split("/", 1)
            modules.setdefault(name, {})[param] = value
    optimizers = {name: _rebuild_optimizer_state(name, tensors, meta) for name, meta in blob["optimizers"].items()}
    rng = {k[len("rng/") :]: v.cpu() for k, v in tensors.items() if k.startswith("rng/")}
    return Checkpoint(
        family=blob["family"],
        model_config=blob["model_config"],
        train_config=blob["train_config"],
        state=blob["state"],
        modules=modules,
        optimizers=optimizers,
        rng=rng,
        extra=blob["extra"],
    )


def restore_rng(rng: dict[str, Tensor]) -> None:
    """Put back the RNG state saved by :func:`save_checkpoint` (no-op when none was saved)."""
    if "torch" in rng:
        torch.set_rng_state(rng["torch"])
    cuda = [rng[k] for k in sorted(rng) if k.startswith("cuda")]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)


def restore_modules(ckpt: Checkpoint, modules: dict[str, nn.Module]) -> None:
    """Load the weights of every named module (strict: the architecture must match exactly)."""
    missing = set(modules) - set(ckpt.modules)
    if missing:
        raise CheckpointError(f"checkpoint has no weights for {sorted(missing)}; it holds {sorted(ckpt.modules)}")
    for name, module in modules.items():
        module.load_state_dict(ckpt.modules[name])


def restore_optimizers(ckpt: Checkpoint, optimizers: dict[str, torch.optim.Optimizer]) -> None:
    """Load optimizer states; raises if the checkpoint was saved without them (a slim checkpoint)."""
    missing = set(optimizers) - set(ckpt.optimizers)
    if missing:
        raise CheckpointError(
            f"checkpoint has no optimizer state for {sorted(missing)} (saved slim?): it cannot resume training"
        )
    for name, optimizer in optimizers.items():
        optimizer.load_state_dict(ckpt.optimizers[name])
