"""The ``genlib`` command line, run in-process."""

from __future__ import annotations

import errno

import numpy as np
import pytest

from genlib.cli import main, sample_labels


def one_line(err: str) -> str:
    """The only line of an error output (no traceback)."""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "cvae.safetensors"
    code = main(["train", "cvae", "--epochs", "1", "--limit", "490", "--batch-size", "50", "--hidden-dim", "32", "--out", str(path), "--no-progress"])
    assert code == 0 and path.exists()
    return path


def test_train_writes_a_checkpoint_with_the_flags(tiny_checkpoint, capsys) -> None:
    from genlib.models.cvae_train import load

    loaded = load(tiny_checkpoint)
    assert loaded.model_config.hidden_dim == 32 and loaded.train_config.data.limit == 490 and loaded.state.epoch == 1


def test_recipe_flags_override_the_recipe(tmp_path) -> None:
    """``genlib train --recipe R --threads 1 …``: the family comes from the recipe, every flag still applies."""
    from genlib.models.cvae_train import load

    path = tmp_path / "r.safetensors"
    argv = ["train", "--recipe", "cvae_conv_kana49", "--threads", "1", "--epochs", "1", "--limit", "490", "--channels", "4",
            "--hidden-dim", "16", "--out", str(path), "--no-progress"]
    assert main(argv) == 0
    loaded = load(path)
    assert loaded.model_config.arch == "conv" and loaded.model_config.channels == 4 and loaded.train_config.kl_weight == 3.0


def test_sample_writes_k49_format(tiny_checkpoint, tmp_path) -> None:
    out = tmp_path / "s.npz"
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "2", "--seed", "1", "--out", str(out)]) == 0
    with np.load(out) as f:
        images, classes, styles = f["arr_0"], f["classes"], f["styles"]
    assert images.dtype == np.uint8 and images.shape == (49 * 2 * 2, 28, 28)
    assert classes.tolist()[:6] == [0, 0, 0, 0, 1, 1] and styles.tolist()[:6] == [0, 0, 1, 1, 0, 0]
    one = tmp_path / "one.npz"
    png = tmp_path / "one.png"
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "3", "--class", "5", "--style", "1", "--out", str(one), "--png", str(png)]) == 0
    with np.load(one) as f:
        assert f["arr_0"].shape == (3, 28, 28) and set(f["classes"]) == {5} and set(f["styles"]) == {1}
    assert png.stat().st_size > 0
    again = tmp_path / "again.npz"
    main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "3", "--class", "5", "--style", "1", "--out", str(again)])
    with np.load(one) as a, np.load(again) as b:
        assert np.array_equal(a["arr_0"], b["arr_0"])  # same seed, same samples


def test_sample_rejects_bad_class(tiny_checkpoint, tmp_path, capsys) -> None:
    code = main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--class", "49", "--out", str(tmp_path / "x.npz")])
    assert code == 1
    assert "--class 49 is out of range: allowed 0..48" in capsys.readouterr().err


def test_sample_labels_order() -> None:
    c, s = sample_labels(1, 3, 2, None, None)
    assert c.tolist() == [0, 0, 1, 1, 2, 2] and s.tolist() == [0, 1, 0, 1, 0, 1]
    with pytest.raises(ValueError, match="--n must be >= 1"):
        sample_labels(0, 3, 2, None, None)


def test_unknown_things_give_clear_errors(capsys) -> None:
    assert main(["fly"]) == 2
    assert "unknown command 'fly'" in capsys.readouterr().err
    assert main(["train", "--recipe", "nope"]) == 1
    assert "unknown recipe 'nope'" in capsys.readouterr().err
    assert main(["train", "gan", "--epochs", "1"]) == 2
    assert "unknown family 'gan': allowed cgan, classifier, cvae, stylegan" in capsys.readouterr().err
    assert main(["train", "cvae", "--dataset", "imagenet", "--epochs", "1", "--out", "/tmp/never.safetensors"]) == 1
    assert "unknown dataset 'imagenet'" in capsys.readouterr().err
    assert main(["train", "cvae", "--arch", "transformer"]) == 2  # a usage error: one line, no usage dump
    assert capsys.readouterr().err.strip().splitlines() == [
        "genlib train: error: argument --arch: invalid choice: 'transformer' (choose from 'seed', 'deep', 'conv') "
        "(`genlib train cvae --help` lists the options)"]


def test_help_and_recipes(capsys) -> None:
    assert main([]) == 0 and "genlib train" in capsys.readouterr().out
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "genlib train --recipe cvae_seed_kana49" in out and "--arch conv" in out
    assert "--out runs/cvae_seed_kana49.safetensors --slim" in out  # what `genlib train --recipe` writes now


@pytest.mark.parametrize("argv", [[], ["train"], ["train", "cgan"], ["sample"], ["evaluate"], ["recipes"], ["data"],
                                  ["experiments"], ["report"]])
def test_every_command_has_help_that_exits_0(argv, capsys) -> None:
    with pytest.raises(SystemExit) as stop:
        if main(argv + ["--help"]) == 0:
            raise SystemExit(0)
    out = capsys.readouterr().out
    assert stop.value.code == 0 and ("usage: genlib" in out or "commands: train" in out), out[:200]


