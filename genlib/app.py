"""The classroom app: one page per model family and a style-mixing studio, sliders on top, no training.

``genlib app`` serves the notebooks in ``notebooks/app/`` with Voila in app mode (no code, only the
widgets; :mod:`genlib.app_server`). Each of them is a parameters cell and one call here::

    DATASET = app.requested_dataset()     # ?dataset=mnist5k in the URL, `genlib app --dataset`, or "kana49"
    app.cvae_page(DATASET)                # or cgan_page, stylegan_page, mixing_page (see PAGES)

A page loads only the checkpoints shipped in ``data/`` (:func:`shipped`): it never trains. Where a
dataset has no shipped model of a variant, the page says so and names the command that makes one.
Every view is a :func:`genlib.widgets.live_view`: its sliders first, then a caption and the images.
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any, Callable

import ipywidgets as W
import torch
from torch import Tensor

from genlib import widgets
from genlib.data.conditions import FACTOR_NAMES, condition_factors, style_code
from genlib.data.registry import get_dataset
from genlib.families import Loaded, load
from genlib.pretrained import pretrained_path, recipe_command, recipe_for

N_IMAGES = 10  # images per view: one row of samples that share the labels and differ in the noise
DATASET_ENV = "GENLIB_DATASET"  # `genlib app --dataset NAME` sets it for every page


def requested_dataset(default: str = "kana49") -> str:
    """The dataset a page shows: ``?dataset=NAME`` in its URL, else ``$GENLIB_DATASET``, else ``default``.

    Raises:
        ValueError: the name is not a known dataset (names the allowed ones).
    """
    query = urllib.parse.parse_qs(os.environ.get("QUERY_STRING", ""))  # Voila passes each page's query string
    return get_dataset((query.get("dataset") or [os.environ.get(DATASET_ENV) or default])[0]).name


def shipped(variant: str, dataset: str) -> Loaded | None:
    """The pretrained ``data/<variant>_<dataset>.safetensors``, or None when none ships (nothing is trained)."""
    path = pretrained_path(recipe_for(variant, dataset).name)
    return load(path) if path.exists() else None


def missing_note(variant: str, dataset: str) -> str:
    """One HTML line: no shipped model of ``variant`` for ``dataset``, and the command that trains one."""
    recipe = recipe_for(variant, dataset)
    return f"No pretrained <code>{recipe.name}</code> ships in data/: train it with <code>{recipe_command(recipe)}</code>"


# --- controls ------------------------------------------------------------------------------------


def label_controls(m: Loaded, suffix: str = "", class_value: int = 0, style_value: int = 0) -> dict[str, W.ValueWidget]:
    """A class slider and one toggle per binary factor of the model's condition (none for class only).

    The keys are ``class_index<suffix>`` and the factor names (``thickness<suffix>``, ``slant<suffix>``);
    :func:`style_of` turns the toggles back into the model's style code.
    """
    controls: dict[str, W.ValueWidget] = {f"class_index{suffix}": widgets.class_slider(m.class_names, class_value, f"class{suffix.replace('_', ' ')}")}
    for i, factor in enumerate(condition_factors(m.data_config.condition)):
        bit = (style_value >> i) & 1
        controls[f"{factor}{suffix}"] = widgets.style_toggle(bit, names=FACTOR_NAMES[factor], description=f"{factor}{suffix.replace('_', ' ')}")
    return controls


def style_of(m: Loaded, values: dict[str, Any], suffix: str = "") -> int:
    """The style code ``sum_i bit_i * 2**i`` of the factor toggles in ``values`` (0 for a class-only model)."""
    factors = condition_factors(m.data_config.condition)
    if not factors:
        return 0
    return int(style_code({f: [values[f"{f}{suffix}"]] for f in factors}, m.data_config.condition)[0])


def label_text(m: Loaded, values: dict[str, Any], suffix: str = "") -> str:
    """``"す (class 12), thick"``: the class readout and the style code's name, for captions."""
    k = values[f"class_index{suffix}"]
    style = "" if len(m.style_names) == 1 else f", {m.style_names[style_of(m, values, suffix)]}"
    return f"{m.class_names[k]} (class {k}){style}"


def full(value: int, n: int = N_IMAGES) -> Tensor:
    """``n`` copies of one label, int64 ``[n]``."""
    return torch.full((n,), int(value), dtype=torch.int64)


# --- views -----------------------------------------------------------------------------------------


