"""The ``genlib`` command line, run in-process."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pytest

from genlib.cli import main
from genlib.cli_io import file_stamps, written_since
from genlib.cli_sample import sample_labels
from genlib.tables import read_csv


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
    assert main(["experiments", "--suite", "prior", "--only", "beta1-s0"]) == 1
    assert "--only applies to the report and quality suites" in one_line(capsys.readouterr().err)
    assert main(["train", "cvae", "--prior-components", "-2", "--epochs", "1"]) == 1
    assert "prior_components must be 0 (the normal prior) or a number of mixture components >= 1, got -2" in one_line(capsys.readouterr().err)
    assert main(["train", "cvae", "--arch", "transformer"]) == 2  # a usage error: one line, no usage dump
    assert capsys.readouterr().err.strip().splitlines() == [
        "genlib train: error: argument --arch: invalid choice: 'transformer' (choose from 'mlp', 'deep', 'conv') "
        "(`genlib train cvae --help` lists the options)"]


def test_help_and_recipes(capsys) -> None:
    assert main([]) == 0 and "genlib train" in capsys.readouterr().out
    assert main(["recipes"]) == 0
    out = capsys.readouterr().out
    assert "genlib train --recipe cvae_mlp_kana49" in out and "--arch conv" in out
    assert "--out runs/cvae_mlp_kana49.safetensors --slim" in out  # what `genlib train --recipe` writes now


@pytest.mark.parametrize("argv", [[], ["train"], ["train", "cgan"], ["sample"], ["evaluate"], ["recipes"], ["data"],
                                  ["experiments"], ["report"], ["app"], ["data", "info"], ["data", "download"]])
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
    assert f"--out {tmp_path / 'x.txt'}: give a file name ending in .npz" in one_line(capsys.readouterr().err)
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--out", str(tmp_path / "x.npz"), "--png",
                 str(tmp_path / "x.jpg")]) == 1
    assert "give a file name ending in .png" in one_line(capsys.readouterr().err)
    assert not list(tmp_path.glob("x.*"))

    def broken(*args, **kwargs):
        raise RuntimeError("the grid cannot be drawn")

    monkeypatch.setattr("genlib.sample_sheet.sample_sheet", broken)
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--out", str(tmp_path / "x.npz"), "--png",
                 str(tmp_path / "x.png")]) == 1
    assert "the grid cannot be drawn" in one_line(capsys.readouterr().err)
    assert not list(tmp_path.glob("x.*"))  # neither the npz nor a temp file


def test_sample_writes_npz_and_png_together(tiny_checkpoint, tmp_path, capsys) -> None:
    out, png = tmp_path / "s.npz", tmp_path / "s.png"
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "1", "--class", "3", "--out", str(out), "--png", str(png)]) == 0
    printed = capsys.readouterr().out
    assert f"wrote {out}: 2 samples" in printed and f"wrote {png}: a " in printed
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
    assert "give a file name ending in .md" in one_line(capsys.readouterr().err)
    monkeypatch.setattr(genlib.evaluation, "evaluate_checkpoints", lambda paths, **kw: [{"name": "m", "fid": 1.5}])
    assert main(["evaluate", str(tiny_checkpoint), "--out", str(tmp_path / "r.md")]) == 0
    assert "1.50" in capsys.readouterr().out and "1.50" in (tmp_path / "r.md").read_text()
    assert "1.5" in (tmp_path / "r.csv").read_text()
    assert sorted(p.name for p in tmp_path.glob("r.*")) == ["r.csv", "r.md"]


def test_evaluate_merge_keeps_the_other_rows_and_replaces_its_own(tiny_checkpoint, tmp_path, monkeypatch) -> None:
    import genlib.evaluation

    out = tmp_path / "r.md"
    monkeypatch.setattr(genlib.evaluation, "evaluate_checkpoints", lambda paths, **kw: [{"name": "a", "fid": 1.0}, {"name": "b", "fid": 2.0}])
    assert main(["evaluate", str(tiny_checkpoint), "--out", str(out)]) == 0
    monkeypatch.setattr(genlib.evaluation, "evaluate_checkpoints", lambda paths, **kw: [{"name": "c", "fid": 3.0}, {"name": "a", "fid": 4.0}])
    assert main(["evaluate", str(tiny_checkpoint), "--out", str(out), "--merge"]) == 0
    assert [(r["name"], r["fid"]) for r in read_csv(tmp_path / "r.csv")] == [("a", 4.0), ("b", 2.0), ("c", 3.0)]
    assert [line.split(" | ")[0] for line in out.read_text().splitlines()[2:]] == ["| a", "| b", "| c"]
    assert main(["evaluate", str(tiny_checkpoint), "--out", str(out)]) == 0  # without --merge: a new table
    assert [r["name"] for r in read_csv(tmp_path / "r.csv")] == ["c", "a"]


def test_genlib_help_has_a_usage_line_and_every_command(capsys) -> None:
    from genlib.cli import COMMANDS, SUMMARIES

    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: genlib COMMAND [options]") and set(SUMMARIES) == set(COMMANDS)
    for name, summary in SUMMARIES.items():
        assert f"  {name:<12} {summary}" in out
    assert '"""' not in out and "``" not in out  # not a raw docstring