def test_slim_run_saves_full_checkpoints_until_it_finishes(tmp_path, capsys) -> None:
    """``--slim`` is the final file: a run stopped early leaves a full, resumable checkpoint and says how to go on."""
    import shlex

    from genlib.checkpoint import load_checkpoint

    path = tmp_path / "slim.safetensors"
    argv = ["train", "cvae", "--epochs", "1", "--limit", "490", "--batch-size", "50", "--hidden-dim", "16", "--slim",
            "--out", str(path), "--no-progress"]
    assert main(argv + ["--max-steps", "3"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {path} (full) after 0 epochs / 3 steps" in out and load_checkpoint(path).optimizers
    command = shlex.split(out.split("continue with: ", 1)[1])
    assert command == ["genlib", "train", "cvae", "--resume", str(path), "--slim"]
    assert main(command[1:] + ["--no-progress"]) == 0
    assert f"wrote {path} (slim) after 1 epochs / 10 steps" in capsys.readouterr().out
    final = load_checkpoint(path)
    assert not final.optimizers and not final.rng and final.state["epoch"] == 1


def test_data_info(capsys) -> None:
    assert main(["data", "info", "--dataset", "mnist5k"]) == 0
    assert "mnist5k: 3500 train / 1500 test images, 10 classes" in capsys.readouterr().out


def test_os_errors_while_writing_are_one_line_and_leave_nothing(tiny_checkpoint, tmp_path, monkeypatch, capsys) -> None:
    out = tmp_path / "s.npz"

    def full_disk(file, **arrays):
        raise OSError(errno.ENOSPC, "No space left on device", str(out))

    monkeypatch.setattr(np, "savez_compressed", full_disk)
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--out", str(out)]) == 1
    assert one_line(capsys.readouterr().err) == f"genlib sample: error: {out}: No space left on device"
    assert not list(tmp_path.glob("s.npz*"))  # neither the file nor its temp


def test_corrupt_checkpoint_is_one_line_error(tmp_path, capsys) -> None:
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"\x00" * 100)
    assert main(["sample", "--checkpoint", str(junk), "--out", str(tmp_path / "s.npz")]) == 1
    assert f"{junk} is not a readable safetensors checkpoint" in one_line(capsys.readouterr().err)
    assert main(["train", "cvae", "--resume", str(junk), "--epochs", "3"]) == 1
    assert "not a readable" in one_line(capsys.readouterr().err)


def test_sample_out_must_end_in_npz_and_a_failing_png_leaves_no_npz(tiny_checkpoint, tmp_path, monkeypatch, capsys) -> None:
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--out", str(tmp_path / "x.txt")]) == 1
    assert f"--out {tmp_path / 'x.txt'} must end in .npz" in one_line(capsys.readouterr().err)
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--out", str(tmp_path / "x.npz"), "--png",
                 str(tmp_path / "x.jpg")]) == 1
    assert "must end in .png" in one_line(capsys.readouterr().err)
    assert not list(tmp_path.glob("x.*"))

    def broken(*args, **kwargs):
        raise RuntimeError("the grid cannot be drawn")

    monkeypatch.setattr("genlib.plots.show_images", broken)
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--out", str(tmp_path / "x.npz"), "--png",
                 str(tmp_path / "x.png")]) == 1
    assert "the grid cannot be drawn" in one_line(capsys.readouterr().err)
    assert not list(tmp_path.glob("x.*"))  # neither the npz nor a temp file


def test_sample_writes_npz_and_png_together(tiny_checkpoint, tmp_path, capsys) -> None:
    out, png = tmp_path / "s.npz", tmp_path / "s.png"
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--class", "3", "--out", str(out), "--png", str(png)]) == 0
    assert f"wrote {out} and {png}: 2 samples" in capsys.readouterr().out
    with np.load(out) as f:
        assert f["arr_0"].shape == (2, 28, 28)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and sorted(p.name for p in tmp_path.glob("s.*")) == ["s.npz", "s.png"]


def test_evaluate_checks_its_output_before_evaluating(tiny_checkpoint, tmp_path, monkeypatch, capsys) -> None:
    import genlib.evaluation

    def not_now(*args, **kwargs):
        raise AssertionError("evaluation started")

    monkeypatch.setattr(genlib.evaluation, "evaluate_checkpoints", not_now)
    assert main(["evaluate", str(tiny_checkpoint), "--out", str(tmp_path)]) == 1
    assert "is a directory" in one_line(capsys.readouterr().err)
    assert main(["evaluate", str(tiny_checkpoint), "--out", str(tmp_path / "r.csv")]) == 1
    assert "must end in .md" in one_line(capsys.readouterr().err)
    monkeypatch.setattr(genlib.evaluation, "evaluate_checkpoints", lambda paths, **kw: [{"name": "m", "fid": 1.5}])
    assert main(["evaluate", str(tiny_checkpoint), "--out", str(tmp_path / "r.md")]) == 0
    assert "1.50" in capsys.readouterr().out and "1.50" in (tmp_path / "r.md").read_text()
    assert "1.5" in (tmp_path / "r.csv").read_text()
    assert sorted(p.name for p in tmp_path.glob("r.*")) == ["r.csv", "r.md"]
