"""``python -m detector train``: arguments and the run itself (wired into detector.cli)."""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from ..classes import normalise_class_name
from ..datasets import NO_BOXES_HINT, DetectionDataset, dropped_boxes_warning, has_split, load_dataset, shared_images
from ..defaults import MAX_IMGSZ, is_input_size
from ..device import select_device
from ..errors import LiveDetError
from ..graceful_stop import interrupt_on_signals
from ..models.presets import PRESETS
from ..outputs import check_folder_can_be_made
from ..progress import say
from ..video import same_file
from .augment import AugmentConfig, ImageBank
from .pack import DecodedDataset, decode_dataset, load_pack
from .trainer import TrainConfig, Trainer, checkpoint_classes, checkpoint_config

CPU_BATCH = 16  # training memory grows with the batch; 64 images would need about 20 GB on a CPU (large@416)
OWN_VAL_SPLITS = ("val", "valid", "validation")  # the split of --data validated on, unless --val-data names a set
# Which images a run trains and validates on, with each option's default. A checkpoint records them, so that
# --resume goes on with the same images (it took the resuming command's, and without --val-data and --max-images
# repeated it trained on every image with no validation, without a word).
DATA_DEFAULTS = {"data": None, "images": None, "split": "train", "val_data": None, "val_images": None,
                 "val_split": "val", "max_images": 0, "cache_side": 0}
DATA_PATHS = ("data", "images", "val_data", "val_images")


def default_batch(device: torch.device) -> int:
    """The recipe's batch on a CUDA GPU; a smaller one elsewhere, so a laptop is not driven out of memory."""
    return TrainConfig().batch if device.type == "cuda" else CPU_BATCH


