"""The training loop: AMP, EMA, cosine LR with warm-up, weight-decay groups, gradient clipping,
multi-scale batches, periodic COCO evaluation, resumable checkpoints, and DDP.

Data never leaves the device: the whole (shrunk) dataset sits in an
``ImageBank`` and batches are augmented there, so a fast GPU is not starved
by CPU loaders. Run under ``torchrun`` for several processes (NCCL on CUDA,
gloo on CPU).
"""

from __future__ import annotations

import copy
import io
import json
import math
import os
import random
import sys
import time
import zipfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from ..atomic_write import written_whole
from ..checkpoint import WeightsMeta, load_state_into, read_weights, save_weights, transfer_state
from ..errors import LiveDetError, ModelError
from ..evaluate import EvalSettings
from ..metrics import MapResult, compute_map
from ..models import ModelConfig, YoloDetector, build_model
from ..models.presets import PRESETS
from ..ops.boxes import decode_outputs
from ..ops.postprocess import apply_thresholds, select_candidates
from ..progress import print_above_bar
from .augment import AugmentConfig, ImageBank, blank_some, make_batch, mix_up
from .loss import DetectionLoss

CHECKPOINT_VERSION = 2  # 2: no generator states (each epoch is seeded from seed, rank and epoch)


@dataclass
class TrainConfig:
    """Everything that defines a run; stored in every checkpoint so ``--resume`` needs nothing else."""

    architecture: dict = field(default_factory=lambda: ModelConfig().to_dict())
    name: str = "yolo-mnv3-small"
    imgsz: int = 320  # training and evaluation side, pixels
    epochs: int = 100  # 0 = choose from --budget-min after measuring speed
    budget_min: float = 0.0  # GPU minutes to fill when epochs == 0
    batch: int = 64  # global batch (split across DDP processes)
    lr: float = 2e-3  # AdamW peak learning rate
    final_lr_ratio: float = 0.02  # cosine ends at lr * this
    weight_decay: float = 0.05
    warmup_epochs: float = 3.0
    close_mosaic: int = 10  # last epochs without mosaic (closer to test-time images)
    multiscale: float = 0.25  # each step's side: a multiple of 32 drawn from within imgsz * (1 +- this)
    grad_clip: float = 10.0
    ema_decay: float = 0.9998
    ema_tau: float = 1000.0  # EMA warm-up in steps
    seed: int = 0
    amp: bool = True  # bf16 autocast on CUDA
    eval_interval: int = 10  # epochs between evaluations (0 = only at the end)
    time_limit_min: float = 0.0  # stop (resumably) after this much wall time in this invocation
    pretrained_backbone: bool = False
    init_weights: str = ""  # start from these weights (fine-tuning) instead of random init
    augment: dict = field(default_factory=lambda: asdict(AugmentConfig()))
    data: dict = field(default_factory=dict)  # the data options (absolute paths), so --resume trains on the same

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


def _holds_a_pickle(path: Path) -> bool:
    """A zip as ``torch.save`` writes one: a folder holding ``data.pkl``."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") for name in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def read_checkpoint(path: str | Path, *, mmap: bool = False) -> dict:
    """A ``last.pt`` written by ``Trainer``; any failure is one ``LiveDetError`` line.

    ``mmap``: tensors stay on disk until touched (to read only the config).
    """
    path = Path(path)
    not_one = f"cannot resume from {path}: not a training checkpoint (resume from the last.pt in a run folder)"
    if path.is_dir():  # the run folder itself
        inside = path / "last.pt"
        raise LiveDetError(f"cannot resume from {path}: it is a folder; " + (
            f"resume from its checkpoint: --resume {inside}" if inside.is_file() else "it holds no last.pt"))
    if not path.is_file():
        raise LiveDetError(f"cannot resume from {path}: file not found")
    if not zipfile.is_zipfile(path) or not _holds_a_pickle(path):  # what torch.save writes; anything else (a .npz
        raise LiveDetError(not_one)  # pack is a zip too) failed in torch's words ("file in archive is not in a …")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as exc:
        reason = (str(exc).splitlines() or [""])[0]
        raise LiveDetError(f"cannot resume from {path}: {type(exc).__name__}: {reason}") from None
    if not isinstance(state, dict) or "config" not in state:
        raise LiveDetError(not_one)
    version = state.get("version", 1)
    if not isinstance(version, int) or version > CHECKPOINT_VERSION:
        raise LiveDetError(f"cannot resume from {path}: it was written by a newer LiveDet (checkpoint version {version}, "
                           f"this one reads up to {CHECKPOINT_VERSION}); update LiveDet to resume it")
    return state


def checkpoint_config(path: str | Path) -> TrainConfig:
    """The settings a checkpoint's run was started with (what ``--resume`` continues)."""
    return TrainConfig.from_json(read_checkpoint(path, mmap=True)["config"])


