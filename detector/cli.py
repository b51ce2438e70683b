"""``python -m detector`` (also ``livedet-cli``): info, predict, val, bench, export, train.

The contract other tools rely on: every command prints exactly one JSON object
as the last line of stdout; everything meant for people (progress, tables,
notes) goes to stderr. A mistake a user can fix (unknown model, missing file,
bad argument) prints one ``error: ...`` line on stderr and exits with 2, never
a traceback; Ctrl-C exits with 130, and a closed stdout (``| head``) with 141. Failed commands also print
``{"error": ..., "exit_code": ...}`` as their last stdout line, so a caller
that parses stdout always finds JSON. ``predict`` on a camera or live stream
that stops sending exits with 3 after its usual summary (with ``"source_lost":
true``), so a service manager restarts it while what came is kept. The first Ctrl-C, SIGTERM or
SIGHUP during ``predict`` ends its source instead (see ``graceful_stop``): the summary is printed and
the exit is 0 for a camera or stream, 130 (143, 129) for a file stopped part way.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import re
import sys
import time
import traceback
from collections import Counter
from contextlib import ExitStack
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from .defaults import DEFAULT_MAX_DET, MAX_IMGSZ, is_input_size
from .native_stderr import quiet_native_logs
from .progress import say

if TYPE_CHECKING:
    from .types import Prediction

EXIT_OK = 0
EXIT_INTERNAL = 1  # a bug: reported in one line, traceback only with LIVEDET_DEBUG=1
EXIT_USAGE = 2  # the user can fix it: bad argument, unknown model, missing or unwritable file
EXIT_SOURCE_LOST = 3  # predict: a camera or live stream stopped sending; what came is written and summarised
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
EXIT_OUTPUT_CLOSED = 141  # stdout's reader went away (`| head`): as shells report a process ended by SIGPIPE

DEFAULT_MODEL = "yolo-mnv3-small"
DEFAULT_BENCH_FRAMES = 200
COMMANDS = ("info", "predict", "val", "bench", "export", "cache", "train")
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
DEBUG_ENV = "LIVEDET_DEBUG"


class UsageError(Exception):
    """A command line argparse (or we) could not accept."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument raises instead of printing usage and exiting, and an option is only
    taken whole: with abbreviations, ``info --model X`` was quietly read as ``--models-dir X``."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # type: ignore[override]
        command = self.prog.split()[-1]
        where = f"{command}: " if command in COMMANDS else ""
        raise UsageError(f"{where}{message} (see --help)")


# -- argument types: reject bad values while parsing, with the value in the message -----------------
def _camera_mode(text: str):
    from .camera_mode import CameraMode

    mode = CameraMode.from_text(text)
    if mode is None:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT[@FPS] [FOURCC] such as '1280x720@30 MJPG', got '{text}'")
    return mode


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None


def _positive_int(text: str) -> int:
    value = _whole_number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


BENCH_FRAMES_MAX = 100_000  # each timed call's result is kept to the end: 300 million were memory for 3.6 GB
# and rising before the first was timed (--soak N times any number of frames in constant memory)


def _bench_frames(text: str) -> int:
    value = _positive_int(text)
    if value > BENCH_FRAMES_MAX:
        raise argparse.ArgumentTypeError(f"must be at most {BENCH_FRAMES_MAX:,}, got {value:,} (--soak N predicts "
                                         "any number of frames and reports the memory they used)")
    return value


