"""The ``genlib`` command line: one set of commands for every model family.

    genlib train cvae --arch conv --latent-dim 16 --epochs 30 --out runs/cvae.safetensors
    genlib train --recipe cvae_conv_kana49          # re-make a pretrained checkpoint (into runs/)
    genlib sample --checkpoint data/cvae_conv_kana49.safetensors --n 10 --png   # 10 per (class, style) cell
    genlib evaluate data/cvae_mlp_kana49.safetensors data/cvae_conv_kana49.safetensors
    genlib experiments --dataset kana49 --limit 2000  # the K49 report's §6 experiments, one table
    genlib data list | genlib data info | genlib data download k49 | genlib data build-kana49
    genlib report                                   # run every notebook, index the figures
    genlib app                                      # the classroom app in a browser

Options of ``train`` are generated from the family's config dataclasses, so every field of a
model or training config is a flag (``latent_dim`` → ``--latent-dim``).
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path
from typing import Sequence

from genlib.cli_options import Parser, UsageError, add_config_options, apply_overrides, at_least, config_fields, seed_arg
from genlib.cli_sample import sample_command


def check_source_options(argv: Sequence[str], recipe: str | None, resume: Path | None) -> None:
    """``--recipe`` and ``--resume`` decide which options exist: spelled out in full, and not both."""
    for arg in argv:
        name = arg.split("=")[0]
        if len(name) > 2 and name not in ("--recipe", "--resume") and ("--recipe".startswith(name) or "--resume".startswith(name)):
            raise UsageError(f"{name}: spell --recipe and --resume out in full (they decide the options; abbreviations are not accepted)")
    if recipe and resume:
        raise UsageError("--recipe and --resume do not go together: a resumed run takes every config from its checkpoint "
                         "(genlib train --resume FILE)")


def train_family_name(argv: Sequence[str], recipe_family: str | None, stored_family: str | None) -> str | None:
    """The family a ``genlib train`` command line names: its first word, else the recipe's or the checkpoint's (None: none)."""
    from genlib.families import FAMILIES

    named = argv[0] if argv and not argv[0].startswith("-") else None
    if named is not None and named not in FAMILIES:
        raise UsageError(f"unknown family {named!r}: allowed " + ", ".join(sorted(FAMILIES)))
    found = named or recipe_family or stored_family
    late = [a for a in argv[1:] if a in FAMILIES]
    if found is None and late:
        raise UsageError(f"name the family first: genlib train {late[0]} [options] (it came after the options)")
    return found


def _train(argv: Sequence[str]) -> int:
    from genlib.checkpoint import load_checkpoint
    from genlib.cli_io import TrainPlan, check_something_to_train, file_stamp, interrupted_message, resume_configs, run_plan, summary
    from genlib.distributed import is_main_process
    from genlib.families import FAMILIES, get_family
    from genlib.pretrained import get_recipe

    pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    pre.add_argument("--recipe")
    pre.add_argument("--resume", type=Path)
    known, _ = pre.parse_known_args(argv)
    check_source_options(argv, known.recipe, known.resume)
    recipe = get_recipe(known.recipe) if known.recipe else None
    stored = load_checkpoint(known.resume) if known.resume else None
    family_name = train_family_name(argv, recipe.family if recipe else None, stored.family if stored else None)
    if family_name is None and any(a in ("-h", "--help") for a in argv):
        print("usage: genlib train FAMILY [options] | genlib train --recipe NAME [options] | genlib train --resume FILE [options]\n\n"
              "Train a model family; every field of its configs is an option (genlib train FAMILY --help lists them).\n"
              "families:\n" + "\n".join(f"  {name:<11} {f.description}" for name, f in sorted(FAMILIES.items()))
              + "\nrecipes: genlib recipes")
        return 0
    if family_name is None:
        raise UsageError("name a family (" + ", ".join(sorted(FAMILIES)) + ") or a --recipe (see `genlib recipes`)")
    if recipe and recipe.family != family_name:
        raise UsageError(f"recipe {recipe.name!r} is a {recipe.family!r} recipe, not {family_name!r}")
    if stored and stored.family != family_name:
        raise ValueError(f"--resume {known.resume} is a {stored.family!r} checkpoint, not {family_name!r}")
    family = get_family(family_name)
    parser = Parser(prog=f"genlib train {family_name}", description=f"Train a {family.description}.")
    parser.add_argument("family", nargs="?", help="the model family (cvae, cgan, stylegan, classifier); "
                        "may be left out with --recipe or --resume")
    parser.add_argument("--recipe", help="start from a named recipe (see `genlib recipes`); flags override it; "
                        "its result is slim and written only when training has finished")
    parser.add_argument("--out", type=Path, help="checkpoint to write (default: runs/<recipe>.safetensors, the --resume file, "
                        "or runs/<family>.safetensors)")
    parser.add_argument("--resume", type=Path, help="continue a run from its full checkpoint, with the configs stored in it")
    parser.add_argument("--max-steps", type=at_least(0), help="stop after this many optimisation steps in total")
    parser.add_argument("--save-every", type=at_least(0), default=0, help="also checkpoint every N steps (default: each epoch)")
    parser.add_argument("--slim", action="store_true", help="the final file holds weights only (small; cannot resume); "
                        "full checkpoints are saved while training")
    parser.add_argument("--overwrite-shipped", action="store_true", help="allow writing files in the shipped data/ folder")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--threads", type=at_least(1), help="torch CPU threads (default: torch's choice; 1 while other work runs)")
    add_config_options(parser, [family.model_config, family.train_config])
    args = parser.parse_args(argv)
    if args.family not in (None, family_name):  # `genlib train --recipe NAME FAMILY`: the family came after the options
        source = f"recipe {recipe.name!r} is a {family_name!r} recipe" if recipe else f"--resume {args.resume} is a {family_name!r} checkpoint"
        raise UsageError(f"{source}, not {args.family!r}")
    values = vars(args)
    if stored is not None:
        names = {name for cls in (family.model_config, family.train_config) for name, _, _ in config_fields(cls)}
        explicit = {k: v for k, v in values.items() if k in names and v is not None}
        model_config, train_config = resume_configs(family, stored, args.resume, explicit)
    else:
        model_config = apply_overrides(recipe.model_config if recipe else family.model_config(), values)
        train_config = apply_overrides(recipe.train_config if recipe else family.train_config(), values)
    check_something_to_train(train_config, stored, args.max_steps)
    default_out = Path("runs") / f"{recipe.name}.safetensors" if recipe else args.resume or Path("runs") / f"{family_name}.safetensors"
    plan = TrainPlan.make(family, model_config, train_config, args.out or default_out, slim=args.slim or recipe is not None,
                          resume=args.resume, overwrite_shipped=args.overwrite_shipped)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    before = file_stamp(plan.work)
    try:
        outcome = run_plan(plan, max_steps=args.max_steps, save_every=args.save_every, progress=not args.no_progress)
    except KeyboardInterrupt:
        print(f"genlib train: {interrupted_message(plan, before)}", file=sys.stderr)
        return 130
    if is_main_process():  # one summary line, not one per torchrun process
        print(summary(outcome, plan))
    return 0


def _recipes(argv: Sequence[str]) -> int:
    from genlib.pretrained import RECIPES, pretrained_path, recipe_command

    Parser(prog="genlib recipes", description="List the recipes of the pretrained checkpoints.").parse_args(argv)
    for recipe in RECIPES.values():
        status = "present" if pretrained_path(recipe.name).exists() else "missing"
        print(f"{recipe.name} ({status}): {recipe.description}\n    genlib train --recipe {recipe.name}\n    = {recipe_command(recipe)}")
    return 0


def _data(argv: Sequence[str]) -> int:
    from genlib.data.registry import DATASETS, SPLITS, dataset_names

    parser = Parser(prog="genlib data", description="List, inspect, download or rebuild datasets.")
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION", help="list, info, download or build-kana49")
    sub.add_parser("list", help="the datasets genlib knows: name, classes, whether synthetic or downloadable")
    info = sub.add_parser("info", help="sizes, classes and style statistics of a dataset")
    info.add_argument("--dataset", default="kana49", choices=dataset_names(), help="kana49 (embedded), mnist5k (real digits, "
                      "offline), k49, kmnist or mnist (downloaded) (default kana49; `genlib data list`)")
    dl = sub.add_parser("download", help="download a dataset's files (md5-verified) into data/")
    dl.add_argument("dataset", choices=dataset_names(downloadable=True), help="the real Kuzushiji-49, Kuzushiji-MNIST or MNIST")
    build = sub.add_parser("build-kana49", help="regenerate the embedded Kana-49 dataset from its shipped atlas")
    build.add_argument("--out", type=Path, help="output folder (default: data/kana49)")
    args = parser.parse_args(argv)
    from genlib.data.datasets import DataConfig, load_dataset, prepare_dataset, repo_data_dir

    if args.action == "list":
        for spec in DATASETS.values():
            print(f"{spec.name:<8} {spec.n_classes:>2} classes  {spec.summary}")
        return 0
    if args.action == "download":
        for split in SPLITS:
            raw = load_dataset(args.dataset, split, download=True)
            print(f"{args.dataset} {split}: {raw.images.shape[0]} images")
        return 0
    if args.action == "build-kana49":
        from genlib.atomic import check_output
        from genlib.data.kana49 import build_kana49

        out = args.out or repo_data_dir() / "kana49"
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} is a file: give the folder the dataset's files go into")
        check_output(out / "kana49-train-imgs.npz", "--out")  # writable, before the minutes of rendering
        written = build_kana49(out, repo_data_dir() / "kana49" / "kana49-atlas.npz")
        print("\n".join(f"wrote {p}" for p in written.values()))
        return 0
    data = prepare_dataset(DataConfig(dataset=args.dataset))
    note = " (synthetic stand-in, not Kuzushiji)" if data.synthetic else ""
    print(f"{args.dataset}{note}: {len(data.train)} train / {len(data.test)} test images, {data.n_classes} classes")
    print(f"thick share: train {data.train.styles.float().mean():.3f}, test {data.test.styles.float().mean():.3f}")
    return 0


MAX_PER_CELL = 2000  # genlib evaluate --n-per-cell: 392k images for a 49-class, 4-style model


def _evaluate(argv: Sequence[str]) -> int:
    from genlib.atomic import atomic_write_all, check_output

    parser = Parser(prog="genlib evaluate", description="Evaluate checkpoints with one metric suite.")
    parser.add_argument("checkpoints", type=Path, nargs="+", metavar="CHECKPOINT", help="generator checkpoints "
                        "(cvae, cgan, stylegan), e.g. data/cvae_conv_kana49.safetensors")
    parser.add_argument("--out", type=Path, default=Path("runs/results.md"), help="Markdown table, FILE.md (default runs/results.md; a .csv is written beside it)")
    parser.add_argument("--n-per-cell", type=at_least(2), default=50, help="samples per (class, style) cell that each "
                        "model is judged on (default 50: 4,900 images on Kana-49)")
    parser.add_argument("--seed", type=seed_arg, default=0, help="noise seed of the samples, 0..2**32-1 (default 0)")
    parser.add_argument("--merge", action="store_true", help="keep the rows already in --out's table: a checkpoint "
                        "evaluated again (matched by file name) replaces its row, a new one is added last (default: write a new table)")
    args = parser.parse_args(argv)
    if args.n_per_cell > MAX_PER_CELL:
        raise UsageError(f"--n-per-cell {args.n_per_cell}: at most {MAX_PER_CELL:,} (each model draws that many images per "
                         "(class, style) cell; the metric suite's protocol uses 50)")
    csv_path = args.out.with_suffix(".csv")
    check_output(args.out, "--out", ".md")
    check_output(csv_path, "--out's table")
    from genlib.evaluation import evaluate_checkpoints
    from genlib.tables import merge_rows, read_csv, write_csv, write_markdown_table

    old = read_csv(csv_path) if args.merge and csv_path.is_file() else []  # a damaged table is refused before any work
    stems = [p.stem for p in args.checkpoints]
    twice = sorted({s for s in stems if stems.count(s) > 1})
    if twice:
        raise UsageError(f"two checkpoints named {twice[0]!r}: rows are matched by file name, so rename one")
    rows = evaluate_checkpoints(args.checkpoints, n_per_cell=args.n_per_cell, seed=args.seed, progress=True)
    if args.merge:
        rows = merge_rows(old, rows)
    written = atomic_write_all([(args.out, lambda tmp: write_markdown_table(rows, tmp)), (csv_path, lambda tmp: write_csv(rows, tmp))])
    print(args.out.read_text())
    print(wrote_lines(written))
    return 0


def _experiments(argv: Sequence[str]) -> int:
    from genlib.cli_io import file_stamps, read_json, written_since
    from genlib.data.registry import dataset_names
    from genlib.experiments import SUITES, ExperimentBudget, run_experiments

    parser = Parser(prog="genlib experiments", description="Re-run the K49 report's §6 architecture experiments on one budget "
                    "and write one table (an hour on 2 CPU cores with the defaults; --limit makes a trial run).")
    parser.add_argument("--dataset", default="kana49", choices=dataset_names(), help="kana49 (embedded), mnist5k (real digits, offline), k49, kmnist "
                        "or mnist (downloaded) (default kana49)")
    parser.add_argument("--out", type=Path, help="results folder (default runs/experiments_<dataset>; the shipped results "
                        "are in data/experiments_kana49)")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only the experiments of these names (as in the table)")
    parser.add_argument("--suite", default="report", choices=SUITES, help="report: the reports' experiments (default); "
                        "quality: the image-quality ablation of the conv cGAN, one technique at a time, 2 seeds each; "
                        "prior: the conv CVAE's beta x prior ablation (normal vs per-cell mixtures), 2 seeds each; "
                        "sampling: the best shipped StyleGAN sampled with each truncation and noise setting, 2 sampling seeds each; "
                        "stylegan: the StyleGAN retrained with one training setting changed at a time, 2 seeds each")
    parser.add_argument("--checkpoints", type=Path, help="where the trained checkpoints are kept and finished ones reused "
                        "(default <out>/checkpoints)")
    parser.add_argument("--figures", action="store_true", help="only redraw the figures from the results and checkpoints "
                        "stored in --out (no training, no evaluation)")
    parser.add_argument("--threads", type=at_least(1), help="torch CPU threads (default: torch's choice)")
    add_config_options(parser, [ExperimentBudget])
    args = parser.parse_args(argv)
    budget = apply_overrides(ExperimentBudget(), vars(args))
    out = args.out or Path("runs") / f"{'experiments' if args.suite == 'report' else args.suite}_{args.dataset}"
    before = file_stamps([Path(out)] + ([args.checkpoints] if args.checkpoints else []))
    if args.figures:
        from genlib.data.datasets import DataConfig, prepare_dataset
        from genlib.experiments import write_figures
        from genlib.tables import read_csv

        if args.suite != "report":
            raise UsageError(f"--figures redraws the report suite's figures; --suite {args.suite} draws its own as it runs")
        if not (Path(out) / "results.csv").is_file():
            raise ValueError(f"--figures redraws stored results, but {out} has no results.csv: run genlib experiments --out {out} first")
        stored = read_json(Path(out) / "run.json").get("dataset", args.dataset)
        if stored != args.dataset:
            raise UsageError(f"{out} holds results on {stored!r}, not --dataset {args.dataset!r}: pass --dataset {stored}")
        read_csv(Path(out) / "results.csv")  # a damaged table is refused before any figure is redrawn
        print(wrote_lines(write_figures(out, prepare_dataset(DataConfig(dataset=args.dataset, limit=budget.limit)))))
        return 0
    run_experiments(args.dataset, budget, out, only=args.only, suite=args.suite, checkpoint_dir=args.checkpoints, threads=args.threads, progress=True)
    print((Path(out) / "results.md").read_text())
    print(wrote_lines(written_since([Path(out)] + ([args.checkpoints] if args.checkpoints else []), before)))
    return 0


def _report(argv: Sequence[str]) -> int:
    parser = Parser(prog="genlib report", description="Execute every numbered notebook headless (with the pretrained "
                    "models and, unless --full, the smallest training budgets) and write an index of their figures.")
    parser.add_argument("--out", type=Path, help="run folder (default: runs/report-<timestamp>)")
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"), help="folder of the numbered notebooks "
                        "NN_name.ipynb (default notebooks)")
    parser.add_argument("--full", action="store_true", help="run each notebook with its own training budget, as committed "
                        "(slower) instead of the smallest one")
    parser.add_argument("--timeout", type=at_least(1), default=900, help="seconds one cell may run (default 900)")
    args = parser.parse_args(argv)
    from genlib.cli_io import file_stamps, written_since
    from genlib.report import run_report

    started, before = time.time(), file_stamps([args.out] if args.out else [])
    index = run_report(args.notebooks, args.out, timeout=args.timeout, quick=not args.full)
    written = written_since([index.parent], before)
    print(f"genlib report: {len(written)} files in {index.parent} ({time.time() - started:.0f} s); open {index} "
          f"(or {index.with_suffix('.md')})")
    return 0


def _app(argv: Sequence[str]) -> int:
    from genlib.app_server import AppServer, default_pages_dir, serve

    parser = Parser(prog="genlib app", description="Serve the classroom app (sliders over the pretrained models, no code, "
                    "no training) with Voila. By default only this machine can open it, and every URL needs a token.")
    parser.add_argument("--dataset", help="the dataset every page shows (default kana49; a page's URL may also say ?dataset=NAME)")
    parser.add_argument("--port", type=at_least(1), default=8866, help="port to listen on (default 8866)")
    parser.add_argument("--network", action="store_true", help="listen on every network interface so that a classroom can "
                        "connect (the token is still required); prints the URL to share")
    parser.add_argument("--token", default="", help="the token every URL must carry (default: a new random one each start)")
    parser.add_argument("--pages", type=Path, default=None, help="folder of app notebooks (default: notebooks/app of this repository)")
    args = parser.parse_args(argv)
    if args.dataset is not None:
        from genlib.data.registry import get_dataset

        get_dataset(args.dataset)  # an unknown name stops here, naming the known ones
    folder = (args.pages or default_pages_dir()).resolve()
    return serve(AppServer(folder, port=args.port, network=args.network, token=args.token), dataset=args.dataset)


COMMANDS = {
    "train": _train,
    "recipes": _recipes,
    "sample": sample_command,
    "evaluate": _evaluate,
    "experiments": _experiments,
    "data": _data,
    "report": _report,
    "app": _app,
}
SUMMARIES = {  # what `genlib --help` says of each command
    "train": "train a model family, or re-make a pretrained checkpoint (--recipe), or resume a run",
    "recipes": "list the recipes of the pretrained checkpoints in data/",
    "sample": "draw samples from a checkpoint into an npz file (--png: a labelled grid)",
    "evaluate": "score checkpoints with one metric suite: a Markdown and a CSV table",
    "experiments": "re-run the K49 report's §6 architecture experiments on one budget",
    "data": "inspect, download or rebuild datasets",
    "report": "execute every notebook headless; an index of its figures and the executed notebooks",
    "app": "serve the classroom app (sliders over the pretrained models) to a browser",
}


def usage() -> str:
    """What ``genlib`` and ``genlib --help`` print: the usage line, the commands, examples."""
    lines = ["usage: genlib COMMAND [options]      (genlib COMMAND --help lists a command's options)", "",
             "Conditional generative models (CVAE, cGAN, StyleGAN) on Kana-49, Kuzushiji-49 and MNIST.", "", "commands:"]
    lines += [f"  {name:<12} {SUMMARIES[name]}" for name in COMMANDS]
    examples = __doc__.split("\n\n")[1]  # the module docstring's examples
    return "\n".join(lines + ["", "examples:", examples.replace("    genlib", "  genlib"), "",
                              "Outputs go under runs/ unless --out says otherwise; genlib --version prints the version."])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``genlib`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0
    command = argv[0]
    if command == "--version":
        from genlib import __version__

        print(__version__)
        return 0
    if command not in COMMANDS:
        print(f"genlib: error: unknown command {command!r}: allowed {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    try:
        return COMMANDS[command](argv[1:])
    except UsageError as exc:
        print(f"genlib {command}: error: {error_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"genlib {command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, RuntimeError, OSError, EOFError, zipfile.BadZipFile) as exc:  # CheckpointError is a RuntimeError
        print(f"genlib {command}: error: {error_line(exc)}", file=sys.stderr)
        return 1


def wrote_lines(paths: Sequence[Path]) -> str:
    """What a command wrote, one ``wrote <path> (<size>)`` line per file."""
    return "\n".join(f"wrote {p} ({p.stat().st_size / 1024:,.0f} KiB)" for p in paths)


def error_line(exc: BaseException) -> str:
    """An exception as one line: ``<file>: <reason>`` for OS errors, its message (newlines folded) otherwise."""
    if isinstance(exc, OSError) and exc.strerror and exc.filename:
        text = f"{exc.filename}: {exc.strerror}"
    elif isinstance(exc, zipfile.BadZipFile):
        text = f"a file is corrupt (not a readable npz/zip): {exc}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())

