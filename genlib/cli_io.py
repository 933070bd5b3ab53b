"""How ``genlib train`` (and :func:`genlib.pretrained.train_recipe`) turn a request into files, safely.

- A *final* checkpoint (``--slim``, every recipe, or any file in the shipped ``data/`` folder) is
  written only when training has finished; until then the run saves full, resumable checkpoints
  at a *work* path (the output itself, or ``runs/<name>`` when the output is in ``data/``), so an
  interrupted run never replaces a finished model.
- An existing file at the output (or work) path that the run does not resume is kept until the run
  finishes: training writes ``<name>.partial.safetensors`` beside it meanwhile.
- Files under the repository's ``data/`` folder (:func:`genlib.data.datasets.repo_data_dir`) are
  written only with ``--overwrite-shipped`` (``overwrite_shipped=True``).
- ``--resume`` takes every config from the checkpoint; a flag that would change one is rejected,
  except the ones that may change (:data:`RESUME_MAY_CHANGE`).
- A run with nothing to train is an error, not a "wrote …" that wrote nothing.
- What a command wrote is told by file stamps (inode, mtime, size) taken before and after, not by a clock.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from genlib.atomic import check_output
from genlib.checkpoint import Checkpoint, read_meta, rewrite_checkpoint
from genlib.cli_options import apply_overrides
from genlib.config import config_from_dict, flag_of
from genlib.distributed import is_main_process

SHIPPED_FLAG = "--overwrite-shipped"
RESUME_MAY_CHANGE = ("epochs", "device", "download", "channels_last", "compile", "backward", "lr_decay_start")  # config fields a resumed run may change (same math so far; also --save-every, --threads)
def is_shipped(path: str | Path) -> bool:
    """True when ``path`` lies in the repository's ``data/`` folder (``$GENLIB_DATA`` if set)."""
    from genlib.data.datasets import repo_data_dir

    return Path(path).resolve().is_relative_to(repo_data_dir().resolve())


def check_not_shipped(path: Path, allowed: bool) -> None:
    """Raise ValueError (one line naming the path and the flag) for a shipped path unless ``allowed``."""
    if is_shipped(path) and not allowed:
        raise ValueError(f"{path} is in the shipped data folder: pass {SHIPPED_FLAG} to write it")


