"""The notebooks' exercises and their checkers: ``check(key, answer, **context)`` says right or wrong, with a hint.

Each notebook ends with a few exercises that make a student compute or change something; a cell
such as ::

    answer = None            # your answer: a number
    exercises.check("02.kl", answer)

prints ``not answered yet`` until ``answer`` is set, then ``right`` or ``not yet`` with a hint, and
returns True only for a right answer. Answers that depend on the data or on a model take them as
``context`` (``n_classes=…``, ``model=…``), so the same exercise works on every dataset. Worked
solutions live apart from the notebooks, in :mod:`genlib.exercise_solutions`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch


# ---- judges: how an answer is compared with the truth --------------------------------------------------------------

def close(rel: float = 5e-3, abs_tol: float = 1e-4) -> Callable[[Any, Any], bool]:
    """Numbers (or equal-length sequences of numbers) within a relative/absolute tolerance."""
    def judge(answer: Any, truth: Any) -> bool:
        a, t = np.asarray(answer, dtype=float), np.asarray(truth, dtype=float)
        return a.shape == t.shape and bool(np.all(np.isfinite(a))) and bool(np.allclose(a, t, rtol=rel, atol=abs_tol))
    return judge


def exact_int(answer: Any, truth: Any) -> bool:
    """An integer, exactly (``12.0`` counts as 12; ``12.5`` does not)."""
    return isinstance(answer, (int, float, np.integer, np.floating)) and not isinstance(answer, bool) and float(answer) == int(truth)


def same_words(answer: Any, truth: Any) -> bool:
    """A word or a tuple of words, case-insensitive, each matched against its synonyms (``truth`` holds sets)."""
    words = (answer,) if isinstance(answer, str) else tuple(answer)
    return len(words) == len(truth) and all(isinstance(w, str) and w.strip().lower() in t for w, t in zip(words, truth))


DOWN, UP = {"down", "lower", "smaller", "decreases", "less"}, {"up", "higher", "larger", "increases", "more"}


@dataclass(frozen=True)
class Exercise:
    """One exercise: what to compute, how an answer is judged, and the hint for a wrong one."""

    key: str                                  # "NN.name": the notebook and a short name
    question: str                             # one line: what to compute or predict
    hint: str                                 # shown with a wrong answer
    truth: Callable[..., Any]                 # (**context) -> the right answer
    judge: Callable[[Any, Any], bool] = field(default_factory=close)   # (answer, truth) -> right?
    answer_form: str = "a number"             # what kind of value ``answer`` should be


# ---- truths that need a computation -------------------------------------------------------------------------------

def kl_of(mu: Sequence[float], logvar: Sequence[float]) -> float:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) = -1/2 sum(1 + logvar - mu^2 - exp(logvar))."""
    mu_, lv = np.asarray(mu, float), np.asarray(logvar, float)
    return float(-0.5 * np.sum(1 + lv - mu_**2 - np.exp(lv)))


def thick_labels(counts: Sequence[int]) -> list[int]:
    """The median rule for one class: 1 where the count is strictly above the class median."""
    c = np.asarray(counts)
    return [int(v) for v in c > np.median(c)]


def mlp_params(sizes: Sequence[int]) -> int:
    """Parameters of dense layers ``sizes[0] -> sizes[1] -> …`` with biases."""
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:]))


def mlp_cvae_params(n_classes: int, n_styles: int, hidden: int = 144, latent: int = 2) -> int:
    """The K49 report's CVAE: encoder 784 + C + S -> hidden -> (mu, logvar); decoder latent + C + S -> hidden -> 784."""
    labels = n_classes + n_styles
    return mlp_params([784 + labels, hidden]) + 2 * mlp_params([hidden, latent]) + mlp_params([latent + labels, hidden, 784])


def crossover_switch(model: Any, class_index: int = 0, seed: int = 0, n: int = 5) -> int:
    """The first crossover layer k at which the mix (A thin, B thick, ``ws[:, :k]`` from A) has an ink
    count (mean foreground pixels of ``n`` images) closer to all-A's (k = num_ws) than to all-B's (k = 0)."""
    from genlib.data import count_foreground_pixels
    from genlib.models.stylegan_sample import sample_mixed

    c, thin, thick = torch.full((n,), class_index), torch.zeros(n, dtype=torch.int64), torch.ones(n, dtype=torch.int64)
    ink = []
    for k in range(model.config.num_ws + 1):
        x = sample_mixed(model, c, thin, c, thick, seed_a=seed, seed_b=seed + 100, crossover=k)
        ink.append(float(count_foreground_pixels(x[:, 0].numpy(), 0.5).mean()))
    b, a = ink[0], ink[-1]
    return next(k for k, v in enumerate(ink) if abs(v - a) < abs(v - b))