def samples_view(m: Loaded, title: str, sliders: dict[str, W.ValueWidget] | None = None) -> W.VBox:
    """Class, style toggles and a noise seed (plus ``sliders`` passed to the sampler, e.g. ``temperature``, ``psi``)
    above a caption and :data:`N_IMAGES` samples ``m.sample(...)`` that share those labels."""
    extra = dict(sliders or {})
    controls = {**label_controls(m), "seed": widgets.int_slider("seed", 0, 99), **extra}

    def render(seed: int, **values: Any) -> Tensor:
        options = {k: values[k] for k in extra}
        return m.sample(full(values["class_index"]), full(style_of(m, values)), seed=seed, **options)

    def caption(seed: int, **values: Any) -> str:
        options = "".join(f", {controls[k].description} = {values[k]:.2f}" for k in extra)
        return f"{title}: {label_text(m, values)}, seed {seed}{options}"

    return widgets.live_view(render, controls, caption=caption)


def latent_view(m: Loaded, span: float = 3.0) -> W.VBox:
    """A CVAE with a 2-D latent: sliders z1, z2 pick the point of the plane its decoder draws (one image per style)."""
    from genlib.models.cvae import decode_latents

    if m.model_config.latent_dim != 2:
        raise ValueError(f"the latent plane needs a 2-D latent, {m.path.name} has latent_dim={m.model_config.latent_dim}")
    n_styles = m.model_config.n_styles
    controls = {"class_index": widgets.class_slider(m.class_names), "z1": widgets.float_slider("z1", -span, span, 0.0, 0.1),
                "z2": widgets.float_slider("z2", -span, span, 0.0, 0.1)}

    def render(class_index: int, z1: float, z2: float) -> Tensor:  # [n_styles, 1, 28, 28]: every style code at this z
        z = torch.tensor([[z1, z2]]).expand(n_styles, 2)
        return decode_latents(m.model, z, full(class_index, n_styles), torch.arange(n_styles))

    def caption(class_index: int, z1: float, z2: float) -> str:
        return f"{m.class_names[class_index]} (class {class_index}) at z = ({z1:.1f}, {z2:.1f}): " + " | ".join(m.style_names)

    return widgets.live_view(render, controls, caption=caption)


def blend_view(m: Loaded) -> W.VBox:
    """StyleGAN blend: ``w = (1 - t) w_A + t w_B`` for labels A and B, truncation psi (five seeds)."""
    from genlib.models.stylegan_sample import sample_mixed

    controls = {**label_controls(m, "_A"), **label_controls(m, "_B", class_value=4, style_value=1),
                "seed": widgets.int_slider("seed", 0, 99), "t": widgets.float_slider("t", 0.0, 1.0, 0.6),
                "psi": widgets.float_slider("psi", 0.0, 1.0, 1.0)}

    def render(seed: int, t: float, psi: float, **v: Any) -> Tensor:
        a, b = (full(v[f"class_index{s}"], 1) for s in ("_A", "_B"))
        sa, sb = full(style_of(m, v, "_A"), 1), full(style_of(m, v, "_B"), 1)
        return torch.cat([sample_mixed(m.model, a, sa, b, sb, seed_a=seed + i, seed_b=seed + i + 100, t=t, psi=psi) for i in range(5)])

    def caption(seed: int, t: float, psi: float, **v: Any) -> str:
        return (f"w = {1 - t:.2f} w_A + {t:.2f} w_B: A = {label_text(m, v, '_A')}, B = {label_text(m, v, '_B')}, "
                f"seeds {seed}..{seed + 4}, psi = {psi:.2f}")

    return widgets.live_view(render, controls, caption=caption, ncol=5)


def crossover_text(k: int, last: int) -> str:
    """Which AdaIN layers come from A and which from B, in words, for a crossover at layer ``k``."""
    if k <= 0:
        return f"every layer (0..{last}) from B"
    if k > last:
        return f"every layer (0..{last}) from A"
    return f"coarse layers 0..{k - 1} from A, fine layers {k}..{last} from B"


