"""The StyleGAN training ablation: one setting changed per row, two seeds, and a tiny run end to end."""

from __future__ import annotations

import math

import pytest

from genlib.experiments import ExperimentBudget, run_experiments, suite_experiments
from genlib.quality import ablation_table, row_name
from genlib.stylegan_ablation import GROWTH_IMAGES, LONG, variants


def test_every_row_changes_one_setting_on_two_seeds() -> None:
    budget = ExperimentBudget(stylegan_epochs=3, seed=5)
    experiments = suite_experiments("stylegan", "mnist5k", budget, n_classes=10)
    by_row: dict[str, list] = {}
    for e in experiments:
        by_row.setdefault(row_name(e.name), []).append(e)
        assert e.family == "stylegan" and e.model_config.n_classes == 10
        assert e.train_config.fade_images == e.train_config.stable_images == GROWTH_IMAGES
    assert list(by_row) == [row for row, *_ in variants(3)]
    assert all({e.train_config.seed for e in group} == {5, 6} for group in by_row.values())
    base = next(e for e in by_row["base"] if e.train_config.seed == 5)
    assert base.train_config.epochs == 3 and base.train_config.precision == "bf16"
    for row, model_changes, train_changes, _ in variants(3):
        e = next(x for x in by_row[row] if x.train_config.seed == 5)
        changed = {k for k in vars(e.train_config) if getattr(e.train_config, k) != getattr(base.train_config, k)}
        changed |= {k for k in vars(e.model_config) if getattr(e.model_config, k) != getattr(base.model_config, k)}
        assert changed == set(model_changes) | set(train_changes), row
    assert by_row["long"][0].train_config.epochs == LONG * 3
    assert by_row["lr-decay"][0].train_config.lr_decay_start == 1 and "lr-decay" not in [row for row, *_ in variants(1)]
    with pytest.raises(ValueError, match="stylegan_epochs must be >= 1, got 0"):
        ExperimentBudget(stylegan_epochs=0)


def test_a_tiny_run_trains_evaluates_and_tabulates_every_row(tmp_path) -> None:
    budget = ExperimentBudget(stylegan_epochs=1, n_per_cell=2, limit=200)
    rows = run_experiments("mnist5k", budget, tmp_path / "out", suite="stylegan", only=["base-s0", "ns-r1-s0", "ns-r1-s1"],
                           checkpoint_dir=tmp_path / "ckpt", figures=False)
    assert [r["name"] for r in rows] == ["real (held-out)", "base-s0", "ns-r1-s0", "ns-r1-s1"]
    assert all(r["family"] == "stylegan" and math.isfinite(float(r["fid"])) for r in rows[1:])
    table = {t["technique"]: t for t in ablation_table(rows)}
    assert table["ns-r1"]["seeds"] == 2 and table["base"]["seeds"] == 1
    assert "1 epochs for every StyleGAN" in (tmp_path / "out" / "results.md").read_text()