def _count(text: str) -> int:
    value = _whole_number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _imgsz(text: str) -> int:
    value = _positive_int(text)
    if value > MAX_IMGSZ:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_IMGSZ} (a 4K frame's long side), got {value}")
    if not is_input_size(value):
        raise argparse.ArgumentTypeError(f"must be a positive multiple of 32 (e.g. 320, 416, 640), got {value}")
    return value


def _unit_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got '{text}'") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _device(text: str) -> str:
    value = text.strip().lower()
    if value in DEVICE_NAMES or re.fullmatch(r"cuda:\d+", value):
        return value
    raise argparse.ArgumentTypeError(f"choose from {', '.join(DEVICE_NAMES)} (or cuda:N), got '{text}'")


# -- output helpers ------------------------------------------------------------------------------------
_say = say  # a line for people on stderr, dropped when stderr cannot be written (see progress.say)


def _emit(summary: dict, command: str | None = None) -> None:
    """The command's JSON line on stdout: one, also for ``train`` under ``torchrun`` (each process printed its
    own, in no fixed order, so stdout's last line was any rank's), its errors included. Other commands run in
    one process, even one started from inside a torchrun job, whose RANK they inherit."""
    if (command or summary.get("command")) != "train" or os.environ.get("RANK", "0") == "0":
        print(json.dumps(_finite(summary), default=str, allow_nan=False), flush=True)


def _finite(value):
    """``value`` with NaN and infinities as null: JSON has no NaN, and ``json.dumps`` wrote one, which strict
    readers (JavaScript's JSON.parse, jq) refuse, so the whole line was lost to them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return value


def _fail(message: str, code: int, command: str | None = None) -> int:
    first_line = (message.strip().splitlines() or ["unknown error"])[0]
    _say(f"error: {first_line}")
    _emit({"error": first_line, "exit_code": code}, command)
    return code


def _versions() -> dict:
    import cv2
    import numpy
    import torch
    import torchvision

    from . import __version__

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = None
    return {
        "livedet": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "onnxruntime": ort_version,
        "opencv": cv2.__version__,
        "numpy": numpy.__version__,
    }


def _make_predictor(args, *, warmup: bool = True):
    from .launch import load_predictor

    fast = {"cuda_graph": getattr(args, "cuda_graph", False), "compile": getattr(args, "compile", False)}
    predictor = load_predictor(args.model, models_dir=args.models_dir, device=args.device, imgsz=args.imgsz,
                               backend=args.backend, warmup=warmup, half=getattr(args, "half", None), **fast)
    if predictor.model.network is None:  # an ONNX graph: it ran on the CPU whatever --device or --backend said
        asked = (f"--backend {args.backend}" if args.backend == "torch"
                 else f"--device {args.device}" if args.device not in ("auto", "cpu") else None)
        if asked:
            raise UsageError(f"{Path(args.model).name} is an ONNX graph, which runs on the CPU with ONNX Runtime; "
                             f"{asked} needs the model's weights (a model name or its .safetensors file)")
    return predictor


def _describe(predictor) -> dict[str, str]:
    """Said once everything has opened, so a failed start prints nothing but its error line.

    Returns the fast-path problems it warned of (one can also arise later: see ``_warn_of_new_problems``)."""
    model = predictor.model
    _say(f"model {model.name} ({_counted(len(model.class_names), 'class')}) on {predictor.device_label}, "
         f"imgsz {predictor.imgsz}")
    problems = _fast_path_problems(predictor)
    for problem in problems.values():
        _say(f"warning: {problem}")
    return problems


def _weights_state(spec) -> str:
    """"ready" only for weights that pass the check ``predict`` makes (``zoo.verify_weights``): a file that fails
    its manifest's sha256 was listed as ready, and ``predict`` then refused it."""
    from .zoo import sha256_of

    if not spec.weights_available:
        return "weights missing"
    try:
        actual = sha256_of(spec.weights_path)
    except OSError:
        return "unreadable"
    return "damaged" if spec.weights_sha256 and actual != spec.weights_sha256 else "ready"


def _warn_of_new_problems(predictor, already_said: dict[str, str]) -> dict[str, str]:
    """Every fast-path problem at the end of a run, warning of those that arose during it (a folder's
    ninth frame size, past torch.compile's limit)."""
    problems = _fast_path_problems(predictor)
    for key, problem in problems.items():
        if already_said.get(key) != problem:
            _say(f"warning: {problem}")
    return problems


def _fast_path_problems(predictor) -> dict[str, str]:
    """Why a CUDA graph or a compile that was asked for is not in use (the fast path then runs without it)."""
    fast = predictor.fast_path
    if fast is None:
        return {}
    problems = {"cuda_graph": fast.graph_error and f"CUDA graph capture failed, running without: {fast.graph_error}",
                "compile": fast.compile_problem}
    return {key: text for key, text in problems.items() if text}


# -- commands ---------------------------------------------------------------------------------------------
def cmd_info(args) -> dict:
    """The models found (and what is wrong with any manifest), the device that would run them, the versions."""
    import torch

    from .benchmark import cpu_facts
    from .zoo import default_models_dir, list_models, manifest_problems, missing_models_dir

    models_dir = Path(args.models_dir) if args.models_dir else default_models_dir()
    specs = list_models(models_dir)
    missing = missing_models_dir(args.models_dir)
    problems = manifest_problems(models_dir)  # none when the folder is missing: that is said instead
    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    default_device = "cuda" if cuda else ("mps" if mps else "cpu")
    devices = {
        "default": default_device,
        "cuda_available": cuda,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if cuda else [],
        "mps_available": mps,
        "torch_threads": torch.get_num_threads(),
        **cpu_facts(),
    }
    _say(f"models in {models_dir}:")
    states = {spec.name: _weights_state(spec) for spec in specs}
    for spec in specs:
        state = states[spec.name]
        classes = f"{len(spec.class_names):>3} " + ("class  " if len(spec.class_names) == 1 else "classes")  # aligned
        _say(f"  {spec.name:<24} {spec.config.backbone:<20} {spec.input_size:>4}px  {classes}  {state}")
    if not specs:
        _say(f"  (none: {missing})" if missing else "  (none)")
    for problem in problems:
        _say(f"  skipped: {problem}")
    _say(f"device: {default_device}" + (f" ({', '.join(devices['cuda_devices'])})" if cuda else ""))
    return {
        "command": "info",
        "models_dir": str(models_dir),
        "models": [{**spec.summary(), "state": states[spec.name]} for spec in specs],
        "manifest_problems": [missing] if missing else problems,
        "device": devices,
        "versions": _versions(),
    }


def _timed(frames, note_read: Callable[[int, float], None], read_time_s: Callable[[], float]):
    """``frames`` as they are read, noting each one's time (on the decode thread, as soon as it is read).

    ``read_time_s()``: a live source's clock, less the time it spent disconnected; a file's, the time
    in the file of the frame just read.
    """
    for index, frame, name in frames:
        note_read(index, read_time_s())
        yield index, frame, name


def _keep_earlier(path: str | None) -> str | None:
    """``path``, or the next free ``NAME-2.ext``… when a file is there already (said on stderr); standard
    output (``/dev/stdout``, ``-``) and devices such as ``/dev/null`` are no earlier recording."""
    from .outputs import is_standard_output
    from .video_writer import next_free_path

    real = Path(os.path.realpath(path)) if path else None  # x/../porch.mp4 is porch.mp4 once x is made
    if not path or is_standard_output(Path(path)) or not real.is_file():
        return path
    free = next_free_path(real)
    if free != real:
        _say(f"{path} exists (an earlier recording): writing {free} instead")
        return str(free)
    return path


def _keep_earlier_pair(output: str | None, jsonl: str | None) -> tuple[str | None, str | None]:
    """``_keep_earlier`` for a video and its log of one name (porch.mp4, porch.jsonl): one number free for both,
    so that porch-2.jsonl is porch-2.mp4's log (an old porch-2.jsonl made them porch-2.mp4 and porch-3.jsonl)."""
    from .outputs import is_standard_output

    if not (output and jsonl) or any(is_standard_output(Path(p)) for p in (output, jsonl)):
        return _keep_earlier(output), _keep_earlier(jsonl)
    video, log = Path(os.path.realpath(output)), Path(os.path.realpath(jsonl))  # (x/../porch.mp4 is porch.mp4)
    if video.parent != log.parent or video.stem != log.stem or not (video.is_file() or log.is_file()):
        return _keep_earlier(output), _keep_earlier(jsonl)
    for n in itertools.count(2):  # endless: some number is free for both
        free = [path.with_name(f"{path.stem}-{n}{path.suffix}") for path in (video, log)]
        if not any(path.exists() for path in free):
            _say(f"{output} or {jsonl} exists (an earlier recording): writing {free[0]} and {free[1]} instead")
            return str(free[0]), str(free[1])


def _reconnecting(source, args, say: Callable[[str], None]):
    """``source``'s frames, opening it again each time it stops sending (``--reconnect``)."""
    from .reconnect import ReconnectingFrames
    from .video import FrameSource, shown_address

    name = shown_address(args.source)
    return ReconnectingFrames(
        source, lambda: FrameSource(args.source, camera_mode=args.camera_mode),
        on_lost=lambda frames: say(f"warning: {name} stopped sending after {_counted(frames, 'frame')}; "
                                   "opening it again (--reconnect)"),
        on_retry=lambda why, wait_s: say(f"warning: {why}; trying again in {wait_s:.0f} s"),
        on_back=lambda offline_s: say(f"{name} is back after {offline_s:.1f} s"))


class _PredictTally:
    """Detections per class and each stage's summed time, added up on the calling thread as results come."""

    def __init__(self) -> None:
        self.per_class: Counter = Counter()
        self.pre_ms = self.infer_ms = self.post_ms = 0.0

    def add(self, prediction: Prediction) -> None:
        self.per_class.update(prediction.detections.labels)
        self.pre_ms += prediction.timings.pre_ms
        self.infer_ms += prediction.timings.infer_ms
        self.post_ms += prediction.timings.post_ms

    def mean_ms(self, frames: int) -> dict[str, float]:
        n = max(frames, 1)
        return {"pre": round(self.pre_ms / n, 3), "infer": round(self.infer_ms / n, 3),
                "post": round(self.post_ms / n, 3)}


def _predict_output_paths(args, info) -> tuple[Path | None, Path | None, Path | None]:
    """``--output``, ``--jsonl`` and the source file as paths, checked before the model loads.

    A camera's earlier recording of the same name is kept; an output that would destroy an input is refused.
    """
    from .outputs import refuse_writing_over_inputs

    if info.is_live:  # each run films something new: an earlier run's file is kept, not overwritten
        args.output, args.jsonl = _keep_earlier_pair(args.output, args.jsonl)
    output = Path(args.output) if args.output else None
    jsonl = Path(args.jsonl) if args.jsonl else None
    source_path = Path(args.source) if info.kind in ("video", "images") else None
    refuse_writing_over_inputs(source_path, output, jsonl)
    return output, jsonl, source_path


def cmd_predict(args, predictor=None) -> dict:
    """Detect in every frame of ``--source`` and write what was asked (annotated video or images, JSONL).

    ``predictor``: one already loaded (``bench --file-job`` times this very command with its own)."""
    from .classes import resolve_classes
    from .errors import SourceError
    from .graceful_stop import EXIT_STATUS, frames_until, stop_on_signals
    from .outputs import AnnotatedVideo, PredictOutputs
    from .pipeline import FrameResult, reads_left_behind, run_pipeline
    from .progress import Progress, print_above_bar, stderr_is_terminal
    from .reconnect import ReconnectingFrames
    from .video import FrameSource, classify_source, local_path_of, shown_address

    args.source = local_path_of(args.source)  # a file:// address is the file: seekable, and protected from --output
    if predictor is None and classify_source(args.source) in ("camera", "url"):
        # a camera or stream keeps sending while the model loads: load it first, or the recording would
        # start with a burst of frames filmed earlier
        predictor = _make_predictor(args)
    # fails fast on a missing or undecodable source; a damaged image in a folder is only skipped
    source = FrameSource(args.source, camera_mode=args.camera_mode,
                         on_skip=lambda problem: print_above_bar(f"warning: {problem}"))
    if source.not_read:
        _say(f"warning: {source.info.name} also holds {source.not_read}, which are not read: only its images are")
    asked = args.camera_mode
    if (asked is not None and source.info.kind == "camera" and source.info.width and source.info.height
            and (source.info.width, source.info.height) != (asked.width, asked.height)):
        # it recorded 640x480 without a word; the app says it too (a backend that reports 0x0 says nothing)
        _say(f"warning: asked {source.info.name} for {asked.width}x{asked.height}; it sends "
             f"{source.info.width}x{source.info.height} (the camera chose otherwise)")
    outputs = None
    reconnecting: ReconnectingFrames | None = None
    tally = _PredictTally()
    # The signal handlers are taken over only around the pipeline (a Ctrl-C while the model loads simply
    # interrupts), and kept until the outputs are closed: so the ExitStack is outside the try.
    with ExitStack() as signals:
        try:
            info = source.info
            if args.reconnect and not info.is_live:
                raise UsageError(f"--reconnect is for cameras and live streams; {info.name} has an end")
            output, jsonl, source_path = _predict_output_paths(args, info)
            if predictor is None:
                predictor = _make_predictor(args)
            # --classes "" (an empty shell variable) is refused as ", " is, not read as every class
            keep_classes = (resolve_classes(args.classes.split(","), predictor.class_names)
                            if args.classes is not None else None)
            outputs = PredictOutputs(output, jsonl, info=info, source=source_path,
                                     single_image=info.kind == "images" and Path(args.source).is_file())
            said = _describe(predictor)

            def infer(frames):
                return predictor.predict_batch(frames, conf=args.conf, iou=args.iou, max_det=args.max_det,
                                               classes=keep_classes)

            def write(result: FrameResult) -> None:
                outputs.write(result.index, result.name, result.frame, result.prediction.detections)

            total = info.frame_count
            if args.max_frames:
                total = min(total, args.max_frames) if total else args.max_frames
            with Progress(total, desc="predict", unit="frame", enabled=stderr_is_terminal()) as bar:
                def on_result(result: FrameResult) -> None:
                    tally.add(result.prediction)
                    bar.update()

                if args.reconnect:
                    reconnecting = _reconnecting(source, args, print_above_bar)
                stop = signals.enter_context(stop_on_signals(print_above_bar))
                if reconnecting is not None:
                    stop.on_request(reconnecting.cancel)  # a wait to reconnect ends at once
                frames = frames_until(reconnecting or source, stop)
                if args.max_frames:
                    frames = islice(frames, args.max_frames)
                if outputs.by_the_clock:  # an outage is a cut in the file, not a frozen picture
                    frames = _timed(frames, outputs.note_read, lambda: time.perf_counter() - (
                        reconnecting.offline_s if reconnecting else 0.0))
                elif outputs.by_file_time:  # a variable frame rate keeps its timing
                    frames = _timed(frames, outputs.note_read, lambda: source.last_frame_ms / 1000)
                # a read stuck on a stream gone silent is not waited for once the stop is asked
                stats = run_pipeline(frames, infer, write, batch=args.batch, on_result=on_result,
                                     on_stop=reconnecting.cancel if reconnecting else None, stop_asked=stop.is_set)
        finally:
            try:
                # a read the pipeline stopped waiting for is not waited for again (it may wait a moment for
                # one that is just slow)
                (reconnecting or source).close(0.0 if reads_left_behind() else None)
            finally:  # a Ctrl-C meanwhile must not leave the outputs unfinished
                if outputs is not None:
                    outputs.close()

    # what the file announces: None for a live source, and for a raw H.264 or MJPEG file, which has no index
    count = info.frame_count
    expected = min(count, args.max_frames) if count and args.max_frames else count
    # a live source never ends by itself: stopping it is the user's doing, its falling silent is not
    lost = info.is_live and not stop.by and (not args.max_frames or stats.frames < args.max_frames)
    if stats.frames == 0 and expected and not stop.by:  # a video over HTTP whose index comes last, as a local file
        raise SourceError(f"{info.name} holds no decodable frames (none of the {expected} it announces)")  # is refused
    # a run that wrote no frame leaves no file (a camera stopped before its first): its name is no output
    output_path = (str(outputs.frames.path) if outputs.frames is not None and outputs.frames.path.exists()
                   else None)
    detections = sum(tally.per_class.values())
    problems = _warn_of_new_problems(predictor, said)
    video_s = outputs.frames.seconds if isinstance(outputs.frames, AnnotatedVideo) else None
    _say_how_predict_ended(args, source, stats, expected=expected, stopped_by=stop.by, lost=lost,
                           detections=detections, output_path=output_path, video_s=video_s)
    return {
        "command": "predict",
        "model": predictor.model.name,
        "source": shown_address(args.source),
        "source_kind": info.kind,
        "frames": stats.frames,
        "frames_expected": expected,
        "skipped": source.skipped,
        "fps": round(stats.fps, 2),
        "detections": detections,
        "per_class": dict(tally.per_class.most_common()),
        "classes": [predictor.class_names[i] for i in sorted(keep_classes)] if keep_classes else None,
        "output": output_path,
        "jsonl": str(outputs.jsonl.path) if outputs.jsonl is not None else None,
        "device": predictor.device_type,
        "backend": predictor.backend,
        "imgsz": predictor.imgsz,
        "batch": args.batch,
        "elapsed_s": round(stats.elapsed_s, 3),
        "mean_ms": tally.mean_ms(stats.frames),
        "source_lost": lost,
        "stopped_by": stop.by,
        **({"fast_path_problems": problems} if problems else {}),
        "reconnects": reconnecting.reconnects if reconnecting else 0,
        "offline_s": round(reconnecting.offline_s, 1) if reconnecting else 0.0,
        **({"exit_code": EXIT_SOURCE_LOST} if lost else {}),
        # a camera's run ends only when stopped: that is success; a file or folder stopped early is unfinished
        **({"exit_code": EXIT_STATUS[stop.by]} if stop.by and not info.is_live else {}),
    }


def _counted(n: int, noun: str) -> str:
    """"1 frame", "3 frames", "1 class", "20 classes": a photo is one frame, and "1 frames" reads as a mistake."""
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith(("s", "sh", "ch", "x")) else "s")


