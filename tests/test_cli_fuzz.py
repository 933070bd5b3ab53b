"""Bad command lines, as a hostile user types them: each exits non-zero with one line that names the
bad value, prints no traceback, and leaves no new file behind.

Every row is ``(argv, text the message must contain)``; ``{CK}`` is a shipped CVAE, ``{SG}`` the
shipped StyleGAN, ``{FILE}`` a file that is not a checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from genlib.cli import main

ROOT = Path(__file__).resolve().parents[1]
CK = str(ROOT / "data" / "cvae_mlp_kana49.safetensors")
SG = str(ROOT / "data" / "stylegan_kana49.safetensors")
T = ["train", "cvae", "--limit", "490", "--batch-size", "50", "--hidden-dim", "16", "--epochs", "1", "--no-progress", "--out", "runs/x.safetensors"]
G = ["train", "cgan", "--limit", "490", "--epochs", "1", "--no-progress", "--out", "runs/g.safetensors"]
S = ["train", "stylegan", "--limit", "490", "--epochs", "1", "--no-progress", "--out", "runs/s.safetensors"]
SAMPLE = ["sample", "--checkpoint", CK, "--out", "runs/a.npz"]

CASES: list[tuple[list[str], str]] = [
    (G + ["--snapshot-every", "1", "--snapshot-dir", str(ROOT / "data" / "snapshots")], "is in the shipped data folder: pass --overwrite-shipped"),
    (["evaluate", CK, CK, "--out", "runs/r.md"], "two checkpoints named 'cvae_mlp_kana49': rows are matched by file name"),
    (["sample", "--checkpoint", CK, "--out", str(ROOT / "data" / "kana49" / "kana49-test-imgs.npz")], "is in the shipped data folder: pass --overwrite-shipped"),
    (G + ["--snapshot-every", "1", "--snapshot-dir", "{FILE}"], "snapshot_dir 'notes.txt' is a file"),
    (T + ["--arch", "conv", "--input-order", "cxs"], "input_order='cxs' is an MLP variant"),
    (["data", "build-kana49", "--out", "{FILE}"], "--out notes.txt is a file: give the folder"),
    (["evaluate", CK, str(ROOT / "data" / "classifier_kana49.safetensors")], "is a 'classifier' checkpoint, which does not generate images"),
    (["evaluate", CK, "--n-per-cell", "1000000000"], "--n-per-cell 1000000000: at most 2,000"),
    (S + ["--mbstd-group", "0"], "mbstd_group must be >= 1, got 0"),
    (S + ["--mapping-lr-mul", "0"], "mapping_lr_mul must be a finite number in (0, inf), got 0.0"),
    (S + ["--w-avg-beta", "5"], "w_avg_beta must be a finite number in [0, 1], got 5.0"),
    (S + ["--w-avg-beta", "nan"], "w_avg_beta must be a finite number in [0, 1], got nan"),
    (G + ["--arch", "conv", "--kernel-size", "99"], "kernel_size must be in 2..7, got 99"),
    (G + ["--n-critic", "1000000000"], "n_critic must be in 1..100"),
    (T[:2] + ["--latent-dim", "99999999999999999999"] + T[2:], "--latent-dim: 99999999999999999999 is out of range"),
    (["train", "--recipe", "cvae_mlp_kana49", "--resume", CK, "--epochs", "1"], "--recipe and --resume do not go together"),
    (["train", "--rec", "cvae_mlp_kana49", "--epochs", "1"], "--rec: spell --recipe and --resume out in full"),
    (["train", "--epochs", "1", "cvae"], "name the family first: genlib train cvae [options]"),
    (["train", "--", "cvae", "--epochs", "1"], "name the family first"),
    (T[:-1] + ["runs/newdir/"], "--out runs/newdir: give a file name ending in .safetensors"),
    (T[:-1] + ["runs/x.pt"], "--out runs/x.pt: give a file name ending in .safetensors"),
    (["sample", "--checkpoint", CK, "--out", ".npz"], "--out .npz: give a file name ending in .npz"),
    (["train", "--recipe", "cvae_mlp_kana49", "cgan", "--epochs", "1"], "recipe 'cvae_mlp_kana49' is a 'cvae' recipe, not 'cgan'"),
    (["train", "--resume", CK, "stylegan", "--epochs", "1"], "is a 'cvae' checkpoint, not 'stylegan'"),
    (["train", "--epochs", "1"], "name a family (cgan, classifier, cvae, stylegan) or a --recipe"),
    (["fly"], "unknown command 'fly'"),
    (["train", "gan"], "unknown family 'gan'"),
    (T + ["--limit", "-5"], "limit must be an integer >= 0 (0 = all images), got -5"),
    (T + ["--test-fraction", "1e-9"], "test_fraction 1e-09 puts 1 of"),
    (T + ["--save-every", "-3"], "--save-every: -3 is out of range"),
    (T + ["--threads", "0"], "--threads: 0 is out of range"),
    (T + ["--seed", "-1"], "--seed: -1 is out of range: a seed is in 0..2**32-1"),
    (T + ["--seed", str(2**70)], f"{2**70} is out of range: a seed is in 0..2**32-1"),
    (T + ["--split-seed", "-1"], "--split-seed: -1 is out of range: a seed is in 0..2**32-1"),
    (T + ["--lr", "inf"], "lr must be a finite number in (0, inf), got inf"),
    (T + ["--lr", "nan"], "got nan"),
    (T + ["--lr", "0"], "lr must be a finite number in (0, inf), got 0.0"),
    (T + ["--lr", "fast"], "--lr: invalid float value: 'fast'"),
    (T + ["--kl-weight", "nan"], "kl_weight"),
    (T + ["--kl-weight", "-1"], "got -1.0"),
    (T + ["--epochs", "-1"], "epochs must be an integer >= 0, got -1"),
    (T + ["--epochs", "x"], "--epochs: invalid int value: 'x'"),
    (T + ["--batch-size", "0"], "batch_size must be an integer >= 1, got 0"),
    (T + ["--latent-dim", "0"], "latent_dim must be >= 1, got 0"),
    (T + ["--hidden-dim", "-4"], "hidden_dim must be >= 1, got -4"),
    (T + ["--arch", "resnet"], "invalid choice: 'resnet'"),
    (T + ["--dataset", "cifar"], "unknown dataset 'cifar'"),
    (T + ["--condition", "colour"], "invalid choice: 'colour'"),
    (T + ["--split", "weird"], "invalid choice: 'weird'"),
    (T + ["--test-fraction", "1.5"], "test_fraction must be a finite number in (0, 1), got 1.5"),
    (T + ["--test-fraction", "nan"], "test_fraction"),
    (T + ["--foreground-threshold", "2"], "foreground_threshold must be a finite number in [0, 1], got 2.0"),
    (T + ["--max-steps", "-1"], "--max-steps: -1 is out of range"),
    (T + ["--n-classes", "0"], "n_classes must be >= 1, got 0"),
    (T + ["--n-styles", "3"], "n_styles=3"),
    (T + ["--device", "tpu"], "got 'tpu'"),
    (T + ["--bogus", "1"], "unrecognized arguments: --bogus"),
    (G + ["--ema-decay", "1.5"], "ema_decay must be in [0, 1) (0 = off), got 1.5"),
    (G + ["--gp-weight", "nan"], "gp_weight must be a finite number in [0, inf), got nan"),
    (G + ["--beta1", "2"], "beta1 must be a finite number in [0, 1), got 2.0"),
    (G + ["--beta2", "-0.5"], "beta2"),
    (G + ["--n-critic", "0"], "n_critic must be in 1..100 (the WGAN-GP paper: 5), got 0"),
    (G + ["--precision", "fp8"], "invalid choice: 'fp8'"),
    (G + ["--loss", "hinge2"], "invalid choice: 'hinge2'"),
    (S + ["--r1-gamma", "-1"], "r1_gamma must be a finite number in [0, inf), got -1.0"),
    (S + ["--gp-weight", "nan"], "gp_weight"),
    (S + ["--resolution", "100000"], "got 100000"),
    (S + ["--style-mixing-prob", "nan"], "style_mixing_prob"),
    (S + ["--image-folder", "/nonexistent"], "/nonexistent does not exist"),
    (SAMPLE + ["--n", "0"], "--n: 0 is out of range"),
    (SAMPLE + ["--n", str(10**9)], "--n 1000000000 asks for 98,000,000,000 images"),
    (SAMPLE + ["--seed", "-1"], "--seed: -1 is out of range"),
    (SAMPLE + ["--seed", str(2**70)], "a seed is in 0..2**32-1"),
    (SAMPLE + ["--class", "99"], "--class 99 is out of range: allowed 0..48"),
    (SAMPLE + ["--style", "5"], "--style 5 is out of range: allowed 0..1"),
    (SAMPLE + ["--png", "runs/a.jpg"], "--png runs/a.jpg: give a file name ending in .png"),
    (SAMPLE + ["--temperature", "nan"], "unrecognized arguments: --temperature"),
    (["sample", "--checkpoint", "/nonexistent.safetensors", "--out", "runs/a.npz"], "no checkpoint at /nonexistent.safetensors"),
    (["sample", "--checkpoint", "{FILE}", "--out", "runs/a.npz"], "not a readable safetensors checkpoint"),
    (["sample", "--checkpoint", CK, "--out", "runs/a.txt"], "--out runs/a.txt: give a file name ending in .npz"),
    (["sample", "--checkpoint", CK, "--out", "{FILE}/a.npz"], "is a file, not a folder"),
    (["sample", "--out", "runs/a.npz"], "the following arguments are required: --checkpoint"),
    (["evaluate", "/nonexistent.safetensors", "--out", "runs/r.md"], "no checkpoint at /nonexistent.safetensors"),
    (["evaluate", CK, "--n-per-cell", "0", "--out", "runs/r.md"], "--n-per-cell: 0 is out of range: must be >= 2"),
    (["evaluate", CK, "--out", "runs/r.txt"], "--out runs/r.txt: give a file name ending in .md"),
    (["evaluate", CK, "--seed", "-1", "--out", "runs/r.md"], "--seed: -1 is out of range"),
    (["train", "--recipe", "nope"], "unknown recipe 'nope'"),
    (["train", "--resume", "/nonexistent.safetensors"], "no checkpoint at /nonexistent.safetensors"),
    (["train", "--resume", CK], "is a slim checkpoint"),
    (["data", "download", "cifar"], "invalid choice: 'cifar'"),
    (["data", "info", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["data", "frobnicate"], "invalid choice: 'frobnicate'"),
    (["experiments", "--dataset", "cifar"], "invalid choice: 'cifar'"),
    (["report", "--timeout", "0"], "--timeout: 0 is out of range"),
    (["report", "--notebooks", "/nonexistent"], "no numbered notebooks"),
    (["recipes", "--bogus"], "unrecognized arguments: --bogus"),
]


def files_under(folder: Path) -> set[Path]:
    return {p.relative_to(folder) for p in folder.rglob("*")}


def test_the_table_is_long_enough() -> None:
    assert len(CASES) >= 50


@pytest.mark.parametrize("argv, named", CASES, ids=lambda v: " ".join(v[1:4]) if isinstance(v, list) else None)
def test_a_bad_command_line_is_one_clear_line_and_writes_nothing(argv, named, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not a checkpoint")
    argv = [a.replace("{FILE}", "notes.txt") for a in argv]
    before = files_under(tmp_path)
    code = main(argv)
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert code != 0, out
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("genlib") and named in lines[0], lines[0]
    assert files_under(tmp_path) - before == set()