def lowest_fid(results: Sequence[dict[str, Any]]) -> str:
    """The name of the model (not the real-data row) with the lowest FID in an experiments table."""
    return min((r for r in results if r.get("family") != "data"), key=lambda r: float(r["fid"]))["name"]


def same_labels(answer: Any, truth: Sequence[int]) -> bool:
    """A list of 0/1 labels, element by element."""
    a = np.asarray(answer)
    return a.shape == (len(truth),) and bool(np.all((a == 0) | (a == 1))) and [int(v) for v in a] == list(truth)


def equal_name(answer: Any, truth: Any) -> bool:
    return isinstance(answer, str) and answer.strip() == truth


# ---- the exercises -----------------------------------------------------------------------------------------------

EXERCISES: dict[str, Exercise] = {e.key: e for e in [
    Exercise("01.median_rule", "One class's foreground counts are [10, 12, 14, 60]: which images are thick (a list of 0/1)?",
             "the threshold is the class *median* (13 here), not the mean, and thick means strictly above it",
             lambda: thick_labels([10, 12, 14, 60]), same_labels, "a list of four 0/1"),
    Exercise("01.ties", "A class has the counts [5, 7, 7, 7, 9, 11]: what share of its images is labelled thick?",
             "the median is 7; images *at* the median are thin, so ties pull the share below 1/2",
             lambda: float(np.mean(thick_labels([5, 7, 7, 7, 9, 11])))),
    Exercise("01.row_width", "How wide is the K49 report's row [x | c | s] for this dataset (flattened 28x28 image, one-hot class, one-hot style)?",
             "784 pixels, plus one column per class, plus one per style code",
             lambda n_classes, n_styles: 784 + n_classes + n_styles, exact_int),
    Exercise("02.kl", "KL(q || N(0, I)) for mu = (1, -2) and log sigma^2 = (0, log 4)?",
             "KL = -1/2 sum(1 + log sigma^2 - mu^2 - sigma^2): sigma^2 = exp(log sigma^2), and do not forget the 1/2",
             lambda: kl_of([1, -2], [0, math.log(4)])),
    Exercise("02.reparam", "z = mu + sigma * eps with log sigma^2 = -2: what is the standard deviation of z?",
             "sigma = exp(log sigma^2 / 2): the square root of the variance",
             lambda: math.exp(-1.0)),
    Exercise("02.beta", "Training with beta = 3 instead of 1: does the test KL per image go up or down, and the test -ELBO? (two words)",
             "a larger beta makes every nat of KL cost more (so less of it); the -ELBO weighs KL by 1, and the model now optimises something else",
             lambda: (DOWN, UP), same_words, "two words, e.g. (\"up\", \"down\")"),
    Exercise("02.params", "How many parameters does the K49 report's CVAE have for this dataset?",
             "four dense layers with biases: (784+C+S)->144, 144->2 twice (mu and log sigma^2), (2+C+S)->144, 144->784",
             lambda n_classes, n_styles: mlp_cvae_params(n_classes, n_styles), exact_int),
    Exercise("02.grad_logvar", "Backpropagation by hand: g_z = dL/dz = 1, eps = 0.5, mu = 0, log sigma^2 = log 4, beta = 1. What is dL/d(log sigma^2)?",
             "two paths: through z = mu + sigma * eps (dsigma/dlog sigma^2 = sigma / 2) and through beta * KL (dKL/dlog sigma^2 = (sigma^2 - 1) / 2)",
             lambda: 0.5 * (1.0 * 0.5 * 2.0 + 1.0 * (4.0 - 1.0))),
    Exercise("03.d_star", "At a point where p_data(x) = 0.3 and p_g(x) = 0.1, what does the best discriminator D*(x) answer?",
             "D*(x) = p_data(x) / (p_data(x) + p_g(x))",
             lambda: 0.3 / (0.3 + 0.1)),
    Exercise("03.conv_transpose", "ConvTranspose2d(kernel_size=4, stride=2, padding=1) on a 7x7 map: what is the output size?",
             "out = (in - 1) * stride - 2 * padding + kernel_size",
             lambda: (7 - 1) * 2 - 2 * 1 + 4, exact_int),
    Exercise("03.ns_grad", "For a fake with logit l = -2, how large is |d/dl| of the non-saturating loss -log sigmoid(l)?",
             "d/dl [-log sigmoid(l)] = -(1 - sigmoid(l)); the saturating loss would give only sigmoid(l)",
             lambda: 1 - 1 / (1 + math.exp(2.0))),
    Exercise("03.gen_params", "How many parameters does the generator of the K49 report's MLP CGAN have for this dataset (z of 64)?",
             "two dense layers with biases: (64+C+S)->256 and 256->784",
             lambda n_classes, n_styles: mlp_params([64 + n_classes + n_styles, 256, 784]), exact_int),
    Exercise("04.fid_shift", "Features f and f + delta with delta = (1, 2, 2): what is their FID?",
             "the covariances are equal, so only ||mu_r - mu_g||^2 remains: the squared length, not the length",
             lambda: 1.0 + 4.0 + 4.0),
    Exercise("04.fid_scale", "FID between the 1-D Gaussians N(0, 1) and N(0, 4)?",
             "Tr(S_r + S_g - 2 (S_r S_g)^(1/2)) with variances 1 and 4: (sigma_r - sigma_g)^2",
             lambda: 1.0 + 4.0 - 2 * math.sqrt(1.0 * 4.0)),
    Exercise("04.balanced", "Class 0 has 100 test images (90 right), class 1 has 10 (5 right): balanced accuracy?",
             "the mean of the per-class recalls, 90/100 and 5/10 — not 95/110",
             lambda: (90 / 100 + 5 / 10) / 2),
    Exercise("04.lowest_fid", "Which model of the experiments table has the lowest FID (its name)?",
             "read the fid column of the table in section 7; the real (held-out) row is the floor, not a model",
             lowest_fid, equal_name, "a model name from the table, e.g. \"cvae-mlp\""),
    Exercise("05.truncation", "With mean w = (1, 0), w = (3, 2) and psi = 0.5: what is the truncated w' (two numbers)?",
             "w' = w_mean + psi * (w - w_mean): pull w halfway towards the mean",
             lambda: (2.0, 1.0), answer_form="two numbers"),
    Exercise("05.adain", "A channel's style is (y_s, y_b) = (-2, 0.5): what are its mean and standard deviation after AdaIN (two numbers)?",
             "AdaIN normalises each channel to mean 0, std 1, then scales by y_s and shifts by y_b; a std is never negative",
             lambda: (0.5, 2.0), answer_form="two numbers"),
    Exercise("05.layer_resolution", "At which resolution (pixels per side) do the AdaIN layers ws[:, 4] and ws[:, 5] act?",
             "two AdaIN layers per resolution, starting at 4x4: layers 2i and 2i+1 act at 4 * 2**i",
             lambda: 16, exact_int),
    Exercise("05.crossover", "Thin A, thick B, ws[:, :k] from A: at which k does the ink count first get closer to A's than to B's?",
             "count the foreground pixels (count_foreground_pixels, threshold 0.5) of the crossover view's five images for "
             "k = 0 (all B) to 8 (all A); thickness lives in the fine layers",
             crossover_switch, exact_int, "an integer k"),
]}


def check(key: str, answer: Any, **context: Any) -> bool:
    """Judge ``answer`` to exercise ``key``; prints right, not yet (with the hint) or not answered yet.

    Returns:
        True only for a right answer (False for None, a wrong answer or an answer of the wrong kind).
    """
    if key not in EXERCISES:
        raise ValueError(f"no exercise {key!r}; known: {', '.join(EXERCISES)}")
    exercise = EXERCISES[key]
    if answer is None or answer is Ellipsis:
        print(f"{key}: not answered yet. {exercise.question} (answer: {exercise.answer_form})")
        return False
    truth = exercise.truth(**context)
    try:
        right = bool(exercise.judge(answer, truth))
    except (TypeError, ValueError) as error:   # an answer of the wrong kind ("twelve", a dict, ...)
        print(f"{key}: could not read {answer!r} as {exercise.answer_form} ({error}).")
        return False
    print(f"{key}: right." if right else f"{key}: not yet. Hint: {exercise.hint}.")
    return right