def _say_how_predict_ended(args, source, stats, *, expected: int | None, stopped_by: str | None, lost: bool,
                           detections: int, output_path: str | None, video_s: float | None = None) -> None:
    """The lines a person reads after a run: how it stopped, what was skipped or missing, and the totals.

    ``video_s``: how long the annotated video written from a video file plays."""
    from .graceful_stop import SPOKEN
    from .video import shown_address

    if stopped_by:
        _say(f"stopped by {SPOKEN[stopped_by]} after {_counted(stats.frames, 'frame')}"
             + (f" of {expected}" if expected else ""))
    short = bool(expected) and stats.frames < expected  # fewer frames than the file announced
    whole_at_variable_rate = (not short if source.info.variable_rate  # indexed: counted frame by frame
                              else short and source.info.has_variable_rate(stats.frames, source.last_frame_ms,
                                                                           source.first_frame_ms))
    if source.skipped:
        _say(f"warning: {len(source.skipped)} of the {len(source.skipped) + stats.frames} images could not be read "
             "and were skipped (listed under \"skipped\")")
    elif whole_at_variable_rate and not stopped_by:
        fps = source.info.fps  # a browser's or OBS's recording: whole, its frames further apart than its rate says
        written = (f"; {Path(output_path).name} keeps their timing: {video_s:.1f} s at {fps:g} FPS"
                   if output_path and video_s is not None else "")
        stated = source.info.count_rate or fps  # (a browser's WebM states its time unit, 1000 a second)
        nominal = "" if source.info.variable_rate else f", not the {expected} its nominal {stated:g} FPS makes"
        _say(f"note: {Path(args.source).name} has a variable frame rate: {stats.frames} frames over "
             f"{(source.last_frame_ms - source.first_frame_ms) / 1000:.1f} s{nominal}{written}")
    elif short and not stopped_by:
        # whole at its end, and starting late: its first frames did not decode (B-frames delay a first frame by 1-2)
        undecoded = round(source.first_frame_ms * source.info.fps / 1000)
        why = (f": its first {undecoded} could not be decoded (cut from a longer recording?)"
               if undecoded > 2 and source.info.reached_its_end(source.last_frame_ms) else " (truncated or damaged file?)")
        stated = source.info.frame_count  # --max-frames may ask for fewer
        asked = (f"{expected} frames asked for; {Path(args.source).name} states {stated}" if expected != stated
                 else f"{expected} frames {Path(args.source).name} announces")
        _say(f"warning: decoded {stats.frames} of the {asked}{why}")
    _say(f"{_counted(stats.frames, 'frame')} in {stats.elapsed_s:.1f} s ({stats.fps:.1f} FPS), "
         f"{_counted(detections, 'detection')}" + (f" -> {output_path}" if output_path else ""))
    if lost:
        _say(f"warning: {shown_address(args.source)} stopped sending after {_counted(stats.frames, 'frame')} (unplugged, "
             "or the connection dropped)" + (f"; what came is in {output_path}" if output_path else ""))