def add_train_arguments(parser: argparse.ArgumentParser) -> None:
    """``train``'s options, in groups; the defaults are ``TrainConfig``'s, so the help and a run agree."""
    d = TrainConfig()
    data = parser.add_argument_group("data")
    data.add_argument("--data",
                      help="COCO .json (with --images) or folder (annotations/instances_SPLIT.json), YOLO data.yaml or "
                           "folder, VOC folder, or a .npz pack "
                           "(with --resume: the checkpoint's, unless given)")
    data.add_argument("--images", help="image folder for a COCO .json")
    data.add_argument("--split", default="train", help="split of a folder or data.yaml --data to train on (default: train)")
    data.add_argument("--val-data", help="validation set, same forms as --data (used to pick the best checkpoint; "
                                         "default: the 'val' split of --data when it has one)")
    data.add_argument("--val-images", help="image folder for a COCO validation .json")
    data.add_argument("--val-split", default="val", help="split of --val-data to validate on (default: val)")
    data.add_argument("--cache-side", type=int, default=0, help="long side of images kept in memory (default: the largest multi-scale step, at least 1.25 x "
                      "imgsz, rounded down to a multiple of 32)")
    data.add_argument("--max-images", type=int, default=0, help="use only the first N training images (quick checks)")
    model = parser.add_argument_group("model")
    model.add_argument("--model", default="yolo-mnv3-small", choices=sorted(PRESETS),
                       help="architecture preset (default: %(default)s)")
    model.add_argument("--imgsz", type=int, default=0, help="training side in pixels (default: the preset's)")
    model.add_argument("--init-weights", default="",
                       help="start from these weights instead of random init: a .safetensors/.pt file or a shipped "
                            "model's name (e.g. yolo-mnv3-small); trained for other classes, all but the class "
                            "layers carry over (fine-tuning on your own classes)")
    model.add_argument("--pretrained-backbone", action="store_true", help="start from torchvision ImageNet weights (downloads once, then cached)")
    run = parser.add_argument_group("schedule")
    run.add_argument("--epochs", type=int, default=d.epochs,
                     help="epochs to train (default: %(default)s); 0 = fill --budget-min, after a speed probe")
    run.add_argument("--budget-min", type=float, default=0.0, help="training minutes to fill when --epochs 0")
    run.add_argument("--batch", type=int, default=0,
                     help=f"images per step, all processes together (default: {d.batch} on a CUDA GPU, "
                          f"{CPU_BATCH} elsewhere: on the CPU yolo-mnv3-large@416 needs about 6.7 GB at 16 and 11 GB at 32)")
    run.add_argument("--lr", type=float, default=d.lr, help="AdamW peak learning rate, reached after the warm-up and "
                                                           "then cosine to 2 %% of it (default: %(default)s)")
    run.add_argument("--weight-decay", type=float, default=d.weight_decay,
                     help="AdamW weight decay, on weights only, not biases or norms (default: %(default)s)")
    run.add_argument("--ema-decay", type=float, default=d.ema_decay,
                     help="decay of the weights' moving average, which is what gets evaluated and published; "
                          "0 = the raw weights (default: %(default)s)")
    run.add_argument("--ema-tau", type=float, default=d.ema_tau,
                     help="steps over which the average's decay warms up to --ema-decay, so early steps count "
                          "(default: %(default)g)")
    run.add_argument("--warmup-epochs", type=float, default=d.warmup_epochs,
                     help="epochs of linear learning-rate warm-up (default: %(default)s)")
    run.add_argument("--close-mosaic", type=int, default=d.close_mosaic,
                     help="last N epochs without mosaic (default: %(default)s)")
    run.add_argument("--multiscale", type=float, default=d.multiscale,
                     help="+- fraction of imgsz per step, 0 = off (default: %(default)s)")
    run.add_argument("--no-augment", action="store_true", help="plain letterbox only (over-fitting checks)")
    run.add_argument("--zoom", type=float, nargs=2, metavar=("MIN", "MAX"), default=AugmentConfig().scale,
                     help="random zoom range (default: {} {})".format(*AugmentConfig().scale))
    run.add_argument("--mixup", type=float, default=AugmentConfig().mixup,
                     help="probability of blending each image of a mosaic batch with the next one in it, keeping "
                          "both images' boxes (default: %(default)s)")
    run.add_argument("--blank", type=float, default=AugmentConfig().blank,
                     help="probability that a training image is replaced by a plain, mostly dark frame without "
                          "boxes, so a black picture is not taken for an object (default: %(default)s)")
    run.add_argument("--eval-interval", type=int, default=d.eval_interval,
                     help="epochs between val mAP checks, which pick best.safetensors; 0 = only at the end "
                          "(default: %(default)s)")
    run.add_argument("--seed", type=int, default=d.seed, help="seed of the run: the same seed, the same run "
                                                               "(default: %(default)s)")
    run.add_argument("--no-amp", action="store_true", help="disable bf16 autocast on CUDA")
    run.add_argument("--time-limit-min", type=float, default=0.0, help="stop resumably after this many minutes")
    run.add_argument("--device", default="auto", help="auto, cpu, cuda[:N] or mps (default: auto: a GPU when there is one)")
    run.add_argument("--output", default="", help="run folder (default runs/train/<model>)")
    run.add_argument("--resume", default="",
                     help="continue from a last.pt: model, size, recipe and data come from it (data options given "
                          "here replace its own); output defaults to its folder")
    run.add_argument("--workers", type=int, default=min(8, os.cpu_count() or 1), help="threads for image decoding (default: %(default)s)")


# what a checkpoint defines, so that a resumed run is the run it was: given with --resume, they are ignored
RECIPE_OPTIONS = ("model", "imgsz", "init_weights", "pretrained_backbone", "epochs", "budget_min", "batch", "lr",
                  "weight_decay", "ema_decay", "ema_tau", "warmup_epochs", "close_mosaic", "multiscale", "no_augment",
                  "zoom", "mixup", "blank", "eval_interval", "seed", "no_amp")


def _is_no_augment(augment: dict) -> bool:
    """A checkpoint's augmentation settings (as saved, JSON) are --no-augment's; settings added since (--blank)
    take the values they have under --no-augment."""
    plain = json.loads(json.dumps(asdict(AugmentConfig.none())))
    return {**plain, **augment} == plain


def _plain(value):
    """An option's value as typed: ``--zoom 0.5 1.5`` is a list, its default a tuple."""
    return list(value) if isinstance(value, (list, tuple)) else value


def _train_parser_defaults() -> argparse.Namespace:
    """What ``train`` takes when an option is not given."""
    parser = argparse.ArgumentParser(add_help=False)
    add_train_arguments(parser)
    return parser.parse_args([])


