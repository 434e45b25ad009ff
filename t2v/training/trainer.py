"""ONE Accelerate trainer for every model family; a recipe says what one step does."""
from __future__ import annotations

import json
import os
import shutil
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import torch

from ..config import Config, save_config
from ..errors import CheckpointError, T2VError
from .ema import EMA
from .registry import recipe_class

CKPT_PREFIX = "step_"


class NonFiniteLoss(T2VError):
    pass


def list_checkpoints(output_dir: Path) -> list[Path]:
    """Complete checkpoints (those with trainer_state.json), oldest first."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return []
    done = [p for p in root.iterdir() if p.name.startswith(CKPT_PREFIX) and (p / "trainer_state.json").is_file()]
    return sorted(done, key=lambda p: int(p.name[len(CKPT_PREFIX):]))


def resolve_resume(output_dir: Path, resume: str | None) -> Path | None:
    """`--resume` with no path = latest checkpoint in output_dir (None if there is none yet)."""
    if resume is None:
        return None
    if resume in ("", "latest"):
        ckpts = list_checkpoints(output_dir)
        return ckpts[-1] if ckpts else None
    p = Path(resume)
    if not (p / "trainer_state.json").is_file():
        raise CheckpointError(f"{p} is not a complete t2v checkpoint (no trainer_state.json); pass a checkpoints/step_N dir")
    return p


def _reset_single_process_state() -> None:
    """accelerate keeps one global state per process; in a single-process run (tests, notebooks) a second Trainer
    with other settings (e.g. mixed precision) needs it cleared first. Distributed state is left alone."""
    from accelerate.state import AcceleratorState, PartialState

    if PartialState._shared_state and PartialState().num_processes == 1:
        AcceleratorState._reset_state(reset_partial_state=True)


class Trainer:
    def __init__(self, cfg: Config, resume: str | None = None):
        from accelerate import Accelerator
        from accelerate.utils import DataLoaderConfiguration, DistributedDataParallelKwargs, set_seed

        self.cfg = cfg
        t = cfg.train
        if t.mixed_precision not in ("no", "fp16", "bf16"):
            raise T2VError(f"train.mixed_precision must be no, fp16 or bf16, got {t.mixed_precision!r}")
        if t.max_minutes < 0:
            raise T2VError(f"train.max_minutes must be >= 0 (0 = no limit), got {t.max_minutes}")
        if t.keep_last < 0:
            raise T2VError(f"train.keep_last must be >= 0 (0 = keep every checkpoint), got {t.keep_last}")
        self.out = Path(t.output_dir)
        trackers = []
        try:
            import tensorboard  # noqa: F401

            trackers = ["tensorboard"]
        except ImportError:
            pass
        # accelerate only picks the gloo (MULTI_CPU) backend when told cpu=True; `accelerate launch --multi_gpu`
        # on a machine without GPUs starts the processes but would leave each one alone otherwise.
        multi_cpu = int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available()
        _reset_single_process_state()
        self.acc = Accelerator(
            cpu=multi_cpu,
            mixed_precision=t.mixed_precision,
            gradient_accumulation_steps=t.grad_accum,
            log_with=trackers or None,
            project_dir=str(self.out),
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True),
            step_scheduler_with_optimizer=False,
            # GAN steps leave some parameters without gradients (frozen D in the G step, unused text heads)
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
        set_seed(t.seed, device_specific=True)
        self.resume_from = resolve_resume(self.out, resume)
        self.recipe = recipe_class(cfg.recipe)(cfg, self.acc)
        dataset = self.recipe.build_dataset()
        self.recipe.build(dataset)
        from ..data.loader import collate

        g = torch.Generator().manual_seed(t.seed)
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=cfg.data.batch_size,
            shuffle=True,
            drop_last=True,
            num_workers=cfg.data.num_workers,
            generator=g,
            persistent_workers=cfg.data.num_workers > 0,
            collate_fn=collate,  # a batch gathered by CaptionedDataset.__getitems__ passes through; else default
        )
        # CaptionedDataset(defer_pixels=True): workers send memmap rows, this process reads the pixels
        self._load_pixels = getattr(dataset, "load_pixels", None)
        if len(loader) == 0:
            raise T2VError(f"dataset has {len(dataset)} items, fewer than one batch of {cfg.data.batch_size}")
        names, opt_names, sched_names = list(self.recipe.nets), list(self.recipe.opts), list(self.recipe.scheds)
        prepared = self.acc.prepare(
            *self.recipe.nets.values(), *self.recipe.opts.values(), *self.recipe.scheds.values(), loader
        )
        n1, n2 = len(names), len(names) + len(opt_names)
        self.recipe.nets = dict(zip(names, prepared[:n1]))
        self.recipe.opts = dict(zip(opt_names, prepared[n1:n2]))
        self.recipe.scheds = dict(zip(sched_names, prepared[n2:-1]))
        self.loader = prepared[-1]
        self.emas = (
            {n: EMA(self.recipe.unwrap(n), t.ema_decay) for n in self.recipe.ema_nets} if t.ema_decay > 0 else {}
        )
        self.step = 0

    # --- checkpoints ----------------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """save_state into a temp dir, then rename (atomic), then keep the last k."""
        from safetensors.torch import save_file

        root = self.out / "checkpoints"
        final = root / f"{CKPT_PREFIX}{self.step:08d}"
        tmp = root / f".tmp_{CKPT_PREFIX}{self.step:08d}"
        if self.acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.acc.wait_for_everyone()
        self.acc.save_state(str(tmp), safe_serialization=True)
        self.acc.wait_for_everyone()  # every process has written its part (RNG states) before tmp is renamed
        if self.acc.is_main_process:
            for name, ema in self.emas.items():
                save_file({k: v.detach().cpu().contiguous() for k, v in ema.state_dict().items()}, str(tmp / f"ema_{name}.safetensors"))
            (tmp / "trainer_state.json").write_text(json.dumps({"step": self.step, "recipe": self.cfg.recipe}))
            shutil.rmtree(final, ignore_errors=True)
            tmp.rename(final)
            keep = self.cfg.train.keep_last
            for old in list_checkpoints(self.out)[:-keep] if keep else []:  # 0 keeps them all
                shutil.rmtree(old, ignore_errors=True)
        self.acc.wait_for_everyone()
        return final

    def load_checkpoint(self, path: Path) -> None:
        from safetensors.torch import load_file

        from accelerate.utils import SCHEDULER_NAME

        missing = [f"{SCHEDULER_NAME}{f'_{i}' if i else ''}.bin" for i in range(len(self.recipe.scheds))]
        missing = [f for f in missing if not (path / f).is_file()]
        if missing and (path / "trainer_state.json").is_file():
            raise CheckpointError(f"cannot resume from {path}: it holds no learning-rate schedule ({missing[0]}) but "
                                  "this config has one (e.g. model.lr_decay_start < 1); resume with the run's own schedule")
        try:
            state = json.loads((path / "trainer_state.json").read_text())
            self.acc.load_state(str(path))
            for name, ema in self.emas.items():
                f = path / f"ema_{name}.safetensors"
                if f.is_file():
                    ema.load_state_dict(load_file(str(f)))
                else:  # a run trained without an EMA, resumed with one: the average starts at the resumed weights
                    warnings.warn(f"{path.name} has no EMA of {name}; train.ema_decay starts it from the resumed weights")
                    ema.update(self.recipe.unwrap(name), 0.0)
        except (OSError, RuntimeError, ValueError, KeyError) as e:
            raise CheckpointError(f"cannot resume from {path}: {str(e).splitlines()[0]}") from None
        self.step = int(state["step"])

    # --- loop -----------------------------------------------------------------------------------------------------
    def batches(self) -> Iterator[Any]:
        """Endless stream of micro-batches that continues where a resumed run left off; a deferred dataset's
        pixels (CaptionedDataset.load_pixels) are read here, in the training process, onto its device."""
        n = len(self.loader)
        epoch, skip = divmod(self.step * self.cfg.train.grad_accum, n)
        while True:
            self.loader.set_epoch(epoch)
            for batch in self.acc.skip_first_batches(self.loader, skip) if skip else self.loader:
                yield self._load_pixels(batch, self.acc.device) if self._load_pixels is not None else batch
            epoch, skip = epoch + 1, 0

    def _check_finite(self, logs: dict[str, torch.Tensor]) -> None:
        bad = torch.tensor(0.0, device=self.acc.device)
        for v in logs.values():
            bad = bad + (~torch.isfinite(v.detach().float())).any().float()
        if self.acc.reduce(bad, "sum").item() > 0:
            last = list_checkpoints(self.out)
            names = ", ".join(f"{k}={v.item():.4g}" for k, v in logs.items())
            where = f"last good checkpoint: {last[-1]}" if last else "no checkpoint was written yet"
            raise NonFiniteLoss(
                f"non-finite loss at step {self.step} ({names}); stopped, {where}; "
                "lower the learning rate or use train.mixed_precision=no"
            )

    def _trim_metrics(self) -> None:
        """Drop metrics.jsonl rows past the resumed step: the run that wrote them stopped before its next checkpoint,
        and these steps are about to be trained (and logged) again."""
        path = self.out / "metrics.jsonl"
        if not path.is_file():
            return
        lines = path.read_text().splitlines(keepends=True)
        keep = [line for line in lines if json.loads(line).get("step", 0) <= self.step]
        if len(keep) < len(lines):
            tmp = path.with_suffix(".jsonl.tmp")
            tmp.write_text("".join(keep))
            tmp.replace(path)

    def _log(self, logs: dict[str, torch.Tensor], steps: int, elapsed: float) -> dict[str, float]:
        means = {k: self.acc.reduce(v.detach().float().reshape(1), "mean").item() for k, v in logs.items()}
        means["steps_per_s"] = steps / max(elapsed, 1e-9)
        if self.acc.is_main_process:
            with open(self.out / "metrics.jsonl", "a") as f:
                f.write(json.dumps({"step": self.step, **means}) + "\n")
        self.acc.log(means, step=self.step)
        return means

    def _eval_nets(self) -> dict[str, torch.nn.Module]:
        nets = {n: self.recipe.unwrap(n) for n in self.recipe.nets}
        nets.update({n: e.model for n, e in self.emas.items()})
        return nets

    def _preview(self) -> None:
        """Previews are for looking at, not for training: one that fails (a missing video codec, a full disk) is
        reported in one line and the run goes on, so that it cannot cost the steps after it."""
        try:
            self.recipe.preview(self._eval_nets(), self.step, self.out / "samples")
        except Exception as e:  # noqa: BLE001 - any failure of a preview, by design
            msg = (str(e).splitlines() or [""])[0]
            print(f"warning: preview at step {self.step} failed ({type(e).__name__}: {msg}); training goes on",
                  file=sys.stderr)

    def _out_of_time(self, started: float) -> bool:
        """train.max_minutes reached; every process takes the main process's clock so that all stop at one step."""
        limit = self.cfg.train.max_minutes
        if limit <= 0:
            return False
        over = time.perf_counter() - started >= limit * 60.0
        if self.acc.num_processes == 1:
            return over
        return bool(self.acc.reduce(torch.tensor(float(over), device=self.acc.device), "max").item())

    def describe(self) -> str:
        a, t = self.acc, self.cfg.train
        per = self.cfg.data.batch_size
        return (
            f"t2v train: recipe {self.cfg.recipe}, {a.num_processes} process(es), device {a.device}, "
            f"mixed precision {a.mixed_precision}, effective batch {per * a.num_processes * t.grad_accum} "
            f"({per} per process x {a.num_processes} processes x {t.grad_accum} accumulation)"
        )

    def fit(self) -> Path | None:
        from tqdm.auto import tqdm

        t = self.cfg.train
        self.acc.print(self.describe())
        if self.resume_from is not None:  # before config.json is written: a resume that fails leaves the run as it was
            self.load_checkpoint(self.resume_from)
            self.acc.print(f"resumed from {self.resume_from} at step {self.step}")
            if self.acc.is_main_process:
                self._trim_metrics()
        if self.acc.is_main_process:
            self.out.mkdir(parents=True, exist_ok=True)
            save_config(self.cfg, self.out / "config.json")
        if self.acc.trackers == [] and self.acc.log_with:
            self.acc.init_trackers("t2v")
        nets = list(self.recipe.nets.values())
        bar = tqdm(total=t.max_steps, initial=self.step, disable=not self.acc.is_local_main_process, dynamic_ncols=True)
        batches = self.batches()
        tick, last_logged = time.perf_counter(), self.step
        started, stop_at = tick, t.max_steps
        while self.step < stop_at:
            for m in nets:
                m.train()
            logs: dict[str, torch.Tensor] = {}
            for _ in range(t.grad_accum):
                with self.acc.accumulate(*nets):
                    logs = self.recipe.train_step(next(batches), self.step)
            self._check_finite(logs)
            for name, ema in self.emas.items():
                ema.update(self.recipe.unwrap(name), 0.0 if self.step < t.ema_start else None)
            for s in self.recipe.scheds.values():
                s.step()
            self.step += 1
            bar.update(1)
            if self.step < stop_at and self._out_of_time(started):
                stop_at = self.step
                self.acc.print(f"train.max_minutes={t.max_minutes:g} reached at step {self.step}; checkpointing and exporting")
            if self.step % t.log_every == 0 or self.step == stop_at:
                means = self._log(logs, self.step - last_logged, time.perf_counter() - tick)
                bar.set_postfix({k: f"{v:.3g}" for k, v in means.items() if k != "steps_per_s"})
                tick, last_logged = time.perf_counter(), self.step
            if (t.checkpoint_every and self.step % t.checkpoint_every == 0) or self.step == stop_at:
                self.save_checkpoint()  # before the preview: a failing preview must not cost the steps since the last one
            if t.sample_every and self.step % t.sample_every == 0 and self.acc.is_main_process:
                self._preview()
        bar.close()
        final = None
        if self.acc.is_main_process:
            final = self.recipe.export(self._eval_nets(), self.out / "final")
            self.acc.print(f"exported {final}")
        self.acc.wait_for_everyone()
        self.acc.end_training()
        return final