def cmd_val(args) -> dict:
    """COCO mAP50-95, mAP50 and per-class AP of a model on a dataset: the numbers the model card quotes."""
    from .datasets import coco_folder_split, is_coco_folder, read_coco_file
    from .errors import SourceError
    from .evaluate import EvalSettings, check_coco_has_boxes, evaluate_coco, evaluate_dataset, format_table
    from .progress import stderr_is_terminal

    coco_folder: dict = {}
    json_flag = "--annotations"
    if args.annotations and args.data:
        raise SourceError("give --annotations COCO.json (with --images DIR) or --data DATASET, not both")
    a_coco_file = args.annotations or (args.data and Path(args.data).suffix.lower() == ".json")
    if a_coco_file and args.split != "val":  # it was scored whole, the --split unsaid
        raise SourceError("--split picks a split of a --data folder or data.yaml; a COCO .json is one split already")
    if args.data and not a_coco_file and args.images:  # a YOLO or VOC folder: --images was ignored, unsaid
        raise SourceError(f"--images goes with --annotations or a COCO .json: {Path(args.data).name} holds its "
                          "own images")
    if args.data and Path(args.data).suffix.lower() == ".json":  # a COCO file given as --data is still a COCO file
        args.annotations, args.data, json_flag = args.data, None, "--data"
    elif args.data and not args.annotations and is_coco_folder(Path(args.data)):  # scored as --annotations is
        if args.images:
            raise SourceError("--images goes with --annotations or a COCO .json: a COCO folder holds its images")
        annotations, images = coco_folder_split(Path(args.data), args.split)
        coco_folder = {"data": args.data, "split": args.split}  # what was asked for, beside the file scored
        args.annotations, args.images, args.data = str(annotations), str(images), None
    if bool(args.annotations) == bool(args.data):
        raise SourceError("val needs either --annotations COCO.json with --images DIR, or --data DATASET "
                          "(a COCO, YOLO or VOC folder, or a YOLO data.yaml)")
    dataset = coco = None
    if args.annotations:  # fail on a bad file before the model loads
        coco = read_coco_file(args.annotations)
        check_coco_has_boxes(coco)
        if not args.images:
            raise SourceError(f"{json_flag} {Path(args.annotations).name} (a COCO file) needs --images DIR: the "
                              "folder holding the images it lists")
        if not Path(args.images).is_dir():
            raise SourceError(f"images folder not found: {args.images}")
        from .datasets import unlisted_annotations, unlisted_warning

        if unlisted := unlisted_annotations(coco):
            _say(unlisted_warning(unlisted))
    else:
        from .datasets import dropped_boxes_warning, load_dataset

        def refuse(problem: str) -> None:  # as for COCO: a score over fewer images than asked would mislead
            raise SourceError(f"{problem} (val scores every image of the split)")

        dataset = load_dataset(args.data, split=args.split, on_skip=refuse)
        if warning := dropped_boxes_warning(dataset):
            _say(warning)
    predictor = _make_predictor(args)
    _describe(predictor)
    start = time.perf_counter()
    settings = EvalSettings(conf=args.conf, iou=args.iou, max_det=args.max_det, max_images=args.max_images,
                            batch=args.batch, progress=stderr_is_terminal())
    if dataset is None:
        result = evaluate_coco(predictor, Path(args.annotations), Path(args.images), settings, data=coco)
        source = {"annotations": str(args.annotations), **coco_folder}
    else:
        result = evaluate_dataset(predictor, dataset, settings)
        source = {"data": str(args.data), "split": dataset.split or None}
    elapsed = time.perf_counter() - start
    _say(format_table(result))
    if result.unmatched_classes:
        _say(f"not scored (no model class of that name): {', '.join(result.unmatched_classes)}")
    _say(f"{result.images} images in {elapsed:.1f} s: mAP50 {result.map50:.4f}, mAP50-95 {result.map50_95:.4f}")
    return {
        "command": "val",
        "model": predictor.model.name,
        **result.to_dict(),
        **source,
        "imgsz": predictor.imgsz,
        "device": predictor.device_type,
        "backend": predictor.backend,
        "conf": args.conf,
        "iou": args.iou,
        "elapsed_s": round(elapsed, 3),
    }


