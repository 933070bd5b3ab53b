"""Every exercise checker accepts its worked solution and rejects the typical wrong answers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from genlib import exercises
from genlib.exercise_solutions import SOLUTIONS

SHIPPED = Path(__file__).resolve().parents[1] / "data"

# the context each notebook passes, on Kana-49 and on MNIST
COUNTS = [{"n_classes": 49, "n_styles": 2}, {"n_classes": 10, "n_styles": 2}]
RESULTS = [{"name": "real (held-out)", "family": "data", "fid": 12.5}, {"name": "cvae-mlp", "family": "cvae", "fid": 957.0},
           {"name": "cvae-conv-beta3", "family": "cvae", "fid": 233.3}, {"name": "cgan-mlp", "family": "cgan", "fid": 2344.0}]

WRONG = {   # key -> answers a student typically gives (each must be rejected)
    "01.median_rule": [[0, 0, 0, 1], [1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 1]],
    "01.ties": [0.5, 4 / 6, 0.4],
    "01.row_width": [784, 784 + 49, 28 * 28 + 1],
    "02.kl": [2 * 3.3069, -3.3069, 0.5, 5.0],       # no 1/2, sign, only the first dimension, sigma for sigma^2
    "02.reparam": [math.exp(-2), 2.0, math.sqrt(2)],
    "02.beta": [("up", "down"), ("down", "down"), "down", ("up", "up")],
    "02.params": [241_344, 120_240, 835 * 144],   # no biases anywhere, no labels, one weight matrix
    "02.grad_logvar": [4.0, 0.5, 1.5, 2.5],   # no 1/2, only the z path, only the KL path, sigma^2 for sigma in the z path
    "03.d_star": [0.25, 0.5, 3.0],
    "03.conv_transpose": [13, 15, 16, 3.5],
    "03.ns_grad": [1 / (1 + math.exp(2.0)), 0.5, 2.0],   # the saturating loss's gradient
    "03.gen_params": [230_144, 64 * 256 + 256 * 784],
    "04.fid_shift": [3.0, 5.0, 81.0],
    "04.fid_scale": [3.0, 9.0, 5.0, 0.0],
    "04.balanced": [95 / 110, 0.9, 0.5],
    "04.lowest_fid": ["real (held-out)", "cgan-mlp", "cvae-mlp"],
    "05.truncation": [(1.5, 1.0), (2.0, 2.0), (3.0, 2.0), (2.0,)],
    "05.adain": [(0.5, -2.0), (0.0, 1.0), (-2.0, 0.5)],
    "05.layer_resolution": [32, 8, 4, 64],
}
MODEL_FREE = sorted(set(SOLUTIONS) - {"05.crossover"})


def context_of(key: str, counts: dict[str, int]) -> dict:
    if key in ("01.row_width", "02.params", "03.gen_params"):
        return counts
    return {"results": RESULTS} if key == "04.lowest_fid" else {}


def test_every_exercise_has_a_solution_and_wrong_answers() -> None:
    assert set(SOLUTIONS) == set(exercises.EXERCISES) == set(WRONG) | {"05.crossover"}
    for name in ("01", "02", "03", "04", "05"):
        assert 3 <= sum(k.startswith(name + ".") for k in exercises.EXERCISES) <= 5, f"notebook {name} needs 3-5 exercises"


@pytest.mark.parametrize("key", MODEL_FREE)
@pytest.mark.parametrize("counts", COUNTS, ids=["kana49", "mnist"])
def test_checker_accepts_the_solution_and_rejects_wrong_answers(key, counts, capsys) -> None:
    context = context_of(key, counts)
    assert exercises.check(key, SOLUTIONS[key](**context), **context) is True
    assert capsys.readouterr().out.strip() == f"{key}: right."
    for wrong in WRONG[key]:
        assert exercises.check(key, wrong, **context) is False, f"{key} accepted the wrong answer {wrong!r}"
        assert "not yet. Hint:" in capsys.readouterr().out


def test_dataset_dependent_answers_differ_by_dataset() -> None:
    kana, mnist = COUNTS
    assert SOLUTIONS["01.row_width"](**kana) == 835 and SOLUTIONS["01.row_width"](**mnist) == 796
    assert SOLUTIONS["02.params"](**kana) == 242_420 and SOLUTIONS["03.gen_params"](**kana) == 231_184
    assert not exercises.check("02.params", SOLUTIONS["02.params"](**kana), **mnist)


def test_placeholder_and_unreadable_answers(capsys) -> None:
    assert exercises.check("02.kl", None) is False
    assert "02.kl: not answered yet." in capsys.readouterr().out
    assert exercises.check("02.kl", "three") is False and "could not read 'three'" in capsys.readouterr().out
    assert exercises.check("03.conv_transpose", True) is False       # a bool is not a size
    assert exercises.check("03.conv_transpose", 14.0) is True
    assert exercises.check("01.median_rule", [0, 0, 2, 1]) is False  # labels are 0/1
    with pytest.raises(ValueError, match="no exercise '02.klx'; known: 01.median_rule"):
        exercises.check("02.klx", 1.0)


@pytest.mark.skipif(not (SHIPPED / "stylegan_kana49.safetensors").is_file(), reason="the shipped StyleGAN is not in data/")
def test_crossover_checker_on_the_shipped_stylegan() -> None:
    from genlib import families

    model = families.load(SHIPPED / "stylegan_kana49.safetensors").model
    answer = SOLUTIONS["05.crossover"](model=model)
    assert 1 <= answer < model.config.num_ws   # the ends are all-B and all-A: the switch lies between
    assert exercises.check("05.crossover", answer, model=model) is True
    for wrong in {0, model.config.num_ws, answer - 2, answer + 1} - {answer}:
        assert exercises.check("05.crossover", wrong, model=model) is False
