"""Old names and values in stored checkpoints, and how they become today's.

A checkpoint stores its configs as JSON. When a config field or one of its values is renamed, the
files written before keep loading: :func:`upgrade_names` (applied by
:func:`genlib.checkpoint.load_checkpoint` and :func:`genlib.checkpoint.read_meta`) rewrites the
old names and values to the new ones, and the config classes refuse an old value with a message
that names its new name (:func:`renamed_values`).
"""

from __future__ import annotations

from typing import Any

# Names that changed, per family: checkpoints written before the change load under the new names.
# kind -> {old: new}; "model_config" renames config fields, "metrics" the keys of the history and of
# the running sums, "optimizers" the optimizer names (and so their tensors' names).
LEGACY_NAMES: dict[str, dict[str, dict[str, str]]] = {
    "stylegan": {
        "model_config": {"z_dim": "latent_dim"},
        "metrics": {"loss_d": "d_loss", "loss_g": "g_loss"},
        "optimizers": {"opt_g": "generator", "opt_d": "discriminator"},
    },
}

# Values that changed: checkpoints that stored an old value of a config field load with the new one.
# family ("*": every family) -> dotted path of the field in the metadata -> {old: new}.
LEGACY_VALUES: dict[str, dict[str, dict[str, str]]] = {
    "*": {"train_config.data.split": {"seed": "stratified"}},  # the K49 report's stratified 70/30 split
    "cvae": {"model_config.arch": {"seed": "mlp"}},  # the K49 report's MLP CVAE
    "cgan": {"model_config.discriminator": {"seed": "concat"}},  # the StyleGAN report's D: label maps as channels
}


def renamed_values(family: str, path: str) -> dict[str, str]:
    """``{old: new}`` of the config field at ``path`` (e.g. ``"model_config.arch"``) in ``family``'s
    checkpoints: its own entries of :data:`LEGACY_VALUES` and those of every family (``"*"``)."""
    return {**LEGACY_VALUES.get("*", {}).get(path, {}), **LEGACY_VALUES.get(family, {}).get(path, {})}


def _rename_value(d: Any, keys: list[str], renames: dict[str, str]) -> Any:
    """``d`` with the string under the nested keys ``keys`` renamed (a copy; ``d`` itself when unchanged)."""
    if not isinstance(d, dict) or keys[0] not in d:
        return d
    value = d[keys[0]]
    if len(keys) > 1:
        new = _rename_value(value, keys[1:], renames)
    else:
        new = renames.get(value, value) if isinstance(value, str) else value
    return d if new is value else {**d, keys[0]: new}


def upgrade_config(config: dict[str, Any], family: str, kind: str) -> dict[str, Any]:
    """A stored config of ``family`` (``kind`` ``"model_config"`` or ``"train_config"``, as JSON) with
    the old values of :data:`LEGACY_VALUES` replaced by today's; the input is not changed."""
    paths = set(LEGACY_VALUES.get("*", {})) | set(LEGACY_VALUES.get(family, {}))
    for path in sorted(paths):
        head, *keys = path.split(".")
        if head == kind and keys:
            config = _rename_value(config, keys, renamed_values(family, path))
    return config


def upgrade_names(blob: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's metadata with its family's :data:`LEGACY_NAMES` and :data:`LEGACY_VALUES`
    replaced by today's names and values.

    ``blob`` holds ``family``, ``model_config``, ``state`` and (when present) ``train_config`` and
    ``optimizers``; the input is not changed. A blob without old names or values comes back equal.
    """
    family = blob.get("family", "")
    out = dict(blob)
    for kind in ("model_config", "train_config"):
        if isinstance(blob.get(kind), dict):
            out[kind] = upgrade_config(blob[kind], family, kind)
    table = LEGACY_NAMES.get(family, {})
    if not table:
        return out

    def rename(d: dict[str, Any], kind: str) -> dict[str, Any]:
        return {table.get(kind, {}).get(k, k): v for k, v in d.items()}

    state = dict(blob["state"])
    state["history"] = [rename(row, "metrics") for row in state.get("history", [])]
    state["running"] = rename(state.get("running", {}), "metrics")
    out.update(model_config=rename(out["model_config"], "model_config"), state=state)
    if "optimizers" in blob:
        out["optimizers"] = rename(blob["optimizers"], "optimizers")
    return out