def cmd_bench(args) -> dict:
    """Per-frame latency and FPS of the whole frame -> detections path, and optionally the file job, a
    soak and Ultralytics on the same frames; the speed targets are checked here, not in tests."""
    import torch

    from .benchmark import (
        bench_predictor,
        bench_ultralytics,
        cpu_facts,
        load_frames,
        timed_frame_count,
        ultralytics_available,
    )
    from .errors import LiveDetError

    if args.compare_ultralytics and not ultralytics_available():
        raise LiveDetError("--compare-ultralytics needs the ultralytics package, which is not importable here: "
                           "run bench from a separate venv holding LiveDet and ultralytics (pip install -e . "
                           "ultralytics), never LiveDet's own")
    if args.source:
        from .video import local_path_of

        args.source = local_path_of(args.source)
    if args.file_job:
        from .video import classify_source

        if not args.source or classify_source(args.source) != "video":
            raise LiveDetError("--file-job needs --source VIDEO_FILE")
    predictor = _make_predictor(args, warmup=False)  # bench does its own warm-up
    count = args.frames or DEFAULT_BENCH_FRAMES
    frames = load_frames(args.source, count, on_skip=lambda problem: _say(f"warning: {problem}"))
    _describe(predictor)
    timed = timed_frame_count(count, args.batch)
    rounded = f" (--frames {count} in whole batches of {args.batch})" if timed != count else ""
    sizes = sorted({(f.shape[1], f.shape[0]) for f in frames})
    size_text = f"{sizes[0][0]}x{sizes[0][1]}" if len(sizes) == 1 else f"{len(sizes)} sizes"  # not the first's alone
    cycled = f", each {timed / len(frames):.1f} times on average" if timed > len(frames) else ""
    _say(f"{_counted(len(frames), 'frame')} of {size_text} in memory; timing {timed}{rounded}{cycled} "
         f"after {args.warmup} warm-up calls")
    ours = bench_predictor(predictor, frames, count=count, batch=args.batch, warmup=args.warmup,
                           conf=args.conf, iou=args.iou)
    summary = {
        "command": "bench",
        "model": predictor.model.name,
        "device": predictor.device_type,
        "device_label": predictor.device_label,
        **({"fast_path_problems": problems} if (problems := _fast_path_problems(predictor)) else {}),
        "backend": predictor.backend,
        "imgsz": predictor.imgsz,
        "source": args.source or "synthetic",
        # [width, height]; frames of several sizes (a folder of photos): null, and each size under frame_sizes
        "frame_size": [int(sizes[0][0]), int(sizes[0][1])] if len(sizes) == 1 else None,
        **({"frame_sizes": [[int(w), int(h)] for w, h in sizes]} if len(sizes) > 1 else {}),
        "frames_in_memory": len(frames),
        "warmup": args.warmup,
        **{k: v for k, v in ours.to_dict().items() if k != "model"},
        "versions": _versions(),
        "torch_threads": torch.get_num_threads(),
        **cpu_facts(),
    }
    rows = [("livedet " + predictor.model.name, ours)]
    if args.soak:  # first: what Ultralytics or the file job leave in the process would blur its start
        from .benchmark import memory_soak

        _say(f"memory: predicting {args.soak} frames ...")
        memory = memory_soak(predictor, frames, count=args.soak, conf=args.conf, iou=args.iou).to_dict()
        summary["memory"] = memory
        gpu = (f", GPU allocated {memory['gpu_mb_start']} -> {memory['gpu_mb_end']} MB"
               if memory["gpu_mb_start"] is not None else "")
        _say(f"memory over {args.soak} frames: resident {memory['rss_mb_start']} -> {memory['rss_mb_end']} MB "
             f"(max {memory['rss_mb_max']}){gpu}")
    if args.compare_ultralytics:
        threads = args.ultralytics_threads or torch.get_num_threads()
        theirs, facts = bench_ultralytics(frames, model=args.ultralytics_model, imgsz=predictor.imgsz,
                                          device=str(predictor.device), count=count, batch=args.batch,
                                          warmup=args.warmup, conf=args.conf, iou=args.iou, threads=threads,
                                          half=predictor.engine.half)
        summary["ultralytics"] = {**theirs.to_dict(), **facts}
        summary["fps_ratio_vs_ultralytics"] = round(ours.fps / theirs.fps, 3) if theirs.fps else None
        rows.append((theirs.model, theirs))
    if args.file_job:
        summary["file_job"] = _bench_file_job(args, predictor)
    busy = [r.other_cpu_cores for _, r in rows if r.other_cpu_cores]
    if busy and max(busy) > 0.2:
        _say(f"warning: other processes kept {max(busy):.1f} cores busy while timing; these numbers are not clean")
    _say(f"{'detector':<34} {'p50 ms':>8} {'p90 ms':>8} {'FPS':>8} {'pre':>7} {'infer':>7} {'post':>7}")
    for name, r in rows:
        _say(f"{name:<34} {r.latency_ms_p50:>8.2f} {r.latency_ms_p90:>8.2f} {r.fps:>8.1f} "
             f"{r.pre_ms_p50:>7.2f} {r.infer_ms_p50:>7.2f} {r.post_ms_p50:>7.2f}")
    return summary