def _recipe_options_given(args: argparse.Namespace, run: TrainConfig) -> list[str]:
    """The recipe options this command sets to other than their defaults and the resumed ``run``'s own
    values, as typed (``--epochs 3``)."""
    defaults = vars(_train_parser_defaults())
    augment = run.augment or {}
    agreed = {"model": run.name, "imgsz": run.imgsz, "epochs": run.epochs, "batch": run.batch, "lr": run.lr,
              "seed": run.seed, "eval_interval": run.eval_interval, "close_mosaic": run.close_mosaic,
              "budget_min": run.budget_min, "weight_decay": run.weight_decay, "warmup_epochs": run.warmup_epochs,
              "ema_decay": run.ema_decay, "ema_tau": run.ema_tau,
              "multiscale": run.multiscale, "pretrained_backbone": run.pretrained_backbone, "no_amp": not run.amp,
              "no_augment": _is_no_augment(augment),
              "zoom": _plain(augment.get("scale", ())),
              "mixup": augment.get("mixup"), "blank": augment.get("blank", 0.0)}  # the same command again, as the stop message says to run, is silent

    def same_as_run(key: str, value) -> bool:
        if key == "epochs" and value == 0 and run.budget_min:  # a --budget-min run's epochs, planned since
            return True
        if key == "init_weights":  # typed as a name or a path; the run keeps the file it was resolved to
            try:
                return Path(_init_weights_file(value)).resolve() == Path(run.init_weights).resolve()
            except (LiveDetError, OSError):
                return False
        return key in agreed and value == agreed[key]

    given = []
    for key in RECIPE_OPTIONS:
        value = _plain(getattr(args, key))
        if value != _plain(defaults[key]) and not same_as_run(key, value):
            flag = "--" + key.replace("_", "-")
            shown = "" if isinstance(value, bool) else " " + " ".join(f"{v:g}" if isinstance(v, float) else str(v)
                                                                       for v in (value if isinstance(value, list) else [value]))
            given.append(flag + shown)
    return given


def _say(message: str) -> None:
    if os.environ.get("RANK", "0") == "0":  # one voice under torchrun
        say(message)  # dropped when stderr cannot be written: a full disk behind 2>log must not stop training


AnySet = DetectionDataset | DecodedDataset  # an index of files and boxes, or a pack already decoded


def _read(spec: str, images: str | None, split: str, workers: int, max_images: int = 0, *,
          images_option: str = "--images") -> AnySet:
    """A pack is already decoded; any other dataset is read as an index of files and boxes. ``images_option``:
    the option that gives this set's images folder, named when a COCO file comes without it."""
    if spec.lower().endswith(".json") and images is None and Path(spec).is_file():
        raise LiveDetError(f"{spec} is a COCO file: give its images folder with {images_option} DIR")
    if images is not None and not spec.lower().endswith(".json"):  # it trained on the folder's own, unsaid
        raise LiveDetError(f"{images_option} goes with a COCO .json: {Path(spec).name} holds its own images "
                           f"(leave {images_option} out)")
    if spec.endswith(".npz"):
        data = load_pack(spec, workers=workers)
        if max_images:
            data = data.first(max_images)
        return data
    dataset = load_dataset(spec, images, split, on_skip=lambda problem: _say(f"warning: skipped: {problem}"))
    if warning := dropped_boxes_warning(dataset):
        _say(f"{warning} ({spec})")
    if max_images:
        dataset = DetectionDataset(dataset.records[:max_images], dataset.class_names, dataset.split)
    if len(dataset) == 0:
        raise LiveDetError(f"{spec}: no images" + (f" in its '{split}' split" if dataset.split else ""))
    return dataset


def _init_weights_file(value: str) -> str:
    """``--init-weights``: a checkpoint file, or the name of a model in the zoo (its verified weights)."""
    if not value:
        return ""
    path = Path(value)
    if path.suffix.lower() == ".onnx":
        raise LiveDetError(f"--init-weights needs a .safetensors or .pt checkpoint; {path.name} is an ONNX export, "
                           "which holds no trainable weights")
    if path.suffix.lower() in (".yaml", ".yml"):  # a manifest: its weights file is what is meant
        raise LiveDetError(f"--init-weights needs a .safetensors or .pt checkpoint; {path.name} is a manifest: give "
                           "the weights file it names, or the model's name")
    from ..zoo import list_models, verify_weights

    spec = None if path.is_file() else next((s for s in list_models() if s.name == value), None)
    if spec is None and path.suffix:  # checked now, not after minutes of decoding the images
        if not path.is_file():
            raise LiveDetError(f"--init-weights {value}: no such file")
        if path.suffix.lower() not in (".safetensors", ".pt", ".pth"):
            raise LiveDetError(f"--init-weights needs a .safetensors or .pt checkpoint, got {path.name}")
        return value
    if spec is None and path.is_file():
        return value
    if spec is None:
        known = ", ".join(s.name for s in list_models() if s.weights_available) or "none"
        raise LiveDetError(f"--init-weights {value}: no such file, nor a model with weights (known: {known})")
    return str(verify_weights(spec))