def all_parsers(monkeypatch) -> list:
    """Every argparse parser the commands build (subcommands included), captured instead of parsing."""
    import argparse

    from genlib import cli, cli_options

    captured = []

    def capture(self, *args, **kwargs):
        captured.append(self)
        raise SystemExit(0)

    monkeypatch.setattr(cli_options.Parser, "parse_args", capture)
    for argv in [["train", name] for name in ("cvae", "cgan", "stylegan", "classifier")] + [[c] for c in cli.COMMANDS if c != "train"]:
        with pytest.raises(SystemExit):
            cli.COMMANDS[argv[0]](argv[1:])
    subs = [p for parser in captured for a in parser._actions if isinstance(a, argparse._SubParsersAction) for p in a.choices.values()]
    return captured + subs


def test_every_option_has_help_written_for_users(monkeypatch) -> None:
    import re

    parsers = all_parsers(monkeypatch)
    assert len(parsers) >= 13
    code_like = re.compile(r"DATASETS|module docstring|genlib\.\w|DataConfig\.|seed 00\d|^seed: \d")
    for parser in parsers:
        for action in parser._actions:
            if action.dest == "help":
                continue
            text = re.sub(r"\s*\(default [^)]*\)$", "", action.help or "").strip()
            where = f"{parser.prog} {'/'.join(action.option_strings) or action.dest}"
            assert len(text.split()) >= 2, f"{where} has no help text: {action.help!r}"
            assert not code_like.search(text), f"{where}'s help reads like a code comment: {text!r}"


def png_size(path) -> tuple[int, int]:
    """``(width, height)`` from a PNG's header."""
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(header[16:20], "big"), int.from_bytes(header[20:24], "big")


def test_sample_png_is_a_labelled_grid_that_fits_a_screen(tiny_checkpoint, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)  # the default outputs go under runs/
    assert main(["sample", "--checkpoint", str(tiny_checkpoint), "--n", "12", "--png"]) == 0
    out = capsys.readouterr().out
    npz, png = tmp_path / "runs" / "cvae_samples.npz", tmp_path / "runs" / "cvae_samples.png"
    assert f"wrote runs/cvae_samples.npz: {49 * 2 * 12} samples" in out
    width, height = png_size(png)
    assert f"wrote runs/cvae_samples.png: a {width} x {height} px grid, one row per (class, style) cell (98 cells, up to 10 samples each)" in out
    assert width <= 1800 and height <= 1000 and npz.exists()


def test_sample_sheet_layout_rows_columns_and_labels() -> None:
    from genlib.sample_sheet import cell_label, layout

    lay = layout(49 * 2, 100, 28)  # the 17,770 px strip
    assert (lay.cells, lay.columns) == (98, 10) and lay.panels * lay.rows >= 98
    assert lay.size_px[0] <= 1800 and lay.size_px[1] <= 1000
    few = layout(10, 3, 28)
    assert (few.panels, few.rows, few.columns) == (1, 10, 3)
    many = layout(49 * 4 * 10, 5, 28)  # more cells than fit: the first ones, and the sheet still fits
    assert many.cells < 49 * 4 * 10 and many.size_px[0] <= 1800 and many.columns >= 3
    assert cell_label(12, 1, ["x"] * 12 + ["す"], ["thin", "thick"]) == "12 す thick"
    assert cell_label(3, 0, [str(i) for i in range(10)], ["any"]) == "3"
    with pytest.raises(ValueError, match="at least one cell"):
        layout(0, 1, 28)