def _bench_file_job(args, predictor) -> dict:
    """``bench --file-job``: the ``predict`` command itself, to an annotated MP4, against the decode-and-encode
    ceiling, in the same run: the ceiling is timed before and after the job, and the job is set against their
    mean (two ceilings minutes apart differed by 31 % on an H100, and 9 % back to back here)."""
    import tempfile

    import torch

    from .benchmark import ultralytics_device
    from .throughput import decode_encode_ceiling, ultralytics_file_job

    limit = args.frames  # default: the whole file
    _say("file job: decode + encode with no model (the ceiling) ...")
    decode_encode_ceiling(args.source, max_frames=min(limit or 100, 100))  # warm the page cache and codecs
    before = decode_encode_ceiling(args.source, max_frames=limit)
    _say(f"file job: predict -> annotated MP4, batch {args.batch} ...")
    with tempfile.TemporaryDirectory() as folder:
        job_args = argparse.Namespace(**{**vars(args), "output": str(Path(folder) / "annotated.mp4"), "jsonl": None,
                                         "max_det": 300, "max_frames": limit, "camera_mode": None, "classes": None,
                                         "reconnect": False})
        job = cmd_predict(job_args, predictor=predictor)
    if job["stopped_by"]:  # Ctrl-C during the job: a rate over part of it is not the figure asked for
        raise KeyboardInterrupt
    _say("file job: the ceiling again ...")
    after = decode_encode_ceiling(args.source, max_frames=limit)
    ceiling_fps = (before.fps + after.fps) / 2
    result = {
        "frames": job["frames"],
        "fps": job["fps"],
        "ceiling_fps": round(ceiling_fps, 2),
        "ceiling_fps_before_after": [round(before.fps, 2), round(after.fps, 2)],
        "fraction_of_ceiling": round(job["fps"] / ceiling_fps, 3) if ceiling_fps else None,
        "batch": args.batch,
    }
    line = (f"file job: {job['frames']} frames at {job['fps']:.1f} FPS; decode + encode alone {ceiling_fps:.1f} FPS "
            f"(before {before.fps:.1f}, after {after.fps:.1f}; {result['fraction_of_ceiling']:.0%} of the ceiling)")
    if args.compare_ultralytics:
        theirs = ultralytics_file_job(args.source, model=args.ultralytics_model, imgsz=predictor.imgsz,
                                      device=ultralytics_device(str(predictor.device)), conf=args.conf,
                                      iou=args.iou, max_frames=limit, half=predictor.engine.half,
                                      threads=args.ultralytics_threads or torch.get_num_threads())
        result["ultralytics_fps"] = round(theirs.fps, 2)
        result["ratio_vs_ultralytics"] = round(job["fps"] / theirs.fps, 3) if theirs.fps else None
        line += f"; Ultralytics {theirs.fps:.1f} FPS ({result['ratio_vs_ultralytics']}x)"
    _say(line)
    return result


def cmd_export(args) -> dict:
    """An ONNX file with the box decoding inside and thresholds and NMS outside, as LiveDet runs it."""
    from .errors import OutputError
    from .export import ONNX_OPSET, export_onnx
    from .loader import load_model

    if args.output:  # told before the model loads (seconds), as every other command tells its mistakes
        asked = Path(args.output)
        if asked.is_dir() or args.output.endswith(("/", os.sep)):
            raise OutputError(f"--output {args.output} is a folder; name the file, such as "
                              f"{asked / (Path(args.model).stem + '.onnx')}")
        if asked.suffix.lower() != ".onnx":
            raise OutputError(f"--output for --format onnx must end in .onnx, got {asked.name}")
    model = load_model(args.model, models_dir=args.models_dir)
    output = Path(args.output) if args.output else Path(f"{model.name}.onnx")
    path = export_onnx(model, output, imgsz=args.imgsz)
    exported = load_model(path)  # proves the file opens in ONNX Runtime and carries its metadata
    _say(f"exported {model.name} to {path} ({path.stat().st_size / 2**20:.1f} MiB, opset {ONNX_OPSET})")
    return {
        "command": "export",
        "model": model.name,
        "format": args.format,
        "output": str(path),
        "bytes": path.stat().st_size,
        "opset": ONNX_OPSET,
        "input_size": exported.spec.input_size,
        "classes": list(exported.class_names),
    }


def cmd_cache(args) -> dict:
    """Where exports are kept, and which models a CPU can start without PyTorch; --warm and --clear act on it."""
    from . import onnx_cache
    from .errors import LiveDetError, ModelError
    from .launch import warm_export
    from .zoo import default_models_dir, list_models, missing_models_dir

    missing = missing_models_dir(args.models_dir)
    if args.warm and missing:  # it listed nothing and exited 0, as if every model were ready (asked before --clear)
        raise ModelError(f"{missing}: there is no model to export")
    removed = onnx_cache.clear() if args.clear else 0
    if args.clear:
        _say(f"removed {removed} kept export(s) from {onnx_cache.cache_dir()}")
    models_dir = Path(args.models_dir) if args.models_dir else default_models_dir()
    kept, not_kept = [], []
    for spec in list_models(models_dir):
        if not spec.weights_available:
            continue
        if not args.warm:
            kept.append(onnx_cache.status(spec))
            continue
        try:  # one broken model (a damaged weights file) must not leave the others unexported
            state = warm_export(spec)
        except LiveDetError as exc:
            _say(f"  {spec.name}: not exported: {exc}")
            not_kept.append({"model": spec.name, "error": str(exc)})
            continue
        if state.path is None:
            _say(f"  {spec.name}: could not keep its export (see the warning above)")
            not_kept.append({"model": spec.name, "error": "the export could not be written to the cache"})
        kept.append(state)
    _say(f"exports kept in {onnx_cache.cache_dir()}:")
    for state in kept:
        where = "none: its first CPU start exports it (PyTorch)" if state.path is None else str(state.path)
        _say(f"  {state.model:<24} {'exported now' if state.exported_now else '':<13} {where}")
    if not kept:
        _say(f"  ({missing or f'no model with weights in {models_dir}'})")
    return {
        "command": "cache",
        "cache_dir": str(onnx_cache.cache_dir()),
        "models_dir": str(models_dir),
        "models": [state.summary() for state in kept],
        "removed": removed,
    } | ({"not_kept": not_kept, "exit_code": EXIT_USAGE} if not_kept else {})  # --warm asked for every model