def _box_count(data: AnySet) -> int:
    return len(_all_labels(data))


def _all_labels(data: AnySet) -> np.ndarray:
    """Every box's class index in the set, one array."""
    labels = [r.labels for r in data.records] if isinstance(data, DetectionDataset) else data.labels
    return np.concatenate([np.zeros(0, np.int64), *(np.asarray(x, np.int64).reshape(-1) for x in labels)])


def _class_counts(data: AnySet) -> str:
    """``person 1032, car 345, …, sofa 0``: the classes read and their boxes, so that a class that came out
    empty, or a name read as two classes, is seen before minutes of training rather than after."""
    counts = np.bincount(_all_labels(data), minlength=len(data.class_names))
    return ", ".join(f"{name} {int(n)}" for name, n in zip(data.class_names, counts))


def _in_training_classes(val: AnySet, names: tuple[str, ...], *, which: str = "validation set",
                         whose: str = "training set", theirs: str = "training classes",
                         matched: str = "validation classes matched to the training classes") -> AnySet:
    """The validation set with its labels renumbered as the training classes of the same name (any case or
    spacing). Formats number classes their own way (VOC alphabetically, and only the classes its XML uses;
    YOLO as its data.yaml lists them), so one dataset in two formats is one set of classes in two orders.
    (Also a resumed run's new training set, renumbered as the run's classes: ``which``/``whose`` name them.)"""
    index = {normalise_class_name(name): i for i, name in enumerate(names)}
    new = np.array([index.get(normalise_class_name(name), -1) for name in val.class_names], np.int64)
    used = np.unique(_all_labels(val))
    unknown = [val.class_names[i] for i in used if new[i] < 0]
    if unknown:
        raise LiveDetError(f"the {which} has boxes of classes the {whose} does not name: {', '.join(unknown)} "
                           f"({theirs}: {', '.join(names)})")
    named = len({int(i) for i in new if i >= 0})
    _say(f"{matched} by name (the {which} names {named} of the {len(names)})")

    def renumbered(x: np.ndarray) -> np.ndarray:
        return new[np.asarray(x, np.int64)] if len(x) else np.asarray(x, np.int64)

    if isinstance(val, DetectionDataset):
        records = tuple(replace(r, labels=renumbered(r.labels), ignored_labels=renumbered(r.ignored_labels))
                        for r in val.records)
        return replace(val, records=records, class_names=names)
    return replace(val, labels=[renumbered(x) for x in val.labels],
                   ignored_labels=[renumbered(x) for x in val.ignored_labels], class_names=names)


def _training_sets(args: argparse.Namespace) -> tuple[AnySet, AnySet | None]:
    """The training set and the validation set: --val-data, else the 'val' split that --data holds itself."""
    for spec, option, split, default in ((args.data, "--split", args.split, "train"),
                                         (args.val_data, "--val-split", args.val_split, "val")):
        if spec and spec.lower().endswith((".json", ".npz")) and split != default:  # read whole, unsaid
            raise LiveDetError(f"{option} picks a split of a dataset folder or data.yaml; {Path(spec).name} is "
                               "one split already")
    train = _read(args.data, args.images, args.split, args.workers, args.max_images)
    if _box_count(train) == 0:  # it trained on backgrounds alone, said finished and scored mAP 0
        raise LiveDetError(f"{args.data}: its {len(train)} training image{'s' if len(train) > 1 else ''} hold no "
                           f"boxes, so there is nothing to learn {NO_BOXES_HINT}")
    val_spec, val_images, val_split = args.val_data, args.val_images, args.val_split
    own_split = None
    if not val_spec and args.split == "train" and not args.data.endswith((".json", ".npz")):
        # Roboflow's and Ultralytics' folders name it images/valid: it trained without validation, unsaid
        own_split = next((name for name in OWN_VAL_SPLITS if has_split(args.data, name)), None)
    if own_split:
        val_spec, val_images, val_split = args.data, None, own_split
    val = _read(val_spec, val_images, val_split, args.workers, images_option="--val-images") if val_spec else None
    if own_split:
        _say(f"validating on the '{own_split}' split of {args.data} ({len(val)} images); --val-data chooses "
             "another set")
    if val is not None and _box_count(val) == 0:
        _say(f"warning: the {len(val)} validation images hold no boxes, so every mAP will be 0 {NO_BOXES_HINT}")
    if isinstance(train, DetectionDataset) and isinstance(val, DetectionDataset):
        shared = shared_images(train, val)
        if shared:
            _say(f"warning: {shared} of the {len(val)} validation images are training images too: "
                 "the validation mAP will flatter the model and the best checkpoint is chosen on seen images")
    return train, val