def checkpoint_classes(path: str | Path) -> tuple[str, ...]:
    """The class names a checkpoint's run learns, in the order of its output rows (() where it does not say)."""
    meta = read_checkpoint(path, mmap=True).get("meta")
    return WeightsMeta.from_json(meta, Path(path).name).class_names if isinstance(meta, str) else ()


class ModelEMA:
    """Exponential moving average of the weights, with a warm-up so early steps count."""

    def __init__(self, model: nn.Module, decay: float, tau: float) -> None:
        self.module = copy.deepcopy(model).eval()
        for p in self.module.parameters():
            p.requires_grad_(False)
        self.decay, self.tau, self.updates = decay, tau, 0  # a resumed run sets ``updates`` from its checkpoint

        # (float tensors, other tensors), each as (the average's, the model's), paired once
        self._pairs: tuple[tuple[list[torch.Tensor], list[torch.Tensor]], ...] | None = None

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay * (1 - math.exp(-self.updates / self.tau))
        if self._pairs is None:  # tensors are fixed for the run: pair them once
            ema_state, state = self.module.state_dict(), model.state_dict()
            floats = [k for k, v in state.items() if v.dtype.is_floating_point]
            others = [k for k, v in state.items() if not v.dtype.is_floating_point]
            self._pairs = ([ema_state[k] for k in floats], [state[k] for k in floats]), (
                [ema_state[k] for k in others], [state[k] for k in others])
        (ema_f, model_f), (ema_o, model_o) = self._pairs
        # one fused kernel per group instead of hundreds of tiny launches per step
        torch._foreach_lerp_(ema_f, model_f, 1 - d)
        for e, m in zip(ema_o, model_o):
            e.copy_(m)


