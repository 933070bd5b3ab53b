"""Checkpoints that rebuild a model and resume training, without pickle.

One ``.safetensors`` file holds every tensor — model weights (``model/<name>/<key>``), optimizer
state (``optim/<name>/<param>/<key>``) and RNG state (``rng/torch``) — and a JSON metadata blob with
the model family, its configs, the training state (epoch, step, history, …) and the optimizers'
hyperparameters. Loading parses JSON and raw tensors only: no code is ever executed.

Writes are atomic (:func:`genlib.atomic.atomic_write`): the file is written under a temporary name
(``*.tmp``, never loaded), read back and compared, fsynced, then renamed into place, so a crash never
leaves a half-written checkpoint under the final name. The metadata holds a SHA-256 of the tensors
(:func:`payload_hash`), checked on every load; NaN/inf weights are refused at save and at load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from genlib.atomic import atomic_write, is_temp_path
from genlib.legacy import upgrade_names

FORMAT = "genlib-checkpoint/1"
HASH_KEY = "sha256"  # metadata key: payload_hash() of the tensors, checked on every load


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
    more_rng: dict[str, Tensor] | None = None,
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
        more_rng: further RNG states stored beside it as ``rng/<key>`` (the other processes' of a
            data-parallel run, :func:`genlib.distributed.other_ranks_rng`).
    Returns:
        the final path.
    Raises:
        CheckpointError: a module's weights hold NaN or inf (names the module and tensor; the
            previous file at ``path`` is kept), or the written file did not read back identical.
        OSError: the file system refused the write (the previous file is kept, no temp file is left).
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
        tensors.update({f"rng/{k}": v for k, v in (more_rng or {}).items()})
    blob = {
        "family": family,
        "model_config": _as_dict(model_config),
        "train_config": _as_dict(train_config),
        "state": state or {},
        "optimizers": optim_meta,
        "extra": extra or {},
    }
    return _write(path, tensors, blob)


def payload_hash(tensors: dict[str, Tensor]) -> str:
    """SHA-256 over every tensor in name order: its name, dtype, shape and raw bytes (hex digest)."""
    digest = hashlib.sha256()
    for name in sorted(tensors):
        t = tensors[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def _first_non_finite(tensors: dict[str, Tensor]) -> str | None:
    """``"module 'm' tensor 'key'"`` of the first model tensor holding NaN or inf, or None."""
    for key in sorted(tensors):
        t = tensors[key]
        if key.startswith("model/") and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            name, param = key[len("model/") :].split("/", 1)
            return f"module {name!r} tensor {param!r}"
    return None


def _write(path: Path, tensors: dict[str, Tensor], blob: dict[str, Any]) -> Path:
    """Write tensors + JSON atomically with the payload hash, verified by reading the temp file back."""
    bad = _first_non_finite(tensors)
    if bad is not None:
        raise CheckpointError(f"refusing to save {path}: {bad} holds NaN or inf (the previous file is kept)")
    metadata = {"format": FORMAT, "genlib": json.dumps(blob), HASH_KEY: payload_hash(tensors)}

    def write(tmp: Path) -> None:
        save_file(tensors, str(tmp), metadata=metadata)
        back = load_file(str(tmp))  # verify: every tensor reads back identical
        if back.keys() != tensors.keys() or not all(torch.equal(back[k], tensors[k]) for k in tensors):
            raise CheckpointError(f"verification of {tmp} failed: tensors differ after writing")

    return atomic_write(path, write)


def rewrite_checkpoint(
    src: str | Path, dst: str | Path, *, slim: bool, modules: Sequence[str] | None = None, half: bool = False,
) -> Path:
    """Copy the checkpoint ``src`` to ``dst`` (atomically, verified, with its hash), optionally slim.

    Args:
        slim: keep only model weights, configs, state and extra: no optimizer or RNG state (the
            result samples but cannot resume), exactly as a family's ``train(..., slim=True)`` saves.
        modules: the modules a slim copy keeps (default: every one; e.g. ``["ema"]`` for a StyleGAN).
        half: store float32 weights as float16 (half the bytes; loading casts them back to the
            model's float32, so the copy samples like the original up to float16 rounding, ~1e-3).
    Raises:
        CheckpointError: ``src`` is not a readable, intact checkpoint, or lacks one of ``modules``.
    """
    src, dst = Path(src), Path(dst)
    tensors, metadata = _read(src)
    blob = json.loads(metadata["genlib"])
    if slim:
        held = sorted({k.split("/")[1] for k in tensors if k.startswith("model/")})
        keep = list(modules) if modules is not None else held
        missing = sorted(set(keep) - set(held))
        if missing:
            raise CheckpointError(f"{src} has no weights for {missing}; it holds {held}")
        tensors = {k: v for k, v in tensors.items() if k.startswith("model/") and k.split("/")[1] in keep}
        blob = {**blob, "optimizers": {}}
    if half:
        tensors = {k: v.half() if k.startswith("model/") and v.dtype == torch.float32 else v for k, v in tensors.items()}
    return _write(dst, tensors, blob)


def _check_loadable(path: Path) -> None:
    """Refuse a missing file and the ``*.tmp`` leftover of an interrupted write."""
    if is_temp_path(path):
        raise CheckpointError(f"{path} is a temporary file left by an interrupted write, not a checkpoint: it is never loaded")
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")


def _read(path: Path) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Tensors (on the CPU) and metadata of a genlib checkpoint, its hash and weights checked."""
    _check_loadable(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path), device="cpu")
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: {' '.join(str(exc).split())}") from exc
    if metadata.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a genlib checkpoint (format {metadata.get('format')!r}, expected {FORMAT!r})")
    if HASH_KEY in metadata and payload_hash(tensors) != metadata[HASH_KEY]:
        raise CheckpointError(f"{path} is corrupt: its tensors do not match the stored hash")
    bad = _first_non_finite(tensors)
    if bad is not None:
        raise CheckpointError(f"{path} is corrupt: {bad} holds NaN or inf")
    return tensors, metadata


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (JSON + raw tensors; never unpickles).

    The tensors are checked against the SHA-256 stored at save time (checkpoints written before
    genlib stored one load without that check) and every weight must be finite.

    Raises:
        CheckpointError: the file is missing, a leftover ``*.tmp`` of an interrupted write, not a
            safetensors file, not a genlib checkpoint, or corrupt (hash mismatch, NaN/inf weights,
            unreadable metadata).
    """
    path = Path(path)
    tensors, metadata = _read(path)
    tensors = {k: v if k.startswith("rng/") else v.to(map_location) for k, v in tensors.items()}
    try:
        blob = json.loads(metadata["genlib"])
        modules: dict[str, dict[str, Tensor]] = {}
        for key, value in tensors.items():
            if key.startswith("model/"):
                name, param = key[len("model/") :].split("/", 1)
                modules.setdefault(name, {})[param] = value
        optimizers = {name: _rebuild_optimizer_state(name, tensors, meta) for name, meta in blob["optimizers"].items()}
        blob = upgrade_names({**blob, "optimizers": optimizers})
        rng = {k[len("rng/") :]: v for k, v in tensors.items() if k.startswith("rng/")}
        return Checkpoint(
            family=blob["family"],
            model_config=blob["model_config"],
            train_config=blob["train_config"],
            state=blob["state"],
            modules=modules,
            optimizers=blob["optimizers"],
            rng=rng,
            extra=blob["extra"],
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"{path} is corrupt: its metadata is unreadable ({type(exc).__name__}: {exc})") from exc


@dataclass(frozen=True)
class CheckpointMeta:
    """What a checkpoint says about itself, read without loading (or verifying) its tensors."""

    family: str
    model_config: dict[str, Any]
    train_config: dict[str, Any]
    state: dict[str, Any]
    modules: tuple[str, ...]  # the module names it holds weights for, e.g. ("discriminator", "ema")


def read_meta(path: str | Path) -> CheckpointMeta:
    """The family, configs, train state and module names of a checkpoint, from its header only.

    For "which family / which config" questions; :func:`load_checkpoint` verifies the weights.

    Raises:
        CheckpointError: the file is missing, a ``*.tmp`` leftover, unreadable, or not a genlib checkpoint.
    """
    path = Path(path)
    _check_loadable(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata, keys = f.metadata() or {}, list(f.keys())
    except Exception as exc:  # safetensors raises its own error types for corrupt headers
        raise CheckpointError(f"{path} is not a readable safetensors checkpoint: {' '.join(str(exc).split())}") from exc
    try:
        if metadata.get("format") != FORMAT:
            raise CheckpointError(f"{path} is not a genlib checkpoint (format {metadata.get('format')!r}, expected {FORMAT!r})")
        blob = upgrade_names(json.loads(metadata["genlib"]))
        modules = tuple(sorted({k.split("/")[1] for k in keys if k.startswith("model/")}))
        return CheckpointMeta(blob["family"], blob["model_config"], blob["train_config"], blob["state"], modules)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise CheckpointError(f"{path} is corrupt: its metadata is unreadable ({type(exc).__name__}: {exc})") from exc


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
        for p, per_param in optimizer.state.items():  # moments in their parameter's memory layout (channels_last),
            for key, value in per_param.items():  # as a fresh run makes them (zeros_like of the parameter)
                if isinstance(value, Tensor) and value.shape == p.shape and value.stride() != p.stride():
                    per_param[key] = torch.empty_like(p, dtype=value.dtype).copy_(value)
