"""Reliability of the command line and the checkpoints: interrupted runs, resuming, outputs, integrity.

Everything runs in a temporary working folder (``runs/`` relative to it) with ``$GENLIB_DATA``
pointing at a temporary "shipped" data folder, so the repository's ``data/`` and ``runs/`` are
never written. Training uses a tiny recipe on 490 Kana-49 images.
"""

from __future__ import annotations

import dataclasses
import errno
import os
import shlex
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from genlib import checkpoint as ckpt_mod
from genlib import scaffold
from genlib.atomic import atomic_write, atomic_write_all, stale_temps
from genlib.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from genlib.cli import main
from genlib.data import datasets
from genlib.data.datasets import DataConfig, repo_data_dir
from genlib.families import FAMILIES
from genlib.models import cvae_train
from genlib.models.cvae import CVAEConfig
from genlib.pretrained import RECIPES, Recipe, train_recipe

REPO_DATA = repo_data_dir()
TINY = "cvae_tiny_kana49"
TINY_FLAGS = ["--limit", "490", "--batch-size", "50", "--hidden-dim", "16", "--no-progress"]


@pytest.fixture
def sandbox(tmp_path, monkeypatch) -> Path:
    """cwd = a fresh folder; ``$GENLIB_DATA`` = a "shipped" data folder with the real Kana-49 in it; a tiny recipe."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "kana49").symlink_to(REPO_DATA / "kana49")
    monkeypatch.setenv("GENLIB_DATA", str(data))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    recipe = Recipe(TINY, "cvae", CVAEConfig(hidden_dim=16), cvae_train.CVAETrainConfig(data=DataConfig(limit=490), epochs=2,
                    batch_size=50), "a tiny CVAE for the tests")
    monkeypatch.setitem(RECIPES, TINY, recipe)
    monkeypatch.setattr(datasets, "prepare_dataset", _cached_prepare_dataset)
    return data


_PREPARED: dict = {}
_real_prepare_dataset = datasets.prepare_dataset


def _cached_prepare_dataset(config: DataConfig = DataConfig(), root=None):
    """``prepare_dataset`` computed once per config in this module: the same data, without seconds of loading per run."""
    key = (config, str(root or repo_data_dir().resolve()))
    if key not in _PREPARED:
        _PREPARED[key] = _real_prepare_dataset(config, root)
    return _PREPARED[key]


@pytest.fixture
def shipped(sandbox) -> Path:
    """A finished model shipped as ``data/cvae_tiny_kana49.safetensors`` (a copy of the shipped MLP CVAE of the K49 report)."""
    path = sandbox / f"{TINY}.safetensors"
    path.write_bytes((REPO_DATA / "cvae_mlp_kana49.safetensors").read_bytes())
    return path


def interrupt_after_first_save(monkeypatch):
    """Make the training loop raise KeyboardInterrupt right after its first checkpoint (Ctrl-C);
    returns the real loop."""
    real_fit = scaffold.fit

    def fit(step_fn, batches, state, epochs, *, save=None, **kwargs):
        def save_then_stop(st):
            save(st)
            raise KeyboardInterrupt

        return real_fit(step_fn, batches, state, epochs, save=save_then_stop, **kwargs)

    monkeypatch.setattr(scaffold, "fit", fit)
    return real_fit


def no_training(monkeypatch) -> None:
    """Make any CVAE training fail loudly: a check that must come first really did."""
    def boom(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setitem(FAMILIES, "cvae", dataclasses.replace(FAMILIES["cvae"], prepare=boom))


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


# 1. recipes never replace a shipped model unless finished and allowed

def test_interrupted_recipe_keeps_shipped_checkpoint(shipped, monkeypatch, capsys) -> None:
    before = shipped.read_bytes()
    real_fit = interrupt_after_first_save(monkeypatch)
    assert main(["train", "--recipe", TINY, "--no-progress"]) == 130
    line = one_line(capsys.readouterr().err)
    assert shipped.read_bytes() == before
    partial = load_checkpoint(Path("runs") / f"{TINY}.safetensors")
    assert partial.state["epoch"] == 1 and partial.optimizers  # a full, resumable checkpoint
    assert f"resume with: genlib train cvae --resume runs/{TINY}.safetensors --slim" in line

    # the same with --out into data/ and the flag: still untouched until training has finished
    assert main(["train", "--recipe", TINY, "--out", str(shipped), "--overwrite-shipped", "--no-progress"]) == 130
    line = one_line(capsys.readouterr().err)
    assert shipped.read_bytes() == before and f"{shipped} is unchanged" in line
    monkeypatch.setattr(scaffold, "fit", real_fit)  # no more interruptions
    command = shlex.split(line.split("resume with: ", 1)[1])
    assert command[:2] == ["genlib", "train"] and "--overwrite-shipped" in command
    assert main(command[1:] + ["--no-progress"]) == 0
    remade = load_checkpoint(shipped)
    assert remade.state["epoch"] == 2 and not remade.optimizers and "torch" not in remade.rng  # slim, finished


def test_recipe_writes_under_runs_by_default(sandbox, capsys) -> None:
    assert main(["train", "--recipe", TINY, "--no-progress"]) == 0
    out = Path("runs") / f"{TINY}.safetensors"
    assert f"wrote {out} (slim) after 2 epochs" in capsys.readouterr().out
    final = load_checkpoint(out)
    assert final.state["epoch"] == 2 and not final.optimizers and not final.rng
    assert sorted(p.name for p in sandbox.iterdir()) == ["kana49"]  # nothing written into data/
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # no temp files left


def test_writing_shipped_data_needs_the_flag(shipped, monkeypatch, capsys) -> None:
    no_training(monkeypatch)
    before = shipped.read_bytes()
    for target in (shipped, shipped.parent / "new.safetensors"):
        assert main(["train", "cvae", "--epochs", "1", "--out", str(target), *TINY_FLAGS]) == 1
        line = one_line(capsys.readouterr().err)
        assert str(target) in line and "--overwrite-shipped" in line
    assert shipped.read_bytes() == before and not (shipped.parent / "new.safetensors").exists()
    assert not Path("runs").exists()


def test_train_recipe_fills_a_missing_data_file_but_never_overwrites_one(sandbox) -> None:
    path = train_recipe(TINY, root=sandbox, progress=False)
    assert path == sandbox / f"{TINY}.safetensors" and not load_checkpoint(path).optimizers
    before = path.read_bytes()
    with pytest.raises(ValueError, match="exists: pass overwrite=True"):
        train_recipe(TINY, root=sandbox, progress=False)
    assert path.read_bytes() == before
    work = Path("runs") / f"{TINY}.safetensors"  # the first run's full checkpoint
    work_before = work.read_bytes()
    stopped = train_recipe(TINY, root=sandbox, progress=False, overwrite=True, max_steps=3)  # stops early: data/ untouched
    assert path.read_bytes() == before and stopped == Path("runs") / f"{TINY}.partial.safetensors"
    assert work.read_bytes() == work_before  # and so is the finished run's full checkpoint


def test_an_existing_out_is_replaced_only_by_a_finished_run(sandbox, capsys) -> None:
    out = Path("runs/model.safetensors")
    assert main(["train", "cvae", "--epochs", "1", "--out", str(out), *TINY_FLAGS]) == 0
    finished = out.read_bytes()
    assert main(["train", "cvae", "--epochs", "2", "--max-steps", "3", "--out", str(out), *TINY_FLAGS]) == 0
    assert out.read_bytes() == finished and "wrote runs/model.partial.safetensors (full)" in capsys.readouterr().out
    assert main(["train", "cvae", "--resume", "runs/model.partial.safetensors", "--out", str(out), "--no-progress"]) == 0
    assert load_checkpoint(out).state["epoch"] == 2 and out.read_bytes() != finished  # replaced once finished
    assert "The full checkpoint stays at runs/model.partial.safetensors" in capsys.readouterr().out


# 2. --resume takes the checkpoint's configs

def test_readme_resume_command_works_as_written(sandbox, capsys) -> None:
    readme = Path(__file__).parents[1] / "README.md"
    command = next(line for line in readme.read_text().splitlines() if line.startswith("genlib train cvae --resume"))
    argv = shlex.split(command.split("#")[0])[1:]
    assert argv == ["train", "cvae", "--resume", "runs/cvae_conv.safetensors", "--epochs", "40", "--out", "runs/cvae_conv.safetensors"]
    argv[argv.index("40")] = "2"  # the README's 40 epochs, cut to 2 for a test
    arch = ["--arch", "conv", "--latent-dim", "4", "--channels", "4", *TINY_FLAGS]
    assert main(["train", "cvae", "--epochs", "1", "--out", "runs/cvae_conv.safetensors", *arch]) == 0
    assert main(argv + ["--no-progress"]) == 0
    assert "wrote runs/cvae_conv.safetensors (full) after 2 epochs" in capsys.readouterr().out
    resumed = cvae_train.load("runs/cvae_conv.safetensors")
    assert resumed.model_config.arch == "conv" and resumed.model_config.channels == 4 and resumed.model_config.latent_dim == 4
    assert resumed.train_config.epochs == 2 and resumed.train_config.data.limit == 490 and resumed.state.epoch == 2
    assert main(["train", "cvae", "--epochs", "2", "--out", "runs/straight.safetensors", *arch]) == 0
    straight = cvae_train.load("runs/straight.safetensors")
    for (name, p), q in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(p, q), name  # resuming with the stored configs is the uninterrupted run


@pytest.fixture
def one_epoch(sandbox) -> Path:
    path = Path("runs") / "one.safetensors"
    assert main(["train", "cvae", "--epochs", "1", "--out", str(path), *TINY_FLAGS]) == 0
    return path


@pytest.mark.parametrize("flag, given, stored", [
    ("--lr", "0.01", "lr=0.001"), ("--batch-size", "25", "batch_size=50"), ("--limit", "980", "limit=490"),
    ("--hidden-dim", "32", "hidden_dim=16"), ("--arch", "conv", "arch='mlp'"),
])
def test_resume_rejects_flags_that_change_the_stored_config(one_epoch, monkeypatch, capsys, flag, given, stored) -> None:
    no_training(monkeypatch)
    before = one_epoch.read_bytes()
    assert main(["train", "cvae", "--resume", str(one_epoch), "--epochs", "2", flag, given]) == 1
    line = one_line(capsys.readouterr().err)
    assert f"{flag} {given} differs from the checkpoint's {stored}" in line
    assert one_epoch.read_bytes() == before


def test_resume_applies_and_records_the_flags_that_may_change(one_epoch, capsys) -> None:
    argv = ["train", "--resume", str(one_epoch), "--epochs", "2", "--device", "cpu", "--save-every", "4", "--threads", "1",
            "--batch-size", "50", "--no-progress"]  # the family comes from the checkpoint; a repeated value is fine
    assert main(argv) == 0
    loaded = cvae_train.load(one_epoch)
    assert loaded.train_config.epochs == 2 and loaded.train_config.device == "cpu" and loaded.state.epoch == 2
    assert main(["train", "cgan", "--resume", str(one_epoch), "--epochs", "3"]) == 1
    assert "is a 'cvae' checkpoint, not 'cgan'" in one_line(capsys.readouterr().err)


def test_resume_from_a_slim_checkpoint_is_refused_at_once(one_epoch, tmp_path, monkeypatch, capsys) -> None:
    slim = tmp_path / "slim.safetensors"
    ckpt_mod.rewrite_checkpoint(one_epoch, slim, slim=True)
    no_training(monkeypatch)
    assert main(["train", "cvae", "--resume", str(slim), "--epochs", "2"]) == 1
    assert "is a slim checkpoint" in one_line(capsys.readouterr().err)


def test_a_half_precision_copy_is_smaller_and_samples_alike(one_epoch, tmp_path) -> None:
    half = tmp_path / "half.safetensors"
    ckpt_mod.rewrite_checkpoint(one_epoch, half, slim=True, half=True)
    full_slim = tmp_path / "slim.safetensors"
    ckpt_mod.rewrite_checkpoint(one_epoch, full_slim, slim=True)
    assert half.stat().st_size < 0.6 * full_slim.stat().st_size
    a, b = cvae_train.load(full_slim), cvae_train.load(half)
    assert next(b.model.parameters()).dtype == torch.float32  # cast back on load
    classes, styles = torch.arange(6), torch.tensor([0, 1] * 3)
    x, y = a.sample(classes, styles, seed=3), b.sample(classes, styles, seed=3)
    assert 0 < (x - y).abs().max() < 1e-2  # float16 rounding of the weights, nothing more


# 3. "wrote X" only when X was written

def test_nothing_to_train_is_an_error_and_writes_nothing(one_epoch, monkeypatch, capsys) -> None:
    assert main(["train", "cvae", "--epochs", "0", "--out", "runs/zero.safetensors", *TINY_FLAGS]) == 1
    out, err = capsys.readouterr()
    assert "wrote" not in out and "--epochs 0: nothing to train" in one_line(err)
    assert not Path("runs/zero.safetensors").exists()
    stamp = os.stat(one_epoch)
    assert main(["train", "cvae", "--resume", str(one_epoch), "--epochs", "1", "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert "wrote" not in out
    assert one_line(err) == ("genlib train: error: the checkpoint is already at epoch 1 of --epochs 1: nothing to train; "
                             "pass a larger --epochs")
    assert os.stat(one_epoch).st_mtime_ns == stamp.st_mtime_ns


# 4. one-line errors, outputs checked before the work, Ctrl-C

def test_unwritable_out_fails_before_training(sandbox, tmp_path, monkeypatch, capsys) -> None:
    no_training(monkeypatch)
    folder = tmp_path / "folder"
    folder.mkdir()
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    read_only = tmp_path / "ro.safetensors"
    read_only.write_text("x")
    read_only.chmod(0o444)
    cases = {folder: "is a directory", a_file / "x.safetensors": "is a file, not a folder", read_only: "is read-only"}
    for out, reason in cases.items():
        assert main(["train", "cvae", "--epochs", "1", "--out", str(out), *TINY_FLAGS]) == 1
        line = one_line(capsys.readouterr().err)
        assert line.startswith("genlib train: error: --out ") and str(out) in line and reason in line

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr("genlib.atomic.tempfile.mkstemp", denied)  # a folder we may not write (root ignores chmod)
    assert main(["train", "cvae", "--epochs", "1", "--out", str(tmp_path / "ok.safetensors"), *TINY_FLAGS]) == 1
    assert "cannot be written: Permission denied" in one_line(capsys.readouterr().err)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_fails_before_training(sandbox, tmp_path, monkeypatch, capsys) -> None:
    no_training(monkeypatch)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    assert main(["train", "cvae", "--epochs", "1", "--out", str(locked / "x.safetensors"), *TINY_FLAGS]) == 1
    assert "cannot be written" in one_line(capsys.readouterr().err)


def test_ctrl_c_before_the_first_checkpoint_says_no_checkpoint_was_written(sandbox, monkeypatch, capsys) -> None:
    def step_then_stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scaffold, "fit", step_then_stop)
    assert main(["train", "cvae", "--epochs", "1", "--out", "runs/x.safetensors", *TINY_FLAGS]) == 130
    assert one_line(capsys.readouterr().err) == "genlib train: interrupted before the first checkpoint: no checkpoint was written"


def test_ctrl_c_names_the_checkpoint_and_the_resume_command(sandbox, monkeypatch, capsys) -> None:
    interrupt_after_first_save(monkeypatch)
    assert main(["train", "cvae", "--epochs", "3", "--out", "runs/x.safetensors", *TINY_FLAGS]) == 130
    line = one_line(capsys.readouterr().err)
    assert line == ("genlib train: interrupted: the last checkpoint is runs/x.safetensors (epoch 1, step 10); "
                    "resume with: genlib train cvae --resume runs/x.safetensors")


# 6. checkpoint integrity

def _save(path: Path, model: torch.nn.Module) -> Path:
    return save_checkpoint(path, family="test", model_config={}, train_config={}, modules={"m": model}, state={"step": 1})


def test_checkpoint_hash_detects_a_flipped_byte(tmp_path) -> None:
    path = _save(tmp_path / "c.safetensors", torch.nn.Linear(4, 3))
    with safe_open(str(path), framework="pt") as f:
        assert len(f.metadata()["sha256"]) == 64
    raw = bytearray(path.read_bytes())
    raw[-3] ^= 0x01  # inside the last tensor's bytes: still a valid safetensors file
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=f"{path} is corrupt: its tensors do not match the stored hash"):
        load_checkpoint(path)


def test_checkpoints_written_before_the_hash_existed_still_load(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    shipped = REPO_DATA / "cvae_mlp_kana49.safetensors"
    with safe_open(str(shipped), framework="pt") as f:
        metadata = {k: v for k, v in f.metadata().items() if k != "sha256"}
    old = tmp_path / "old.safetensors"
    save_file(load_file(str(shipped)), str(old), metadata=metadata)  # as genlib wrote them before the hash
    assert load_checkpoint(old).family == "cvae"


def test_non_finite_weights_are_refused_at_save_and_at_load(tmp_path) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    path = _save(tmp_path / "c.safetensors", model)
    before = path.read_bytes()
    with torch.no_grad():
        model[0].weight[1, 2] = float("nan")
    with pytest.raises(CheckpointError, match=r"refusing to save .*module 'm' tensor '0.weight' holds NaN or inf"):
        _save(path, model)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]
    bad = tmp_path / "bad.safetensors"
    save_file({"model/m/w": torch.tensor([1.0, float("inf")])}, str(bad), metadata={"format": ckpt_mod.FORMAT, "genlib": "{}"})
    with pytest.raises(CheckpointError, match=f"{bad} is corrupt: module 'm' tensor 'w' holds NaN or inf"):
        load_checkpoint(bad)


def test_leftover_tmp_files_are_never_loaded_and_are_removed_by_the_next_write(tmp_path) -> None:
    model = torch.nn.Linear(2, 2)
    path = tmp_path / "c.safetensors"
    leftover = tmp_path / "c.safetensors.k1ll3d.tmp"
    _save(leftover.with_suffix(""), model).rename(leftover)  # a complete file under a temp name
    with pytest.raises(CheckpointError, match="temporary file left by an interrupted write"):
        load_checkpoint(leftover)
    assert stale_temps(path) == [leftover]
    _save(path, model)
    assert not leftover.exists() and [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path) -> None:
    target = tmp_path / "t.md"
    target.write_text("old")

    def half_then_fail(tmp: Path) -> None:
        tmp.write_text("half")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(target, half_then_fail)
    with pytest.raises(OSError):
        atomic_write_all([(tmp_path / "a.md", lambda tmp: tmp.write_text("a")), (target, half_then_fail)])
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["t.md"]
    atomic_write(target, lambda tmp: tmp.write_text("new"))
    umask = os.umask(0)
    os.umask(umask)
    assert target.read_text() == "new" and target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