def _decoded(data: AnySet, max_side: int, workers: int, *, imgsz: int, side_given: int, which: str) -> DecodedDataset:
    """``data`` decoded, each image shrunk to ``max_side``; a pack was shrunk when it was made, so say what of
    ``--cache-side`` and ``--imgsz`` it cannot honour (a 384 px pack trained at 640 was enlarged unsaid)."""
    if isinstance(data, DecodedDataset):
        if side_given and side_given != data.max_side:
            _say(f"note: --cache-side {side_given} does not change a .npz pack: the {which} pack's images were "
                 f"shrunk to {data.max_side} px when it was made")
        if data.max_side < imgsz:
            _say(f"warning: the {which} pack's images are at most {data.max_side} px, less than --imgsz {imgsz}: "
                 f"they are enlarged, blurred, to fit; make the pack again with --max-side {imgsz} or more")
        return data
    return decode_dataset(data, max_side=max_side, workers=workers, on_skip=lambda problem: _say(f"warning: skipped: {problem}"))


def _device_for_rank(requested: str) -> torch.device:
    device = select_device(requested)
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    return device


RUN_FILES = ("last.pt", "best.safetensors", "last_ema.safetensors", "history.jsonl")  # what a run leaves


def _data_record(args: argparse.Namespace) -> dict:
    """The data options of a new run, paths made absolute so a resume from another folder finds them."""
    record = {key: getattr(args, key) for key in DATA_DEFAULTS}
    for key in DATA_PATHS:
        if record[key]:
            record[key] = str(Path(record[key]).absolute())
    return record


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def _data_from_checkpoint(args: argparse.Namespace, saved: dict) -> list[str]:
    """Fill the data options this command left at their defaults from a resumed run's record; returns the
    options it gave itself, which stand. A checkpoint from before the record has none: the command's are used."""
    mine = _data_record(args)
    given = [_option(key) for key, default in DATA_DEFAULTS.items()
             if mine[key] != default and mine[key] != saved.get(key, default)]
    for key, default in DATA_DEFAULTS.items():
        if getattr(args, key) == default:
            setattr(args, key, saved.get(key, default))
    return given


def _carry_run_files(checkpoint: Path, folder: Path) -> None:
    """A run resumed into another folder takes its checkpoint, best weights and history along: that folder's
    best.safetensors and history.jsonl were missing (they stayed behind), while the summary pointed there."""
    if same_file(folder, checkpoint.parent) or os.environ.get("RANK", "0") != "0":
        return
    folder.mkdir(parents=True, exist_ok=True)
    # last.pt too, so that the folder is a whole run from the start: a stop before its first epoch leaves it
    # resumable, where it held a history and was refused as "holds a run" with a last.pt that did not exist
    shutil.copy2(checkpoint, folder / "last.pt")
    carried = [name for name in ("best.safetensors", "history.jsonl") if (checkpoint.parent / name).is_file()]
    for name in carried:
        shutil.copy2(checkpoint.parent / name, folder / name)
    _say(f"resuming into {folder}: {', '.join(['last.pt', *carried])} copied from {checkpoint.parent}")