def flat_fields(config: Any) -> dict[str, Any]:
    """Every plain field of a (nested) config dataclass by name, nested dataclasses flattened."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        out.update(flat_fields(value) if dataclasses.is_dataclass(value) else {f.name: value})
    return out


def resume_configs(family: Any, stored: Checkpoint, path: Path, explicit: dict[str, Any]) -> tuple[Any, Any]:
    """The model and train config of a resumed run: the checkpoint's, with the allowed changes applied.

    Args:
        family: the :class:`genlib.families.Family` of the checkpoint.
        stored: the checkpoint at ``path``.
        explicit: the config flags the user passed (field name -> parsed value).
    Raises:
        ValueError: a slim checkpoint, or an explicit flag that would change a stored field other
            than :data:`RESUME_MAY_CHANGE` (names the flag, the given and the stored value).
    """
    if not stored.optimizers:
        raise ValueError(f"--resume {path} is a slim checkpoint (weights only, no optimizer state): it cannot resume training")
    model_config = config_from_dict(family.model_config, stored.model_config)
    train_config = config_from_dict(family.train_config, stored.train_config)
    current = {**flat_fields(model_config), **flat_fields(train_config)}
    for name, given in explicit.items():
        given = tuple(given) if isinstance(current.get(name), tuple) else given
        if name not in RESUME_MAY_CHANGE and given != current.get(name):
            shown = " ".join(map(str, given)) if isinstance(given, tuple) else given
            raise ValueError(
                f"{flag_of(name)} {shown} differs from the checkpoint's {name}={current.get(name)!r}: a resumed run keeps its "
                f"configuration (it may change --epochs, --device, --download, --channels-last, --compile, --backward, --lr-decay-start before its epoch, --save-every, --threads)"
            )
    changes = {k: v for k, v in explicit.items() if k in RESUME_MAY_CHANGE}
    resumed = apply_overrides(train_config, changes)
    check_schedule_kept(train_config, resumed, stored.state)
    return model_config, resumed


def check_schedule_kept(stored: Any, resumed: Any, state: dict[str, Any]) -> None:
    """Raise ValueError when a resumed run would rewrite a learning-rate decay that has already begun.

    The decay (``lr_decay_start`` to the run's end) may be added, moved or dropped, and ``epochs``
    changed, as long as the checkpoint has not reached the start of the decay before or after the
    change: the steps already taken are then the same as in one uninterrupted run of the new config.
    """
    old, new = getattr(stored, "lr_decay_start", 0), getattr(resumed, "lr_decay_start", 0)
    if (old, stored.epochs) == (new, resumed.epochs) or not (old or new):
        return
    reached = state.get("epoch", 0) + (1 if state.get("batch", 0) else 0)  # epochs begun so far
    started = [s for s in (old, new) if s and s < reached]
    if started:
        raise ValueError(
            f"the checkpoint is at epoch {reached}, past lr_decay_start={min(started)}: a resumed run cannot change a learning-rate decay "
            f"that has begun (keep --epochs {stored.epochs} --lr-decay-start {old})"
        )


def check_something_to_train(train_config: Any, stored: Checkpoint | None, max_steps: int | None) -> None:
    """Raise ValueError when the run would train nothing (``--epochs 0``, a finished checkpoint, a spent ``--max-steps``)."""
    epoch, step = (stored.state.get("epoch", 0), stored.state.get("step", 0)) if stored else (0, 0)
    if stored is None and train_config.epochs < 1:
        raise ValueError(f"--epochs {train_config.epochs}: nothing to train; pass --epochs >= 1")
    if epoch >= train_config.epochs:
        raise ValueError(f"the checkpoint is already at epoch {epoch} of --epochs {train_config.epochs}: nothing to train; pass a larger --epochs")
    if max_steps is not None and max_steps <= step:
        where = f"the checkpoint is already at step {step}" if stored else "no step may run"
        raise ValueError(f"--max-steps {max_steps}: {where}: nothing to train; pass a larger --max-steps")


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """``(inode, mtime_ns, size)`` of a file, or None when there is none: a replaced file gets a new stamp."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def file_stamps(folders: Sequence[Path]) -> dict[Path, tuple[int, int, int] | None]:
    """Each file under ``folders`` with its :func:`~genlib.cli_io.file_stamp`: what :func:`written_since` compares.

    Stamps, not mtimes against a clock: a file system's timestamps may lag ``time.time()`` by milliseconds.
    """
    return {p: file_stamp(p) for folder in folders if Path(folder).is_dir() for p in Path(folder).rglob("*") if p.is_file()}


def written_since(folders: Sequence[Path], before: dict[Path, tuple[int, int, int] | None]) -> list[Path]:
    """The files under ``folders`` that are new or changed since ``before`` (a :func:`file_stamps`), sorted."""
    return sorted(p for p, stamp in file_stamps(folders).items() if before.get(p) != stamp)


def read_json(path: Path) -> dict:
    """A JSON object from ``path`` ({} when the file is missing); a damaged file is a ValueError naming it."""
    if not path.is_file():
        return {}
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not readable JSON: {exc}") from None
    return value if isinstance(value, dict) else {}


@dataclass
class TrainPlan:
    """One training run: what to train, where its checkpoints go and what it finally writes."""

    family: Any  # genlib.families.Family
    model_config: Any
    train_config: Any
    out: Path  # the file the run finally writes
    work: Path  # where full, resumable checkpoints go while training (== out unless out is protected)
    slim: bool  # the final file holds weights only
    resume: Path | None = None
    overwrite_shipped: bool = False

    @classmethod
    def make(cls, family: Any, model_config: Any, train_config: Any, out: Path, *, slim: bool, resume: Path | None = None,
             overwrite_shipped: bool = False, protect: bool = False) -> "TrainPlan":
        """A plan whose work path is ``out``, or ``runs/<out's name>`` when ``out`` is shipped or ``protect`` is set,
        or ``<out>.partial.safetensors`` when that path is a file this run does not continue: an existing
        model is replaced only by a finished run, never by an interrupted one.

        Raises:
            ValueError: ``out`` (or the work path) is shipped and ``overwrite_shipped`` is not set, or
                cannot be written (see :func:`genlib.atomic.check_output`).
        """
        out = Path(out)
        work = Path("runs") / out.name if protect or is_shipped(out) else out
        if work.exists() and (resume is None or not work.samefile(resume)):
            work = work.with_name(f"{work.stem}.partial{work.suffix}")
        paths = {work: "the run's checkpoint", out: "--out"}  # out last: its label wins when work == out
        for path in paths:
            check_not_shipped(path, overwrite_shipped)
        fields = flat_fields(train_config)
        snapshots = Path(fields["snapshot_dir"]) if fields.get("snapshot_every") and fields.get("snapshot_dir") else None
        if snapshots is not None and snapshots.exists():  # the CGAN's snapshot figures would replace shipped ones
            check_not_shipped(snapshots, overwrite_shipped)
        for path, label in paths.items():
            check_output(path, label, ".safetensors" if path == out else None)
        return cls(family, model_config, train_config, out, work, slim, Path(resume) if resume else None, overwrite_shipped)

    @property
    def needs_final_write(self) -> bool:
        return self.slim or self.work != self.out

    def resume_command(self, last: Path) -> str:
        """The exact ``genlib train`` command that continues this run from the checkpoint ``last``."""
        argv = ["genlib", "train", self.family.name, "--resume", str(last)]
        stored_epochs = read_meta(last).train_config.get("epochs")
        if stored_epochs != self.train_config.epochs:
            argv += ["--epochs", str(self.train_config.epochs)]
        if self.out != last:
            argv += ["--out", str(self.out)]
        if self.slim:
            argv.append("--slim")
        if self.overwrite_shipped and is_shipped(self.out):
            argv.append(SHIPPED_FLAG)
        return shlex.join(argv)


@dataclass
class RunOutcome:
    """What :func:`run_plan` did: the training result, the file it wrote last and whether training finished."""

    result: Any  # genlib.training.TrainResult
    written: Path
    finished: bool


def run_plan(plan: TrainPlan, *, data: Any = None, max_steps: int | None = None, save_every: int = 0,
             progress: bool = True, callback: Callable[[Any], None] | None = None) -> RunOutcome:
    """Train as planned: full checkpoints at ``plan.work``; when finished, the final file at ``plan.out``.

    Raises:
        RuntimeError: training ran but wrote no checkpoint.
        KeyboardInterrupt: passed on; :func:`interrupted_message` says where the last checkpoint is.
    """
    before = file_stamp(plan.work)
    result = plan.family.train(
        plan.model_config, plan.train_config, data=data, out=plan.work, resume=plan.resume, max_steps=max_steps,
        save_every=save_every, slim=False, progress=progress, callback=callback,
    )
    if file_stamp(plan.work) in (None, before):
        raise RuntimeError(f"training stopped at epoch {result.state.epoch}, step {result.state.step} without writing {plan.work}")
    finished = result.state.epoch >= plan.train_config.epochs
    if finished and plan.needs_final_write:
        if not is_main_process():  # under torchrun process 0 writes the final file
            return RunOutcome(result, plan.out, True)
        kept = plan.family.slim_modules(read_meta(plan.work).modules) if plan.slim else None  # e.g. only the EMA generator
        rewrite_checkpoint(plan.work, plan.out, slim=plan.slim, modules=kept)
        return RunOutcome(result, plan.out, True)
    return RunOutcome(result, plan.work, finished)


def last_checkpoint(plan: TrainPlan, work_before: tuple[int, int, int] | None) -> Path | None:
    """The checkpoint to resume an interrupted run from: the work file if this run wrote it, else ``--resume``'s."""
    if file_stamp(plan.work) not in (None, work_before):
        return plan.work
    return plan.resume


def interrupted_message(plan: TrainPlan, work_before: tuple[int, int, int] | None) -> str:
    """One line for Ctrl-C: where the last checkpoint is and the command that resumes from it."""
    last = last_checkpoint(plan, work_before)
    if last is None:
        return "interrupted before the first checkpoint: no checkpoint was written"
    state = read_meta(last).state
    kept = f"; {plan.out} is unchanged" if plan.out != last and plan.out.exists() else ""
    return (f"interrupted: the last checkpoint is {last} (epoch {state.get('epoch', 0)}, step {state.get('step', 0)}){kept}; "
            f"resume with: {plan.resume_command(last)}")


def summary(outcome: RunOutcome, plan: TrainPlan) -> str:
    """The line ``genlib train`` prints after a run: what it wrote, and how far training got."""
    state = outcome.result.state
    last = outcome.result.history[-1] if outcome.result.history else {}
    metrics = ", ".join(f"{k}={v:.4g}" for k, v in last.items() if k != "epoch")
    kind = "slim" if plan.slim and outcome.finished else "full"
    line = (f"wrote {outcome.written} ({kind}) after {state.epoch} epochs / {state.step} steps "
            f"({state.seconds:.1f} s). {metrics}").rstrip()
    if not outcome.finished:
        line += f" Stopped by --max-steps before epoch {plan.train_config.epochs}; continue with: {plan.resume_command(outcome.written)}"
    elif plan.work != outcome.written:
        line += f" The full checkpoint stays at {plan.work}."
    return line