# -- parser ------------------------------------------------------------------------------------------------
def _model_options(parser: argparse.ArgumentParser, *, device: bool = True, fast_path: bool = True,
                   imgsz_help: str = "") -> None:
    """``fast_path``: offer --cuda-graph and --compile; val goes without them, as scoring keeps every class
    above the floor for each box, which the GPU fast path (one class per box) does not do."""
    parser.add_argument("--model", default=DEFAULT_MODEL,
                        help=f"model name from the zoo, or a .yaml/.safetensors/.pt/.onnx path (default {DEFAULT_MODEL})")
    parser.add_argument("--models-dir", default=None,
                        help="folder of model manifests (default $LIVEDET_MODELS_DIR, else assets/models)")
    parser.add_argument("--imgsz", type=_imgsz, default=None,
                        help=imgsz_help or "network input size, a multiple of 32 (default: the model's)")
    if device:
        parser.add_argument("--device", type=_device, default="auto", help="auto, cpu, cuda[:N] or mps (default auto)")
        parser.add_argument("--half", action=argparse.BooleanOptionalAction, default=None,
                            help="fp16 on the GPU (default: on for CUDA)")
    if device and fast_path:
        parser.add_argument("--cuda-graph", action=argparse.BooleanOptionalAction, default=None,
                            help="replay each frame size as one CUDA graph (default: on for CUDA)")
        parser.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                            help="torch.compile the CUDA fast path: fewer kernels per frame, tens of seconds "
                                 "to compile each frame size (default: off)")
    if device:
        parser.add_argument("--backend", choices=("auto", "torch", "onnxruntime"), default="auto",
                            help="auto: ONNX Runtime on CPU, torch on GPUs")


def _thresholds(parser: argparse.ArgumentParser, conf: float, iou: float) -> None:
    parser.add_argument("--conf", type=_unit_float, default=conf, help=f"confidence threshold 0-1 (default {conf})")
    parser.add_argument("--iou", type=_unit_float, default=iou, help=f"NMS IoU threshold 0-1 (default {iou})")


def _train_parser(subparsers, *, load: bool) -> None:
    """``train`` comes from detector.training.cli; it is imported only when train is run, so the
    other commands work (and start fast) whatever state that package is in."""
    parser = subparsers.add_parser("train", help="train a model (see train --help)")
    parser.set_defaults(handler=None)
    if not load:
        return
    try:
        from .training.cli import add_train_arguments, run_train
    except Exception as exc:  # missing or broken training package: only train is affected
        from .errors import LiveDetError

        raise LiveDetError(f"training is not available in this installation ({type(exc).__name__}: {exc})") from None
    add_train_arguments(parser)

    def train(args) -> dict:
        from .progress import stderr_is_terminal

        if not hasattr(args, "progress"):
            args.progress = stderr_is_terminal()
        return {"command": "train", **run_train(args)}

    parser.set_defaults(handler=train)


def build_parser(*, load_train: bool = False) -> argparse.ArgumentParser:
    """Every command's options; ``train``'s in full only when it is the command (its imports are heavier)."""
    from . import __version__

    parser = _Parser(prog="python -m detector", description="LiveDet: real-time object detection from the command line. "
                     "Each command ends by printing one JSON object on the last line of stdout.")
    parser.add_argument("--version", action="version", version=f"livedet {__version__}")
    parser.set_defaults(handler=None)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    info = sub.add_parser("info", help="models found, device, versions")
    info.add_argument("--models-dir", default=None,
                      help="folder of model manifests (default $LIVEDET_MODELS_DIR, else assets/models)")
    info.set_defaults(handler=cmd_info)

    predict = sub.add_parser("predict", help="detect objects in a video, image, folder, camera or stream")
    _model_options(predict)
    predict.add_argument("--source", required=True, help="video file, image, folder of images, camera index or URL")
    predict.add_argument("--output", default=None,
                         help="annotated result: a video file (.mp4, .avi, ...); for image sources also a folder "
                              "or, for one image, an image file")
    predict.add_argument("--jsonl", default=None,
                         help="write one JSON line of detections per frame to this file ('-': standard output, "
                              "before the summary line)")
    predict.add_argument("--classes", default=None,
                         help="keep only these classes: names or indices, comma-separated (e.g. person,car)")
    _thresholds(predict, 0.25, 0.45)
    predict.add_argument("--max-det", type=_positive_int, default=DEFAULT_MAX_DET,
                         help=f"most detections per frame (default {DEFAULT_MAX_DET})")
    predict.add_argument("--batch", type=_positive_int, default=1,
                         help="frames per network call (throughput over latency; default 1)")
    predict.add_argument("--max-frames", type=_positive_int, default=None, help="stop after this many frames")
    predict.add_argument("--camera-mode", type=_camera_mode, default=None,
                         help="the resolution and rate to ask a camera for, e.g. 1280x720@30, or '1920x1080@30 MJPG' "
                              "where only MJPEG reaches that rate (default: the camera's own, often 640x480)")
    predict.add_argument("--reconnect", action="store_true",
                         help="a camera or stream that stops sending is opened again (after 1, 2, 4 … 30 s) and the "
                              "run goes on in the same files, until Ctrl-C or --max-frames")
    predict.set_defaults(handler=cmd_predict)

    val = sub.add_parser("val", help="COCO mAP on a COCO-JSON, YOLO or VOC dataset")
    _model_options(val, fast_path=False)
    val.add_argument("--annotations", help="COCO instances JSON (with --images)")
    val.add_argument("--images", help="folder holding the images the JSON lists")
    val.add_argument("--data", help="instead of --annotations: a COCO folder (annotations/instances_SPLIT.json), "
                                     "a YOLO data.yaml or folder, or a VOC folder")
    val.add_argument("--split", default="val", help="which split of --data to score (default: val)")
    _thresholds(val, 0.001, 0.6)
    val.add_argument("--max-det", type=_positive_int, default=DEFAULT_MAX_DET,
                     help=f"most detections per image (default {DEFAULT_MAX_DET})")
    val.add_argument("--max-images", type=_positive_int, default=None, help="evaluate only the first N images")
    val.add_argument("--batch", type=_positive_int, default=1, help="images per network call (same-size images)")
    val.set_defaults(handler=cmd_val)

    bench = sub.add_parser("bench", help="latency and FPS of the full frame -> detections path")
    _model_options(bench)
    bench.add_argument("--source", default=None, help="video or images to time on (default: synthetic 1280x720)")
    bench.add_argument("--frames", type=_bench_frames, default=None,
                       help=f"frames to time (default {DEFAULT_BENCH_FRAMES}; for --file-job, the whole file)")
    bench.add_argument("--warmup", type=_count, default=10, help="untimed calls first (default 10)")
    bench.add_argument("--batch", type=_positive_int, default=1, help="frames per call (default 1)")
    _thresholds(bench, 0.25, 0.45)
    bench.add_argument("--compare-ultralytics", action="store_true",
                       help="also time Ultralytics on the same frames (needs ultralytics importable)")
    bench.add_argument("--ultralytics-model", default="yolo11n.yaml",
                       help="Ultralytics weights or yaml (default yolo11n.yaml: random weights, same speed)")
    bench.add_argument("--ultralytics-threads", type=_positive_int, default=None,
                       help="torch threads for Ultralytics (default: as many as LiveDet's torch uses; "
                            "Ultralytics itself would use cores - 1)")
    bench.add_argument("--file-job", action="store_true",
                       help="also time predict on the --source video to an annotated MP4, against decoding and "
                            "re-encoding the same video with no model (the ceiling)")
    bench.add_argument("--soak", type=_positive_int, default=None, metavar="N",
                       help="also predict N frames and report memory growth (resident and GPU)")
    bench.set_defaults(handler=cmd_bench)

    export = sub.add_parser("export", help="export a model to ONNX")
    _model_options(export, device=False, imgsz_help="input size the file runs at by default (its graph accepts any "
                                                          "multiple of 32; default: the model's)")
    export.add_argument("--format", choices=("onnx",), default="onnx", help="export format (onnx)")
    export.add_argument("--output", default=None, help="file to write (default MODEL.onnx)")
    export.set_defaults(handler=cmd_export)

    cache = sub.add_parser("cache", help="ONNX exports kept for CPU starts without PyTorch (--warm, --clear)")
    cache.add_argument("--models-dir", default=None,
                       help="folder of model manifests (default $LIVEDET_MODELS_DIR, else assets/models)")
    cache.add_argument("--warm", action="store_true",
                       help="export every model that has no kept export yet, so its first CPU start is quick")
    cache.add_argument("--clear", action="store_true", help="remove every kept export first")
    cache.set_defaults(handler=cmd_cache)

    _train_parser(sub, load=load_train)
    return parser