def crossover_view(m: Loaded) -> W.VBox:
    """StyleGAN crossover: the coarse layers ``ws[:, :k]`` from A, the rest from B (one class, two styles)."""
    from genlib.models.stylegan_sample import sample_mixed

    last = m.model.config.num_ws - 1  # the AdaIN layers are 0..last
    n_styles = m.model_config.n_styles
    controls = {**label_controls(m), **{k: v for k, v in label_controls(m, "_B", style_value=min(1, n_styles - 1)).items()
                                        if not k.startswith("class_index")},
                "seed": widgets.int_slider("seed", 0, 99), "k": widgets.int_slider("k", 0, last + 1, min(4, last)),
                "psi": widgets.float_slider("psi", 0.0, 1.0, 1.0)}

    def render(seed: int, k: int, psi: float, **v: Any) -> Tensor:
        c = full(v["class_index"], 5)
        sa, sb = full(style_of(m, v), 5), full(style_of(m, v, "_B"), 5)
        return sample_mixed(m.model, c, sa, c, sb, seed_a=seed, seed_b=seed + 100, crossover=k, psi=psi)

    def caption(seed: int, k: int, psi: float, **v: Any) -> str:
        a, b = m.style_names[style_of(m, v)], m.style_names[style_of(m, v, "_B")]
        return f"{m.class_names[v['class_index']]}, A {a}, B {b}: {crossover_text(k, last)}; seed {seed}, psi = {psi:.2f}"

    return widgets.live_view(render, controls, caption=caption, ncol=5)


# --- pages ---------------------------------------------------------------------------------------------

ViewSpec = tuple[str, str, Callable[[Loaded], W.Widget]]  # (tab title, model variant, view of the loaded model)


def page(dataset: str, views: list[ViewSpec]) -> W.VBox:
    """The views whose model ships for ``dataset`` as tabs (sliders at the top), notes for the rest below."""
    tabs, notes, models = {}, [], {}
    for title, variant, make in views:
        if variant not in models:  # one load per checkpoint, however many views show it
            models[variant] = shipped(variant, dataset)
        m = models[variant]
        if m is None:
            notes.append(missing_note(variant, dataset))
        else:
            tabs[title] = make(m)
    if get_dataset(dataset).synthetic:
        notes.append(f"{dataset} is a synthetic stand-in rendered from fonts, not Kuzushiji.")
    top = [W.Tab(children=list(tabs.values()), titles=list(tabs))] if tabs else []
    return W.VBox(top + [W.HTML("<br>".join(notes))])


def cvae_page(dataset: str) -> W.VBox:
    """The CVAEs: the K49 report's 2-D latent plane, the conv CVAE's prior samples, the same network (beta 1)
    sampled from its fitted mixture prior, thickness + slant."""
    return page(dataset, [
        ("latent plane", "cvae_mlp", latent_view),
        ("conv CVAE", "cvae_conv", lambda m: samples_view(m, "conv CVAE", {"temperature": widgets.float_slider("T", 0.0, 1.5, 1.0, 0.1)})),
        ("fitted prior", "cvae_conv_plus", lambda m: samples_view(m, "conv CVAE (beta 1), z from the fitted mixture",
                                                                  {"temperature": widgets.float_slider("T", 0.0, 1.5, 1.0, 0.1)})),
        ("thickness + slant", "cvae_conv_slant", lambda m: samples_view(m, "slant CVAE")),
    ])


def cgan_page(dataset: str) -> W.VBox:
    """The conditional GANs: the StyleGAN report's conv cGAN and the K49 report's MLP CGAN."""
    return page(dataset, [
        ("conv cGAN", "cgan_conv", lambda m: samples_view(m, "conv cGAN")),
        ("MLP CGAN", "cgan_mlp", lambda m: samples_view(m, "MLP CGAN")),
    ])


def stylegan_page(dataset: str) -> W.VBox:
    """The conditional StyleGAN's samples with truncation psi, conditioned on thickness, and on thickness + slant."""
    psi = lambda: {"psi": widgets.float_slider("psi", 0.0, 1.0, 1.0)}  # noqa: E731 (a fresh slider per view)
    return page(dataset, [
        ("StyleGAN", "stylegan", lambda m: samples_view(m, "StyleGAN", psi())),
        ("thickness + slant", "stylegan_slant", lambda m: samples_view(m, "slant StyleGAN", psi())),
    ])


def mixing_page(dataset: str) -> W.VBox:
    """The style-mixing studio: blend two labels' ``w``, or cross over at an AdaIN layer."""
    return page(dataset, [("blend", "stylegan", blend_view), ("crossover", "stylegan", crossover_view)])


PAGES: dict[str, Callable[[str], W.VBox]] = {"cvae": cvae_page, "cgan": cgan_page, "stylegan": stylegan_page, "mixing": mixing_page}