def _run_folder(args: argparse.Namespace, name: str) -> Path:
    """Where this run writes: a resumed run's own folder; a new run never into an earlier run's files.

    Why: runs/train/<model> was reused by every run, so a second ``train`` overwrote the first
    one's weights (hours of GPU) and appended to its history. Like other trainers, a new default
    run goes to ``<model>-2``, ``-3``…; an explicit ``--output`` holding a run is refused.
    """
    own = Path(args.resume).parent if args.resume else None
    if own is not None and (not args.output or same_file(Path(args.output), own)):
        return own
    if args.output:  # a new run's folder, or a resumed run's new one (its earlier files are carried there)
        folder = Path(args.output)
        real = Path(os.path.realpath(folder))  # runs/r1/x/.. is runs/r1 once x is made: its run was overwritten
        if found := [f for f in RUN_FILES if (real / f).exists()]:
            go_on = (f"continue it with --resume {folder / 'last.pt'}" if "last.pt" in found
                     else "it holds no last.pt to resume from")  # its first save failed, or it was deleted
            raise LiveDetError(f"{folder} already holds a training run ({', '.join(found)}): {go_on}, "
                               "or choose another --output")
        return folder
    # Under torchrun every rank picks the same folder: they all look before DDP's first broadcast, and
    # rank 0 writes nothing until after it.
    base = Path("runs") / "train" / name
    folder, n = base, 1
    while any((folder / f).exists() for f in RUN_FILES):
        n += 1
        folder = base.with_name(f"{name}-{n}")
    if folder != base and os.environ.get("RANK", "0") == "0":
        say(f"writing to {folder} ({base} holds an earlier run)")
    return folder


def _say_how_to_continue(output: Path, epochs_done: int, epochs: int) -> None:
    """After Ctrl-C (SIGTERM, SIGHUP): where the run stopped and how to go on from its last finished epoch (rank 0 only).

    Why: the training's only message was ``error: interrupted``; the next command was left to be guessed.
    """
    if os.environ.get("RANK", "0") != "0":
        return
    checkpoint = output / "last.pt"
    # epochs_done: those saved (an epoch being evaluated or saved is not one: it said "epoch 3 of 3" with 1 saved)
    where = (f"stopped in epoch {min(epochs_done + 1, epochs)} of {epochs}" if epochs
             else "stopped while timing the first steps for --budget-min")  # ("epoch 1 of 0")
    if checkpoint.is_file() and epochs_done:
        say(f"{where}; epoch {epochs_done}, the last finished, is in {checkpoint}. To go on from there, run the same "
            f"train command with --resume {checkpoint}; to use its weights as they are, publish {checkpoint} "
            "(last_ema.safetensors is written when a run ends)")
    else:
        say(f"{where}: no epoch finished, so nothing was saved")


def _check_recipe(args: argparse.Namespace) -> None:
    """The recipe's numbers, each in its range (a negative --lr or --warmup-epochs trained on without a word)."""
    if args.batch < 0:
        raise LiveDetError(f"--batch must be at least 1, or 0 for the default, got {args.batch}")
    if args.epochs < 0:
        raise LiveDetError(f"--epochs must be at least 1, or 0 with --budget-min, got {args.epochs}")
    for option, value in (("--lr", args.lr), ("--weight-decay", args.weight_decay), ("--warmup-epochs", args.warmup_epochs),
                          ("--ema-decay", args.ema_decay), ("--ema-tau", args.ema_tau),
                          ("--multiscale", args.multiscale), ("--mixup", args.mixup), ("--blank", args.blank),
                          ("--zoom", max(args.zoom)),
                          ("--budget-min", args.budget_min), ("--time-limit-min", args.time_limit_min)):
        if not math.isfinite(value):  # --lr inf trained on: NaN weights, and a summary line that is not JSON
            raise LiveDetError(f"{option} must be a finite number, got {value:g}")
    if args.epochs == 0 and args.budget_min <= 0:
        raise LiveDetError("--epochs 0 needs --budget-min above 0: the minutes of training to fill")
    if not 0 <= args.seed < 2**32:  # --seed $(date +%s%N) overflowed torch's seed, after the data was decoded
        raise LiveDetError(f"--seed must be from 0 to {2**32 - 1}, got {args.seed}")
    if args.pretrained_backbone and args.init_weights:  # the ImageNet backbone was downloaded, then overwritten
        raise LiveDetError("--init-weights replaces every layer but the class layers, --pretrained-backbone's "
                           "ImageNet backbone included: give one of them")
    if args.no_augment:  # they were dropped without a word (what --no-augment sets anyway, typed, is no conflict)
        defaults, plain = vars(_train_parser_defaults()), AugmentConfig.none()
        as_no_augment = {"zoom": list(plain.scale), "mixup": plain.mixup, "blank": plain.blank, "multiscale": 0.0,
                         "close_mosaic": 0}
        dropped = [f"--{key.replace('_', '-')}" for key, same in as_no_augment.items()
                   if _plain(getattr(args, key)) not in (_plain(defaults[key]), same)]
        if dropped:
            raise LiveDetError(f"--no-augment trains on the images as they are, so {', '.join(dropped)} would do "
                               "nothing: drop one or the other")
    zoom_low, zoom_high = args.zoom
    if not 0 < zoom_low <= zoom_high or not 0 <= args.mixup <= 1 or not 0 <= args.blank <= 1:
        raise LiveDetError("need 0 < --zoom MIN <= MAX, and --mixup and --blank between 0 and 1")
    for option, value, fits, expected in (
        ("--lr", args.lr, args.lr > 0, "above 0"),
        ("--weight-decay", args.weight_decay, args.weight_decay >= 0, "0 or more"),
        ("--ema-decay", args.ema_decay, 0 <= args.ema_decay < 1, "from 0 (no average) to below 1"),
        ("--ema-tau", args.ema_tau, args.ema_tau > 0, "above 0"),
        ("--warmup-epochs", args.warmup_epochs, args.warmup_epochs >= 0, "0 or more"),
        ("--close-mosaic", args.close_mosaic, args.close_mosaic >= 0, "0 or more"),
        ("--multiscale", args.multiscale, 0 <= args.multiscale < 1, "from 0 (off) to below 1"),
        ("--eval-interval", args.eval_interval, args.eval_interval >= 0, "0 (only at the end) or more"),
        ("--budget-min", args.budget_min, args.budget_min >= 0, "0 or more"),
        ("--time-limit-min", args.time_limit_min, args.time_limit_min >= 0, "0 (none) or more"),
        ("--cache-side", args.cache_side, args.cache_side >= 0, "0 (the default) or more"),
        ("--max-images", args.max_images, args.max_images >= 0, "0 (all) or more"),
        ("--workers", args.workers, args.workers >= 1, "at least 1"),
    ):
        if not fits:
            raise LiveDetError(f"{option} must be {expected}, got {value:g}")