def _selected_command(argv: list[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return the exit status (``python -m detector`` passes it to ``sys.exit``).

    A reader of stdout or stderr that stops reading (``livedet-cli predict … --jsonl /dev/stdout | head``)
    ends the command quietly with 141, as it ends ``cat`` or ``grep``: its files are closed as for any
    error, and there is nobody left to tell.

    Run as the program (no ``argv``), it ends the process itself when ``predict`` was stopped while a read was
    stuck on a silent camera or stream (``reads_left_behind``): its files are closed and its summary printed.
    A caller that passes ``argv`` (a test) gets the status back.
    """
    status = _exit_status(argv)
    if argv is None:
        _end_now_if_a_read_is_stuck(status)
    return status


def _exit_status(argv: list[str] | None) -> int:
    try:
        return _run_command(argv)
    except BrokenPipeError:
        _send_standard_streams_nowhere()  # so that Python's flush at exit finds no closed pipe either
        return EXIT_OUTPUT_CLOSED
    except OSError as exc:  # stdout itself cannot be written (`> log` on a full disk): every other error is caught
        _say(f"error: cannot write to standard output: {exc.strerror or exc}")
        _send_standard_streams_nowhere()  # Python's flush at exit would fail on it again, with a traceback
        return EXIT_USAGE


def _end_now_if_a_read_is_stuck(status: int) -> None:
    """End the process with ``status`` at once when a read it stopped waiting for is still under way: Python's
    own ending, with that read returning meanwhile, aborted the process instead (see ``reads_left_behind``)."""
    from .pipeline import reads_left_behind

    if not reads_left_behind():
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):  # a closed pipe, or a stream replaced by a harness
            pass
    os._exit(status)


def _send_standard_streams_nowhere() -> None:
    from .graceful_stop import write_nowhere

    descriptors = []
    for stream in (sys.stdout, sys.stderr):
        try:
            descriptors.append(stream.fileno())
        except (AttributeError, OSError, ValueError):  # replaced by a test harness: nothing to redirect
            pass
    write_nowhere(descriptors)


def _run_command(argv: list[str] | None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _selected_command(argv)
    handler: Callable[[argparse.Namespace], dict] | None = None
    try:
        quiet_native_logs()  # imports OpenCV: a Ctrl-C in these first 0.2 s was a traceback and no JSON line
        parser = build_parser(load_train=command == "train")
        args = parser.parse_args(argv)
        handler = args.handler
        if handler is None:
            raise UsageError(f"choose a command: {', '.join(COMMANDS)} (see --help)")
        from .graceful_stop import interrupt_on_signals

        # SIGTERM and SIGHUP end any command as Ctrl-C does, with its JSON line and the signal's exit status: outside
        # predict's pipeline and train's epochs (loading a model or data, bench, val) they killed it without a word
        with interrupt_on_signals():
            summary = handler(args)
    except SystemExit as exc:  # --help and --version print and exit 0
        return int(exc.code or 0) if isinstance(exc.code, (int, type(None))) else EXIT_USAGE
    except UsageError as exc:
        return _fail(str(exc), EXIT_USAGE, command)
    except KeyboardInterrupt as exc:  # Ctrl-C; or SIGTERM or SIGHUP where a command asked for it (train)
        from .graceful_stop import EXIT_STATUS, SPOKEN, StopSignal

        if isinstance(exc, StopSignal):
            return _fail(f"stopped by {SPOKEN[exc.by]}", EXIT_STATUS[exc.by], command)
        return _fail("interrupted", EXIT_INTERRUPTED, command)
    except Exception as exc:
        from .errors import LiveDetError

        if isinstance(exc, LiveDetError):
            return _fail(str(exc), EXIT_USAGE, command)
        if isinstance(exc, OSError):  # disk full, permission denied mid-run: the user can act on it
            return _fail(f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else ""), EXIT_USAGE, command)
        if (isinstance(exc, MemoryError) or type(exc).__name__ == "OutOfMemoryError"  # host RAM, or torch's GPU memory
                or "(-4:Insufficient memory)" in str(exc)):  # OpenCV's own allocations
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return _fail(f"out of memory ({first_line}); a smaller --batch or --imgsz needs less", EXIT_USAGE, command)
        if os.environ.get(DEBUG_ENV):
            traceback.print_exc()
        kind = type(exc).__qualname__ if type(exc).__module__ == "builtins" else f"{type(exc).__module__}.{type(exc).__qualname__}"
        return _fail(f"internal error {kind}: {exc} (set {DEBUG_ENV}=1 for the traceback)", EXIT_INTERNAL, command)
    _emit(summary, command)
    return int(summary.get("exit_code", EXIT_OK))


if __name__ == "__main__":
    sys.exit(main())