def test_evaluate_and_experiments_list_the_files_they_wrote(tiny_checkpoint, tmp_path, monkeypatch, capsys) -> None:
    import genlib.evaluation
    import genlib.experiments

    monkeypatch.chdir(tmp_path)
    seen = {}
    monkeypatch.setattr(genlib.evaluation, "evaluate_checkpoints",
                        lambda paths, **kw: seen.update(kw) or [{"name": "m", "fid": 1.5}])
    assert main(["evaluate", str(tiny_checkpoint)]) == 0
    out = capsys.readouterr().out
    assert seen["progress"] is True
    assert "wrote runs/results.md (" in out and "wrote runs/results.csv (" in out

    def fake_run(dataset, budget, out, **kwargs):
        out.mkdir(parents=True)
        (out / "results.md").write_text("| table |\n")
        (out / "samples.npz").write_bytes(b"x")

    monkeypatch.setattr(genlib.experiments, "run_experiments", fake_run)
    assert main(["experiments", "--limit", "100"]) == 0
    out = capsys.readouterr().out
    assert "wrote runs/experiments_kana49/results.md (" in out and "wrote runs/experiments_kana49/samples.npz (" in out


def test_runs_is_git_ignored() -> None:
    from pathlib import Path

    ignored = (Path(__file__).resolve().parents[1] / ".gitignore").read_text().splitlines()
    assert "runs/" in ignored


def test_written_since_lists_new_and_replaced_files_whatever_their_timestamps(tmp_path) -> None:
    """A file system's clock may lag time.time(): new files count even when stamped in the past."""
    (tmp_path / "kept.txt").write_text("a")
    (tmp_path / "replaced.txt").write_text("b")
    before = file_stamps([tmp_path, tmp_path / "missing"])
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "new.txt").write_text("c")
    os.utime(tmp_path / "sub" / "new.txt", (1.0, 1.0))
    (tmp_path / "tmp").write_text("b")
    os.replace(tmp_path / "tmp", tmp_path / "replaced.txt")
    assert written_since([tmp_path], before) == [tmp_path / "replaced.txt", tmp_path / "sub" / "new.txt"]


def test_evaluate_checks_every_file_and_the_merged_table_before_judging_any(tiny_checkpoint, tmp_path, monkeypatch, capsys) -> None:
    import genlib.evaluation

    monkeypatch.chdir(tmp_path)
    judged = []
    monkeypatch.setattr(genlib.evaluation, "evaluate_checkpoint", lambda path, **kw: judged.append(path) or {"name": "m"})
    damaged = tmp_path / "damaged.safetensors"
    raw = bytearray(tiny_checkpoint.read_bytes())
    raw[-3] ^= 0x01
    damaged.write_bytes(bytes(raw))
    assert main(["evaluate", str(tiny_checkpoint), str(damaged)]) == 1
    assert "do not match the stored hash" in one_line(capsys.readouterr().err) and judged == []

    (tmp_path / "notes.csv").write_text("a,b\n1,2\n")
    assert main(["evaluate", str(tiny_checkpoint), "--merge", "--out", "notes.md"]) == 1
    assert "notes.csv is not a genlib results table" in one_line(capsys.readouterr().err) and judged == []
    (tmp_path / "notes.csv").write_text("name,fid\nx,1,2\n")
    assert main(["evaluate", str(tiny_checkpoint), "--merge", "--out", "notes.md"]) == 1
    assert "notes.csv line 2 has 3 fields, its header 2" in one_line(capsys.readouterr().err) and judged == []
    assert main(["evaluate", str(tiny_checkpoint), "--out", "notes.md"]) == 0 and len(judged) == 1  # without --merge: replaced


def test_experiments_figures_checks_the_folder_before_redrawing(tmp_path, monkeypatch, capsys) -> None:
    import shutil

    import genlib.experiments

    monkeypatch.chdir(tmp_path)
    drawn = []
    monkeypatch.setattr(genlib.experiments, "write_figures", lambda out, data=None: drawn.append(out) or [])
    stored = Path(__file__).resolve().parents[1] / "data" / "experiments_mnist5k"
    (tmp_path / "ex").mkdir()
    for name in ("run.json", "results.csv"):
        shutil.copy(stored / name, tmp_path / "ex" / name)
    assert main(["experiments", "--figures", "--out", "ex"]) == 2
    assert "ex holds results on 'mnist5k', not --dataset 'kana49': pass --dataset mnist5k" in one_line(capsys.readouterr().err)
    assert main(["experiments", "--figures", "--out", "ex", "--dataset", "mnist5k", "--suite", "prior"]) == 2
    assert "--figures redraws the report suite's figures" in one_line(capsys.readouterr().err)
    (tmp_path / "ex" / "results.csv").write_text("name,fid\na,1,2\n")
    assert main(["experiments", "--figures", "--out", "ex", "--dataset", "mnist5k"]) == 1
    assert "line 2 has 3 fields, its header 2" in one_line(capsys.readouterr().err) and drawn == []