def run_train(args: argparse.Namespace) -> dict:
    """Check the arguments, read and decode the data, train; returns the run's summary (the JSON line).

    Everything a person can get wrong is checked before the minutes of decoding.
    """
    arch, preset_size = PRESETS[args.model]
    imgsz = args.imgsz or preset_size
    name = args.model
    if args.resume:  # the checkpoint defines the run: its model, size, folder and data, not this command's defaults
        resumed = checkpoint_config(args.resume)
        name, imgsz = resumed.name, resumed.imgsz
        given = _data_from_checkpoint(args, resumed.data)
        what = "model, size, recipe and data" if resumed.data else "model, size and recipe"
        instead = f" (its {', '.join(given)} replaced by this command's)" if resumed.data and given else ""
        # it said "this command adds only --time-limit-min" even after naming data options it took from the command
        _say(f"resuming {name} at {imgsz} px: {what} come from {args.resume}{instead}; from this command come "
             "only where it runs (--device, --workers, --output, --time-limit-min)"
             + (" and the data options named" if instead else ""))
        ignored = _recipe_options_given(args, resumed)
        if ignored:  # `--resume last.pt --epochs 300` reads as "train on to 300": it would not, so say so
            _say(f"warning: ignored with --resume (the checkpoint's recipe stands): {', '.join(ignored)}; to train "
                 "on with another recipe, start a new run with --init-weights from this one's weights")
    if args.data is None:
        raise LiveDetError("train needs --data: a COCO .json (with --images), a YOLO data.yaml or folder, a VOC "
                           "folder, or a .npz pack")
    if not is_input_size(imgsz):
        raise LiveDetError(f"--imgsz must be a positive multiple of 32, at most {MAX_IMGSZ}, got {imgsz}")
    _check_recipe(args)
    init_weights = _init_weights_file(args.init_weights)  # a wrong name fails before minutes of decoding
    if args.pretrained_backbone and not args.resume:  # so does a download that cannot happen (no network)
        from ..models.backbone import imagenet_weights

        imagenet_weights(arch.backbone)
    output = _run_folder(args, name)
    if os.environ.get("RANK", "0") == "0":  # told now, not after minutes of decoding ("File exists: /dev/full")
        check_folder_can_be_made(output)
    device = _device_for_rank(args.device)
    batch = args.batch or default_batch(device)
    # as large as the largest multi-scale step (1.25 x at the default --multiscale 0.25): --multiscale 0.5 drew steps
    # of 480 px from a 384-px cache, enlarged and blurred, without a word
    cache_side = args.cache_side or int(imgsz * max(1.25, 1 + args.multiscale)) // 32 * 32
    loading = time.perf_counter()
    train_set, val_set = _training_sets(args)
    trained = checkpoint_classes(args.resume) if args.resume else ()
    if trained and tuple(train_set.class_names) != trained:  # its output rows are these classes, in this order
        train_set = _in_training_classes(train_set, trained, which="training set", whose="resumed run",
                                         theirs="the run's classes",
                                         matched="the training set's classes matched to the resumed run's")
    if val_set is not None and val_set.class_names != train_set.class_names:  # known before any image is decoded
        val_set = _in_training_classes(val_set, train_set.class_names)
    train = _decoded(train_set, cache_side, args.workers, imgsz=imgsz, side_given=args.cache_side, which="training")
    runs_with = resumed.batch if args.resume else batch  # a resumed run keeps its checkpoint's batch
    if runs_with > len(train):  # the GPU default of 64 on a small dataset of one's own
        _say(f"note: --batch {runs_with} is more than the {len(train)} training images: each step takes all of them")
    val = (_decoded(val_set, cache_side, args.workers, imgsz=imgsz, side_given=args.cache_side, which="validation")
           if val_set is not None else None)
    augment = (AugmentConfig.none() if args.no_augment
               else AugmentConfig(scale=tuple(args.zoom), mixup=args.mixup, blank=args.blank))
    cfg = TrainConfig(
        architecture=arch.to_dict(),
        name=args.model,
        imgsz=imgsz,
        epochs=args.epochs,
        budget_min=args.budget_min,
        batch=batch,
        lr=args.lr,
        weight_decay=args.weight_decay,
        ema_decay=args.ema_decay,
        ema_tau=args.ema_tau,
        warmup_epochs=args.warmup_epochs,
        close_mosaic=0 if args.no_augment else args.close_mosaic,
        multiscale=0.0 if args.no_augment else args.multiscale,
        eval_interval=args.eval_interval,
        seed=args.seed,
        amp=not args.no_amp,
        time_limit_min=args.time_limit_min,
        pretrained_backbone=args.pretrained_backbone,
        init_weights=init_weights,
        augment=asdict(augment),
        data=_data_record(args),
    )
    train_bank, val_bank = ImageBank(train, device), ImageBank(val, device) if val is not None else None
    loaded_s = time.perf_counter() - loading
    trainer = Trainer(
        cfg,
        train_bank,
        val_bank,
        output,
        device=device,
        resume=args.resume or None,
        progress=sys.stderr.isatty(),
    )
    if args.resume:  # once the checkpoint is known to fit the data: a refused resume left a half-made run folder
        _carry_run_files(Path(args.resume), output)
    # (said once the run is accepted: a refusal stays one line) minutes that --budget-min does not count,
    # so that a short GPU loan can be planned
    _say(f"{len(train)} training and {len(val) if val is not None else 0} validation images ready on {device} "
         f"in {loaded_s:.0f} s")
    _say(f"{len(train.class_names)} classes, with their training boxes: {_class_counts(train)}")
    with interrupt_on_signals():  # SIGTERM (a job scheduler, `timeout`) and SIGHUP stop it as Ctrl-C does
        try:
            summary = trainer.fit()
        except KeyboardInterrupt:  # (said within the block: the shell's second SIGHUP is still ignored)
            _say_how_to_continue(output, trainer.epochs_saved, trainer.cfg.epochs)  # a resumed run's plan: its checkpoint's
            raise
    if not summary["finished"]:  # --time-limit-min: the run stopped cleanly, and said nothing but the JSON
        why = "no validation set" if val is None else "no evaluation yet"
        best = "" if (output / "best.safetensors").is_file() else (
            f"; {why}, so no best.safetensors: {output / 'last_ema.safetensors'} holds its weights")
        _say(f"stopped at the time limit (--time-limit-min {args.time_limit_min:g}) after epoch {summary['epochs']} of "
             f"{summary['epochs_planned']}{best}. To go on, run the same train command with --resume "
             f"{output / 'last.pt'}")
    summary.update(device=str(device), train_images=len(train), val_images=len(val) if val is not None else 0)
    return summary