def parameter_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Decay conv/linear weights only; BatchNorm and biases are not regularised."""
    decay, no_decay = [], []
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad:
                continue
            if name == "weight" and not isinstance(module, nn.modules.batchnorm._BatchNorm):
                decay.append(param)
            else:
                no_decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def warmup_steps(cfg: TrainConfig, steps_per_epoch: int, planned_epochs: int) -> int:
    """The warm-up's length: ``warmup_epochs``, but at most a third of the run as first planned, so a run
    shorter than ``warmup_epochs`` still decays (and a --budget-min run re-planned later keeps the warm-up it had)."""
    return max(1, min(int(cfg.warmup_epochs * steps_per_epoch), planned_epochs * steps_per_epoch // 3))


def learning_rate(cfg: TrainConfig, step: int, steps_per_epoch: int, epochs: int,
                  planned_epochs: int | None = None) -> float:
    """Linear warm-up, then cosine from ``lr`` down to ``lr * final_lr_ratio`` at the run's last step.

    ``planned_epochs``: the epoch count a --budget-min run first planned (None: ``epochs``), which fixes the
    warm-up's length; the cosine always spans the steps from its end to the last of ``epochs``."""
    total = max(1, epochs * steps_per_epoch)
    warmup = warmup_steps(cfg, steps_per_epoch, epochs if planned_epochs is None else planned_epochs)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = min(1.0, (step + 1 - warmup) / max(1, total - warmup))  # 1 at the last step: the final rate
    return cfg.lr * (cfg.final_lr_ratio + (1 - cfg.final_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def plan_epochs(budget_s: float, epoch_s: float, eval_s: float, eval_interval: int) -> int:
    """Whole epochs that fit ``budget_s`` seconds, each charged its share of the evaluations
    (one every ``eval_interval`` epochs); 0 when not even one fits."""
    evals_per_epoch = 1 / eval_interval if eval_interval else 0
    return max(0, int(budget_s / (epoch_s + eval_s * evals_per_epoch)))


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size())


_VAL = EvalSettings()  # ``detector val``'s thresholds


@torch.no_grad()
def evaluate_bank(
    model: YoloDetector, bank: ImageBank, imgsz: int, *, batch: int = 64, conf: float = _VAL.conf,
    iou: float = _VAL.iou, max_det: int = _VAL.max_det, amp: bool = True,
) -> MapResult:
    """COCO mAP of ``model`` on every image of ``bank``, letterboxed to ``imgsz`` on the device
    (in bfloat16 on a GPU, as the run trains, unless ``amp`` is off).

    Boxes are compared in the bank's (shrunk) image pixels: mAP does not depend on scale. Thresholds and
    scoring are ``detector val``'s; the pictures are not quite: the bank's images were shrunk when packed, and
    are letterboxed to a square on the device (sampled bilinearly, padding in fractions of a pixel), where
    ``val`` reads each file whole and letterboxes it with OpenCV to the next multiple of 32. The numbers
    differ a little (0.401 here for ``val``'s 0.396 on VOC): the model card quotes ``val``.
    """
    was_training = model.training
    model.eval()
    device = bank.device
    gen = torch.Generator(device=device).manual_seed(0)
    plain = AugmentConfig.none()
    ground_truth, predictions = [], []
    use_amp = amp and device.type == "cuda"
    for start in range(0, len(bank), batch):
        idx = torch.arange(start, min(start + batch, len(bank)), device=device)
        data = make_batch(bank, idx, imgsz, plain, gen, mosaic=False)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            raw = model(data.images)
        boxes, scores = decode_outputs([r.float() for r in raw], model.strides)
        host_boxes, host_scores = boxes.cpu().numpy(), scores.cpu().numpy()
        offsets, scales = data.offset.cpu().numpy(), data.scale.cpu().numpy()
        heights_widths = bank.sizes[idx].cpu().numpy()
        for j in range(len(idx)):
            kept = apply_thresholds(*select_candidates(host_boxes[j], host_scores[j], score_floor=conf, multi_label=True),
                                    conf=conf, iou=iou, max_det=max_det)
            height, width = heights_widths[j]  # clipped to the image, as `detector val` clips them
            b = ((kept[0] - np.tile(offsets[j], 2)) / scales[j]).clip(0, [width, height, width, height])
            predictions.append((b, kept[1], kept[2]))
            i = int(idx[j])
            valid = bank.labels[i] >= 0
            ground_truth.append((bank.boxes[i][valid].cpu().numpy(), bank.labels[i][valid].cpu().numpy()))
    model.train(was_training)
    return compute_map(ground_truth, predictions, bank.class_names, bank.ignored)  # scored as `detector val` does


def _require_same_architecture(meta: WeightsMeta | None, arch: ModelConfig, source: str) -> None:
    """Weights of another variant cannot start this one: say which ``--model`` they belong to."""
    if meta is None or meta.config.to_dict() | {"num_classes": 0} == arch.to_dict() | {"num_classes": 0}:
        return
    theirs = meta.config.to_dict() | {"num_classes": 0}
    preset = next((name for name, (config, _) in PRESETS.items() if config.to_dict() | {"num_classes": 0} == theirs),
                  None)
    hint = f"add --model {preset}" if preset else "train that architecture to start from it"
    raise ModelError(f"{source} holds a {meta.config.backbone} model (neck {meta.config.neck_width}) and this run "
                     f"builds a {arch.backbone} one (neck {arch.neck_width}): {hint}")


class Trainer:
    """One training run. ``fit()`` returns a summary dict; state lives in ``output_dir``."""

    def __init__(
        self,
        cfg: TrainConfig,
        train_bank: ImageBank,
        val_bank: ImageBank | None,
        output_dir: str | Path,
        *,
        device: torch.device,
        resume: str | Path | None = None,
        log=None,
        progress: bool = False,
    ) -> None:
        checkpoint = read_checkpoint(Path(resume)) if resume else None
        if checkpoint is not None:
            # the run's definition (architecture, size, recipe) comes from the checkpoint; new are the
            # per-invocation time limit and the data options this invocation used (the checkpoint's, where it
            # gave none), so that the next resume goes on with the same images
            saved_cfg = TrainConfig.from_json(checkpoint["config"])
            saved_cfg.time_limit_min = cfg.time_limit_min
            saved_cfg.data = cfg.data or saved_cfg.data
            cfg = saved_cfg
        self.cfg = cfg
        self.device = device
        self.dist = init_distributed(device)
        self.train_bank, self.val_bank = train_bank, val_bank
        self.class_names = train_bank.class_names
        self.output_dir = Path(output_dir)
        # above the progress bar in a terminal (each epoch's line was glued onto it), else plain; a line that cannot
        # be written (a full disk behind 2>log) is dropped, not fatal
        self.log = log or print_above_bar
        self.progress = progress and self.dist.main

        arch = ModelConfig.from_dict({**cfg.architecture, "num_classes": len(self.class_names)})
        cfg.architecture = arch.to_dict()
        torch.manual_seed(cfg.seed)
        # resumed: the checkpoint's weights replace any, so nothing is downloaded (it failed without a network)
        self.model = build_model(arch, pretrained_backbone=cfg.pretrained_backbone and not resume)
        if cfg.init_weights and not resume:
            state, meta = read_weights(cfg.init_weights)
            source = Path(cfg.init_weights).name
            _require_same_architecture(meta, arch, source)
            note = transfer_state(self.model, state, source, known_classes=meta.class_names if meta else None,
                                  classes=self.class_names)
            if self.dist.main:
                self.log(note)
        self.model = self.model.to(device)
        self.channels_last = device.type == "cuda"
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.AdamW(
            parameter_groups(self.model, cfg.weight_decay), lr=cfg.lr, betas=(0.9, 0.999), fused=device.type == "cuda"
        )
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # a handful of input sizes, each tuned once
        self.ema = ModelEMA(self.model, cfg.ema_decay, cfg.ema_tau)
        self.loss_fn = DetectionLoss(self.model.strides)
        self.epoch = 0  # epochs trained (counted before the epoch's evaluation and save)
        self.epochs_saved = 0  # the epochs that last.pt holds: where a stopped run goes on from
        self.step = 0
        self.elapsed_s = 0.0  # training time across resumes
        self.best_map50 = -1.0
        self._replan_after: int | None = None  # the epoch after which a --budget-min run is re-planned
        self._probe_epoch_s = self._probe_eval_s = 0.0  # what the speed probe measured, for that re-plan
        self._planned_epochs: int | None = None  # a --budget-min run's first plan, which fixed its warm-up
        self.history: list[dict] = []
        self.cpu_rng = random.Random()  # augmentation draws; seeded at each epoch's start (_seed_epoch)
        self.gen = torch.Generator(device=device)
        self._seed_epoch()
        if checkpoint is not None:
            self._restore(checkpoint, Path(resume))
        self.ddp_model: nn.Module = self.model
        if self.dist.world > 1:
            self.ddp_model = nn.parallel.DistributedDataParallel(self.model, device_ids=[device.index] if device.type == "cuda" else None)

    # ---- checkpoints ---------------------------------------------------------------------
    def _meta(self, extra: dict | None = None) -> WeightsMeta:
        return WeightsMeta(ModelConfig.from_dict(self.cfg.architecture), tuple(self.class_names), self.cfg.imgsz, extra or {})

    def _save(self, path: Path) -> None:
        state = {
            "version": CHECKPOINT_VERSION,
            "config": self.cfg.to_json(),
            "meta": self._meta().to_json(),
            "model": self.model.state_dict(),
            "ema": self.ema.module.state_dict(),
            "ema_updates": self.ema.updates,
            "optimizer": self.optimizer.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "elapsed_s": self.elapsed_s,
            "best_map50": self.best_map50,
            "history": json.dumps(self.history),
            # a --budget-min run stopped before its re-plan must still re-plan when resumed
            "budget_plan": json.dumps({"replan_after": self._replan_after,
                                       "probe_epoch_s": self._probe_epoch_s, "probe_eval_s": self._probe_eval_s,
                                       "planned_epochs": self._planned_epochs}),
        }
        buffer = io.BytesIO()  # torch.save into a file says "unexpected pos" on a full disk, not "No space left"
        torch.save(state, buffer)
        with written_whole(path) as part:  # never leave a half-written checkpoint behind
            part.write_bytes(buffer.getbuffer())

    @contextmanager
    def _disk_problems_said(self) -> Iterator[None]:
        """A full disk (or a folder taken away) while saving ends the run with what to do, not a traceback."""
        try:
            yield
        except OSError as exc:
            last = self.output_dir / "last.pt"
            kept = (f"; {last} holds the last epoch saved: make room, then go on with --resume {last}"
                    if last.is_file() else "")
            raise LiveDetError(f"cannot save the run in {self.output_dir}: {exc.strerror or exc}{kept}") from None

    def _restore(self, state: dict, path: Path) -> None:
        load_state_into(self.model, state["model"], path.name)
        load_state_into(self.ema.module, state["ema"], path.name)
        self.ema.updates = int(state["ema_updates"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.epochs_saved = self.epoch
        self.elapsed_s = float(state["elapsed_s"])
        self.best_map50 = float(state["best_map50"])
        self.history = json.loads(state["history"])
        plan = json.loads(state.get("budget_plan", "{}"))  # older checkpoints have none
        if plan.get("replan_after") is not None:
            self._replan_after = int(plan["replan_after"])
            self._probe_epoch_s, self._probe_eval_s = float(plan["probe_epoch_s"]), float(plan["probe_eval_s"])
            self._planned_epochs = plan.get("planned_epochs")  # checkpoints before it: the warm-up of cfg.epochs
        if self.dist.main:
            self.log(f"resumed {path} at epoch {self.epoch}, step {self.step}, {self.elapsed_s / 60:.1f} min trained")

    def _export_best(self, result: MapResult) -> None:
        extra = {"epoch": self.epoch, "metrics": {"map50": round(result.map50, 4), "map50_95": round(result.map50_95, 4)}}
        save_weights(self.output_dir / "best.safetensors", self.ema.module, self._meta(extra))

    # ---- the loop ------------------------------------------------------------------------
    def _seed_epoch(self) -> None:
        """Seed this process's augmentation draws from (seed, rank, epoch) alone.

        Why: a resumed run then draws exactly what the uninterrupted run drew, on every process (only
        rank 0 writes ``last.pt``, so a saved generator state would give every rank rank 0's draws), and
        the ``--budget-min`` speed probe's draws leave no trace on the run.
        """
        seed = self.cfg.seed + 1000 * self.dist.rank + 1_000_003 * self.epoch
        self.cpu_rng.seed(seed)
        self.gen.manual_seed(seed)

    def _step_sizes(self) -> list[int]:
        """Every side a multi-scale step may use: the multiples of 32 within imgsz * (1 ± multiscale), never
        below 64 unless imgsz is (320 ± 25 %: 256-384, centred on 320)."""
        if self.cfg.multiscale <= 0:
            return [self.cfg.imgsz]
        # (less a hair: 320 * (1 - 0.7) is 96.00000000000001 in floating point, and ceil made it 128)
        lo = max(min(64, self.cfg.imgsz), math.ceil(self.cfg.imgsz * (1 - self.cfg.multiscale) / 32 - 1e-9) * 32)
        hi = int(self.cfg.imgsz * (1 + self.cfg.multiscale)) // 32 * 32
        return list(range(lo, hi + 1, 32))

    def _train_step(
        self, indices: torch.Tensor, mosaic: bool, epochs: int, steps_per_epoch: int, size: int | None = None
    ) -> dict[str, torch.Tensor]:
        cfg = self.cfg
        size = size or self.cpu_rng.choice(self._step_sizes())
        augment = AugmentConfig(**cfg.augment)
        use_mosaic = mosaic and self.cpu_rng.random() < augment.mosaic
        batch = make_batch(self.train_bank, indices, size, augment, self.gen, mosaic=use_mosaic)
        if use_mosaic and augment.mixup and self.cpu_rng.random() < augment.mixup:
            batch = mix_up(batch, self.gen)
        if augment.blank:  # drawn only when asked: runs without it stay the runs they were
            batch = blank_some(batch, augment.blank, self.gen)
        images = batch.images
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        lr = learning_rate(cfg, self.step, steps_per_epoch, epochs, self._planned_epochs)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=cfg.amp and self.device.type == "cuda"):
            raw = self.ddp_model(images)
        loss, parts = self.loss_fn(raw, batch.boxes, batch.labels)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.ema.update(self.model)
        self.step += 1
        return {"loss": loss.detach(), "box": parts["box"], "cls": parts["cls"], "lr": torch.tensor(lr)}

    def _measure_epochs(self, steps_per_epoch: int) -> int:
        """Fill ``budget_min`` of training time: time a few steps, then fix the epoch count
        (re-planned by ``_replan`` once the warm-up epochs have been timed)."""
        started = time.perf_counter()
        probe = 12
        order = torch.randperm(len(self.train_bank), generator=torch.Generator().manual_seed(self.cfg.seed))
        state = copy.deepcopy(self.model.state_dict()), copy.deepcopy(self.optimizer.state_dict())
        per_rank = self.cfg.batch // self.dist.world
        sizes = self._step_sizes()
        # warm-up first: every input size and both batch kinds once, so kernel selection
        # (cudnn.benchmark) and first-call compilation are not counted as training speed
        warmup = [(size, mosaic) for size in sizes for mosaic in (True, False)]
        for i in range(len(warmup) + probe):
            if i == len(warmup):
                if self.device.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
            idx = order[(i * per_rank) % max(1, len(order) - per_rank):][:per_rank]
            size, mosaic = warmup[i] if i < len(warmup) else (None, True)
            self._train_step(idx, mosaic, 1000, steps_per_epoch, size=size)
        if self.device.type == "cuda":
            torch.cuda.synchronize()
        step_s = (time.perf_counter() - t0) / probe
        # undo the probe so the run starts from its seeded initial state
        self.model.load_state_dict(state[0])
        self.optimizer.load_state_dict(state[1])
        self.ema = ModelEMA(self.model, self.cfg.ema_decay, self.cfg.ema_tau)
        self.step = 0
        eval_s = 0.0
        if self.val_bank is not None:
            # on a GPU the first evaluation pays for kernel selection at the val sizes: time the second
            # (the H100's first took 10.9 s, its evaluations in the run 3-4 s)
            for _ in range(2 if self.device.type == "cuda" else 1):
                t0 = time.perf_counter()
                evaluate_bank(self.ema.module, self.val_bank, self.cfg.imgsz, batch=self.cfg.batch, amp=self.cfg.amp)
                eval_s = time.perf_counter() - t0
        epoch_s = step_s * steps_per_epoch
        self._probe_epoch_s, self._probe_eval_s = epoch_s, eval_s
        epochs = self._same_on_every_rank(plan_epochs(self.cfg.budget_min * 60, epoch_s, eval_s, self.cfg.eval_interval))
        short = " (the budget is shorter than one epoch: one is run)" if epochs < 1 else ""
        epochs = max(1, epochs)
        self.log(f"speed probe: {step_s * 1000:.0f} ms/step, {epoch_s:.1f} s/epoch, eval {eval_s:.1f} s, "
                 f"probe {time.perf_counter() - started:.0f} s -> {epochs} epoch{'s' if epochs > 1 else ''}{short}")
        return epochs

    def _on_any_rank(self, flag: bool) -> bool:
        """Whether ``flag`` holds on any rank, known to every rank."""
        if self.dist.world == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item())

    def _same_on_every_rank(self, value: int) -> int:
        """Rank 0's ``value`` on every rank: all ranks must run the same schedule."""
        if self.dist.world == 1:
            return value
        t = torch.tensor([value], device=self.device if self.device.type == "cuda" else "cpu")
        dist.broadcast(t, 0)
        return int(t.item())

    def _replan(self, epoch_seconds: list[float], steps_per_epoch: int, bar) -> None:
        """Fit a ``--budget-min`` run to the epochs' measured speed once the warm-up is over, before the
        cosine decay starts: a dozen probe steps misjudge it (on an H100 the probe said 80 ms a step, and
        the epochs then ran at 61-70 ms: a 4-minute budget trained 3 minutes)."""
        cfg = self.cfg
        epoch_s = sum(epoch_seconds) / len(epoch_seconds)
        left = plan_epochs(cfg.budget_min * 60 - self.elapsed_s, epoch_s, self._probe_eval_s, cfg.eval_interval)
        epochs = self._same_on_every_rank(self.epoch + max(1, left))
        if epochs != cfg.epochs:
            if self.dist.main:
                self.log(f"re-planned after {self.epoch} epoch{'s' if self.epoch > 1 else ''}: {epoch_s:.1f} s/epoch "
                         f"measured (the probe said {self._probe_epoch_s:.1f}) -> {epochs} epochs instead of {cfg.epochs}")
            cfg.epochs = epochs
            if bar is not None:
                bar.total = epochs * steps_per_epoch
                bar.refresh()

    def _epochs(self, steps_per_epoch: int, bar) -> bool:
        """The epochs left, each saved to ``last.pt`` as it ends; True when the time limit stopped them early."""
        cfg = self.cfg
        n = len(self.train_bank)
        per_rank = cfg.batch // self.dist.world
        start_time = invocation_start = time.perf_counter()
        epoch_seconds: list[float] = []  # this invocation's epochs, evaluations left out
        while self.epoch < cfg.epochs:
            epoch_start = time.perf_counter()
            self._seed_epoch()
            replan_pending = self._replan_after is not None and self.epoch < self._replan_after < cfg.epochs
            # the probe's plan may put its first epochs among the last --close-mosaic ones: not final yet
            mosaic = self.epoch < cfg.epochs - cfg.close_mosaic or replan_pending
            order = torch.randperm(n, generator=torch.Generator().manual_seed(cfg.seed * 100003 + self.epoch))
            sums: dict[str, torch.Tensor] = {}
            for s in range(steps_per_epoch):
                global_batch = order[s * cfg.batch : (s + 1) * cfg.batch]
                indices = global_batch[self.dist.rank :: self.dist.world][:per_rank]
                parts = self._train_step(indices, mosaic, cfg.epochs, steps_per_epoch)
                for k, v in parts.items():
                    sums[k] = sums.get(k, 0) + v
                if bar is not None:
                    bar.update(1)
            self.epoch += 1
            epoch_s = time.perf_counter() - epoch_start
            epoch_seconds.append(epoch_s)
            record = {k: round(float(v) / steps_per_epoch, 5) for k, v in sums.items()}
            if self._on_any_rank(not math.isfinite(record["loss"])):  # said and stopped before its weights replace
                # the last good ones: it trained on to "finished": true, "final_loss": NaN, and weights that every
                # later command refused (every rank stops: one stopping alone left the others waiting for it)
                loss = record["loss"] if not math.isfinite(record["loss"]) else "not finite on another process"
                raise LiveDetError(f"training diverged: the loss was {loss} in epoch {self.epoch}; "
                                   f"{self._diverged_hint()}")
            images = steps_per_epoch * min(cfg.batch, n)  # a batch larger than the data takes each image once
            record.update(epoch=self.epoch, images_per_s=round(images / epoch_s, 1), mosaic=mosaic)
            last = self.epoch == cfg.epochs
            if self.dist.main and self.val_bank is not None and (last or (cfg.eval_interval and self.epoch % cfg.eval_interval == 0)):
                result = evaluate_bank(self.ema.module, self.val_bank, cfg.imgsz, batch=cfg.batch, amp=cfg.amp)
                record.update(map50=round(result.map50, 4), map50_95=round(result.map50_95, 4))
                if result.map50 > self.best_map50:
                    self.best_map50 = result.map50
                    with self._disk_problems_said():
                        self._export_best(result)
            now = time.perf_counter()
            self.elapsed_s += now - start_time
            start_time = now
            record["elapsed_min"] = round(self.elapsed_s / 60, 2)
            self.history.append(record)
            if self.dist.main:
                self.log(json.dumps(record))
            if self.epoch == self._replan_after and self.epoch < cfg.epochs:  # before the save: a resume keeps it
                self._replan(epoch_seconds, steps_per_epoch, bar)
            if self.dist.main:
                with self._disk_problems_said():
                    self._save(self.output_dir / "last.pt")
                    with open(self.output_dir / "history.jsonl", "a", encoding="utf-8") as f:
                        f.write(json.dumps(record) + "\n")
            self.epochs_saved = self.epoch
            if cfg.time_limit_min and self.epoch < cfg.epochs:
                # rank 0's clock decides for all: it alone evaluates, so its clock runs ahead, and a rank that
                # stopped alone left the others waiting for it (gloo: "Connection closed by peer")
                if self._same_on_every_rank(int((now - invocation_start) / 60 >= cfg.time_limit_min)):
                    return True
        return False

    def _diverged_hint(self) -> str:
        saved = (f"{self.output_dir / 'last.pt'} holds epoch {self.epochs_saved}, the last before it; "
                 if self.epochs_saved else "")
        return (f"{saved}a new run with a lower --lr than {self.cfg.lr:g} may keep it stable (--resume keeps the "
                "run's own)")

    def fit(self) -> dict:
        """Train for the configured epochs (or the time budget), validating every ``eval_interval``
        epochs and keeping ``best`` by val mAP50; returns the run's summary (the CLI's JSON line)."""
        cfg = self.cfg
        if self.dist.main:  # only rank 0 writes
            self.output_dir.mkdir(parents=True, exist_ok=True)
        n = len(self.train_bank)
        per_rank = cfg.batch // self.dist.world
        if per_rank < 1:
            raise LiveDetError(f"--batch {cfg.batch} is smaller than the number of processes ({self.dist.world})")
        steps_per_epoch = max(1, n // cfg.batch)
        if cfg.epochs <= 0:
            if cfg.budget_min <= 0:
                raise LiveDetError("give --epochs N, or --epochs 0 with --budget-min M")
            cfg.epochs = self._planned_epochs = self._measure_epochs(steps_per_epoch)
            # re-planned by the end of the warm-up, before the cosine (which spans the epochs planned) starts
            self._replan_after = max(1, warmup_steps(cfg, steps_per_epoch, cfg.epochs) // steps_per_epoch)
        # the schedule is counted in steps: a run resumed with another --max-images has other steps an epoch,
        # and its saved step would put the learning rate elsewhere than its epoch (0.00091 for 0.00166)
        self.step = self.epoch * steps_per_epoch
        if self.epoch >= cfg.epochs and self.dist.main:  # a finished run resumed: say why nothing happens
            weights = self.output_dir / ("best.safetensors" if (self.output_dir / "best.safetensors").is_file()
                                         else "last_ema.safetensors")
            self.log(f"nothing to train: the run had finished its {cfg.epochs} epoch{'s' if cfg.epochs > 1 else ''}; "
                     f"to train on from its weights, start a new run with --init-weights {weights}")
        bar = None
        if self.progress:
            from tqdm import tqdm

            bar = tqdm(total=cfg.epochs * steps_per_epoch, initial=self.step, unit="step", dynamic_ncols=True, file=sys.stderr)
        self.model.train()
        try:
            try:
                stopped_early = self._epochs(steps_per_epoch, bar)
            finally:  # also on Ctrl-C: the line after the bar starts on a line of its own
                if bar is not None:
                    bar.close()
            if self.dist.main:
                with self._disk_problems_said():
                    save_weights(self.output_dir / "last_ema.safetensors", self.ema.module,
                                 self._meta({"epoch": self.epoch}))
            if self.dist.world > 1 and dist.is_initialized():
                dist.barrier()  # the ranks leave together: rank 0 was still saving as the others exited
        finally:
            # the group is closed, as torch asks, also after an error or Ctrl-C: a rank that exited while another
            # still held its gloo connections was seen to end in SIGABRT (once, under load, at a --time-limit-min stop)
            if self.dist.world > 1 and dist.is_initialized():
                dist.destroy_process_group()
        final = self.history[-1] if self.history else {}
        return {
            "name": cfg.name,
            "epochs": self.epoch,
            "epochs_planned": cfg.epochs,
            "finished": not stopped_early,
            "elapsed_min": round(self.elapsed_s / 60, 2),
            "best_map50": round(self.best_map50, 4) if self.best_map50 >= 0 else None,
            "final_loss": final.get("loss"),
            "output_dir": str(self.output_dir),
            "world_size": self.dist.world,
            "batch": cfg.batch,
        }
