"""The StyleGAN sampling ablation (genlib.sampling_ablation) measures what it says, on a shipped generator."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from genlib.evaluation import evaluate_checkpoint
from genlib.experiments import ExperimentBudget, run_experiments
from genlib.pretrained import pretrained_path
from genlib.sampling_ablation import SETTINGS, default_checkpoint, run_sampling_ablation
from genlib.tables import read_csv

STYLEGAN = pretrained_path("stylegan_kana49")
BUDGET = ExperimentBudget(n_per_cell=3)
SHOWN = tuple(s for s in SETTINGS if s.name in ("base", "noise-none", "psi0.7-label", "psi1.2-label"))


@pytest.fixture(scope="module")
def ablation(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict], Path]:
    out = tmp_path_factory.mktemp("sampling")
    return run_sampling_ablation("kana49", BUDGET, out, checkpoint=STYLEGAN, settings=SHOWN), out


def _mean(rows: list[dict], setting: str, key: str) -> float:
    return float(np.mean([r[key] for r in rows if r["name"].startswith(f"{setting}-s")]))


def test_one_row_per_setting_and_sampling_seed(ablation: tuple[list[dict], Path]) -> None:
    rows, out = ablation
    assert [r["name"] for r in rows] == ["real (held-out)"] + [f"{s.name}-s{k}" for s in SHOWN for k in (0, 1)]
    assert [r["name"] for r in read_csv(out / "results.csv")] == [r["name"] for r in rows]
    with np.load(out / "samples.npz") as grids:
        assert set(grids.files) == {"real", *(s.name for s in SHOWN)}
        assert grids["base"].dtype == np.uint8 and grids["base"].shape[1:] == (28, 28)
    assert "synthetic" in (out / "results.md").read_text()


def test_the_base_row_is_the_metric_suite_of_the_checkpoint(ablation: tuple[list[dict], Path]) -> None:
    rows, _ = ablation
    plain = evaluate_checkpoint(STYLEGAN, n_per_cell=BUDGET.n_per_cell, seed=0)
    base = next(r for r in rows if r["name"] == "base-s0")
    for key in ("fid", "cond_accuracy", "diversity"):
        assert math.isclose(base[key], plain[key], rel_tol=1e-6, abs_tol=1e-9), key


def test_settings_change_the_samples_and_truncation_narrows_them(ablation: tuple[list[dict], Path]) -> None:
    rows, _ = ablation
    seed0 = {r["name"]: r for r in rows}
    assert seed0["noise-none-s0"]["fid"] != seed0["base-s0"]["fid"]
    assert seed0["base-s0"]["fid"] != seed0["base-s1"]["fid"]  # two sampling seeds, two draws
    assert _mean(rows, "psi0.7-label", "diversity") < _mean(rows, "base", "diversity") < _mean(rows, "psi1.2-label", "diversity")


def test_the_default_generator_is_the_best_shipped_one() -> None:
    assert default_checkpoint("kana49") == pretrained_path("stylegan_longest_kana49")  # shown the most images
    assert default_checkpoint("mnist5k") == pretrained_path("stylegan_long_mnist5k")  # no longer run ships for it


def test_bad_checkpoints_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no StyleGAN checkpoint.*stylegan_long_kana49"):
        run_sampling_ablation("kana49", BUDGET, tmp_path, checkpoint=tmp_path / "missing.safetensors")
    with pytest.raises(ValueError, match="'classifier' checkpoint"):
        run_sampling_ablation("kana49", BUDGET, tmp_path, checkpoint=pretrained_path("classifier_kana49"))
    with pytest.raises(ValueError, match="trained on 'kana49', not 'mnist5k'"):
        run_sampling_ablation("mnist5k", BUDGET, tmp_path, checkpoint=STYLEGAN)
    with pytest.raises(ValueError, match="--only and --checkpoints"):
        run_experiments("kana49", BUDGET, tmp_path, suite="sampling", only=["base-s0"])


def test_shipped_variant_picks_the_first_checkpoint_that_ships(tmp_path: Path) -> None:
    from genlib.pretrained import shipped_variant

    assert shipped_variant(("stylegan", "stylegan_long"), "kana49", tmp_path) == "stylegan"  # none ships: the first
    (tmp_path / "stylegan_long_mnist5k.safetensors").write_bytes(b"")
    assert shipped_variant(("stylegan", "stylegan_long"), "mnist5k", tmp_path) == "stylegan_long"
    assert shipped_variant(("stylegan", "stylegan_long"), "kana49") == "stylegan"  # data/ ships both: the first
    with pytest.raises(ValueError, match="at least one variant"):
        shipped_variant((), "kana49")
